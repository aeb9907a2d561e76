// The tables of `ponder query` and `ponder report`, built from ResultsDb rows and metrics.
#ifndef PONDER_ORCHESTRATOR_RESULTS_TABLES_H_
#define PONDER_ORCHESTRATOR_RESULTS_TABLES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/results/metrics.h"
#include "orchestrator/results/results_db.h"
#include "orchestrator/results/table.h"
#include "ponder/v1/service.pb.h"

namespace ponder::results {

// One row per experiment: id, name, status, dataset, runs recorded/planned, failed, created.
Table ExperimentsTable(const std::vector<v1::Experiment>& experiments);

// Accuracy per strategy and budget: runs, graded, correct, accuracy, its 95% Wilson interval,
// pass@n (coverage), oracle, and the verifier false-positive rates where a verifier chose.
Table AccuracyTable(int64_t experiment_id, const std::vector<CellMetrics>& cells);

// Cost per strategy and budget: tokens per problem (generated, prompt requested and computed,
// verifier), wall time per problem and in total, and how many runs reused a larger budget's
// samples.
Table CostTable(int64_t experiment_id, const std::vector<CellMetrics>& cells);

// One row per run.
Table RunsTable(const std::vector<RunRow>& runs);

// One row per candidate (answers cut to `answer_width` characters; 0: whole).
Table CandidatesTable(const std::vector<CandidateRow>& candidates, int answer_width);

// Strategies side by side: one row per budget, and per labelled set of cells (an experiment's
// strategy) its accuracy and its generated tokens per problem.
Table CompareTable(const std::vector<std::pair<std::string, std::vector<CellMetrics>>>& sets);

// The status name the store uses ("completed", ...).
std::string StatusText(v1::ExperimentStatus status);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_TABLES_H_
