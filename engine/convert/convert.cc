#include "engine/convert/convert.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/model/atomic_file.h"
#include "engine/model/gguf.h"
#include "engine/model/gguf_writer.h"
#include "engine/model/quantize.h"
#include "engine/model/safetensors_writer.h"
#include "engine/model/tensor_names.h"
#include "engine/ops/ops.h"
#include "engine/tokenizer/hf_chat_template_files.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {
namespace {

namespace fs = std::filesystem;

// Values converted per streamed block: 4 MiB as f32, whatever the tensor's size.
constexpr int64_t kBlockValues = int64_t{1} << 20;

// A tensor as either format stores it; `shape` in PyTorch order (last dimension contiguous).
struct SourceTensor {
  std::string name;  // as the source spells it, for errors
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};

// The model being converted: its tensors looked up by GGUF name, the file or folder errors name,
// and how it spells tensor names.
struct TensorSource {
  std::string file;
  std::function<std::optional<SourceTensor>(const std::string& gguf_name)> find;
  bool gguf_names = false;
  std::string NativeName(const std::string& gguf_name) const {
    return gguf_names ? gguf_name : HuggingFaceTensorName(gguf_name);
  }
};

enum class TensorRole {
  kMatrix,            // takes the requested dtype
  kVector,            // norms, biases, rope_freqs: f32 in GGUF
  kRewardHeadMatrix,  // the requested dtype, but f16 instead of a quantized one
};

// How llama.cpp's `llama` layout reorders the rows of Q and K (LlamaModel.permute): within each
// head, rows [first half | second half] become interleaved pairs.
enum class RowOrder { kAsStored, kToInterleaved, kFromInterleaved };

struct PlannedTensor {
  std::string gguf_name;
  std::vector<int64_t> shape;
  TensorRole role = TensorRole::kMatrix;
  int heads = 0;  // > 0: rows grouped in this many RoPE heads (llama Q/K)
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// The tensors a model of `c` consists of, in the order they are written. The reward head's
// label count comes from the tensors themselves.
absl::StatusOr<std::vector<PlannedTensor>> PlanTensors(const ModelConfig& c,
                                                       const TensorSource& source) {
  const auto& find = source.find;
  const int64_t hidden = c.hidden_size, q = c.q_size(), kv = c.kv_size(),
                inter = c.intermediate_size, vocab = c.vocab_size;
  const bool interleave = c.architecture == Architecture::kLlama;
  std::vector<PlannedTensor> plan;
  auto add = [&](std::string name, std::vector<int64_t> shape, TensorRole role, int heads = 0) {
    plan.push_back({std::move(name), std::move(shape), role, heads});
  };
  if (!c.rope_freq_factors.empty()) {
    add("rope_freqs.weight", {c.head_dim / 2}, TensorRole::kVector);
  }
  add("token_embd.weight", {vocab, hidden}, TensorRole::kMatrix);
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = absl::StrCat("blk.", i, ".");
    add(p + "attn_norm.weight", {hidden}, TensorRole::kVector);
    add(p + "attn_q.weight", {q, hidden}, TensorRole::kMatrix, interleave ? c.num_heads : 0);
    add(p + "attn_k.weight", {kv, hidden}, TensorRole::kMatrix, interleave ? c.num_kv_heads : 0);
    add(p + "attn_v.weight", {kv, hidden}, TensorRole::kMatrix);
    if (c.attention_bias) {
      add(p + "attn_q.bias", {q}, TensorRole::kVector, interleave ? c.num_heads : 0);
      add(p + "attn_k.bias", {kv}, TensorRole::kVector, interleave ? c.num_kv_heads : 0);
      add(p + "attn_v.bias", {kv}, TensorRole::kVector);
    }
    if (c.qk_norm) {
      add(p + "attn_q_norm.weight", {c.head_dim}, TensorRole::kVector);
      add(p + "attn_k_norm.weight", {c.head_dim}, TensorRole::kVector);
    }
    add(p + "attn_output.weight", {hidden, q}, TensorRole::kMatrix);
    add(p + "ffn_norm.weight", {hidden}, TensorRole::kVector);
    add(p + "ffn_gate.weight", {inter, hidden}, TensorRole::kMatrix);
    add(p + "ffn_up.weight", {inter, hidden}, TensorRole::kMatrix);
    add(p + "ffn_down.weight", {hidden, inter}, TensorRole::kMatrix);
  }
  add("output_norm.weight", {hidden}, TensorRole::kVector);
  if (!c.tied_embeddings) add("output.weight", {vocab, hidden}, TensorRole::kMatrix);

  // Reward heads: Linear(H,H) -> ReLU -> Linear(H,k), or one Linear(H,k); biases optional.
  auto labels_of = [&](const std::string& name) -> absl::StatusOr<int64_t> {
    std::optional<SourceTensor> t = find(name);
    if (!t.has_value() || t->shape.size() != 2 || t->shape[0] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          source.file, ": the reward head needs a matrix '", source.NativeName(name), "' (",
          t.has_value() ? absl::StrCat("it has shape ", ShapeString(t->shape)) : "it is missing",
          ")"));
    }
    return t->shape[0];
  };
  auto add_optional_bias = [&](const std::string& name, int64_t size) {
    if (find(name).has_value()) add(name, {size}, TensorRole::kVector);
  };
  if (find("cls.hidden.weight").has_value()) {
    add("cls.hidden.weight", {hidden, hidden}, TensorRole::kRewardHeadMatrix);
    add_optional_bias("cls.hidden.bias", hidden);
    PONDER_ASSIGN_OR_RETURN(const int64_t labels, labels_of("cls.output.weight"));
    add("cls.output.weight", {labels, hidden}, TensorRole::kRewardHeadMatrix);
    add_optional_bias("cls.output.bias", labels);
  } else if (find("cls.weight").has_value()) {
    PONDER_ASSIGN_OR_RETURN(const int64_t labels, labels_of("cls.weight"));
    add("cls.weight", {labels, hidden}, TensorRole::kRewardHeadMatrix);
    add_optional_bias("cls.bias", labels);
  }
  return plan;
}

// Checks every planned tensor against the source: present, of the planned shape, of a type the
// source format may hold. Errors name the source and the tensor as the source spells it.
absl::Status CheckTensors(const std::vector<PlannedTensor>& plan, const TensorSource& source) {
  for (const PlannedTensor& planned : plan) {
    if (planned.gguf_name == "rope_freqs.weight") continue;  // generated from config.json
    std::optional<SourceTensor> t = source.find(planned.gguf_name);
    if (!t.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(source.file, ": missing tensor '",
                                                     source.NativeName(planned.gguf_name), "'"));
    }
    if (t->shape != planned.shape) {
      return absl::InvalidArgumentError(absl::StrCat(source.file, ": tensor '", t->name,
                                                     "' has shape ", ShapeString(t->shape),
                                                     ", expected ", ShapeString(planned.shape)));
    }
    if (t->shape.back() % DTypeBlockValues(t->dtype) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(source.file, ": tensor '", t->name, "' is ",
                                                     AsAbsl(DTypeName(t->dtype)),
                                                     ", which its row length does not allow"));
    }
  }
  return absl::OkStatus();
}

// The row of the source that output row `row` comes from (see RowOrder).
int64_t SourceRow(int64_t row, int64_t rows, int heads, RowOrder order) {
  if (heads <= 0 || order == RowOrder::kAsStored) return row;
  const int64_t head_dim = rows / heads, half = head_dim / 2;
  const int64_t head = row / head_dim, within = row % head_dim;
  if (order == RowOrder::kToInterleaved) {
    // Output row 2i + j of a head holds source row j * half + i.
    return head * head_dim + (within % 2) * half + within / 2;
  }
  // Output row j * half + i holds interleaved source row 2i + j.
  return head * head_dim + 2 * (within % half) + within / half;
}

// Streams `tensor` as `dtype` into `sink`, a block of rows at a time. The values of a 1-D
// tensor (a bias) are reordered like the rows of its matrix.
absl::Status StreamTensor(const SourceTensor& tensor, DType dtype, int heads, RowOrder order,
                          ByteSink sink) {
  const int64_t rows = tensor.shape[0];
  if (tensor.shape.size() == 1) {
    std::vector<float> values(rows), reordered(rows);
    ops::DequantizeRow(ops::WeightMatrix{tensor.dtype, 1, rows, tensor.data.data()}, 0,
                       values.data());
    for (int64_t r = 0; r < rows; ++r) reordered[r] = values[SourceRow(r, rows, heads, order)];
    return sink(EncodeAs(dtype, reordered));
  }
  int64_t cols = 1;
  for (size_t d = 1; d < tensor.shape.size(); ++d) cols *= tensor.shape[d];
  const ops::WeightMatrix source{tensor.dtype, rows, cols, tensor.data.data()};
  const int64_t block_rows = std::max<int64_t>(1, kBlockValues / cols);
  std::vector<float> values(std::min(block_rows, rows) * cols);
  for (int64_t first = 0; first < rows; first += block_rows) {
    const int64_t n = std::min(block_rows, rows - first);
    for (int64_t r = 0; r < n; ++r) {
      ops::DequantizeRow(source, SourceRow(first + r, rows, heads, order), &values[r * cols]);
    }
    PONDER_RETURN_IF_ERROR(sink(EncodeAs(dtype, std::span(values).first(n * cols))));
  }
  return absl::OkStatus();
}

bool IsQuantized(DType dtype) { return DTypeBlockValues(dtype) > 1; }

// Whether every value of the 1-D `tensor` survives a round trip through `dtype`.
bool IsExactIn(const SourceTensor& tensor, DType dtype) {
  const int64_t n = tensor.shape[0];
  std::vector<float> values(n), back(n);
  ops::DequantizeRow(ops::WeightMatrix{tensor.dtype, 1, n, tensor.data.data()}, 0, values.data());
  const std::vector<uint8_t> encoded = EncodeAs(dtype, values);
  ops::DequantizeRow(ops::WeightMatrix{dtype, 1, n, encoded.data()}, 0, back.data());
  return values == back;
}

// llama.cpp's LlamaFileType for general.file_type.
uint32_t GgufFileType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ8_0:
      return 7;
    case DType::kBF16:
      return 32;
  }
  return 0;
}

void SetArchitectureMetadata(const ModelConfig& c, const std::string& name, DType dtype,
                             GgufWriter& writer) {
  const std::string arch(ArchitectureName(c.architecture));
  writer.SetString("general.architecture", arch);
  writer.SetString("general.name", name);
  writer.SetUint32("general.alignment", 32);
  writer.SetUint32("general.file_type", GgufFileType(dtype));
  writer.SetUint32("general.quantization_version", 2);  // GGML_QNT_VERSION
  writer.SetUint32(arch + ".block_count", c.num_layers);
  writer.SetUint32(arch + ".context_length", static_cast<uint32_t>(c.max_context));
  writer.SetUint32(arch + ".embedding_length", c.hidden_size);
  writer.SetUint32(arch + ".feed_forward_length", c.intermediate_size);
  writer.SetUint32(arch + ".attention.head_count", c.num_heads);
  writer.SetUint32(arch + ".attention.head_count_kv", c.num_kv_heads);
  if (c.head_dim * c.num_heads != c.hidden_size) {
    writer.SetUint32(arch + ".attention.key_length", c.head_dim);
    writer.SetUint32(arch + ".attention.value_length", c.head_dim);
  }
  writer.SetUint32(arch + ".rope.dimension_count", c.head_dim);
  writer.SetFloat32(arch + ".rope.freq_base", c.rope_theta);
  writer.SetFloat32(arch + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  writer.SetUint32(arch + ".vocab_size", c.vocab_size);
}

// A float as the shortest decimal that reads back as the same float, so config.json says 1e-06
// rather than 9.999999974752427e-07.
double ShortestDecimal(float value) {
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof(text) - 1, value);
  if (error != std::errc()) return value;
  *end = '\0';
  return std::strtod(text, nullptr);
}

uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

// The folder's own name ("Qwen2.5-0.5B" for "/models/Qwen2.5-0.5B/").
std::string FolderName(const std::string& folder) {
  fs::path path = fs::path(folder).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  return path.filename().string();
}

}  // namespace

std::string HuggingFaceConfigJson(const ModelConfig& config, DType dtype, bool reward_head) {
  const char* architecture = reward_head ? "Qwen2ForProcessRewardModel"
                             : config.architecture == Architecture::kLlama ? "LlamaForCausalLM"
                             : config.architecture == Architecture::kQwen2 ? "Qwen2ForCausalLM"
                                                                           : "Qwen3ForCausalLM";
  nlohmann::ordered_json json = {
      {"architectures", {architecture}},
      {"model_type", ArchitectureName(config.architecture)},
      {"hidden_size", config.hidden_size},
      {"intermediate_size", config.intermediate_size},
      {"num_hidden_layers", config.num_layers},
      {"num_attention_heads", config.num_heads},
      {"num_key_value_heads", config.num_kv_heads},
      {"head_dim", config.head_dim},
      {"vocab_size", config.vocab_size},
      {"max_position_embeddings", config.max_context},
      {"rms_norm_eps", ShortestDecimal(config.rms_norm_eps)},
      {"rope_theta", ShortestDecimal(config.rope_theta)},
      {"attention_bias", config.attention_bias},
      {"tie_word_embeddings", config.tied_embeddings},
      {"torch_dtype", dtype == DType::kF32   ? "float32"
                      : dtype == DType::kF16 ? "float16"
                                             : "bfloat16"},
  };
  return json.dump(2);
}

absl::StatusOr<ConvertReport> WriteGgufFromHuggingFace(const HuggingFaceModelParts& parts,
                                                       const std::string& out_path,
                                                       const ConvertOptions& options) {
  const ModelConfig& c = parts.config;
  PONDER_RETURN_IF_ERROR(c.Validate(parts.source));
  absl::flat_hash_map<std::string, const SafetensorsTensor*> by_name;
  for (const SafetensorsTensor& tensor : parts.tensors) by_name[tensor.name] = &tensor;
  TensorSource source;
  source.file = parts.source;
  source.find = [&](const std::string& gguf_name) -> std::optional<SourceTensor> {
    auto it = by_name.find(HuggingFaceTensorName(gguf_name));
    if (it == by_name.end()) return std::nullopt;
    const SafetensorsTensor& t = *it->second;
    return SourceTensor{t.name, t.dtype, t.shape, t.data};
  };
  // A checkpoint without lm_head is tied unless its config says it is not: then it has lost its
  // output layer, unless it is a reward model, whose score head takes lm_head's place
  // (weights.cc does the same).
  ModelConfig config = c;
  if (!source.find("output.weight").has_value()) {
    const bool reward_model =
        source.find("cls.weight").has_value() || source.find("cls.output.weight").has_value();
    if (c.tied_embeddings_stated && !c.tied_embeddings && !reward_model) {
      return absl::InvalidArgumentError(
          absl::StrCat(parts.source,
                       ": missing tensor 'lm_head.weight' (config.json says "
                       "tie_word_embeddings is false)"));
    }
    config.tied_embeddings = true;
  }
  PONDER_ASSIGN_OR_RETURN(const std::vector<PlannedTensor> plan, PlanTensors(config, source));
  PONDER_RETURN_IF_ERROR(CheckTensors(plan, source));

  // Every tensor of the checkpoint must have found its place.
  std::set<std::string> placed;
  for (const PlannedTensor& planned : plan) placed.insert(HuggingFaceTensorName(planned.gguf_name));
  for (const SafetensorsTensor& tensor : parts.tensors) {
    if (placed.contains(tensor.name) || tensor.name.ends_with(".rotary_emb.inv_freq") ||
        (tensor.name == "lm_head.weight" && config.tied_embeddings)) {
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        parts.source, ": tensor '", tensor.name, "' is not part of a ",
        AsAbsl(ArchitectureName(c.architecture)),
        " model as this converter knows it (no GGUF name for it); refusing to drop it silently"));
  }
  if (parts.vocabulary.tokens.size() != static_cast<size_t>(c.vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        parts.source, ": the tokenizer has ", parts.vocabulary.tokens.size(),
        " tokens but the embedding has ", c.vocab_size, " rows (config.json vocab_size)"));
  }

  if (config.max_context > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(parts.source, ": a context length of ",
                                                   config.max_context,
                                                   " does not fit GGUF's 32-bit context_length"));
  }

  ConvertReport report;
  report.output = out_path;
  report.dtype = options.dtype.value_or(source.find("token_embd.weight")->dtype);
  const std::string name = options.name.empty() ? FolderName(parts.source) : options.name;
  GgufWriter writer;
  SetArchitectureMetadata(config, name, report.dtype, writer);
  parts.vocabulary.WriteTo(writer);

  std::vector<DType> stored(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& planned = plan[i];
    stored[i] = planned.role == TensorRole::kVector ? DType::kF32 : report.dtype;
    const bool fallback =
        IsQuantized(stored[i]) && (planned.role == TensorRole::kRewardHeadMatrix ||
                                   planned.shape.back() % DTypeBlockValues(stored[i]) != 0);
    if (fallback) {
      stored[i] = DType::kF16;
      report.other_dtype_tensors.push_back(planned.gguf_name);
    }
    writer.DeclareTensor(planned.gguf_name, stored[i],
                         std::vector<uint64_t>(planned.shape.rbegin(), planned.shape.rend()));
  }
  const SourceTensor rope_factors{
      "rope_freqs.weight",
      DType::kF32,
      {static_cast<int64_t>(config.rope_freq_factors.size())},
      {reinterpret_cast<const uint8_t*>(config.rope_freq_factors.data()),
       config.rope_freq_factors.size() * sizeof(float)}};
  PONDER_RETURN_IF_ERROR(writer.WriteFile(out_path, [&](size_t i, ByteSink sink) {
    const PlannedTensor& planned = plan[i];
    const SourceTensor tensor =
        planned.gguf_name == "rope_freqs.weight" ? rope_factors : *source.find(planned.gguf_name);
    return StreamTensor(tensor, stored[i], planned.heads, RowOrder::kToInterleaved, sink);
  }));
  report.tensors = static_cast<int64_t>(plan.size());
  report.bytes = FileSize(out_path);
  return report;
}

absl::StatusOr<ConvertReport> ConvertHuggingFaceToGguf(const std::string& folder,
                                                       const std::string& out_path,
                                                       const ConvertOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(folder, ": not a folder (a Hugging Face model folder is expected)"));
  }
  // The output must not replace what the conversion reads: `--output FOLDER/model.safetensors`
  // would turn the checkpoint into a GGUF file.
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, ec)) {
    const std::string extension = entry.path().extension().string();
    if ((extension == ".json" || extension == ".safetensors") &&
        fs::equivalent(entry.path(), out_path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(out_path, ": is the input folder's ",
                                                     entry.path().filename().string(),
                                                     "; write the GGUF file to another path"));
    }
  }
  const std::string config_path = (fs::path(folder) / "config.json").string();
  PONDER_ASSIGN_OR_RETURN(const std::string config_text, ReadFileToString(config_path));
  const nlohmann::json config_json =
      nlohmann::json::parse(config_text, nullptr, /*allow_exceptions=*/false);
  if (config_json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": not valid JSON"));
  }
  HuggingFaceModelParts parts;
  parts.source = folder;
  PONDER_ASSIGN_OR_RETURN(parts.config, ModelConfigFromHuggingFace(config_json, config_path));
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint,
                          SafetensorsCheckpoint::Open(folder));
  for (const std::string& name : checkpoint->TensorNames()) {
    parts.tensors.push_back(*checkpoint->Find(name));
  }
  GgufVocabularyOptions vocabulary_options;
  vocabulary_options.vocab_size = parts.config.vocab_size;
  vocabulary_options.pre_tokenizer = options.pre_tokenizer;
  PONDER_ASSIGN_OR_RETURN(parts.vocabulary,
                          GgufVocabularyFromHuggingFace(folder, vocabulary_options));
  return WriteGgufFromHuggingFace(parts, out_path, options);
}

absl::StatusOr<ConvertReport> ConvertGgufToHuggingFace(const std::string& gguf_path,
                                                       const std::string& out_folder,
                                                       const ConvertOptions& options) {
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> gguf, GgufFile::Open(gguf_path));
  PONDER_ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromGguf(*gguf));
  TensorSource source;
  source.file = gguf_path;
  source.gguf_names = true;
  source.find = [&](const std::string& name) -> std::optional<SourceTensor> {
    const GgufTensorInfo* info = gguf->FindTensor(name);
    if (info == nullptr) return std::nullopt;
    SourceTensor t{info->name, info->dtype, {}, info->data};
    for (auto it = info->dims.rbegin(); it != info->dims.rend(); ++it) {
      t.shape.push_back(static_cast<int64_t>(*it));
    }
    return t;
  };
  // Facts GGUF states through its tensors (as ModelWeights::Load reads them).
  if (source.find("rope_freqs.weight").has_value()) {
    return absl::UnimplementedError(
        absl::StrCat(gguf_path,
                     ": has rope_freqs.weight (Llama 3.1-style rope scaling), which config.json "
                     "cannot express as per-frequency factors; not converted"));
  }
  config.attention_bias = source.find("blk.0.attn_q.bias").has_value();
  config.tied_embeddings = !source.find("output.weight").has_value();
  if (std::optional<SourceTensor> embedding = source.find("token_embd.weight");
      config.vocab_size == 0 && embedding.has_value() && embedding->shape.size() == 2) {
    config.vocab_size = static_cast<int>(embedding->shape[0]);
  }
  PONDER_RETURN_IF_ERROR(config.Validate(gguf_path));
  PONDER_ASSIGN_OR_RETURN(const std::vector<PlannedTensor> plan, PlanTensors(config, source));
  PONDER_RETURN_IF_ERROR(CheckTensors(plan, source));
  std::set<std::string> placed;
  for (const PlannedTensor& planned : plan) placed.insert(planned.gguf_name);
  for (const GgufTensorInfo& info : gguf->tensors()) {
    if (!placed.contains(info.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(gguf_path, ": tensor '", info.name, "' is not part of a ",
                       AsAbsl(ArchitectureName(config.architecture)),
                       " model as this converter knows it (no Hugging Face name for it)"));
    }
  }

  // The tokenizer before anything is written: a broken one, or one larger than the embedding,
  // is an error (QA in stop 32: such conversions exited 0 with a note and a folder nothing could
  // use). A GGUF of weights alone, or with a vocabulary tokenizer.json cannot express
  // (SentencePiece: Unimplemented), gives a folder of weights, with the note below.
  absl::StatusOr<HuggingFaceTokenizerFiles> tokenizer = HuggingFaceTokenizerFromGguf(*gguf);
  if (gguf->Has("tokenizer.ggml.model")) {
    if (!tokenizer.ok() && !absl::IsUnimplemented(tokenizer.status())) {
      return absl::InvalidArgumentError(absl::StrCat(
          tokenizer.status().message(), " (its tokenizer does not convert; nothing written)"));
    }
    PONDER_ASSIGN_OR_RETURN(const std::vector<std::string_view> tokens,
                            gguf->GetStringArray("tokenizer.ggml.tokens"));
    if (tokens.size() > static_cast<size_t>(config.vocab_size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          gguf_path, ": the tokenizer has ", tokens.size(), " tokens but the embedding only ",
          config.vocab_size, " rows; nothing written"));
    }
  }

  ConvertReport report;
  report.output = out_folder;
  const DType stored_embedding = source.find("token_embd.weight")->dtype;
  report.dtype =
      options.dtype.value_or(IsQuantized(stored_embedding) ? DType::kF32 : stored_embedding);
  if (IsQuantized(report.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Hugging Face folder holds f32, f16 or bf16 tensors, not ",
                     AsAbsl(DTypeName(report.dtype))));
  }
  std::error_code ec;
  if (fs::exists(out_folder, ec) && !fs::is_directory(out_folder, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(out_folder,
                     ": is a file; a GGUF file converts to a Hugging Face folder, "
                     "so give --output a folder"));
  }
  // The folders of the output's path that do not exist yet, deepest first: a conversion that
  // fails removes the files it wrote there and then those folders that are empty again (a write
  // error left an empty folder: QA of stop 32), never what another process put in them. A path
  // whose existence cannot be told (an I/O or permission error) counts as there.
  std::vector<fs::path> created_folders;
  for (fs::path p = out_folder; !p.empty(); p = p.parent_path()) {
    std::error_code exists_error;
    if (fs::exists(p, exists_error) || exists_error) break;
    created_folders.push_back(p);
    if (p == p.parent_path()) break;
  }
  fs::create_directories(out_folder, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(out_folder, ": ", ec.message()));
  std::vector<std::string> written;  // files of a created folder this conversion wrote
  bool finished = false;
  absl::Cleanup remove_created = [&] {
    if (finished || created_folders.empty()) return;
    std::error_code ignored;
    for (const std::string& file : written) fs::remove(file, ignored);
    for (const fs::path& folder : created_folders) {
      if (!fs::remove(folder, ignored)) break;  // not empty (or gone): it and its parents stay
    }
  };

  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  bool reward_head = false;
  std::vector<DType> stored(plan.size(), report.dtype);
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& planned = plan[i];
    reward_head = reward_head || planned.role == TensorRole::kRewardHeadMatrix;
    // GGUF keeps vectors in f32 (converted from whatever the original checkpoint held); they
    // take the matrices' type only where that loses nothing, so GGUF -> folder -> GGUF is
    // lossless and a folder that came from a bf16 checkpoint returns to its own bytes.
    if (planned.role == TensorRole::kVector &&
        !IsExactIn(*source.find(planned.gguf_name), report.dtype)) {
      stored[i] = DType::kF32;
    }
    writer.DeclareTensor(HuggingFaceTensorName(planned.gguf_name), stored[i], planned.shape);
  }
  const std::string weights_path = (fs::path(out_folder) / "model.safetensors").string();
  PONDER_RETURN_IF_ERROR(writer.WriteFile(weights_path, [&](size_t i, ByteSink sink) {
    return StreamTensor(*source.find(plan[i].gguf_name), stored[i], plan[i].heads,
                        RowOrder::kFromInterleaved, sink);
  }));
  written.push_back(weights_path);
  const std::string config_text = HuggingFaceConfigJson(config, report.dtype, reward_head);
  const std::string config_path = (fs::path(out_folder) / "config.json").string();
  PONDER_RETURN_IF_ERROR(WriteFileAtomically(
      config_path, {reinterpret_cast<const uint8_t*>(config_text.data()), config_text.size()}));
  written.push_back(config_path);
  report.tensors = static_cast<int64_t>(plan.size());
  report.bytes = FileSize(weights_path) + config_text.size();

  // Template files left in the folder (by a Hugging Face checkpoint replaced with --force, or an
  // earlier conversion) would take priority over the template written into tokenizer_config.json.
  PONDER_ASSIGN_OR_RETURN(const std::vector<std::string> stale_templates,
                          RemoveFolderChatTemplates(out_folder));
  for (const std::string& stale : stale_templates) {
    report.notes.push_back(absl::StrCat("removed ", stale,
                                        ": it would override the chat template "
                                        "written into tokenizer_config.json"));
  }
  if (!tokenizer.ok()) {  // a GGUF without a tokenizer
    // Tokenizer files left from an earlier conversion into this folder would not match.
    for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
      fs::remove(fs::path(out_folder) / file, ec);
    }
    report.notes.push_back(absl::StrCat("no tokenizer written: ", tokenizer.status().message()));
    finished = true;
    return report;
  }
  for (const auto& [file, text] :
       {std::pair{"tokenizer.json", &tokenizer->tokenizer_json},
        std::pair{"tokenizer_config.json", &tokenizer->tokenizer_config_json}}) {
    const std::string path = (fs::path(out_folder) / file).string();
    PONDER_RETURN_IF_ERROR(
        WriteFileAtomically(path, {reinterpret_cast<const uint8_t*>(text->data()), text->size()}));
    written.push_back(path);
    report.bytes += text->size();
  }
  finished = true;
  return report;
}

}  // namespace ponder::engine
