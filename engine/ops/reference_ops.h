// Slow, obviously correct versions of the kernels in ops.h, for tests only: scalar loops,
// double accumulation, and matrix products that dequantize each weight row (DequantizeRow is
// exact) and multiply it with the unquantized activations. Same signatures and semantics as
// ops.h, minus the thread pool.
#ifndef PONDER_ENGINE_OPS_REFERENCE_OPS_H_
#define PONDER_ENGINE_OPS_REFERENCE_OPS_H_

#include <cstdint>

#include "engine/ops/ops.h"

namespace ponder::engine::ops::reference {

// Scalar decoding of one weight, straight from the block layouts in engine/model/dtype.h.
float WeightAt(const WeightMatrix& w, int64_t row, int64_t col);

void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t num_tokens, float* out,
            int64_t out_stride);
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);
void SiluMul(float* gate, const float* up, int64_t n);
float Dot(const float* a, const float* b, int64_t n);
void Axpy(float a, const float* x, float* y, int64_t n);
void Scale(float* x, float a, int64_t n);
void Softmax(float* x, int64_t n);
float LogSumExp(const float* x, int64_t n);
void ApplyRope(float* head, int64_t head_dim, int64_t pos, const float* inv_freq, RopeStyle style);

}  // namespace ponder::engine::ops::reference

#endif  // PONDER_ENGINE_OPS_REFERENCE_OPS_H_
