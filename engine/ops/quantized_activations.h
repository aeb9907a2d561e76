// Internal to engine/ops: the layout of activations quantized for Q8_0/Q4_0 matrix products.
//
// Per token, three planes over `padded_cols` = cols rounded up to 64 (so one 512-bit vector
// always covers two whole 32-value blocks; the padding is zero and contributes nothing):
//   q:      int8 values, q = round(x / d) with d = max|x_block| / 127;
//   sums:   one int32 per group of 4 values: -offset * (q0 + q1 + q2 + q3), where offset is the
//           bias the VNNI kernels add to make the weight operand unsigned (128 for Q8_0, 8 for
//           Q4_0); only the AVX-512 VNNI target fills and reads it;
//   scales: one float per group of 4 values: the block's d, repeated 8 times per block, so a
//           vector of per-lane scales is one load.
// Every plane is padded_cols bytes, so chunk c of any plane starts at byte c * chunk_bytes.
#ifndef PONDER_ENGINE_OPS_QUANTIZED_ACTIVATIONS_H_
#define PONDER_ENGINE_OPS_QUANTIZED_ACTIVATIONS_H_

#include <cstddef>
#include <cstdint>

namespace ponder::engine::ops::internal {

inline constexpr int64_t kActivationColumnAlign = 64;

struct QuantizedActivations {
  int64_t cols = 0;         // real columns, a multiple of 32
  int64_t padded_cols = 0;  // multiple of kActivationColumnAlign
  uint8_t* data = nullptr;  // 64-byte aligned, token_bytes() per token

  static int64_t PaddedCols(int64_t cols) {
    return (cols + kActivationColumnAlign - 1) / kActivationColumnAlign * kActivationColumnAlign;
  }
  int64_t token_bytes() const { return 3 * padded_cols; }
  int8_t* q(int64_t t) const { return reinterpret_cast<int8_t*>(data + t * token_bytes()); }
  int32_t* sums(int64_t t) const {
    return reinterpret_cast<int32_t*>(data + t * token_bytes() + padded_cols);
  }
  float* scales(int64_t t) const {
    return reinterpret_cast<float*>(data + t * token_bytes() + 2 * padded_cols);
  }
};

}  // namespace ponder::engine::ops::internal

#endif  // PONDER_ENGINE_OPS_QUANTIZED_ACTIVATIONS_H_
