// The weights of a Llama-family transformer, loaded from a GGUF file or a Hugging Face folder.
//
// Matrices stay in their stored dtype, pointing into the memory-mapped file(s); the kernels
// (engine/ops) read them in place. Vectors (norms, biases) are converted to f32 at load.
// Every tensor's presence, dtype and shape is checked against the ModelConfig; errors name the
// file and the tensor.
#ifndef PONDER_ENGINE_TRANSFORMER_WEIGHTS_H_
#define PONDER_ENGINE_TRANSFORMER_WEIGHTS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"
#include "engine/ops/ops.h"

namespace ponder::engine {

class GgufFile;
class SafetensorsCheckpoint;

struct LayerWeights {
  std::vector<float> attention_norm;  // [hidden]
  ops::WeightMatrix wq, wk, wv, wo;   // [q_size][hidden], [kv_size][hidden] x2, [hidden][q_size]
  std::vector<float> bq, bk, bv;      // empty unless config.attention_bias
  std::vector<float> q_norm, k_norm;  // [head_dim], empty unless config.qk_norm
  std::vector<float> ffn_norm;        // [hidden]
  ops::WeightMatrix w_gate, w_up;     // [intermediate][hidden]
  ops::WeightMatrix w_down;           // [hidden][intermediate]
};

// A classification head read from the final hidden states (process/outcome reward models):
// either Linear(H,H) -> ReLU -> Linear(H,k) (Hugging Face `score.0.*`, `score.2.*`, as in
// Qwen2.5-Math-PRM) or a single Linear(H,k) (`score.*`, or GGUF `cls.*`).
struct RewardHeadWeights {
  std::optional<ops::WeightMatrix> hidden;  // Linear(H,H), absent for a single-layer head
  std::vector<float> hidden_bias;
  ops::WeightMatrix output;  // Linear(H,k)
  std::vector<float> output_bias;
  int num_labels() const { return static_cast<int>(output.rows); }
};

enum class ModelFormat { kGguf, kHuggingFace };

class ModelWeights {
 public:
  // `path` is a .gguf file or a Hugging Face folder (config.json + safetensors).
  static absl::StatusOr<std::unique_ptr<ModelWeights>> Load(const std::string& path);
  ~ModelWeights();

  const ModelConfig& config() const { return config_; }
  ModelFormat format() const { return format_; }
  const std::string& path() const { return path_; }
  // The GGUF file (for tokenizer metadata), or nullptr for a Hugging Face folder.
  const GgufFile* gguf() const { return gguf_.get(); }
  // "f16", "q8_0", or "mixed(f32,q8_0)": the dtypes of the layer matrices.
  std::string DTypeSummary() const;

  const ops::WeightMatrix& token_embedding() const { return token_embedding_; }  // [vocab][hidden]
  const ops::WeightMatrix& output() const { return output_; }                    // [vocab][hidden]
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  const std::optional<RewardHeadWeights>& reward_head() const { return reward_head_; }
  const std::vector<float>& rope_inverse_frequencies() const { return rope_inv_freq_; }

  class Source;  // where tensors come from (GGUF or safetensors); defined in weights.cc

 private:
  ModelWeights() = default;
  absl::Status LoadTensors(Source& source);

  std::string path_;
  ModelFormat format_ = ModelFormat::kGguf;
  ModelConfig config_;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<SafetensorsCheckpoint> safetensors_;
  ops::WeightMatrix token_embedding_;
  ops::WeightMatrix output_;
  std::vector<float> output_norm_;
  std::vector<LayerWeights> layers_;
  std::optional<RewardHeadWeights> reward_head_;
  std::vector<float> rope_inv_freq_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TRANSFORMER_WEIGHTS_H_
