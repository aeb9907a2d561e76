#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "engine/ops/ops.h"
#include "engine/ops/reference_ops.h"
#include "gtest/gtest.h"
#include "tests/engine/ops/ops_test_util.h"

namespace ponder::engine::ops {
namespace {

using testing_util::PerTargetTest;
using testing_util::RandomVector;

constexpr float kInf = std::numeric_limits<float>::infinity();
// Sizes around every vector width and its tails, plus model-sized ones.
constexpr int64_t kSizes[] = {1, 3, 7, 8, 16, 17, 31, 64, 100, 896, 4864};

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double relative,
                double absolute, const char* what, int64_t n) {
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]),
              relative * std::fabs(want[i]) + absolute)
        << what << " n " << n << " index " << i << " got " << got[i] << " want " << want[i];
  }
}

class VectorOpsTest : public PerTargetTest {};

TEST_P(VectorOpsTest, RmsNormMatchesReferenceAndWorksInPlace) {
  uint32_t seed = 1;
  for (int64_t n : kSizes) {
    const auto x = RandomVector(n, seed++, 3.0f);
    const auto weight = RandomVector(n, seed++);
    std::vector<float> got(n), want(n);
    RmsNorm(x.data(), weight.data(), n, 1e-6f, got.data());
    reference::RmsNorm(x.data(), weight.data(), n, 1e-6f, want.data());
    ExpectNear(got, want, 1e-6, 1e-30, "RmsNorm", n);
    std::vector<float> in_place = x;
    RmsNorm(in_place.data(), weight.data(), n, 1e-6f, in_place.data());
    EXPECT_EQ(in_place, got) << "n " << n;
  }
}

TEST_P(VectorOpsTest, SiluMulMatchesReferenceIncludingSaturatedInputs) {
  uint32_t seed = 20;
  for (int64_t n : kSizes) {
    auto gate = RandomVector(n, seed++, 6.0f);
    gate[0] = -100.0f;  // exp(100) overflows float: silu must still be ~0, not NaN
    if (n > 1) gate[1] = 100.0f;
    const auto up = RandomVector(n, seed++);
    std::vector<float> want = gate;
    reference::SiluMul(want.data(), up.data(), n);
    SiluMul(gate.data(), up.data(), n);
    ExpectNear(gate, want, 1e-5, 1e-30, "SiluMul", n);
  }
}

TEST_P(VectorOpsTest, DotAxpyAndScaleMatchReference) {
  uint32_t seed = 40;
  for (int64_t n : kSizes) {
    const auto a = RandomVector(n, seed++);
    const auto b = RandomVector(n, seed++);
    double abs_products = 0.0;
    for (int64_t i = 0; i < n; ++i) abs_products += std::fabs(double{a[i]} * b[i]);
    EXPECT_NEAR(Dot(a.data(), b.data(), n), reference::Dot(a.data(), b.data(), n),
                1e-6 * abs_products)
        << "n " << n;

    std::vector<float> y = b, y_want = b;
    Axpy(0.75f, a.data(), y.data(), n);
    reference::Axpy(0.75f, a.data(), y_want.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(y[i], y_want[i], 2.5e-7 * (std::fabs(b[i]) + std::fabs(0.75f * a[i])))
          << "Axpy n " << n << " index " << i;
    }

    std::vector<float> scaled = a, scaled_want = a;
    Scale(scaled.data(), -1.5f, n);
    reference::Scale(scaled_want.data(), -1.5f, n);
    EXPECT_EQ(scaled, scaled_want) << "n " << n;  // one rounding of an exact product
  }
}

TEST_P(VectorOpsTest, SoftmaxMatchesReferenceAndSumsToOne) {
  uint32_t seed = 60;
  for (int64_t n : kSizes) {
    auto x = RandomVector(n, seed++, 5.0f);
    if (n > 2) x[2] = -kInf;  // masked
    std::vector<float> want = x;
    reference::Softmax(want.data(), n);
    Softmax(x.data(), n);
    ExpectNear(x, want, 1e-5, 1e-30, "Softmax", n);
    EXPECT_NEAR(std::accumulate(x.begin(), x.end(), 0.0), 1.0, 1e-5) << "n " << n;
    if (n > 2) {
      EXPECT_EQ(x[2], 0.0f);
    }
  }
}

TEST_P(VectorOpsTest, SoftmaxOfLargeLogitsDoesNotOverflowAndAllMaskedIsUniform) {
  std::vector<float> x = {1000.0f, 1000.0f, 999.0f, -1000.0f};
  Softmax(x.data(), 4);
  const double e = std::exp(-1.0);
  EXPECT_NEAR(x[0], 1.0 / (2.0 + e), 1e-6);
  EXPECT_NEAR(x[2], e / (2.0 + e), 1e-6);
  EXPECT_EQ(x[3], 0.0f);
  std::vector<float> masked(5, -kInf);
  Softmax(masked.data(), 5);
  for (float p : masked) EXPECT_EQ(p, 0.2f);
}

// A NaN anywhere in a row (broken weights) makes the whole softmax NaN, so that it reaches the
// logits and the engine's check for non-finite logits: it used to be dropped from the maximum
// where it fell in the scalar tail (or in a lane Max ignored), and a row of NaN scores became the
// uniform distribution of an all-masked row.
TEST_P(VectorOpsTest, ANaNInTheRowMakesTheSoftmaxNaN) {
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{5}, int64_t{17}, int64_t{64}, int64_t{67}}) {
    for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
      std::vector<float> x = RandomVector(n, static_cast<uint32_t>(90 + n), 2.0f);
      x[at] = std::numeric_limits<float>::quiet_NaN();
      Softmax(x.data(), n);
      for (float p : x) EXPECT_TRUE(std::isnan(p)) << "n " << n << " NaN at " << at;
      std::vector<float> all(n, std::numeric_limits<float>::quiet_NaN());
      Softmax(all.data(), n);
      for (float p : all) EXPECT_TRUE(std::isnan(p)) << "n " << n << ", every value NaN";
    }
  }
}

TEST_P(VectorOpsTest, LogSumExpMatchesReferenceAndHandlesInfinities) {
  uint32_t seed = 80;
  for (int64_t n : kSizes) {
    auto x = RandomVector(n, seed++, 8.0f);
    if (n > 3) x[3] = -kInf;
    const float want = reference::LogSumExp(x.data(), n);
    EXPECT_NEAR(LogSumExp(x.data(), n), want, 1e-6 * (1.0 + std::fabs(want))) << "n " << n;
  }
  const std::vector<float> large = {1000.0f, 1000.0f};
  EXPECT_NEAR(LogSumExp(large.data(), 2), 1000.0 + std::log(2.0), 1e-4);
  const std::vector<float> masked(3, -kInf);
  EXPECT_EQ(LogSumExp(masked.data(), 3), -kInf);
}

std::vector<float> InverseFrequencies(int64_t head_dim, double theta) {
  std::vector<float> inv_freq(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    inv_freq[i] = static_cast<float>(std::pow(theta, -2.0 * i / head_dim));
  }
  return inv_freq;
}

TEST_P(VectorOpsTest, RopeMatchesReferenceForBothPairings) {
  uint32_t seed = 100;
  for (int64_t head_dim : {2, 6, 34, 64, 128}) {
    const auto inv_freq = InverseFrequencies(head_dim, 10000.0);
    for (int64_t pos : {0, 1, 17, 4095, 100000}) {
      for (RopeStyle style : {RopeStyle::kNeox, RopeStyle::kInterleaved}) {
        auto head = RandomVector(head_dim, seed++);
        std::vector<float> want = head;
        reference::ApplyRope(want.data(), head_dim, pos, inv_freq.data(), style);
        const std::vector<float> before = head;
        ApplyRope(head.data(), head_dim, pos, inv_freq.data(), style);
        double max_abs = 0.0;
        for (float v : before) max_abs = std::max(max_abs, std::fabs(double{v}));
        ExpectNear(head, want, 0.0, 1e-6 * max_abs, "Rope", head_dim);
        if (pos == 0) {
          EXPECT_EQ(head, before) << "position 0 must be the identity";
        }
      }
    }
  }
}

TEST_P(VectorOpsTest, InterleavedRopeIsNeoxRopeOnPermutedPairs) {
  // GGUF llama stores Q/K rows permuted so that interleaved pairs (2i, 2i+1) hold what Hugging
  // Face pairs as (i, i + d/2): rotating either way and undoing the permutation must agree.
  constexpr int64_t kDim = 64;
  const auto inv_freq = InverseFrequencies(kDim, 500000.0);
  const auto neox = RandomVector(kDim, 7);
  std::vector<float> interleaved(kDim);
  for (int64_t i = 0; i < kDim / 2; ++i) {
    interleaved[2 * i] = neox[i];
    interleaved[2 * i + 1] = neox[i + kDim / 2];
  }
  std::vector<float> a = neox, b = interleaved;
  ApplyRope(a.data(), kDim, 1234, inv_freq.data(), RopeStyle::kNeox);
  ApplyRope(b.data(), kDim, 1234, inv_freq.data(), RopeStyle::kInterleaved);
  for (int64_t i = 0; i < kDim / 2; ++i) {
    EXPECT_EQ(a[i], b[2 * i]) << i;
    EXPECT_EQ(a[i + kDim / 2], b[2 * i + 1]) << i;
  }
}

PONDER_INSTANTIATE_PER_TARGET(VectorOpsTest);

}  // namespace
}  // namespace ponder::engine::ops
