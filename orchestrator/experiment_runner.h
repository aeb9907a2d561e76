// ExperimentRunner: runs experiments in the background — every problem × strategy × budget ×
// seed of a spec, each exactly once — and records them in the ExperimentStore.
//
// Checkpointing is the store itself: a run is recorded (atomically, with its candidates and
// steps) when it finishes, and nothing else about progress is kept. Stopping an experiment —
// cancel, shutdown, crash, kill -9 — loses at most the runs in flight, which were not recorded;
// resuming computes the grid minus the recorded runs and does exactly those. Runs that end
// because of the stop are discarded, never recorded half-done. A run whose strategy fails on
// its own is recorded as failed (with the error) and not retried.
//
// Efficient budgets (ExperimentSpec.independent_budgets false, the default): the budgets of one
// problem, strategy and seed are one unit of work when the strategy chooses among independent
// samples (StrategyFactory::SupportsPrefixBudgets); the largest budget is solved and the others
// are its choice among the first n candidates, recorded as runs of their own with diagnostics
// "prefix_of_budget_n". Each run is still recorded exactly once.
//
// Statuses: RUNNING while active; COMPLETED when every run is recorded; CANCELLED after Cancel;
// INTERRUPTED after Shutdown (and for experiments found RUNNING at start-up: the server died);
// FAILED when recording runs fails. All but COMPLETED can be resumed, with the models they
// were started with (orchestrator/model_identity.h): another model's answers never join an
// experiment's runs.
#ifndef PONDER_ORCHESTRATOR_EXPERIMENT_RUNNER_H_
#define PONDER_ORCHESTRATOR_EXPERIMENT_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "orchestrator/problem_source.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/store/run_writer.h"
#include "orchestrator/validation.h"

namespace ponder::orchestrator {

struct ExperimentRunnerOptions {
  std::string model;         // the policy model's path, recorded with each new experiment
  std::string code_version;  // likewise
  ServiceLimits limits;
  // Tests: called by Resume with the experiment's id after its reads, before its lock (where a
  // write to the experiment makes it read again).
  std::function<void(int64_t)> before_resume_lock;
};

class ExperimentRunner {
 public:
  // Everything must outlive the runner.
  ExperimentRunner(ExperimentStore& store, const SolvePipeline& pipeline, ProblemSource& datasets,
                   ExperimentRunnerOptions options);
  // Shutdown().
  ~ExperimentRunner();

  // Validates the spec, loads its problems, records the experiment and starts it. Errors:
  // InvalidArgument (the spec, or a strategy the loaded models cannot build), ResourceExhausted
  // when max_running_experiments are running, store failures.
  absl::StatusOr<v1::Experiment> Start(const v1::ExperimentSpec& spec);
  // Stops a running experiment (status CANCELLED once its in-flight runs have ended, waited for
  // up to 10 s; a resume of it meanwhile is not waited for); a stopped or unknown one is left as
  // it is. The callers read the state they return (the service with its pass@n).
  void Cancel(int64_t experiment_id);
  // Continues a stopped experiment with exactly its unrecorded runs. FailedPrecondition when it
  // is running or completed, or was started with other models than this runner's (naming both).
  absl::StatusOr<v1::Experiment> Resume(int64_t experiment_id);
  // Start-up: marks the experiments left RUNNING by a dead server INTERRUPTED; those this runner
  // runs (a client's start or resume: ponderd accepts calls already) are left alone.
  absl::Status MarkInterrupted();
  // Start-up, once clients can watch them (ponderd: after it accepts calls): resumes the
  // interrupted experiments, as many as max_running_experiments allows, oldest first. One that
  // cannot be resumed here (other models; code problems and no sandbox) stays interrupted, and a
  // line on stderr says why, as for those left at the limit; one a client resumed first is
  // passed over.
  absl::Status ResumeInterrupted();
  // The experiment that running `spec` here continues (`ponder bench --resume`,
  // StartExperimentRequest.resume): the newest whose settings are `spec`'s (its problems and
  // parallelism aside) and whose problems and models are the ones `spec` and this runner have.
  // Problems compare by content: `spec`'s inline problems, or its dataset slice as loaded now;
  // when the slice's files are absent here (NotFound) the experiment's recorded problems are
  // taken, as the slice that chose them is the same. 0 when no experiment has these settings;
  // FailedPrecondition naming the first difference when some have them but none has these
  // problems and models.
  absl::StatusOr<int64_t> FindResumable(const v1::ExperimentSpec& spec);
  // Bytes that are equal for any two specs whose settings FindResumable takes for the same (and
  // may be equal for others): what one lock per benchmark is keyed by.
  static std::string SettingsKey(const v1::ExperimentSpec& spec);
  // Stops every running experiment (status INTERRUPTED, their recorded runs flushed) and waits
  // for them. Later Start/Resume calls fail with Unavailable, and so do the dataset loads of
  // starts in progress (ProblemSource::Load's stop).
  void Shutdown();

  bool IsRunning(int64_t experiment_id);
  // Blocks until the experiment is not running (tests, `ponder` in-process use).
  void WaitUntilStopped(int64_t experiment_id);

  // `on_change` is called (on a runner thread, never concurrently for one subscription) after
  // runs of the experiment are recorded and once it has stopped (its final status stored),
  // before IsRunning turns false. Unsubscribe returns once no call is in progress, so the
  // subscriber may then be destroyed. on_change must not (un)subscribe.
  int64_t Subscribe(int64_t experiment_id, std::function<void()> on_change);
  void Unsubscribe(int64_t subscription);

 private:
  struct Active;
  enum class StopReason { kNone, kCancel, kShutdown };

  // Starts the experiment's thread on the runs of its grid that are not in `recorded` (sorted).
  // Its callers read the state they return after releasing mu_: with every reader busy (long
  // ListRuns pages), a read under mu_ held up IsRunning and Cancel for every other experiment.
  absl::Status Launch(int64_t experiment_id, v1::ExperimentSpec spec,
                      std::vector<v1::Problem> problems, const std::vector<RunKey>& recorded,
                      bool resumed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FAILED_PRECONDITION when the problems include code problems whose tests cannot run here.
  absl::Status CheckGradable(const std::vector<v1::Problem>& problems) const;
  // The problems `spec` runs: its inline problems (ids defaulting to their positions) or its
  // dataset slice. InvalidArgument for an empty slice.
  absl::StatusOr<std::vector<v1::Problem>> ProblemsOf(const v1::ExperimentSpec& spec);
  // FAILED_PRECONDITION naming both when the experiment was started with other models.
  absl::Status CheckModels(int64_t experiment_id, const v1::ExperimentSpec& spec);
  // FAILED_PRECONDITION naming the first difference when the experiment was started on other
  // problems than `here`.
  absl::Status CheckSameProblems(int64_t experiment_id, const std::vector<v1::Problem>& here);
  void Run(Active& active);
  void SolveRuns(Active& active);
  RunRecord SolveOne(Active& active, const RunKey& key, bool* discard);
  // Efficient budgets (ExperimentSpec.independent_budgets): whether the runs of this strategy
  // at the spec's budgets share one set of samples.
  bool SharesSamples(const v1::ExperimentSpec& spec, int strategy_index) const;
  // Runs `keys` (one problem, strategy and seed; several budgets): solves the largest budget and
  // reads the others off the first n of its candidates (StrategyFactory::SelectFromPrefix).
  std::vector<RunRecord> SolveSharingSamples(Active& active, const std::vector<RunKey>& keys,
                                             bool* discard);
  void OnBatch(const std::vector<RunWriter::Outcome>& outcomes);
  void Notify(int64_t experiment_id);
  int RunningCount() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AtCapacity() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // RESOURCE_EXHAUSTED, the counts
  // Joins the threads of experiments that have stopped and frees them.
  void ReapFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ExperimentStore& store_;
  const SolvePipeline& pipeline_;
  ProblemSource& datasets_;
  std::stop_source stop_loads_;  // requested by Shutdown; thread-safe
  const ExperimentRunnerOptions options_;

  absl::Mutex mu_;
  std::map<int64_t, std::unique_ptr<Active>> active_ ABSL_GUARDED_BY(mu_);
  // Stopped experiments whose threads may still be finishing (notifying subscribers).
  std::vector<std::unique_ptr<Active>> finished_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t launches_ ABSL_GUARDED_BY(mu_) = 0;  // Launch calls so far

  absl::Mutex subscribers_mu_;
  struct Subscriber {
    int64_t experiment_id;
    std::function<void()> on_change;
  };
  std::map<int64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(subscribers_mu_);
  int64_t next_subscription_ ABSL_GUARDED_BY(subscribers_mu_) = 1;

  // Declared last: destroyed (flushed) first, while everything it calls back into still exists.
  RunWriter writer_;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_EXPERIMENT_RUNNER_H_
