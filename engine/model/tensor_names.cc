#include "engine/model/tensor_names.h"

#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace ponder::engine {
namespace {

using NamePair = std::pair<std::string_view, std::string_view>;  // {GGUF, Hugging Face}

constexpr NamePair kTopLevel[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"cls.weight", "score.weight"},
    {"cls.bias", "score.bias"},
    {"cls.hidden.weight", "score.0.weight"},
    {"cls.hidden.bias", "score.0.bias"},
    {"cls.output.weight", "score.2.weight"},
    {"cls.output.bias", "score.2.bias"},
};

// Per layer: GGUF "blk.N.<first>" <-> Hugging Face "model.layers.N.<second>".
constexpr NamePair kPerLayer[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

constexpr std::string_view kGgufLayerPrefix = "blk.";
constexpr std::string_view kHuggingFaceLayerPrefix = "model.layers.";

// Splits "<prefix><digits>.<rest>" into digits and rest; false when `name` is not of that form.
bool SplitLayerName(std::string_view name, std::string_view prefix, std::string_view* layer,
                    std::string_view* rest) {
  if (!name.starts_with(prefix)) return false;
  name.remove_prefix(prefix.size());
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  for (char c : name.substr(0, dot)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  *layer = name.substr(0, dot);
  *rest = name.substr(dot + 1);
  return true;
}

// Looks `name` up on side `from` of the tables and returns it spelled on the other side.
template <std::string_view NamePair::*kFrom, std::string_view NamePair::*kTo>
std::optional<std::string> Translate(std::string_view name, std::string_view from_prefix,
                                     std::string_view to_prefix) {
  for (const NamePair& pair : kTopLevel) {
    if (pair.*kFrom == name) return std::string(pair.*kTo);
  }
  std::string_view layer, rest;
  if (!SplitLayerName(name, from_prefix, &layer, &rest)) return std::nullopt;
  for (const NamePair& pair : kPerLayer) {
    if (pair.*kFrom == rest) {
      return absl::StrCat(AsAbsl(to_prefix), AsAbsl(layer), ".", AsAbsl(pair.*kTo));
    }
  }
  return std::nullopt;
}

}  // namespace

std::string HuggingFaceTensorName(std::string_view gguf_name) {
  return Translate<&NamePair::first, &NamePair::second>(gguf_name, kGgufLayerPrefix,
                                                        kHuggingFaceLayerPrefix)
      .value_or(std::string(gguf_name));
}

std::optional<std::string> GgufTensorName(std::string_view hf_name) {
  return Translate<&NamePair::second, &NamePair::first>(hf_name, kHuggingFaceLayerPrefix,
                                                        kGgufLayerPrefix);
}

}  // namespace ponder::engine
