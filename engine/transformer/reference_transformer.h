// A slow, obviously-correct forward pass for tests: one sequence, no cache, plain loops with
// double accumulation, written straight from the Hugging Face modelling code (LlamaModel,
// Qwen2Model, Qwen3Model). The fast path (Transformer) must agree with it.
#ifndef PONDER_ENGINE_TRANSFORMER_REFERENCE_TRANSFORMER_H_
#define PONDER_ENGINE_TRANSFORMER_REFERENCE_TRANSFORMER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/transformer/weights.h"

namespace ponder::engine {

// Logits at every position of `tokens`: result[i] = logits after tokens[0..i].
std::vector<std::vector<float>> ReferenceLogits(const ModelWeights& weights,
                                                std::span<const int32_t> tokens);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TRANSFORMER_REFERENCE_TRANSFORMER_H_
