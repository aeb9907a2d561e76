#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops/ops.h"
#include "engine/ops/reference_ops.h"
#include "gtest/gtest.h"
#include "tests/engine/ops/ops_test_util.h"

namespace ponder::engine::ops {
namespace {

using testing_util::Bits;
using testing_util::IsQuantized;
using testing_util::PerTargetTest;
using testing_util::RandomVector;
using testing_util::RandomWeights;

constexpr DType kAllTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};

// The activations after the quantization ops.h documents (scale max|x|/127 per 32 values,
// round to nearest even, clamp to +-127), as doubles q * d.
std::vector<double> DocumentedActivationQuantization(const float* x, int64_t cols) {
  std::vector<double> out(static_cast<size_t>(cols));
  for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
    float max_abs = 0.0f;
    for (int j = 0; j < kQuantBlock; ++j) max_abs = std::max(max_abs, std::fabs(x[b * 32 + j]));
    const float d = max_abs / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQuantBlock; ++j) {
      const float q = std::clamp(std::nearbyint(x[b * 32 + j] * inverse), -127.0f, 127.0f);
      out[b * 32 + j] = static_cast<double>(q) * d;
    }
  }
  return out;
}

// Checks out[t][r] against the reference within the tolerances ops.h states.
void ExpectMatchesReference(const WeightMatrix& w, const std::vector<float>& x, int64_t x_stride,
                            int64_t num_tokens, const std::vector<float>& out, int64_t out_stride,
                            const std::string& what) {
  std::vector<float> ref(static_cast<size_t>(num_tokens * w.rows));
  reference::MatMul(w, x.data(), x_stride, num_tokens, ref.data(), w.rows);
  for (int64_t t = 0; t < num_tokens; ++t) {
    const float* xt = x.data() + t * x_stride;
    const std::vector<double> xq =
        IsQuantized(w.dtype) ? DocumentedActivationQuantization(xt, w.cols) : std::vector<double>();
    for (int64_t r = 0; r < w.rows; ++r) {
      double abs_products = 0.0, quantization_bound = 0.0, quantized_ref = 0.0,
             abs_quantized_products = 0.0;
      for (int64_t b = 0; b < (IsQuantized(w.dtype) ? w.cols / kQuantBlock : 0); ++b) {
        double max_abs = 0.0, abs_weights = 0.0;
        for (int64_t c = b * kQuantBlock; c < (b + 1) * kQuantBlock; ++c) {
          max_abs = std::max(max_abs, std::fabs(static_cast<double>(xt[c])));
          abs_weights += std::fabs(reference::WeightAt(w, r, c));
        }
        quantization_bound += max_abs / 254.0 * abs_weights;
      }
      for (int64_t c = 0; c < w.cols; ++c) {
        const double wc = reference::WeightAt(w, r, c);
        abs_products += std::fabs(wc * xt[c]);
        if (IsQuantized(w.dtype)) {
          quantized_ref += wc * xq[c];
          abs_quantized_products += std::fabs(wc * xq[c]);
        }
      }
      const float got = out[t * out_stride + r];
      const double tolerance = 1.0001 * quantization_bound + 1e-5 * abs_products + 1e-30;
      ASSERT_LE(std::fabs(got - ref[t * w.rows + r]), tolerance)
          << what << " token " << t << " row " << r << " got " << got << " reference "
          << ref[t * w.rows + r];
      if (IsQuantized(w.dtype)) {
        // Much tighter: against the same product with the documented activation rounding, the
        // only differences left are float rounding.
        ASSERT_LE(std::fabs(got - quantized_ref), 1e-5 * abs_quantized_products + 1e-30)
            << what << " token " << t << " row " << r << " got " << got << " quantized reference "
            << quantized_ref;
      }
    }
  }
}

std::string Describe(DType dtype, int64_t rows, int64_t cols, int64_t tokens, int threads) {
  return std::string(DTypeName(dtype)) + " " + std::to_string(rows) + "x" + std::to_string(cols) +
         " tokens " + std::to_string(tokens) + " threads " + std::to_string(threads);
}

class MatMulTest : public PerTargetTest {};

TEST_P(MatMulTest, MatchesReferenceForOddShapesAndBatchSizes) {
  struct Shape {
    int64_t rows, cols;
  };
  const Shape kShapes[] = {{1, 32}, {3, 64}, {5, 96}, {9, 896}, {37, 32}, {6, 4864}, {4, 160}};
  const int64_t kTokenCounts[] = {1, 2, 3, 4, 5, 7, 17};
  ThreadPool pool(2);
  uint32_t seed = 1;
  for (DType dtype : kAllTypes) {
    for (const Shape& shape : kShapes) {
      const auto weights = RandomWeights(dtype, shape.rows, shape.cols, seed++);
      for (int64_t tokens : kTokenCounts) {
        const auto x = RandomVector(tokens * shape.cols, seed++);
        std::vector<float> out(static_cast<size_t>(tokens * shape.rows));
        MatMul(weights.matrix, x.data(), shape.cols, tokens, out.data(), shape.rows, pool);
        ExpectMatchesReference(weights.matrix, x, shape.cols, tokens, out, shape.rows,
                               Describe(dtype, shape.rows, shape.cols, tokens, 2));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(MatMulTest, FloatWeightsHandleColumnCountsThatAreNotVectorMultiples) {
  ThreadPool pool(1);
  uint32_t seed = 100;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int64_t cols : {1, 3, 15, 17, 33, 100, 901}) {
      for (int64_t tokens : {1, 3, 6}) {
        const auto weights = RandomWeights(dtype, 7, cols, seed++);
        const auto x = RandomVector(tokens * cols, seed++);
        std::vector<float> out(static_cast<size_t>(tokens * 7));
        MatMul(weights.matrix, x.data(), cols, tokens, out.data(), 7, pool);
        ExpectMatchesReference(weights.matrix, x, cols, tokens, out, 7,
                               Describe(dtype, 7, cols, tokens, 1));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(MatMulTest, HonoursStridesAndWritesNothingOutsideTheOutputRows) {
  ThreadPool pool(2);
  constexpr int64_t kRows = 11, kCols = 96, kTokens = 5, kXStride = kCols + 7,
                    kOutStride = kRows + 3;
  constexpr float kSentinel = -12345.0f;
  uint32_t seed = 200;
  for (DType dtype : kAllTypes) {
    const auto weights = RandomWeights(dtype, kRows, kCols, seed++);
    const auto x = RandomVector(kTokens * kXStride, seed++);
    std::vector<float> out(kTokens * kOutStride, kSentinel);
    MatMul(weights.matrix, x.data(), kXStride, kTokens, out.data(), kOutStride, pool);
    ExpectMatchesReference(weights.matrix, x, kXStride, kTokens, out, kOutStride,
                           Describe(dtype, kRows, kCols, kTokens, 2));
    for (int64_t t = 0; t < kTokens; ++t) {
      for (int64_t r = kRows; r < kOutStride; ++r) {
        EXPECT_EQ(out[t * kOutStride + r], kSentinel) << DTypeName(dtype);
      }
    }
  }
}

TEST_P(MatMulTest, QuantizedProductsAreExactAtTheExtremesOfTheCodes) {
  // All weight codes at -128 / 127 (Q8_0) or -8 / 7 (Q4_0) against activations at +-max: the
  // integer paths must neither saturate nor overflow.
  ThreadPool pool(1);
  constexpr int64_t kRows = 4, kCols = 96, kTokens = 3;
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    auto weights = RandomWeights(dtype, kRows, kCols, 7);
    const int block_bytes = DTypeBlockBytes(dtype);
    for (int64_t b = 0; b < kRows * kCols / kQuantBlock; ++b) {
      uint8_t* block = weights.bytes.data() + b * block_bytes;
      const uint16_t one = FloatToHalf(1.0f);
      std::memcpy(block, &one, 2);
      for (int j = 2; j < block_bytes; ++j) {
        const bool low = (b + j) % 3 != 0;
        block[j] = dtype == DType::kQ8_0 ? (low ? 0x80 : 0x7F) : (low ? 0x00 : 0xFF);
      }
    }
    std::vector<float> x(kTokens * kCols);
    for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 5 == 0) ? -3.0f : 3.0f;
    std::fill(x.begin() + kCols, x.begin() + kCols + 32, 0.0f);  // an all-zero block
    std::vector<float> out(kTokens * kRows);
    MatMul(weights.matrix, x.data(), kCols, kTokens, out.data(), kRows, pool);
    ExpectMatchesReference(weights.matrix, x, kCols, kTokens, out, kRows,
                           Describe(dtype, kRows, kCols, kTokens, 1));
  }
}

// The promise of ops.h: one token's outputs are bit-identical alone or anywhere in any batch,
// with any pool size, and for any row range.
TEST_P(MatMulTest, ResultsAreBitIdenticalWhateverTheBatchPositionAndThreadCount) {
  constexpr int64_t kRows = 37;
  ThreadPool pool1(1), pool2(2);
  const int64_t kBatchSizes[] = {2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 65, 130};
  uint32_t seed = 300;
  for (DType dtype : kAllTypes) {
    // An odd block count (27) for the quantized types, a vector tail for the float ones.
    const int64_t cols = IsQuantized(dtype) ? 864 : 901;
    const auto weights = RandomWeights(dtype, kRows, cols, seed++);
    const auto probe = RandomVector(cols, seed++);
    std::vector<float> alone(kRows);
    MatMul(weights.matrix, probe.data(), cols, 1, alone.data(), kRows, pool1);
    for (int64_t batch : kBatchSizes) {
      const auto others = RandomVector(batch * cols, seed++);
      std::vector<float> out(static_cast<size_t>(batch * kRows));
      for (int64_t position : {int64_t{0}, batch / 2, batch - 1}) {
        std::vector<float> x = others;
        std::copy(probe.begin(), probe.end(), x.begin() + position * cols);
        for (ThreadPool* pool : {&pool1, &pool2}) {
          MatMul(weights.matrix, x.data(), cols, batch, out.data(), kRows, *pool);
          for (int64_t r = 0; r < kRows; ++r) {
            ASSERT_EQ(Bits(out[position * kRows + r]), Bits(alone[r]))
                << Describe(dtype, kRows, cols, batch, pool->size()) << " position " << position
                << " row " << r;
          }
        }
        // A row range that starts off the tile grid.
        constexpr int64_t kBegin = 3, kEnd = 30;
        std::vector<float> slice(static_cast<size_t>(batch * (kEnd - kBegin)));
        MatMulRows(weights.matrix, kBegin, kEnd, x.data(), cols, batch, slice.data(), kEnd - kBegin,
                   pool2);
        for (int64_t r = kBegin; r < kEnd; ++r) {
          ASSERT_EQ(Bits(slice[position * (kEnd - kBegin) + r - kBegin]), Bits(alone[r]))
              << Describe(dtype, kRows, cols, batch, 2) << " rows [3, 30) position " << position
              << " row " << r;
        }
      }
    }
  }
}

TEST_P(MatMulTest, DequantizeRowIsExact) {
  uint32_t seed = 400;
  for (DType dtype : kAllTypes) {
    const auto weights = RandomWeights(dtype, 3, 96, seed++);
    std::vector<float> row(96);
    for (int64_t r = 0; r < 3; ++r) {
      DequantizeRow(weights.matrix, r, row.data());
      for (int64_t c = 0; c < 96; ++c) {
        ASSERT_EQ(Bits(row[c]), Bits(reference::WeightAt(weights.matrix, r, c)))
            << DTypeName(dtype) << " row " << r << " col " << c;
      }
    }
  }
}

PONDER_INSTANTIATE_PER_TARGET(MatMulTest);

TEST(WeightAtTest, DecodesGgmlBlockLayouts) {
  // Q4_0: byte j holds value j (low nibble) and value j + 16 (high nibble), value = d * (n - 8).
  BlockQ4_0 q4{};
  q4.d = FloatToHalf(0.5f);
  q4.q[0] = 0x9F;   // value 0: 15 - 8 = 7; value 16: 9 - 8 = 1
  q4.q[15] = 0x08;  // value 15: 0; value 31: 0 - 8 = -8
  WeightMatrix w4{DType::kQ4_0, 1, 32, reinterpret_cast<const uint8_t*>(&q4)};
  EXPECT_EQ(reference::WeightAt(w4, 0, 0), 3.5f);
  EXPECT_EQ(reference::WeightAt(w4, 0, 16), 0.5f);
  EXPECT_EQ(reference::WeightAt(w4, 0, 15), 0.0f);
  EXPECT_EQ(reference::WeightAt(w4, 0, 31), -4.0f);
  BlockQ8_0 q8{};
  q8.d = FloatToHalf(0.25f);
  q8.q[5] = -128;
  WeightMatrix w8{DType::kQ8_0, 1, 32, reinterpret_cast<const uint8_t*>(&q8)};
  EXPECT_EQ(reference::WeightAt(w8, 0, 5), -32.0f);
  EXPECT_EQ(reference::WeightAt(w8, 0, 6), 0.0f);
}

}  // namespace
}  // namespace ponder::engine::ops
