// The CUDA kernels (engine/cuda/kernels.h) against the CPU kernels of engine/ops and plain
// double-precision references, on random inputs. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/cuda/kernels.h"
#include "engine/model/dtype.h"
#include "engine/ops/ops.h"
#include "engine/sampling/sampler.h"
#include "tests/engine/cuda/cuda_test_util.h"

namespace ponder::engine::cuda {
namespace {

// One bit of rounding of a 16-bit value, relative: bf16 keeps 8 significant bits, f16 11.
double Rounding(StorageType type) { return type == StorageType::kBF16 ? 1.0 / 256 : 1.0 / 2048; }

uint16_t To16(StorageType type, float v) {
  return type == StorageType::kBF16 ? FloatToBFloat16(v) : FloatToHalf(v);
}
float From16(StorageType type, uint16_t v) {
  return type == StorageType::kBF16 ? BFloat16ToFloat(v) : HalfToFloat(v);
}

std::vector<float> RandomFloats(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

class CudaKernelTest : public ::testing::TestWithParam<StorageType> {
 protected:
  void SetUp() override { PONDER_SKIP_WITHOUT_CUDA_DEVICE(); }
  StorageType type() const { return GetParam(); }
};

TEST_P(CudaKernelTest, EmbeddingGatherCopiesTheRowsOfTheTokensExactly) {
  std::mt19937 rng(1);
  const int vocab = 50, hidden = 300;
  std::vector<float> table = RandomFloats(vocab * hidden, rng);
  std::vector<uint16_t> table16(table.size());
  for (size_t i = 0; i < table.size(); ++i) table16[i] = To16(type(), table[i]);
  const std::vector<int32_t> tokens = {7, 0, 49, 7};
  DeviceBuffer d_table = ToDevice(table16), d_tokens = ToDevice(tokens);
  DeviceBuffer d_x = ToDevice(std::vector<float>(tokens.size() * hidden, NAN));
  ASSERT_EQ(LaunchEmbeddingGather(type(), d_table.data(), hidden, d_tokens.as<int32_t>(),
                                  static_cast<int>(tokens.size()), d_x.as<float>(), nullptr),
            cudaSuccess);
  std::vector<float> x = ToHost<float>(d_x, tokens.size() * hidden);
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (int c = 0; c < hidden; ++c) {
      ASSERT_EQ(x[t * hidden + c], From16(type(), table16[tokens[t] * hidden + c]))
          << "token " << t << " column " << c;
    }
  }
}

TEST_P(CudaKernelTest, RmsNormMatchesTheCpuKernelOnSelectedRows) {
  std::mt19937 rng(2);
  const int n = 300, num_x = 5;
  std::vector<float> x = RandomFloats(num_x * n, rng, 3.0f), weight = RandomFloats(n, rng);
  const std::vector<int32_t> rows = {3, 0, 4};
  DeviceBuffer d_x = ToDevice(x), d_weight = ToDevice(weight), d_rows = ToDevice(rows);
  DeviceBuffer d_out16 = ToDevice(std::vector<uint16_t>(rows.size() * n, 0xffff));
  DeviceBuffer d_out32 = ToDevice(std::vector<float>(rows.size() * n, NAN));
  ASSERT_EQ(
      LaunchRmsNorm(type(), d_x.as<float>(), n, d_rows.as<int32_t>(), static_cast<int>(rows.size()),
                    d_weight.as<float>(), 1e-6f, d_out16.data(), d_out32.as<float>(), nullptr),
      cudaSuccess);
  std::vector<uint16_t> out16 = ToHost<uint16_t>(d_out16, rows.size() * n);
  std::vector<float> out32 = ToHost<float>(d_out32, rows.size() * n);
  std::vector<float> expected(n);
  for (size_t r = 0; r < rows.size(); ++r) {
    ops::RmsNorm(&x[rows[r] * n], weight.data(), n, 1e-6f, expected.data());
    for (int c = 0; c < n; ++c) {
      const double e = expected[c];
      ASSERT_NEAR(out32[r * n + c], e, 1e-5 * std::fabs(e) + 1e-6) << "row " << r << " col " << c;
      ASSERT_NEAR(From16(type(), out16[r * n + c]), e, Rounding(type()) * std::fabs(e) + 1e-6)
          << "row " << r << " col " << c;
    }
  }
}

TEST_P(CudaKernelTest, SiluMulMatchesTheCpuKernelOnF32And16BitInputs) {
  std::mt19937 rng(3);
  const int tokens = 3, inter = 1000;
  std::vector<float> gate_up = RandomFloats(tokens * 2 * inter, rng, 2.0f);
  for (bool f32_input : {true, false}) {
    SCOPED_TRACE(f32_input ? "f32 input" : "16-bit input");
    std::vector<uint16_t> gate_up16(gate_up.size());
    for (size_t i = 0; i < gate_up.size(); ++i) gate_up16[i] = To16(type(), gate_up[i]);
    std::vector<float> input = gate_up;
    if (!f32_input) {
      for (size_t i = 0; i < input.size(); ++i) input[i] = From16(type(), gate_up16[i]);
    }
    DeviceBuffer d_in = f32_input ? ToDevice(gate_up) : ToDevice(gate_up16);
    DeviceBuffer d_out = ToDevice(std::vector<uint16_t>(tokens * inter, 0xffff));
    ASSERT_EQ(LaunchSiluMul(type(), d_in.data(), f32_input, tokens, inter, d_out.data(), nullptr),
              cudaSuccess);
    std::vector<uint16_t> out = ToHost<uint16_t>(d_out, tokens * inter);
    for (int t = 0; t < tokens; ++t) {
      std::vector<float> gate(&input[t * 2 * inter], &input[t * 2 * inter + inter]);
      ops::SiluMul(gate.data(), &input[t * 2 * inter + inter], inter);
      for (int i = 0; i < inter; ++i) {
        ASSERT_NEAR(From16(type(), out[t * inter + i]), gate[i],
                    Rounding(type()) * std::fabs(gate[i]) + 1e-6)
            << "token " << t << " index " << i;
      }
    }
  }
}

// Two sequences in scattered blocks: A holds positions 3..6 (blocks 5, 2), B positions 0..1
// (block 7). The rest of the cache must stay untouched.
struct StepLayout {
  std::vector<int32_t> positions = {3, 4, 5, 6, 0, 1};
  std::vector<int32_t> offsets = {0, 0, 0, 0, 2, 2};
  std::vector<int32_t> tables = {5, 2, 7};
  int num_blocks = 8;
};

struct RopeCase {
  StorageType type;
  int head_dim;
  bool neox;
  bool bias_and_norm;
};

class QkvRopeStoreTest : public ::testing::TestWithParam<RopeCase> {
 protected:
  void SetUp() override { PONDER_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(QkvRopeStoreTest, RotatesQAndKAndStoresKeysAndValuesInTheirSlots) {
  const RopeCase& p = GetParam();
  std::mt19937 rng(4);
  const AttentionShape shape{4, 2, p.head_dim, 2, 4};
  const int layer = 1, D = p.head_dim, Q = 4 * D, KV = 2 * D, W = Q + 2 * KV;
  StepLayout step;
  const int T = static_cast<int>(step.positions.size());
  std::vector<float> qkv = RandomFloats(T * W, rng), bias = RandomFloats(W, rng, 0.1f);
  std::vector<float> q_norm = RandomFloats(D, rng), k_norm = RandomFloats(D, rng);
  std::vector<float> inv_freq(D / 2);
  for (int i = 0; i < D / 2; ++i) inv_freq[i] = std::pow(10000.0f, -2.0f * i / D);
  const size_t block_values = static_cast<size_t>(shape.block_size) * KV;
  const size_t cache_values = step.num_blocks * shape.num_layers * 2 * block_values;
  const uint16_t poison = 0x5555;  // finite in both types: about 1.4e13 as bf16, 85.3 as f16
  std::vector<uint16_t> expected_cache(cache_values, poison);

  DeviceBuffer d_qkv = ToDevice(qkv), d_bias = ToDevice(bias), d_qn = ToDevice(q_norm),
               d_kn = ToDevice(k_norm), d_freq = ToDevice(inv_freq),
               d_pos = ToDevice(step.positions), d_off = ToDevice(step.offsets),
               d_tab = ToDevice(step.tables), d_cache = ToDevice(expected_cache);
  QkvParams params{.bias = p.bias_and_norm ? d_bias.as<float>() : nullptr,
                   .q_norm = p.bias_and_norm ? d_qn.as<float>() : nullptr,
                   .k_norm = p.bias_and_norm ? d_kn.as<float>() : nullptr,
                   .eps = 1e-6f,
                   .inv_freq = d_freq.as<float>(),
                   .neox = p.neox};
  ASSERT_EQ(
      LaunchQkvRopeStore(p.type, d_qkv.as<float>(), T, shape, layer, params, d_pos.as<int32_t>(),
                         d_off.as<int32_t>(), d_tab.as<int32_t>(), d_cache.data(), nullptr),
      cudaSuccess);
  std::vector<float> got_qkv = ToHost<float>(d_qkv, T * W);
  std::vector<uint16_t> got_cache = ToHost<uint16_t>(d_cache, cache_values);

  const ops::RopeStyle style = p.neox ? ops::RopeStyle::kNeox : ops::RopeStyle::kInterleaved;
  for (int t = 0; t < T; ++t) {
    std::vector<float> row(&qkv[t * W], &qkv[(t + 1) * W]);
    if (p.bias_and_norm) ops::Axpy(1.0f, bias.data(), row.data(), W);
    for (int h = 0; h < 4 + 2; ++h) {
      float* head = &row[h * D];
      if (p.bias_and_norm)
        ops::RmsNorm(head, h < 4 ? q_norm.data() : k_norm.data(), D, 1e-6f, head);
      ops::ApplyRope(head, D, step.positions[t], inv_freq.data(), style);
    }
    for (int i = 0; i < Q; ++i) {
      ASSERT_NEAR(got_qkv[t * W + i], row[i], 2e-5 * (std::fabs(row[i]) + 1))
          << "q " << t << "," << i;
    }
    const int pos = step.positions[t];
    const int block = step.tables[step.offsets[t] + pos / shape.block_size];
    uint16_t* slot =
        &expected_cache[(static_cast<size_t>(block) * shape.num_layers + layer) * 2 * block_values +
                        (pos % shape.block_size) * KV];
    for (int i = 0; i < KV; ++i) {
      slot[i] = To16(p.type, row[Q + i]);
      slot[block_values + i] = To16(p.type, row[Q + KV + i]);
    }
  }
  for (size_t i = 0; i < cache_values; ++i) {
    const float got = From16(p.type, got_cache[i]), want = From16(p.type, expected_cache[i]);
    // Keys went through f32 rope on both sides: allow one rounding step of the 16-bit type.
    ASSERT_NEAR(got, want, Rounding(p.type) * std::fabs(want) + 1e-6) << "cache value " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, QkvRopeStoreTest,
                         ::testing::Values(RopeCase{StorageType::kBF16, 16, true, false},
                                           RopeCase{StorageType::kBF16, 128, true, true},
                                           RopeCase{StorageType::kF16, 64, false, false},
                                           RopeCase{StorageType::kF16, 128, false, true}),
                         [](const auto& info) {
                           return std::string(info.param.type == StorageType::kBF16 ? "bf16"
                                                                                    : "f16") +
                                  "_d" + std::to_string(info.param.head_dim) +
                                  (info.param.neox ? "_neox" : "_interleaved") +
                                  (info.param.bias_and_norm ? "_bias_norm" : "");
                         });

struct AttentionCase {
  StorageType type;
  int num_heads, num_kv_heads, head_dim;
};

class PagedAttentionTest : public ::testing::TestWithParam<AttentionCase> {
 protected:
  void SetUp() override { PONDER_SKIP_WITHOUT_CUDA_DEVICE(); }
};

// Positions sequence A has in the cache: enough for split attention's longest stretches to take
// a warp two steps of keys (contexts beyond 16 stretches x 32 keys).
constexpr int kCachedA = 700;

// Launches attention for tokens at `positions` of `sequences` (0: A, kCachedA positions cached;
// 1: B, 40) on random q and a random cache in shuffled blocks.
using AttentionLaunch = std::function<cudaError_t(
    const AttentionShape& shape, const float* qkv, const int32_t* positions, const int32_t* offsets,
    const int32_t* tables, const void* cache, void* out)>;

// Runs `launch` and checks every head of every token against attention in double precision;
// the output ([token][head][dim], 16-bit) goes to `got` when given.
void CheckAttention(const AttentionCase& p, const std::vector<int32_t>& positions,
                    const std::vector<int32_t>& sequences, const AttentionLaunch& launch,
                    std::vector<uint16_t>* got = nullptr) {
  std::mt19937 rng(5);
  const int block_size = 16, num_layers = 2, layer = 1, D = p.head_dim;
  const int Q = p.num_heads * D, KV = p.num_kv_heads * D, W = Q + 2 * KV;
  const AttentionShape shape{p.num_heads, p.num_kv_heads, D, num_layers, block_size};
  const int blocks_a = kCachedA / block_size + 1, blocks_b = 40 / block_size + 1;
  const int num_blocks = blocks_a + blocks_b + 3;
  std::vector<int32_t> permutation(num_blocks);
  std::iota(permutation.begin(), permutation.end(), 0);
  std::shuffle(permutation.begin(), permutation.end(), rng);
  std::vector<int32_t> tables(permutation.begin(), permutation.begin() + blocks_a + blocks_b);
  std::vector<int32_t> offsets;
  for (int32_t sequence : sequences) offsets.push_back(sequence == 0 ? 0 : blocks_a);
  const int T = static_cast<int>(positions.size());
  std::vector<float> qkv = RandomFloats(T * W, rng);
  const size_t block_values = static_cast<size_t>(block_size) * KV;
  std::vector<uint16_t> cache(num_blocks * num_layers * 2 * block_values);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (uint16_t& v : cache) v = To16(p.type, normal(rng));

  DeviceBuffer d_qkv = ToDevice(qkv), d_pos = ToDevice(positions), d_off = ToDevice(offsets),
               d_tab = ToDevice(tables), d_cache = ToDevice(cache);
  DeviceBuffer d_out = ToDevice(std::vector<uint16_t>(T * Q, 0xffff));
  ASSERT_EQ(launch(shape, d_qkv.as<float>(), d_pos.as<int32_t>(), d_off.as<int32_t>(),
                   d_tab.as<int32_t>(), d_cache.data(), d_out.data()),
            cudaSuccess);
  std::vector<uint16_t> out = ToHost<uint16_t>(d_out, T * Q);
  if (got != nullptr) *got = out;

  const int group = p.num_heads / p.num_kv_heads;
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < p.num_heads; ++h) {
      const int g = h / group, context = positions[t] + 1;
      auto at = [&](int j, int which) {  // K (0) or V (1) of position j, kv head g
        const int block = tables[offsets[t] + j / block_size];
        return &cache[(static_cast<size_t>(block) * num_layers + layer) * 2 * block_values +
                      which * block_values + (j % block_size) * KV + g * D];
      };
      std::vector<double> scores(context);
      double max = -INFINITY;
      for (int j = 0; j < context; ++j) {
        double dot = 0;
        for (int d = 0; d < D; ++d)
          dot += double(qkv[t * W + h * D + d]) * From16(p.type, at(j, 0)[d]);
        scores[j] = dot / std::sqrt(double(D));
        max = std::max(max, scores[j]);
      }
      double sum = 0;
      for (double& s : scores) sum += (s = std::exp(s - max));
      for (int d = 0; d < D; ++d) {
        double expected = 0;
        for (int j = 0; j < context; ++j) expected += scores[j] / sum * From16(p.type, at(j, 1)[d]);
        ASSERT_NEAR(From16(p.type, out[t * Q + h * D + d]), expected,
                    Rounding(p.type) * std::fabs(expected) + 2e-3)
            << "token " << t << " head " << h << " dim " << d;
      }
    }
  }
}

// The decode attention kernels, each through CheckAttention with `launch(kernel, pipelined)`: a
// block per head with its warps' loads step by step, then pipelined (which must give the same
// bits), then a block per KV head (its query heads together); with `wide`, then a wide block per
// head, step by step and pipelined (the same bits as each other), for heads it takes.
void CheckDecodeKernels(
    const AttentionCase& p, const std::vector<int32_t>& positions,
    const std::vector<int32_t>& sequences,
    const std::function<AttentionLaunch(AttentionKernel kernel, bool pipelined)>& launch,
    bool wide = false) {
  std::vector<uint16_t> step_by_step, pipelined, wide_step_by_step, wide_pipelined;
  using Case = std::tuple<AttentionKernel, bool, std::vector<uint16_t>*, const char*>;
  std::vector<Case> cases = {
      {AttentionKernel::kPerHead, false, &step_by_step, "a block per head, loads step by step"},
      {AttentionKernel::kPerHead, true, &pipelined, "a block per head, loads pipelined"},
      {AttentionKernel::kPerKvHead, false, nullptr, "a block per KV head"}};
  if (wide && p.head_dim <= kWideAttentionMaxDim) {
    cases.push_back({AttentionKernel::kPerHeadWide, false, &wide_step_by_step,
                     "a wide block per head, loads step by step"});
    cases.push_back({AttentionKernel::kPerHeadWide, true, &wide_pipelined,
                     "a wide block per head, loads pipelined"});
  }
  for (const auto& [kernel, pipeline, got, name] : cases) {
    SCOPED_TRACE(name);
    CheckAttention(p, positions, sequences, launch(kernel, pipeline), got);
  }
  EXPECT_EQ(pipelined, step_by_step);
  EXPECT_EQ(wide_pipelined, wide_step_by_step);
}

TEST_P(PagedAttentionTest, MatchesDoublePrecisionAttentionOverScatteredBlocks) {
  const AttentionCase& p = GetParam();
  CheckDecodeKernels(
      p, {0, 1, 31, 32, 299, kCachedA - 1, 0, 39}, {0, 0, 0, 0, 0, 0, 1, 1},
      [&](AttentionKernel kernel, bool pipelined) -> AttentionLaunch {
        return [&p, kernel, pipelined](const AttentionShape& shape, const float* qkv,
                                       const int32_t* positions, const int32_t* offsets,
                                       const int32_t* tables, const void* cache, void* out) {
          return LaunchPagedAttention(p.type, qkv, 8, shape, 1, positions, offsets, tables, cache,
                                      out, nullptr, kernel, pipelined);
        };
      },
      /*wide=*/true);
  if (p.head_dim > kWideAttentionMaxDim) {
    const AttentionShape shape{p.num_heads, p.num_kv_heads, p.head_dim, 2, 16};
    EXPECT_EQ(LaunchPagedAttention(p.type, nullptr, 1, shape, 1, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, nullptr, AttentionKernel::kPerHeadWide),
              cudaErrorInvalidValue);
  }
}

// Decode attention split over the positions: tokens whose 1 to 700 positions take 1 to 16
// stretches (at 600 and 700, stretches of 38 and 44 keys: a warp takes a second step of keys,
// so the pipelined kernel hands a loaded step over), on a scratch buffer full of NaN (every
// partial read must have been written), a block per stretch of a head or of a KV head's query
// heads.
TEST_P(PagedAttentionTest, SplitOverPositionsMatchesDoublePrecisionAttention) {
  const AttentionCase& p = GetParam();
  EXPECT_EQ(AttentionSplits(1), 1);
  EXPECT_EQ(AttentionSplits(kAttentionSplitKeys), 1);
  EXPECT_EQ(AttentionSplits(kAttentionSplitKeys + 1), 2);
  EXPECT_EQ(AttentionSplits(1 << 20), kAttentionMaxSplits);
  const std::vector<int32_t> positions = {0, 31, 32, 64, 160, 299, 599, kCachedA - 1, 0, 39};
  const int tokens = static_cast<int>(positions.size());
  const AttentionShape probe{p.num_heads, p.num_kv_heads, p.head_dim, 2, 16};
  CheckDecodeKernels(
      p, positions, {0, 0, 0, 0, 0, 0, 0, 0, 1, 1},
      [&](AttentionKernel kernel, bool pipelined) -> AttentionLaunch {
        auto scratch = std::make_shared<DeviceBuffer>(ToDevice(
            std::vector<float>(SplitAttentionScratchBytes(tokens, probe) / sizeof(float), NAN)));
        return [&p, tokens, kernel, pipelined, scratch](
                   const AttentionShape& shape, const float* qkv, const int32_t* positions,
                   const int32_t* offsets, const int32_t* tables, const void* cache, void* out) {
          return LaunchSplitAttention(p.type, qkv, tokens, shape, 1, positions, offsets, tables,
                                      cache, out, scratch->data(), nullptr,
                                      {.kernel = kernel, .pipelined = pipelined});
        };
      });
}

// The positions of SplitOverPositionsMatchesDoublePrecisionAttention, split attention launched
// with `plan` on a scratch buffer full of NaN; the output into *got.
void CheckSplitAttention(const AttentionCase& p, const SplitAttentionPlan& plan,
                         std::vector<uint16_t>* got) {
  const std::vector<int32_t> positions = {0, 31, 32, 64, 160, 299, 599, kCachedA - 1, 0, 39};
  const int tokens = static_cast<int>(positions.size());
  const AttentionShape probe{p.num_heads, p.num_kv_heads, p.head_dim, 2, 16};
  DeviceBuffer scratch =
      ToDevice(std::vector<float>(SplitAttentionScratchBytes(tokens, probe) / sizeof(float), NAN));
  CheckAttention(
      p, positions, {0, 0, 0, 0, 0, 0, 0, 0, 1, 1},
      [&](const AttentionShape& shape, const float* qkv, const int32_t* positions,
          const int32_t* offsets, const int32_t* tables, const void* cache, void* out) {
        return LaunchSplitAttention(p.type, qkv, tokens, shape, 1, positions, offsets, tables,
                                    cache, out, scratch.data(), nullptr, plan);
      },
      got);
}

// Stretches of at least 64 keys (a context of 160 in 3 rather than 5) and of the fewest allowed
// (15: 700 positions in 16 stretches of 44), each first pass; lengths out of range refused.
TEST_P(PagedAttentionTest, SplitIntoStretchesOfOtherLengthsMatchesDoublePrecision) {
  const AttentionCase& p = GetParam();
  EXPECT_EQ(AttentionSplits(160, 64), 3);
  EXPECT_EQ(AttentionSplits(160, kAttentionMinSplitKeys), 11);
  for (int split_keys : {64, kAttentionMinSplitKeys}) {
    for (AttentionKernel kernel : {AttentionKernel::kPerHead, AttentionKernel::kPerKvHead}) {
      for (bool pipelined : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "stretches of " << split_keys << " keys or more, "
                     << (kernel == AttentionKernel::kPerHead ? "per head" : "per KV head")
                     << (pipelined ? ", pipelined" : ""));
        CheckSplitAttention(p, {.kernel = kernel, .pipelined = pipelined, .split_keys = split_keys},
                            nullptr);
      }
    }
  }
  const AttentionShape shape{p.num_heads, p.num_kv_heads, p.head_dim, 2, 16};
  for (int split_keys : {kAttentionMinSplitKeys - 1, kAttentionMaxSplitKeys + 1}) {
    EXPECT_EQ(LaunchSplitAttention(p.type, nullptr, 1, shape, 1, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, nullptr, nullptr, {.split_keys = split_keys}),
              cudaErrorInvalidValue)
        << split_keys;
  }
}

// Prefill: 20 new tokens of A after 280 cached positions (tiles of 8, 8, 4), then B's first 11
// (8, 3): every tile's keys are read together, each token sees only its own past. On CUDA cores,
// then on the tensor cores where the head width allows (a multiple of 16). Both err far below
// the output's 16-bit rounding (f32 on CUDA cores, about 1e-5 on the tensor cores, where q and
// the softmax weights go in as two 16-bit parts each), so their outputs are roundings of nearly
// the same value: one 16-bit step apart at most, plus 1e-4 where values are near zero (an
// emulation of the tensor-core arithmetic on this test's data needed up to 3.3e-6).
TEST_P(PagedAttentionTest, PrefillTilesMatchDoublePrecisionAttention) {
  const AttentionCase& p = GetParam();
  const AttentionShape probe{p.num_heads, p.num_kv_heads, p.head_dim, 2, 16};
  std::vector<int32_t> positions, sequences;
  for (int i = 280; i < 300; ++i) positions.push_back(i), sequences.push_back(0);
  for (int i = 0; i < 11; ++i) positions.push_back(i), sequences.push_back(1);
  const std::vector<int32_t> tiles = {0, 8, 8, 8, 16, 4, 20, 8, 28, 3};
  DeviceBuffer d_tiles = ToDevice(tiles);
  std::vector<uint16_t> outputs[2];
  for (PrefillKernel kernel : {PrefillKernel::kCudaCores, PrefillKernel::kTensorCores}) {
    SCOPED_TRACE(kernel == PrefillKernel::kCudaCores ? "CUDA cores" : "tensor cores");
    if (!PrefillAttentionSupports(probe, kernel)) {
      EXPECT_TRUE(p.head_dim > 128 || p.head_dim % 16 != 0);
      EXPECT_EQ(LaunchPrefillAttention(p.type, nullptr, nullptr, 1, probe, 1, nullptr, nullptr,
                                       nullptr, nullptr, nullptr, nullptr, kernel),
                cudaErrorInvalidValue);
      continue;
    }
    CheckAttention(
        p, positions, sequences,
        [&](const AttentionShape& shape, const float* qkv, const int32_t* positions,
            const int32_t* offsets, const int32_t* tables, const void* cache, void* out) {
          return LaunchPrefillAttention(p.type, qkv, d_tiles.as<int32_t>(), 5, shape, 1, positions,
                                        offsets, tables, cache, out, nullptr, kernel);
        },
        &outputs[kernel == PrefillKernel::kTensorCores]);
  }
  if (outputs[1].empty()) return;
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  for (size_t i = 0; i < outputs[0].size(); ++i) {
    const double cuda_cores = From16(p.type, outputs[0][i]), tensor = From16(p.type, outputs[1][i]);
    ASSERT_NEAR(tensor, cuda_cores, 2 * Rounding(p.type) * std::fabs(cuda_cores) + 1e-4)
        << "tensor cores against CUDA cores, output value " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttentionTest,
                         ::testing::Values(AttentionCase{StorageType::kBF16, 4, 2, 16},
                                           AttentionCase{StorageType::kBF16, 12, 2, 128},
                                           AttentionCase{StorageType::kF16, 8, 8, 64},
                                           AttentionCase{StorageType::kF16, 4, 1, 96},
                                           AttentionCase{StorageType::kBF16, 4, 4, 256},
                                           AttentionCase{StorageType::kBF16, 32, 2, 64},
                                           AttentionCase{StorageType::kF16, 12, 1, 256}),
                         [](const auto& info) {
                           return std::string(info.param.type == StorageType::kBF16 ? "bf16"
                                                                                    : "f16") +
                                  "_h" + std::to_string(info.param.num_heads) + "_kv" +
                                  std::to_string(info.param.num_kv_heads) + "_d" +
                                  std::to_string(info.param.head_dim);
                         });

INSTANTIATE_TEST_SUITE_P(StorageTypes, CudaKernelTest,
                         ::testing::Values(StorageType::kBF16, StorageType::kF16),
                         [](const auto& info) {
                           return std::string(info.param == StorageType::kBF16 ? "bf16" : "f16");
                         });

struct SkinnyShape {
  int tokens, rows, cols;
};

class SkinnyMatMulTest : public ::testing::TestWithParam<SkinnyShape> {
 protected:
  void SetUp() override { PONDER_SKIP_WITHOUT_CUDA_DEVICE(); }
};

// The sums of a row, in double, with the magnitude of their terms (for the tolerance).
std::pair<double, double> DotDouble(StorageType type, const uint16_t* w, const uint16_t* x,
                                    int cols) {
  double sum = 0, magnitude = 0;
  for (int c = 0; c < cols; ++c) {
    const double term = double(From16(type, w[c])) * From16(type, x[c]);
    sum += term;
    magnitude += std::fabs(term);
  }
  return {sum, magnitude};
}

std::vector<uint16_t> Random16(StorageType type, size_t n, std::mt19937& rng, float scale) {
  std::vector<uint16_t> v(n);
  std::normal_distribution<float> normal(0.0f, scale);
  for (uint16_t& value : v) value = To16(type, normal(rng));
  return v;
}

TEST_P(SkinnyMatMulTest, MatchesDoublePrecisionAndAddsIntoTheOutputWithBetaOne) {
  const auto [tokens, rows, cols] = GetParam();
  for (StorageType type : {StorageType::kBF16, StorageType::kF16}) {
    std::mt19937 rng(7 + tokens + rows);
    const std::vector<uint16_t> w16 = Random16(type, size_t(rows) * cols, rng, 0.05f),
                                x16 = Random16(type, size_t(tokens) * cols, rng, 1.0f);
    std::vector<float> base = RandomFloats(tokens * rows, rng);
    DeviceBuffer d_w = ToDevice(w16), d_x = ToDevice(x16);
    for (float beta : {0.0f, 1.0f}) {
      DeviceBuffer d_out = ToDevice(beta == 0.0f ? std::vector<float>(tokens * rows, NAN) : base);
      ASSERT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_x.data(), tokens,
                                   d_out.as<float>(), beta, nullptr),
                cudaSuccess);
      std::vector<float> out = ToHost<float>(d_out, tokens * rows);
      for (int t = 0; t < tokens; ++t) {
        for (int r = 0; r < rows; ++r) {
          auto [sum, magnitude] =
              DotDouble(type, &w16[size_t(r) * cols], &x16[size_t(t) * cols], cols);
          const double expected = (beta == 0.0f ? 0.0 : base[t * rows + r]) + sum;
          ASSERT_NEAR(out[t * rows + r], expected, 1e-5 * magnitude + 1e-6)
              << "token " << t << " row " << r << " beta " << beta;
        }
      }
    }
  }
}

// A token's results do not depend on the tokens batched with it: bit for bit the same alone.
TEST_P(SkinnyMatMulTest, EachTokenGetsTheSameBitsAsAlone) {
  const auto [tokens, rows, cols] = GetParam();
  const StorageType type = StorageType::kBF16;
  std::mt19937 rng(3 + tokens);
  const std::vector<uint16_t> w16 = Random16(type, size_t(rows) * cols, rng, 0.05f),
                              x16 = Random16(type, size_t(tokens) * cols, rng, 1.0f);
  DeviceBuffer d_w = ToDevice(w16), d_x = ToDevice(x16);
  DeviceBuffer d_all = ToDevice(std::vector<float>(tokens * rows, NAN));
  ASSERT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_x.data(), tokens, d_all.as<float>(),
                               0.0f, nullptr),
            cudaSuccess);
  const std::vector<float> all = ToHost<float>(d_all, tokens * rows);
  for (int t = 0; t < tokens; ++t) {
    DeviceBuffer d_one = ToDevice(std::vector<float>(rows, NAN));
    ASSERT_EQ(
        LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_x.as<uint16_t>() + size_t(t) * cols, 1,
                           d_one.as<float>(), 0.0f, nullptr),
        cudaSuccess);
    const std::vector<float> one = ToHost<float>(d_one, rows);
    for (int r = 0; r < rows; ++r) ASSERT_EQ(one[r], all[t * rows + r]) << "token " << t;
  }
}

TEST_P(SkinnyMatMulTest, SwiGluIsTheActivationOfTheGateAndUpProducts) {
  const auto [tokens, inter, cols] = GetParam();
  for (StorageType type : {StorageType::kBF16, StorageType::kF16}) {
    std::mt19937 rng(11 + tokens);
    const std::vector<uint16_t> w16 = Random16(type, size_t(2) * inter * cols, rng, 0.05f),
                                x16 = Random16(type, size_t(tokens) * cols, rng, 1.0f);
    DeviceBuffer d_w = ToDevice(w16), d_x = ToDevice(x16);
    DeviceBuffer d_out = ToDevice(std::vector<uint16_t>(size_t(tokens) * inter, 0x5555));
    ASSERT_EQ(LaunchSkinnySwiGlu(type, d_w.data(), inter, cols, d_x.data(), tokens, d_out.data(),
                                 nullptr),
              cudaSuccess);
    const std::vector<uint16_t> out = ToHost<uint16_t>(d_out, size_t(tokens) * inter);
    for (int t = 0; t < tokens; ++t) {
      for (int i = 0; i < inter; ++i) {
        const uint16_t* x = &x16[size_t(t) * cols];
        auto [g, g_magnitude] = DotDouble(type, &w16[size_t(i) * cols], x, cols);
        auto [u, u_magnitude] = DotDouble(type, &w16[size_t(inter + i) * cols], x, cols);
        const double silu = g / (1 + std::exp(-g)), expected = silu * u;
        // The f32 sums' error, carried through silu(g) * u, then one rounding to 16 bits.
        const double error = 1e-5 * (g_magnitude * std::fabs(u) + u_magnitude * std::fabs(silu)) +
                             1e-6 + Rounding(type) * std::fabs(expected);
        ASSERT_NEAR(From16(type, out[size_t(t) * inter + i]), expected, error)
            << "token " << t << " unit " << i;
      }
    }
  }
}

// The norm fused into the decode products gives exactly the norm kernel followed by the product.
TEST_P(SkinnyMatMulTest, AFusedNormGivesTheBitsOfTheNormKernelThenTheProduct) {
  const auto [tokens, rows, cols] = GetParam();
  const StorageType type = StorageType::kBF16;
  std::mt19937 rng(5 + tokens);
  const std::vector<uint16_t> w16 = Random16(type, size_t(2) * rows * cols, rng, 0.05f);
  const std::vector<float> x = RandomFloats(size_t(tokens) * cols, rng, 3.0f),
                           weight = RandomFloats(cols, rng);
  DeviceBuffer d_w = ToDevice(w16), d_x = ToDevice(x), d_weight = ToDevice(weight);
  const SkinnyNorm norm{d_x.as<float>(), d_weight.as<float>(), 1e-6f};
  DeviceBuffer d_product = ToDevice(std::vector<float>(size_t(tokens) * rows, NAN));
  DeviceBuffer d_swiglu = ToDevice(std::vector<uint16_t>(size_t(tokens) * rows, 0x5555));
  if (size_t(tokens) * cols * 2 > kSkinnyMaxNormBytes) {  // too wide for shared memory: refused
    EXPECT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, nullptr, tokens,
                                 d_product.as<float>(), 0.0f, nullptr, &norm),
              cudaErrorInvalidValue);
    return;
  }
  DeviceBuffer d_normed = ToDevice(std::vector<uint16_t>(size_t(tokens) * cols));
  ASSERT_EQ(LaunchRmsNorm(type, d_x.as<float>(), cols, nullptr, tokens, d_weight.as<float>(), 1e-6f,
                          d_normed.data(), nullptr, nullptr),
            cudaSuccess);
  DeviceBuffer d_expected_product = ToDevice(std::vector<float>(size_t(tokens) * rows, NAN));
  DeviceBuffer d_expected_swiglu = ToDevice(std::vector<uint16_t>(size_t(tokens) * rows, 0x5555));
  ASSERT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_normed.data(), tokens,
                               d_expected_product.as<float>(), 0.0f, nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchSkinnySwiGlu(type, d_w.data(), rows, cols, d_normed.data(), tokens,
                               d_expected_swiglu.data(), nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, nullptr, tokens, d_product.as<float>(),
                               0.0f, nullptr, &norm),
            cudaSuccess);
  ASSERT_EQ(LaunchSkinnySwiGlu(type, d_w.data(), rows, cols, nullptr, tokens, d_swiglu.data(),
                               nullptr, &norm),
            cudaSuccess);
  const size_t n = size_t(tokens) * rows;
  EXPECT_EQ(ToHost<float>(d_product, n), ToHost<float>(d_expected_product, n));
  EXPECT_EQ(ToHost<uint16_t>(d_swiglu, n), ToHost<uint16_t>(d_expected_swiglu, n));
}

// A plan changes how the work is divided, not the result: x read from global memory rather than
// shared memory, a smaller persistent grid (more rounds), or other batches of loads for
// one-token products (2 or 3 chunks a lane gated, 9 plain: kernels of their own, three gated
// blocks per multiprocessor at 2; SkinnyUnrollRuleTest checks which launches take them), or
// one-token weights streamed through shared memory by cp.async, or x read 16 bytes at a time
// (one-token products at gated 2 and plain 8: kernels of their own), give the default's bits, with
// and without a fused norm (the split is the same); another split-K (one warp per row, or as many
// as allowed) stays within the sums' tolerance.
TEST_P(SkinnyMatMulTest, PlansDivideTheWorkWithoutChangingTheResult) {
  const auto [tokens, rows, cols] = GetParam();
  const StorageType type = StorageType::kBF16;
  std::mt19937 rng(13 + tokens);
  const std::vector<uint16_t> w16 = Random16(type, size_t(2) * rows * cols, rng, 0.05f),
                              x16 = Random16(type, size_t(tokens) * cols, rng, 1.0f);
  DeviceBuffer d_w = ToDevice(w16), d_x = ToDevice(x16);
  const size_t n = size_t(tokens) * rows;
  auto product = [&](const SkinnyPlan& plan) {
    DeviceBuffer d_out = ToDevice(std::vector<float>(n, NAN));
    EXPECT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_x.data(), tokens,
                                 d_out.as<float>(), 0.0f, nullptr, nullptr, plan),
              cudaSuccess);
    return ToHost<float>(d_out, n);
  };
  auto swiglu = [&](const SkinnyPlan& plan) {
    DeviceBuffer d_out = ToDevice(std::vector<uint16_t>(n, 0x5555));
    EXPECT_EQ(LaunchSkinnySwiGlu(type, d_w.data(), rows, cols, d_x.data(), tokens, d_out.data(),
                                 nullptr, nullptr, plan),
              cudaSuccess);
    return ToHost<uint16_t>(d_out, n);
  };
  const std::vector<float> norm_x = RandomFloats(size_t(tokens) * cols, rng, 3.0f),
                           norm_weight = RandomFloats(cols, rng);
  DeviceBuffer d_norm_x = ToDevice(norm_x), d_norm_weight = ToDevice(norm_weight);
  const SkinnyNorm norm{d_norm_x.as<float>(), d_norm_weight.as<float>(), 1e-6f};
  const bool norm_fits = size_t(tokens) * cols * 2 <= kSkinnyMaxNormBytes;
  auto normed = [&](const SkinnyPlan& plan) {
    DeviceBuffer d_out = ToDevice(std::vector<float>(n, NAN));
    DeviceBuffer d_out16 = ToDevice(std::vector<uint16_t>(n, 0x5555));
    EXPECT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, nullptr, tokens, d_out.as<float>(),
                                 0.0f, nullptr, &norm, plan),
              cudaSuccess);
    EXPECT_EQ(LaunchSkinnySwiGlu(type, d_w.data(), rows, cols, nullptr, tokens, d_out16.data(),
                                 nullptr, &norm, plan),
              cudaSuccess);
    return std::make_pair(ToHost<float>(d_out, n), ToHost<uint16_t>(d_out16, n));
  };
  const std::vector<float> expected = product({});
  const std::vector<uint16_t> expected_swiglu = swiglu({});
  const auto expected_normed = norm_fits ? normed({}) : decltype(normed({})){};
  for (const SkinnyPlan& plan :
       {SkinnyPlan{.stage_x = false}, SkinnyPlan{.blocks_per_processor = 1},
        SkinnyPlan{.stage_x = false, .blocks_per_processor = 1},
        SkinnyPlan{.gated_unroll = 2, .plain_unroll = 9}, SkinnyPlan{.gated_unroll = 3},
        SkinnyPlan{.stage_x = false, .gated_unroll = 2, .plain_unroll = 9},
        SkinnyPlan{.blocks_per_processor = 1, .gated_unroll = 3, .plain_unroll = 9},
        SkinnyPlan{.async_copies = true}, SkinnyPlan{.stage_x = false, .async_copies = true},
        SkinnyPlan{.blocks_per_processor = 1, .async_copies = true}}) {
    SCOPED_TRACE(testing::Message()
                 << "stage_x " << plan.stage_x << ", blocks per processor "
                 << plan.blocks_per_processor << ", unroll gated " << plan.gated_unroll << " plain "
                 << plan.plain_unroll << ", async " << plan.async_copies);
    EXPECT_EQ(product(plan), expected);
    EXPECT_EQ(swiglu(plan), expected_swiglu);
    if (norm_fits) {
      EXPECT_EQ(normed(plan), expected_normed);
    }
  }
  for (const SkinnyPlan& plan :
       {SkinnyPlan{.target_warps = 1}, SkinnyPlan{.target_warps = 1 << 30}}) {
    const int target_warps = plan.target_warps;
    const std::vector<float> out = product(plan);
    for (int t = 0; t < tokens; ++t) {
      for (int r = 0; r < rows; ++r) {
        auto [sum, magnitude] =
            DotDouble(type, &w16[size_t(r) * cols], &x16[size_t(t) * cols], cols);
        ASSERT_NEAR(out[size_t(t) * rows + r], sum, 1e-5 * magnitude + 1e-6)
            << "target warps " << target_warps << ", token " << t << " row " << r;
      }
    }
  }
  DeviceBuffer d_out = ToDevice(std::vector<float>(n, NAN));
  EXPECT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_x.data(), tokens, d_out.as<float>(),
                               0.0f, nullptr, nullptr, {.target_warps = 0}),
            cudaErrorInvalidValue);
  EXPECT_EQ(LaunchSkinnyMatMul(type, d_w.data(), rows, cols, d_x.data(), tokens, d_out.as<float>(),
                               0.0f, nullptr, nullptr, {.blocks_per_processor = -1}),
            cudaErrorInvalidValue);
}

// The persistent grid fills the device: at least a block per multiprocessor for a product of
// more groups than the device holds at once, whatever the kernel (plain, gated, norm fused) and
// batch. A residency query that failed (for instance one asking about more shared
// memory than a block may take) would leave a handful of blocks doing all the work with the same
// results, which only the grid shows.
TEST(SkinnyGridTest, FillsTheDevice) {
  PONDER_SKIP_WITHOUT_CUDA_DEVICE();
  int device = 0, processors = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&processors, cudaDevAttrMultiProcessorCount, device),
            cudaSuccess);
  const int rows = 8 * 4 * processors;  // 4 rounds of 8-row groups at one block per processor
  for (const bool gated : {false, true}) {
    for (const bool norm : {false, true}) {
      for (const int tokens : {1, 8}) {
        EXPECT_GE(SkinnyGridBlocks(StorageType::kBF16, rows, 1536, tokens, gated, norm), processors)
            << "gated " << gated << ", norm " << norm << ", tokens " << tokens;
      }
      // The cp.async kernels may ask for more than 48 KiB of shared memory a block (x and the
      // ring), and their few registers let at least two blocks share a multiprocessor: 3 KB of
      // x and the 32 KB ring fit twice even in sm_86's 100 KB (one block a multiprocessor, the
      // fallback where CUDA's answer failed, would take four rounds on a grid of `processors`).
      EXPECT_GE(
          SkinnyGridBlocks(StorageType::kBF16, rows, 1536, 1, gated, norm, {.async_copies = true}),
          2 * processors)
          << "async, gated " << gated << ", norm " << norm;
    }
  }
  // Exactly three blocks' worth of groups per multiprocessor (rows of 64 chunks: a warp per row,
  // 8 rows a group) with two blocks resident per multiprocessor: two rounds, the groups spread
  // evenly over them, so about one and a half blocks per multiprocessor, each taking two groups.
  for (const bool gated : {false, true}) {
    EXPECT_EQ(SkinnyGridBlocks(StorageType::kBF16, 8 * 3 * processors, 512, 1, gated, false),
              (3 * processors + 1) / 2)
        << "gated " << gated;
  }
  // The one-token gated kernel that loads 2 chunks a lane a batch takes 69 to 76 registers
  // (sm_80, sm_90), so three blocks share a multiprocessor where its shared memory holds three
  // blocks' staged x (kSkinnyMaxNormBytes each; not on sm_86 and sm_89): the same groups in one
  // round. The plain one-token kernel at 9 chunks a lane (124 registers on sm_90) keeps the
  // default's two blocks a multiprocessor, so its grid is the default's.
  int shared_per_processor = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&shared_per_processor,
                                   cudaDevAttrMaxSharedMemoryPerMultiprocessor, device),
            cudaSuccess);
  if (shared_per_processor >= 3 * static_cast<int>(kSkinnyMaxNormBytes + (4 << 10))) {
    for (const bool norm : {false, true}) {
      EXPECT_EQ(SkinnyGridBlocks(StorageType::kBF16, 8 * 3 * processors, 512, 1, true, norm,
                                 {.gated_unroll = 2}),
                3 * processors)
          << "norm " << norm;
    }
  }
  EXPECT_EQ(SkinnyGridBlocks(StorageType::kBF16, 1536, 8960, 1, false, false, {.plain_unroll = 9}),
            SkinnyGridBlocks(StorageType::kBF16, 1536, 8960, 1, false, false));
  EXPECT_EQ(SkinnyGridBlocks(StorageType::kBF16, rows, 4, 1, false, false), 0);  // cols < 8
}

// 197 chunks of 8 columns: a ragged tail, two warps per row; 1100 chunks on 100 rows: eight
// warps per row (split-K) and several batches of loads; 2048 rows of 1536: two; 5000 rows of 24
// and 40 chunks: a warp per row, several rounds, several rows per batch of loads; Qwen2.5-1.5B's
// down product at one token (four warps a row, two batches of a row each, the second short; one
// at 9 chunks a lane); 2600 chunks on 64 rows at one token: eight warps a row, 10 or 11 chunks a
// lane, so every batch size ends a row in a partly filled batch; 20003 rows of 40 chunks: one or
// two chunks a lane, so the cp.async kernels' ring (8 chunks) spans several rounds, and a
// ragged last group.
INSTANTIATE_TEST_SUITE_P(
    Shapes, SkinnyMatMulTest,
    ::testing::Values(SkinnyShape{1, 333, 8 * 197}, SkinnyShape{2, 333, 8 * 197},
                      SkinnyShape{3, 333, 8 * 197}, SkinnyShape{5, 100, 8 * 1100},
                      SkinnyShape{8, 100, 8 * 1100}, SkinnyShape{1, 100, 8 * 1100},
                      SkinnyShape{4, 2048, 1536}, SkinnyShape{1, 5000, 8 * 24},
                      SkinnyShape{2, 5000, 8 * 40}, SkinnyShape{1, 1536, 8960},
                      SkinnyShape{1, 64, 8 * 2600}, SkinnyShape{1, 20003, 8 * 40}),
    [](const auto& info) {
      return absl::StrCat(info.param.tokens, "_tokens_", info.param.rows, "x", info.param.cols);
    });

struct QkvRopeCase {
  StorageType type;
  int num_heads, num_kv_heads, head_dim, cols;
  bool neox, bias;
};

class SkinnyQkvRopeTest : public ::testing::TestWithParam<QkvRopeCase> {
 protected:
  void SetUp() override { PONDER_SKIP_WITHOUT_CUDA_DEVICE(); }
};

// The QKV product with the rope epilogue gives the bits of the product followed by the rope
// kernel: q in the qkv row, k and v in the token's cache slots and nothing else of the cache
// written; with x given or normed in the kernel, under each plan that keeps the split.
TEST_P(SkinnyQkvRopeTest, GivesTheBitsOfTheProductThenTheRopeKernel) {
  const QkvRopeCase& p = GetParam();
  std::mt19937 rng(17 + p.head_dim + p.cols);
  const AttentionShape shape{p.num_heads, p.num_kv_heads, p.head_dim, 3, 16};
  const int layer = 2, D = p.head_dim, Q = p.num_heads * D, KV = p.num_kv_heads * D;
  const int units = Q + 2 * KV;
  const std::vector<uint16_t> w16 = Random16(p.type, size_t(units) * p.cols, rng, 0.05f),
                              x16 = Random16(p.type, p.cols, rng, 1.0f);
  const std::vector<float> bias = RandomFloats(units, rng, 0.1f),
                           norm_x = RandomFloats(p.cols, rng, 3.0f),
                           norm_weight = RandomFloats(p.cols, rng);
  std::vector<float> inv_freq(D / 2);
  for (int i = 0; i < D / 2; ++i) inv_freq[i] = std::pow(10000.0f, -2.0f * i / D);
  // The token at position 37 of a sequence whose table starts at offset 1: block 6, slot 5.
  const std::vector<int32_t> positions = {37}, offsets = {1}, tables = {9, 4, 0, 6, 2};
  const int num_blocks = 10;
  const size_t cache_values = size_t(num_blocks) * shape.num_layers * 2 * shape.block_size * KV;
  DeviceBuffer d_w = ToDevice(w16), d_x = ToDevice(x16), d_bias = ToDevice(bias),
               d_norm_x = ToDevice(norm_x), d_norm_weight = ToDevice(norm_weight),
               d_freq = ToDevice(inv_freq), d_pos = ToDevice(positions), d_off = ToDevice(offsets),
               d_tab = ToDevice(tables);
  const SkinnyNorm norm{d_norm_x.as<float>(), d_norm_weight.as<float>(), 1e-6f};
  const QkvParams params{.bias = p.bias ? d_bias.as<float>() : nullptr,
                         .inv_freq = d_freq.as<float>(),
                         .neox = p.neox};
  ASSERT_TRUE(SkinnyQkvRopeSupports(shape, p.cols, params));
  struct Result {
    std::vector<float> q;
    std::vector<uint16_t> cache;
  };
  // fused: the rope kernel's work in the product; else the product, then the rope kernel.
  auto run = [&](bool fused, bool with_norm, const SkinnyPlan& plan) {
    DeviceBuffer d_qkv = ToDevice(std::vector<float>(units, NAN));
    DeviceBuffer d_cache = ToDevice(std::vector<uint16_t>(cache_values, 0x5555));
    const void* x = with_norm ? nullptr : d_x.data();
    const SkinnyNorm* n = with_norm ? &norm : nullptr;
    if (fused) {
      EXPECT_EQ(LaunchSkinnyQkvRope(p.type, d_w.data(), p.cols, x, d_qkv.as<float>(), shape, layer,
                                    params, d_pos.as<int32_t>(), d_off.as<int32_t>(),
                                    d_tab.as<int32_t>(), d_cache.data(), nullptr, n, plan),
                cudaSuccess);
    } else {
      EXPECT_EQ(LaunchSkinnyMatMul(p.type, d_w.data(), units, p.cols, x, 1, d_qkv.as<float>(), 0.0f,
                                   nullptr, n, plan),
                cudaSuccess);
      EXPECT_EQ(LaunchQkvRopeStore(p.type, d_qkv.as<float>(), 1, shape, layer, params,
                                   d_pos.as<int32_t>(), d_off.as<int32_t>(), d_tab.as<int32_t>(),
                                   d_cache.data(), nullptr),
                cudaSuccess);
    }
    std::vector<float> qkv = ToHost<float>(d_qkv, units);
    return Result{std::vector<float>(qkv.begin(), qkv.begin() + Q),
                  ToHost<uint16_t>(d_cache, cache_values)};
  };
  for (const bool with_norm : {false, true}) {
    const Result expected = run(false, with_norm, {});
    // The rope kernel wrote the slot (block 6, slot 5 of layer 2) and only it.
    const size_t slot = (size_t(6) * shape.num_layers + layer) * 2 * shape.block_size * KV + 5 * KV;
    size_t written = 0;
    for (size_t i = 0; i < cache_values; ++i) written += expected.cache[i] != 0x5555;
    EXPECT_GE(written, size_t(KV));  // keys and values: a poison-valued result is very unlikely
    EXPECT_NE(expected.cache[slot], 0x5555);
    for (const SkinnyPlan& plan :
         {SkinnyPlan{}, SkinnyPlan{.stage_x = false}, SkinnyPlan{.blocks_per_processor = 1}}) {
      SCOPED_TRACE(testing::Message() << "norm " << with_norm << ", stage_x " << plan.stage_x
                                      << ", blocks per processor " << plan.blocks_per_processor);
      const Result got = run(true, with_norm, plan);
      EXPECT_EQ(got.q, expected.q);
      EXPECT_EQ(got.cache, expected.cache);
    }
  }
}

// Qwen2.5-1.5B's shape (12 heads, 2 KV heads of 128, hidden 1536: two warps a row, four rows
// a block) with neox and interleaved pairs, small heads of GQA and MHA (one and four warps a
// row), with and without the bias.
INSTANTIATE_TEST_SUITE_P(
    Shapes, SkinnyQkvRopeTest,
    ::testing::Values(QkvRopeCase{StorageType::kBF16, 12, 2, 128, 1536, true, true},
                      QkvRopeCase{StorageType::kF16, 12, 2, 128, 1536, false, false},
                      QkvRopeCase{StorageType::kBF16, 4, 2, 64, 256, false, true},
                      QkvRopeCase{StorageType::kF16, 4, 4, 16, 8 * 197, true, true},
                      QkvRopeCase{StorageType::kBF16, 6, 3, 32, 8 * 300, false, false}),
    [](const auto& info) {
      const QkvRopeCase& p = info.param;
      return absl::StrCat(p.type == StorageType::kBF16 ? "bf16_" : "f16_", p.num_heads, "x",
                          p.num_kv_heads, "x", p.head_dim, "_", p.cols,
                          p.neox ? "_neox" : "_interleaved", p.bias ? "_bias" : "");
    });

// The backend's batch size for the one-token down product: 9 only where it reads a lane's share of
// a row in fewer batches than 8 (host code, no device needed).
TEST(SkinnyUnrollRuleTest, TheDownProductTakesTheBatchSizeWithFewerBatches) {
  // Qwen2.5-1.5B: rows of 1 120 chunks split four ways, 9 chunks a lane: one batch at 9, two at 8.
  EXPECT_EQ(SkinnyPlainUnrollFor(1536, 8960), 9);
  // Qwen2.5-7B: 2 368 chunks split two ways, 37 a lane: five batches either way.
  EXPECT_EQ(SkinnyPlainUnrollFor(3584, 18944), 8);
  // Qwen2.5-0.5B: 608 chunks split eight ways, 3 a lane: one batch either way.
  EXPECT_EQ(SkinnyPlainUnrollFor(896, 4864), 8);
  // 4 096 rows keep one warp a row; 16 chunks a lane: two batches at 9 and at 8; 17: two at 9,
  // three at 8.
  EXPECT_EQ(SkinnyPlainUnrollFor(4096, 8 * 32 * 16), 8);
  EXPECT_EQ(SkinnyPlainUnrollFor(4096, 8 * 32 * 17), 9);
  EXPECT_EQ(SkinnyPlainUnrollFor(0, 8960), 8);
  EXPECT_EQ(SkinnyPlainUnrollFor(1536, 4), 8);
}

// Which batch of loads each launch takes: the plan's for one-token products but the QKV product
// with rope, the default for more tokens; a plan naming a batch size without a kernel is refused
// by every launch (before any device work: no GPU needed).
TEST(SkinnyUnrollRuleTest, OneTokenProductsTakeThePlansBatchSizes) {
  EXPECT_EQ(SkinnyUnrollFor(1, true, false, {}), 4);
  EXPECT_EQ(SkinnyUnrollFor(1, false, false, {}), 8);
  EXPECT_EQ(SkinnyUnrollFor(1, true, false, {.gated_unroll = 2}), 2);
  EXPECT_EQ(SkinnyUnrollFor(1, true, false, {.gated_unroll = 3, .plain_unroll = 9}), 3);
  EXPECT_EQ(SkinnyUnrollFor(1, false, false, {.gated_unroll = 3, .plain_unroll = 9}), 9);
  EXPECT_EQ(SkinnyUnrollFor(1, false, true, {.plain_unroll = 9}), 8);  // the rope product
  EXPECT_EQ(SkinnyUnrollFor(2, true, false, {.gated_unroll = 2}), 4);
  EXPECT_EQ(SkinnyUnrollFor(2, false, false, {.plain_unroll = 9}), 8);
  EXPECT_EQ(SkinnyUnrollFor(3, true, false, {.gated_unroll = 3}), 2);
  EXPECT_EQ(SkinnyUnrollFor(8, false, false, {.plain_unroll = 9}), 4);
  for (const SkinnyPlan& plan :
       {SkinnyPlan{.gated_unroll = 1}, SkinnyPlan{.gated_unroll = 5}, SkinnyPlan{.gated_unroll = 8},
        SkinnyPlan{.plain_unroll = 4}, SkinnyPlan{.plain_unroll = 10}}) {
    SCOPED_TRACE(testing::Message()
                 << "unroll gated " << plan.gated_unroll << " plain " << plan.plain_unroll);
    for (const int tokens : {1, 4}) {
      EXPECT_EQ(SkinnyUnrollFor(tokens, true, false, plan), 0);
      EXPECT_EQ(SkinnyUnrollFor(tokens, false, false, plan), 0);
      EXPECT_EQ(SkinnyGridBlocks(StorageType::kBF16, 1536, 8960, tokens, false, false, plan), 0);
      EXPECT_EQ(SkinnyGridBlocks(StorageType::kBF16, 8960, 1536, tokens, true, true, plan), 0);
    }
    EXPECT_EQ(LaunchSkinnyMatMul(StorageType::kBF16, nullptr, 1536, 8960, nullptr, 1, nullptr, 0.0f,
                                 nullptr, nullptr, plan),
              cudaErrorInvalidValue);
    EXPECT_EQ(LaunchSkinnySwiGlu(StorageType::kBF16, nullptr, 8960, 1536, nullptr, 1, nullptr,
                                 nullptr, nullptr, plan),
              cudaErrorInvalidValue);
  }
}

// Which QKV products take the rope epilogue (no device needed): not with q/k norms (a norm needs
// the whole head), not where split-K leaves a block an odd number of rows (eight warps a row:
// a pair's rows in two blocks), not for odd or too wide heads.
TEST(SkinnyQkvRopeRuleTest, TakesShapesWhoseRopePairsShareABlock) {
  const float some = 0.0f;
  const QkvParams plain{.inv_freq = &some};
  EXPECT_TRUE(SkinnyQkvRopeSupports({12, 2, 128, 28, 16}, 1536, plain));
  EXPECT_TRUE(SkinnyQkvRopeSupports({32, 8, 128, 32, 16}, 4096, plain));
  EXPECT_FALSE(
      SkinnyQkvRopeSupports({12, 2, 128, 28, 16}, 1536, {.q_norm = &some, .k_norm = &some}));
  // 64 rows of 1024 chunks: eight warps a row, one row a block.
  EXPECT_FALSE(SkinnyQkvRopeSupports({2, 1, 16, 1, 16}, 8192, plain));
  // The same rows under a plan that wants fewer warps: one a row.
  EXPECT_TRUE(SkinnyQkvRopeSupports({2, 1, 16, 1, 16}, 8192, plain, {.target_warps = 64}));
  EXPECT_FALSE(SkinnyQkvRopeSupports({2, 1, 512, 1, 16}, 1536, plain));
  EXPECT_FALSE(SkinnyQkvRopeSupports({12, 2, 128, 28, 16}, 1532, plain));
}

TEST(CudaGreedyTest, PicksTheLowestIdAmongEqualMaximaAndItsLogSoftmax) {
  PONDER_SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937 rng(6);
  const int rows = 3, vocab = 151936;
  std::vector<float> logits = RandomFloats(rows * vocab, rng, 3.0f);
  logits[1 * vocab + 90000] = 40.0f;  // a tie: the lower id must win
  logits[1 * vocab + 500] = 40.0f;
  DeviceBuffer d_logits = ToDevice(logits);
  DeviceBuffer d_token = ToDevice(std::vector<int32_t>(rows, -1));
  DeviceBuffer d_logprob = ToDevice(std::vector<float>(rows, NAN));
  DeviceBuffer d_scratch = ToDevice(std::vector<char>(GreedyScratchBytes(rows, vocab)));
  ASSERT_EQ(LaunchGreedyLogprob(d_logits.as<float>(), rows, vocab, d_token.as<int32_t>(),
                                d_logprob.as<float>(), d_scratch.data(), nullptr),
            cudaSuccess);
  std::vector<int32_t> token = ToHost<int32_t>(d_token, rows);
  std::vector<float> logprob = ToHost<float>(d_logprob, rows);
  for (int r = 0; r < rows; ++r) {
    const float* row = &logits[r * vocab];
    const int32_t expected = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
    EXPECT_EQ(token[r], expected) << "row " << r;
    EXPECT_NEAR(logprob[r], row[expected] - ops::LogSumExp(row, vocab), 1e-4) << "row " << r;
  }
  EXPECT_EQ(token[1], 500);
}

// LaunchDrawTokens against the CPU sampler on the same logits: every filter, several draws per
// row, a vocabulary of Qwen2.5's size and a small one, and rows of exactly equal logits so the
// top-k and top-p boundaries fall among ties.
TEST(CudaDrawTest, DrawsTheCpuSamplersTokensFromTheSameLogits) {
  PONDER_SKIP_WITHOUT_CUDA_DEVICE();
  const std::vector<SamplingParams> settings = {
      {.temperature = 0.0},
      {.temperature = 1.0},
      {.temperature = 0.6, .top_k = 1},
      {.temperature = 0.7, .top_k = 50},
      {.temperature = 1.3, .top_p = 0.9},
      {.temperature = 1.0, .top_p = 0.2},
      {.temperature = 1.0, .min_p = 0.1},
      {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05},
      {.temperature = 2.0, .top_k = 1000, .top_p = 0.5},
  };
  for (int vocab : {151936, 300}) {
    std::mt19937 rng(vocab);
    const int rows = 5;
    std::vector<float> logits = RandomFloats(rows * vocab, rng, 3.0f);
    for (int i = 0; i < vocab; ++i) {  // row 1: quarter steps, so many logits are equal
      logits[vocab + i] = std::round(logits[vocab + i] * 4.0f) / 4.0f;
    }
    logits[3 * vocab + 7] = 25.0f;     // row 3: one token holds almost all the mass
    for (int i = 0; i < vocab; ++i) {  // row 4: -0 and +0 (equal, so ties by id), and some -5
      logits[4 * vocab + i] = i % 3 == 2 ? -5.0f : (i % 2 == 0 ? -0.0f : 0.0f);
    }
    std::vector<DrawParams> draws;
    std::vector<SampledToken> expected;
    for (int r = 0; r < rows; ++r) {
      std::span<const float> row(logits.data() + static_cast<size_t>(r) * vocab, vocab);
      for (size_t k = 0; k < settings.size(); ++k) {
        for (uint64_t step = 0; step < 6; ++step) {
          SamplingParams params = settings[k];
          params.seed = 100 + k;
          const TokenDraw draw{.row = r, .sampling = params, .stream = uint64_t(r), .step = step};
          draws.push_back(DrawParamsOf(draw));
          expected.push_back(SampleToken(row, params, draw.stream, step, 0));
        }
      }
    }
    const int num_draws = static_cast<int>(draws.size());
    DeviceBuffer d_logits = ToDevice(logits);
    DeviceBuffer d_argmax = ToDevice(std::vector<int32_t>(rows, -1));
    DeviceBuffer d_argmax_logprob = ToDevice(std::vector<float>(rows, NAN));
    DeviceBuffer d_scratch = ToDevice(std::vector<char>(GreedyScratchBytes(rows, vocab)));
    DeviceBuffer d_draws = ToDevice(draws);
    ASSERT_EQ(LaunchGreedyLogprob(d_logits.as<float>(), rows, vocab, d_argmax.as<int32_t>(),
                                  d_argmax_logprob.as<float>(), d_scratch.data(), nullptr),
              cudaSuccess);
    // Each probability computed again in every pass, then once into rows of scratch memory
    // (full of NaN: a value read before it was written would show); a block per draw, then on
    // Hopper a cluster of blocks per draw.
    for (const auto& [cached, blocks] :
         {std::pair{false, 1}, std::pair{true, 1}, std::pair{false, kDrawClusterBlocks},
          std::pair{true, kDrawClusterBlocks}}) {
      SCOPED_TRACE(cached ? "computed once" : "computed in every pass");
      SCOPED_TRACE(testing::Message() << blocks << " blocks per draw");
      if (blocks > 1 && !DrawClusters()) continue;
      DeviceBuffer d_probabilities =
          ToDevice(std::vector<float>(cached ? static_cast<size_t>(num_draws) * vocab : 0, NAN));
      DeviceBuffer d_token = ToDevice(std::vector<int32_t>(num_draws, -1));
      DeviceBuffer d_logprob = ToDevice(std::vector<float>(num_draws, NAN));
      ASSERT_EQ(LaunchDrawTokens(d_logits.as<float>(), vocab, d_argmax.as<int32_t>(),
                                 d_argmax_logprob.as<float>(), d_draws.as<DrawParams>(), num_draws,
                                 d_token.as<int32_t>(), d_logprob.as<float>(), nullptr,
                                 cached ? d_probabilities.as<float>() : nullptr, blocks),
                cudaSuccess);
      std::vector<int32_t> token = ToHost<int32_t>(d_token, num_draws);
      std::vector<float> logprob = ToHost<float>(d_logprob, num_draws);
      for (int d = 0; d < num_draws; ++d) {
        EXPECT_EQ(token[d], expected[d].token)
            << "vocab " << vocab << " row " << draws[d].row << " setting "
            << d / 6 % settings.size() << " step " << d % 6;
        EXPECT_NEAR(logprob[d], expected[d].logprob, 1e-4) << "vocab " << vocab << " draw " << d;
      }
    }
    // Neither one block nor a cluster; and a cluster where the device has none.
    DeviceBuffer d_token = ToDevice(std::vector<int32_t>(num_draws, -1));
    DeviceBuffer d_logprob = ToDevice(std::vector<float>(num_draws, NAN));
    for (const int blocks : {3, DrawClusters() ? 3 : kDrawClusterBlocks}) {
      EXPECT_EQ(
          LaunchDrawTokens(d_logits.as<float>(), vocab, d_argmax.as<int32_t>(),
                           d_argmax_logprob.as<float>(), d_draws.as<DrawParams>(), num_draws,
                           d_token.as<int32_t>(), d_logprob.as<float>(), nullptr, nullptr, blocks),
          cudaErrorInvalidValue)
          << blocks << " blocks per draw";
    }
  }
}

}  // namespace
}  // namespace ponder::engine::cuda
