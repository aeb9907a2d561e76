// Efficient budgets: choosing among the first k samples of a larger run gives what a run at
// budget k gives (samplers::SelectFromPrefix), and the experiment runner samples each problem
// once at the largest budget, records the smaller ones as prefixes, and gets the same results
// as sampling every budget on its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "orchestrator/experiment_runner.h"
#include "orchestrator/problem_source.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/strategy_factory.h"
#include "samplers/strategy.h"
#include "tests/orchestrator/test_util.h"

namespace ponder::orchestrator {
namespace {

using ::testing::HasSubstr;

v1::SolveResult Sampled(const std::vector<std::string>& answers,
                        const std::vector<double>& scores = {}) {
  v1::SolveResult result;
  for (size_t i = 0; i < answers.size(); ++i) {
    v1::Candidate& c = *result.add_candidates();
    c.set_index(static_cast<int>(i));
    c.set_text(absl::StrCat("solution ", i, " #### ", answers[i]));
    c.set_answer(answers[i]);
    c.set_num_tokens(10 * static_cast<int>(i + 1));
    c.set_mean_logprob(-0.1 * static_cast<double>(i + 1));
    if (i < scores.size()) c.set_score(scores[i]);
    c.set_selected(true);  // stale flags of the full run must not leak into the prefix
  }
  return result;
}

v1::StrategyConfig Config(std::string_view kind) {
  v1::StrategyConfig config;
  if (kind == "sc") config.mutable_self_consistency();
  if (kind == "bon") config.mutable_best_of_n();
  if (kind == "wbon") config.mutable_weighted_best_of_n();
  if (kind == "rpc") config.mutable_rpc();
  if (kind == "ppl") config.mutable_perplexity();
  if (kind == "beam") config.mutable_beam_search();
  if (kind == "bon" || kind == "wbon" || kind == "beam") {
    config.mutable_verifier()->mutable_arithmetic();
  }
  return config;
}

std::vector<bool> SelectedFlags(const v1::SolveResult& result) {
  std::vector<bool> flags;
  for (const v1::Candidate& c : result.candidates()) flags.push_back(c.selected());
  return flags;
}

TEST(SelectFromPrefixTest, SelfConsistencyVotesAmongTheFirstKOnly) {
  const v1::SolveResult full = Sampled({"1", "2", "2", "1", "1"});
  auto prefix = samplers::SelectFromPrefix(Config("sc"), full, 3, verifiers::AnswerFormat::kGsm8k);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(prefix->answer(), "2");
  EXPECT_EQ(prefix->candidates_size(), 3);
  EXPECT_EQ(prefix->selected_candidate(), 1);
  EXPECT_THAT(SelectedFlags(*prefix), ::testing::ElementsAre(false, true, true));
  auto all = samplers::SelectFromPrefix(Config("sc"), full, 5, verifiers::AnswerFormat::kGsm8k);
  EXPECT_EQ(all->answer(), "1");
}

TEST(SelectFromPrefixTest, BestOfNAndWeightedBestOfNUseTheCandidatesScores) {
  const v1::SolveResult full = Sampled({"7", "8", "8", "7"}, {0.6, 0.5, 0.3, 0.9});
  const auto format = verifiers::AnswerFormat::kGsm8k;
  // Best-of-N: the highest score among the first 3 is candidate 0; among all 4, candidate 3.
  EXPECT_EQ(samplers::SelectFromPrefix(Config("bon"), full, 3, format)->selected_candidate(), 0);
  EXPECT_EQ(samplers::SelectFromPrefix(Config("bon"), full, 4, format)->selected_candidate(), 3);
  // Weighted: 7 -> 0.6 against 8 -> 0.8 among 3; 7 -> 1.5 against 0.8 among 4.
  EXPECT_EQ(samplers::SelectFromPrefix(Config("wbon"), full, 3, format)->answer(), "8");
  EXPECT_EQ(samplers::SelectFromPrefix(Config("wbon"), full, 4, format)->answer(), "7");
}

TEST(SelectFromPrefixTest, UsageIsWhatARunAtTheSmallerBudgetCosts) {
  v1::SolveResult full = Sampled({"1", "2", "3", "4"});  // 10, 20, 30, 40 tokens
  v1::Usage& usage = *full.mutable_usage();
  usage.set_prompt_tokens_requested(400);  // 100-token prompt x 4 samples
  usage.set_prompt_tokens_computed(100);
  usage.set_generated_tokens(100);
  usage.set_verifier_tokens(1000);
  usage.set_wall_seconds(2.0);
  usage.set_engine_calls(1);
  auto prefix = samplers::SelectFromPrefix(Config("sc"), full, 2, verifiers::AnswerFormat::kGsm8k);
  ASSERT_TRUE(prefix.ok());
  const v1::Usage& u = prefix->usage();
  EXPECT_EQ(u.generated_tokens(), 30);
  EXPECT_EQ(u.prompt_tokens_requested(), 200);
  EXPECT_EQ(u.prompt_tokens_computed(), 100);  // one prefill either way
  EXPECT_EQ(u.verifier_tokens(), 300);         // 30 of 100 generated tokens
  EXPECT_DOUBLE_EQ(u.wall_seconds(), 0.6);
  EXPECT_DOUBLE_EQ(u.full_generation_equivalents(), 2.0);
  EXPECT_EQ(u.engine_calls(), 1);
}

TEST(SelectFromPrefixTest, RejectsSearchStrategiesAndImpossiblePrefixes) {
  const v1::SolveResult full = Sampled({"1", "2"});
  const auto format = verifiers::AnswerFormat::kGsm8k;
  EXPECT_FALSE(samplers::SupportsPrefixBudgets(Config("beam")));
  EXPECT_TRUE(samplers::SupportsPrefixBudgets(Config("rpc")));
  EXPECT_THAT(samplers::SelectFromPrefix(Config("beam"), full, 1, format).status().message(),
              HasSubstr("prefix"));
  EXPECT_FALSE(samplers::SelectFromPrefix(Config("sc"), full, 0, format).ok());
  EXPECT_FALSE(samplers::SelectFromPrefix(Config("sc"), full, 3, format).ok());
}

// On the real engine: the first k of n samples are the k samples of a budget-k run, so the
// prefix selection equals the budget-k solve for every strategy that allows it.
TEST(SelectFromPrefixTest, EqualsSolvingAtTheSmallerBudgetOnTheEngine) {
  auto engine = testing::TinyEngine();
  ASSERT_NE(engine, nullptr);
  ModelRegistry models(*engine);
  SolvePipeline pipeline(models, BuiltinStrategies());
  for (const char* kind : {"sc", "bon", "wbon", "rpc", "ppl"}) {
    SCOPED_TRACE(kind);
    v1::SolveRequest request;
    request.mutable_problem()->set_text("Tom has 3 apples and buys 4 more. How many now?");
    request.mutable_problem()->set_reference_answer("7");
    *request.mutable_strategy() = Config(kind);
    request.mutable_strategy()->mutable_sampling()->set_max_tokens(12);
    request.mutable_strategy()->mutable_sampling()->set_temperature(1.0);
    request.set_seed(11);
    request.mutable_budget()->set_n(6);
    auto full = pipeline.Solve(request, {});
    ASSERT_TRUE(full.ok()) << full.status();
    request.mutable_budget()->set_n(3);
    auto direct = pipeline.Solve(request, {});
    ASSERT_TRUE(direct.ok()) << direct.status();
    auto prefix = BuiltinStrategies().SelectFromPrefix(request.strategy(), full->result(), 3,
                                                       verifiers::AnswerFormat::kMath);
    ASSERT_TRUE(prefix.ok()) << prefix.status();
    ASSERT_EQ(prefix->candidates_size(), 3);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(prefix->candidates(i).text(), direct->result().candidates(i).text());
      EXPECT_EQ(prefix->candidates(i).score(), direct->result().candidates(i).score());
      EXPECT_EQ(prefix->candidates(i).answer_class(),
                direct->result().candidates(i).answer_class());
      EXPECT_EQ(prefix->candidates(i).pruned(), direct->result().candidates(i).pruned());
    }
    EXPECT_EQ(SelectedFlags(*prefix), SelectedFlags(direct->result()));
    EXPECT_EQ(prefix->selected_candidate(), direct->result().selected_candidate());
    EXPECT_EQ(prefix->has_answer(), direct->result().has_answer());
    EXPECT_EQ(prefix->answer(), direct->result().answer());
    EXPECT_EQ(prefix->usage().generated_tokens(), direct->result().usage().generated_tokens());
    EXPECT_EQ(prefix->usage().prompt_tokens_requested(),
              direct->result().usage().prompt_tokens_requested());
  }
}

class SharedSamplesRunnerTest : public ::testing::Test {
 protected:
  SharedSamplesRunnerTest() : engine_(testing::TinyEngine()), models_(*engine_) {
    auto store = ExperimentStore::Open(testing::TempPath("prefix.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    pipeline_ = std::make_unique<SolvePipeline>(models_, BuiltinStrategies());
    runner_ = std::make_unique<ExperimentRunner>(
        *store_, *pipeline_, datasets_,
        ExperimentRunnerOptions{.model = "tiny", .code_version = "test", .limits = {}});
  }

  v1::ExperimentSpec Spec(bool independent) {
    v1::ExperimentSpec spec;
    spec.set_name(independent ? "independent" : "shared");
    for (const char* answer : {"4", "6", "9"}) {
      v1::Problem& p = *spec.add_problems();
      p.set_text(absl::StrCat("What is ", answer, " plus 0?"));
      p.set_reference_answer(answer);
      p.set_answer_format(v1::ANSWER_FORMAT_GSM8K);
    }
    for (const char* kind : {"sc", "bon"}) {
      v1::NamedStrategy& s = *spec.add_strategies();
      s.set_name(kind);
      *s.mutable_config() = Config(kind);
      s.mutable_config()->mutable_sampling()->set_max_tokens(10);
    }
    for (int n : {1, 2, 4}) spec.add_budgets()->set_n(n);
    spec.add_seeds(3);
    spec.set_independent_budgets(independent);
    return spec;
  }

  // Runs the spec to completion; returns its runs keyed by (problem, strategy, n) and the
  // engine requests it made.
  std::pair<std::map<std::tuple<int, std::string, int>, v1::RunResult>, int64_t> RunToEnd(
      const v1::ExperimentSpec& spec) {
    const int64_t requests_before = engine_->Stats().requests;
    auto started = runner_->Start(spec);
    EXPECT_TRUE(started.ok()) << started.status();
    if (!started.ok()) return {};
    runner_->WaitUntilStopped(started->id());
    auto finished = store_->GetExperiment(started->id(), false);
    EXPECT_EQ(finished->status(), v1::EXPERIMENT_STATUS_COMPLETED) << finished->error();
    auto runs = store_->ListRuns(started->id(), 0, 1000, /*details=*/true);
    EXPECT_TRUE(runs.ok()) << runs.status();
    std::map<std::tuple<int, std::string, int>, v1::RunResult> by_cell;
    for (const v1::RunResult& run : *runs) {
      by_cell[{run.problem_index(), run.strategy(), run.budget().n()}] = run;
    }
    return {by_cell, engine_->Stats().requests - requests_before};
  }

  std::unique_ptr<engine::LocalEngine> engine_;
  ModelRegistry models_;
  DatasetRegistry datasets_;
  std::unique_ptr<ExperimentStore> store_;
  std::unique_ptr<SolvePipeline> pipeline_;
  std::unique_ptr<ExperimentRunner> runner_;
};

TEST_F(SharedSamplesRunnerTest, SamplesOnceAtTheLargestBudgetAndMatchesIndependentRuns) {
  auto [shared, shared_requests] = RunToEnd(Spec(/*independent=*/false));
  auto [independent, independent_requests] = RunToEnd(Spec(/*independent=*/true));
  ASSERT_EQ(shared.size(), 18u);
  ASSERT_EQ(independent.size(), 18u);
  // One sampling request per problem and strategy instead of one per budget.
  EXPECT_LT(shared_requests * 2, independent_requests);
  for (const auto& [cell, run] : shared) {
    const auto& [problem, strategy, n] = cell;
    SCOPED_TRACE(absl::StrCat("problem ", problem, " ", strategy, " n=", n));
    const auto& diagnostics = run.result().diagnostics();
    if (n < 4) {
      ASSERT_TRUE(diagnostics.contains("prefix_of_budget_n"));
      EXPECT_EQ(diagnostics.at("prefix_of_budget_n"), 4);
    } else {
      EXPECT_FALSE(diagnostics.contains("prefix_of_budget_n"));
    }
    EXPECT_FALSE(independent.at(cell).result().diagnostics().contains("prefix_of_budget_n"));
    const v1::RunResult& alone = independent.at(cell);
    EXPECT_EQ(run.status(), v1::RUN_STATUS_SUCCEEDED);
    EXPECT_EQ(run.has_answer(), alone.has_answer());
    EXPECT_EQ(run.answer(), alone.answer());
    EXPECT_EQ(run.has_correct(), alone.has_correct());
    EXPECT_EQ(run.correct(), alone.correct());
    EXPECT_EQ(run.usage().generated_tokens(), alone.usage().generated_tokens());
    ASSERT_EQ(run.result().candidates_size(), n);
    ASSERT_EQ(alone.result().candidates_size(), n);
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(run.result().candidates(i).text(), alone.result().candidates(i).text());
      EXPECT_EQ(run.result().candidates(i).selected(), alone.result().candidates(i).selected());
    }
  }
}

}  // namespace
}  // namespace ponder::orchestrator
