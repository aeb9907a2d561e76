// The vector operations of ops.h (RmsNorm, SiluMul, Dot, Axpy, Scale, Softmax, LogSumExp,
// RoPE), compiled once per SIMD target like matmul.cc. Sums whose accuracy matters downstream
// (norms, softmax denominators) are accumulated in double.

#include <cassert>
#include <cmath>
#include <limits>

#include "engine/ops/ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/ops/vector_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// foreach_target.h must come first.
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace ponder::engine::ops::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
// Half-width float vectors, which widen to one full vector of doubles.
using DD = hn::ScalableTag<double>;
using DFHalf = hn::Rebind<float, DD>;

inline int64_t Lanes(DF df) { return static_cast<int64_t>(hn::Lanes(df)); }

// sum of x[i]^2 in double.
double SumOfSquares(const float* x, int64_t n) {
  const DD dd;
  const DFHalf dh;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(dd));
  auto sum = hn::Zero(dd);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto v = hn::PromoteTo(dd, hn::LoadU(dh, x + i));
    sum = hn::MulAdd(v, v, sum);
  }
  double total = hn::GetLane(hn::SumOfLanes(dd, sum));
  for (; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  return total;
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const DF df;
  // As Hugging Face's LlamaRMSNorm and ggml_rms_norm: (x * rsqrt(mean(x^2) + eps)) * weight.
  const float scale = static_cast<float>(1.0 / std::sqrt(SumOfSquares(x, n) / n + eps));
  const VF vscale = hn::Set(df, scale);
  int64_t i = 0;
  for (; i + Lanes(df) <= n; i += Lanes(df)) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vscale), hn::LoadU(df, weight + i)), df,
               out + i);
  }
  for (; i < n; ++i) out[i] = (x[i] * scale) * weight[i];
}

void SiluMul(float* gate, const float* up, int64_t n) {
  const DF df;
  const VF one = hn::Set(df, 1.0f);
  int64_t i = 0;
  for (; i + Lanes(df) <= n; i += Lanes(df)) {
    const VF g = hn::LoadU(df, gate + i);
    const VF silu = hn::Div(g, hn::Add(one, hn::Exp(df, hn::Neg(g))));
    hn::StoreU(hn::Mul(silu, hn::LoadU(df, up + i)), df, gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float Dot(const float* a, const float* b, int64_t n) {
  const DF df;
  const int64_t lanes = Lanes(df);
  VF sum0 = hn::Zero(df), sum1 = hn::Zero(df), sum2 = hn::Zero(df), sum3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    sum0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), sum0);
    sum1 = hn::MulAdd(hn::LoadU(df, a + i + lanes), hn::LoadU(df, b + i + lanes), sum1);
    sum2 = hn::MulAdd(hn::LoadU(df, a + i + 2 * lanes), hn::LoadU(df, b + i + 2 * lanes), sum2);
    sum3 = hn::MulAdd(hn::LoadU(df, a + i + 3 * lanes), hn::LoadU(df, b + i + 3 * lanes), sum3);
  }
  for (; i + lanes <= n; i += lanes) {
    sum0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), sum0);
  }
  float total = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(sum0, sum1), hn::Add(sum2, sum3))));
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  const DF df;
  const VF va = hn::Set(df, a);
  int64_t i = 0;
  for (; i + Lanes(df) <= n; i += Lanes(df)) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

void Scale(float* x, float a, int64_t n) {
  const DF df;
  const VF va = hn::Set(df, a);
  int64_t i = 0;
  for (; i + Lanes(df) <= n; i += Lanes(df)) {
    hn::StoreU(hn::Mul(hn::LoadU(df, x + i), va), df, x + i);
  }
  for (; i < n; ++i) x[i] *= a;
}

// NaN when any value is NaN (Max and std::max may each drop one), so that it reaches the output.
float MaxValue(const float* x, int64_t n) {
  const DF df;
  int64_t i = 0;
  VF max = hn::Set(df, -std::numeric_limits<float>::infinity());
  auto nan = hn::FirstN(df, 0);
  for (; i + Lanes(df) <= n; i += Lanes(df)) {
    const VF v = hn::LoadU(df, x + i);
    max = hn::Max(max, v);
    nan = hn::Or(nan, hn::IsNaN(v));
  }
  if (!hn::AllFalse(df, nan)) return std::numeric_limits<float>::quiet_NaN();
  float result = hn::GetLane(hn::MaxOfLanes(df, max));
  for (; i < n; ++i) {
    if (std::isnan(x[i])) return std::numeric_limits<float>::quiet_NaN();
    result = std::max(result, x[i]);
  }
  return result;
}

// sum_i exp(x[i] - max) in double; writes the exponentials to `exps` unless it is null.
double SumOfExps(const float* x, int64_t n, float max, float* exps) {
  const DD dd;
  const DFHalf dh;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(dd));
  const auto vmax = hn::Set(dh, max);
  auto sum = hn::Zero(dd);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto e = hn::Exp(dh, hn::Sub(hn::LoadU(dh, x + i), vmax));
    if (exps != nullptr) hn::StoreU(e, dh, exps + i);
    sum = hn::Add(sum, hn::PromoteTo(dd, e));
  }
  double total = hn::GetLane(hn::SumOfLanes(dd, sum));
  for (; i < n; ++i) {
    const float e = std::exp(x[i] - max);
    if (exps != nullptr) exps[i] = e;
    total += e;
  }
  return total;
}

void ApplyRopeCosSin(float* head, int64_t head_dim, const float* cos_table, const float* sin_table,
                     RopeStyle style) {
  const DF df;
  const int64_t half = head_dim / 2;
  int64_t i = 0;
  if (style == RopeStyle::kNeox) {
    float* first = head;
    float* second = head + half;
    for (; i + Lanes(df) <= half; i += Lanes(df)) {
      const VF a = hn::LoadU(df, first + i), b = hn::LoadU(df, second + i);
      const VF c = hn::LoadU(df, cos_table + i), s = hn::LoadU(df, sin_table + i);
      hn::StoreU(hn::NegMulAdd(b, s, hn::Mul(a, c)), df, first + i);
      hn::StoreU(hn::MulAdd(a, s, hn::Mul(b, c)), df, second + i);
    }
    for (; i < half; ++i) {
      const float a = first[i], b = second[i];
      first[i] = a * cos_table[i] - b * sin_table[i];
      second[i] = b * cos_table[i] + a * sin_table[i];
    }
  } else {
    for (; i + Lanes(df) <= half; i += Lanes(df)) {
      VF a, b;
      hn::LoadInterleaved2(df, head + 2 * i, a, b);
      const VF c = hn::LoadU(df, cos_table + i), s = hn::LoadU(df, sin_table + i);
      hn::StoreInterleaved2(hn::NegMulAdd(b, s, hn::Mul(a, c)), hn::MulAdd(a, s, hn::Mul(b, c)), df,
                            head + 2 * i);
    }
    for (; i < half; ++i) {
      const float a = head[2 * i], b = head[2 * i + 1];
      head[2 * i] = a * cos_table[i] - b * sin_table[i];
      head[2 * i + 1] = b * cos_table[i] + a * sin_table[i];
    }
  }
}

}  // namespace ponder::engine::ops::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ponder::engine::ops {

HWY_EXPORT(RmsNorm);
HWY_EXPORT(SiluMul);
HWY_EXPORT(Dot);
HWY_EXPORT(Axpy);
HWY_EXPORT(Scale);
HWY_EXPORT(MaxValue);
HWY_EXPORT(SumOfExps);
HWY_EXPORT(ApplyRopeCosSin);

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  assert(n > 0);
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, weight, n, eps, out);
}

void SiluMul(float* gate, const float* up, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMul)(gate, up, n);
}

float Dot(const float* a, const float* b, int64_t n) { return HWY_DYNAMIC_DISPATCH(Dot)(a, b, n); }

void Axpy(float a, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(Axpy)(a, x, y, n); }

void Scale(float* x, float a, int64_t n) { HWY_DYNAMIC_DISPATCH(Scale)(x, a, n); }

void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float max = HWY_DYNAMIC_DISPATCH(MaxValue)(x, n);
  if (max == -std::numeric_limits<float>::infinity()) {
    // Every value is -inf (all masked): no distribution is defined; use the uniform one
    // rather than NaNs.
    for (int64_t i = 0; i < n; ++i) x[i] = 1.0f / static_cast<float>(n);
    return;
  }
  const double sum = HWY_DYNAMIC_DISPATCH(SumOfExps)(x, n, max, x);
  HWY_DYNAMIC_DISPATCH(Scale)(x, static_cast<float>(1.0 / sum), n);
}

float LogSumExp(const float* x, int64_t n) {
  assert(n > 0);
  const float max = HWY_DYNAMIC_DISPATCH(MaxValue)(x, n);
  if (std::isinf(max)) return max;  // all -inf, or a +inf entry
  const double sum = HWY_DYNAMIC_DISPATCH(SumOfExps)(x, n, max, nullptr);
  return static_cast<float>(static_cast<double>(max) + std::log(sum));
}

void RopeCosSin(int64_t head_dim, int64_t pos, const float* inv_freq, float* cos_out,
                float* sin_out) {
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    // Hugging Face: freqs = inv_freq.float() @ position.float(), a float32 product.
    const float angle = static_cast<float>(pos) * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin_out[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
}

void ApplyRopeCosSin(float* head, int64_t head_dim, const float* cos_table, const float* sin_table,
                     RopeStyle style) {
  assert(head_dim % 2 == 0);
  HWY_DYNAMIC_DISPATCH(ApplyRopeCosSin)(head, head_dim, cos_table, sin_table, style);
}

void ApplyRope(float* head, int64_t head_dim, int64_t pos, const float* inv_freq, RopeStyle style) {
  constexpr int64_t kMaxHalf = 512;
  assert(head_dim / 2 <= kMaxHalf);
  float cos_table[kMaxHalf], sin_table[kMaxHalf];
  RopeCosSin(head_dim, pos, inv_freq, cos_table, sin_table);
  ApplyRopeCosSin(head, head_dim, cos_table, sin_table, style);
}

}  // namespace ponder::engine::ops
#endif  // HWY_ONCE
