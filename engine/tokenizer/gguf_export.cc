#include "engine/tokenizer/gguf_export.h"

#include <sys/stat.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/tokenizer/hf_chat_template_files.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace ponder::engine {
namespace {

using Json = nlohmann::json;

absl::StatusOr<Json> ParseJsonObject(std::string_view text, const std::string& name) {
  if (text.empty()) return Json::object();
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(name + ": not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError(name + ": not a JSON object");
  return json;
}

// llama.cpp's does_token_look_special (convert_hf_to_gguf.py): added tokens some models forget
// to mark special but that are control tokens all the same.
bool LooksSpecial(std::string_view text) {
  if (text == "<pad>" || text == "<mask>" || text == "<2mass>" || text == "[@BOS@]") return true;
  if (text.starts_with("<|") && text.ends_with("|>")) return true;
  if (text.starts_with("<\xEF\xBD\x9C") && text.ends_with("\xEF\xBD\x9C>")) return true;  // <｜ ｜>
  return text.starts_with("<unused") && text.ends_with(">");
}

// A member that is a boolean, `fallback` when absent or of another type (the tokenizer.json was
// validated by Tokenizer::FromHuggingFaceJson before this reads it).
bool BoolOr(const Json& object, const char* key, bool fallback) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

bool IsByteLevelStep(const Json& step, bool use_regex) {
  return step.is_object() && step.value("type", Json()) == "ByteLevel" &&
         !BoolOr(step, "add_prefix_space", true) && BoolOr(step, "use_regex", true) == use_regex;
}

// The expression of an isolating, non-inverted Split step; empty for any other step.
std::string SplitExpression(const Json& step) {
  if (!step.is_object() || step.value("type", Json()) != "Split") return "";
  if (step.value("behavior", Json()) != "Isolated" || BoolOr(step, "invert", false)) return "";
  const Json& pattern = step.value("pattern", Json());
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
    return "";
  }
  return pattern["Regex"].get<std::string>();
}

// The llama.cpp pre-tokenizer type whose expressions are the tokenizer.json's (see the header).
absl::StatusOr<std::string> RecognisePreTokenizer(const Json& root, const std::string& source) {
  const Json& node = root.value("pre_tokenizer", Json());
  const bool ignore_merges = BoolOr(root["model"], "ignore_merges", false);
  std::vector<Json> steps;
  if (node.is_object() && node.value("type", Json()) == "Sequence") {
    for (const Json& step : node.value("pretokenizers", Json::array())) steps.push_back(step);
  } else {
    steps.push_back(node);
  }
  if (steps.size() == 1 && IsByteLevelStep(steps[0], /*use_regex=*/true) && !ignore_merges) {
    return std::string("gpt-2");
  }
  if (steps.size() == 2 && IsByteLevelStep(steps[1], /*use_regex=*/false)) {
    const std::string expression = SplitExpression(steps[0]);
    if (expression == kLlama3Pattern) return std::string(ignore_merges ? "llama-bpe" : "smaug-bpe");
    if (expression == kQwen2Pattern && !ignore_merges) return std::string("qwen2");
  }
  return absl::UnimplementedError(absl::StrCat(
      source, ": pre_tokenizer ", node.dump(), (ignore_merges ? " (with model.ignore_merges)" : ""),
      " is not one whose llama.cpp type this converter recognises (GPT-2's ByteLevel expression, "
      "or a Split by Llama 3's or Qwen2's expression before a ByteLevel step); if you know the "
      "llama.cpp type (tokenizer.ggml.pre), name it explicitly"));
}

// A special token of tokenizer_config.json ("text" or {"content": "text"}), looked up among the
// added tokens as gguf-py's SpecialVocab does (the first added token with that text).
std::optional<int32_t> SpecialTokenFromConfig(const Json& tokenizer_config, const Json& added,
                                              const std::string& type) {
  auto it = tokenizer_config.find(type + "_token");
  if (it == tokenizer_config.end()) return std::nullopt;
  std::string text;
  if (it->is_string()) {
    text = it->get<std::string>();
  } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    text = (*it)["content"].get<std::string>();
  } else {
    return std::nullopt;
  }
  for (const Json& token : added) {
    if (token["content"].get<std::string>() == text) return token["id"].get<int32_t>();
  }
  return std::nullopt;
}

std::optional<int32_t> SpecialTokenId(const Json& tokenizer_config, const Json& config,
                                      const Json& added, const std::string& type,
                                      int64_t vocab_size) {
  if (std::optional<int32_t> id = SpecialTokenFromConfig(tokenizer_config, added, type)) return id;
  auto it = config.find(type + "_token_id");
  if (it != config.end() && it->is_number_integer()) {
    const int64_t id = it->get<int64_t>();
    if (id >= 0 && id < vocab_size) return static_cast<int32_t>(id);
  }
  return std::nullopt;
}

}  // namespace

void GgufVocabulary::WriteTo(GgufWriter& writer) const {
  writer.SetString("tokenizer.ggml.model", model);
  writer.SetString("tokenizer.ggml.pre", pre);
  writer.SetStringArray("tokenizer.ggml.tokens", tokens);
  writer.SetInt32Array("tokenizer.ggml.token_type", token_types);
  writer.SetStringArray("tokenizer.ggml.merges", merges);
  const std::pair<const char*, const std::optional<int32_t>*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &bos_id},
      {"tokenizer.ggml.eos_token_id", &eos_id},
      {"tokenizer.ggml.unknown_token_id", &unknown_id},
      {"tokenizer.ggml.seperator_token_id", &separator_id},  // llama.cpp's spelling
      {"tokenizer.ggml.padding_token_id", &padding_id},
  };
  for (const auto& [key, id] : ids) {
    if (id->has_value()) writer.SetUint32(key, static_cast<uint32_t>(**id));
  }
  writer.SetBool("tokenizer.ggml.add_bos_token", add_bos);
  if (add_eos.has_value()) writer.SetBool("tokenizer.ggml.add_eos_token", *add_eos);
  if (!chat_template.empty()) writer.SetString("tokenizer.chat_template", chat_template);
  std::vector<std::string> names;
  for (const auto& [name, text] : named_chat_templates) {
    writer.SetString(absl::StrCat("tokenizer.chat_template.", name), text);
    names.push_back(name);
  }
  if (!names.empty()) writer.SetStringArray("tokenizer.chat_templates", names);
}

absl::StatusOr<GgufVocabulary> GgufVocabularyFromHuggingFaceJson(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string_view config_json, const std::string& source_name,
    const GgufVocabularyOptions& options) {
  // Loading it as a tokenizer validates every part this reads, with errors that name the field.
  PONDER_ASSIGN_OR_RETURN(
      std::unique_ptr<Tokenizer> tokenizer,
      Tokenizer::FromHuggingFaceJson(tokenizer_json, tokenizer_config_json, source_name));
  PONDER_ASSIGN_OR_RETURN(const Json root, ParseJsonObject(tokenizer_json, source_name));
  const size_t slash = source_name.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : source_name.substr(0, slash);
  PONDER_ASSIGN_OR_RETURN(
      const Json tokenizer_config,
      ParseJsonObject(tokenizer_config_json, folder + "/tokenizer_config.json"));
  PONDER_ASSIGN_OR_RETURN(const Json config, ParseJsonObject(config_json, folder + "/config.json"));
  const Json& added = root.value("added_tokens", Json::array());

  GgufVocabulary vocabulary;
  if (!options.pre_tokenizer.empty()) {
    bool ignore_merges = false, add_bos = false;
    absl::StatusOr<PreTokenizer> known =
        PreTokenizer::ForLlamaCppType(options.pre_tokenizer, &ignore_merges, &add_bos);
    if (!known.ok()) {
      return absl::Status(known.status().code(),
                          absl::StrCat(source_name, ": the pre-tokenizer type asked for: ",
                                       known.status().message()));
    }
    vocabulary.pre = options.pre_tokenizer;
  } else {
    PONDER_ASSIGN_OR_RETURN(vocabulary.pre, RecognisePreTokenizer(root, source_name));
  }

  // Tokens by id, padded to the model's vocabulary size.
  int64_t vocab_size = options.vocab_size;
  std::string size_origin = "the requested vocabulary size";
  if (vocab_size == 0 && config.contains("vocab_size") &&
      config["vocab_size"].is_number_integer()) {
    vocab_size = config["vocab_size"].get<int64_t>();
    size_origin = "config.json vocab_size";
  }
  if (vocab_size == 0) vocab_size = tokenizer->vocab_size();
  if (vocab_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": ", size_origin, " ", vocab_size, " is negative"));
  }
  // Models pad their embedding by at most a few thousand rows beyond the tokenizer; a size far
  // beyond is a broken config, refused before the token list is allocated for it.
  const int64_t size_limit = 2 * static_cast<int64_t>(tokenizer->vocab_size()) + 65536;
  if (vocab_size > size_limit) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", size_origin, " ", vocab_size,
                                                   " is far beyond the tokenizer's ",
                                                   tokenizer->vocab_size(), " tokens"));
  }
  std::vector<std::string> tokens(vocab_size);
  std::vector<int32_t> types(vocab_size, static_cast<int32_t>(GgufTokenType::kUnused));
  std::vector<bool> present(vocab_size, false);
  auto place = [&](int64_t id, std::string text, GgufTokenType type) -> absl::Status {
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ": token '", text, "' has id ",
                                                     id, ", outside ", size_origin, " (",
                                                     vocab_size, ")"));
    }
    tokens[id] = std::move(text);
    types[id] = static_cast<int32_t>(type);
    present[id] = true;
    return absl::OkStatus();
  };
  for (const auto& [text, id] : root["model"]["vocab"].items()) {
    PONDER_RETURN_IF_ERROR(place(id.get<int64_t>(), text, GgufTokenType::kNormal));
  }
  for (const Json& token : added) {
    const std::string text = token["content"].get<std::string>();
    const bool special = BoolOr(token, "special", false) || LooksSpecial(text);
    PONDER_RETURN_IF_ERROR(place(token["id"].get<int64_t>(), text,
                                 special ? GgufTokenType::kControl : GgufTokenType::kUserDefined));
  }
  for (int64_t id = 0; id < vocab_size; ++id) {
    if (!present[id]) tokens[id] = absl::StrCat("[PAD", id, "]");
  }
  vocabulary.tokens = std::move(tokens);
  vocabulary.token_types = std::move(types);

  for (const Json& merge : root["model"]["merges"]) {
    if (merge.is_string()) {
      vocabulary.merges.push_back(merge.get<std::string>());
      continue;
    }
    // [left, right]: a space inside a part is written as U+0120, as gguf-py does.
    std::string parts[2] = {merge[0].get<std::string>(), merge[1].get<std::string>()};
    for (std::string& part : parts) {
      for (size_t at; (at = part.find(' ')) != std::string::npos;) part.replace(at, 1, "\xC4\xA0");
    }
    vocabulary.merges.push_back(parts[0] + " " + parts[1]);
  }

  vocabulary.bos_id = SpecialTokenId(tokenizer_config, config, added, "bos", vocab_size);
  vocabulary.eos_id = SpecialTokenId(tokenizer_config, config, added, "eos", vocab_size);
  vocabulary.unknown_id = SpecialTokenId(tokenizer_config, config, added, "unk", vocab_size);
  vocabulary.separator_id = SpecialTokenId(tokenizer_config, config, added, "sep", vocab_size);
  vocabulary.padding_id = SpecialTokenId(tokenizer_config, config, added, "pad", vocab_size);
  vocabulary.add_bos = tokenizer->add_bos_by_default();
  if (auto it = tokenizer_config.find("add_eos_token");
      it != tokenizer_config.end() && it->is_boolean()) {
    vocabulary.add_eos = it->get<bool>();
  }

  if (auto it = tokenizer_config.find("chat_template"); it != tokenizer_config.end()) {
    if (it->is_string()) {
      vocabulary.chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      for (const Json& entry : *it) {
        if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) {
          continue;
        }
        std::string name;
        if (auto name_it = entry.find("name"); name_it != entry.end() && name_it->is_string()) {
          name = name_it->get<std::string>();
        }
        // gguf-py keeps template names to ASCII letters, digits and '_'.
        for (char& c : name) {
          if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        }
        if (name == "default") {
          vocabulary.chat_template = entry["template"].get<std::string>();
        } else if (!name.empty()) {
          vocabulary.named_chat_templates.emplace_back(name, entry["template"].get<std::string>());
        }
      }
    }
  }
  return vocabulary;
}

absl::StatusOr<GgufVocabulary> GgufVocabularyFromHuggingFace(const std::string& folder,
                                                             const GgufVocabularyOptions& options) {
  auto read_if_present = [&](const char* name) -> absl::StatusOr<std::string> {
    const std::string path = absl::StrCat(folder, "/", name);
    struct stat info;
    if (stat(path.c_str(), &info) != 0) return std::string();
    return ReadFileToString(path);
  };
  const std::string tokenizer_path = folder + "/tokenizer.json";
  struct stat info;
  if (stat(tokenizer_path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat(tokenizer_path,
                     ": not found (the GGUF file needs the model's vocabulary; only "
                     "tokenizer.json vocabularies are supported, not tokenizer.model)"));
  }
  PONDER_ASSIGN_OR_RETURN(const std::string tokenizer_json, ReadFileToString(tokenizer_path));
  PONDER_ASSIGN_OR_RETURN(std::string tokenizer_config_json,
                          read_if_present("tokenizer_config.json"));
  PONDER_ASSIGN_OR_RETURN(tokenizer_config_json,
                          WithFolderChatTemplates(folder, std::move(tokenizer_config_json)));
  PONDER_ASSIGN_OR_RETURN(const std::string config_json, read_if_present("config.json"));
  return GgufVocabularyFromHuggingFaceJson(tokenizer_json, tokenizer_config_json, config_json,
                                           tokenizer_path, options);
}

absl::StatusOr<HuggingFaceTokenizerFiles> HuggingFaceTokenizerFromGguf(const GgufFile& gguf) {
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromGguf(gguf));
  if (tokenizer->algorithm() != Tokenizer::Algorithm::kByteLevelBpe) {
    return absl::UnimplementedError(
        absl::StrCat(gguf.name(),
                     ": only byte-level (gpt2) vocabularies can be written as tokenizer.json; "
                     "this one is SentencePiece (llama)"));
  }
  std::string pre = "default";
  if (gguf.Has("tokenizer.ggml.pre")) {
    PONDER_ASSIGN_OR_RETURN(pre, gguf.GetString("tokenizer.ggml.pre"));
  }
  bool ignore_merges = false, add_bos_default = false;
  PONDER_ASSIGN_OR_RETURN(const PreTokenizer pre_tokenizer,
                          PreTokenizer::ForLlamaCppType(pre, &ignore_merges, &add_bos_default));
  PONDER_ASSIGN_OR_RETURN(const std::vector<std::string_view> tokens,
                          gguf.GetStringArray("tokenizer.ggml.tokens"));
  std::vector<int64_t> types(tokens.size(), static_cast<int64_t>(GgufTokenType::kNormal));
  if (gguf.Has("tokenizer.ggml.token_type")) {
    PONDER_ASSIGN_OR_RETURN(types, gguf.GetIntArray("tokenizer.ggml.token_type"));
  }
  PONDER_ASSIGN_OR_RETURN(const std::vector<std::string_view> merges,
                          gguf.GetStringArray("tokenizer.ggml.merges"));

  // model.vocab in id order. Built on the underlying list: ordered_json's own insertion looks
  // for the key linearly, quadratic for a 150k-token vocabulary; `in_vocab` keeps texts unique
  // (a text a GGUF file repeats can only have one id in tokenizer.json: the first).
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  auto& vocab_entries = vocab.get_ref<nlohmann::ordered_json::object_t&>();
  absl::flat_hash_set<std::string> in_vocab;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string text(tokens[id]);
    const auto type = static_cast<GgufTokenType>(types[id]);
    if (type == GgufTokenType::kControl || type == GgufTokenType::kUserDefined ||
        type == GgufTokenType::kUnknown) {
      added.push_back({{"id", id},
                       {"content", text},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", type != GgufTokenType::kUserDefined}});
    } else if (type != GgufTokenType::kUnused && in_vocab.insert(text).second) {
      vocab_entries.emplace_back(text, id);
    }
  }
  const nlohmann::ordered_json byte_level = {{"type", "ByteLevel"},
                                             {"add_prefix_space", false},
                                             {"trim_offsets", false},
                                             {"use_regex", false}};
  const std::vector<std::string> patterns = pre_tokenizer.Patterns();
  nlohmann::ordered_json pre_tokenizer_json;
  if (patterns.size() == 1 && patterns[0] == kGpt2Pattern) {
    pre_tokenizer_json = byte_level;
    pre_tokenizer_json["use_regex"] = true;
  } else {
    nlohmann::ordered_json steps = nlohmann::ordered_json::array();
    for (const std::string& pattern : patterns) {
      steps.push_back({{"type", "Split"},
                       {"pattern", {{"Regex", pattern}}},
                       {"behavior", "Isolated"},
                       {"invert", false}});
    }
    steps.push_back(byte_level);
    pre_tokenizer_json = {{"type", "Sequence"}, {"pretokenizers", steps}};
  }
  const std::optional<int32_t> bos = tokenizer->bos_id();
  const std::optional<int32_t> eos = tokenizer->eos_id();
  const bool add_bos = tokenizer->add_bos_by_default() && bos.has_value();
  nlohmann::ordered_json post_processor = nullptr;
  if (add_bos) {
    const std::string bos_text(tokenizer->TokenText(*bos));
    const nlohmann::ordered_json bos_step = {{"SpecialToken", {{"id", bos_text}, {"type_id", 0}}}};
    post_processor = {{"type", "TemplateProcessing"},
                      {"single", {bos_step, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                      {"pair",
                       {bos_step,
                        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                        bos_step,
                        {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
                      {"special_tokens",
                       {{bos_text, {{"id", bos_text}, {"ids", {*bos}}, {"tokens", {bos_text}}}}}}};
  }
  // Merges of or into strings outside model.vocab can never apply; llama.cpp and FromGguf skip
  // them, Hugging Face refuses them, so they are left out.
  nlohmann::ordered_json merge_list = nlohmann::ordered_json::array();
  for (std::string_view merge : merges) {
    const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string_view::npos;
    if (space == std::string_view::npos) continue;
    const std::string left(merge.substr(0, space)), right(merge.substr(space + 1));
    if (in_vocab.contains(left) && in_vocab.contains(right) && in_vocab.contains(left + right)) {
      merge_list.push_back(std::string(merge));
    }
  }
  nlohmann::ordered_json root = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre_tokenizer_json},
      {"post_processor", post_processor},
      {"decoder", byte_level},
      // The BPE model's optional fields (dropout, unk_token, ...) keep their defaults.
      {"model",
       {{"type", "BPE"},
        {"ignore_merges", ignore_merges},
        {"vocab", vocab},
        {"merges", merge_list}}},
  };

  auto token_or_null = [&](std::optional<int32_t> id) -> nlohmann::ordered_json {
    if (!id.has_value()) return nullptr;
    return std::string(tokenizer->TokenText(*id));
  };
  std::optional<int32_t> padding;
  if (gguf.Has("tokenizer.ggml.padding_token_id")) {
    // Any integer type; a negative or out-of-range id is no padding token, as the vocabulary
    // reads its other special ids (a -1 stored signed refused the whole conversion).
    PONDER_ASSIGN_OR_RETURN(const int64_t id, gguf.GetInt("tokenizer.ggml.padding_token_id"));
    if (id >= 0 && static_cast<uint64_t>(id) < tokens.size()) padding = static_cast<int32_t>(id);
  }
  nlohmann::ordered_json config = {{"add_bos_token", add_bos},
                                   {"bos_token", token_or_null(bos)},
                                   {"eos_token", token_or_null(eos)},
                                   {"pad_token", token_or_null(padding)},
                                   {"clean_up_tokenization_spaces", false},
                                   {"tokenizer_class", "PreTrainedTokenizerFast"}};
  if (gguf.Has("tokenizer.ggml.add_eos_token")) {
    PONDER_ASSIGN_OR_RETURN(const bool add_eos, gguf.GetBool("tokenizer.ggml.add_eos_token"));
    config["add_eos_token"] = add_eos;
  }
  if (gguf.Has("tokenizer.chat_template")) {
    PONDER_ASSIGN_OR_RETURN(const std::string chat_template,
                            gguf.GetString("tokenizer.chat_template"));
    config["chat_template"] = chat_template;
  }
  // JSON holds UTF-8 only; a GGUF file may hold other bytes in its strings.
  try {
    return HuggingFaceTokenizerFiles{root.dump(2), config.dump(2)};
  } catch (const nlohmann::json::type_error& error) {
    return absl::InvalidArgumentError(absl::StrCat(
        gguf.name(), ": the vocabulary cannot be written as tokenizer.json: ", error.what()));
  }
}

}  // namespace ponder::engine
