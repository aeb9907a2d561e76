// The solve pipeline, the experiment runner (exactly-once runs across shutdown, cancel, crash and
// resume) and the solve executor, on a tiny random model with the scripted strategy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <stop_token>
#include <thread>

#include "absl/synchronization/notification.h"
#include "orchestrator/experiment_runner.h"
#include "orchestrator/solve_executor.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/store/sqlite.h"
#include "tests/orchestrator/fake_strategy.h"
#include "tests/orchestrator/test_util.h"

namespace ponder::orchestrator {
namespace {

using testing::FakeStrategies;
using testing::FakeStrategyScript;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : engine_(testing::TinyEngine()), models_(*engine_) {}

  v1::SolveRequest Request(std::optional<std::string> reference = std::nullopt) {
    v1::SolveRequest request;
    request.mutable_problem()->set_text("What is 6 times 7?");
    if (reference) request.mutable_problem()->set_reference_answer(*reference);
    request.mutable_strategy()->mutable_self_consistency();
    request.mutable_budget()->set_n(3);
    request.set_seed(9);
    return request;
  }

  std::unique_ptr<engine::LocalEngine> engine_;
  ModelRegistry models_;
};

TEST_F(PipelineTest, PromptUsesTheChatTemplateAndTheDefaultSystemPrompt) {
  FakeStrategies strategies;
  SolvePipeline pipeline(models_, strategies);
  v1::Problem problem;
  problem.set_text("What is 6 times 7?");
  auto prompt = pipeline.RenderPrompt(problem, {});
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_THAT(*prompt, HasSubstr(std::string("<|im_start|>system\n") + kDefaultSystemPrompt));
  EXPECT_THAT(*prompt, HasSubstr("<|im_start|>user\nWhat is 6 times 7?<|im_end|>"));
  EXPECT_THAT(*prompt, ::testing::EndsWith("<|im_start|>assistant\n"));

  v1::PromptConfig custom;
  custom.set_system_prompt("");
  custom.set_user_template("Q: {problem}\nA:");
  prompt = pipeline.RenderPrompt(problem, custom);
  ASSERT_TRUE(prompt.ok());
  EXPECT_THAT(*prompt, ::testing::Not(HasSubstr("system")));
  EXPECT_THAT(*prompt, HasSubstr("Q: What is 6 times 7?\nA:"));
}

TEST_F(PipelineTest, GradesTheAnswerAndEveryCandidate) {
  FakeStrategies strategies({.answer = "42"});
  SolvePipeline pipeline(models_, strategies);
  auto right = pipeline.Solve(Request("42"), {});
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_TRUE(right->correct());
  EXPECT_THAT(right->candidate_correct(), ::testing::Each(true));
  EXPECT_EQ(right->result().candidates_size(), 3);
  EXPECT_GT(right->prompt_tokens(), 10);
  EXPECT_GT(right->result().usage().wall_seconds(), 0);

  auto gsm8k = Request("Six sevens are 42.\n#### 42");
  gsm8k.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_GSM8K);
  EXPECT_TRUE(pipeline.Solve(gsm8k, {})->correct());

  auto wrong = pipeline.Solve(Request("41"), {});
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(wrong->correct());
  EXPECT_THAT(wrong->candidate_correct(), ::testing::Each(false));

  auto ungraded = pipeline.Solve(Request(), {});
  ASSERT_TRUE(ungraded.ok());
  EXPECT_FALSE(ungraded->has_correct());
  EXPECT_TRUE(ungraded->candidate_correct().empty());
}

TEST_F(PipelineTest, SameSeedGivesTheSameCandidates) {
  FakeStrategies strategies;
  SolvePipeline pipeline(models_, strategies);
  auto a = pipeline.Solve(Request(), {});
  auto b = pipeline.Solve(Request(), {});
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a->result().candidates(i).text(), b->result().candidates(i).text());
  }
}

TEST_F(PipelineTest, ForwardsStepEvents) {
  FakeStrategies strategies({.steps = 3});
  SolvePipeline pipeline(models_, strategies);
  std::vector<int> iterations;
  SolveControl control;
  control.on_step = [&](const v1::TraceStep& step) { iterations.push_back(step.iteration()); };
  ASSERT_TRUE(pipeline.Solve(Request(), control).ok());
  EXPECT_THAT(iterations, ::testing::ElementsAre(0, 1, 2));
}

// The engine ends a cancelled generation with partial completions and OK, and a strategy may
// return a result built from them: the pipeline must not pass it off as the answer.
TEST_F(PipelineTest, CancelledSolveIsCancelledEvenWhenTheStrategyReturnedAResult) {
  FakeStrategies strategies({.steps = 1});
  SolvePipeline pipeline(models_, strategies);
  engine::CancellationToken cancel;
  SolveControl control;
  control.cancel = &cancel;
  control.on_step = [&](const v1::TraceStep&) { cancel.Cancel(); };
  auto result = pipeline.Solve(Request(), control);
  EXPECT_TRUE(absl::IsCancelled(result.status())) << result.status();
  EXPECT_EQ(strategies.solves_finished(), 1);  // the strategy did return a result
}

TEST_F(PipelineTest, PassedDeadlineIsDeadlineExceeded) {
  FakeStrategies strategies({.steps = 5, .step_delay = absl::Milliseconds(50)});
  SolvePipeline pipeline(models_, strategies);
  SolveControl control;
  control.deadline = absl::Now() + absl::Milliseconds(60);
  auto result = pipeline.Solve(Request(), control);
  EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
  EXPECT_EQ(strategies.solves_stopped(), 1);
}

TEST_F(PipelineTest, UnknownRewardModelIsReportedBeforeSolving) {
  FakeStrategies strategies({.needs_verifier = true});
  SolvePipeline pipeline(models_, strategies);
  v1::StrategyConfig config;
  config.mutable_best_of_n();
  config.mutable_verifier()->mutable_prm()->set_model("missing-prm");
  absl::Status status = pipeline.CheckBuildable(config);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("'missing-prm' is not loaded"));
}

// --- ExperimentRunner ---

class RunnerTest : public ::testing::Test {
 protected:
  RunnerTest() : engine_(testing::TinyEngine()), models_(*engine_) {
    auto store = ExperimentStore::Open(testing::TempPath("runner.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::unique_ptr<ExperimentRunner> MakeRunner(
      const FakeStrategies& strategies, ServiceLimits limits = {},
      std::function<void(int64_t)> before_resume_lock = {}) {
    return MakeRunnerWith(models_, "tiny", strategies, limits, std::move(before_resume_lock));
  }

  // A runner whose pipeline serves `models`, recording `model_path` as the policy's path.
  std::unique_ptr<ExperimentRunner> MakeRunnerWith(
      ModelRegistry& models, const std::string& model_path, const FakeStrategies& strategies,
      ServiceLimits limits = {}, std::function<void(int64_t)> before_resume_lock = {}) {
    pipelines_.push_back(std::make_unique<SolvePipeline>(models, strategies));
    return std::make_unique<ExperimentRunner>(
        *store_, *pipelines_.back(), datasets_,
        ExperimentRunnerOptions{.model = model_path,
                                .code_version = "test",
                                .limits = limits,
                                .before_resume_lock = std::move(before_resume_lock)});
  }

  // problems × 2 strategies × 2 budgets × 2 seeds.
  static v1::ExperimentSpec Spec(int problems, int parallelism = 2) {
    v1::ExperimentSpec spec;
    spec.set_name("grid");
    for (int i = 0; i < problems; ++i) {
      v1::Problem& p = *spec.add_problems();
      p.set_text(absl::StrCat("problem ", i));
      p.set_reference_answer("42");
    }
    for (const char* name : {"a", "b"}) {
      v1::NamedStrategy& s = *spec.add_strategies();
      s.set_name(name);
      s.mutable_config()->mutable_self_consistency();
    }
    spec.add_budgets()->set_n(1);
    spec.add_budgets()->set_n(2);
    spec.add_seeds(1);
    spec.add_seeds(2);
    spec.set_parallelism(parallelism);
    return spec;
  }

  std::set<RunKey> Recorded(int64_t id) {
    auto keys = store_->RecordedRunKeys(id);
    EXPECT_TRUE(keys.ok()) << keys.status();
    return std::set<RunKey>(keys->begin(), keys->end());
  }

  // run id -> grid place, straight from the database.
  std::map<int64_t, std::string> RunRows(int64_t id) {
    auto db = sqlite::Database::Open(store_->path());
    auto rows = db->Prepare(
        "SELECT r.id, p.problem_index || '/' || r.strategy_index || '/' || r.budget_index || '/' "
        "|| r.seed_index FROM runs r JOIN problems p ON p.id = r.problem_id "
        "WHERE r.experiment_id = ?1");
    rows->BindInt(1, id);
    std::map<int64_t, std::string> result;
    while (*rows->Step()) result[rows->ColumnInt(0)] = rows->ColumnText(1);
    return result;
  }

  void WaitForRecorded(int64_t id, size_t at_least) {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (Recorded(id).size() < at_least && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_GE(Recorded(id).size(), at_least);
  }

  v1::ExperimentStatus Status(int64_t id) { return store_->GetExperiment(id, false)->status(); }

  std::unique_ptr<engine::LocalEngine> engine_;
  ModelRegistry models_;
  DatasetRegistry datasets_;
  std::unique_ptr<ExperimentStore> store_;
  std::vector<std::unique_ptr<SolvePipeline>> pipelines_;
};

TEST_F(RunnerTest, RunsEveryPlaceOfTheGridExactlyOnce) {
  FakeStrategies strategies;
  auto runner = MakeRunner(strategies);
  auto started = runner->Start(Spec(3));
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->runs_planned(), 24);
  EXPECT_EQ(started->status(), v1::EXPERIMENT_STATUS_RUNNING);
  runner->WaitUntilStopped(started->id());
  auto done = store_->GetExperiment(started->id(), /*with_cells=*/true);
  EXPECT_EQ(done->status(), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(done->runs_recorded(), 24);
  EXPECT_EQ(Recorded(started->id()).size(), 24u);
  EXPECT_EQ(strategies.solves_finished(), 24);
  ASSERT_EQ(done->cells_size(), 4);
  for (const v1::ExperimentCell& cell : done->cells()) {
    EXPECT_EQ(cell.runs(), 6);
    EXPECT_EQ(cell.accuracy(), 1.0);
  }
  EXPECT_TRUE(done->has_finish_time());
  EXPECT_EQ(done->model(), "tiny");
  EXPECT_EQ(done->code_version(), "test");
}

TEST_F(RunnerTest, ShutdownThenResumeCompletesExactlyTheMissingRuns) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  auto runner = MakeRunner(strategies);
  auto started = runner->Start(Spec(5));
  ASSERT_TRUE(started.ok()) << started.status();
  const int64_t id = started->id();
  WaitForRecorded(id, 4);
  runner->Shutdown();
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_INTERRUPTED);
  const std::map<int64_t, std::string> before = RunRows(id);
  ASSERT_GE(before.size(), 4u);
  ASSERT_LT(before.size(), 40u) << "the experiment finished before it could be interrupted";
  EXPECT_TRUE(absl::IsUnavailable(runner->Start(Spec(1)).status()));

  auto second = MakeRunner(strategies);
  ASSERT_TRUE(second->MarkInterrupted().ok());
  ASSERT_TRUE(second->ResumeInterrupted().ok());
  second->WaitUntilStopped(id);
  auto done = store_->GetExperiment(id, false);
  EXPECT_EQ(done->status(), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(done->resume_count(), 1);
  const std::map<int64_t, std::string> after = RunRows(id);
  EXPECT_EQ(after.size(), 40u);
  std::set<std::string> places;
  for (const auto& [run_id, place] : after) places.insert(place);
  EXPECT_EQ(places.size(), 40u);  // no place recorded twice
  for (const auto& [run_id, place] : before) {
    ASSERT_TRUE(after.count(run_id)) << "run " << run_id << " was lost";
    EXPECT_EQ(after.at(run_id), place) << "run " << run_id << " was rewritten";
  }
}

// Resume reads the recorded runs before its lock, and again under it when the store wrote to the
// experiment meanwhile (it was stopping: its last runs): a run recorded in between is not done
// again. Without the second read the resumed experiment redoes it, the store refuses the
// duplicate and the experiment fails.
TEST_F(RunnerTest, ResumeReadsAgainWhatWasRecordedAfterItsFirstLook) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  std::function<void(int64_t)> between;
  auto runner = MakeRunner(strategies, {}, [&](int64_t id) {
    if (between) between(id);
  });
  auto started = runner->Start(Spec(5));
  ASSERT_TRUE(started.ok()) << started.status();
  const int64_t id = started->id();
  WaitForRecorded(id, 2);
  runner->Cancel(id);
  ASSERT_EQ(Status(id), v1::EXPERIMENT_STATUS_CANCELLED);
  const std::set<RunKey> before = Recorded(id);
  RunKey late{};  // the first place of the grid not recorded
  while (before.contains(late)) {
    ASSERT_LT(late.problem_index, 5);
    if (++late.seed_index < 2) continue;
    late.seed_index = 0;
    if (++late.budget_index < 2) continue;
    late.budget_index = 0;
    if (++late.strategy_index < 2) continue;
    late.strategy_index = 0;
    ++late.problem_index;
  }
  between = [&](int64_t experiment) {
    RunRecord record;
    record.experiment_id = experiment;
    record.key = late;
    record.strategy = late.strategy_index == 0 ? "a" : "b";
    record.budget.set_n(late.budget_index + 1);
    record.seed = late.seed_index + 1;
    record.result.set_answer("recorded as the experiment stopped");
    ASSERT_TRUE(store_->InsertRuns({&record, 1}).ok());
  };
  strategies.script().step_delay = absl::ZeroDuration();
  auto resumed = runner->Resume(id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  runner->WaitUntilStopped(id);
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(Recorded(id).size(), 40u);
  EXPECT_EQ(RunRows(id).size(), 40u);
}

// An experiment this runner runs is not a dead server's: marking those INTERRUPTED leaves it
// running. (ponderd marks them before it accepts calls now; the QA of stop 36 saw a client's
// experiment, started in the window before, marked INTERRUPTED while it ran.)
TEST_F(RunnerTest, MarkingInterruptedExperimentsLeavesARunningOneAlone) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  auto runner = MakeRunner(strategies);
  auto started = runner->Start(Spec(5));
  ASSERT_TRUE(started.ok()) << started.status();
  const int64_t id = started->id();
  ASSERT_TRUE(runner->MarkInterrupted().ok());
  ASSERT_TRUE(runner->IsRunning(id)) << "the experiment ended before the check";
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_RUNNING);
  strategies.script().step_delay = absl::ZeroDuration();
  runner->WaitUntilStopped(id);
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_COMPLETED);
}

TEST_F(RunnerTest, CancelStopsAndResumeFinishes) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  auto runner = MakeRunner(strategies);
  auto started = runner->Start(Spec(5));
  ASSERT_TRUE(started.ok());
  WaitForRecorded(started->id(), 2);
  runner->Cancel(started->id());
  auto cancelled = store_->GetExperiment(started->id(), /*with_cells=*/true);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->status(), v1::EXPERIMENT_STATUS_CANCELLED);
  EXPECT_LT(cancelled->runs_recorded(), 40);
  // Cancelling again, or an unknown experiment, changes nothing.
  runner->Cancel(started->id());
  EXPECT_EQ(Status(started->id()), v1::EXPERIMENT_STATUS_CANCELLED);
  runner->Cancel(started->id() + 1000);

  strategies.script().step_delay = absl::ZeroDuration();
  auto resumed = runner->Resume(started->id());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  runner->WaitUntilStopped(started->id());
  EXPECT_EQ(Status(started->id()), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(Recorded(started->id()).size(), 40u);
  auto again = runner->Resume(started->id());
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
}

TEST_F(RunnerTest, FailingRunsAreRecordedAsFailedAndNotRetried) {
  FakeStrategies strategies({.fail_if_problem = "problem 1"});
  auto runner = MakeRunner(strategies);
  auto started = runner->Start(Spec(2));
  ASSERT_TRUE(started.ok());
  runner->WaitUntilStopped(started->id());
  auto done = store_->GetExperiment(started->id(), false);
  EXPECT_EQ(done->status(), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(done->runs_recorded(), 16);
  EXPECT_EQ(done->runs_failed(), 8);
  auto runs = store_->ListRuns(started->id(), 0, 100, false);
  for (const v1::RunResult& run : *runs) {
    if (run.problem_index() == 1) {
      EXPECT_EQ(run.status(), v1::RUN_STATUS_FAILED);
      EXPECT_THAT(run.error(), HasSubstr("scripted failure"));
      EXPECT_FALSE(run.has_correct());
    } else {
      EXPECT_EQ(run.status(), v1::RUN_STATUS_SUCCEEDED);
      EXPECT_TRUE(run.correct());
    }
  }
}

TEST_F(RunnerTest, ExperimentLeftRunningByADeadServerIsInterruptedThenResumed) {
  FakeStrategies strategies;
  // A server "dies": its experiment stays 'running' in the database with some runs recorded.
  NewExperiment orphan;
  orphan.spec = Spec(2);
  orphan.models.policy.path = "tiny";  // no fingerprint, as before schema version 3
  orphan.problems.assign(orphan.spec.problems().begin(), orphan.spec.problems().end());
  orphan.runs_planned = 16;
  orphan.create_time = absl::Now();
  auto id = store_->CreateExperiment(orphan);
  ASSERT_TRUE(id.ok());
  RunRecord recorded;
  recorded.experiment_id = *id;
  recorded.key = {1, 1, 0, 1};
  recorded.strategy = "b";
  recorded.budget.set_n(1);
  recorded.seed = 2;
  recorded.result.set_answer("from the dead server");
  ASSERT_TRUE(store_->InsertRuns({&recorded, 1}).ok());

  auto runner = MakeRunner(strategies);
  ASSERT_TRUE(runner->MarkInterrupted().ok());
  EXPECT_EQ(Status(*id), v1::EXPERIMENT_STATUS_INTERRUPTED);
  EXPECT_FALSE(runner->IsRunning(*id));

  ASSERT_TRUE(runner->ResumeInterrupted().ok());
  runner->WaitUntilStopped(*id);
  EXPECT_EQ(Status(*id), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(Recorded(*id).size(), 16u);
  EXPECT_EQ(strategies.solves_finished(), 15);  // all but the recorded run
}

// A tiny random model other than TinyModelPath's (another seed), at a fresh path.
std::string RandomModelPath(std::string_view name, uint64_t seed) {
  const std::string path = testing::TempPath(name);
  engine::testing::RandomModelSpec spec;
  spec.seed = seed;
  absl::Status written = engine::testing::WriteRandomGgufModel(spec, engine::DType::kF32, path);
  EXPECT_TRUE(written.ok()) << written;
  return path;
}

// An engine on the model file at `path`.
std::unique_ptr<engine::LocalEngine> EngineOn(const std::string& path) {
  engine::LocalEngineOptions options;
  options.model_path = path;
  options.threads = 2;
  auto engine = engine::LocalEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

// A cancelled experiment with some runs recorded by the tiny model.
int64_t StartAndCancel(ExperimentRunner& runner, FakeStrategies& strategies,
                       const v1::ExperimentSpec& spec,
                       const std::function<void(int64_t)>& wait_for_runs) {
  auto started = runner.Start(spec);
  EXPECT_TRUE(started.ok()) << started.status();
  if (!started.ok()) return 0;
  wait_for_runs(started->id());
  runner.Cancel(started->id());
  EXPECT_FALSE(runner.IsRunning(started->id()));  // stopped within the wait
  strategies.script().step_delay = absl::ZeroDuration();
  return started->id();
}

// Another model's answers must never join an experiment: resuming it with another policy file
// is refused, naming both, and ponderd's start-up recovery leaves it interrupted.
TEST_F(RunnerTest, ResumeWithAnotherPolicyModelIsRefusedNamingBoth) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  auto runner = MakeRunnerWith(models_, testing::TinyModelPath(), strategies);
  const int64_t id =
      StartAndCancel(*runner, strategies, Spec(5), [&](int64_t id) { WaitForRecorded(id, 2); });
  ASSERT_GT(id, 0);
  const std::map<int64_t, std::string> before = RunRows(id);

  const std::string other_path = RandomModelPath("other.gguf", 6);
  auto other_engine = EngineOn(other_path);
  ASSERT_NE(other_engine, nullptr);
  ModelRegistry other_models(*other_engine);
  auto other = MakeRunnerWith(other_models, other_path, strategies);
  auto resumed = other->Resume(id);
  EXPECT_TRUE(absl::IsFailedPrecondition(resumed.status())) << resumed.status();
  EXPECT_THAT(resumed.status().message(), HasSubstr(testing::TinyModelPath()));
  EXPECT_THAT(resumed.status().message(), HasSubstr(other_path));

  ASSERT_TRUE(store_->SetStatus(id, v1::EXPERIMENT_STATUS_INTERRUPTED, "", absl::Now()).ok());
  ASSERT_TRUE(other->MarkInterrupted().ok());
  ASSERT_TRUE(other->ResumeInterrupted().ok());
  EXPECT_FALSE(other->IsRunning(id));
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_INTERRUPTED);
  EXPECT_EQ(RunRows(id), before);
}

// A model is its content: the same file at another path resumes the experiment.
TEST_F(RunnerTest, ResumeWithTheSameModelMovedElsewhereFinishes) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  auto runner = MakeRunnerWith(models_, testing::TinyModelPath(), strategies);
  const int64_t id =
      StartAndCancel(*runner, strategies, Spec(5), [&](int64_t id) { WaitForRecorded(id, 2); });
  ASSERT_GT(id, 0);
  const std::string moved = testing::TempPath("moved.gguf");
  std::filesystem::copy_file(testing::TinyModelPath(), moved);
  auto moved_engine = EngineOn(moved);
  ASSERT_NE(moved_engine, nullptr);
  ModelRegistry moved_models(*moved_engine);
  auto second = MakeRunnerWith(moved_models, moved, strategies);
  auto resumed = second->Resume(id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  second->WaitUntilStopped(id);
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_COMPLETED);
  EXPECT_EQ(Recorded(id).size(), 40u);
}

// Reward models likewise: a verifier's "prm" must be the file the experiment started with.
TEST_F(RunnerTest, ResumeWithAnotherRewardModelIsRefused) {
  FakeStrategies strategies({.steps = 2, .step_delay = absl::Milliseconds(15)});
  v1::ExperimentSpec spec = Spec(5);
  for (v1::NamedStrategy& s : *spec.mutable_strategies()) {
    v1::ProcessRewardModel& prm = *s.mutable_config()->mutable_verifier()->mutable_prm();
    prm.set_model("prm");
    prm.set_format(v1::ProcessRewardModel::FORMAT_MATH_SHEPHERD);
  }
  models_.AddRewardModel("prm", *engine_);
  auto runner = MakeRunnerWith(models_, testing::TinyModelPath(), strategies);
  const int64_t id =
      StartAndCancel(*runner, strategies, spec, [&](int64_t id) { WaitForRecorded(id, 2); });
  ASSERT_GT(id, 0);

  const std::string other_path = RandomModelPath("other_prm.gguf", 7);
  auto other_prm = EngineOn(other_path);
  ASSERT_NE(other_prm, nullptr);
  ModelRegistry other_models(*engine_);
  other_models.AddRewardModel("prm", *other_prm);
  auto other = MakeRunnerWith(other_models, testing::TinyModelPath(), strategies);
  auto resumed = other->Resume(id);
  EXPECT_TRUE(absl::IsFailedPrecondition(resumed.status())) << resumed.status();
  EXPECT_THAT(resumed.status().message(), HasSubstr("reward model 'prm'"));
  EXPECT_THAT(resumed.status().message(), HasSubstr(other_path));

  ModelRegistry without_prm(*engine_);
  auto without = MakeRunnerWith(without_prm, testing::TinyModelPath(), strategies);
  EXPECT_TRUE(absl::IsFailedPrecondition(without->Resume(id).status()));

  auto same = MakeRunnerWith(models_, testing::TinyModelPath(), strategies);
  ASSERT_TRUE(same->Resume(id).ok());
  same->WaitUntilStopped(id);
  EXPECT_EQ(Status(id), v1::EXPERIMENT_STATUS_COMPLETED);
}

TEST_F(RunnerTest, RunningExperimentsAreLimited) {
  FakeStrategies strategies({.steps = 1, .step_delay = absl::Milliseconds(20)});
  ServiceLimits limits;
  limits.max_running_experiments = 1;
  limits.max_experiment_runs = 100;
  auto runner = MakeRunner(strategies, limits);
  auto first = runner->Start(Spec(3));
  ASSERT_TRUE(first.ok());
  auto second = runner->Start(Spec(1));
  EXPECT_TRUE(absl::IsResourceExhausted(second.status())) << second.status();
  // An invalid spec is INVALID_ARGUMENT at capacity too (found by fuzzing the server: a client
  // that honours RESOURCE_EXHAUSTED's retry-after would retry it forever).
  v1::ExperimentSpec unknown_dataset = Spec(0);
  unknown_dataset.mutable_dataset()->set_name("no-such-dataset");
  EXPECT_TRUE(absl::IsInvalidArgument(runner->Start(unknown_dataset).status()));
  // So are inline problems that fail their own checks (they were looked at only after the
  // capacity: QA in stop 32).
  const absl::Status too_many = runner->Start(Spec(20)).status();  // 160 runs
  EXPECT_TRUE(absl::IsInvalidArgument(too_many)) << too_many;
  runner->Cancel(first->id());
}

TEST_F(RunnerTest, DatasetSlicesComeFromTheRegistry) {
  datasets_.Register(
      "toy",
      [](const std::string& split, std::stop_token) -> absl::StatusOr<std::vector<v1::Problem>> {
        if (split != "test") return absl::InvalidArgumentError("dataset.split: only 'test'");
        std::vector<v1::Problem> rows(10);
        for (int i = 0; i < 10; ++i) {
          rows[i].set_id(absl::StrCat("toy-", i));
          rows[i].set_text(absl::StrCat("toy problem ", i));
        }
        return rows;
      });
  FakeStrategies strategies;
  auto runner = MakeRunner(strategies);
  v1::ExperimentSpec spec = Spec(0);
  spec.mutable_dataset()->set_name("toy");
  spec.mutable_dataset()->set_offset(2);
  spec.mutable_dataset()->set_limit(3);
  auto started = runner->Start(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->runs_planned(), 3 * 8);
  runner->WaitUntilStopped(started->id());
  auto problems = store_->LoadProblems(started->id());
  ASSERT_EQ(problems->size(), 3u);
  EXPECT_EQ((*problems)[0].id(), "toy-2");
  auto db = sqlite::Database::Open(store_->path());
  EXPECT_EQ(*db->QueryText("SELECT dataset FROM experiments ORDER BY id DESC LIMIT 1"),
            "toy:test[2:5]");

  spec.mutable_dataset()->set_name("nope");
  auto unknown = runner->Start(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status()));
  EXPECT_THAT(std::string(unknown.status().message()),
              StartsWith("spec.dataset.name: unknown dataset 'nope'"));
  spec.mutable_dataset()->set_name("toy");
  spec.mutable_dataset()->set_offset(10);
  EXPECT_THAT(std::string(runner->Start(spec).status().message()),
              StartsWith("spec.dataset.offset:"));
}

// A stopping server does not wait for a dataset being loaded: Shutdown asks the load to stop,
// and the start that was loading ends Unavailable naming its dataset. (Before, a shutdown
// waited for every load on the calls pool: 17 to 30 s with eight 216 MB files, QA of stop 34.)
TEST_F(RunnerTest, ShutdownStopsTheDatasetLoadsOfStartsInProgress) {
  absl::Notification loading;
  datasets_.Register(
      "endless",
      [&](const std::string&, std::stop_token stop) -> absl::StatusOr<std::vector<v1::Problem>> {
        loading.Notify();
        // A load that ends only when asked to (or after 20 s, which fails the test below).
        for (absl::Time give_up = absl::Now() + absl::Seconds(20);
             !stop.stop_requested() && absl::Now() < give_up;) {
          absl::SleepFor(absl::Milliseconds(1));
        }
        if (!stop.stop_requested()) return std::vector<v1::Problem>(1);
        return absl::CancelledError("reading endless stopped");
      });
  FakeStrategies strategies;
  auto runner = MakeRunner(strategies);
  v1::ExperimentSpec spec = Spec(0);
  spec.mutable_dataset()->set_name("endless");
  absl::StatusOr<v1::Experiment> started;
  std::thread start([&] { started = runner->Start(spec); });
  loading.WaitForNotification();
  runner->Shutdown();
  start.join();
  EXPECT_TRUE(absl::IsUnavailable(started.status())) << started.status();
  EXPECT_THAT(std::string(started.status().message()),
              HasSubstr("loading endless:test[0:] was stopped"));
  // Later loads are refused at once.
  EXPECT_TRUE(absl::IsUnavailable(runner->Start(spec).status()));
}

TEST_F(RunnerTest, StrategyTheModelsCannotBuildIsRefusedAtStart) {
  FakeStrategies strategies({.needs_verifier = true});
  auto runner = MakeRunner(strategies);
  v1::ExperimentSpec spec = Spec(1);
  v1::StrategyConfig& config = *spec.mutable_strategies(1)->mutable_config();
  config.mutable_best_of_n();
  config.mutable_verifier()->mutable_prm()->set_model("missing-prm");
  config.mutable_verifier()->mutable_prm()->set_format(
      v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  auto started = runner->Start(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(started.status()));
  EXPECT_THAT(std::string(started.status().message()),
              StartsWith("spec.strategies[1].config.verifier.prm.model: reward model"));
  EXPECT_TRUE(store_->ListExperiments(0, 10)->empty());  // nothing was recorded
}

TEST_F(RunnerTest, SubscribersHearAboutRecordedRunsAndTheEnd) {
  // Slow enough that the experiment is still running when the test subscribes.
  FakeStrategies strategies({.steps = 1, .step_delay = absl::Milliseconds(10)});
  auto runner = MakeRunner(strategies);
  absl::Mutex mu;
  int calls = 0;
  v1::ExperimentStatus last = v1::EXPERIMENT_STATUS_UNSPECIFIED;
  auto started = runner->Start(Spec(2, /*parallelism=*/1));
  ASSERT_TRUE(started.ok());
  const int64_t subscription = runner->Subscribe(started->id(), [&] {
    absl::MutexLock lock(&mu);
    ++calls;
    last = store_->GetExperiment(started->id(), false)->status();
  });
  runner->WaitUntilStopped(started->id());
  runner->Unsubscribe(subscription);
  absl::MutexLock lock(&mu);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(last, v1::EXPERIMENT_STATUS_COMPLETED);
}

// --- SolveExecutor ---

TEST(SolveExecutorTest, RefusesWorkBeyondWorkersPlusQueue) {
  SolveExecutor executor(/*workers=*/2, /*max_queued=*/1);
  absl::Notification release;
  std::atomic<int> ran{0};
  auto blocker = [&] {
    release.WaitForNotification();
    ran.fetch_add(1);
  };
  EXPECT_TRUE(executor.TrySubmit(blocker));
  EXPECT_TRUE(executor.TrySubmit(blocker));
  EXPECT_TRUE(executor.TrySubmit(blocker));
  EXPECT_FALSE(executor.TrySubmit(blocker));
  const absl::Duration hint = executor.RetryHint();
  EXPECT_GE(hint, absl::Milliseconds(100));
  EXPECT_LE(hint, absl::Seconds(60));
  release.Notify();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (ran.load() < 3 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(ran.load(), 3);
  EXPECT_TRUE(executor.TrySubmit([&] { ran.fetch_add(1); }));
}

// Tasks run in the order they came (the watches' pool relies on it: served newest first, one
// watcher waited 84 s for its first state in review of stop 34).
TEST(SolveExecutorTest, RunsTasksInTheOrderTheyCame) {
  SolveExecutor executor(/*workers=*/1, /*max_queued=*/8);
  absl::Notification release;
  absl::Mutex mu;
  std::vector<int> order;
  ASSERT_TRUE(executor.TrySubmit([&] { release.WaitForNotification(); }));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(executor.TrySubmit([&, i] {
      absl::MutexLock lock(&mu);
      order.push_back(i);
    }));
  }
  release.Notify();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      if (order.size() == 5 || absl::Now() > give_up) break;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

// The retry hint counts the tasks ahead per parallel worker: tasks that take turns (parallelism
// 1) wait for all of them, twice as long as for two workers that run side by side.
TEST(SolveExecutorTest, RetryHintCountsTasksThatTakeTurnsOneAtATime) {
  absl::Notification release;
  auto blocker = [&] { release.WaitForNotification(); };
  SolveExecutor side_by_side(/*workers=*/2, /*max_queued=*/8);
  SolveExecutor in_turns(/*workers=*/2, /*max_queued=*/8, /*parallelism=*/1);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(side_by_side.TrySubmit(blocker));
    ASSERT_TRUE(in_turns.TrySubmit(blocker));
  }
  // The mean task time starts at 1 s: 7 tasks ahead of the next one.
  EXPECT_EQ(side_by_side.RetryHint(), absl::Seconds(3.5));
  EXPECT_EQ(in_turns.RetryHint(), absl::Seconds(7));
  release.Notify();
}

}  // namespace
}  // namespace ponder::orchestrator
