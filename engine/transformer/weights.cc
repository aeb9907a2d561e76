#include "engine/transformer/weights.h"

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/model/gguf.h"
#include "engine/model/safetensors.h"
#include "engine/model/tensor_names.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {

// A tensor as either format stores it, with the shape in PyTorch order (last dim contiguous).
struct TensorRef {
  std::string name;  // the name in the file, for errors
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};

// Looks tensors up by their GGUF names; the Hugging Face source translates.
class ModelWeights::Source {
 public:
  virtual ~Source() = default;
  // The tensor, recorded as used when the file has it.
  std::optional<TensorRef> Find(const std::string& gguf_name) const {
    std::optional<TensorRef> tensor = FindInFile(gguf_name);
    if (tensor.has_value()) used_.insert(tensor->name);
    return tensor;
  }
  // The tensor's name as this format spells it, for error messages.
  virtual std::string NativeName(const std::string& gguf_name) const = 0;
  virtual std::string file() const = 0;
  // Every tensor of the file, by the names it spells them with.
  virtual std::vector<std::string> TensorNames() const = 0;
  bool Used(const std::string& name) const { return used_.contains(name); }

  absl::Status Missing(const std::string& gguf_name) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file(), ": missing tensor '", NativeName(gguf_name), "'"));
  }

 protected:
  virtual std::optional<TensorRef> FindInFile(const std::string& gguf_name) const = 0;

 private:
  mutable std::set<std::string> used_;
};

namespace {

class GgufSource : public ModelWeights::Source {
 public:
  explicit GgufSource(const GgufFile& file) : file_(file) {}
  std::optional<TensorRef> FindInFile(const std::string& name) const override {
    const GgufTensorInfo* info = file_.FindTensor(name);
    if (info == nullptr) return std::nullopt;
    TensorRef ref{info->name, info->dtype, {}, info->data};
    for (auto it = info->dims.rbegin(); it != info->dims.rend(); ++it) {
      ref.shape.push_back(static_cast<int64_t>(*it));
    }
    return ref;
  }
  std::string NativeName(const std::string& name) const override { return name; }
  std::string file() const override { return file_.name(); }
  std::vector<std::string> TensorNames() const override {
    std::vector<std::string> names;
    for (const GgufTensorInfo& info : file_.tensors()) names.push_back(info.name);
    return names;
  }

 private:
  const GgufFile& file_;
};

class HuggingFaceSource : public ModelWeights::Source {
 public:
  explicit HuggingFaceSource(const SafetensorsCheckpoint& checkpoint) : checkpoint_(checkpoint) {}
  std::optional<TensorRef> FindInFile(const std::string& gguf_name) const override {
    const SafetensorsTensor* t = checkpoint_.Find(HuggingFaceTensorName(gguf_name));
    if (t == nullptr) return std::nullopt;
    return TensorRef{t->name, t->dtype, t->shape, t->data};
  }
  std::string NativeName(const std::string& name) const override {
    return HuggingFaceTensorName(name);
  }
  std::string file() const override { return checkpoint_.folder(); }
  std::vector<std::string> TensorNames() const override { return checkpoint_.TensorNames(); }

 private:
  const SafetensorsCheckpoint& checkpoint_;
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<ops::WeightMatrix> GetMatrix(const ModelWeights::Source& source,
                                            const std::string& name, int64_t rows, int64_t cols) {
  std::optional<TensorRef> t = source.Find(name);
  if (!t.has_value()) return source.Missing(name);
  if (t->shape != std::vector<int64_t>{rows, cols}) {
    return absl::InvalidArgumentError(absl::StrCat(source.file(), ": tensor '", t->name,
                                                   "' has shape ", ShapeString(t->shape),
                                                   ", expected [", rows, ", ", cols, "]"));
  }
  return ops::WeightMatrix{t->dtype, rows, cols, t->data.data()};
}

absl::StatusOr<std::vector<float>> GetVector(const ModelWeights::Source& source,
                                             const std::string& name, int64_t size) {
  std::optional<TensorRef> t = source.Find(name);
  if (!t.has_value()) return source.Missing(name);
  if (t->shape != std::vector<int64_t>{size}) {
    return absl::InvalidArgumentError(absl::StrCat(source.file(), ": tensor '", t->name,
                                                   "' has shape ", ShapeString(t->shape),
                                                   ", expected [", size, "]"));
  }
  if (size % DTypeBlockValues(t->dtype) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.file(), ": tensor '", t->name, "' has a quantized type its size does not allow"));
  }
  std::vector<float> out(size);
  ops::DequantizeRow(ops::WeightMatrix{t->dtype, 1, size, t->data.data()}, 0, out.data());
  return out;
}

absl::StatusOr<std::vector<float>> GetOptionalVector(const ModelWeights::Source& source,
                                                     const std::string& name, int64_t size) {
  if (!source.Find(name).has_value()) return std::vector<float>();
  return GetVector(source, name, size);
}

}  // namespace

ModelWeights::~ModelWeights() = default;

absl::StatusOr<std::unique_ptr<ModelWeights>> ModelWeights::Load(const std::string& path) {
  namespace fs = std::filesystem;
  std::unique_ptr<ModelWeights> weights(new ModelWeights());
  weights->path_ = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    weights->format_ = ModelFormat::kHuggingFace;
    std::string config_path = (fs::path(path) / "config.json").string();
    PONDER_ASSIGN_OR_RETURN(std::string text, ReadFileToString(config_path));
    nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": not valid JSON"));
    }
    PONDER_ASSIGN_OR_RETURN(weights->config_, ModelConfigFromHuggingFace(json, config_path));
    PONDER_ASSIGN_OR_RETURN(weights->safetensors_, SafetensorsCheckpoint::Open(path));
    HuggingFaceSource source(*weights->safetensors_);
    PONDER_RETURN_IF_ERROR(weights->LoadTensors(source));
  } else {
    weights->format_ = ModelFormat::kGguf;
    PONDER_ASSIGN_OR_RETURN(weights->gguf_, GgufFile::Open(path));
    PONDER_ASSIGN_OR_RETURN(weights->config_, ModelConfigFromGguf(*weights->gguf_));
    GgufSource source(*weights->gguf_);
    PONDER_RETURN_IF_ERROR(weights->LoadTensors(source));
  }
  return weights;
}

absl::Status ModelWeights::LoadTensors(Source& source) {
  ModelConfig& c = config_;
  // The vocabulary size comes from the embedding when the metadata does not state it.
  std::optional<TensorRef> embedding = source.Find("token_embd.weight");
  if (!embedding.has_value()) return source.Missing("token_embd.weight");
  if (embedding->shape.size() == 2 && c.vocab_size == 0) {
    c.vocab_size = static_cast<int>(embedding->shape[0]);
  }
  if (format_ == ModelFormat::kGguf) {
    c.attention_bias = source.Find("blk.0.attn_q.bias").has_value();
    c.tied_embeddings = !source.Find("output.weight").has_value();
    if (std::optional<TensorRef> freqs = source.Find("rope_freqs.weight"); freqs.has_value()) {
      PONDER_ASSIGN_OR_RETURN(c.rope_freq_factors,
                              GetVector(source, "rope_freqs.weight", c.head_dim / 2));
    }
  } else if (!source.Find("output.weight").has_value()) {
    // Some checkpoints omit lm_head without saying so; one whose config says the embeddings are
    // not tied has lost its output layer (transformers would start it from random weights),
    // unless it is a reward model: those have a score head instead and keep their base model's
    // tie_word_embeddings false (Qwen2.5-Math-PRM, Skywork-Reward).
    const bool reward_model =
        source.Find("cls.weight").has_value() || source.Find("cls.output.weight").has_value();
    if (c.tied_embeddings_stated && !c.tied_embeddings && !reward_model) {
      return source.Missing("output.weight");
    }
    c.tied_embeddings = true;
  }
  PONDER_RETURN_IF_ERROR(c.Validate(source.file()));

  const int64_t hidden = c.hidden_size, q = c.q_size(), kv = c.kv_size(),
                inter = c.intermediate_size;
  PONDER_ASSIGN_OR_RETURN(token_embedding_,
                          GetMatrix(source, "token_embd.weight", c.vocab_size, hidden));
  if (c.tied_embeddings) {
    output_ = token_embedding_;
  } else {
    PONDER_ASSIGN_OR_RETURN(output_, GetMatrix(source, "output.weight", c.vocab_size, hidden));
  }
  PONDER_ASSIGN_OR_RETURN(output_norm_, GetVector(source, "output_norm.weight", hidden));
  layers_.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& layer = layers_[i];
    std::string p = absl::StrCat("blk.", i, ".");
    PONDER_ASSIGN_OR_RETURN(layer.attention_norm,
                            GetVector(source, p + "attn_norm.weight", hidden));
    PONDER_ASSIGN_OR_RETURN(layer.wq, GetMatrix(source, p + "attn_q.weight", q, hidden));
    PONDER_ASSIGN_OR_RETURN(layer.wk, GetMatrix(source, p + "attn_k.weight", kv, hidden));
    PONDER_ASSIGN_OR_RETURN(layer.wv, GetMatrix(source, p + "attn_v.weight", kv, hidden));
    PONDER_ASSIGN_OR_RETURN(layer.wo, GetMatrix(source, p + "attn_output.weight", hidden, q));
    if (c.attention_bias) {
      PONDER_ASSIGN_OR_RETURN(layer.bq, GetVector(source, p + "attn_q.bias", q));
      PONDER_ASSIGN_OR_RETURN(layer.bk, GetVector(source, p + "attn_k.bias", kv));
      PONDER_ASSIGN_OR_RETURN(layer.bv, GetVector(source, p + "attn_v.bias", kv));
    }
    if (c.qk_norm) {
      PONDER_ASSIGN_OR_RETURN(layer.q_norm,
                              GetVector(source, p + "attn_q_norm.weight", c.head_dim));
      PONDER_ASSIGN_OR_RETURN(layer.k_norm,
                              GetVector(source, p + "attn_k_norm.weight", c.head_dim));
    }
    PONDER_ASSIGN_OR_RETURN(layer.ffn_norm, GetVector(source, p + "ffn_norm.weight", hidden));
    PONDER_ASSIGN_OR_RETURN(layer.w_gate, GetMatrix(source, p + "ffn_gate.weight", inter, hidden));
    PONDER_ASSIGN_OR_RETURN(layer.w_up, GetMatrix(source, p + "ffn_up.weight", inter, hidden));
    PONDER_ASSIGN_OR_RETURN(layer.w_down, GetMatrix(source, p + "ffn_down.weight", hidden, inter));
  }

  // Reward heads: a two-layer head (score.0 / score.2) or a single linear layer (score / cls).
  if (std::optional<TensorRef> h = source.Find("cls.hidden.weight"); h.has_value()) {
    RewardHeadWeights head;
    PONDER_ASSIGN_OR_RETURN(head.hidden, GetMatrix(source, "cls.hidden.weight", hidden, hidden));
    PONDER_ASSIGN_OR_RETURN(head.hidden_bias, GetOptionalVector(source, "cls.hidden.bias", hidden));
    std::optional<TensorRef> out = source.Find("cls.output.weight");
    if (!out.has_value() || out->shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          source.file(), ": reward head has a hidden layer but no valid output layer"));
    }
    PONDER_ASSIGN_OR_RETURN(head.output,
                            GetMatrix(source, "cls.output.weight", out->shape[0], hidden));
    PONDER_ASSIGN_OR_RETURN(head.output_bias,
                            GetOptionalVector(source, "cls.output.bias", out->shape[0]));
    reward_head_ = std::move(head);
  } else if (std::optional<TensorRef> out = source.Find("cls.weight"); out.has_value()) {
    if (out->shape.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(source.file(), ": tensor '", out->name, "' must be a matrix"));
    }
    RewardHeadWeights head;
    PONDER_ASSIGN_OR_RETURN(head.output, GetMatrix(source, "cls.weight", out->shape[0], hidden));
    PONDER_ASSIGN_OR_RETURN(head.output_bias, GetOptionalVector(source, "cls.bias", out->shape[0]));
    reward_head_ = std::move(head);
  }
  if (reward_head_.has_value() && reward_head_->num_labels() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.file(), ": the reward head's output layer has 0 rows: it needs one label or more"));
  }
  // Every tensor of the file must have found its place (as `ponder convert` requires): one the
  // configuration does not use, a layer past its count or a bias it turns off, would be dropped
  // and another model run than the file holds.
  for (const std::string& name : source.TensorNames()) {
    if (source.Used(name) || name.ends_with(".rotary_emb.inv_freq") ||
        (name == "lm_head.weight" && c.tied_embeddings)) {
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        source.file(), ": tensor '", name, "' is not part of the ",
        AsAbsl(ArchitectureName(c.architecture)), " model its configuration describes (",
        c.num_layers, c.num_layers == 1 ? " layer" : " layers",
        c.attention_bias ? "" : ", no attention biases", "); refusing to ignore it"));
  }
  rope_inv_freq_ = c.RopeInverseFrequencies();
  return absl::OkStatus();
}

std::string ModelWeights::DTypeSummary() const {
  std::set<std::string_view> names;
  for (const LayerWeights& layer : layers_) {
    for (const ops::WeightMatrix* m :
         {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.w_gate, &layer.w_up, &layer.w_down}) {
      names.insert(DTypeName(m->dtype));
    }
  }
  if (names.size() == 1) return std::string(*names.begin());
  std::vector<std::string> list(names.begin(), names.end());
  return absl::StrCat("mixed(", absl::StrJoin(list, ","), ")");
}

}  // namespace ponder::engine
