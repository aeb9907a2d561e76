// The forward pass of a Llama-family transformer over a batch of sequences, reading and
// writing keys/values through paged block tables.
//
// One call processes any mix of prefill chunks and decode tokens: every new token of every
// sequence goes through the matrix multiplications together (one GEMM per weight per step),
// and attention runs per sequence over its own cached positions. A token's result does not
// depend on what else is in the batch: the kernels reduce in a fixed order (see engine/ops).
//
//   x = embed(tokens)                                   [T, H]
//   per layer:  h = rmsnorm(x) · {Wq, Wk, Wv} (+bias)  [T, Q], [T, KV], [T, KV]
//               q, k = qk_norm?(q, k); rope(q, k, pos); cache <- k, v
//               x += attention(q, cache) · Wo           [T, H]
//               x += (silu(rmsnorm(x)·Wg) * (rmsnorm(x)·Wu)) · Wd
//   out = rmsnorm(x[selected rows]) · Wout              [R, vocab]
#ifndef PONDER_ENGINE_TRANSFORMER_TRANSFORMER_H_
#define PONDER_ENGINE_TRANSFORMER_TRANSFORMER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv/kv_cache.h"
#include "engine/ops/ops.h"
#include "engine/sampling/sampler.h"
#include "engine/transformer/weights.h"

namespace ponder::engine {

// One sequence's share of a forward step.
struct SequenceChunk {
  std::span<const int32_t> tokens;       // the tokens to process now
  int64_t start_position = 0;            // position of tokens[0]; earlier ones are cached
  std::span<const int32_t> block_table;  // blocks covering [0, start_position + tokens.size())
  // Indices into `tokens` whose final hidden state is wanted (logits and/or hidden states),
  // in increasing order. Usually just the last one.
  std::span<const int32_t> output_rows;
};

struct ForwardOutput {
  int64_t num_rows = 0;       // total output rows, chunk by chunk in order
  std::vector<float> logits;  // [num_rows][vocab] when requested
  std::vector<float> hidden;  // [num_rows][hidden], after the final norm, when requested
  // With ForwardOptions::draws (backends only, engine/backend.h): per draw, the token and its
  // log-softmax, as SampleToken computes them from the draw's row.
  std::vector<int32_t> drawn_tokens;
  std::vector<float> drawn_logprobs;
  // With ForwardOptions::reward_rows (backends only): per reward row, the reward head's label
  // logits (RewardHeadLogits), [reward rows][num_labels].
  std::vector<float> reward_logits;
};

struct ForwardOptions {
  bool logits = true;
  bool hidden = false;
  // Backends only (Transformer::Forward ignores them): tokens to draw from the output rows, into
  // drawn_tokens / drawn_logprobs. With logits = false a GPU backend then leaves the logits on
  // the device.
  std::span<const TokenDraw> draws;
  // Backends only: output rows (increasing) at which to run the model's reward head on the
  // final hidden state, into reward_logits. The hidden states need not be asked for.
  std::span<const int32_t> reward_rows;
};

// The reward head of a process or outcome reward model on one final hidden state (after the final
// norm, [hidden_size]), as Hugging Face's sequence-classification heads compute it:
// [Linear(H,H) -> ReLU ->] Linear(H,k), biases included. Writes the k label logits (their softmax
// is the label probabilities). The CPU reference of every backend.
void RewardHeadLogits(const RewardHeadWeights& head, const float* hidden, int64_t hidden_size,
                      ops::ThreadPool& pool, float* logits);

// Checks `chunks` against the model and the KV storage: token ids in the vocabulary, positions
// inside the context, block tables covering every position with valid block ids, output rows in
// increasing order. Every backend runs this before computing anything.
absl::Status ValidateChunks(const ModelConfig& config, const KvBlockStore& kv,
                            std::span<const SequenceChunk> chunks);

class Transformer {
 public:
  Transformer(const ModelWeights& weights, ops::ThreadPool& pool);

  const ModelWeights& weights() const { return weights_; }
  const ModelConfig& config() const { return weights_.config(); }

  // Runs `chunks`, writing their keys/values into `cache`. Token ids, positions and block
  // tables are validated; an invalid one is an InvalidArgument error and nothing is computed.
  absl::Status Forward(std::span<const SequenceChunk> chunks, KvCache& cache,
                       const ForwardOptions& options, ForwardOutput& output);

 private:
  void Attention(int layer, KvCache& cache);

  const ModelWeights& weights_;
  ops::ThreadPool& pool_;

  // Per-step scratch, reused across calls (grown as needed).
  int64_t num_tokens_ = 0;
  std::vector<int64_t> positions_;           // [T]
  std::vector<const SequenceChunk*> owner_;  // [T] the chunk each token belongs to
  std::vector<float> x_, h_, q_, k_, v_, attention_, gate_, up_;
  std::vector<float> cos_, sin_;  // RoPE table of the current token
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TRANSFORMER_TRANSFORMER_H_
