#include "orchestrator/experiment_runner.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "google/protobuf/util/message_differencer.h"
#include "orchestrator/model_identity.h"
#include "verifiers/verifier.h"

namespace ponder::orchestrator {

// One running experiment. Owned by the runner's maps; its thread runs ExperimentRunner::Run.
struct ExperimentRunner::Active {
  int64_t id = 0;
  uint64_t launch = 0;      // this runner's count of launches when it started: one per run of it
  v1::ExperimentSpec spec;  // seeds never empty (an empty list means the single seed 0)
  std::vector<v1::Problem> problems;
  // The grid minus the recorded runs, in grid order, as units of work: one run, or the budgets
  // of one problem, strategy and seed that share their samples (SharesSamples).
  std::vector<std::vector<RunKey>> pending;
  engine::CancellationToken cancel;
  std::atomic<StopReason> stop{StopReason::kNone};
  absl::Mutex mu;
  size_t next ABSL_GUARDED_BY(mu) = 0;            // index into `pending`
  absl::Status record_error ABSL_GUARDED_BY(mu);  // the first run the store refused
  std::thread thread;
};

namespace {

// Whether two specs describe the same benchmark, problems aside (a stored spec has none;
// CheckSameProblems compares them); how many runs go at once does not matter.
bool SameSettings(v1::ExperimentSpec a, v1::ExperimentSpec b) {
  a.clear_problems();
  b.clear_problems();
  a.clear_parallelism();
  b.clear_parallelism();
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

}  // namespace

std::string ExperimentRunner::SettingsKey(const v1::ExperimentSpec& spec) {
  // Fields SameSettings compares exactly (strings, integers, in order), so equal settings give
  // equal keys; the strategies' configurations and the prompt are left to SameSettings.
  v1::ExperimentSpec key;
  key.set_name(spec.name());
  key.mutable_dataset()->set_name(spec.dataset().name());
  key.mutable_dataset()->set_split(spec.dataset().split());
  key.mutable_dataset()->set_offset(spec.dataset().offset());
  key.mutable_dataset()->set_limit(spec.dataset().limit());
  for (const v1::NamedStrategy& strategy : spec.strategies()) {
    key.add_strategies()->set_name(strategy.name());
  }
  for (const v1::Budget& budget : spec.budgets()) key.add_budgets()->set_n(budget.n());
  *key.mutable_seeds() = spec.seeds();
  key.set_independent_budgets(spec.independent_budgets());
  return key.SerializeAsString();
}

namespace {

// How long Cancel waits for an experiment's in-flight runs to end before returning it.
constexpr absl::Duration kCancelWait = absl::Seconds(10);

std::vector<RunKey> Grid(const v1::ExperimentSpec& spec, size_t problems) {
  std::vector<RunKey> grid;
  for (int32_t p = 0; p < static_cast<int32_t>(problems); ++p) {
    for (int32_t s = 0; s < spec.strategies_size(); ++s) {
      for (int32_t b = 0; b < spec.budgets_size(); ++b) {
        for (int32_t d = 0; d < spec.seeds_size(); ++d) grid.push_back({p, s, b, d});
      }
    }
  }
  return grid;
}

}  // namespace

ExperimentRunner::ExperimentRunner(ExperimentStore& store, const SolvePipeline& pipeline,
                                   ProblemSource& datasets, ExperimentRunnerOptions options)
    : store_(store),
      pipeline_(pipeline),
      datasets_(datasets),
      options_(std::move(options)),
      writer_(store,
              [this](const std::vector<RunWriter::Outcome>& outcomes) { OnBatch(outcomes); }) {}

ExperimentRunner::~ExperimentRunner() { Shutdown(); }

int ExperimentRunner::RunningCount() { return static_cast<int>(active_.size()); }

void ExperimentRunner::ReapFinished() {
  // A finished thread holds no runner lock: at most it is notifying subscribers.
  for (auto& active : finished_) active->thread.join();
  finished_.clear();
}

absl::Status ExperimentRunner::AtCapacity() {
  return absl::ResourceExhaustedError(
      absl::StrCat(RunningCount(),
                   " experiments are running, the server's limit "
                   "(--max-running-experiments); retry when one has stopped"));
}

absl::StatusOr<v1::Experiment> ExperimentRunner::Start(const v1::ExperimentSpec& spec) {
  // What can be checked without loading the dataset is checked before the server's capacity
  // is looked at: an invalid spec is INVALID_ARGUMENT whatever is running, never a
  // RESOURCE_EXHAUSTED that a client would retry; a valid one at capacity is refused before its
  // dataset is loaded.
  PONDER_RETURN_IF_ERROR(ValidateExperimentSpec(spec, options_.limits, pipeline_.strategies()));
  for (int i = 0; i < spec.strategies_size(); ++i) {
    PONDER_RETURN_IF_ERROR(
        ValidateRewardModelNames(spec.strategies(i).config().verifier(), pipeline_.models(),
                                 absl::StrCat("spec.strategies[", i, "].config.verifier")));
    PONDER_RETURN_IF_ERROR(Within(absl::StrCat("spec.strategies[", i, "].config"),
                                  pipeline_.CheckBuildable(spec.strategies(i).config())));
  }
  if (spec.problems_size() == 0) {
    PONDER_RETURN_IF_ERROR(Within("spec", datasets_.CheckName(spec.dataset())));
  }
  // The checks of the problems themselves: before the capacity for inline problems (they cost
  // nothing to read), after it for a dataset's, which must be loaded first.
  auto check_problems = [&](const std::vector<v1::Problem>& problems) -> absl::StatusOr<int64_t> {
    const int64_t runs = static_cast<int64_t>(problems.size()) * spec.strategies_size() *
                         spec.budgets_size() * std::max(1, spec.seeds_size());
    if (runs > options_.limits.max_experiment_runs) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec: ", runs,
                       " runs (problems x strategies x budgets x seeds), more than "
                       "the server's limit of ",
                       options_.limits.max_experiment_runs));
    }
    PONDER_RETURN_IF_ERROR(CheckGradable(problems));
    for (int i = 0; i < spec.strategies_size(); ++i) {
      const v1::StrategyConfig& config = spec.strategies(i).config();
      if (!pipeline_.strategies().NeedsVerifier(config)) continue;
      const bool unit_tests =
          verifiers::UsesVerifier(config.verifier(), v1::VerifierConfig::kUnitTests);
      const bool program_of_thought =
          verifiers::UsesVerifier(config.verifier(), v1::VerifierConfig::kProgramOfThought);
      for (const v1::Problem& problem : problems) {
        const bool code = problem.answer_format() == v1::ANSWER_FORMAT_CODE;
        if ((!unit_tests || code) && (!program_of_thought || !code)) continue;
        return absl::InvalidArgumentError(absl::StrCat(
            "spec.strategies[", i, "].config.verifier: ",
            code ? "program_of_thought checks math answers; problem '"
                 : "unit_tests runs code problems' example tests; problem '",
            Printable(problem.id(), 64), code ? "' is a code problem" : "' is not a code problem"));
      }
    }
    return runs;
  };
  std::vector<v1::Problem> problems;
  if (spec.problems_size() > 0) {
    PONDER_ASSIGN_OR_RETURN(problems, ProblemsOf(spec));
    PONDER_RETURN_IF_ERROR(check_problems(problems).status());
  }
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the server is shutting down");
    if (RunningCount() >= options_.limits.max_running_experiments) return AtCapacity();
  }
  if (spec.problems_size() == 0) {
    PONDER_ASSIGN_OR_RETURN(problems, ProblemsOf(spec));
  }
  PONDER_ASSIGN_OR_RETURN(const int64_t runs, check_problems(problems));

  NewExperiment record;
  record.spec = spec;
  record.problems = problems;
  PONDER_ASSIGN_OR_RETURN(record.models, IdentifyModels(spec, pipeline_.models(), options_.model));
  record.dataset = spec.problems_size() > 0 ? "inline" : DescribeSlice(spec.dataset());
  record.code_version = options_.code_version;
  record.runs_planned = runs;
  record.create_time = absl::Now();

  int64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the server is shutting down");
    if (RunningCount() >= options_.limits.max_running_experiments) return AtCapacity();
    PONDER_ASSIGN_OR_RETURN(id, store_.CreateExperiment(record));
    PONDER_RETURN_IF_ERROR(
        Launch(id, spec, std::move(problems), /*recorded=*/{}, /*resumed=*/false));
  }
  return store_.GetExperiment(id, /*with_cells=*/true);
}

absl::Status ExperimentRunner::Launch(int64_t experiment_id, v1::ExperimentSpec spec,
                                      std::vector<v1::Problem> problems,
                                      const std::vector<RunKey>& recorded, bool resumed) {
  ReapFinished();
  auto active = std::make_unique<Active>();
  active->id = experiment_id;
  active->launch = ++launches_;
  if (spec.seeds_size() == 0) spec.add_seeds(0);
  spec.clear_problems();
  // Runs sharing samples form one unit, placed where its first run is in the grid. A resumed
  // experiment shares among its missing budgets only: their largest is sampled again, and the
  // engine's determinism makes its samples the ones the recorded runs saw.
  std::map<std::tuple<int32_t, int32_t, int32_t>, size_t> shared_unit;
  for (const RunKey& key : Grid(spec, problems.size())) {
    if (std::binary_search(recorded.begin(), recorded.end(), key)) continue;
    if (!SharesSamples(spec, key.strategy_index)) {
      active->pending.push_back({key});
      continue;
    }
    auto [it, inserted] = shared_unit.try_emplace(
        std::make_tuple(key.problem_index, key.strategy_index, key.seed_index),
        active->pending.size());
    if (inserted) active->pending.emplace_back();
    active->pending[it->second].push_back(key);
  }
  active->spec = std::move(spec);
  active->problems = std::move(problems);
  if (resumed) {
    PONDER_RETURN_IF_ERROR(store_.SetStatus(experiment_id, v1::EXPERIMENT_STATUS_RUNNING, "",
                                            std::nullopt, /*resumed=*/true));
  }
  Active& started = *active;
  active_[experiment_id] = std::move(active);
  started.thread = std::thread([this, &started] { Run(started); });
  return absl::OkStatus();
}

void ExperimentRunner::Run(Active& active) {
  SolveRuns(active);
  writer_.Flush();  // every run this experiment finished is recorded (or refused) now

  v1::ExperimentStatus status = v1::EXPERIMENT_STATUS_COMPLETED;
  std::string error;
  {
    absl::MutexLock lock(&active.mu);
    if (!active.record_error.ok()) {
      status = v1::EXPERIMENT_STATUS_FAILED;
      error = std::string(active.record_error.message());
    }
  }
  if (status == v1::EXPERIMENT_STATUS_COMPLETED) {
    switch (active.stop.load()) {
      case StopReason::kCancel:
        status = v1::EXPERIMENT_STATUS_CANCELLED;
        break;
      case StopReason::kShutdown:
        status = v1::EXPERIMENT_STATUS_INTERRUPTED;
        break;
      case StopReason::kNone:
        break;
    }
  }
  if (status == v1::EXPERIMENT_STATUS_COMPLETED) {
    // Belt and braces: COMPLETED promises the whole grid is recorded.
    absl::StatusOr<std::vector<RunKey>> recorded = store_.RecordedRunKeys(active.id);
    const size_t planned = active.problems.size() * active.spec.strategies_size() *
                           active.spec.budgets_size() * active.spec.seeds_size();
    if (!recorded.ok() || recorded->size() != planned) {
      status = v1::EXPERIMENT_STATUS_FAILED;
      error = recorded.ok() ? absl::StrCat(planned - recorded->size(), " runs are not recorded")
                            : std::string(recorded.status().message());
    }
  }
  absl::Status stored = store_.SetStatus(active.id, status, error, absl::Now());
  if (!stored.ok()) {
    PrintToStderr("ponderd", absl::StrCat("experiment ", active.id,
                                          ": cannot record its status: ", stored.ToString()));
  }
  // Subscribers hear of the end before the experiment stops counting as running, so whoever
  // waits for it to stop (WaitUntilStopped, Shutdown) has also seen the last notification.
  Notify(active.id);
  absl::MutexLock lock(&mu_);
  // Move ourselves to finished_; Launch, Shutdown or the destructor joins this thread.
  const int64_t id = active.id;
  finished_.push_back(std::move(active_[id]));
  active_.erase(id);
}

void ExperimentRunner::SolveRuns(Active& active) {
  int parallelism = active.spec.parallelism() > 0 ? active.spec.parallelism()
                                                  : options_.limits.default_experiment_parallelism;
  parallelism = std::max(1, std::min<int>(parallelism, static_cast<int>(active.pending.size())));
  std::vector<std::thread> workers;
  for (int w = 0; w < parallelism; ++w) {
    workers.emplace_back([this, &active] {
      while (active.stop.load() == StopReason::kNone && !active.cancel.cancelled()) {
        std::vector<RunKey> unit;
        {
          absl::MutexLock lock(&active.mu);
          if (active.next >= active.pending.size()) return;
          unit = active.pending[active.next++];
        }
        bool discard = false;
        if (unit.size() == 1) {
          RunRecord record = SolveOne(active, unit[0], &discard);
          if (!discard) writer_.Enqueue(std::move(record));
          continue;
        }
        std::vector<RunRecord> records = SolveSharingSamples(active, unit, &discard);
        if (discard) continue;
        for (RunRecord& record : records) writer_.Enqueue(std::move(record));
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
}

RunRecord ExperimentRunner::SolveOne(Active& active, const RunKey& key, bool* discard) {
  const v1::NamedStrategy& strategy = active.spec.strategies(key.strategy_index);
  v1::SolveRequest request;
  *request.mutable_problem() = active.problems[key.problem_index];
  *request.mutable_strategy() = strategy.config();
  *request.mutable_budget() = active.spec.budgets(key.budget_index);
  request.set_seed(active.spec.seeds(key.seed_index));
  *request.mutable_prompt() = active.spec.prompt();

  SolveControl control;
  control.cancel = &active.cancel;
  absl::StatusOr<v1::SolveResponse> response = pipeline_.Solve(request, control);
  // A run cut short by a stop is not a result: it is done again when the experiment resumes.
  *discard = active.cancel.cancelled();

  RunRecord record;
  record.experiment_id = active.id;
  record.key = key;
  record.strategy = strategy.name();
  record.budget = request.budget();
  record.seed = request.seed();
  record.finish_time = absl::Now();
  if (response.ok()) {
    record.result = std::move(*response->mutable_result());
    if (response->has_correct()) record.correct = response->correct();
    record.candidate_correct.assign(response->candidate_correct().begin(),
                                    response->candidate_correct().end());
  } else {
    record.status = response.status();
  }
  return record;
}

absl::StatusOr<std::vector<v1::Problem>> ExperimentRunner::ProblemsOf(
    const v1::ExperimentSpec& spec) {
  if (spec.problems_size() > 0) {
    std::vector<v1::Problem> problems(spec.problems().begin(), spec.problems().end());
    for (size_t i = 0; i < problems.size(); ++i) {
      if (problems[i].id().empty()) problems[i].set_id(absl::StrCat(i));
    }
    return problems;
  }
  absl::StatusOr<std::vector<v1::Problem>> loaded =
      datasets_.Load(spec.dataset(), stop_loads_.get_token());
  if (!loaded.ok()) return Within("spec", loaded.status());
  if (loaded->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.dataset: the slice ", DescribeSlice(spec.dataset()), " has no problems"));
  }
  return loaded;
}

absl::Status ExperimentRunner::CheckModels(int64_t experiment_id, const v1::ExperimentSpec& spec) {
  PONDER_ASSIGN_OR_RETURN(ExperimentModels recorded, store_.GetExperimentModels(experiment_id));
  PONDER_ASSIGN_OR_RETURN(ExperimentModels here,
                          IdentifyModels(spec, pipeline_.models(), options_.model));
  return CheckSameModels(experiment_id, recorded, here);
}

absl::Status ExperimentRunner::CheckSameProblems(int64_t experiment_id,
                                                 const std::vector<v1::Problem>& here) {
  PONDER_ASSIGN_OR_RETURN(std::vector<v1::Problem> recorded, store_.LoadProblems(experiment_id));
  auto differ = [&](std::string what) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id, " was started on other problems (", what,
                     "): to finish it, give it the problems it was started with"));
  };
  auto list_ids = [](const std::vector<v1::Problem>& problems) {
    std::string ids;
    for (size_t i = 0; i < problems.size() && i < 3; ++i) {
      absl::StrAppend(&ids, i > 0 ? ", " : "", Printable(problems[i].id(), 64));
    }
    return absl::StrCat(problems.size(), " (", ids, problems.size() > 3 ? ", ...)" : ")");
  };
  if (recorded.size() != here.size()) {
    return differ(
        absl::StrCat("it has ", list_ids(recorded), ", these settings give ", list_ids(here)));
  }
  for (size_t i = 0; i < here.size(); ++i) {
    const v1::Problem& a = recorded[i];
    const v1::Problem& b = here[i];
    std::string field;
    if (a.id() != b.id()) {
      field = "id";
    } else if (a.text() != b.text()) {
      field = "text";
    } else if (a.has_reference_answer() != b.has_reference_answer() ||
               a.reference_answer() != b.reference_answer()) {
      field = "reference answer";
    } else if (AnswerFormatName(a.answer_format()) != AnswerFormatName(b.answer_format())) {
      field = "answer format";  // by name: UNSPECIFIED means math, as the store records it
    } else if (!google::protobuf::util::MessageDifferencer::Equals(a.code_tests(),
                                                                   b.code_tests()) ||
               !google::protobuf::util::MessageDifferencer::Equals(a.example_tests(),
                                                                   b.example_tests())) {
      field = "tests";
    }
    if (field.empty()) continue;
    return differ(absl::StrCat("its problem ", i, " '", Printable(a.id(), 64), "' and this one's '",
                               Printable(b.id(), 64), "' differ in their ", field));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ExperimentRunner::FindResumable(const v1::ExperimentSpec& spec) {
  PONDER_ASSIGN_OR_RETURN(std::vector<v1::Experiment> experiments,
                          store_.ListExperiments(0, 1 << 20));
  // What `spec` runs here, computed once, when an experiment has its settings.
  std::optional<ExperimentModels> models;
  std::optional<std::vector<v1::Problem>> problems;  // unset: the slice's files are absent
  std::string absent;
  std::string difference;
  for (const v1::Experiment& e : experiments) {  // newest first
    if (!SameSettings(e.spec(), spec)) continue;
    if (!models.has_value()) {
      PONDER_ASSIGN_OR_RETURN(models, IdentifyModels(spec, pipeline_.models(), options_.model));
      absl::StatusOr<std::vector<v1::Problem>> loaded = ProblemsOf(spec);
      if (loaded.ok()) {
        problems = *std::move(loaded);
      } else if (spec.problems_size() == 0 && absl::IsNotFound(loaded.status())) {
        absent = std::string(loaded.status().message());
      } else {
        return loaded.status();
      }
    }
    absl::Status same =
        problems.has_value() ? CheckSameProblems(e.id(), *problems) : absl::OkStatus();
    if (same.ok()) {
      PONDER_ASSIGN_OR_RETURN(ExperimentModels recorded, store_.GetExperimentModels(e.id()));
      same = CheckSameModels(e.id(), recorded, *models);
    }
    if (same.ok()) {
      if (!problems.has_value()) {
        std::fprintf(
            stderr, "%s\n",
            TerminalSafe(
                absl::StrCat("experiment ", e.id(), ": its problems are the ones it recorded from ",
                             DescribeSlice(spec.dataset()),
                             " (the dataset's files are not here to compare: ", absent, ")"))
                .c_str());
      }
      return e.id();
    }
    if (!absl::IsFailedPrecondition(same)) return same;
    if (difference.empty()) difference = std::string(same.message());
  }
  if (difference.empty()) return 0;
  return absl::FailedPreconditionError(absl::StrCat(
      difference,
      "; or start a new experiment with these settings (ponder bench without --resume)"));
}

absl::Status ExperimentRunner::CheckGradable(const std::vector<v1::Problem>& problems) const {
  // A code problem whose tests cannot run here would fail every run after its tokens are spent.
  for (const v1::Problem& problem : problems) {
    if (HasCodeTests(problem)) return pipeline_.CheckGradable(problem);
  }
  return absl::OkStatus();
}

bool ExperimentRunner::SharesSamples(const v1::ExperimentSpec& spec, int strategy_index) const {
  if (spec.independent_budgets() || spec.budgets_size() < 2) return false;
  // A token cap could end a smaller budget's run differently; such specs sample per budget.
  for (const v1::Budget& budget : spec.budgets()) {
    if (budget.max_generated_tokens() != 0) return false;
  }
  return pipeline_.strategies().SupportsPrefixBudgets(spec.strategies(strategy_index).config());
}

std::vector<RunRecord> ExperimentRunner::SolveSharingSamples(Active& active,
                                                             const std::vector<RunKey>& keys,
                                                             bool* discard) {
  const v1::ExperimentSpec& spec = active.spec;
  auto budget_n = [&](const RunKey& key) { return spec.budgets(key.budget_index).n(); };
  const RunKey largest = *std::max_element(
      keys.begin(), keys.end(),
      [&](const RunKey& a, const RunKey& b) { return budget_n(a) < budget_n(b); });
  RunRecord full = SolveOne(active, largest, discard);
  if (*discard) return {};
  std::vector<RunRecord> records;
  const v1::Problem& problem = active.problems[largest.problem_index];
  const verifiers::AnswerFormat format = AnswerFormatOf(problem);
  for (const RunKey& key : keys) {
    if (key == largest) continue;
    RunRecord record;
    record.experiment_id = active.id;
    record.key = key;
    record.strategy = full.strategy;
    record.budget = spec.budgets(key.budget_index);
    record.seed = full.seed;
    record.finish_time = full.finish_time;
    record.status = full.status;  // the samples failed: so does every budget that shares them
    if (full.status.ok()) {
      absl::StatusOr<v1::SolveResult> prefix = pipeline_.strategies().SelectFromPrefix(
          spec.strategies(key.strategy_index).config(), full.result, budget_n(key), format);
      if (prefix.ok()) {
        record.result = *std::move(prefix);
        (*record.result.mutable_diagnostics())["prefix_of_budget_n"] = budget_n(largest);
        // The chosen answer is a candidate's, so its grade is that candidate's.
        if (full.correct.has_value()) {
          record.candidate_correct.assign(full.candidate_correct.begin(),
                                          full.candidate_correct.begin() + budget_n(key));
          const int selected = record.result.selected_candidate();
          record.correct = record.result.has_answer() && selected >= 0 &&
                           record.candidate_correct[static_cast<size_t>(selected)];
        }
      } else {
        record.status = prefix.status();
      }
    }
    records.push_back(std::move(record));
  }
  records.push_back(std::move(full));
  return records;
}

void ExperimentRunner::OnBatch(const std::vector<RunWriter::Outcome>& outcomes) {
  std::set<int64_t> experiments;
  for (const RunWriter::Outcome& outcome : outcomes) {
    experiments.insert(outcome.experiment_id);
    if (outcome.status.ok()) continue;
    absl::MutexLock lock(&mu_);
    auto it = active_.find(outcome.experiment_id);
    if (it == active_.end()) continue;
    Active& active = *it->second;
    absl::MutexLock active_lock(&active.mu);
    if (active.record_error.ok()) active.record_error = outcome.status;
    active.cancel.Cancel();  // the experiment fails; stop spending compute on it
  }
  for (int64_t id : experiments) Notify(id);
}

void ExperimentRunner::Cancel(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(experiment_id);
  if (it == active_.end()) return;
  it->second->stop.store(StopReason::kCancel);
  it->second->cancel.Cancel();
  // Until this run of it has stopped: a resume may start the experiment again meanwhile (the
  // wait ran its 10 s out on the resumed one: QA of stop 36).
  const uint64_t launch = it->second->launch;
  auto stopped = [this, experiment_id, launch]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto now = active_.find(experiment_id);
    return now == active_.end() || now->second->launch != launch;
  };
  mu_.AwaitWithTimeout(absl::Condition(&stopped), kCancelWait);
}

absl::StatusOr<v1::Experiment> ExperimentRunner::Resume(int64_t experiment_id) {
  auto running = [experiment_id] {
    return absl::FailedPreconditionError(absl::StrCat("experiment ", experiment_id, " is running"));
  };
  // Refused at once, before the reads (the check under the lock below decides).
  if (IsRunning(experiment_id)) return running();
  // Before the lock: the first look at the sandbox runs a program (other experiments' records
  // and calls must not wait for it). An unknown id has no problems; it is refused below.
  PONDER_ASSIGN_OR_RETURN(std::vector<v1::Problem> problems, store_.LoadProblems(experiment_id));
  PONDER_RETURN_IF_ERROR(CheckGradable(problems));
  // The experiment and its recorded runs, read before the lock too (the lock's other callers,
  // IsRunning for every watch write among them, would wait for a free reader: reviews of stop
  // 35), and read again under it only if the experiment was written to meanwhile (it was still
  // stopping: its last runs and status). This holds because every write to an experiment goes
  // through store_, which counts it once committed, and an experiment leaves active_ only after
  // its last write (Run: Flush, then SetStatus).
  const uint64_t writes = store_.WriteCount(experiment_id);
  PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment,
                          store_.GetExperiment(experiment_id, /*with_cells=*/false));
  // Likewise before the lock: it reads the model files (the spec never changes; a completed
  // experiment is refused below).
  if (experiment.status() != v1::EXPERIMENT_STATUS_COMPLETED) {
    PONDER_RETURN_IF_ERROR(CheckModels(experiment_id, experiment.spec()));
  }
  PONDER_ASSIGN_OR_RETURN(std::vector<RunKey> recorded, store_.RecordedRunKeys(experiment_id));
  if (options_.before_resume_lock) options_.before_resume_lock(experiment_id);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the server is shutting down");
    if (active_.count(experiment_id) > 0) return running();
    if (store_.WriteCount(experiment_id) != writes) {
      PONDER_ASSIGN_OR_RETURN(experiment,
                              store_.GetExperiment(experiment_id, /*with_cells=*/false));
      PONDER_ASSIGN_OR_RETURN(recorded, store_.RecordedRunKeys(experiment_id));
    }
    if (experiment.status() == v1::EXPERIMENT_STATUS_COMPLETED) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", experiment_id, " is completed; nothing to resume"));
    }
    if (RunningCount() >= options_.limits.max_running_experiments) {
      return absl::ResourceExhaustedError(
          absl::StrCat(RunningCount(),
                       " experiments are running, the server's limit "
                       "(--max-running-experiments); retry when one has stopped"));
    }
    PONDER_RETURN_IF_ERROR(Launch(experiment_id, experiment.spec(), std::move(problems), recorded,
                                  /*resumed=*/true));
  }
  return store_.GetExperiment(experiment_id, /*with_cells=*/true);
}

absl::Status ExperimentRunner::MarkInterrupted() {
  // Experiments still marked running belong to a server that died (kill -9, crash, power), but
  // for those started or resumed here: under the lock, so none starts between the look and the
  // mark (start-up only; the lock's other callers wait for these few writes).
  absl::MutexLock lock(&mu_);
  PONDER_ASSIGN_OR_RETURN(std::vector<int64_t> orphans,
                          store_.ExperimentsWithStatus(v1::EXPERIMENT_STATUS_RUNNING));
  for (int64_t id : orphans) {
    if (active_.count(id) > 0) continue;
    PONDER_RETURN_IF_ERROR(
        store_.SetStatus(id, v1::EXPERIMENT_STATUS_INTERRUPTED, "", absl::Now()));
  }
  return absl::OkStatus();
}

absl::Status ExperimentRunner::ResumeInterrupted() {
  PONDER_ASSIGN_OR_RETURN(std::vector<int64_t> interrupted,
                          store_.ExperimentsWithStatus(v1::EXPERIMENT_STATUS_INTERRUPTED));
  for (size_t i = 0; i < interrupted.size(); ++i) {
    const int64_t id = interrupted[i];
    absl::StatusOr<v1::Experiment> resumed = Resume(id);
    if (absl::IsResourceExhausted(resumed.status())) {  // the rest stay interrupted, and are said
      PrintToStderr("ponderd", absl::StrCat(interrupted.size() - i,
                                            " interrupted experiments stay interrupted: ",
                                            resumed.status().message()));
      break;
    }
    // Other models, or code problems and no sandbox: it stays interrupted. (Or a client resumed
    // it first, the server accepting calls already: not a refusal to report.)
    if (absl::IsFailedPrecondition(resumed.status())) {
      if (IsRunning(id)) continue;
      PrintToStderr("ponderd", absl::StrCat("experiment ", id,
                                            " stays interrupted: ", resumed.status().message()));
      continue;
    }
    if (!resumed.ok()) return resumed.status();
    // Said, as a refusal is: a restarted server went on silently (QA of stop 35).
    PrintToStderr("ponderd", absl::StrCat("resuming interrupted experiment ", id, " (",
                                          resumed->runs_recorded(), " of ", resumed->runs_planned(),
                                          " runs recorded)"));
  }
  return absl::OkStatus();
}

void ExperimentRunner::Shutdown() {
  // Starts loading their problems end Unavailable rather than read a large file to its end.
  stop_loads_.request_stop();
  std::vector<std::unique_ptr<Active>> finished;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& [id, active] : active_) {
      active->stop.store(StopReason::kShutdown);
      active->cancel.Cancel();
    }
    auto all_stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_.empty(); };
    mu_.Await(absl::Condition(&all_stopped));
    finished.swap(finished_);
  }
  for (auto& active : finished) active->thread.join();
}

bool ExperimentRunner::IsRunning(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return active_.count(experiment_id) > 0;
}

void ExperimentRunner::WaitUntilStopped(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  auto stopped = [this, experiment_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return active_.count(experiment_id) == 0;
  };
  mu_.Await(absl::Condition(&stopped));
}

int64_t ExperimentRunner::Subscribe(int64_t experiment_id, std::function<void()> on_change) {
  absl::MutexLock lock(&subscribers_mu_);
  const int64_t subscription = next_subscription_++;
  subscribers_[subscription] = {experiment_id, std::move(on_change)};
  return subscription;
}

void ExperimentRunner::Unsubscribe(int64_t subscription) {
  absl::MutexLock lock(&subscribers_mu_);
  subscribers_.erase(subscription);
}

void ExperimentRunner::Notify(int64_t experiment_id) {
  // Calls happen under the lock, so Unsubscribe cannot return while one is in progress.
  absl::MutexLock lock(&subscribers_mu_);
  for (auto& [subscription, subscriber] : subscribers_) {
    if (subscriber.experiment_id == experiment_id) subscriber.on_change();
  }
}

}  // namespace ponder::orchestrator
