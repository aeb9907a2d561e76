// Tokenizer::FromHuggingFace: tokenizer.json (+ tokenizer_config.json, the chat template files,
// generation_config.json), read as Hugging Face tokenizers does for byte-level BPE models.
#include <sys/stat.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/hf_chat_template_files.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_state.h"

namespace ponder::engine {
namespace {

using Json = nlohmann::json;

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}
bool IsFile(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Reads one JSON document; errors name the file and where parsing failed.
absl::StatusOr<Json> ParseJson(std::string_view text, std::string_view name) {
  absl::StatusOr<Json> json = ponder::ParseJson(text);
  if (json.ok()) return json;
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(name), ": not valid JSON (", json.status().message(), ")"));
}

// Builds errors that name the file and the field.
class FieldErrors {
 public:
  explicit FieldErrors(std::string file) : file_(std::move(file)) {}
  absl::Status Invalid(std::string_view field, std::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", AsAbsl(field), " ", AsAbsl(problem)));
  }
  absl::Status Unsupported(std::string_view field, std::string_view problem) const {
    return absl::UnimplementedError(absl::StrCat(file_, ": ", AsAbsl(field), " ", AsAbsl(problem)));
  }

 private:
  std::string file_;
};

// Sequences of normalizers, pre-tokenizers and post-processors nest at most this deep: real files
// nest one or two levels, and the parsers below recurse once per level.
constexpr int kMaxNesting = 16;

// The member `key` of `object`, or null when it has none: a reference, so reading a member does
// not copy its subtree.
const Json& Member(const Json& object, const char* key) {
  static const Json kAbsent;
  if (!object.is_object()) return kAbsent;
  auto it = object.find(key);
  return it == object.end() ? kAbsent : *it;
}

// A string member, `fallback` when absent or null.
absl::StatusOr<std::string> StringMember(const Json& object, const char* key, std::string fallback,
                                         const FieldErrors& errors, std::string_view where) {
  const Json& member = Member(object, key);
  if (member.is_null()) return fallback;
  if (!member.is_string())
    return errors.Invalid(absl::StrCat(AsAbsl(where), ".", key), "is not a string");
  return member.get<std::string>();
}

// The members of a Sequence (`key` holds an array; absent or null: none), for the nesting level
// `depth` of `where`.
absl::StatusOr<const Json*> SequenceMembers(const Json& node, const char* key, int depth,
                                            const FieldErrors& errors, const std::string& where) {
  static const Json kNone = Json::array();
  if (depth >= kMaxNesting) {
    return errors.Invalid(where, absl::StrCat("nests Sequences more than ", kMaxNesting, " deep"));
  }
  const Json& members = Member(node, key);
  if (members.is_null()) return &kNone;
  if (!members.is_array()) return errors.Invalid(absl::StrCat(where, ".", key), "is not an array");
  return &members;
}

// A boolean member, `fallback` when absent or null.
absl::StatusOr<bool> BoolMember(const Json& object, const char* key, bool fallback,
                                const FieldErrors& errors, std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    return errors.Invalid(absl::StrCat(AsAbsl(where), ".", key), "is not a boolean");
  return it->get<bool>();
}

// A special token in tokenizer_config.json: "text", {"content": "text", ...} or null.
absl::StatusOr<std::optional<std::string>> TokenMember(const Json& config, const char* key,
                                                       const FieldErrors& errors) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return errors.Invalid(key, "is neither a string, an object with a \"content\" string, nor null");
}

absl::StatusOr<std::vector<NormalizationForm>> ParseNormalizer(const Json& normalizer,
                                                               const FieldErrors& errors,
                                                               const std::string& where,
                                                               int depth = 0) {
  std::vector<NormalizationForm> forms;
  if (normalizer.is_null()) return forms;
  if (!normalizer.is_object() || !normalizer.contains("type") || !normalizer["type"].is_string()) {
    return errors.Invalid(where, "is not an object with a \"type\"");
  }
  const std::string type = normalizer["type"].get<std::string>();
  if (type == "NFC") return std::vector<NormalizationForm>{NormalizationForm::kNfc};
  if (type == "NFD") return std::vector<NormalizationForm>{NormalizationForm::kNfd};
  if (type == "NFKC") return std::vector<NormalizationForm>{NormalizationForm::kNfkc};
  if (type == "NFKD") return std::vector<NormalizationForm>{NormalizationForm::kNfkd};
  if (type == "Sequence") {
    PONDER_ASSIGN_OR_RETURN(const Json* members,
                            SequenceMembers(normalizer, "normalizers", depth, errors, where));
    for (size_t i = 0; i < members->size(); ++i) {
      PONDER_ASSIGN_OR_RETURN(
          std::vector<NormalizationForm> inner,
          ParseNormalizer((*members)[i], errors, absl::StrCat(where, ".normalizers[", i, "]"),
                          depth + 1));
      forms.insert(forms.end(), inner.begin(), inner.end());
    }
    return forms;
  }
  return errors.Unsupported(where, absl::StrCat("type '", type,
                                                "' is not supported (supported: NFC, NFD, NFKC, "
                                                "NFKD and Sequences of them)"));
}

absl::StatusOr<SplitBehavior> ParseBehavior(const Json& value, const FieldErrors& errors,
                                            const std::string& where) {
  if (!value.is_string()) return errors.Invalid(where, "is not a string");
  const std::string name = value.get<std::string>();
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return errors.Invalid(where, absl::StrCat("'", name, "' is not a split behavior"));
}

// Appends the steps of a tokenizer.json pre_tokenizer; sets *byte_level when a ByteLevel step
// is present (the input is then mapped to bytes, which is what Ponder's BPE works on).
absl::Status ParsePreTokenizer(const Json& node, const FieldErrors& errors,
                               const std::string& where, PreTokenizer* pre_tokenizer,
                               bool* byte_level, int depth = 0) {
  if (node.is_null()) return absl::OkStatus();
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) {
    return errors.Invalid(where, "is not an object with a \"type\"");
  }
  const std::string type = node["type"].get<std::string>();
  if (type == "Sequence") {
    PONDER_ASSIGN_OR_RETURN(const Json* members,
                            SequenceMembers(node, "pretokenizers", depth, errors, where));
    for (size_t i = 0; i < members->size(); ++i) {
      PONDER_RETURN_IF_ERROR(ParsePreTokenizer((*members)[i], errors,
                                               absl::StrCat(where, ".pretokenizers[", i, "]"),
                                               pre_tokenizer, byte_level, depth + 1));
    }
    return absl::OkStatus();
  }
  if (type == "Split") {
    const Json& pattern = Member(node, "pattern");
    std::unique_ptr<UnicodeRegex> regex;
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
      absl::StatusOr<std::unique_ptr<UnicodeRegex>> compiled =
          UnicodeRegex::Compile(pattern["Regex"].get<std::string>());
      if (!compiled.ok())
        return errors.Invalid(where + ".pattern", AsStd(compiled.status().message()));
      regex = *std::move(compiled);
    } else if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
      PONDER_ASSIGN_OR_RETURN(regex,
                              UnicodeRegex::CompileLiteral(pattern["String"].get<std::string>()));
    } else {
      return errors.Invalid(where + ".pattern", "is not {\"Regex\": ...} or {\"String\": ...}");
    }
    PONDER_ASSIGN_OR_RETURN(const SplitBehavior behavior,
                            ParseBehavior(Member(node, "behavior"), errors, where + ".behavior"));
    PONDER_ASSIGN_OR_RETURN(const bool invert, BoolMember(node, "invert", false, errors, where));
    pre_tokenizer->AddSplit(std::move(regex), behavior, invert);
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    *byte_level = true;
    PONDER_ASSIGN_OR_RETURN(const bool prefix_space,
                            BoolMember(node, "add_prefix_space", true, errors, where));
    PONDER_ASSIGN_OR_RETURN(const bool use_regex,
                            BoolMember(node, "use_regex", true, errors, where));
    if (prefix_space) pre_tokenizer->AddPrefixSpace();
    if (use_regex) {
      PONDER_ASSIGN_OR_RETURN(std::unique_ptr<UnicodeRegex> regex,
                              UnicodeRegex::Compile(kGpt2Pattern));
      pre_tokenizer->AddSplit(std::move(regex), SplitBehavior::kIsolated, false);
    }
    return absl::OkStatus();
  }
  if (type == "Digits") {
    PONDER_ASSIGN_OR_RETURN(const bool individual,
                            BoolMember(node, "individual_digits", false, errors, where));
    PONDER_ASSIGN_OR_RETURN(std::unique_ptr<UnicodeRegex> regex, UnicodeRegex::Compile(R"(\p{N})"));
    pre_tokenizer->AddSplit(std::move(regex),
                            individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
                            false);
    return absl::OkStatus();
  }
  return errors.Unsupported(
      where, absl::StrCat("type '", type,
                          "' is not supported (supported: Sequence, Split, ByteLevel, Digits)"));
}

// Whether the post-processor puts `bos` first (a TemplateProcessing whose "single" template
// starts with that special token, possibly inside a Sequence). Other post-processors, and
// templates of another shape, do not.
absl::StatusOr<bool> PostProcessorAddsBos(const Json& node, const std::string& bos,
                                          const FieldErrors& errors, const std::string& where,
                                          int depth = 0) {
  if (!node.is_object()) return false;
  PONDER_ASSIGN_OR_RETURN(const std::string type,
                          StringMember(node, "type", std::string(), errors, where));
  if (type == "Sequence") {
    PONDER_ASSIGN_OR_RETURN(const Json* members,
                            SequenceMembers(node, "processors", depth, errors, where));
    for (size_t i = 0; i < members->size(); ++i) {
      PONDER_ASSIGN_OR_RETURN(
          const bool adds,
          PostProcessorAddsBos((*members)[i], bos, errors,
                               absl::StrCat(where, ".processors[", i, "]"), depth + 1));
      if (adds) return true;
    }
    return false;
  }
  if (type != "TemplateProcessing") return false;
  const Json& single = Member(node, "single");
  if (!single.is_array() || single.empty()) return false;
  const Json& first = Member(single[0], "SpecialToken");
  return Member(first, "id").is_string() && Member(first, "id").get<std::string>() == bos;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseMerge(const Json& merge,
                                                               const FieldErrors& errors,
                                                               size_t index) {
  if (merge.is_string()) {
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == text.size() ||
        text.find(' ', space + 1) != std::string::npos) {
      return errors.Invalid(absl::StrCat("model.merges[", index, "]"),
                            absl::StrCat("'", text, "' is not two tokens separated by a space"));
    }
    return std::make_pair(text.substr(0, space), text.substr(space + 1));
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    return std::make_pair(merge[0].get<std::string>(), merge[1].get<std::string>());
  }
  return errors.Invalid(absl::StrCat("model.merges[", index, "]"),
                        "is neither \"a b\" nor [\"a\", \"b\"]");
}

absl::StatusOr<std::unique_ptr<TokenizerState>> LoadHuggingFace(
    std::string_view tokenizer_json, std::string_view config_json,
    std::string_view generation_config_json, std::string source_name, std::string config_name) {
  const FieldErrors errors(source_name);
  PONDER_ASSIGN_OR_RETURN(const Json root, ParseJson(tokenizer_json, source_name));
  if (!root.is_object()) return errors.Invalid("the document", "is not a JSON object");
  auto state = std::make_unique<TokenizerState>();
  state->source = source_name;
  state->algorithm = Tokenizer::Algorithm::kByteLevelBpe;

  // The model section.
  if (!root.contains("model") || !root["model"].is_object()) {
    return errors.Invalid("model", "is missing or not an object");
  }
  const Json& model = root["model"];
  PONDER_ASSIGN_OR_RETURN(const std::string model_type,
                          StringMember(model, "type", "BPE", errors, "model"));
  if (model_type != "BPE") {
    return errors.Unsupported("model.type",
                              absl::StrCat("'", model_type, "' is not supported (only BPE)"));
  }
  PONDER_ASSIGN_OR_RETURN(const bool byte_fallback,
                          BoolMember(model, "byte_fallback", false, errors, "model"));
  if (byte_fallback) {
    return errors.Unsupported("model.byte_fallback",
                              "is true: SentencePiece-style tokenizer.json files are not "
                              "supported; load the model's GGUF vocabulary instead");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && it->is_string() && !it->get<std::string>().empty()) {
      return errors.Unsupported(absl::StrCat("model.", key), "is set, which is not supported");
    }
  }
  PONDER_ASSIGN_OR_RETURN(const bool ignore_merges,
                          BoolMember(model, "ignore_merges", false, errors, "model"));
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return errors.Invalid("model.vocab", "is missing or not an object");
  }
  if (!model.contains("merges") || !model["merges"].is_array()) {
    return errors.Invalid("model.merges", "is missing or not an array");
  }

  static const Json kNoTokens = Json::array();
  const Json& added = Member(root, "added_tokens").is_null() ? kNoTokens : root["added_tokens"];
  if (!added.is_array()) return errors.Invalid("added_tokens", "is not an array");

  // Ids: the model vocabulary, then the added tokens (which may reuse or extend it). BPE looks
  // pieces up in the model vocabulary only, as Hugging Face's BPE model does. Real vocabularies
  // number their tokens densely; an id far beyond the number of entries is refused rather than
  // allocated for.
  const int64_t id_limit = 2 * static_cast<int64_t>(model["vocab"].size() + added.size()) + 1024;
  auto id_problem = [&](int64_t id) {
    return absl::StrCat(id, " is not a token id (ids lie in [0, ", id_limit,
                        ") for a vocabulary of ", model["vocab"].size() + added.size(),
                        " entries)");
  };
  std::vector<std::string> model_texts;  // by id; empty where model.vocab has no entry
  for (const auto& [text, id_value] : model["vocab"].items()) {
    if (!id_value.is_number_integer()) {
      return errors.Invalid(absl::StrCat("model.vocab[\"", text, "\"]"), "is not an integer");
    }
    if (id_value.get<int64_t>() < 0 || id_value.get<int64_t>() >= id_limit) {
      return errors.Invalid(absl::StrCat("model.vocab[\"", text, "\"]"),
                            id_problem(id_value.get<int64_t>()));
    }
    if (text.empty()) return errors.Invalid("model.vocab", "has an empty token");
    const size_t id = static_cast<size_t>(id_value.get<int64_t>());
    if (id >= model_texts.size()) model_texts.resize(id + 1);
    if (!model_texts[id].empty()) {
      return errors.Invalid("model.vocab", absl::StrCat("gives id ", id, " to both '",
                                                        model_texts[id], "' and '", text, "'"));
    }
    model_texts[id] = text;
  }
  std::vector<std::string> texts = model_texts;
  std::vector<uint16_t> attrs(texts.size(), 0);
  for (size_t id = 0; id < texts.size(); ++id) {
    if (!texts[id].empty()) attrs[id] = kTokenNormal;
  }

  for (size_t i = 0; i < added.size(); ++i) {
    const Json& token = added[i];
    const std::string where = absl::StrCat("added_tokens[", i, "]");
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() ||
        !token.contains("content") || !token["content"].is_string()) {
      return errors.Invalid(where, "is not an object with an integer \"id\" and a \"content\"");
    }
    const int64_t id = token["id"].get<int64_t>();
    if (id < 0 || id >= id_limit) return errors.Invalid(where + ".id", id_problem(id));
    PONDER_ASSIGN_OR_RETURN(const bool special, BoolMember(token, "special", false, errors, where));
    PONDER_ASSIGN_OR_RETURN(const bool lstrip, BoolMember(token, "lstrip", false, errors, where));
    PONDER_ASSIGN_OR_RETURN(const bool rstrip, BoolMember(token, "rstrip", false, errors, where));
    std::string content = token["content"].get<std::string>();
    if (content.empty()) return errors.Invalid(where + ".content", "is empty");
    uint16_t attr = special ? kTokenControl : kTokenUserDefined;
    if (lstrip) attr |= kTokenLstrip;
    if (rstrip) attr |= kTokenRstrip;
    if (static_cast<size_t>(id) >= texts.size()) {
      texts.resize(id + 1);
      attrs.resize(id + 1, 0);
    }
    texts[id] = std::move(content);
    attrs[id] = attr;
  }
  if (texts.empty()) return errors.Invalid("model.vocab", "is empty");
  model_texts.resize(texts.size());
  state->vocabulary.Assign(std::move(texts), {}, std::move(attrs));
  Vocabulary& vocabulary = state->vocabulary;
  const int32_t vocab_size = vocabulary.size();
  StringViewMap<int32_t> model_vocab;  // views into model_texts, which stays unchanged
  model_vocab.reserve(model_texts.size());
  for (int32_t id = 0; id < vocab_size; ++id) {
    if (!model_texts[id].empty()) model_vocab[std::string_view(model_texts[id])] = id;
  }
  auto find_model_token = [&](std::string_view text) -> std::optional<int32_t> {
    auto it = model_vocab.find(text);
    if (it == model_vocab.end()) return std::nullopt;
    return it->second;
  };

  // Normalizer and pre-tokenizer.
  PONDER_ASSIGN_OR_RETURN(const std::vector<NormalizationForm> forms,
                          ParseNormalizer(Member(root, "normalizer"), errors, "normalizer"));
  if (!forms.empty()) {
    PONDER_ASSIGN_OR_RETURN(state->normalizer, UnicodeNormalizer::Create(forms));
  }
  bool byte_level = false;
  PONDER_RETURN_IF_ERROR(ParsePreTokenizer(Member(root, "pre_tokenizer"), errors, "pre_tokenizer",
                                           &state->pre_tokenizer, &byte_level));
  if (!byte_level) {
    return errors.Unsupported("pre_tokenizer",
                              "has no ByteLevel step: only byte-level BPE tokenizer.json files "
                              "are supported (load SentencePiece models from GGUF)");
  }

  // The BPE model.
  std::array<int32_t, 256> byte_tokens;
  for (int byte = 0; byte < 256; ++byte) {
    byte_tokens[byte] =
        find_model_token(ByteLevelEncode(std::string(1, static_cast<char>(byte)))).value_or(-1);
  }
  std::optional<int32_t> unknown;
  if (auto it = model.find("unk_token"); it != model.end() && it->is_string()) {
    unknown = find_model_token(it->get<std::string>());
  }
  state->unknown_id = unknown;
  std::vector<std::pair<std::string, int32_t>> whole;
  if (ignore_merges) {
    for (const auto& [text, id] : model_vocab) {
      std::string bytes;
      if (ByteLevelDecode(text, &bytes)) whole.emplace_back(std::move(bytes), id);
    }
  }
  state->byte_pair_encoder =
      std::make_unique<BytePairEncoder>(byte_tokens, std::move(whole), ignore_merges, unknown);
  const Json& merges = model["merges"];
  for (size_t i = 0; i < merges.size(); ++i) {
    PONDER_ASSIGN_OR_RETURN(const auto parts, ParseMerge(merges[i], errors, i));
    const std::optional<int32_t> left = find_model_token(parts.first);
    const std::optional<int32_t> right = find_model_token(parts.second);
    const std::optional<int32_t> result = find_model_token(parts.first + parts.second);
    if (!left || !right || !result) {
      // Hugging Face refuses such a file too ("merge token out of vocabulary").
      return errors.Invalid(absl::StrCat("model.merges[", i, "]"),
                            absl::StrCat("'", parts.first, " ", parts.second, "' uses '",
                                         !left    ? parts.first
                                         : !right ? parts.second
                                                  : parts.first + parts.second,
                                         "', which is not in model.vocab"));
    }
    state->byte_pair_encoder->AddMerge(*left, *right, *result);
  }

  // Added tokens are matched as Hugging Face does (special ones only with parse_special); the
  // end-of-generation override to control type comes after, as it only concerns decoding.
  BuildAddedTokenMatcher(state.get());

  std::vector<std::string> pieces(vocab_size);
  for (int32_t id = 0; id < vocab_size; ++id) {
    if (vocabulary.Has(id, kTokenControl | kTokenUserDefined)) {
      pieces[id] = std::string(vocabulary.Text(id));
    } else if (vocabulary.Has(id, kTokenNormal)) {
      ByteLevelDecode(vocabulary.Text(id), &pieces[id]);
    }
  }
  vocabulary.SetPieces(pieces);

  // tokenizer_config.json and generation_config.json.
  const FieldErrors config_errors(config_name);
  Json config = Json::object();
  if (!config_json.empty()) {
    PONDER_ASSIGN_OR_RETURN(config, ParseJson(config_json, config_name));
    if (!config.is_object()) return config_errors.Invalid("the document", "is not a JSON object");
  }
  PONDER_ASSIGN_OR_RETURN(const std::optional<std::string> bos_text,
                          TokenMember(config, "bos_token", config_errors));
  PONDER_ASSIGN_OR_RETURN(const std::optional<std::string> eos_text,
                          TokenMember(config, "eos_token", config_errors));
  for (const auto& [text, id, key] : {std::make_tuple(bos_text, &state->bos_id, "bos_token"),
                                      std::make_tuple(eos_text, &state->eos_id, "eos_token")}) {
    if (!text.has_value()) continue;
    *id = vocabulary.FindText(*text);
    if (!id->has_value()) {
      return config_errors.Invalid(key, absl::StrCat("'", *text, "' is not in the vocabulary"));
    }
  }
  if (config.contains("add_bos_token") && !config["add_bos_token"].is_null()) {
    PONDER_ASSIGN_OR_RETURN(state->add_bos_by_default,
                            BoolMember(config, "add_bos_token", false, config_errors, "config"));
  } else if (bos_text.has_value()) {
    // No explicit setting: a post-processor that inserts BOS, else llama.cpp's default for the
    // vocabulary (BOS for Llama 3's pre-tokenizer, llama-bpe).
    const std::vector<std::string> patterns = state->pre_tokenizer.Patterns();
    PONDER_ASSIGN_OR_RETURN(
        const bool post_processor_adds_bos,
        PostProcessorAddsBos(Member(root, "post_processor"), *bos_text, errors, "post_processor"));
    state->add_bos_by_default =
        post_processor_adds_bos || (patterns.size() == 1 && patterns[0] == kLlama3Pattern);
  }
  if (!state->bos_id.has_value()) state->add_bos_by_default = false;

  std::vector<int32_t> extra_end_ids;
  if (state->eos_id.has_value()) extra_end_ids.push_back(*state->eos_id);
  if (!generation_config_json.empty()) {
    absl::StatusOr<Json> generation = ParseJson(generation_config_json, "generation_config.json");
    if (generation.ok() && generation->is_object() && generation->contains("eos_token_id")) {
      // Ids outside the vocabulary are left out (CollectEndOfGenerationTokens), as generation in
      // transformers simply never meets them; read as 64 bits so that none wraps onto a token.
      auto add = [&](const Json& id) {
        if (!id.is_number_integer()) return;
        const int64_t value = id.get<int64_t>();
        if (value >= 0 && value <= std::numeric_limits<int32_t>::max()) {
          extra_end_ids.push_back(static_cast<int32_t>(value));
        }
      };
      const Json& eos = (*generation)["eos_token_id"];
      add(eos);
      if (eos.is_array()) {
        for (const Json& id : eos) add(id);
      }
    }
  }
  CollectEndOfGenerationTokens(extra_end_ids, state.get());

  std::string chat_template_source;
  if (auto it = config.find("chat_template"); it != config.end()) {
    if (it->is_string()) {
      chat_template_source = it->get<std::string>();
    } else if (it->is_array()) {
      // Named templates: [{"name": "default", "template": "..."}, ...]. transformers'
      // get_chat_template uses the one named "default" (the last, as its dict keeps it) and has
      // none without it, as GGUF export does.
      for (const Json& entry : *it) {
        if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) {
          continue;
        }
        const Json& name = Member(entry, "name");
        if (name.is_string() && name == "default") {
          chat_template_source = entry["template"].get<std::string>();
        }
      }
    }
  }
  state->chat_template = ChatTemplate::FromJinja(chat_template_source, bos_text.value_or(""),
                                                 eos_text.value_or(""), state->add_bos_by_default);
  return state;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromHuggingFaceJson(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string source_name) {
  PONDER_ASSIGN_OR_RETURN(
      std::unique_ptr<TokenizerState> state,
      LoadHuggingFace(tokenizer_json, tokenizer_config_json, std::string_view(), source_name,
                      absl::StrCat(source_name, " (tokenizer_config.json)")));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(state)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromHuggingFace(
    const std::string& dir_or_tokenizer_json) {
  std::string tokenizer_path = dir_or_tokenizer_json;
  if (IsDirectory(dir_or_tokenizer_json)) {
    tokenizer_path = dir_or_tokenizer_json + "/tokenizer.json";
    if (!IsFile(tokenizer_path)) {
      return absl::NotFoundError(
          absl::StrCat(dir_or_tokenizer_json, ": no tokenizer.json in this folder"));
    }
  }
  PONDER_ASSIGN_OR_RETURN(const std::string tokenizer_json, ReadFileToString(tokenizer_path));
  const std::string directory = DirectoryOf(tokenizer_path);
  const std::string config_path = directory + "/tokenizer_config.json";
  std::string config_json;
  if (IsFile(config_path)) {
    PONDER_ASSIGN_OR_RETURN(config_json, ReadFileToString(config_path));
  }
  PONDER_ASSIGN_OR_RETURN(config_json, WithFolderChatTemplates(directory, std::move(config_json)));
  const std::string generation_path = directory + "/generation_config.json";
  std::string generation_json;
  if (IsFile(generation_path)) {
    PONDER_ASSIGN_OR_RETURN(generation_json, ReadFileToString(generation_path));
  }
  PONDER_ASSIGN_OR_RETURN(
      std::unique_ptr<TokenizerState> state,
      LoadHuggingFace(tokenizer_json, config_json, generation_json, tokenizer_path, config_path));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(state)));
}

}  // namespace ponder::engine
