// Tokenizer::FromGguf: the tokenizer.ggml.* metadata, read as llama.cpp's llama_vocab::load does.
#include <cctype>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_state.h"

namespace ponder::engine {
namespace {

// GGUF token types (llama.cpp llama_token_type) to attributes.
uint16_t AttrsFromGgufType(int64_t type) {
  switch (type) {
    case 1:
      return kTokenNormal;
    case 2:
      return kTokenUnknown;
    case 3:
      return kTokenControl;
    case 4:
      return kTokenUserDefined;
    case 5:
      return kTokenUnused;
    case 6:
      return kTokenByte;
    default:
      return kTokenUndefined;
  }
}

// "<0x0A>" -> 0x0A.
std::optional<uint8_t> ParseByteToken(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text.back() != '>') return std::nullopt;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    const int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                      : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                      : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                                                                  : -1;
    if (digit < 0) return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

class GgufVocabularyReader {
 public:
  explicit GgufVocabularyReader(const GgufFile& gguf) : gguf_(gguf) {}

  absl::Status Error(std::string_view key, std::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(gguf_.name(), ": ", AsAbsl(key), " ", AsAbsl(problem)));
  }

  // A special-token id: `fallback` when the key is absent, none when it is the "no such token"
  // marker (-1, also as the unsigned 0xFFFFFFFF real GGUF files store). Another id past the
  // vocabulary is, with `strict` (the begin and end tokens), an error: llama.cpp falls back to
  // the type's default with a warning, and a gpt2 vocabulary's default end token, 11, is a comma
  // in Qwen's (QA in stop 32: generation stopped at the first comma); without, `fallback`, as
  // llama.cpp reads it.
  absl::StatusOr<std::optional<int32_t>> ReadTokenId(std::string_view key,
                                                     std::optional<int32_t> fallback,
                                                     int32_t vocab_size, bool strict) const {
    if (fallback.has_value() && *fallback >= vocab_size) fallback.reset();
    if (!gguf_.Has(key)) return fallback;
    const GgufValue* value = gguf_.Find(key);
    uint64_t id = 0;
    if (value->type == GgufValueType::kInt32 || value->type == GgufValueType::kInt64 ||
        value->type == GgufValueType::kInt8 || value->type == GgufValueType::kInt16) {
      PONDER_ASSIGN_OR_RETURN(const int64_t signed_id, gguf_.GetInt(key));
      if (signed_id < 0) return std::nullopt;
      id = static_cast<uint64_t>(signed_id);
    } else {
      PONDER_ASSIGN_OR_RETURN(id, gguf_.GetUint(key));
      if (id == 0xFFFFFFFFu || id == ~uint64_t{0}) return std::nullopt;
    }
    if (id >= static_cast<uint64_t>(vocab_size)) {
      if (!strict) return fallback;
      return Error(key, absl::StrCat(id, " is past the vocabulary of ", vocab_size, " tokens"));
    }
    return static_cast<int32_t>(id);
  }

  absl::StatusOr<bool> ReadBool(std::string_view key, bool fallback) const {
    if (!gguf_.Has(key)) return fallback;
    return gguf_.GetBool(key);
  }

 private:
  const GgufFile& gguf_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& gguf) {
  GgufVocabularyReader reader(gguf);
  auto state = std::make_unique<TokenizerState>();
  state->source = gguf.name();

  if (!gguf.Has("tokenizer.ggml.model")) {
    return reader.Error("tokenizer.ggml.model", "is missing: the file has no tokenizer");
  }
  PONDER_ASSIGN_OR_RETURN(const std::string model, gguf.GetString("tokenizer.ggml.model"));
  if (model == "llama") {
    state->algorithm = Algorithm::kSentencePieceBpe;
  } else if (model == "gpt2") {
    state->algorithm = Algorithm::kByteLevelBpe;
  } else {
    return absl::UnimplementedError(absl::StrCat(
        gguf.name(), ": tokenizer.ggml.model '", model,
        "' is not supported (supported: 'llama' SentencePiece BPE, 'gpt2' byte-level BPE)"));
  }

  if (!gguf.Has("tokenizer.ggml.tokens")) {
    return reader.Error("tokenizer.ggml.tokens", "is missing: the file has no vocabulary");
  }
  PONDER_ASSIGN_OR_RETURN(const std::vector<std::string_view> tokens,
                          gguf.GetStringArray("tokenizer.ggml.tokens"));
  if (tokens.empty()) return reader.Error("tokenizer.ggml.tokens", "is empty");
  if (tokens.size() >= static_cast<size_t>(INT32_MAX)) {
    return reader.Error("tokenizer.ggml.tokens", "has too many entries");
  }
  const int32_t vocab_size = static_cast<int32_t>(tokens.size());

  std::vector<float> scores;
  if (gguf.Has("tokenizer.ggml.scores")) {
    PONDER_ASSIGN_OR_RETURN(scores, gguf.GetFloatArray("tokenizer.ggml.scores"));
    if (scores.size() != tokens.size()) {
      return reader.Error("tokenizer.ggml.scores",
                          absl::StrFormat("has %d entries but tokenizer.ggml.tokens has %d",
                                          scores.size(), tokens.size()));
    }
  }
  std::vector<uint16_t> attrs(tokens.size(), kTokenNormal);
  if (gguf.Has("tokenizer.ggml.token_type")) {
    PONDER_ASSIGN_OR_RETURN(const std::vector<int64_t> types,
                            gguf.GetIntArray("tokenizer.ggml.token_type"));
    if (types.size() != tokens.size()) {
      return reader.Error("tokenizer.ggml.token_type",
                          absl::StrFormat("has %d entries but tokenizer.ggml.tokens has %d",
                                          types.size(), tokens.size()));
    }
    for (size_t i = 0; i < types.size(); ++i) attrs[i] = AttrsFromGgufType(types[i]);
  }
  std::vector<std::string> texts(tokens.begin(), tokens.end());
  state->vocabulary.Assign(std::move(texts), std::move(scores), std::move(attrs));
  Vocabulary& vocabulary = state->vocabulary;

  // Defaults per vocabulary type, then the file's keys (llama_vocab::impl::load).
  const bool sentencepiece = state->algorithm == Algorithm::kSentencePieceBpe;
  std::optional<int32_t> default_bos = sentencepiece ? 1 : 11;
  std::optional<int32_t> default_eos = sentencepiece ? 2 : 11;
  std::optional<int32_t> default_unknown = sentencepiece ? std::optional<int32_t>(0) : std::nullopt;
  bool ignore_merges = false;
  bool add_bos = sentencepiece;
  if (!sentencepiece) {
    std::string pre = "default";  // llama.cpp's choice (with a warning) when the key is absent
    if (gguf.Has("tokenizer.ggml.pre")) {
      PONDER_ASSIGN_OR_RETURN(pre, gguf.GetString("tokenizer.ggml.pre"));
    }
    absl::StatusOr<PreTokenizer> pre_tokenizer =
        PreTokenizer::ForLlamaCppType(pre, &ignore_merges, &add_bos);
    if (!pre_tokenizer.ok()) {
      return absl::Status(
          pre_tokenizer.status().code(),
          absl::StrCat(gguf.name(), ": tokenizer.ggml.pre: ", pre_tokenizer.status().message()));
    }
    state->pre_tokenizer = *std::move(pre_tokenizer);
    if (pre == "chatglm-bpe") default_bos.reset();
  }
  PONDER_ASSIGN_OR_RETURN(state->bos_id, reader.ReadTokenId("tokenizer.ggml.bos_token_id",
                                                            default_bos, vocab_size, true));
  PONDER_ASSIGN_OR_RETURN(state->eos_id, reader.ReadTokenId("tokenizer.ggml.eos_token_id",
                                                            default_eos, vocab_size, true));
  PONDER_ASSIGN_OR_RETURN(
      state->unknown_id,
      reader.ReadTokenId("tokenizer.ggml.unknown_token_id", default_unknown, vocab_size, false));
  PONDER_ASSIGN_OR_RETURN(
      const std::optional<int32_t> eot_id,
      reader.ReadTokenId("tokenizer.ggml.eot_token_id", std::nullopt, vocab_size, false));
  PONDER_ASSIGN_OR_RETURN(
      const std::optional<int32_t> eom_id,
      reader.ReadTokenId("tokenizer.ggml.eom_token_id", std::nullopt, vocab_size, false));
  PONDER_ASSIGN_OR_RETURN(state->add_bos_by_default,
                          reader.ReadBool("tokenizer.ggml.add_bos_token", add_bos));
  if (state->add_bos_by_default && !state->bos_id.has_value()) state->add_bos_by_default = false;
  PONDER_ASSIGN_OR_RETURN(state->add_space_prefix,
                          reader.ReadBool("tokenizer.ggml.add_space_prefix", sentencepiece));

  // End-of-generation tokens, then the special-token matcher (llama.cpp builds its special
  // token cache after overriding the type of end-of-generation tokens to control).
  std::vector<int32_t> extra_end_ids;
  for (const std::optional<int32_t>& id : {state->eos_id, eot_id, eom_id}) {
    if (id.has_value()) extra_end_ids.push_back(*id);
  }
  CollectEndOfGenerationTokens(extra_end_ids, state.get());

  // Phi-3's special tokens swallow the whitespace after them, which llama.cpp decides by the
  // model name (llama-vocab.cpp, "set attributes by model/tokenizer name").
  std::string model_name;
  if (gguf.Has("general.name")) {
    PONDER_ASSIGN_OR_RETURN(model_name, gguf.GetString("general.name"));
    for (char& c : model_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (model_name.find("phi-3") != std::string::npos ||
      model_name.find("phi3") != std::string::npos) {
    for (int32_t id = 0; id < vocab_size; ++id) {
      if (vocabulary.Has(id, kTokenControl | kTokenUserDefined | kTokenUnknown)) {
        vocabulary.AddAttrs(id, kTokenRstrip);
      }
    }
    if (std::optional<int32_t> id = vocabulary.FindText("</s>"))
      vocabulary.AddAttrs(*id, kTokenRstrip);
    for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (std::optional<int32_t> id = vocabulary.FindText(text)) {
        vocabulary.RemoveAttrs(*id, kTokenRstrip);
      }
    }
  }
  BuildAddedTokenMatcher(state.get());

  // Decoded pieces (llama_vocab::impl::token_to_piece).
  std::vector<std::string> pieces(vocab_size);
  for (int32_t id = 0; id < vocab_size; ++id) {
    const std::string_view text = vocabulary.Text(id);
    if (vocabulary.Has(id, kTokenControl | kTokenUnknown | kTokenUserDefined)) {
      pieces[id] = std::string(text);
    } else if (vocabulary.Has(id, kTokenNormal)) {
      if (sentencepiece) {
        std::string& piece = pieces[id];
        for (size_t i = 0; i < text.size();) {
          if (text.substr(i).starts_with("\xE2\x96\x81")) {
            piece.push_back(' ');
            i += 3;
          } else {
            piece.push_back(text[i++]);
          }
        }
      } else {
        ByteLevelDecode(text, &pieces[id]);
      }
    } else if (vocabulary.Has(id, kTokenByte) && sentencepiece) {
      const std::optional<uint8_t> byte = ParseByteToken(text);
      if (!byte.has_value()) {
        return reader.Error("tokenizer.ggml.tokens",
                            absl::StrCat("entry ", id, " has type BYTE but its text '",
                                         AsAbsl(text), "' is not of the form <0xNN>"));
      }
      pieces[id] = std::string(1, static_cast<char>(*byte));
    }
  }
  vocabulary.SetPieces(pieces);

  std::array<int32_t, 256> byte_tokens;
  for (int byte = 0; byte < 256; ++byte) {
    std::optional<int32_t> id;
    if (sentencepiece) {
      id = vocabulary.FindText(absl::StrFormat("<0x%02X>", byte));
      if (!id.has_value()) id = vocabulary.FindText(std::string(1, static_cast<char>(byte)));
    } else {
      id = vocabulary.FindText(ByteLevelEncode(std::string(1, static_cast<char>(byte))));
    }
    byte_tokens[byte] = id.value_or(-1);
  }

  if (sentencepiece) {
    state->sentencepiece =
        std::make_unique<SentencePieceBpe>(&state->vocabulary, byte_tokens, state->unknown_id);
  } else {
    if (!gguf.Has("tokenizer.ggml.merges")) {
      return reader.Error("tokenizer.ggml.merges", "is missing (a gpt2 vocabulary needs merges)");
    }
    PONDER_ASSIGN_OR_RETURN(const std::vector<std::string_view> merges,
                            gguf.GetStringArray("tokenizer.ggml.merges"));
    // With ignore_merges, a piece that is a token is emitted whole (llama.cpp looks the piece
    // up among all tokens by its byte-level text).
    std::vector<std::pair<std::string, int32_t>> whole;
    if (ignore_merges) {
      for (int32_t id = 0; id < vocab_size; ++id) {
        std::string bytes;
        if (vocabulary.IsValid(id) && ByteLevelDecode(vocabulary.Text(id), &bytes)) {
          whole.emplace_back(std::move(bytes), id);
        }
      }
    }
    state->byte_pair_encoder =
        std::make_unique<BytePairEncoder>(byte_tokens, whole, ignore_merges, std::nullopt);
    std::string joined;
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string_view merge = merges[i];
      const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string_view::npos;
      if (space == std::string_view::npos) {
        return reader.Error("tokenizer.ggml.merges",
                            absl::StrCat("entry ", i, " '", AsAbsl(merge),
                                         "' is not two tokens separated by a space"));
      }
      const std::string_view left = merge.substr(0, space);
      const std::string_view right = merge.substr(space + 1);
      joined.assign(left);
      joined.append(right);
      const std::optional<int32_t> left_id = vocabulary.FindText(left);
      const std::optional<int32_t> right_id = vocabulary.FindText(right);
      const std::optional<int32_t> result_id = vocabulary.FindText(joined);
      // llama.cpp tolerates merges of or into strings that are not tokens; they can never
      // produce a token, so they are left out.
      if (left_id && right_id && result_id) {
        state->byte_pair_encoder->AddMerge(*left_id, *right_id, *result_id);
      }
    }
  }

  std::string chat_template_source;
  if (gguf.Has("tokenizer.chat_template")) {
    PONDER_ASSIGN_OR_RETURN(chat_template_source, gguf.GetString("tokenizer.chat_template"));
  }
  state->chat_template = ChatTemplate::FromJinja(
      chat_template_source,
      state->bos_id ? std::string(vocabulary.Text(*state->bos_id)) : std::string(),
      state->eos_id ? std::string(vocabulary.Text(*state->eos_id)) : std::string(),
      state->add_bos_by_default);
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(state)));
}

}  // namespace ponder::engine
