#include "engine/ops/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace ponder::engine::ops::reference {

float WeightAt(const WeightMatrix& w, int64_t row, int64_t col) {
  const uint8_t* data = w.row(row);
  uint16_t bits;
  switch (w.dtype) {
    case DType::kF32: {
      float value;
      std::memcpy(&value, data + 4 * col, sizeof(value));
      return value;
    }
    case DType::kF16:
      std::memcpy(&bits, data + 2 * col, sizeof(bits));
      return HalfToFloat(bits);
    case DType::kBF16:
      std::memcpy(&bits, data + 2 * col, sizeof(bits));
      return BFloat16ToFloat(bits);
    case DType::kQ8_0: {
      const uint8_t* block = data + (col / kQuantBlock) * sizeof(BlockQ8_0);
      std::memcpy(&bits, block, sizeof(bits));
      const auto q = static_cast<int8_t>(block[2 + col % kQuantBlock]);
      return HalfToFloat(bits) * static_cast<float>(q);
    }
    case DType::kQ4_0: {
      const uint8_t* block = data + (col / kQuantBlock) * sizeof(BlockQ4_0);
      std::memcpy(&bits, block, sizeof(bits));
      const int j = static_cast<int>(col % kQuantBlock);
      const uint8_t byte = block[2 + j % (kQuantBlock / 2)];
      const int nibble = j < kQuantBlock / 2 ? (byte & 0x0F) : (byte >> 4);
      return HalfToFloat(bits) * static_cast<float>(nibble - 8);
    }
  }
  return 0.0f;
}

void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t num_tokens, float* out,
            int64_t out_stride) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t c = 0; c < w.cols; ++c) row[c] = WeightAt(w, r, c);
    for (int64_t t = 0; t < num_tokens; ++t) {
      double sum = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * x[t * x_stride + c];
      out[t * out_stride + r] = static_cast<float>(sum);
    }
  }
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const double scale = 1.0 / std::sqrt(sum / n + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] * scale * weight[i]);
}

void SiluMul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    gate[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

float Dot(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(y[i] + static_cast<double>(a) * x[i]);
}

void Scale(float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) * a);
}

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const double max = *std::max_element(x, x + n);
  if (max == -std::numeric_limits<double>::infinity()) {
    for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / static_cast<float>(n);
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::exp(x[i] - max) / sum);
}

float LogSumExp(const float* x, int64_t n) {
  const double max = *std::max_element(x, x + n);
  if (std::isinf(max)) return static_cast<float>(max);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  return static_cast<float>(max + std::log(sum));
}

void ApplyRope(float* head, int64_t head_dim, int64_t pos, const float* inv_freq, RopeStyle style) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(pos) * inv_freq[i];  // float32, as Hugging Face
    const double c = std::cos(static_cast<double>(angle));
    const double s = std::sin(static_cast<double>(angle));
    const int64_t ia = style == RopeStyle::kNeox ? i : 2 * i;
    const int64_t ib = style == RopeStyle::kNeox ? i + half : 2 * i + 1;
    const double a = head[ia], b = head[ib];
    head[ia] = static_cast<float>(a * c - b * s);
    head[ib] = static_cast<float>(b * c + a * s);
  }
}

}  // namespace ponder::engine::ops::reference
