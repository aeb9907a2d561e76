// Small random models for tests and benchmarks, written in both formats the engine reads.
//
// The same spec and seed give the same weights (as f32, before encoding) in the Hugging Face
// folder and in the GGUF file, so the two must produce the same logits. The GGUF file is written
// by the converter's core (engine/convert/convert.h) from the f32 folder's contents, so it is
// exactly what `ponder convert` makes of that folder: Q and K permuted for a `llama` file as
// llama.cpp's converter does (see RopeStyle), the same metadata and tokenizer keys. Each model
// carries a small byte-level BPE tokenizer (trained deterministically on a built-in text) and a
// ChatML chat template.
#ifndef PONDER_ENGINE_TESTING_RANDOM_MODEL_H_
#define PONDER_ENGINE_TESTING_RANDOM_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/dtype.h"
#include "engine/model/model_config.h"

namespace ponder::engine::testing {

struct RandomModelSpec {
  Architecture architecture = Architecture::kLlama;
  int num_layers = 2;
  int hidden_size = 64;
  int intermediate_size = 128;
  int num_heads = 4;
  int num_kv_heads = 2;
  int head_dim = 16;
  int vocab_size = 384;  // at least 256 bytes + the special tokens; the rest are BPE merges
  int64_t max_context = 1024;
  float rope_theta = 10000.0f;
  bool tied_embeddings = false;
  uint64_t seed = 1;
  // Adds a two-layer reward head (score.0 / score.2 in Hugging Face naming) with this many labels.
  int reward_labels = 0;
};

// Specials appended after the BPE vocabulary, in this order.
inline constexpr const char* kRandomModelSpecialTokens[] = {"<|endoftext|>", "<|im_start|>",
                                                            "<|im_end|>", "<extra_0>"};

// config.json, model.safetensors (matrices and vectors in `dtype`: F32, F16 or BF16),
// tokenizer.json and tokenizer_config.json in `folder` (created if needed).
absl::Status WriteRandomHuggingFaceModel(const RandomModelSpec& spec, DType dtype,
                                         const std::string& folder);

// A GGUF file with matrices in `dtype` (any DType; norms and biases stay f32, as llama.cpp's
// converter writes them; see convert.h for the fallbacks of quantized types) and tokenizer
// metadata (`gpt2` model, `qwen2` pre-tokenizer). config.json names BOS and EOS by id, so the
// GGUF file has both; the folder's tokenizer_config.json has EOS only, as Qwen's.
absl::Status WriteRandomGgufModel(const RandomModelSpec& spec, DType dtype,
                                  const std::string& path);

}  // namespace ponder::engine::testing

#endif  // PONDER_ENGINE_TESTING_RANDOM_MODEL_H_
