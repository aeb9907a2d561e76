// A Hugging Face tokenizer as GGUF tokenizer metadata (tokenizer.ggml.*), written the way
// llama.cpp's convert_hf_to_gguf.py writes it for byte-level BPE vocabularies
// (Model._set_vocab_gpt2 and gguf-py's SpecialVocab), so that both llama.cpp and
// Tokenizer::FromGguf read the converted file as the same vocabulary:
//
//  - tokens: tokenizer.json's model.vocab and added_tokens by id (byte-level text for BPE
//    tokens, the literal text for added ones), padded to the model's vocabulary size with
//    "[PAD<id>]" tokens of type UNUSED, as the embedding matrix has rows for them;
//  - token types: NORMAL for model.vocab entries; for added tokens CONTROL when marked special
//    or when they look special (<|...|>, <unused...>, as llama.cpp's does_token_look_special),
//    USER_DEFINED otherwise;
//  - merges "left right" (pairs from the newer [left, right] form are joined, a space inside a
//    part written as U+0120 as gguf-py does);
//  - tokenizer.ggml.pre: the name llama.cpp uses for the pre-tokenizer expressions found in
//    tokenizer.json (see below);
//  - bos/eos/unknown/separator/padding ids: tokenizer_config.json's `<type>_token` looked up
//    among the added tokens, else config.json's `<type>_token_id`, as SpecialVocab does;
//  - tokenizer.ggml.add_bos_token: whether Tokenizer::FromHuggingFace prepends BOS (the
//    tokenizer_config.json setting, else the post-processor, else llama.cpp's default), so the
//    two readers agree; add_eos_token when tokenizer_config.json states it;
//  - the chat template, from chat_template.jinja and additional_chat_templates/, else
//    tokenizer_config.json, else chat_template.json, as transformers reads them (see
//    hf_chat_template_files.h); a list of named templates becomes tokenizer.chat_template for
//    "default" and tokenizer.chat_template.<name> for the others, as gguf-py writes them.
//
// Pre-tokenizer names. llama.cpp's converter identifies a pre-tokenizer by hashing the token ids
// of a probe text, which only recognises vocabularies it has seen. This exporter instead
// recognises the expressions themselves, which also covers new vocabularies that reuse them:
//   Split(Llama 3 expression) + ByteLevel  -> "llama-bpe" (model.ignore_merges) or "smaug-bpe"
//   Split(Qwen2 expression) + ByteLevel    -> "qwen2"
//   ByteLevel with its GPT-2 expression    -> "gpt-2"
// Anything else is an error unless the caller names the type (options.pre_tokenizer).
//
// Not carried over, because GGUF has no place for it (llama.cpp drops them too): the
// tokenizer.json normalizer (Qwen's NFC: text that is not in NFC may tokenize differently through
// the GGUF), lstrip/rstrip of added tokens, and generation_config.json's extra end-of-generation
// ids (llama.cpp recognises the usual ones, <|im_end|>, <|eot_id|>, ..., by their text).
// SentencePiece vocabularies (tokenizer.model, or tokenizer.json with byte_fallback) are not
// supported.
#ifndef PONDER_ENGINE_TOKENIZER_GGUF_EXPORT_H_
#define PONDER_ENGINE_TOKENIZER_GGUF_EXPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/gguf.h"
#include "engine/model/gguf_writer.h"

namespace ponder::engine {

// llama.cpp's llama_token_type values, as stored in tokenizer.ggml.token_type.
enum class GgufTokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct GgufVocabulary {
  std::string model = "gpt2";        // tokenizer.ggml.model
  std::string pre;                   // tokenizer.ggml.pre
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens, by id
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type (GgufTokenType values)
  std::vector<std::string> merges;   // tokenizer.ggml.merges
  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  std::optional<int32_t> unknown_id;
  std::optional<int32_t> separator_id;
  std::optional<int32_t> padding_id;
  bool add_bos = false;
  std::optional<bool> add_eos;
  std::string chat_template;                                              // empty: none
  std::vector<std::pair<std::string, std::string>> named_chat_templates;  // {name, template}

  // Sets the tokenizer.* keys on `writer`.
  void WriteTo(GgufWriter& writer) const;
};

struct GgufVocabularyOptions {
  // The model's vocabulary size (config.json vocab_size: the embedding's rows); the token list is
  // padded to it. 0: config.json's vocab_size when given, else the tokenizer's own size.
  int64_t vocab_size = 0;
  // tokenizer.ggml.pre to write instead of the recognised name (it must be a type
  // Tokenizer::FromGguf supports); empty: recognise it.
  std::string pre_tokenizer;
};

// From a Hugging Face model folder: tokenizer.json, with tokenizer_config.json, the chat template
// files and config.json beside it when present. Errors name the file and the field.
absl::StatusOr<GgufVocabulary> GgufVocabularyFromHuggingFace(
    const std::string& folder, const GgufVocabularyOptions& options = {});

// The same from the files' text; `tokenizer_config_json` and `config_json` may be empty.
// `source_name` (the tokenizer.json path) is used in errors.
absl::StatusOr<GgufVocabulary> GgufVocabularyFromHuggingFaceJson(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string_view config_json, const std::string& source_name,
    const GgufVocabularyOptions& options = {});

// The inverse direction: tokenizer.json and tokenizer_config.json for the byte-level (`gpt2`)
// vocabulary of a GGUF file, so a model converted back to a Hugging Face folder keeps its
// tokenizer. The pre-tokenizer becomes the expressions llama.cpp uses for tokenizer.ggml.pre (a
// Split step per expression, then ByteLevel; GPT-2's own expression as a ByteLevel step with
// use_regex), so Tokenizer::FromHuggingFace reads the folder as Tokenizer::FromGguf reads the
// file. NORMAL tokens form model.vocab; CONTROL tokens become special added tokens, USER_DEFINED
// ones non-special added tokens; UNUSED ones ("[PAD<id>]") are left out. BOS, EOS, the add-BOS
// rule and the chat template are those Tokenizer::FromGguf reads (including llama.cpp's
// defaults for absent keys); BOS insertion is also written as a TemplateProcessing
// post-processor, which is how transformers' fast tokenizers apply it.
struct HuggingFaceTokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
};
absl::StatusOr<HuggingFaceTokenizerFiles> HuggingFaceTokenizerFromGguf(const GgufFile& gguf);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_GGUF_EXPORT_H_
