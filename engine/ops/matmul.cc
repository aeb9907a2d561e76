// MatMul, MatMulRows, DequantizeRow and SimdTargetName (see ops.h).
//
// This file is compiled once per SIMD target (hwy/foreach_target.h re-includes it); the code
// inside HWY_NAMESPACE is the per-target kernel, the code under HWY_ONCE the dispatching API.
//
// How a product is computed, and why it is batch invariant:
//  - Work is a grid of tiles of up to kTileRows weight rows x kTileTokens tokens. Every
//    (token, row) pair of a tile owns two SIMD accumulators that take the column vectors in
//    turn (vector step s goes to accumulator s % 2; the last step is zero-padded); the result is
//    HorizontalSum(acc0 + acc1), a fixed tree. A smaller tile at an edge, or a one-row decode tile,
//    runs the very same operations on each of its pairs, so no value depends on the tile, the batch
//    or the thread that computed it. (Two chains rather than one hide the FMA latency when a tile
//    is a single pair, as in decode; tests/engine/ops checks the invariance bit for bit.)
//  - Float weights (F32/F16/BF16) are widened to float and multiplied with fused multiply-adds.
//  - Quantized weights (Q8_0/Q4_0) meet activations quantized to int8 blocks (see
//    quantized_activations.h). A "chunk" is the blocks one integer vector holds (two on AVX-512,
//    one on AVX2); its integer dot products are exact, each 32-bit lane holding the sum over four
//    adjacent values, and are then scaled by d_weight * d_activation per lane and accumulated in
//    float (chunk c into accumulator c % 2). AVX-512 VNNI uses vpdpbusd (unsigned x signed
//    bytes): the weight operand is made unsigned by adding 128 (Q8_0) or by using the raw nibble
//    (Q4_0, i.e. value + 8), and the precomputed -offset * sum(x) per lane, used as the starting
//    value, cancels the offset exactly. AVX2/AVX-512 without VNNI use the vpmaddubsw sign trick
//    (|w| times x with w's sign), as ggml does; it stays clear of int16 saturation because
//    |x| <= 127 and |w| <= 128. Other targets use a plain exact integer dot per block.
//  - Loops run over token blocks of kTokenBlock tokens, then row tiles, then token tiles, so a
//    tile of weights is read from memory once per token block and reused from L1 for every
//    token tile, while the token block's activations stay in L2.

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "engine/model/dtype.h"
#include "engine/ops/ops.h"
#include "engine/ops/quantized_activations.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/ops/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h must come first.
#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
// Highway 1.0.3's AVX3_DL target string enables "avxvnni" (the VEX form) but not
// "avx512vnni", which vpdpbusd on 512-bit vectors needs; the target's CPUs have both.
#if HWY_TARGET == HWY_AVX3_DL
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512vnni")
#endif
#endif

namespace ponder::engine::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using internal::QuantizedActivations;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Tile shape: the 2 x kTileRows x kTileTokens accumulators, kTileRows weight vectors and an
// activation vector must fit the register file (32 vector registers on AVX-512, 16 on AVX2);
// 4 x 3 measured best on Zen 5 (against 2 x 4, 4 x 2, 6 x 2). A single token (decode) uses
// one-row tiles instead, so that the weights stream from memory in one sequential run, which the
// hardware prefetchers follow best: several rows at a time, even interleaved by the compiler,
// measured up to 40% slower from DRAM on Zen 5. Multi-row tiles prefetch in software instead.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kTileRows = 4;
constexpr int kTileTokens = 3;
#else
constexpr int kTileRows = 2;
constexpr int kTileTokens = 2;
#endif
constexpr int64_t kTokenBlock = 64;
// The loops over a tile's rows and tokens must be unrolled completely, so that the accumulators
// live in registers (GCC at -O2 leaves them in memory otherwise, 2-3x slower); every such loop
// carries HWY_UNROLL.
constexpr size_t kMaxFloatLanes = HWY_MAX_BYTES / sizeof(float);

int64_t TargetOfThisCode() { return HWY_TARGET; }

// ------------------------------------------------------------------ float weights

template <DType kType>
struct FloatWeights;

template <>
struct FloatWeights<DType::kF32> {
  using Storage = float;
  static VF Load(DF df, const uint8_t* row, int64_t k) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
  }
};

// F16 and BF16: 16-bit lanes of Highway type `Lane`, widened to float.
template <typename Lane>
struct HalfWidthWeights {
  using Storage = uint16_t;
  static VF Load(DF df, const uint8_t* row, int64_t k) {
    const hn::Rebind<Lane, DF> d16;
    return hn::PromoteTo(df, hn::LoadU(d16, reinterpret_cast<const Lane*>(row) + k));
  }
};
template <>
struct FloatWeights<DType::kF16> : HalfWidthWeights<hwy::float16_t> {};
template <>
struct FloatWeights<DType::kBF16> : HalfWidthWeights<hwy::bfloat16_t> {};

// Rows of a tile after the first are fetched from memory as separate streams, which the
// hardware prefetchers follow poorly; tiles of several rows therefore prefetch the same
// position of the next tile's rows in software.
// The address is formed as an integer: past the last tile it points at no object, and a
// prefetch of it is harmless.
template <int R>
HWY_INLINE void PrefetchNextTile(const uint8_t* p, size_t row_bytes) {
  if constexpr (R > 1) {
    hwy::Prefetch(reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(p) + R * row_bytes));
  }
}

// One vector step of a float tile: acc[r][t] += W[r][k, k + lanes) * x[t][k, k + lanes).
template <DType kType, int R, int T, bool kPrefetch = true>
HWY_INLINE void FloatStep(const uint8_t* w0, size_t row_bytes, const float* x0, int64_t x_stride,
                          int64_t k, VF (&acc)[R][T]) {
  using Weights = FloatWeights<kType>;
  const DF df;
  VF w[R];
  HWY_UNROLL(8)
  for (int r = 0; r < R; ++r) {
    if constexpr (kPrefetch) {
      PrefetchNextTile<R>(w0 + r * row_bytes + k * sizeof(typename Weights::Storage), row_bytes);
    }
    w[r] = Weights::Load(df, w0 + r * row_bytes, k);
  }
  HWY_UNROLL(8)
  for (int t = 0; t < T; ++t) {
    const VF x = hn::LoadU(df, x0 + t * x_stride + k);
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) acc[r][t] = hn::MulAdd(w[r], x, acc[r][t]);
  }
}

// The last, partial vector step on zero-padded copies: the padding lanes add exact zeros.
template <DType kType, int R, int T>
HWY_INLINE void PaddedFloatStep(const uint8_t* w0, size_t row_bytes, const float* x0,
                                int64_t x_stride, int64_t k, int64_t cols, VF (&acc)[R][T]) {
  using Storage = typename FloatWeights<kType>::Storage;
  const size_t rest = static_cast<size_t>(cols - k);
  HWY_ALIGN Storage w_pad[R][kMaxFloatLanes] = {};
  HWY_ALIGN float x_pad[T][kMaxFloatLanes] = {};
  HWY_UNROLL(8)
  for (int r = 0; r < R; ++r) {
    std::memcpy(w_pad[r], w0 + r * row_bytes + k * sizeof(Storage), rest * sizeof(Storage));
  }
  HWY_UNROLL(8)
  for (int t = 0; t < T; ++t) std::memcpy(x_pad[t], x0 + t * x_stride + k, rest * sizeof(float));
  FloatStep<kType, R, T, /*kPrefetch=*/false>(reinterpret_cast<const uint8_t*>(w_pad),
                                              sizeof(w_pad[0]), x_pad[0], kMaxFloatLanes, 0, acc);
}

// The reduction every (token, row) pair follows, whatever the tile: two accumulators take the
// vector steps alternately (two dependency chains hide the FMA latency when a tile is a single
// pair), the last step zero-padded; the result is HorizontalSum(acc0 + acc1).
template <int R, int T>
HWY_INLINE void CombineAccumulators(const VF (&acc0)[R][T], const VF (&acc1)[R][T],
                                    VF (&sums)[R][T]) {
  HWY_UNROLL(8)
  for (int r = 0; r < R; ++r) {
    HWY_UNROLL(8)
    for (int t = 0; t < T; ++t) sums[r][t] = hn::Add(acc0[r][t], acc1[r][t]);
  }
}

// The sum of a vector's lanes by a fixed tree (halves, then quarters, then (0+2, 1+3), then
// 0+1), spelled out rather than left to _mm512_reduce_add_ps, whose order is the compiler's.
HWY_INLINE float HorizontalSum(VF v) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m256 halves =
      _mm256_add_ps(_mm512_castps512_ps256(v.raw), _mm512_extractf32x8_ps(v.raw, 1));
  const __m128 quarters =
      _mm_add_ps(_mm256_castps256_ps128(halves), _mm256_extractf128_ps(halves, 1));
  const __m128 pairs = _mm_add_ps(quarters, _mm_movehl_ps(quarters, quarters));
  return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)));
#elif HWY_TARGET == HWY_AVX2
  const __m128 quarters =
      _mm_add_ps(_mm256_castps256_ps128(v.raw), _mm256_extractf128_ps(v.raw, 1));
  const __m128 pairs = _mm_add_ps(quarters, _mm_movehl_ps(quarters, quarters));
  return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)));
#else
  return hn::GetLane(hn::SumOfLanes(DF(), v));
#endif
}

template <int R, int T>
HWY_INLINE void StoreSums(const VF (&sums)[R][T], float* out0, int64_t out_stride) {
  HWY_UNROLL(8)
  for (int t = 0; t < T; ++t) {
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) out0[t * out_stride + r] = HorizontalSum(sums[r][t]);
  }
}

template <int R, int T>
HWY_INLINE void ZeroAccumulators(VF (&acc)[R][T]) {
  HWY_UNROLL(8)
  for (int r = 0; r < R; ++r) {
    HWY_UNROLL(8)
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(DF());
  }
}

// One tile of a float-weight product: sums[r][t] = acc0 + acc1 of row r and token t.
// w0: first row of the tile; x0: first token's activations.
template <DType kType, int R, int T>
HWY_INLINE void FloatTile(const uint8_t* w0, size_t row_bytes, int64_t cols, const float* x0,
                          int64_t x_stride, VF (&sums)[R][T]) {
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(DF()));
  VF acc0[R][T], acc1[R][T];
  ZeroAccumulators(acc0);
  ZeroAccumulators(acc1);
  int64_t k = 0;
  for (; k + 2 * lanes <= cols; k += 2 * lanes) {
    FloatStep<kType, R, T>(w0, row_bytes, x0, x_stride, k, acc0);
    FloatStep<kType, R, T>(w0, row_bytes, x0, x_stride, k + lanes, acc1);
  }
  if (k + lanes <= cols) {
    FloatStep<kType, R, T>(w0, row_bytes, x0, x_stride, k, acc0);
    k += lanes;
    if (k < cols) PaddedFloatStep<kType, R, T>(w0, row_bytes, x0, x_stride, k, cols, acc1);
  } else if (k < cols) {
    PaddedFloatStep<kType, R, T>(w0, row_bytes, x0, x_stride, k, cols, acc0);
  }
  CombineAccumulators(acc0, acc1, sums);
}

// ------------------------------------------------------------------ quantized weights

constexpr size_t BlockBytes(DType type) {
  return type == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
}

inline uint16_t LoadScaleBits(const uint8_t* block) {
  uint16_t bits;
  std::memcpy(&bits, block, sizeof(bits));
  return bits;
}

#undef PONDER_OPS_X86_QUANT
#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
#define PONDER_OPS_X86_QUANT 1
#endif

#ifdef PONDER_OPS_X86_QUANT

using DI32 = hn::ScalableTag<int32_t>;
#if HWY_TARGET == HWY_AVX2
using RawInt = __m256i;
constexpr int64_t kBlocksPerChunk = 1;
#else
using RawInt = __m512i;
constexpr int64_t kBlocksPerChunk = 2;
#endif
constexpr int64_t kChunkValues = kBlocksPerChunk * kQuantBlock;
static_assert(kChunkValues <= internal::kActivationColumnAlign);

// Per-lane weight scales of the chunk starting at `block`: each block's fp16 d, widened, in the
// 8 float lanes that hold its partial sums.
HWY_INLINE VF ChunkWeightScales(const uint8_t* block, size_t block_bytes) {
  const __m128i d0 = _mm_set1_epi16(static_cast<short>(LoadScaleBits(block)));
#if HWY_TARGET == HWY_AVX2
  (void)block_bytes;
  return VF{_mm256_cvtph_ps(d0)};
#else
  const __m128i d1 = _mm_set1_epi16(static_cast<short>(LoadScaleBits(block + block_bytes)));
  return VF{_mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(d0), d1, 1))};
#endif
}

// The chunk's Q8_0 values as int8, in value order.
HWY_INLINE RawInt LoadQ8Values(const uint8_t* block) {
  const uint8_t* q0 = block + offsetof(BlockQ8_0, q);
#if HWY_TARGET == HWY_AVX2
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0));
#else
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0 + sizeof(BlockQ8_0)));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
#endif
}

// The chunk's Q4_0 nibbles (0..15, i.e. value + 8) as bytes, in value order: a block's byte j
// holds value j in its low nibble and value j + 16 in its high nibble.
HWY_INLINE RawInt LoadQ4Nibbles(const uint8_t* block) {
  const uint8_t* q0 = block + offsetof(BlockQ4_0, q);
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q0));
#if HWY_TARGET == HWY_AVX2
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_srli_epi16(a, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
#else
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q0 + sizeof(BlockQ4_0)));
  const __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
  // 128-bit lanes a, a, b, b; the second copy of each is shifted down to its high nibbles.
  const __m512i aabb = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3),
                                                _mm512_castsi256_si512(ab));
  const __m512i shifted = _mm512_mask_srli_epi16(aabb, 0xFF00FF00u, aabb, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
#endif
}

// A chunk of weights in the form the dot product consumes, decoded once per tile and reused for
// every token of the tile.
struct PreparedChunk {
  RawInt operand;  // VNNI: the unsigned operand (value + offset); otherwise |value|
#if HWY_TARGET == HWY_AVX3
  __mmask64 negative;  // lanes where the value is negative
#elif HWY_TARGET == HWY_AVX2
  RawInt values;  // signed values, whose signs _mm256_sign_epi8 transfers to x
#endif
  VF scales;
};

template <DType kType>
HWY_INLINE PreparedChunk PrepareChunk(const uint8_t* block) {
  PreparedChunk chunk;
  chunk.scales = ChunkWeightScales(block, BlockBytes(kType));
#if HWY_TARGET == HWY_AVX3_DL
  if constexpr (kType == DType::kQ8_0) {
    chunk.operand =
        _mm512_xor_si512(LoadQ8Values(block), _mm512_set1_epi8(static_cast<char>(0x80)));
  } else {
    chunk.operand = LoadQ4Nibbles(block);
  }
#else
  RawInt values;
  if constexpr (kType == DType::kQ8_0) {
    values = LoadQ8Values(block);
  } else {
#if HWY_TARGET == HWY_AVX2
    values = _mm256_sub_epi8(LoadQ4Nibbles(block), _mm256_set1_epi8(8));
#else
    values = _mm512_sub_epi8(LoadQ4Nibbles(block), _mm512_set1_epi8(8));
#endif
  }
#if HWY_TARGET == HWY_AVX2
  chunk.operand = _mm256_abs_epi8(values);
  chunk.values = values;
#else
  chunk.operand = _mm512_abs_epi8(values);
  chunk.negative = _mm512_movepi8_mask(values);
#endif
#endif  // HWY_TARGET == HWY_AVX3_DL
  return chunk;
}

struct ActivationChunk {
  RawInt q;
#if HWY_TARGET == HWY_AVX3_DL
  RawInt offset_sums;
#endif
  VF scales;
};

HWY_INLINE ActivationChunk LoadActivationChunk(const QuantizedActivations& act, int64_t token,
                                               int64_t chunk_index) {
  const int64_t byte_offset = chunk_index * kChunkValues;  // same in every plane
  ActivationChunk chunk;
  const auto* q = reinterpret_cast<const RawInt*>(act.q(token) + byte_offset);
#if HWY_TARGET == HWY_AVX2
  chunk.q = _mm256_load_si256(q);
#else
  chunk.q = _mm512_load_si512(q);
#endif
#if HWY_TARGET == HWY_AVX3_DL
  chunk.offset_sums =
      _mm512_load_si512(reinterpret_cast<const uint8_t*>(act.sums(token)) + byte_offset);
#endif
  chunk.scales = hn::Load(DF(), act.scales(token) + byte_offset / 4);
  return chunk;
}

// Exact integer partial dot products of one chunk (lane j: values 4j..4j+3), as floats.
HWY_INLINE VF ChunkDot(const PreparedChunk& w, const ActivationChunk& x) {
#if HWY_TARGET == HWY_AVX3_DL
  const RawInt sums = _mm512_dpbusd_epi32(x.offset_sums, w.operand, x.q);
#elif HWY_TARGET == HWY_AVX3
  const RawInt signed_x = _mm512_mask_sub_epi8(x.q, w.negative, _mm512_setzero_si512(), x.q);
  const RawInt sums =
      _mm512_madd_epi16(_mm512_maddubs_epi16(w.operand, signed_x), _mm512_set1_epi16(1));
#else
  const RawInt sums = _mm256_madd_epi16(
      _mm256_maddubs_epi16(w.operand, _mm256_sign_epi8(x.q, w.values)), _mm256_set1_epi16(1));
#endif
  return hn::ConvertTo(DF(), hn::Vec<DI32>{sums});
}

template <DType kType, int R, int T, bool kPrefetch = true>
HWY_INLINE void AccumulateChunk(const uint8_t* const* chunk_rows, size_t row_bytes,
                                int64_t chunk_index, const QuantizedActivations& act, int64_t t0,
                                VF (&acc)[R][T]) {
  PreparedChunk w[R];
  HWY_UNROLL(8)
  for (int r = 0; r < R; ++r) {
    if constexpr (kPrefetch) PrefetchNextTile<R>(chunk_rows[r], row_bytes);
    w[r] = PrepareChunk<kType>(chunk_rows[r]);
  }
  HWY_UNROLL(8)
  for (int t = 0; t < T; ++t) {
    const ActivationChunk x = LoadActivationChunk(act, t0 + t, chunk_index);
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) {
      acc[r][t] = hn::MulAdd(ChunkDot(w[r], x), hn::Mul(w[r].scales, x.scales), acc[r][t]);
    }
  }
}

// Chunk c of every (token, row) pair goes to accumulator c % 2, as in FloatTile.
template <DType kType, int R, int T>
HWY_INLINE void QuantTile(const uint8_t* w0, size_t row_bytes, int64_t num_blocks,
                          const QuantizedActivations& act, int64_t t0, VF (&sums)[R][T]) {
  constexpr size_t kChunkBytes = kBlocksPerChunk * BlockBytes(kType);
  VF acc0[R][T], acc1[R][T];
  ZeroAccumulators(acc0);
  ZeroAccumulators(acc1);
  const int64_t full_chunks = num_blocks / kBlocksPerChunk;
  const uint8_t* rows[R];
  HWY_UNROLL(8)
  for (int r = 0; r < R; ++r) rows[r] = w0 + r * row_bytes;
  int64_t c = 0;
  for (; c + 2 <= full_chunks; c += 2) {
    AccumulateChunk<kType, R, T>(rows, row_bytes, c, act, t0, acc0);
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) rows[r] += kChunkBytes;
    AccumulateChunk<kType, R, T>(rows, row_bytes, c + 1, act, t0, acc1);
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) rows[r] += kChunkBytes;
  }
  if (c < full_chunks) {
    AccumulateChunk<kType, R, T>(rows, row_bytes, c, act, t0, acc0);
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) rows[r] += kChunkBytes;
    ++c;
  }
  if (full_chunks * kBlocksPerChunk < num_blocks) {
    // An odd last block on AVX-512: pad the chunk with an all-zero block (scale 0), which adds
    // exact zeros; the activations' padding is zero too.
    uint8_t padded[R][kChunkBytes] = {};
    const uint8_t* padded_rows[R];
    HWY_UNROLL(8)
    for (int r = 0; r < R; ++r) {
      std::memcpy(padded[r], rows[r], BlockBytes(kType));
      padded_rows[r] = padded[r];
    }
    if (c % 2 == 0) {
      AccumulateChunk<kType, R, T, false>(padded_rows, kChunkBytes, c, act, t0, acc0);
    } else {
      AccumulateChunk<kType, R, T, false>(padded_rows, kChunkBytes, c, act, t0, acc1);
    }
  }
  CombineAccumulators(acc0, acc1, sums);
}

#else  // !PONDER_OPS_X86_QUANT: portable exact integer dot per block.

template <DType kType>
inline float DecodeBlock(const uint8_t* block, int8_t* values) {
  if constexpr (kType == DType::kQ8_0) {
    std::memcpy(values, block + offsetof(BlockQ8_0, q), kQuantBlock);
  } else {
    const uint8_t* packed = block + offsetof(BlockQ4_0, q);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
      values[j] = static_cast<int8_t>((packed[j] & 0x0F) - 8);
      values[j + kQuantBlock / 2] = static_cast<int8_t>((packed[j] >> 4) - 8);
    }
  }
  return HalfToFloat(LoadScaleBits(block));
}

// Block b of every (token, row) pair goes to scalar accumulator b % 2; the sum acc0 + acc1 is
// returned in lane 0 of a vector whose other lanes are zero, so its HorizontalSum is exact.
template <DType kType, int R, int T>
HWY_INLINE void QuantTile(const uint8_t* w0, size_t row_bytes, int64_t num_blocks,
                          const QuantizedActivations& act, int64_t t0, VF (&sums)[R][T]) {
  constexpr size_t kBlockBytes = BlockBytes(kType);
  float acc[2][R][T] = {};
  for (int64_t b = 0; b < num_blocks; ++b) {
    int8_t w[R][kQuantBlock];
    float w_scale[R];
    for (int r = 0; r < R; ++r) {
      w_scale[r] = DecodeBlock<kType>(w0 + r * row_bytes + b * kBlockBytes, w[r]);
    }
    for (int t = 0; t < T; ++t) {
      const int8_t* x = act.q(t0 + t) + b * kQuantBlock;
      const float x_scale = act.scales(t0 + t)[b * 8];
      for (int r = 0; r < R; ++r) {
        int32_t sum = 0;
        for (int j = 0; j < kQuantBlock; ++j) sum += int32_t{w[r][j]} * int32_t{x[j]};
        acc[b % 2][r][t] += (w_scale[r] * x_scale) * static_cast<float>(sum);
      }
    }
  }
  const DF df;
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) {
      sums[r][t] = hn::IfThenElseZero(hn::FirstN(df, 1), hn::Set(df, acc[0][r][t] + acc[1][r][t]));
    }
  }
}

#endif  // PONDER_OPS_X86_QUANT

// ------------------------------------------------------------------ activation quantization

// Quantizes tokens [t_begin, t_end) of x into `act` (layout in quantized_activations.h), the way
// llama.cpp's quantize_row_q8_0 does, except that the scale stays a float.
void QuantizeActivationRows(const float* x, int64_t x_stride, int64_t t_begin, int64_t t_end,
                            DType weight_type, const QuantizedActivations& act) {
  const hn::CappedTag<float, kQuantBlock> df;
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t blocks = act.cols / kQuantBlock;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* xt = x + t * x_stride;
    int8_t* q = act.q(t);
    float* scales = act.scales(t);
    for (int64_t b = 0; b < blocks; ++b) {
      const float* xb = xt + b * kQuantBlock;
      auto max_abs = hn::Zero(df);
      for (int64_t j = 0; j < kQuantBlock; j += lanes) {
        max_abs = hn::Max(max_abs, hn::Abs(hn::LoadU(df, xb + j)));
      }
      const float scale = hn::GetLane(hn::MaxOfLanes(df, max_abs)) / 127.0f;
      const auto inverse = hn::Set(df, scale != 0.0f ? 1.0f / scale : 0.0f);
      for (int64_t j = 0; j < kQuantBlock; j += lanes) {
        auto qi = hn::NearestInt(hn::Mul(hn::LoadU(df, xb + j), inverse));
        qi = hn::Min(hn::Max(qi, hn::Set(di, -127)), hn::Set(di, 127));
        hn::StoreU(hn::DemoteTo(d8, qi), d8, q + b * kQuantBlock + j);
      }
      std::fill_n(scales + b * 8, 8, scale);
    }
    std::memset(q + act.cols, 0, static_cast<size_t>(act.padded_cols - act.cols));
    std::fill(scales + act.cols / 4, scales + act.padded_cols / 4, 0.0f);
#if HWY_TARGET == HWY_AVX3_DL
    // offset_sums = -offset * (sum of each 4 values), via vpdpbusd with `offset` as unsigned bytes.
    const int offset = weight_type == DType::kQ8_0 ? 128 : 8;
    const __m512i offsets = _mm512_set1_epi8(static_cast<char>(offset));
    for (int64_t c = 0; c < act.padded_cols; c += 64) {
      const __m512i values = _mm512_load_si512(q + c);
      const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), offsets, values);
      _mm512_store_si512(reinterpret_cast<uint8_t*>(act.sums(t)) + c,
                         _mm512_sub_epi32(_mm512_setzero_si512(), sums));
    }
#else
    (void)weight_type;
#endif
  }
}

// ------------------------------------------------------------------ tiling

// sums[r][t] of the tile at (row, t0); see CombineAccumulators.
template <DType kType, int R, int T>
HWY_INLINE void TileSums(const WeightMatrix& w, int64_t row, const float* x, int64_t x_stride,
                         const QuantizedActivations* act, int64_t t0, VF (&sums)[R][T]) {
  const size_t row_bytes = w.row_bytes();
  if constexpr (kType == DType::kQ8_0 || kType == DType::kQ4_0) {
    QuantTile<kType, R, T>(w.row(row), row_bytes, w.cols / kQuantBlock, *act, t0, sums);
  } else {
    FloatTile<kType, R, T>(w.row(row), row_bytes, w.cols, x + t0 * x_stride, x_stride, sums);
  }
}

template <DType kType, int R, int T>
HWY_INLINE void Tile(const WeightMatrix& w, int64_t row, const float* x, int64_t x_stride,
                     const QuantizedActivations* act, int64_t t0, float* out0, int64_t out_stride) {
  VF sums[R][T];
  TileSums<kType, R, T>(w, row, x, x_stride, act, t0, sums);
  StoreSums(sums, out0, out_stride);
}

// Tokens [t_begin, t_end) against rows [row, row + R): full token tiles, then one smaller tile.
template <DType kType, int R, int T = kTileTokens>
HWY_INLINE void TokenTiles(const WeightMatrix& w, int64_t row, const float* x, int64_t x_stride,
                           const QuantizedActivations* act, int64_t t_begin, int64_t t_end,
                           float* out, int64_t out_stride) {
  int64_t t = t_begin;
  for (; t + T <= t_end; t += T) {
    Tile<kType, R, T>(w, row, x, x_stride, act, t, out + t * out_stride, out_stride);
  }
  if constexpr (T > 1) {
    if (t < t_end) {
      TokenTiles<kType, R, T - 1>(w, row, x, x_stride, act, t, t_end, out, out_stride);
    }
  }
}

template <DType kType>
void MatMulChunkTyped(const WeightMatrix& w, int64_t row_begin, int64_t row_end,
                      int64_t out_first_row, const float* x, int64_t x_stride,
                      const QuantizedActivations* act, int64_t num_tokens, float* out,
                      int64_t out_stride) {
  for (int64_t t_begin = 0; t_begin < num_tokens; t_begin += kTokenBlock) {
    const int64_t t_end = std::min(num_tokens, t_begin + kTokenBlock);
    int64_t row = row_begin;
    if (t_end - t_begin == 1) {
      for (; row < row_end; ++row) {
        Tile<kType, 1, 1>(w, row, x, x_stride, act, t_begin,
                          out + (row - out_first_row) + t_begin * out_stride, out_stride);
      }
    }
    for (; row + kTileRows <= row_end; row += kTileRows) {
      TokenTiles<kType, kTileRows>(w, row, x, x_stride, act, t_begin, t_end,
                                   out + (row - out_first_row), out_stride);
    }
    for (; row < row_end; ++row) {
      TokenTiles<kType, 1>(w, row, x, x_stride, act, t_begin, t_end, out + (row - out_first_row),
                           out_stride);
    }
  }
}

// Rows [row_begin, row_end) of the product for all tokens; row r of token t goes to
// out[t * out_stride + r - out_first_row].
void MatMulChunk(const WeightMatrix& w, int64_t row_begin, int64_t row_end, int64_t out_first_row,
                 const float* x, int64_t x_stride, const QuantizedActivations* act,
                 int64_t num_tokens, float* out, int64_t out_stride) {
#define PONDER_OPS_MATMUL_CASE(type)                                                      \
  case type:                                                                              \
    return MatMulChunkTyped<type>(w, row_begin, row_end, out_first_row, x, x_stride, act, \
                                  num_tokens, out, out_stride);
  switch (w.dtype) {
    PONDER_OPS_MATMUL_CASE(DType::kF32)
    PONDER_OPS_MATMUL_CASE(DType::kF16)
    PONDER_OPS_MATMUL_CASE(DType::kBF16)
    PONDER_OPS_MATMUL_CASE(DType::kQ8_0)
    PONDER_OPS_MATMUL_CASE(DType::kQ4_0)
  }
#undef PONDER_OPS_MATMUL_CASE
}

}  // namespace ponder::engine::ops::HWY_NAMESPACE

#if HWY_TARGET == HWY_AVX3_DL
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ponder::engine::ops {

HWY_EXPORT(TargetOfThisCode);
HWY_EXPORT(QuantizeActivationRows);
HWY_EXPORT(MatMulChunk);

namespace {

bool IsQuantized(DType dtype) { return dtype == DType::kQ8_0 || dtype == DType::kQ4_0; }

// The calling thread's buffer for quantized activations: grows to the largest batch seen, then
// is reused, so steady-state MatMul calls allocate nothing.
uint8_t* ActivationScratch(size_t bytes) {
  thread_local hwy::AlignedFreeUniquePtr<uint8_t[]> buffer;
  thread_local size_t capacity = 0;
  if (bytes > capacity) {
    capacity = std::max(bytes, capacity * 2);
    buffer = hwy::AllocateAligned<uint8_t>(capacity);
  }
  return buffer.get();
}

// Below this many activation values, quantizing on the calling thread beats a fork/join.
constexpr int64_t kParallelQuantizeValues = 1 << 16;

}  // namespace

void MatMulRows(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const float* x,
                int64_t x_stride, int64_t num_tokens, float* out, int64_t out_stride,
                ThreadPool& pool) {
  assert(w.cols > 0 && w.cols % DTypeBlockValues(w.dtype) == 0);
  assert(0 <= row_begin && row_begin <= row_end && row_end <= w.rows);
  assert(num_tokens <= 1 || (x_stride >= w.cols && out_stride >= row_end - row_begin));
  if (num_tokens <= 0 || row_begin >= row_end) return;

  internal::QuantizedActivations act;
  const internal::QuantizedActivations* act_ptr = nullptr;
  if (IsQuantized(w.dtype)) {
    act.cols = w.cols;
    act.padded_cols = internal::QuantizedActivations::PaddedCols(w.cols);
    act.data = ActivationScratch(static_cast<size_t>(num_tokens * act.token_bytes()));
    if (num_tokens * w.cols >= kParallelQuantizeValues) {
      pool.ParallelFor(num_tokens, 1, [&](int64_t begin, int64_t end) {
        HWY_DYNAMIC_DISPATCH(QuantizeActivationRows)(x, x_stride, begin, end, w.dtype, act);
      });
    } else {
      HWY_DYNAMIC_DISPATCH(QuantizeActivationRows)(x, x_stride, 0, num_tokens, w.dtype, act);
    }
    act_ptr = &act;
  }
  pool.ParallelFor(row_end - row_begin, 4, [&](int64_t begin, int64_t end) {
    HWY_DYNAMIC_DISPATCH(MatMulChunk)
    (w, row_begin + begin, row_begin + end, row_begin, x, x_stride, act_ptr, num_tokens, out,
     out_stride);
  });
}

void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t num_tokens, float* out,
            int64_t out_stride, ThreadPool& pool) {
  MatMulRows(w, 0, w.rows, x, x_stride, num_tokens, out, out_stride, pool);
}

void DequantizeRow(const WeightMatrix& w, int64_t row, float* out) {
  assert(0 <= row && row < w.rows);
  const uint8_t* data = w.row(row);
  const int64_t cols = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, data, static_cast<size_t>(cols) * sizeof(float));
      return;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t c = 0; c < cols; ++c) {
        uint16_t bits;
        std::memcpy(&bits, data + 2 * c, sizeof(bits));
        out[c] = w.dtype == DType::kF16 ? HalfToFloat(bits) : BFloat16ToFloat(bits);
      }
      return;
    case DType::kQ8_0:
      for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
        BlockQ8_0 block;
        std::memcpy(&block, data + b * sizeof(BlockQ8_0), sizeof(block));
        const float scale = HalfToFloat(block.d);
        for (int j = 0; j < kQuantBlock; ++j) out[b * kQuantBlock + j] = scale * block.q[j];
      }
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
        BlockQ4_0 block;
        std::memcpy(&block, data + b * sizeof(BlockQ4_0), sizeof(block));
        const float scale = HalfToFloat(block.d);
        float* values = out + b * kQuantBlock;
        for (int j = 0; j < kQuantBlock / 2; ++j) {
          values[j] = scale * static_cast<float>((block.q[j] & 0x0F) - 8);
          values[j + kQuantBlock / 2] = scale * static_cast<float>((block.q[j] >> 4) - 8);
        }
      }
      return;
  }
}

std::string_view SimdTargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetOfThisCode)());
}

}  // namespace ponder::engine::ops
#endif  // HWY_ONCE
