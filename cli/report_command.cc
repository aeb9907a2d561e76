// `ponder report`: an experiment as a self-contained HTML page with its scaling curves.
//
//   ponder report --db FILE [--experiment ID] --out DIR
//
// Writes DIR/report.html (inline SVG and CSS, nothing fetched) and DIR/accuracy.csv,
// DIR/cost.csv (the tables of `ponder query accuracy|cost --format csv`).
#include <cstdio>
#include <string>

#include "base/flags.h"
#include "base/status_macros.h"
#include "cli/command.h"
#include "orchestrator/results/report.h"
#include "orchestrator/results/results_db.h"

namespace ponder::cli {
namespace {

absl::Status Report(std::span<char* const> args) {
  std::string db_path, out;
  int64_t experiment = 0;
  FlagParser flags("ponder report --db FILE [--experiment ID] --out DIR");
  flags.AddString("db", &db_path, "the experiment database (ponder bench --db, ponderd --db)");
  flags.AddInt("experiment", &experiment, "the experiment id (default: the newest)");
  flags.AddString("out", &out, "folder for report.html, accuracy.csv and cost.csv");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (db_path.empty()) return absl::InvalidArgumentError("--db FILE is required");
  if (out.empty()) return absl::InvalidArgumentError("--out DIR is required");
  PONDER_ASSIGN_OR_RETURN(auto db, results::ResultsDb::Open(db_path));
  if (experiment == 0) {
    PONDER_ASSIGN_OR_RETURN(experiment, db->LatestExperimentId());
  }
  PONDER_ASSIGN_OR_RETURN(results::WrittenReport written,
                          results::WriteReport(*db, experiment, out));
  std::printf("%s\n", written.html_path.c_str());
  for (const std::string& csv : written.csv_paths) std::printf("%s\n", csv.c_str());
  return absl::OkStatus();
}

int RunReport(std::span<char* const> args) { return ReportStatus("report", Report(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("report", "write an experiment's HTML report with scaling curves",
                        RunReport);

}  // namespace ponder::cli
