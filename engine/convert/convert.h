// Converting models between the two formats the engine reads: a Hugging Face folder
// (config.json, *.safetensors, tokenizer.json) and a GGUF file that llama.cpp loads as well.
//
// Hugging Face -> GGUF follows llama.cpp's convert_hf_to_gguf.py for the architectures of
// engine/model/model_config.h (llama/mistral -> `llama`, qwen2, qwen3):
//  - metadata: general.architecture, general.name, general.file_type,
//    general.quantization_version, and {arch}.context_length, embedding_length,
//    feed_forward_length, block_count, attention.head_count(_kv),
//    attention.layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count, vocab_size, plus
//    attention.key_length / value_length when head_dim differs from hidden_size / heads;
//  - tensor names from engine/model/tensor_names.h; reward heads (Qwen2.5-Math-PRM's
//    `score.0` / `score.2`, or a single `score`) become `cls.hidden` / `cls.output` / `cls`;
//  - for `llama`, the rows of the Q and K projections (and their biases) are permuted for
//    llama.cpp's adjacent-pair RoPE (LlamaModel.permute; see RopeStyle in model_config.h);
//  - Llama 3.1 rope scaling becomes the `rope_freqs.weight` tensor of per-frequency divisors;
//  - dtypes: 2-D weight matrices (embedding, projections, output) take the requested type;
//    norms, biases and rope_freqs stay f32, as llama.cpp writes them. For q8_0/q4_0, a matrix
//    whose rows are not a multiple of 32 values falls back to f16 (llama.cpp's QuantError
//    fallback); the reward head is kept f16 under a quantized request (a tiny layer whose
//    outputs are compared against thresholds: not worth the quantization error);
//  - the tokenizer through engine/tokenizer/gguf_export.h.
// Every tensor is checked against the config (presence, shape, dtype) before anything is
// written, and a tensor the converter does not know is an error rather than silently dropped
// (except rotary_emb.inv_freq buffers, and lm_head.weight of a tied model). The output streams
// tensor by tensor, in row blocks of about 4 MiB, and is written atomically (temporary file +
// rename): peak memory is one block, whatever the model size, plus the memory-mapped input.
//
// GGUF -> Hugging Face is the inverse for files whose matrices are f32, f16, bf16, q8_0 or q4_0
// (quantized ones are dequantized): config.json; model.safetensors with the matrices in the
// requested float type, norms and biases too where that is exact (else f32, so GGUF -> folder ->
// GGUF gives back the same tensors), Q/K un-permuted for `llama`; and tokenizer.json +
// tokenizer_config.json for byte-level (`gpt2`) vocabularies (gguf_export.h); for SentencePiece
// ones the folder gets weights and config only, and the report says so. Files with rope_freqs
// (Llama 3.1 scaling) are refused: config.json cannot state arbitrary per-frequency divisors.
#ifndef PONDER_ENGINE_CONVERT_CONVERT_H_
#define PONDER_ENGINE_CONVERT_CONVERT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/dtype.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"
#include "engine/tokenizer/gguf_export.h"

namespace ponder::engine {

struct ConvertOptions {
  // The type of the weight matrices (GGUF: any DType; Hugging Face: f32, f16 or bf16). nullopt
  // keeps the source's precision: the float type the source stores its matrices in (f32 for a
  // quantized GGUF).
  std::optional<DType> dtype;
  // GGUF general.name; empty: the input folder's name.
  std::string name;
  // tokenizer.ggml.pre to write instead of the recognised one (see gguf_export.h).
  std::string pre_tokenizer;
};

struct ConvertReport {
  std::string output;
  int64_t tensors = 0;
  uint64_t bytes = 0;         // size of the output file(s)
  DType dtype = DType::kF32;  // of the weight matrices
  // Matrices written in another type than `dtype` (GGUF quantized fallbacks, kept reward head).
  std::vector<std::string> other_dtype_tensors;
  // What the output lacks, in words (e.g. "no tokenizer: ..."); empty when complete.
  std::vector<std::string> notes;
};

// `folder` -> `out_path` (a .gguf file). Errors name the file and the tensor or key.
absl::StatusOr<ConvertReport> ConvertHuggingFaceToGguf(const std::string& folder,
                                                       const std::string& out_path,
                                                       const ConvertOptions& options = {});

// The files ConvertGgufToHuggingFace writes into its folder (and removes there, for the tokenizer
// files, when the GGUF file has no tokenizer).
inline constexpr std::string_view kConvertedFolderFiles[] = {
    "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};

// `gguf_path` -> `out_folder` (created if needed; existing files of the same names are replaced).
absl::StatusOr<ConvertReport> ConvertGgufToHuggingFace(const std::string& gguf_path,
                                                       const std::string& out_folder,
                                                       const ConvertOptions& options = {});

// The core of ConvertHuggingFaceToGguf, for callers that hold a model's parts in memory (the
// random test models of engine/testing/, which must be written exactly as a converted folder).
struct HuggingFaceModelParts {
  std::string source;  // names the model in errors (the folder)
  ModelConfig config;  // from config.json (ModelConfigFromHuggingFace)
  // Every tensor of the checkpoint, by Hugging Face name; the data is viewed, not owned.
  std::vector<SafetensorsTensor> tensors;
  GgufVocabulary vocabulary;
};
absl::StatusOr<ConvertReport> WriteGgufFromHuggingFace(const HuggingFaceModelParts& parts,
                                                       const std::string& out_path,
                                                       const ConvertOptions& options);

// config.json for `config`, as transformers writes it for LlamaForCausalLM / Qwen2ForCausalLM /
// Qwen3ForCausalLM (or `architectures` = Qwen2ForProcessRewardModel when `reward_head`), with
// torch_dtype naming `dtype`. The inverse of ModelConfigFromHuggingFace except for rope scaling,
// which it cannot express (callers refuse such configs).
std::string HuggingFaceConfigJson(const ModelConfig& config, DType dtype, bool reward_head);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_CONVERT_CONVERT_H_
