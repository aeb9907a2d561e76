#include "engine/model/model_config.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/model/gguf.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {

std::string_view ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama:
      return "llama";
    case Architecture::kQwen2:
      return "qwen2";
    case Architecture::kQwen3:
      return "qwen3";
  }
  return "?";
}

std::optional<Architecture> ParseArchitecture(std::string_view name) {
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2, Architecture::kQwen3}) {
    if (ArchitectureName(arch) == name) return arch;
  }
  return std::nullopt;
}

namespace {
// The head dimension's bounds, which the rope tables' sizes need before the rest is checked.
absl::Status ValidateHeadDim(int64_t head_dim, std::string_view source) {
  if (head_dim <= 0 || head_dim % 2 != 0 || head_dim > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": bad head dimension ",
                                                   head_dim, " (must be even, at most 1024)"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ModelConfig::Validate(std::string_view source) const {
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": ", what));
  };
  if (num_layers <= 0 || num_layers > 1024)
    return error(absl::StrCat("bad layer count ", num_layers));
  if (hidden_size <= 0 || hidden_size > (1 << 16))
    return error(absl::StrCat("bad hidden size ", hidden_size));
  if (intermediate_size <= 0 || intermediate_size > (1 << 18)) {
    return error(absl::StrCat("bad intermediate size ", intermediate_size));
  }
  if (num_heads <= 0 || num_heads > 1024) return error(absl::StrCat("bad head count ", num_heads));
  if (num_kv_heads <= 0 || num_heads % num_kv_heads != 0) {
    return error(absl::StrCat("key/value head count ", num_kv_heads,
                              " does not divide the head count ", num_heads));
  }
  PONDER_RETURN_IF_ERROR(ValidateHeadDim(head_dim, source));
  if (vocab_size <= 0) return error(absl::StrCat("bad vocabulary size ", vocab_size));
  if (!(rms_norm_eps > 0) || !(rope_theta > 0) || !std::isfinite(rms_norm_eps) ||
      !std::isfinite(rope_theta)) {
    return error(absl::StrCat("rms_norm_eps (", rms_norm_eps, ") and rope_theta (", rope_theta,
                              ") must be positive and finite"));
  }
  if (!rope_freq_factors.empty() && rope_freq_factors.size() != static_cast<size_t>(head_dim / 2)) {
    return error(absl::StrCat("rope frequency factors have ", rope_freq_factors.size(),
                              " entries, expected head_dim/2 = ", head_dim / 2));
  }
  for (size_t i = 0; i < rope_freq_factors.size(); ++i) {
    if (!(rope_freq_factors[i] > 0) || !std::isfinite(rope_freq_factors[i])) {
      return error(absl::StrCat("rope frequency factor ", i, " is ", rope_freq_factors[i],
                                ": they must be positive and finite"));
    }
  }
  if (max_context <= 0) return error(absl::StrCat("bad context length ", max_context));
  return absl::OkStatus();
}

std::vector<float> ModelConfig::RopeInverseFrequencies() const {
  std::vector<float> inv_freq(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    double freq = std::pow(static_cast<double>(rope_theta), -2.0 * i / head_dim);
    if (!rope_freq_factors.empty()) freq /= rope_freq_factors[i];
    inv_freq[i] = static_cast<float>(freq);
  }
  return inv_freq;
}

absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& gguf) {
  PONDER_ASSIGN_OR_RETURN(std::string arch, gguf.GetString("general.architecture"));
  ModelConfig config;
  if (arch == "llama") {
    config.architecture = Architecture::kLlama;
    config.rope_style = RopeStyle::kInterleaved;
  } else if (arch == "qwen2") {
    config.architecture = Architecture::kQwen2;
    config.rope_style = RopeStyle::kNeox;
  } else if (arch == "qwen3") {
    config.architecture = Architecture::kQwen3;
    config.rope_style = RopeStyle::kNeox;
    config.qk_norm = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(gguf.name(), ": general.architecture '", arch,
                                                   "' is not supported (llama, qwen2, qwen3)"));
  }
  auto get_int = [&](const std::string& key) -> absl::StatusOr<int> {
    PONDER_ASSIGN_OR_RETURN(uint64_t v, gguf.GetUint(arch + "." + key));
    if (v > (uint64_t{1} << 30)) {
      return absl::InvalidArgumentError(
          absl::StrCat(gguf.name(), ": ", arch, ".", key, " = ", v, " is out of range"));
    }
    return static_cast<int>(v);
  };
  PONDER_ASSIGN_OR_RETURN(config.num_layers, get_int("block_count"));
  PONDER_ASSIGN_OR_RETURN(config.hidden_size, get_int("embedding_length"));
  PONDER_ASSIGN_OR_RETURN(config.intermediate_size, get_int("feed_forward_length"));
  PONDER_ASSIGN_OR_RETURN(config.num_heads, get_int("attention.head_count"));
  config.num_kv_heads = config.num_heads;
  if (gguf.Has(arch + ".attention.head_count_kv")) {
    PONDER_ASSIGN_OR_RETURN(config.num_kv_heads, get_int("attention.head_count_kv"));
  }
  config.head_dim = config.num_heads > 0 ? config.hidden_size / config.num_heads : 0;
  if (gguf.Has(arch + ".attention.key_length")) {
    PONDER_ASSIGN_OR_RETURN(config.head_dim, get_int("attention.key_length"));
  } else if (config.num_heads > 0 && config.hidden_size % config.num_heads != 0) {
    // Without a stated head size it is the hidden size's share of a head, which must be whole.
    return absl::InvalidArgumentError(
        absl::StrCat(gguf.name(), ": ", arch, ".attention.head_count ", config.num_heads,
                     " does not divide ", arch, ".embedding_length ", config.hidden_size,
                     " (and no attention.key_length gives the head size)"));
  }
  if (gguf.Has(arch + ".attention.value_length")) {
    PONDER_ASSIGN_OR_RETURN(int value_length, get_int("attention.value_length"));
    if (value_length != config.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(gguf.name(), ": value head size ",
                                                     value_length, " differs from key head size ",
                                                     config.head_dim, "; not supported"));
    }
  }
  if (gguf.Has(arch + ".rope.dimension_count")) {
    PONDER_ASSIGN_OR_RETURN(int rope_dims, get_int("rope.dimension_count"));
    if (rope_dims != config.head_dim && config.head_dim > 0) {  // else Validate names the size
      return absl::InvalidArgumentError(absl::StrCat(gguf.name(), ": partial rotary embeddings (",
                                                     rope_dims, " of ", config.head_dim,
                                                     " dimensions) are not supported"));
    }
  }
  config.max_context = 4096;
  if (gguf.Has(arch + ".context_length")) {
    PONDER_ASSIGN_OR_RETURN(config.max_context, get_int("context_length"));
  }
  if (gguf.Has(arch + ".attention.layer_norm_rms_epsilon")) {
    PONDER_ASSIGN_OR_RETURN(double eps, gguf.GetFloat(arch + ".attention.layer_norm_rms_epsilon"));
    config.rms_norm_eps = static_cast<float>(eps);
  }
  if (gguf.Has(arch + ".rope.freq_base")) {
    PONDER_ASSIGN_OR_RETURN(double theta, gguf.GetFloat(arch + ".rope.freq_base"));
    config.rope_theta = static_cast<float>(theta);
  }
  if (gguf.Has(arch + ".rope.scaling.type")) {
    PONDER_ASSIGN_OR_RETURN(std::string scaling, gguf.GetString(arch + ".rope.scaling.type"));
    if (scaling != "none") {
      return absl::InvalidArgumentError(
          absl::StrCat(gguf.name(), ": rope scaling type '", scaling, "' is not supported"));
    }
  }
  if (gguf.Has(arch + ".vocab_size")) {
    PONDER_ASSIGN_OR_RETURN(config.vocab_size, get_int("vocab_size"));
  }
  return config;
}

namespace {

absl::StatusOr<int64_t> JsonInt(const nlohmann::json& json, const char* key,
                                std::string_view source,
                                std::optional<int64_t> fallback = std::nullopt) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) {
    if (fallback.has_value()) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": missing \"", key, "\""));
  }
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": \"", key, "\" is not an integer"));
  }
  int64_t v = it->get<int64_t>();
  if (v < 0 || v > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": \"", key, "\" = ", v, " is out of range"));
  }
  return v;
}

// A string member; `fallback` when absent or null.
absl::StatusOr<std::string> JsonString(const nlohmann::json& json, const char* key,
                                       std::string_view source, std::string fallback = "") {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": \"", key, "\" is not a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<double> JsonFloat(const nlohmann::json& json, const char* key,
                                 std::string_view source, double fallback) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  if (!it->is_number()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": \"", key, "\" is not a number"));
  }
  return it->get<double>();
}

// Llama 3.1 rope scaling (transformers' _compute_llama3_parameters): wavelengths longer than
// original_max / low_freq_factor are divided by `factor`, shorter than original_max /
// high_freq_factor are kept, and the band between is interpolated smoothly. Expressed here as
// per-frequency divisors, the form GGUF stores in `rope_freqs.weight`.
std::vector<float> Llama3RopeFactors(int head_dim, double theta, double factor,
                                     double low_freq_factor, double high_freq_factor,
                                     double original_max) {
  std::vector<float> factors(head_dim / 2);
  double low_freq_wavelen = original_max / low_freq_factor;
  double high_freq_wavelen = original_max / high_freq_factor;
  for (int i = 0; i < head_dim / 2; ++i) {
    double freq = std::pow(theta, -2.0 * i / head_dim);
    double wavelen = 2 * M_PI / freq;
    if (wavelen < high_freq_wavelen) {
      factors[i] = 1.0f;
    } else if (wavelen > low_freq_wavelen) {
      factors[i] = static_cast<float>(factor);
    } else {
      double smooth =
          (original_max / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      factors[i] = static_cast<float>(1.0 / ((1 - smooth) / factor + smooth));
    }
  }
  return factors;
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromHuggingFace(const nlohmann::json& json,
                                                       std::string_view source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": not a JSON object"));
  }
  PONDER_ASSIGN_OR_RETURN(const std::string model_type, JsonString(json, "model_type", source));
  ModelConfig config;
  config.rope_style = RopeStyle::kNeox;
  if (model_type == "llama" || model_type == "mistral") {
    config.architecture = Architecture::kLlama;
  } else if (model_type == "qwen2") {
    config.architecture = Architecture::kQwen2;
    config.attention_bias = true;
  } else if (model_type == "qwen3") {
    config.architecture = Architecture::kQwen3;
    config.qk_norm = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": model_type '", model_type,
                     "' is not supported (llama, mistral, qwen2, qwen3)"));
  }
  // What the transformer computes and these files could say otherwise: refused, not ignored.
  PONDER_ASSIGN_OR_RETURN(const std::string act, JsonString(json, "hidden_act", source, "silu"));
  if (act != "silu") {
    return absl::UnimplementedError(absl::StrCat(AsAbsl(source), ": hidden_act '", act,
                                                 "' is not supported (the MLP is SwiGLU: silu)"));
  }
  if (auto it = json.find("mlp_bias"); it != json.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source), ": \"mlp_bias\" is not a boolean"));
    }
    if (it->get<bool>()) {
      return absl::UnimplementedError(
          absl::StrCat(AsAbsl(source), ": mlp_bias true is not supported (MLPs without biases)"));
    }
  }
  PONDER_ASSIGN_OR_RETURN(int64_t layers, JsonInt(json, "num_hidden_layers", source));
  PONDER_ASSIGN_OR_RETURN(int64_t hidden, JsonInt(json, "hidden_size", source));
  PONDER_ASSIGN_OR_RETURN(int64_t inter, JsonInt(json, "intermediate_size", source));
  PONDER_ASSIGN_OR_RETURN(int64_t heads, JsonInt(json, "num_attention_heads", source));
  PONDER_ASSIGN_OR_RETURN(int64_t kv_heads, JsonInt(json, "num_key_value_heads", source, heads));
  PONDER_ASSIGN_OR_RETURN(int64_t head_dim,
                          JsonInt(json, "head_dim", source, heads > 0 ? hidden / heads : 0));
  const bool head_dim_given = json.contains("head_dim") && !json["head_dim"].is_null();
  if (!head_dim_given && heads > 0 && hidden % heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": num_attention_heads ", heads,
                                                   " does not divide hidden_size ", hidden,
                                                   " (and no head_dim is given)"));
  }
  PONDER_ASSIGN_OR_RETURN(int64_t vocab, JsonInt(json, "vocab_size", source));
  PONDER_ASSIGN_OR_RETURN(config.max_context,
                          JsonInt(json, "max_position_embeddings", source, 4096));
  PONDER_ASSIGN_OR_RETURN(double eps, JsonFloat(json, "rms_norm_eps", source, 1e-6));
  PONDER_ASSIGN_OR_RETURN(double theta, JsonFloat(json, "rope_theta", source, 10000.0));
  config.num_layers = static_cast<int>(layers);
  config.hidden_size = static_cast<int>(hidden);
  config.intermediate_size = static_cast<int>(inter);
  config.num_heads = static_cast<int>(heads);
  config.num_kv_heads = static_cast<int>(kv_heads);
  config.head_dim = static_cast<int>(head_dim);
  config.vocab_size = static_cast<int>(vocab);
  config.rms_norm_eps = static_cast<float>(eps);
  config.rope_theta = static_cast<float>(theta);
  // A boolean member of another type ("false" as a string) is an error, not ignored: a string
  // "false" for tie_word_embeddings tied a model that had lost its output layer (QA, stop 32).
  for (const char* key : {"attention_bias", "tie_word_embeddings"}) {
    if (auto it = json.find(key); it != json.end() && !it->is_null() && !it->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source), ": \"", key, "\" is not a boolean"));
    }
  }
  if (auto it = json.find("attention_bias"); it != json.end() && it->is_boolean()) {
    config.attention_bias = it->get<bool>();
  }
  if (auto it = json.find("tie_word_embeddings"); it != json.end() && it->is_boolean()) {
    config.tied_embeddings = it->get<bool>();
    config.tied_embeddings_stated = true;
  }
  if (auto it = json.find("rope_scaling"); it != json.end() && !it->is_null()) {
    const nlohmann::json& scaling = *it;
    if (!scaling.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source), ": rope_scaling is not an object"));
    }
    PONDER_ASSIGN_OR_RETURN(const std::string legacy_type, JsonString(scaling, "type", source));
    PONDER_ASSIGN_OR_RETURN(const std::string type,
                            JsonString(scaling, "rope_type", source, legacy_type));
    if (type != "llama3") {
      return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": rope_scaling type '", type,
                                                     "' is not supported (only llama3)"));
    }
    PONDER_ASSIGN_OR_RETURN(double factor, JsonFloat(scaling, "factor", source, 8.0));
    PONDER_ASSIGN_OR_RETURN(double low, JsonFloat(scaling, "low_freq_factor", source, 1.0));
    PONDER_ASSIGN_OR_RETURN(double high, JsonFloat(scaling, "high_freq_factor", source, 4.0));
    PONDER_ASSIGN_OR_RETURN(int64_t original,
                            JsonInt(scaling, "original_max_position_embeddings", source, 8192));
    if (!(high > low) || !(low > 0) || !std::isfinite(high) || !(static_cast<float>(factor) > 0) ||
        !std::isfinite(static_cast<float>(factor)) || original <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          AsAbsl(source), ": invalid llama3 rope_scaling (factor ", factor, ", low_freq_factor ",
          low, ", high_freq_factor ", high, ", original_max_position_embeddings ", original,
          "): factors positive and finite, high above low"));
    }
    PONDER_RETURN_IF_ERROR(ValidateHeadDim(head_dim, source));  // head_dim / 2 factors
    config.rope_freq_factors =
        Llama3RopeFactors(config.head_dim, theta, factor, low, high, static_cast<double>(original));
  }
  return config;
}

}  // namespace ponder::engine
