// CPU kernels of the forward pass: matrix products over the weight types the loaders produce,
// and the vector operations around them (norms, activations, softmax, RoPE).
//
// Every kernel is written once with Highway (hwy/highway.h) and compiled for several SIMD
// targets (AVX-512 with VNNI, AVX-512, AVX2, and a portable scalar fallback); the best target the
// CPU supports is chosen at run time, so binaries need no -march flag. SimdTargetName() says which
// one runs.
//
// Promises:
//  - Batch invariance. The value MatMul computes for output (t, r) depends only on row t of x and
//    row r of the weights: not on num_tokens, on t's place in the batch, on the pool size or on
//    how work is split. Every (t, r) is reduced over the columns in the same fixed order (two
//    SIMD accumulators taking alternate column vectors from left to right, then their sum and a
//    fixed horizontal sum); tiling is over tokens and rows only, never over columns. Results are
//    bit-identical run to run on one machine; they may differ between SIMD targets (other vector
//    widths), i.e. between CPUs.
//  - Accuracy against reference_ops.h (double accumulation, dequantize-then-multiply):
//      F32/F16/BF16 weights: |out - ref| <= 1e-5 * sum_c |x_c * W_rc| (float accumulation).
//      Q8_0/Q4_0 weights: the activations are quantized per 32-value block to int8 as llama.cpp
//      does (scale d = max|x| / 127, round to nearest, kept as a float scale), and blocks are
//      multiplied in exact integer arithmetic. The only extra error is that rounding:
//        |out - ref| <= sum_blocks (max|x_block| / 254) * sum_{c in block} |W_rc|
//                       + 1e-5 * sum_c |x_c * W_rc|.
//  - MatMul allocates nothing except, for quantized weights, a per-thread scratch buffer for the
//    quantized activations that grows to the largest batch seen and is then reused.
//
// Preconditions are programming errors, not user errors (the loaders validate shapes), and are
// checked with assert() only.
#ifndef PONDER_ENGINE_OPS_OPS_H_
#define PONDER_ENGINE_OPS_OPS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/model/dtype.h"
#include "engine/ops/thread_pool.h"

namespace ponder::engine::ops {

// A row-major [rows][cols] weight matrix stored in `dtype`, typically pointing into a memory-
// mapped model file. cols must be a multiple of DTypeBlockValues(dtype). No alignment is required.
struct WeightMatrix {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;

  size_t row_bytes() const { return DTypeBytes(dtype, static_cast<uint64_t>(cols)); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
};

// The Linear layer, out = x · Wᵀ:
//   out[t * out_stride + r] = sum_c x[t * x_stride + c] * W[r][c]   for t < num_tokens, r < rows.
// x_stride >= w.cols and out_stride >= w.rows (in floats); x and out must not overlap. Split
// over rows across the pool (tokens are tiled inside each thread so that each loaded weight
// block serves several tokens). Thread-safe: concurrent calls sharing a pool take turns in it.
void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t num_tokens, float* out,
            int64_t out_stride, ThreadPool& pool);

// The same for rows [row_begin, row_end) only, written at out[t * out_stride + (r - row_begin)]
// (a reward head's two rows, a slice of the vocabulary). Values equal those of the full MatMul.
void MatMulRows(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const float* x,
                int64_t x_stride, int64_t num_tokens, float* out, int64_t out_stride,
                ThreadPool& pool);

// out[0..cols) = row `row` of W as floats (exact: every stored value is a float).
void DequantizeRow(const WeightMatrix& w, int64_t row, float* out);

// out = x / sqrt(mean(x^2) + eps) * weight, over n values; out may equal x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void SiluMul(float* gate, const float* up, int64_t n);

float Dot(const float* a, const float* b, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);  // y += a * x
void Scale(float* x, float a, int64_t n);                 // x *= a

// In place: x = exp(x - max) / sum(exp(x - max)), the sum in double. -inf entries (masked)
// get 0; if every entry is -inf the result is uniform rather than NaN.
void Softmax(float* x, int64_t n);
// log(sum_i exp(x_i)), computed as max + log(sum exp(x - max)) with the sum in double; the
// log-softmax of x_i is x_i - LogSumExp(x, n). -inf entries contribute nothing; n must be > 0.
float LogSumExp(const float* x, int64_t n);

// Rotary position embedding on one head vector. inv_freq has head_dim / 2 entries; the angle of
// pair i is float(pos) * inv_freq[i] rounded to float (as Hugging Face computes it), and its
// cosine and sine are computed in double.
//   kNeox (HF rotate_half):              pairs (i, i + head_dim / 2)
//   kInterleaved (GGUF llama, GPT-J):     pairs (2i, 2i + 1)
// Each pair (a, b) becomes (a cos - b sin, b cos + a sin). head_dim is even and at most 1024.
enum class RopeStyle { kNeox, kInterleaved };
void ApplyRope(float* head, int64_t head_dim, int64_t pos, const float* inv_freq, RopeStyle style);
// The same split in two, so a forward pass computes the table once per position and applies it
// to every head: cos_out/sin_out get head_dim / 2 values each.
void RopeCosSin(int64_t head_dim, int64_t pos, const float* inv_freq, float* cos_out,
                float* sin_out);
void ApplyRopeCosSin(float* head, int64_t head_dim, const float* cos_table, const float* sin_table,
                     RopeStyle style);

// Name of the SIMD target the dispatcher chose on this CPU ("AVX3_DL", "AVX2", "SCALAR", ...).
std::string_view SimdTargetName();

}  // namespace ponder::engine::ops

#endif  // PONDER_ENGINE_OPS_OPS_H_
