#include "engine/transformer/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ponder::engine {

Transformer::Transformer(const ModelWeights& weights, ops::ThreadPool& pool)
    : weights_(weights), pool_(pool) {}

void RewardHeadLogits(const RewardHeadWeights& head, const float* hidden, int64_t hidden_size,
                      ops::ThreadPool& pool, float* logits) {
  std::vector<float> x(hidden, hidden + hidden_size);
  if (head.hidden.has_value()) {
    std::vector<float> y(hidden_size);
    ops::MatMul(*head.hidden, x.data(), hidden_size, 1, y.data(), hidden_size, pool);
    for (int64_t j = 0; j < hidden_size; ++j) {
      if (!head.hidden_bias.empty()) y[j] += head.hidden_bias[j];
      y[j] = std::max(0.0f, y[j]);
    }
    x = std::move(y);
  }
  ops::MatMul(head.output, x.data(), hidden_size, 1, logits, head.num_labels(), pool);
  for (int j = 0; j < head.num_labels() && !head.output_bias.empty(); ++j) {
    logits[j] += head.output_bias[j];
  }
}

absl::Status ValidateChunks(const ModelConfig& c, const KvBlockStore& cache,
                            std::span<const SequenceChunk> chunks) {
  const KvCacheShape& shape = cache.shape();
  if (shape.num_layers != c.num_layers || shape.num_kv_heads != c.num_kv_heads ||
      shape.head_dim != c.head_dim) {
    return absl::InvalidArgumentError("KV cache shape does not match the model");
  }
  for (size_t s = 0; s < chunks.size(); ++s) {
    const SequenceChunk& chunk = chunks[s];
    for (int32_t token : chunk.tokens) {
      if (token < 0 || token >= c.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": token id ", token,
                                                       " is outside the vocabulary [0, ",
                                                       c.vocab_size, ")"));
      }
    }
    int64_t end = chunk.start_position + static_cast<int64_t>(chunk.tokens.size());
    if (chunk.start_position < 0 || end > c.max_context) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", s, ": positions [", chunk.start_position, ", ", end,
                       ") exceed the context length ", c.max_context));
    }
    int64_t blocks_needed = (end + shape.block_size - 1) / shape.block_size;
    if (static_cast<int64_t>(chunk.block_table.size()) < blocks_needed) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", s, ": block table has ",
                                                     chunk.block_table.size(), " blocks, ",
                                                     blocks_needed, " needed"));
    }
    for (int64_t b = 0; b < blocks_needed; ++b) {
      if (chunk.block_table[b] < 0 || chunk.block_table[b] >= cache.num_blocks()) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": block id ", chunk.block_table[b], " is invalid"));
      }
    }
    int32_t previous = -1;
    for (int32_t row : chunk.output_rows) {
      if (row <= previous || row >= static_cast<int32_t>(chunk.tokens.size())) {
        return absl::InvalidArgumentError(
            absl::StrCat("sequence ", s, ": output row ", row, " is out of order or out of range"));
      }
      previous = row;
    }
  }
  return absl::OkStatus();
}

absl::Status Transformer::Forward(std::span<const SequenceChunk> chunks, KvCache& cache,
                                  const ForwardOptions& options, ForwardOutput& output) {
  if (absl::Status status = ValidateChunks(config(), cache, chunks); !status.ok()) return status;
  const ModelConfig& c = config();
  const int64_t H = c.hidden_size, Q = c.q_size(), KV = c.kv_size(), I = c.intermediate_size;

  int64_t T = 0, R = 0;
  for (const SequenceChunk& chunk : chunks) {
    T += static_cast<int64_t>(chunk.tokens.size());
    R += static_cast<int64_t>(chunk.output_rows.size());
  }
  num_tokens_ = T;
  positions_.resize(T);
  owner_.resize(T);
  x_.resize(T * H);
  h_.resize(T * H);
  q_.resize(T * Q);
  k_.resize(T * KV);
  v_.resize(T * KV);
  attention_.resize(T * Q);
  gate_.resize(T * I);
  up_.resize(T * I);
  cos_.resize(c.head_dim / 2);
  sin_.resize(c.head_dim / 2);

  // Embedding lookup.
  int64_t t = 0;
  for (const SequenceChunk& chunk : chunks) {
    for (size_t i = 0; i < chunk.tokens.size(); ++i, ++t) {
      positions_[t] = chunk.start_position + static_cast<int64_t>(i);
      owner_[t] = &chunk;
      ops::DequantizeRow(weights_.token_embedding(), chunk.tokens[i], &x_[t * H]);
    }
  }

  const std::vector<float>& inv_freq = weights_.rope_inverse_frequencies();
  const ops::RopeStyle rope_style =
      c.rope_style == RopeStyle::kNeox ? ops::RopeStyle::kNeox : ops::RopeStyle::kInterleaved;
  const KvCacheShape& shape = cache.shape();

  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& layer = weights_.layers()[l];
    for (int64_t i = 0; i < T; ++i) {
      ops::RmsNorm(&x_[i * H], layer.attention_norm.data(), H, c.rms_norm_eps, &h_[i * H]);
    }
    ops::MatMul(layer.wq, h_.data(), H, T, q_.data(), Q, pool_);
    ops::MatMul(layer.wk, h_.data(), H, T, k_.data(), KV, pool_);
    ops::MatMul(layer.wv, h_.data(), H, T, v_.data(), KV, pool_);
    for (int64_t i = 0; i < T; ++i) {
      float* q = &q_[i * Q];
      float* k = &k_[i * KV];
      float* v = &v_[i * KV];
      if (c.attention_bias) {
        ops::Axpy(1.0f, layer.bq.data(), q, Q);
        ops::Axpy(1.0f, layer.bk.data(), k, KV);
        ops::Axpy(1.0f, layer.bv.data(), v, KV);
      }
      // The rotation angles depend only on the position: computed once for all heads.
      ops::RopeCosSin(c.head_dim, positions_[i], inv_freq.data(), cos_.data(), sin_.data());
      for (int h = 0; h < c.num_heads; ++h) {
        float* head = q + h * c.head_dim;
        if (c.qk_norm) ops::RmsNorm(head, layer.q_norm.data(), c.head_dim, c.rms_norm_eps, head);
        ops::ApplyRopeCosSin(head, c.head_dim, cos_.data(), sin_.data(), rope_style);
      }
      for (int h = 0; h < c.num_kv_heads; ++h) {
        float* head = k + h * c.head_dim;
        if (c.qk_norm) ops::RmsNorm(head, layer.k_norm.data(), c.head_dim, c.rms_norm_eps, head);
        ops::ApplyRopeCosSin(head, c.head_dim, cos_.data(), sin_.data(), rope_style);
      }
      // Store this token's key and value in its slot.
      int64_t pos = positions_[i];
      int32_t block = owner_[i]->block_table[pos / shape.block_size];
      int64_t slot = pos % shape.block_size;
      std::memcpy(cache.keys(block, l) + slot * KV, k, KV * sizeof(float));
      std::memcpy(cache.values(block, l) + slot * KV, v, KV * sizeof(float));
    }
    Attention(l, cache);
    // x += attention · Wo (h_ as the temporary).
    ops::MatMul(layer.wo, attention_.data(), Q, T, h_.data(), H, pool_);
    ops::Axpy(1.0f, h_.data(), x_.data(), T * H);

    for (int64_t i = 0; i < T; ++i) {
      ops::RmsNorm(&x_[i * H], layer.ffn_norm.data(), H, c.rms_norm_eps, &h_[i * H]);
    }
    ops::MatMul(layer.w_gate, h_.data(), H, T, gate_.data(), I, pool_);
    ops::MatMul(layer.w_up, h_.data(), H, T, up_.data(), I, pool_);
    ops::SiluMul(gate_.data(), up_.data(), T * I);
    ops::MatMul(layer.w_down, gate_.data(), I, T, h_.data(), H, pool_);
    ops::Axpy(1.0f, h_.data(), x_.data(), T * H);
  }

  // Final norm and output projection, only for the requested rows.
  output.num_rows = R;
  std::vector<float>& rows = output.hidden;
  rows.resize(R * H);
  int64_t r = 0, base = 0;
  for (const SequenceChunk& chunk : chunks) {
    for (int32_t row : chunk.output_rows) {
      ops::RmsNorm(&x_[(base + row) * H], weights_.output_norm().data(), H, c.rms_norm_eps,
                   &rows[r * H]);
      ++r;
    }
    base += static_cast<int64_t>(chunk.tokens.size());
  }
  if (options.logits) {
    output.logits.resize(R * c.vocab_size);
    if (R > 0) {
      ops::MatMul(weights_.output(), rows.data(), H, R, output.logits.data(), c.vocab_size, pool_);
    }
  } else {
    output.logits.clear();
  }
  if (!options.hidden) rows.clear();
  return absl::OkStatus();
}

void Transformer::Attention(int layer, KvCache& cache) {
  const ModelConfig& c = config();
  const int64_t Q = c.q_size(), KV = c.kv_size(), D = c.head_dim;
  const int group = c.num_heads / c.num_kv_heads;
  const int block_size = cache.shape().block_size;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));

  // One work item per (token, head). Each item's arithmetic is independent of the others,
  // so the result does not depend on the batch or the partition.
  pool_.ParallelFor(num_tokens_ * c.num_heads, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / c.num_heads;
      const int h = static_cast<int>(item % c.num_heads);
      const int g = h / group;
      const float* q = &q_[t * Q + h * D];
      const SequenceChunk& chunk = *owner_[t];
      const int64_t context = positions_[t] + 1;  // causal: positions [0, pos]
      scores.resize(context);
      for (int64_t j = 0; j < context; ++j) {
        const float* key =
            cache.keys(chunk.block_table[j / block_size], layer) + (j % block_size) * KV + g * D;
        scores[j] = ops::Dot(q, key, D) * scale;
      }
      ops::Softmax(scores.data(), context);
      float* out = &attention_[t * Q + h * D];
      std::memset(out, 0, D * sizeof(float));
      for (int64_t j = 0; j < context; ++j) {
        const float* value =
            cache.values(chunk.block_table[j / block_size], layer) + (j % block_size) * KV + g * D;
        ops::Axpy(scores[j], value, out, D);
      }
    }
  });
}

}  // namespace ponder::engine
