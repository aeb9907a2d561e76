#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/philox.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

// The sampler's definition written out the slow way: softmax of the tempered logits, the k most
// likely (lower id first among equals), the smallest most-likely-first prefix holding top_p,
// tokens below min_p times the most likely dropped, then the inverse CDF in id order.
int32_t ReferenceDraw(const std::vector<float>& logits, const SamplingParams& p, uint64_t stream,
                      uint64_t step) {
  const int n = static_cast<int>(logits.size());
  const float inv_t = static_cast<float>(1.0 / p.temperature);
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<float> tempered(n);
  for (int i = 0; i < n; ++i) tempered[i] = logits[i] * inv_t;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return tempered[a] != tempered[b] ? tempered[a] > tempered[b] : a < b;
  });
  if (p.top_k > 0 && p.top_k < n) order.resize(p.top_k);
  double total = 0;
  std::vector<float> prob(n, 0.0f);
  for (int32_t t : order) total += (prob[t] = std::exp(tempered[t] - tempered[order[0]]));
  for (int32_t t : order) prob[t] = static_cast<float>(prob[t] / total);
  if (p.top_p < 1.0) {
    double cumulative = 0;
    size_t keep = order.size();
    for (size_t i = 0; i < order.size(); ++i) {
      cumulative += prob[order[i]];
      if (cumulative >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
    order.resize(keep);
  }
  const float threshold = static_cast<float>(p.min_p) * prob[order[0]];
  std::erase_if(order, [&](int32_t t) { return prob[t] < threshold; });
  std::sort(order.begin(), order.end());
  double mass = 0;
  for (int32_t t : order) mass += prob[t];
  const double u = UniformDouble(p.seed, stream, step) * mass;
  double cumulative = 0;
  for (int32_t t : order) {
    cumulative += prob[t];
    if (u < cumulative) return t;
  }
  return order.back();
}

std::vector<float> RandomLogits(int n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(n);
  for (float& v : logits) v = normal(rng);
  return logits;
}

TEST(SamplerTest, GreedyIsTheArgmaxWithTheLowerIdOnTiesAndItsLogSoftmax) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  SampledToken token = SampleToken(logits, {.temperature = 0.0}, 3, 7, 2);
  EXPECT_EQ(token.token, 1);
  double z = 0;
  for (float v : logits) z += std::exp(v);
  EXPECT_NEAR(token.logprob, 2.0 - std::log(z), 1e-6);
  ASSERT_EQ(token.top_logprobs.size(), 2u);
  EXPECT_EQ(token.top_logprobs[0].token, 1);
  EXPECT_EQ(token.top_logprobs[1].token, 3);
}

TEST(SamplerTest, MatchesTheDefinitionWrittenOut) {
  const std::vector<SamplingParams> settings = {
      {.temperature = 1.0},
      {.temperature = 0.7, .top_k = 5},
      {.temperature = 1.3, .top_p = 0.9},
      {.temperature = 1.0, .min_p = 0.1},
      {.temperature = 0.8, .top_k = 20, .top_p = 0.8, .min_p = 0.05},
      {.temperature = 2.0, .top_k = 1},
      {.temperature = 1.0, .top_p = 0.3},
  };
  for (size_t s = 0; s < settings.size(); ++s) {
    for (uint32_t row = 0; row < 20; ++row) {
      const std::vector<float> logits = RandomLogits(300, 100 * s + row, 2.5f);
      SamplingParams params = settings[s];
      params.seed = 17 + row;
      for (uint64_t step = 0; step < 10; ++step) {
        SampledToken token = SampleToken(logits, params, row % 3, step, 0);
        EXPECT_EQ(token.token, ReferenceDraw(logits, params, row % 3, step))
            << "setting " << s << " row " << row << " step " << step;
        EXPECT_FLOAT_EQ(token.logprob, TokenLogprobOf(logits, token.token));
      }
    }
  }
}

TEST(SamplerTest, FiltersKeepOnlyTheirTokensAndTiesGoToTheLowerId) {
  // Probabilities (temperature 1) in proportion 4 : 2 : 2 : 1 : 1.
  const std::vector<float> logits = {std::log(1.0f), std::log(2.0f), std::log(4.0f), std::log(2.0f),
                                     std::log(1.0f)};
  auto drawn = [&](SamplingParams params) {
    std::map<int32_t, int> counts;
    for (uint64_t step = 0; step < 2000; ++step)
      ++counts[SampleToken(logits, params, 0, step, 0).token];
    return counts;
  };
  // top_k 2: token 2, then token 1 over token 3 (equal, lower id).
  std::map<int32_t, int> k2 = drawn({.temperature = 1.0, .top_k = 2});
  EXPECT_EQ(k2.size(), 2u);
  EXPECT_TRUE(k2.contains(2) && k2.contains(1));
  // top_p 0.5 is reached by token 2 alone (0.4) plus token 1 (0.6 >= 0.5).
  std::map<int32_t, int> p5 = drawn({.temperature = 1.0, .top_p = 0.5});
  EXPECT_EQ(p5.size(), 2u);
  EXPECT_TRUE(p5.contains(2) && p5.contains(1));
  // min_p 0.3: below 0.3 * 0.4 = 0.12 go tokens 0 and 4 (0.1 each).
  std::map<int32_t, int> m3 = drawn({.temperature = 1.0, .min_p = 0.3});
  EXPECT_EQ(m3.size(), 3u);
  EXPECT_FALSE(m3.contains(0) || m3.contains(4));
  // Unfiltered draws follow the distribution: token 2 about 40% of 2000.
  std::map<int32_t, int> all = drawn({.temperature = 1.0});
  EXPECT_EQ(all.size(), 5u);
  EXPECT_NEAR(all[2] / 2000.0, 0.4, 0.04);
  EXPECT_NEAR(all[0] / 2000.0, 0.1, 0.03);
}

TEST(SamplerTest, ADrawDependsOnSeedStreamAndStepOnly) {
  const std::vector<float> logits = RandomLogits(1000, 5, 1.0f);
  const SamplingParams params{.temperature = 1.0, .seed = 42};
  int same_as_other_stream = 0;
  for (uint64_t step = 0; step < 200; ++step) {
    const int32_t a = SampleToken(logits, params, 0, step, 0).token;
    EXPECT_EQ(a, SampleToken(logits, params, 0, step, 0).token);
    same_as_other_stream += a == SampleToken(logits, params, 1, step, 0).token;
  }
  EXPECT_LT(same_as_other_stream, 20);  // near-uniform over 1000 tokens: a few coincidences
}

TEST(SamplerTest, ValidateNamesTheSettingThatIsOutOfRange) {
  EXPECT_TRUE(SamplingParams{.temperature = 0.0}.Validate().ok());
  EXPECT_TRUE(SamplingParams{.temperature = 1e-6}.Validate().ok());
  EXPECT_TRUE((SamplingParams{.temperature = 1e6, .top_k = 5, .min_p = 1.0}.Validate().ok()));
  struct Case {
    SamplingParams params;
    std::string named;
  };
  const Case cases[] = {
      {{.temperature = -0.5}, "temperature"},
      {{.temperature = std::numeric_limits<double>::infinity()}, "temperature"},
      {{.temperature = std::numeric_limits<double>::quiet_NaN()}, "temperature"},
      // Tempering multiplies before the maximum is subtracted: at 1e-37 a logit of 34 becomes
      // infinite and the probabilities NaN; far above 1e6 the factor nears the float range's end.
      {{.temperature = 1e-7}, "temperature"},
      {{.temperature = 1e-37}, "temperature"},
      {{.temperature = 1e7}, "temperature"},
      {{.temperature = 1e300}, "temperature"},
      {{.temperature = 1.0, .top_k = -1}, "top_k"},
      {{.temperature = 1.0, .top_p = 0.0}, "top_p"},
      {{.temperature = 1.0, .top_p = 1.5}, "top_p"},
      {{.temperature = 1.0, .min_p = -0.1}, "min_p"},
      {{.temperature = 1.0, .min_p = 2.0}, "min_p"},
  };
  for (const Case& c : cases) {
    const absl::Status status = c.params.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.named + " must be"));
  }
}

}  // namespace
}  // namespace ponder::engine
