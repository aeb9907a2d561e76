#include "samplers/resampling.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ponder::samplers::internal {
namespace {

// At T = 1 the resampling weights softmax(logit(r)) are proportional to the odds r / (1 - r).
TEST(ResamplingTest, WeightsAreProportionalToOddsAtUnitTemperature) {
  std::vector<double> rewards = {0.9, 0.5, 0.2, 0.99};
  std::vector<double> logits;
  for (double r : rewards) logits.push_back(InverseSigmoid(r));
  std::vector<double> p = Softmax(logits);
  double total_odds = 0;
  for (double r : rewards) total_odds += r / (1 - r);
  for (size_t i = 0; i < rewards.size(); ++i) {
    EXPECT_NEAR(p[i], rewards[i] / (1 - rewards[i]) / total_odds, 1e-12);
  }
  EXPECT_NEAR(InverseSigmoid(1.0), std::log((1 - 1e-7) / 1e-7), 1e-9);  // clipped, finite
  EXPECT_NEAR(InverseSigmoid(0.0), -std::log((1 - 1e-7) / 1e-7), 1e-9);
}

// 200,000 multinomial draws: each frequency within 4.5 standard deviations of its probability
// (a false alarm has probability below 1e-5 per entry).
TEST(ResamplingTest, MultinomialFrequenciesMatchTheWeights) {
  std::vector<double> p = {0.5, 0.3, 0.15, 0.05};
  Rng rng(7);
  const int draws = 200000;
  std::vector<int> counts(p.size(), 0);
  for (int index : ResampleMultinomial(p, draws, rng)) ++counts[index];
  for (size_t i = 0; i < p.size(); ++i) {
    double sd = std::sqrt(p[i] * (1 - p[i]) / draws);
    EXPECT_NEAR(static_cast<double>(counts[i]) / draws, p[i], 4.5 * sd) << i;
  }
}

// Systematic resampling gives every particle floor(N p) or ceil(N p) copies.
TEST(ResamplingTest, SystematicGivesFloorOrCeilCopies) {
  std::vector<double> p = {0.41, 0.27, 0.2, 0.12};
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Rng rng(seed);
    const int n = 10;
    std::vector<int> counts(p.size(), 0);
    for (int index : ResampleSystematic(p, n, rng)) ++counts[index];
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_GE(counts[i], std::floor(n * p[i])) << "seed " << seed;
      EXPECT_LE(counts[i], std::ceil(n * p[i])) << "seed " << seed;
    }
  }
}

TEST(ResamplingTest, EntropicTemperatureFollowsTheEssRule) {
  // Collapsed weights: ESS = 1 / (0.97^2 + 3 * 0.01^2) ~ 1.0625, ratio ~ 0.2656 of 4.
  std::vector<double> collapsed = {0.97, 0.01, 0.01, 0.01};
  double sum_sq = 0.97 * 0.97 + 3 * 0.01 * 0.01;
  double ratio = 1.0 / sum_sq / 4.0;
  EXPECT_NEAR(EntropicTemperature(collapsed, 4, 0.1, 0.5, 0.5), (1.0 / ratio) * 0.9, 1e-9);
  EXPECT_EQ(EntropicTemperature(collapsed, 4, 0.6, 0.5, 0.5), 1.0);  // past the early phase
  EXPECT_EQ(EntropicTemperature({0.25, 0.25, 0.25, 0.25}, 4, 0.1, 0.5, 0.5), 1.0);  // healthy ESS
  // Particle Gibbs: its_hub divides the ESS by the free particles, the reference not counted.
  // Weights (0.7, 0.1, 0.1, 0.1) of 3 free particles and a reference: ESS = 1 / 0.52, ratio
  // 0.641 of 3 (no tempering at 0.5; of 4 it was 0.481, tempered).
  EXPECT_EQ(EntropicTemperature({0.7, 0.1, 0.1, 0.1}, 3, 0.1, 0.5, 0.5), 1.0);
  EXPECT_GT(EntropicTemperature({0.7, 0.1, 0.1, 0.1}, 4, 0.1, 0.5, 0.5), 1.0);
  EXPECT_EQ(EntropicTemperature(collapsed, 1, 0.1, 0.5, 0.5), 1.0);  // one particle drawn
}

TEST(ResamplingTest, RngIsDeterministicPerSeed) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) {
    double x = a.Uniform();
    EXPECT_EQ(x, b.Uniform());
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
  }
  EXPECT_NE(Rng(42).Next(), c.Next());
}

}  // namespace
}  // namespace ponder::samplers::internal
