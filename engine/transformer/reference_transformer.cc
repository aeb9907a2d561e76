#include "engine/transformer/reference_transformer.h"

#include <cmath>

#include "engine/model/dtype.h"

namespace ponder::engine {
namespace {

using Vector = std::vector<double>;

// Value (r, c) of a stored matrix, decoded straight from the dtype's definition.
double At(const ops::WeightMatrix& m, int64_t r, int64_t c) {
  const uint8_t* row = m.data + r * static_cast<int64_t>(DTypeBytes(m.dtype, m.cols));
  switch (m.dtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, row + 4 * c, 4);
      return v;
    }
    case DType::kF16: {
      uint16_t v;
      std::memcpy(&v, row + 2 * c, 2);
      return HalfToFloat(v);
    }
    case DType::kBF16: {
      uint16_t v;
      std::memcpy(&v, row + 2 * c, 2);
      return BFloat16ToFloat(v);
    }
    case DType::kQ8_0: {
      BlockQ8_0 block;
      std::memcpy(&block, row + (c / kQuantBlock) * sizeof(BlockQ8_0), sizeof(block));
      return static_cast<double>(HalfToFloat(block.d)) * block.q[c % kQuantBlock];
    }
    case DType::kQ4_0: {
      BlockQ4_0 block;
      std::memcpy(&block, row + (c / kQuantBlock) * sizeof(BlockQ4_0), sizeof(block));
      int j = c % kQuantBlock;
      int nibble = j < kQuantBlock / 2 ? (block.q[j] & 0xf) : (block.q[j - kQuantBlock / 2] >> 4);
      return static_cast<double>(HalfToFloat(block.d)) * (nibble - 8);
    }
  }
  return 0;
}

Vector Linear(const ops::WeightMatrix& w, const Vector& x) {
  Vector y(w.rows, 0.0);
  for (int64_t r = 0; r < w.rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < w.cols; ++c) sum += At(w, r, c) * x[c];
    y[r] = sum;
  }
  return y;
}

Vector RmsNorm(const Vector& x, const std::vector<float>& weight, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  double inv = 1.0 / std::sqrt(ss / x.size() + eps);
  Vector y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * weight[i];
  return y;
}

// Hugging Face's apply_rotary_pos_emb with rotate_half, on one head of size d, or its
// interleaved-pair equivalent for GGUF llama's permuted Q/K.
void Rope(double* head, int d, int64_t pos, const std::vector<float>& inv_freq, RopeStyle style) {
  for (int i = 0; i < d / 2; ++i) {
    double angle = static_cast<double>(pos) * inv_freq[i];
    double cos = std::cos(angle), sin = std::sin(angle);
    int a = style == RopeStyle::kNeox ? i : 2 * i;
    int b = style == RopeStyle::kNeox ? i + d / 2 : 2 * i + 1;
    double x0 = head[a], x1 = head[b];
    head[a] = x0 * cos - x1 * sin;
    head[b] = x1 * cos + x0 * sin;
  }
}

}  // namespace

std::vector<std::vector<float>> ReferenceLogits(const ModelWeights& weights,
                                                std::span<const int32_t> tokens) {
  const ModelConfig& c = weights.config();
  const int D = c.head_dim, group = c.num_heads / c.num_kv_heads;
  const size_t T = tokens.size();
  std::vector<Vector> x(T, Vector(c.hidden_size));
  for (size_t t = 0; t < T; ++t) {
    for (int i = 0; i < c.hidden_size; ++i) x[t][i] = At(weights.token_embedding(), tokens[t], i);
  }
  for (const LayerWeights& layer : weights.layers()) {
    std::vector<Vector> q(T), k(T), v(T);
    for (size_t t = 0; t < T; ++t) {
      Vector h = RmsNorm(x[t], layer.attention_norm, c.rms_norm_eps);
      q[t] = Linear(layer.wq, h);
      k[t] = Linear(layer.wk, h);
      v[t] = Linear(layer.wv, h);
      if (c.attention_bias) {
        for (int i = 0; i < c.q_size(); ++i) q[t][i] += layer.bq[i];
        for (int i = 0; i < c.kv_size(); ++i) k[t][i] += layer.bk[i];
        for (int i = 0; i < c.kv_size(); ++i) v[t][i] += layer.bv[i];
      }
      for (int h2 = 0; h2 < c.num_heads; ++h2) {
        if (c.qk_norm) {
          Vector head(q[t].begin() + h2 * D, q[t].begin() + (h2 + 1) * D);
          head = RmsNorm(head, layer.q_norm, c.rms_norm_eps);
          std::copy(head.begin(), head.end(), q[t].begin() + h2 * D);
        }
        Rope(&q[t][h2 * D], D, t, weights.rope_inverse_frequencies(), c.rope_style);
      }
      for (int h2 = 0; h2 < c.num_kv_heads; ++h2) {
        if (c.qk_norm) {
          Vector head(k[t].begin() + h2 * D, k[t].begin() + (h2 + 1) * D);
          head = RmsNorm(head, layer.k_norm, c.rms_norm_eps);
          std::copy(head.begin(), head.end(), k[t].begin() + h2 * D);
        }
        Rope(&k[t][h2 * D], D, t, weights.rope_inverse_frequencies(), c.rope_style);
      }
    }
    for (size_t t = 0; t < T; ++t) {
      Vector attention(c.q_size(), 0.0);
      for (int h2 = 0; h2 < c.num_heads; ++h2) {
        int g = h2 / group;
        Vector scores(t + 1);
        double max_score = -INFINITY;
        for (size_t j = 0; j <= t; ++j) {
          double s = 0;
          for (int d = 0; d < D; ++d) s += q[t][h2 * D + d] * k[j][g * D + d];
          scores[j] = s / std::sqrt(static_cast<double>(D));
          max_score = std::max(max_score, scores[j]);
        }
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - max_score));
        for (size_t j = 0; j <= t; ++j) {
          for (int d = 0; d < D; ++d) attention[h2 * D + d] += scores[j] / total * v[j][g * D + d];
        }
      }
      Vector o = Linear(layer.wo, attention);
      for (int i = 0; i < c.hidden_size; ++i) x[t][i] += o[i];
    }
    for (size_t t = 0; t < T; ++t) {
      Vector h = RmsNorm(x[t], layer.ffn_norm, c.rms_norm_eps);
      Vector gate = Linear(layer.w_gate, h), up = Linear(layer.w_up, h);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      Vector down = Linear(layer.w_down, gate);
      for (int i = 0; i < c.hidden_size; ++i) x[t][i] += down[i];
    }
  }
  std::vector<std::vector<float>> logits(T);
  for (size_t t = 0; t < T; ++t) {
    Vector out = Linear(weights.output(), RmsNorm(x[t], weights.output_norm(), c.rms_norm_eps));
    logits[t].assign(out.begin(), out.end());
  }
  return logits;
}

}  // namespace ponder::engine
