// ExperimentStore: the SQLite database of experiments, their problems, runs, candidates and
// strategy traces (schema: orchestrator/store/schema.cc, documented in docs/store.md).
//
// Promises:
//  - A run is recorded atomically with its candidates and steps, and at most once: the runs
//    table is keyed by the run's place in the experiment's grid (problem, strategy, budget,
//    seed), so recording it again fails instead of duplicating it. RecordedRunKeys tells a
//    resumed experiment exactly which runs are missing.
//  - InsertRuns writes a batch in one transaction with prepared statements (group commit).
//  - Thread-safe. Writes take turns on one connection; reads of a store opened by Open go to a
//    few connections of their own (kReaders), so a client's long read neither waits for the
//    writer nor holds it up (write-ahead logging: a read sees what was committed when it began),
//    and reads run beside each other. Other processes (the sqlite3 shell) may read the file at
//    any time, for the same reason.
//  - WriteCount(id) changes with every write this store makes to an experiment, so that a caller
//    may keep what it derived from an experiment until the experiment changes (the server is the
//    file's only writer while it holds the database lock).
#ifndef PONDER_ORCHESTRATOR_STORE_EXPERIMENT_STORE_H_
#define PONDER_ORCHESTRATOR_STORE_EXPERIMENT_STORE_H_

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "orchestrator/store/sqlite.h"
#include "ponder/v1/service.pb.h"

namespace ponder::orchestrator {

// A run's place in its experiment's grid: indices into the problems, spec.strategies,
// spec.budgets and spec.seeds.
struct RunKey {
  int32_t problem_index = 0;
  int32_t strategy_index = 0;
  int32_t budget_index = 0;
  int32_t seed_index = 0;
  auto operator<=>(const RunKey&) const = default;
};

struct RunRecord {
  int64_t experiment_id = 0;
  RunKey key;
  std::string strategy;  // the NamedStrategy's name
  v1::Budget budget;
  uint64_t seed = 0;
  // Not OK: the run failed with this error; recorded with status 'failed'.
  absl::Status status;
  v1::SolveResult result;
  std::optional<bool> correct;          // nullopt: not graded
  std::vector<bool> candidate_correct;  // per candidate when graded; empty otherwise
  absl::Time finish_time;
};

// A model file (or Hugging Face folder) as an experiment records it: where it was, and a
// fingerprint of what was in it (orchestrator/model_identity.h), so that a resumed experiment
// goes on with the same model even when the file has moved, and never with another one.
struct ModelIdentity {
  std::string path;
  std::string fingerprint;  // "": not recorded (experiments from before schema version 3)
};

// The models an experiment ran with: the policy, and the reward models its verifiers name.
struct ExperimentModels {
  ModelIdentity policy;
  std::map<std::string, ModelIdentity> reward_models;  // by the name the verifiers use
};

struct NewExperiment {
  // Stored as config_json without its inline problems, which go to the problems table.
  v1::ExperimentSpec spec;
  std::vector<v1::Problem> problems;  // the experiment's problems, in order
  ExperimentModels models;
  std::string dataset;  // a description, e.g. "gsm8k:test[0:100]" or "inline"
  std::string code_version;
  int64_t runs_planned = 0;
  absl::Time create_time;
};

class ExperimentStore {
 public:
  // Connections for reads beside the writer's (a store opened by Open on a file).
  static constexpr int kReaders = 4;

  // Opens or creates the database and migrates it to the current schema. FailedPrecondition,
  // with the file untouched, when it is not an experiment database (ExperimentSchemaVersion).
  // `readers` connections serve reads (0: reads take turns with writes on the writer's; for
  // store_bench's baseline).
  static absl::StatusOr<std::unique_ptr<ExperimentStore>> Open(const std::string& path,
                                                               int readers = kReaders);
  // Opens an existing experiment database for reading (`ponder query`, `ponder report`): nothing
  // in the file changes, not even its schema version. NotFound for an empty database.
  static absl::StatusOr<std::unique_ptr<ExperimentStore>> OpenForReading(const std::string& path);

  // Records a new experiment (status RUNNING) and its problems in one transaction.
  absl::StatusOr<int64_t> CreateExperiment(const NewExperiment& experiment);

  // Sets the status and error; `finish_time` unset clears finished_at (running again).
  // `resumed` also counts one more resume. NotFound for an unknown id.
  absl::Status SetStatus(int64_t experiment_id, v1::ExperimentStatus status, std::string_view error,
                         std::optional<absl::Time> finish_time, bool resumed = false);

  // Records runs (each with its candidates and steps) in one transaction: all or none.
  // FailedPrecondition when a run is already recorded or its experiment/problem is unknown.
  absl::Status InsertRuns(std::span<const RunRecord> runs);

  // The experiment with its counts; `with_cells` adds the per strategy × budget accuracies.
  // spec.problems is left empty (the problems are in their own table: LoadProblems).
  absl::StatusOr<v1::Experiment> GetExperiment(int64_t experiment_id, bool with_cells);
  // Experiments with id < before_id (0: no bound), newest first, at most `limit`.
  absl::StatusOr<std::vector<v1::Experiment>> ListExperiments(int64_t before_id, int limit);
  // Ids of the experiments in `status`, oldest first.
  absl::StatusOr<std::vector<int64_t>> ExperimentsWithStatus(v1::ExperimentStatus status);

  absl::StatusOr<std::vector<v1::Problem>> LoadProblems(int64_t experiment_id);
  // The models the experiment was created with. NotFound for an unknown id. Needs the current
  // schema: a store opened by Open, not OpenForReading.
  absl::StatusOr<ExperimentModels> GetExperimentModels(int64_t experiment_id);
  // The grid places of every recorded run, sorted.
  absl::StatusOr<std::vector<RunKey>> RecordedRunKeys(int64_t experiment_id);
  // Runs with id > after_run_id in id order, at most `limit`; `details` adds candidates and
  // trace steps to each result.
  absl::StatusOr<std::vector<v1::RunResult>> ListRuns(int64_t experiment_id, int64_t after_run_id,
                                                      int limit, bool details);

  // How many writes (CreateExperiment, SetStatus, InsertRuns) this store has made to the
  // experiment since it was opened; read before a read, it tells whether the read may have
  // missed a write since.
  uint64_t WriteCount(int64_t experiment_id) const;

  const std::string& path() const { return path_; }

 private:
  explicit ExperimentStore(sqlite::Database db);
  static absl::StatusOr<std::unique_ptr<ExperimentStore>> FromDatabase(
      sqlite::Database db, std::vector<sqlite::Database> readers);
  absl::Status PrepareStatements() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status InsertRun(const RunRecord& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountWrite(int64_t experiment_id);
  // Runs `read` on a free reader, waiting for one, or on the writer's connection when the store
  // has no readers (":memory:", OpenForReading).
  template <typename Read>
  auto WithReader(Read read) -> decltype(read(std::declval<sqlite::Database&>()));

  const std::string path_;
  absl::Mutex mu_;
  sqlite::Database db_ ABSL_GUARDED_BY(mu_);
  sqlite::Statement insert_run_ ABSL_GUARDED_BY(mu_);
  sqlite::Statement insert_candidate_ ABSL_GUARDED_BY(mu_);
  sqlite::Statement insert_step_ ABSL_GUARDED_BY(mu_);

  std::vector<sqlite::Database> readers_;  // fixed once the store is open
  absl::Mutex readers_mu_;
  std::vector<sqlite::Database*> free_readers_ ABSL_GUARDED_BY(readers_mu_);

  mutable absl::Mutex writes_mu_;
  absl::flat_hash_map<int64_t, uint64_t> write_counts_ ABSL_GUARDED_BY(writes_mu_);
};

// ISO-8601 UTC with milliseconds, as stored ("2025-01-31T12:00:00.000Z").
std::string FormatStoreTime(absl::Time time);
absl::StatusOr<absl::Time> ParseStoreTime(std::string_view text);

// The store's names of statuses and answer formats ('running', 'gsm8k', ...).
std::string_view ExperimentStatusName(v1::ExperimentStatus status);
std::string_view AnswerFormatName(v1::AnswerFormat format);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STORE_EXPERIMENT_STORE_H_
