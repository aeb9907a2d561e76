// Metrics against hand-computed values: Wilson intervals, the unbiased pass@k estimator, and the
// per-cell summaries of runs.
#include "orchestrator/results/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace ponder::results {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;

TEST(WilsonIntervalTest, MatchesHandComputedBounds) {
  // 8 of 10, z = 1.96: center (0.8 + 0.19208) / 1.38416 = 0.716738, half-width
  // 1.416021 * sqrt(0.016 + 0.009604) = 0.226584 -> [0.490, 0.943].
  Interval ci = WilsonInterval(8, 10, 1.96);
  EXPECT_NEAR(ci.low, 0.490156, 1e-5);
  EXPECT_NEAR(ci.high, 0.943321, 1e-5);
  // 0 of 20 does not collapse to a point: [0, z^2 / (n + z^2)] = [0, 0.161134].
  ci = WilsonInterval(0, 20, 1.96);
  EXPECT_NEAR(ci.low, 0.0, 1e-12);
  EXPECT_NEAR(ci.high, 3.8416 / 23.8416, 1e-9);
  // 20 of 20 mirrors it.
  ci = WilsonInterval(20, 20, 1.96);
  EXPECT_NEAR(ci.low, 1 - 3.8416 / 23.8416, 1e-9);
  EXPECT_NEAR(ci.high, 1.0, 1e-12);
}

TEST(WilsonIntervalTest, NoTrialsGiveTheWholeRange) {
  Interval ci = WilsonInterval(0, 0);
  EXPECT_EQ(ci.low, 0);
  EXPECT_EQ(ci.high, 1);
}

TEST(PassAtKTest, MatchesBinomialRatioByHand) {
  // 1 - C(3,2)/C(5,2) = 1 - 3/10.
  EXPECT_NEAR(*PassAtK(5, 2, 2), 0.7, 1e-12);
  // k = 1 is the plain success rate c/n.
  EXPECT_NEAR(*PassAtK(10, 3, 1), 0.3, 1e-12);
  // 1 - C(6,3)/C(10,3) = 1 - 20/120.
  EXPECT_NEAR(*PassAtK(10, 4, 3), 5.0 / 6.0, 1e-12);
  // 1 - C(99,10)/C(100,10) = 10/100.
  EXPECT_NEAR(*PassAtK(100, 1, 10), 0.1, 1e-12);
}

TEST(PassAtKTest, EdgeCases) {
  EXPECT_EQ(*PassAtK(4, 0, 2), 0.0);  // nothing correct
  EXPECT_EQ(*PassAtK(4, 4, 1), 1.0);
  EXPECT_EQ(*PassAtK(5, 3, 3), 1.0);  // n - c = 2 < k: every 3-subset holds a correct one
  EXPECT_EQ(*PassAtK(1, 1, 1), 1.0);
}

TEST(PassAtKTest, StaysAccurateWhereBinomialsOverflow) {
  // C(10000, 100) overflows doubles; compare with the log-gamma form of the same ratio.
  const int64_t n = 10000, c = 37, k = 100;
  const double log_ratio = std::lgamma(n - c + 1.0) - std::lgamma(n - c - k + 1.0) -
                           std::lgamma(n + 1.0) + std::lgamma(n - k + 1.0);
  EXPECT_NEAR(*PassAtK(n, c, k), 1 - std::exp(log_ratio), 1e-9);
  EXPECT_GT(*PassAtK(n, c, k), 0.3);
}

TEST(PassAtKTest, RejectsImpossibleCounts) {
  EXPECT_THAT(PassAtK(4, 5, 1).status().message(), HasSubstr("c=5"));
  EXPECT_FALSE(PassAtK(4, 1, 5).ok());
  EXPECT_FALSE(PassAtK(4, 1, 0).ok());
  EXPECT_FALSE(PassAtK(0, 0, 1).ok());
}

RunSample MakeRun(std::string strategy, int n, int problem, std::optional<bool> correct,
                  int candidates = 0, int candidates_correct = 0) {
  RunSample run;
  run.strategy = std::move(strategy);
  run.budget_n = n;
  run.problem_index = problem;
  run.correct = correct;
  run.candidates = candidates;
  run.candidates_graded = correct.has_value() ? candidates : 0;
  run.candidates_correct = candidates_correct;
  run.generated_tokens = 10 * n;
  run.wall_seconds = 0.5 * n;
  return run;
}

TEST(ComputeCellsTest, AccuracyCoverageAndCostPerStrategyAndBudget) {
  std::vector<RunSample> runs = {
      MakeRun("sc", 1, 0, true, 1, 1),   MakeRun("sc", 1, 1, false, 1, 0),
      MakeRun("sc", 1, 2, false, 1, 0),  MakeRun("sc", 4, 0, true, 4, 3),
      MakeRun("sc", 4, 1, true, 4, 1),   MakeRun("sc", 4, 2, false, 4, 0),
      MakeRun("bon", 4, 0, false, 4, 2),
  };
  runs[4].prefix_of_budget_n = 0;
  runs[0].prefix_of_budget_n = 4;
  std::vector<CellMetrics> cells = ComputeCells(runs);
  ASSERT_EQ(cells.size(), 3u);
  // Strategies in order of appearance, budgets ascending.
  EXPECT_EQ(cells[0].strategy, "sc");
  EXPECT_EQ(cells[0].budget_n, 1);
  EXPECT_EQ(cells[1].budget_n, 4);
  EXPECT_EQ(cells[2].strategy, "bon");

  const CellMetrics& sc1 = cells[0];
  EXPECT_EQ(sc1.runs, 3);
  EXPECT_EQ(sc1.graded, 3);
  EXPECT_EQ(sc1.correct, 1);
  EXPECT_NEAR(*sc1.accuracy, 1.0 / 3, 1e-12);
  EXPECT_NEAR(sc1.accuracy_ci->low, WilsonInterval(1, 3).low, 1e-12);
  // pass@1 from each problem's n=4 run: (3/4 + 1/4 + 0) / 3.
  ASSERT_TRUE(sc1.pass_at_k.has_value());
  EXPECT_NEAR(*sc1.pass_at_k, (0.75 + 0.25 + 0) / 3, 1e-12);
  ASSERT_TRUE(sc1.oracle.has_value());
  EXPECT_NEAR(*sc1.oracle, 1.0 / 3, 1e-12);
  EXPECT_EQ(sc1.prefix_runs, 1);
  EXPECT_DOUBLE_EQ(sc1.mean_generated_tokens, 10);
  EXPECT_DOUBLE_EQ(sc1.total_wall_seconds, 1.5);

  const CellMetrics& sc4 = cells[1];
  EXPECT_NEAR(*sc4.accuracy, 2.0 / 3, 1e-12);
  // pass@4 with n = 4: 1 for problems with any correct sample.
  EXPECT_NEAR(*sc4.pass_at_k, 2.0 / 3, 1e-12);
  EXPECT_FALSE(sc4.selected_false_positive_rate.has_value());  // no verifier
}

// Budgets with other caps on generated tokens sample from other distributions: a cell's pass@n
// comes from runs under its own cap (QA of stop 35: pass@4 of runs capped at 1 token, none of
// which answered, was read off an uncapped run's candidates as 1.0).
TEST(ComputeCellsTest, PassAtNComesFromRunsUnderTheSameTokenCap) {
  std::vector<RunSample> runs = {MakeRun("bon", 4, 0, false, 4, 0),
                                 MakeRun("bon", 2, 0, false, 2, 0),
                                 MakeRun("bon", 8, 0, true, 8, 6)};
  runs[0].max_generated_tokens = 1;
  runs[1].max_generated_tokens = 50;
  std::vector<CellMetrics> cells = ComputeCells(runs);
  ASSERT_EQ(cells.size(), 3u);
  ASSERT_EQ(cells[0].budget_n, 2);
  ASSERT_TRUE(cells[0].pass_at_k.has_value());
  EXPECT_EQ(*cells[0].pass_at_k, 0.0);  // its own 2 candidates, neither correct
  ASSERT_EQ(cells[1].budget_n, 4);
  EXPECT_EQ(*cells[1].pass_at_k, 0.0);
  ASSERT_EQ(cells[2].budget_n, 8);
  EXPECT_EQ(*cells[2].pass_at_k, 1.0);
}

TEST(ComputeCellsTest, FailedAndUngradedRunsDoNotCountAsWrong) {
  std::vector<RunSample> runs = {MakeRun("sc", 2, 0, true, 2, 1),
                                 MakeRun("sc", 2, 1, std::nullopt, 2),
                                 MakeRun("sc", 2, 2, std::nullopt)};
  runs[2].succeeded = false;
  std::vector<CellMetrics> cells = ComputeCells(runs);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].runs, 3);
  EXPECT_EQ(cells[0].failed, 1);
  EXPECT_EQ(cells[0].graded, 1);
  EXPECT_DOUBLE_EQ(*cells[0].accuracy, 1.0);
  // Means are over the two succeeded runs.
  EXPECT_DOUBLE_EQ(cells[0].mean_generated_tokens, 20);
}

TEST(ComputeCellsTest, VerifierFalsePositiveRates) {
  // Four wrong choices scored 0.9, 0.2, 0.6 and a neutral 0.5 by the verifier: two accepted.
  std::vector<RunSample> runs;
  for (double score : {0.9, 0.2, 0.6, 0.5}) {
    RunSample run = MakeRun("bon", 4, static_cast<int>(runs.size()), false, 4, 0);
    run.uses_verifier = true;
    run.selected_score = score;
    run.wrong_candidates_scored = 4;
    run.wrong_candidates_accepted = score > 0.5 ? 1 : 0;
    runs.push_back(run);
  }
  RunSample right = MakeRun("bon", 4, 4, true, 4, 4);
  right.uses_verifier = true;
  right.selected_score = 0.95;
  runs.push_back(right);
  std::vector<CellMetrics> cells = ComputeCells(runs);
  ASSERT_EQ(cells.size(), 1u);
  ASSERT_TRUE(cells[0].selected_false_positive_rate.has_value());
  EXPECT_NEAR(*cells[0].selected_false_positive_rate, 2.0 / 4, 1e-12);
  ASSERT_TRUE(cells[0].candidate_false_positive_rate.has_value());
  EXPECT_NEAR(*cells[0].candidate_false_positive_rate, 2.0 / 16, 1e-12);
}

}  // namespace
}  // namespace ponder::results
