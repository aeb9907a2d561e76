// Code problems (ANSWER_FORMAT_CODE): the CodeGrader runs their tests with each program in the
// real sandbox, the pipeline grades every candidate by them, and an experiment on code problems
// records those grades. Skips, saying why, where the sandbox cannot be set up (it needs root,
// bubblewrap and user namespaces).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "datasets/dataset.h"
#include "orchestrator/builtin_datasets.h"
#include "orchestrator/code_grader.h"
#include "orchestrator/experiment_runner.h"
#include "orchestrator/solve_pipeline.h"
#include "tests/orchestrator/fake_strategy.h"
#include "tests/orchestrator/test_util.h"
#include "tests/samplers/scripted_engine.h"

namespace ponder::orchestrator {
namespace {

using ::testing::ElementsAre;
using testing::FakeStrategies;
using ::testing::HasSubstr;

constexpr char kAdd[] = "def add(a, b):\n    return a + b\n";
constexpr char kSubtract[] = "def add(a, b):\n    return a - b\n";

v1::CodeTests AddTests() {
  v1::CodeTests tests;
  tests.add_tests("assert add(1, 2) == 3");
  tests.add_tests("assert add(-1, 1) == 0");
  return tests;
}

#define SKIP_WITHOUT_SANDBOX(grader)                                         \
  if (absl::Status available = (grader).CheckAvailable(); !available.ok()) { \
    GTEST_SKIP() << "the code sandbox cannot be set up here: " << available; \
  }

TEST(CodeGraderTest, AProgramIsCorrectWhenEveryTestPassesAndTheSameTextRunsOnce) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  v1::CodeTests tests = AddTests();
  tests.set_timeout_seconds(2);
  const std::vector<std::optional<std::string>> programs = {
      kAdd,         kSubtract, "def add(a, b):\n    while True: pass\n",
      std::nullopt, kAdd,      "raise SystemExit(0)\n"};
  auto correct = grader.Grade(tests, programs);
  ASSERT_TRUE(correct.ok()) << correct.status();
  EXPECT_THAT(*correct, ElementsAre(true, false, false, false, true, false));
  const verifiers::CodeVerifierPool::Stats stats = grader.stats();
  EXPECT_EQ(stats.runs, 4);  // kAdd once, no run without a program
  EXPECT_EQ(stats.runs_by_status[static_cast<int>(verifiers::CodeRunStatus::kTimeout)], 1);
}

// MBPP's shape (builtin_datasets.cc): the unit_tests verifier's example is the first of the
// tests that grade.
v1::CodeTests LeadingExample(const v1::CodeTests& tests) {
  v1::CodeTests examples = tests;
  examples.mutable_tests()->DeleteSubrange(1, examples.tests_size() - 1);
  return examples;
}

TEST(CodeRunCacheTest, KeepsOnlyVerdictsOnTheProgramUnderItsExactRequest) {
  using verifiers::CodeRunStatus;
  auto result_of = [](CodeRunStatus status) {
    verifiers::CodeRunResult result;
    result.status = status;
    result.tests_total = 2;
    result.tests_passed = status == CodeRunStatus::kPassed ? 2 : 1;
    return result;
  };
  CodeRunCache cache;
  const verifiers::CodeRunRequest request = CodeTestRequest(AddTests(), kAdd);
  EXPECT_FALSE(cache.Find(request).has_value());
  verifiers::CodeRunResult passed = result_of(CodeRunStatus::kPassed);
  passed.stdout_text = "what it printed";
  cache.Keep(request, request, passed);
  ASSERT_TRUE(cache.Find(request).has_value());
  EXPECT_EQ(cache.Find(request)->status, CodeRunStatus::kPassed);
  EXPECT_EQ(cache.Find(request)->tests_passed, 2);
  EXPECT_EQ(cache.Find(request)->stdout_text, "");  // not kept
  // A request that differs in anything is another launch.
  std::vector<verifiers::CodeRunRequest> others(5, request);
  others[0].program += "\n";
  others[1].tests[1] = "assert add(-1, 1) == 1";
  others[2].test_setup = "import math";
  others[3].limits.timeout_seconds = 3;
  others[4].limits.address_space_bytes /= 2;
  for (const verifiers::CodeRunRequest& other : others) EXPECT_FALSE(cache.Find(other).has_value());

  // An unavailable sandbox says nothing of the program.
  const verifiers::CodeRunRequest subtract = CodeTestRequest(AddTests(), kSubtract);
  cache.Keep(subtract, subtract, result_of(CodeRunStatus::kSandboxUnavailable));
  EXPECT_FALSE(cache.Find(subtract).has_value());
  // A deadline lowered the timeout: a run that it ended might have ended otherwise; one that
  // completed within it is the program's verdict.
  verifiers::CodeRunRequest lowered = subtract;
  lowered.limits.timeout_seconds = 0.5;
  cache.Keep(subtract, lowered, result_of(CodeRunStatus::kTimeout));
  cache.Keep(subtract, lowered, result_of(CodeRunStatus::kError));
  EXPECT_FALSE(cache.Find(subtract).has_value());
  cache.Keep(subtract, lowered, result_of(CodeRunStatus::kFailed));
  ASSERT_TRUE(cache.Find(subtract).has_value());
  EXPECT_EQ(cache.Find(subtract)->status, CodeRunStatus::kFailed);
  // Under its own limits a timeout is the program's verdict too.
  const verifiers::CodeRunRequest loop = CodeTestRequest(AddTests(), "while True: pass\n");
  cache.Keep(loop, loop, result_of(CodeRunStatus::kTimeout));
  ASSERT_TRUE(cache.Find(loop).has_value());
  EXPECT_EQ(cache.Find(loop)->status, CodeRunStatus::kTimeout);
}

// Where the examples lead the grading tests, the verifier's share comes from the run of all the
// tests and is the share a run of the examples alone gives, also for programs that misbehave
// only in a later test; grading then launches nothing and grades as fresh runs do. A program
// that tampers with the verdict channel in a later test also runs with the examples alone (no
// verdict of a tampered run counts: a forged one may come first). A later test that the parser
// cannot compile fails alone; the example's verdict still comes from the shared run.
TEST(CodeGraderTest, ExamplePassRatesFromTheGradingRunsAreThoseOfTheExamplesAlone) {
  CodeGrader separate, shared;
  SKIP_WITHOUT_SANDBOX(separate);
  v1::CodeTests tests = AddTests();
  tests.add_tests("assert add(0, 0) == 0");
  tests.set_timeout_seconds(2);
  const v1::CodeTests examples = LeadingExample(tests);
  const std::vector<std::optional<std::string>> programs = {
      kAdd,
      kSubtract,                         // fails the example
      "def add(a, b):\n    return 3\n",  // passes the example alone
      // Each passes the example and then, in the second test: loops, exits the interpreter,
      // forges a verdict, crashes it (SIGSEGV).
      "def add(a, b):\n    while a < 0: pass\n    return a + b\n",
      "import os\ndef add(a, b):\n    if a < 0: os._exit(0)\n    return a + b\n",
      "import os\ndef add(a, b):\n    if a < 0: os.write(3, b'forged\\n')\n    return a + b\n",
      "import ctypes\ndef add(a, b):\n    if a < 0: ctypes.string_at(0)\n    return a + b\n",
      "raise ValueError('no')\n",
      std::nullopt,
      kAdd,
  };
  auto alone = separate.PassRates(examples, programs);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_THAT(*alone, ElementsAre(1, 0, 1, 1, 1, 1, 1, 0, 0, 1));
  CodeRunCache runs;
  auto from_tests = shared.ExamplePassRates(examples, tests, programs, {.cache = &runs});
  ASSERT_TRUE(from_tests.ok()) << from_tests.status();
  EXPECT_EQ(*from_tests, *alone);
  // Each distinct program once, with all the tests; the forger with the example too.
  EXPECT_EQ(shared.stats().runs, 9);

  auto graded_alone = separate.Grade(tests, programs);
  auto graded = shared.Grade(tests, programs, {.cache = &runs});
  ASSERT_TRUE(graded_alone.ok()) << graded_alone.status();
  ASSERT_TRUE(graded.ok()) << graded.status();
  EXPECT_THAT(*graded_alone,
              ElementsAre(true, false, false, false, false, false, false, false, false, true));
  EXPECT_EQ(*graded, *graded_alone);
  EXPECT_EQ(shared.stats().runs, 9);     // grading found every run
  EXPECT_EQ(separate.stats().runs, 16);  // the examples, then all the tests

  // A later test the parser cannot compile (it gives up with MemoryError) fails alone: the run
  // reports its plan and the example's verdict, and a run of the example alone passes too.
  v1::CodeTests uncompilable = AddTests();
  uncompilable.set_tests(1, "assert " + std::string(100000, '-') + "1");
  const std::vector<std::optional<std::string>> add = {kAdd};
  alone = separate.PassRates(LeadingExample(uncompilable), add);
  from_tests =
      shared.ExamplePassRates(LeadingExample(uncompilable), uncompilable, add, {.cache = &runs});
  ASSERT_TRUE(alone.ok()) << alone.status();
  ASSERT_TRUE(from_tests.ok()) << from_tests.status();
  EXPECT_THAT(*alone, ElementsAre(1.0));
  EXPECT_THAT(*from_tests, ElementsAre(1.0));
  EXPECT_EQ(shared.stats().runs, 10);  // all the tests, once
  auto graded_uncompilable = shared.Grade(uncompilable, add, {.cache = &runs});
  ASSERT_TRUE(graded_uncompilable.ok()) << graded_uncompilable.status();
  EXPECT_THAT(*graded_uncompilable, ElementsAre(false));
  EXPECT_EQ(shared.stats().runs, 10);
}

// Examples that do not lead the tests (HumanEval's docstring examples, or another order), or a
// call without a cache: the examples run alone, as PassRates runs them.
TEST(CodeGraderTest, ExamplesThatDoNotLeadTheTestsRunAlone) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  v1::CodeTests tests = AddTests();
  v1::CodeTests examples;
  examples.add_tests(tests.tests(1));
  const std::vector<std::optional<std::string>> programs = {kAdd, kSubtract};
  CodeRunCache runs;
  auto rates = grader.ExamplePassRates(examples, tests, programs, {.cache = &runs});
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_THAT(*rates, ElementsAre(1.0, 0.0));  // add(-1, 1) is 0 only by adding
  EXPECT_EQ(grader.stats().runs, 2);
  tests.set_timeout_seconds(3);  // the same first test, another limit
  rates = grader.ExamplePassRates(LeadingExample(AddTests()), tests, programs, {.cache = &runs});
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_THAT(*rates, ElementsAre(1.0, 0.0));
  auto graded = grader.Grade(tests, programs, {.cache = &runs});
  ASSERT_TRUE(graded.ok()) << graded.status();
  EXPECT_THAT(*graded, ElementsAre(true, false));
  EXPECT_EQ(grader.stats().runs, 6);  // the examples ran alone: grading ran the tests again
  rates = grader.ExamplePassRates(LeadingExample(AddTests()), AddTests(), programs);
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_EQ(grader.stats().runs, 8);  // no cache: nothing to run the tests for
}

TEST(CodeGraderTest, HumanEvalTestCodeIsOneTestAndSetupRunsFirst) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  v1::CodeTests humaneval;
  humaneval.set_test_code(
      "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(0) == 0\n\n"
      "check(double)\n");
  auto correct = grader.Grade(
      humaneval, std::vector<std::optional<std::string>>{"def double(x):\n    return 2 * x",
                                                         "def double(x):\n    return x + 2"});
  ASSERT_TRUE(correct.ok()) << correct.status();
  EXPECT_THAT(*correct, ElementsAre(true, false));

  v1::CodeTests mbpp;
  mbpp.set_setup("import math\nLIMIT = 10");
  mbpp.add_tests("assert root(16) == 4.0");
  mbpp.add_tests("assert LIMIT == 10");
  correct = grader.Grade(
      mbpp, std::vector<std::optional<std::string>>{"def root(x):\n    return math.sqrt(x)"});
  ASSERT_TRUE(correct.ok()) << correct.status();
  EXPECT_THAT(*correct, ElementsAre(true));
}

// A solve's cancellation and deadline reach its grading: programs that loop do not hold a
// cancelled or expired solve for their whole time limit.
TEST(CodeGraderTest, GradingStopsAtTheSolvesDeadlineAndCancellation) {
  CodeGrader grader(verifiers::SandboxConfig{}, /*parallelism=*/1);
  SKIP_WITHOUT_SANDBOX(grader);
  std::vector<std::optional<std::string>> loops;
  for (int i = 0; i < 4; ++i) loops.push_back(absl::StrCat("x = ", i, "\nwhile True: pass\n"));
  const absl::Time start = absl::Now();
  auto graded = grader.Grade(AddTests(), loops, {.deadline = start + absl::Seconds(1)});
  EXPECT_TRUE(absl::IsDeadlineExceeded(graded.status())) << graded.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // 4 x 10 s without the deadline
  engine::CancellationToken cancel;
  cancel.Cancel();
  graded = grader.Grade(AddTests(), loops, {.cancel = &cancel});
  EXPECT_TRUE(absl::IsCancelled(graded.status())) << graded.status();
}

TEST(CodeGraderTest, AnUnavailableSandboxIsAnErrorNotAGrade) {
  verifiers::SandboxConfig config;
  config.bwrap_path = "/nonexistent/bwrap";
  CodeGrader grader(config);
  auto correct = grader.Grade(AddTests(), std::vector<std::optional<std::string>>{kAdd});
  ASSERT_FALSE(correct.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(correct.status())) << correct.status();
  EXPECT_THAT(std::string(correct.status().message()), HasSubstr("sandbox"));
  // Nothing to run: nothing to refuse.
  EXPECT_TRUE(grader.Grade(AddTests(), std::vector<std::optional<std::string>>{std::nullopt}).ok());
}

// The datasets' own solutions pass the tests ProblemProto gives their problems, as their
// harnesses run them (HumanEval: the prompt and the canonical body, a whole script; MBPP: the
// reference code); a wrong one fails. Reads ../shared/datasets, skips without it.
TEST(CodeGraderTest, TheSharedDatasetsReferenceSolutionsPassTheirProblemsTests) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  const std::string data_dir = std::string(PONDER_SHARED_DIR) + "/datasets";
  for (const char* name : {"humaneval", "mbpp", "mbpp-sanitized"}) {
    datasets::DatasetOptions options;
    options.data_dir = data_dir;
    absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadDataset(name, options);
    if (!loaded.ok())
      GTEST_SKIP() << "no " << name << " under " << data_dir << ": " << loaded.status();
    ASSERT_GE(loaded->problems.size(), 20u);
    for (size_t i = 0; i < 20; ++i) {
      const datasets::Problem& row = loaded->problems[i];
      const v1::Problem problem = ProblemProto(row);
      ASSERT_TRUE(HasCodeTests(problem)) << row.id;
      EXPECT_FALSE(problem.has_reference_answer());
      const std::string program = row.code->entry_point.empty()
                                      ? row.code->canonical_solution
                                      : row.code->prompt + row.code->canonical_solution;
      auto correct = grader.Grade(problem.code_tests(),
                                  std::vector<std::optional<std::string>>{
                                      program, program + "\n\ndef _broken():\n    pass\n"
                                                         "raise RuntimeError('wrong')\n"});
      ASSERT_TRUE(correct.ok()) << correct.status();
      EXPECT_THAT(*correct, ElementsAre(true, false)) << row.id;
    }
    const v1::Problem first = ProblemProto(loaded->problems[0]);
    EXPECT_THAT(first.text(),
                HasSubstr(std::string(name) == "humaneval" ? "in a markdown code block"
                                                           : "Your code should pass these tests"));
  }
}

TEST(CodeGraderTest, PassRatesCountTheTestsEachProgramPasses) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  v1::CodeTests tests = AddTests();
  tests.add_tests("assert add(0, 0) == 0");
  auto rates = grader.PassRates(
      tests, std::vector<std::optional<std::string>>{kAdd, "def add(a, b):\n    return a * b\n",
                                                     std::nullopt, "syntax error("});
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_THAT(*rates, ElementsAre(1.0, 1.0 / 3, 0.0, 0.0));
}

// HumanEval's docstring examples (datasets/doctest_examples.h) as the unit_tests verifier sees
// them: the canonical solutions pass them. Reads ../shared/datasets, skips without it.
TEST(CodeGraderTest, HumanEvalsCanonicalSolutionsPassTheirDocstringExamples) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  datasets::DatasetOptions options;
  options.data_dir = std::string(PONDER_SHARED_DIR) + "/datasets";
  absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadDataset("humaneval", options);
  if (!loaded.ok()) GTEST_SKIP() << "no humaneval under " << options.data_dir;
  int with_examples = 0, examples = 0, failing = 0;
  std::vector<std::string> failed;
  for (const datasets::Problem& row : loaded->problems) {
    const v1::Problem problem = ProblemProto(row);
    if (!problem.has_example_tests()) continue;
    ++with_examples;
    examples += problem.example_tests().tests_size();
    auto rates = grader.PassRates(
        problem.example_tests(),
        std::vector<std::optional<std::string>>{row.code->prompt + row.code->canonical_solution});
    ASSERT_TRUE(rates.ok()) << rates.status();
    if ((*rates)[0] < 1) {
      ++failing;
      failed.push_back(row.id);
    }
  }
  std::printf(
      "HumanEval: %d of %zu problems have docstring examples (%d asserts); the canonical "
      "solution fails some of them in %d: %s\n",
      with_examples, loaded->problems.size(), examples, failing,
      absl::StrJoin(failed, ", ").c_str());
  EXPECT_GE(with_examples, 120);
  // HumanEval/47's median example is wrong; HumanEval/148 writes a one-element tuple as
  // ("Venus"), which is a string.
  EXPECT_THAT(failed, ElementsAre("HumanEval/47", "HumanEval/148"));
}

class CodePipelineTest : public ::testing::Test {
 protected:
  CodePipelineTest() : engine_(testing::TinyEngine()), models_(*engine_) {}

  static v1::Problem AddProblem() {
    v1::Problem problem;
    problem.set_id("add");
    problem.set_text("Write a Python function add(a, b) that returns their sum.");
    problem.set_answer_format(v1::ANSWER_FORMAT_CODE);
    *problem.mutable_code_tests() = AddTests();
    return problem;
  }

  v1::SolveRequest Request() {
    v1::SolveRequest request;
    *request.mutable_problem() = AddProblem();
    request.mutable_strategy()->mutable_self_consistency();
    request.mutable_budget()->set_n(3);
    return request;
  }

  std::unique_ptr<engine::LocalEngine> engine_;
  ModelRegistry models_;
  CodeGrader grader_;
};

TEST_F(CodePipelineTest, EveryCandidateIsGradedByTheTests) {
  SKIP_WITHOUT_SANDBOX(grader_);
  FakeStrategies strategies({.answer = kAdd, .candidate_answers = {kAdd, kSubtract}});
  SolvePipeline pipeline(models_, strategies, &grader_);
  auto solved = pipeline.Solve(Request(), {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_TRUE(solved->correct());
  EXPECT_THAT(solved->candidate_correct(), ElementsAre(true, false, true));

  strategies.script().answer = kSubtract;
  strategies.script().candidate_answers = {kSubtract};
  solved = pipeline.Solve(Request(), {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_FALSE(solved->correct());
  EXPECT_THAT(solved->candidate_correct(), ElementsAre(false, false, false));
}

TEST_F(CodePipelineTest, ACodeProblemIsRefusedBeforeSolvingWhenItCannotBeGraded) {
  FakeStrategies strategies({.answer = kAdd});
  SolvePipeline pipeline(models_, strategies);  // no grader
  auto solved = pipeline.Solve(Request(), {});
  ASSERT_FALSE(solved.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(solved.status())) << solved.status();
  EXPECT_EQ(strategies.solves_started(), 0);
  // Without tests there is nothing to run: solved, not graded.
  v1::SolveRequest untested = Request();
  untested.mutable_problem()->clear_code_tests();
  solved = pipeline.Solve(untested, {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_FALSE(solved->has_correct());
  EXPECT_EQ(solved->candidate_correct_size(), 0);
}

TEST_F(CodePipelineTest, CodePromptsHaveNoDefaultSystemMessage) {
  FakeStrategies strategies;
  SolvePipeline pipeline(models_, strategies, &grader_);
  auto prompt = pipeline.RenderPrompt(AddProblem(), {});
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_THAT(*prompt, ::testing::Not(HasSubstr("system")));
  EXPECT_THAT(*prompt, HasSubstr("add(a, b)"));
}

TEST_F(CodePipelineTest, AnExperimentRecordsTheGradesAndKeepsTheTestsForResuming) {
  SKIP_WITHOUT_SANDBOX(grader_);
  FakeStrategies strategies({.answer = kAdd, .candidate_answers = {kAdd, kSubtract}});
  SolvePipeline pipeline(models_, strategies, &grader_);
  auto store = ExperimentStore::Open(testing::TempPath("code.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  DatasetRegistry datasets;
  ExperimentRunnerOptions options;
  options.model = "tiny";
  ExperimentRunner runner(**store, pipeline, datasets, options);

  v1::ExperimentSpec spec;
  *spec.add_problems() = AddProblem();
  v1::Problem wrong_only = AddProblem();
  wrong_only.set_id("add-wrong");
  wrong_only.mutable_code_tests()->set_tests(0, "assert add(1, 2) == 4");
  *spec.add_problems() = wrong_only;
  v1::NamedStrategy& strategy = *spec.add_strategies();
  strategy.set_name("sc");
  strategy.mutable_config()->mutable_self_consistency();
  spec.add_budgets()->set_n(2);
  auto started = runner.Start(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  runner.WaitUntilStopped(started->id());
  auto finished = (*store)->GetExperiment(started->id(), /*with_cells=*/false);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->status(), v1::EXPERIMENT_STATUS_COMPLETED) << finished->error();

  auto runs = (*store)->ListRuns(started->id(), 0, 10, /*details=*/true);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 2u);
  for (const v1::RunResult& run : *runs) {
    ASSERT_EQ(run.status(), v1::RUN_STATUS_SUCCEEDED) << run.error();
    EXPECT_EQ(run.correct(), run.problem_id() == "add") << run.problem_id();
    EXPECT_EQ(run.answer(), kAdd);
  }
  auto problems = (*store)->LoadProblems(started->id());
  ASSERT_TRUE(problems.ok()) << problems.status();
  ASSERT_EQ(problems->size(), 2u);
  EXPECT_EQ((*problems)[1].code_tests().tests(0), "assert add(1, 2) == 4");
  runner.Shutdown();
}

TEST_F(CodePipelineTest, AnExperimentWithUnitTestsOnOtherProblemsIsRefusedNamingOne) {
  SKIP_WITHOUT_SANDBOX(grader_);
  SolvePipeline pipeline(models_, BuiltinStrategies(), &grader_);
  auto store = ExperimentStore::Open(testing::TempPath("unit_tests.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  DatasetRegistry datasets;
  ExperimentRunner runner(**store, pipeline, datasets, {});
  v1::ExperimentSpec spec;
  *spec.add_problems() = AddProblem();
  v1::Problem& math = *spec.add_problems();
  math.set_id("sum");
  math.set_text("What is 1 + 2?");
  v1::NamedStrategy& strategy = *spec.add_strategies();
  strategy.set_name("bon");
  strategy.mutable_config()->mutable_best_of_n();
  strategy.mutable_config()->mutable_verifier()->mutable_unit_tests();
  spec.add_budgets()->set_n(1);
  auto started = runner.Start(spec);
  ASSERT_FALSE(started.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(started.status())) << started.status();
  EXPECT_THAT(std::string(started.status().message()),
              HasSubstr("spec.strategies[0].config.verifier: unit_tests"));
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("'sum'"));
  runner.Shutdown();
}

TEST_F(CodePipelineTest, AnExperimentOnCodeProblemsIsRefusedWhenTheyCannotBeGraded) {
  FakeStrategies strategies({.answer = kAdd});
  SolvePipeline pipeline(models_, strategies);  // no grader
  auto store = ExperimentStore::Open(testing::TempPath("nograder.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  DatasetRegistry datasets;
  ExperimentRunner runner(**store, pipeline, datasets, {});
  v1::ExperimentSpec spec;
  *spec.add_problems() = AddProblem();
  v1::NamedStrategy& strategy = *spec.add_strategies();
  strategy.set_name("sc");
  strategy.mutable_config()->mutable_self_consistency();
  spec.add_budgets()->set_n(1);
  auto started = runner.Start(spec);
  ASSERT_FALSE(started.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(started.status())) << started.status();
  EXPECT_EQ(strategies.solves_started(), 0);
  auto listed = (*store)->ListExperiments(0, 10);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  runner.Shutdown();
}

// Best-of-N of `n` by the unit_tests verifier on "Write add(a, b).", graded by `tests` and
// verified by `examples`.
v1::SolveRequest BestOfNByExamples(const v1::CodeTests& tests, const v1::CodeTests& examples,
                                   int n) {
  v1::SolveRequest request;
  request.mutable_problem()->set_text("Write add(a, b).");
  request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_CODE);
  *request.mutable_problem()->mutable_code_tests() = tests;
  *request.mutable_problem()->mutable_example_tests() = examples;
  request.mutable_strategy()->mutable_best_of_n();
  request.mutable_strategy()->mutable_verifier()->mutable_unit_tests();
  request.mutable_strategy()->mutable_sampling()->set_temperature(1);
  request.mutable_budget()->set_n(n);
  return request;
}

// The unit_tests verifier through the real strategies: best-of-N picks the program that passes
// the problem's example tests. A scripted policy writes the candidates (a random model writes
// no programs).
TEST(UnitTestsVerifierTest, BestOfNChoosesTheProgramThatPassesTheExampleTests) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  samplers::testing::ScriptedEngine policy([](const std::string&, uint64_t, int index) {
    switch (index % 3) {
      case 0:
        return std::string("Here:\n```python\ndef add(a, b):\n    return a * b\n```<eos>");
      case 1:
        return std::string(
            "Sure.\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
            "It adds them.<eos>");
      default:
        return std::string("I cannot.<eos>");
    }
  });
  ModelRegistry models(policy);
  SolvePipeline pipeline(models, BuiltinStrategies(), &grader);
  v1::CodeTests examples;
  examples.add_tests("assert add(1, 2) == 3");
  examples.add_tests("assert add(0, 0) == 0");
  v1::SolveRequest request = BestOfNByExamples(AddTests(), examples, 3);
  auto solved = pipeline.Solve(request, {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  ASSERT_EQ(solved->result().candidates_size(), 3);
  EXPECT_DOUBLE_EQ(solved->result().candidates(0).score(), 0.5);  // a * b passes add(0, 0)
  EXPECT_DOUBLE_EQ(solved->result().candidates(1).score(), 1.0);
  EXPECT_DOUBLE_EQ(solved->result().candidates(2).score(), 0.0);
  EXPECT_EQ(solved->result().selected_candidate(), 1);
  EXPECT_TRUE(solved->correct());
  EXPECT_THAT(solved->candidate_correct(), ElementsAre(false, true, false));

  // Without example tests there is nothing to run: no evidence either way, and best-of-N takes
  // the first candidate.
  request.mutable_problem()->clear_example_tests();
  solved = pipeline.Solve(request, {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  for (const v1::Candidate& candidate : solved->result().candidates()) {
    EXPECT_DOUBLE_EQ(candidate.score(), 0.5);
  }
  EXPECT_EQ(solved->result().selected_candidate(), 0);
  // Not for other problems, nor for searches that score partial programs step by step.
  v1::SolveRequest math = request;
  math.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_MATH);
  math.mutable_problem()->clear_code_tests();
  solved = pipeline.Solve(math, {});
  ASSERT_FALSE(solved.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(solved.status())) << solved.status();
  EXPECT_THAT(std::string(solved.status().message()), HasSubstr("unit_tests"));
  v1::StrategyConfig beam = request.strategy();
  beam.mutable_beam_search()->set_beam_width(1);
  v1::WeightedVerifiers::Part& part = *beam.mutable_verifier()->mutable_weighted()->add_parts();
  part.set_weight(1);
  part.mutable_verifier()->mutable_unit_tests();
  absl::Status refused = samplers::ValidateStrategy(beam, request.budget());
  EXPECT_THAT(std::string(refused.message()), ::testing::StartsWith("verifier: unit_tests"));
  // Without a sandbox the configuration cannot be built at all.
  SolvePipeline without(models, BuiltinStrategies());
  EXPECT_TRUE(absl::IsFailedPrecondition(without.CheckBuildable(request.strategy())));
  EXPECT_TRUE(pipeline.CheckBuildable(request.strategy()).ok());
}

// A solve with the unit_tests verifier on a problem whose example leads its tests (MBPP's
// shape) launches each distinct program once, for the verifier and for grading, and ends as the
// same solve does where the example runs alone (the tests in another order): the same scores,
// choice and grades, from half the launches.
TEST(UnitTestsVerifierTest, EachProgramRunsOnceForTheVerifierAndGradingWhenTheExampleLeads) {
  samplers::testing::ScriptedEngine policy([](const std::string&, uint64_t, int index) {
    switch (index % 4) {
      case 0:
        return std::string("```python\ndef add(a, b):\n    return a * b\n```<eos>");
      case 1:
        return std::string("```python\ndef add(a, b):\n    return 3\n```<eos>");
      case 2:
        return std::string("```python\ndef add(a, b):\n    return a + b\n```<eos>");
      default:
        return std::string("```python\ndef add(a, b):\n    return b - a\n```<eos>");
    }
  });
  ModelRegistry models(policy);
  CodeGrader shared_grader, separate_grader;
  SKIP_WITHOUT_SANDBOX(shared_grader);
  SolvePipeline shared(models, BuiltinStrategies(), &shared_grader);
  SolvePipeline separate(models, BuiltinStrategies(), &separate_grader);
  v1::CodeTests tests;
  tests.add_tests("assert add(1, 2) == 3");
  tests.add_tests("assert add(2, 2) == 4");
  tests.add_tests("assert add(0, 5) == 5");
  const v1::SolveRequest request = BestOfNByExamples(tests, LeadingExample(tests), 8);
  v1::SolveRequest reordered = request;
  reordered.mutable_problem()->mutable_code_tests()->mutable_tests()->SwapElements(0, 2);

  auto solved = shared.Solve(request, {});
  auto baseline = separate.Solve(reordered, {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  ASSERT_EQ(solved->result().candidates_size(), 8);
  ASSERT_EQ(baseline->result().candidates_size(), 8);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(solved->result().candidates(i).answer(), baseline->result().candidates(i).answer());
    EXPECT_DOUBLE_EQ(solved->result().candidates(i).score(),
                     baseline->result().candidates(i).score());
    // a * b and b - a fail the example add(1, 2) == 3; 3 passes it, and fails grading.
    const double expected = i % 4 == 0 ? 0.0 : i % 4 == 3 ? 0.0 : 1.0;
    EXPECT_DOUBLE_EQ(solved->result().candidates(i).score(), expected) << i;
  }
  EXPECT_EQ(solved->result().selected_candidate(), baseline->result().selected_candidate());
  EXPECT_EQ(solved->correct(), baseline->correct());
  EXPECT_THAT(solved->candidate_correct(),
              ElementsAre(false, false, true, false, false, false, true, false));
  EXPECT_THAT(baseline->candidate_correct(),
              ::testing::ElementsAreArray(solved->candidate_correct()));
  EXPECT_EQ(shared_grader.stats().runs, 4);  // four distinct programs
  EXPECT_EQ(separate_grader.stats().runs, 8);
}

// The builtin MBPP problems have that shape: with their own reference programs, and broken ones,
// the verifier's shares and the grades are those of separate runs, from half the launches.
// Reads ../shared/datasets, skips without it.
TEST(CodeGraderTest, MbppExamplesRunOnceWithTheTestsThatGrade) {
  CodeGrader shared, separate;
  SKIP_WITHOUT_SANDBOX(shared);
  datasets::DatasetOptions options;
  options.data_dir = std::string(PONDER_SHARED_DIR) + "/datasets";
  absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadDataset("mbpp", options);
  if (!loaded.ok()) GTEST_SKIP() << "no mbpp under " << options.data_dir << ": " << loaded.status();
  ASSERT_GE(loaded->problems.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    const v1::Problem problem = ProblemProto(loaded->problems[i]);
    const std::string& reference = loaded->problems[i].code->canonical_solution;
    const std::vector<std::optional<std::string>> programs = {
        reference, reference + "\nraise RuntimeError('wrong')\n", "def nothing():\n    pass\n"};
    CodeRunCache runs;
    auto rates = shared.ExamplePassRates(problem.example_tests(), problem.code_tests(), programs,
                                         {.cache = &runs});
    auto graded = shared.Grade(problem.code_tests(), programs, {.cache = &runs});
    auto rates_alone = separate.PassRates(problem.example_tests(), programs);
    auto graded_alone = separate.Grade(problem.code_tests(), programs);
    ASSERT_TRUE(rates.ok() && graded.ok()) << rates.status() << graded.status();
    ASSERT_TRUE(rates_alone.ok() && graded_alone.ok());
    EXPECT_THAT(*rates, ElementsAre(1.0, 0.0, 0.0)) << problem.id();
    EXPECT_EQ(*rates, *rates_alone) << problem.id();
    EXPECT_THAT(*graded, ElementsAre(true, false, false)) << problem.id();
    EXPECT_EQ(*graded, *graded_alone) << problem.id();
  }
  EXPECT_EQ(shared.stats().runs, 30);
  EXPECT_EQ(separate.stats().runs, 60);
}

TEST(CodeGraderTest, PrintedAnswersAreTheLastLineOfAProgramThatEndsWell) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  auto printed = grader.PrintedAnswers(std::vector<std::optional<std::string>>{
      "print('work')\nprint(6 * 7)", "raise ValueError('no')", std::nullopt, "x = 1"});
  ASSERT_TRUE(printed.ok()) << printed.status();
  ASSERT_EQ(printed->size(), 4u);
  EXPECT_EQ((*printed)[0], "42");
  EXPECT_EQ((*printed)[1], std::nullopt);
  EXPECT_EQ((*printed)[2], std::nullopt);
  EXPECT_EQ((*printed)[3], "");  // ran, printed nothing
}

// Program-of-thought agreement through the real strategies: best-of-N prefers the candidate whose
// program prints what its chain of thought concluded; the answer grader's equivalence compares
// them (\frac{1}{2} and 0.5 agree).
TEST(ProgramOfThoughtVerifierTest, BestOfNPrefersAProgramThatAgreesWithItsChainOfThought) {
  CodeGrader grader;
  SKIP_WITHOUT_SANDBOX(grader);
  samplers::testing::ScriptedEngine policy([](const std::string&, uint64_t, int index) {
    switch (index) {
      case 0:  // disagrees: reasons to 41, computes 42
        return std::string("6 x 7 = 41.\n```python\nprint(6 * 7)\n```\nAnswer: \\boxed{41}<eos>");
      case 1:  // no program: no evidence
        return std::string("6 x 7 = 42. \\boxed{42}<eos>");
      case 2:  // the program fails
        return std::string("```python\nprint(6 * z)\n```\nSo \\boxed{42}.<eos>");
      case 4:  // its answer, as recorded and graded, is the last number: 2, not what it printed
        return std::string("Half of 84 is 42.\n```python\nprint(84 / 2)\n```<eos>");
      case 5:  // says it in a sentence
        return std::string("```python\nprint('The answer is', 6 * 7)\n```\n\\boxed{42}<eos>");
      case 6:  // prints nothing: no evidence
        return std::string("```python\nans = 6 * 7\n```\n\\boxed{42}<eos>");
      default:  // agrees
        return std::string("Half of 84 is 42.\n```python\nprint(84 / 2)\n```\n\\boxed{42}<eos>");
    }
  });
  ModelRegistry models(policy);
  SolvePipeline pipeline(models, BuiltinStrategies(), &grader);
  v1::SolveRequest request;
  request.mutable_problem()->set_text("What is 6 times 7?");
  request.mutable_problem()->set_reference_answer("42");
  request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_GSM8K);
  request.mutable_strategy()->mutable_best_of_n();
  request.mutable_strategy()->mutable_verifier()->mutable_program_of_thought();
  request.mutable_strategy()->mutable_sampling()->set_temperature(1);
  request.mutable_budget()->set_n(7);
  auto solved = pipeline.Solve(request, {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  ASSERT_EQ(solved->result().candidates_size(), 7);
  EXPECT_DOUBLE_EQ(solved->result().candidates(5).score(), 1.0);
  EXPECT_DOUBLE_EQ(solved->result().candidates(6).score(), 0.5);
  EXPECT_EQ(solved->result().candidates(4).answer(), "2");
  EXPECT_DOUBLE_EQ(solved->result().candidates(4).score(), 0.0);
  EXPECT_DOUBLE_EQ(solved->result().candidates(0).score(), 0.0);
  EXPECT_DOUBLE_EQ(solved->result().candidates(1).score(), 0.5);
  EXPECT_DOUBLE_EQ(solved->result().candidates(2).score(), 0.0);
  EXPECT_DOUBLE_EQ(solved->result().candidates(3).score(), 1.0);  // 42.0 is 42
  EXPECT_EQ(solved->result().selected_candidate(), 3);
  EXPECT_TRUE(solved->correct());

  // MATH answers compare as the grader compares them.
  samplers::testing::ScriptedEngine half([](const std::string&, uint64_t, int) {
    return std::string("```python\nprint(1 / 2)\n```\nThe answer is $\\boxed{\\frac{1}{2}}$.<eos>");
  });
  ModelRegistry half_models(half);
  SolvePipeline half_pipeline(half_models, BuiltinStrategies(), &grader);
  request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_MATH);
  request.mutable_problem()->set_reference_answer("\\frac12");
  request.mutable_budget()->set_n(1);
  solved = half_pipeline.Solve(request, {});
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_DOUBLE_EQ(solved->result().candidates(0).score(), 1.0);
  EXPECT_TRUE(solved->correct());

  // Not for code problems, nor step by step.
  v1::SolveRequest code = request;
  code.mutable_problem()->clear_reference_answer();
  code.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_CODE);
  solved = half_pipeline.Solve(code, {});
  ASSERT_FALSE(solved.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(solved.status())) << solved.status();
  EXPECT_THAT(std::string(solved.status().message()), HasSubstr("program_of_thought"));
  v1::StrategyConfig particles = request.strategy();
  particles.mutable_particle_filter();
  absl::Status refused = samplers::ValidateStrategy(particles, request.budget());
  EXPECT_THAT(std::string(refused.message()), ::testing::StartsWith("verifier: unit_tests"));
}

}  // namespace
}  // namespace ponder::orchestrator
