// random_model: writes a random test model (engine/testing/random_model.h) as GGUF or as a
// Hugging Face folder. Used by benchmarks and by the scripts that make golden files.
//
//   random_model --out PATH [--format gguf|hf] [--dtype f32|f16|bf16|q8_0|q4_0]
//                [--arch llama|qwen2|qwen3] [--shape tiny|qwen2.5-0.5b|qwen2.5-1.5b] [--layers N]
//                [--seed S]
#include <cstdio>
#include <string>

#include "base/flags.h"
#include "base/strings.h"
#include "engine/testing/random_model.h"

namespace {

using ponder::engine::Architecture;
using ponder::engine::DType;

absl::Status Run(std::span<char* const> args) {
  std::string out, format = "gguf", dtype_name = "f32", arch = "llama", shape = "tiny";
  int64_t layers = 0, seed = 1, vocab = 0, context = 0;
  bool tied = false;
  ponder::FlagParser flags("random_model --out PATH [flags]");
  flags.AddString("out", &out, "output file (gguf) or folder (hf)");
  flags.AddString("format", &format, "gguf or hf");
  flags.AddString("dtype", &dtype_name, "f32, f16, bf16, q8_0, q4_0");
  flags.AddString("arch", &arch, "llama, qwen2, qwen3");
  flags.AddString(
      "shape", &shape,
      "tiny (2 layers, d 64), qwen2.5-0.5b (24 layers, d 896, ff 4864, vocab 151936) or "
      "qwen2.5-1.5b (28 layers, d 1536, ff 8960, 12/2 heads of 128, vocab 151936, tied)");
  flags.AddInt("layers", &layers, "override the layer count");
  flags.AddInt("vocab", &vocab, "override the vocabulary size");
  flags.AddInt("context", &context, "override the context length");
  flags.AddBool("tied", &tied, "tie the output projection to the embedding");
  flags.AddInt("seed", &seed, "weights seed");
  if (absl::Status status = flags.Parse(args); !status.ok()) return status;
  if (out.empty()) return absl::InvalidArgumentError("--out is required");

  ponder::engine::testing::RandomModelSpec spec;
  if (arch == "llama")
    spec.architecture = Architecture::kLlama;
  else if (arch == "qwen2")
    spec.architecture = Architecture::kQwen2;
  else if (arch == "qwen3")
    spec.architecture = Architecture::kQwen3;
  else
    return absl::InvalidArgumentError("--arch must be llama, qwen2 or qwen3");
  if (shape == "qwen2.5-0.5b") {
    spec.num_layers = 24;
    spec.hidden_size = 896;
    spec.intermediate_size = 4864;
    spec.num_heads = 14;
    spec.num_kv_heads = 2;
    spec.head_dim = 64;
    spec.vocab_size = 151936;
    spec.max_context = 4096;
    spec.rope_theta = 1000000.0f;
  } else if (shape == "qwen2.5-1.5b") {
    spec.num_layers = 28;
    spec.hidden_size = 1536;
    spec.intermediate_size = 8960;
    spec.num_heads = 12;
    spec.num_kv_heads = 2;
    spec.head_dim = 128;
    spec.vocab_size = 151936;
    spec.max_context = 32768;
    spec.rope_theta = 1000000.0f;
    tied = true;  // as Qwen2.5-1.5B
  } else if (shape != "tiny") {
    return absl::InvalidArgumentError("--shape must be tiny, qwen2.5-0.5b or qwen2.5-1.5b");
  }
  if (layers > 0) spec.num_layers = static_cast<int>(layers);
  if (vocab > 0) spec.vocab_size = static_cast<int>(vocab);
  if (context > 0) spec.max_context = context;
  spec.tied_embeddings = tied;
  spec.seed = static_cast<uint64_t>(seed);
  DType dtype;
  if (dtype_name == "f32")
    dtype = DType::kF32;
  else if (dtype_name == "f16")
    dtype = DType::kF16;
  else if (dtype_name == "bf16")
    dtype = DType::kBF16;
  else if (dtype_name == "q8_0")
    dtype = DType::kQ8_0;
  else if (dtype_name == "q4_0")
    dtype = DType::kQ4_0;
  else
    return absl::InvalidArgumentError("--dtype must be f32, f16, bf16, q8_0 or q4_0");
  if (format == "gguf") return ponder::engine::testing::WriteRandomGgufModel(spec, dtype, out);
  if (format == "hf") return ponder::engine::testing::WriteRandomHuggingFaceModel(spec, dtype, out);
  return absl::InvalidArgumentError("--format must be gguf or hf");
}

}  // namespace

int main(int argc, char** argv) {
  return ponder::ExitCodeFor("random_model", Run({argv + 1, static_cast<size_t>(argc - 1)}));
}
