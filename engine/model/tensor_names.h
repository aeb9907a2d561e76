// The names of a Llama-family model's tensors in the two formats: GGUF names (llama.cpp's
// LLM_TENSOR_NAMES, as its convert_hf_to_gguf.py writes them for llama, qwen2 and qwen3) and
// Hugging Face parameter names (transformers' LlamaForCausalLM / Qwen2ForCausalLM /
// Qwen3ForCausalLM, plus the `score` heads of reward models).
//
// One table serves both directions, so the loader (engine/transformer/weights.cc) and the
// converter (engine/convert/) cannot disagree about where a tensor goes.
#ifndef PONDER_ENGINE_MODEL_TENSOR_NAMES_H_
#define PONDER_ENGINE_MODEL_TENSOR_NAMES_H_

#include <optional>
#include <string>
#include <string_view>

namespace ponder::engine {

// "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"; a name outside the table is
// returned unchanged (lookups of it then simply find nothing).
std::string HuggingFaceTensorName(std::string_view gguf_name);

// The inverse: "model.layers.3.mlp.up_proj.weight" -> "blk.3.ffn_up.weight"; nullopt for a name
// outside the table. Reward heads: `score.0.*` -> `cls.hidden.*`, `score.2.*` -> `cls.output.*`
// (Qwen2.5-Math-PRM's Linear -> ReLU -> Linear), a single `score.*` -> `cls.*`.
std::optional<std::string> GgufTensorName(std::string_view hf_name);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_TENSOR_NAMES_H_
