// `ponder report`: one experiment as a self-contained HTML page — the scaling curves (accuracy
// against budget and against generated tokens per problem, one line per strategy, log-scale x;
// coverage pass@k against k) as inline SVG, and the accuracy and cost tables of `ponder query`.
// The page loads nothing: no scripts, fonts or images from anywhere.
#ifndef PONDER_ORCHESTRATOR_RESULTS_REPORT_H_
#define PONDER_ORCHESTRATOR_RESULTS_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/results/metrics.h"
#include "orchestrator/results/results_db.h"
#include "ponder/v1/service.pb.h"

namespace ponder::results {

// The page for `experiment` with its per-cell metrics.
std::string RenderReportHtml(const v1::Experiment& experiment,
                             const std::vector<CellMetrics>& cells);

struct WrittenReport {
  std::string html_path;               // <out_dir>/report.html
  std::vector<std::string> csv_paths;  // accuracy.csv, cost.csv beside it
};

// Writes report.html, accuracy.csv and cost.csv into `out_dir` (created if missing). Errors
// name the file that could not be written.
absl::StatusOr<WrittenReport> WriteReport(ResultsDb& db, int64_t experiment_id,
                                          const std::string& out_dir);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_REPORT_H_
