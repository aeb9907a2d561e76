// The architecture description of a decoder-only transformer of the Llama family, read from
// GGUF metadata or a Hugging Face config.json.
//
// Supported: Llama (Llama 2/3, Mistral-style GGUFs with general.architecture = llama), Qwen2/2.5
// (q/k/v biases) and Qwen3 (per-head RMSNorm on q and k). All use pre-RMSNorm, SwiGLU MLPs,
// grouped-query attention and rotary position embeddings.
#ifndef PONDER_ENGINE_MODEL_MODEL_CONFIG_H_
#define PONDER_ENGINE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace ponder::engine {

class GgufFile;

enum class Architecture { kLlama, kQwen2, kQwen3 };
// "llama", "qwen2", "qwen3": general.architecture in GGUF, model_type in config.json.
std::string_view ArchitectureName(Architecture arch);
std::optional<Architecture> ParseArchitecture(std::string_view name);

// How rotary embeddings pair the dimensions of a head.
//  kNeox: (i, i + d/2) — Hugging Face's rotate_half, and GGUF qwen2/qwen3.
//  kInterleaved: (2i, 2i + 1) — GGUF `llama`: llama.cpp's converter permutes the rows of the Q and
//    K projections (convert_hf_to_gguf.py, LlamaModel.permute) so that adjacent-pair rotation
//    computes exactly what rotate_half computes on the unpermuted weights.
enum class RopeStyle { kNeox, kInterleaved };

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  int num_layers = 0;
  int hidden_size = 0;        // d_model
  int intermediate_size = 0;  // SwiGLU inner width
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int64_t max_context = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::kNeox;
  // Per-frequency divisors (length head_dim / 2) for Llama 3.1-style rope scaling; empty = none.
  std::vector<float> rope_freq_factors;
  bool attention_bias = false;  // q/k/v projections have biases (Qwen2)
  bool qk_norm = false;         // per-head RMSNorm of q and k before rope (Qwen3)
  bool tied_embeddings = false;
  // Whether the model's metadata said so (a Hugging Face config's tie_word_embeddings): a folder
  // without lm_head.weight is then tied only where the config did not say it is not.
  bool tied_embeddings_stated = false;

  // Checks internal consistency (head counts divide, sizes positive, ...); errors name `source`.
  absl::Status Validate(std::string_view source) const;
  // inv_freq[i] = 1 / (theta^(2i/head_dim) * factor_i), i < head_dim / 2.
  std::vector<float> RopeInverseFrequencies() const;
  int q_size() const { return num_heads * head_dim; }
  int kv_size() const { return num_kv_heads * head_dim; }
};

// Reads `{arch}.*` metadata. Tensor-dependent facts (tied embeddings, biases, rope_freqs) are
// filled in by the loader, which sees the tensors.
absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& gguf);
// Reads a Hugging Face config.json (already parsed); `source` names the file in errors.
absl::StatusOr<ModelConfig> ModelConfigFromHuggingFace(const nlohmann::json& config,
                                                       std::string_view source);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_MODEL_CONFIG_H_
