// ResultsDb: reads benchmark results back from an experiment database (docs/store.md) for
// `ponder query` and `ponder report`: experiments, runs with their candidates' grades and
// verifier scores summarised, and candidates.
//
// Reading never changes results: the file must exist (NotFound otherwise, rather than creating
// an empty database), and a database of an older schema is only migrated the way ponderd would.
#ifndef PONDER_ORCHESTRATOR_RESULTS_RESULTS_DB_H_
#define PONDER_ORCHESTRATOR_RESULTS_RESULTS_DB_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/results/metrics.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/store/sqlite.h"
#include "ponder/v1/service.pb.h"

namespace ponder::results {

// A recorded run: the metrics' view (RunSample) plus what identifies it.
struct RunRow : RunSample {
  int64_t run_id = 0;
  int64_t experiment_id = 0;
  std::string problem_id;  // the dataset's id
  std::string error;
  std::optional<std::string> answer;
};

struct CandidateRow {
  int64_t run_id = 0;
  int64_t experiment_id = 0;
  std::string problem_id;
  std::string strategy;
  int32_t budget_n = 0;
  uint64_t seed = 0;
  int32_t candidate_index = 0;
  std::optional<std::string> answer;
  int32_t answer_class = -1;
  std::optional<bool> correct;
  int32_t num_tokens = 0;
  double mean_logprob = 0;
  std::optional<double> score;
  bool selected = false;
  bool pruned = false;
  std::string finish_reason;
};

// Which runs to read; empty lists match everything.
struct RunFilter {
  std::vector<std::string> strategies;
  std::vector<int32_t> budgets;
  std::vector<std::string> problem_ids;
  std::vector<uint64_t> seeds;
  int64_t run_id = 0;  // 0: any

  bool Matches(const RunRow& run) const;
};

class ResultsDb {
 public:
  // Opens the file for reading only (ExperimentStore::OpenForReading): NotFound naming the path
  // when the file does not exist or holds no experiments, FailedPrecondition when it is not an
  // experiment database.
  static absl::StatusOr<std::unique_ptr<ResultsDb>> Open(const std::string& path);

  // Newest first.
  absl::StatusOr<std::vector<v1::Experiment>> Experiments();
  // With its per-cell counts. NotFound for an unknown id.
  absl::StatusOr<v1::Experiment> Experiment(int64_t experiment_id);
  // The newest experiment (NotFound when the database has none): the default of the commands.
  absl::StatusOr<int64_t> LatestExperimentId();
  // InvalidArgument naming the first strategy, budget or seed of `filter` that none of the
  // experiments ran (with those they did) or problem id that none of them holds: a typo in
  // `ponder query --strategy` gave an empty table and exit 0 (QA of stop 35). NotFound for an
  // unknown id.
  absl::Status CheckFilterNames(const std::vector<int64_t>& experiment_ids,
                                const RunFilter& filter);

  // The experiment's runs matching `filter`, in the order they were recorded.
  absl::StatusOr<std::vector<RunRow>> Runs(int64_t experiment_id, const RunFilter& filter);
  // Candidates of the matching runs, in run then candidate order; at most `limit` (0: all).
  absl::StatusOr<std::vector<CandidateRow>> Candidates(int64_t experiment_id,
                                                       const RunFilter& filter, int64_t limit);

  const std::string& path() const { return path_; }

 private:
  ResultsDb(std::string path, std::unique_ptr<orchestrator::ExperimentStore> store,
            orchestrator::sqlite::Database db)
      : path_(std::move(path)), store_(std::move(store)), db_(std::move(db)) {}

  std::string path_;
  std::unique_ptr<orchestrator::ExperimentStore> store_;  // experiments, with the store's rules
  orchestrator::sqlite::Database db_;                     // the analytic queries
};

// Which strategies of a spec choose with a verifier (their config names one), by name.
std::map<std::string, bool> StrategiesUsingVerifier(const v1::ExperimentSpec& spec);

// Per-cell metrics of an experiment's runs matching `filter` (ComputeCells). The filter's
// budgets choose which cells are returned without changing their numbers.
absl::StatusOr<std::vector<CellMetrics>> ExperimentCells(ResultsDb& db, int64_t experiment_id,
                                                         const RunFilter& filter);

// Sets each of the experiment's cells' pass@n, oracle and false-positive rates from
// ExperimentCells on `db` (the cells matched by strategy and budget; a cell the runs do not
// reach is left as it is).
absl::Status AddCellMetrics(ResultsDb& db, v1::Experiment& experiment);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_RESULTS_DB_H_
