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
  auto graded = grader.Grade(AddTests(), loops, nullptr, start + absl::Seconds(1));
  EXPECT_TRUE(absl::IsDeadlineExceeded(graded.status())) << graded.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // 4 x 10 s without the deadline
  engine::CancellationToken cancel;
  cancel.Cancel();
  graded = grader.Grade(AddTests(), loops, &cancel);
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
  v1::SolveRequest request;
  request.mutable_problem()->set_text("Write add(a, b).");
  request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_CODE);
  *request.mutable_problem()->mutable_code_tests() = AddTests();
  v1::CodeTests& examples = *request.mutable_problem()->mutable_example_tests();
  examples.add_tests("assert add(1, 2) == 3");
  examples.add_tests("assert add(0, 0) == 0");
  request.mutable_strategy()->mutable_best_of_n();
  request.mutable_strategy()->mutable_verifier()->mutable_unit_tests();
  request.mutable_strategy()->mutable_sampling()->set_temperature(1);
  request.mutable_budget()->set_n(3);
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
