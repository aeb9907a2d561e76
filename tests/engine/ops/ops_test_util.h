// Helpers shared by the engine/ops tests: random weight matrices in every dtype, and a fixture
// that runs a test once per SIMD target compiled in and supported by this CPU.
#ifndef PONDER_TESTS_ENGINE_OPS_OPS_TEST_UTIL_H_
#define PONDER_TESTS_ENGINE_OPS_OPS_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/model/dtype.h"
#include "engine/ops/ops.h"
#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/targets.h"

namespace ponder::engine::ops::testing_util {

// Owns the bytes of a WeightMatrix.
struct OwnedWeights {
  std::vector<uint8_t> bytes;
  WeightMatrix matrix;
};

// Random weights: floats ~ N(0, 1) rounded to the dtype; quantized blocks get a random scale in
// [0.005, 0.05] and uniformly random codes (Q8_0 codes include -128, which ggml's quantizer never
// writes but a file may hold).
inline OwnedWeights RandomWeights(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  OwnedWeights owned;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.005f, 0.05f);
  std::uniform_int_distribution<int> byte(0, 255);
  owned.bytes.resize(DTypeBytes(dtype, static_cast<uint64_t>(rows * cols)));
  uint8_t* p = owned.bytes.data();
  const int64_t count = rows * cols;
  switch (dtype) {
    case DType::kF32:
      for (int64_t i = 0; i < count; ++i) {
        const float v = normal(rng);
        std::memcpy(p + 4 * i, &v, 4);
      }
      break;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < count; ++i) {
        const float v = normal(rng);
        const uint16_t bits = dtype == DType::kF16 ? FloatToHalf(v) : FloatToBFloat16(v);
        std::memcpy(p + 2 * i, &bits, 2);
      }
      break;
    case DType::kQ8_0:
    case DType::kQ4_0: {
      const int block_bytes = DTypeBlockBytes(dtype);
      for (int64_t b = 0; b < count / kQuantBlock; ++b) {
        uint8_t* block = p + b * block_bytes;
        const uint16_t d = FloatToHalf(scale(rng));
        std::memcpy(block, &d, 2);
        for (int j = 2; j < block_bytes; ++j) block[j] = static_cast<uint8_t>(byte(rng));
      }
      break;
    }
  }
  owned.matrix = WeightMatrix{dtype, rows, cols, owned.bytes.data()};
  return owned;
}

inline std::vector<float> RandomVector(int64_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

inline bool IsQuantized(DType dtype) { return dtype == DType::kQ8_0 || dtype == DType::kQ4_0; }

inline uint32_t Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

// Parameterized by a Highway target: the kernels dispatch to it for the duration of the test.
class PerTargetTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    hwy::SetSupportedTargetsForTest(GetParam());
    ASSERT_EQ(SimdTargetName(), std::string(hwy::TargetName(GetParam())))
        << "the dispatcher did not switch to the requested target";
  }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

inline std::string TargetParamName(const ::testing::TestParamInfo<int64_t>& info) {
  return hwy::TargetName(info.param);
}

}  // namespace ponder::engine::ops::testing_util

#define PONDER_INSTANTIATE_PER_TARGET(suite)                                         \
  INSTANTIATE_TEST_SUITE_P(Targets, suite,                                           \
                           ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), \
                           ::ponder::engine::ops::testing_util::TargetParamName)

#endif  // PONDER_TESTS_ENGINE_OPS_OPS_TEST_UTIL_H_
