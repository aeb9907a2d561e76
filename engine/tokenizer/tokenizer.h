// Tokenizers: text <-> token ids for the model families Ponder runs, plus their chat templates.
//
// A Tokenizer is loaded from a GGUF file (tokenizer.ggml.* metadata, as llama.cpp reads it) or
// from a Hugging Face tokenizer.json (with tokenizer_config.json beside it when present). Two
// algorithms cover Llama 2/3, Mistral, Qwen2/2.5/3, Phi-3 and GPT-2 vocabularies:
//   - byte-level BPE (GGUF `gpt2` vocabularies, tokenizer.json BPE with a ByteLevel
//     pre-tokenizer): optional Unicode normalization, pre-tokenization by the vocabulary's
//     regular expressions (PCRE2), then BPE merges by rank within each piece;
//   - SentencePiece-style BPE (GGUF `llama` vocabularies): spaces become "▁", a leading space is
//     added, merges by score, byte fallback (<0xNN>) for characters outside the vocabulary.
// Added/special tokens are cut out of the text before either runs. The token ids reproduce
// llama.cpp's and Hugging Face tokenizers' for the vocabularies tested in
// tests/engine/tokenizer/ (llama.cpp's tokenizer test vectors).
//
// Decoding concatenates each token's bytes ("piece") and returns valid UTF-8: bytes that do not
// form UTF-8 become U+FFFD, as do ids outside the vocabulary. Decode(a ++ b) equals
// Decode(a) + Decode(b) whenever a's pieces end on a character boundary, and StreamingDecoder
// emits exactly Decode(all ids) when fed the ids one at a time. Decode does not strip the
// SentencePiece leading space (a generated "▁4" decodes to " 4"), so decoded continuations can
// be appended to their prompt as they are.
//
// Deliberately not reproduced: llama.cpp's and Hugging Face's decode-time clean-up (stripping
// the first SentencePiece space, clean_up_tokenization_spaces turning " ." into "."), which
// lose information; appending EOS when a vocabulary sets add_eos_token; the `single_word` and
// `normalized` flags of tokenizer.json added tokens (no supported vocabulary uses them).
//
// A Tokenizer is immutable after loading; all methods are thread-safe.
#ifndef PONDER_ENGINE_TOKENIZER_TOKENIZER_H_
#define PONDER_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/gguf.h"
#include "engine/tokenizer/chat_template.h"

namespace ponder::engine {

struct TokenizerState;

struct EncodeOptions {
  // Prepend the vocabulary's BOS token (nothing happens when it has none). Callers that want
  // the vocabulary's own choice pass Tokenizer::add_bos_by_default().
  bool add_bos = false;
  // Recognise control tokens written in the text ("<|im_end|>", "<s>") as those tokens. When
  // false they are tokenized as plain text. Non-special added tokens (user-defined, such as
  // Qwen3's "<think>") are always recognised, as in llama.cpp and Hugging Face.
  bool parse_special = false;
};

class Tokenizer {
 public:
  enum class Algorithm { kByteLevelBpe, kSentencePieceBpe };

  // From the tokenizer.ggml.* metadata of a GGUF file (a model or a vocab-only file). Errors
  // name the file and the key.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& gguf);
  // From a Hugging Face model folder or the path of its tokenizer.json; tokenizer_config.json
  // (bos/eos tokens, add_bos_token, chat_template), the chat template files chat_template.jinja,
  // additional_chat_templates/ and chat_template.json (see hf_chat_template_files.h) and
  // generation_config.json (eos_token_id) beside it are read when present. Errors name the file
  // and the field.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromHuggingFace(
      const std::string& dir_or_tokenizer_json);
  // The same from JSON text; `tokenizer_config_json` may be empty. `source_name` is used in
  // error messages.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromHuggingFaceJson(
      std::string_view tokenizer_json, std::string_view tokenizer_config_json,
      std::string source_name);
  // A GGUF file (recognised by its magic bytes), a tokenizer.json, or a Hugging Face folder.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Open(const std::string& path);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  std::vector<int32_t> Encode(std::string_view text, EncodeOptions options = {}) const;

  // Concatenates the pieces of `ids` as valid UTF-8 (see above); with `skip_special`, control
  // and unknown-type tokens (BOS, EOS, <|im_end|>, <unk>) contribute nothing. Never fails: an
  // id outside the vocabulary decodes to U+FFFD.
  std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The vocabulary entry as stored ("Ġhello", "▁Hello", "<0x0A>", "<|im_end|>"); empty for an
  // id outside the vocabulary.
  std::string_view TokenText(int32_t id) const;
  // The raw bytes the token contributes to decoded text (possibly part of a UTF-8 character);
  // U+FFFD for an id outside the vocabulary.
  std::string_view TokenPiece(int32_t id) const;
  // The token that decodes to exactly `text` ("<extra_0>", "+", "ки", "<|im_end|>"), else the
  // token stored as `text` ("Ġ+", "▁ки"); nullopt when there is none.
  std::optional<int32_t> FindToken(std::string_view text) const;

  int32_t vocab_size() const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  // Whether the vocabulary asks for BOS at the start of a prompt: GGUF
  // tokenizer.ggml.add_bos_token / tokenizer_config add_bos_token, a tokenizer.json
  // post-processor that inserts BOS, else llama.cpp's default for the vocabulary type (yes for
  // SentencePiece and Llama 3 vocabularies, no for GPT-2 and Qwen).
  bool add_bos_by_default() const;
  // SentencePiece vocabularies prefix the text with a space before encoding (llama.cpp
  // add_space_prefix); decoded text then starts with that space.
  bool add_space_prefix() const;

  // Tokens that end a generation: EOS, EOT/EOM ids from GGUF metadata, the eos ids of
  // generation_config.json, and tokens llama.cpp treats as end-of-generation by their text
  // (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, <|eom_id|>, <EOT>, ...).
  // Sorted, without duplicates.
  const std::vector<int32_t>& end_of_generation_ids() const;
  bool IsEndOfGeneration(int32_t id) const;
  // Control tokens: GGUF token type CONTROL, Hugging Face added tokens marked special, and the
  // end-of-generation tokens above. False for ids outside the vocabulary.
  bool IsControl(int32_t id) const;

  // The chat template recognised from the vocabulary's metadata (kRaw when there is none).
  const ChatTemplate& chat_template() const;

  Algorithm algorithm() const;
  // The file the tokenizer was read from.
  const std::string& source() const;

  // Implementation state, for the benchmark in bench/tokenizer/ only.
  const TokenizerState& state() const { return *state_; }

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerState> state);
  void EncodeText(std::string_view text, bool follows_special, std::vector<int32_t>* out) const;

  std::unique_ptr<TokenizerState> state_;
};

// Turns ids into text one at a time, for streaming generated text. Push returns the text that
// is complete so far: bytes of a character split across tokens (a byte-fallback <0xE2> token,
// or a byte-level BPE token ending mid-character) are held back until the character is
// complete, so the output is always valid UTF-8. Concatenating every Push and the final Flush
// gives exactly Tokenizer::Decode of all the ids.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  std::string Push(int32_t id);
  // Emits what is held back (an incomplete character becomes U+FFFD) and resets the decoder.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_TOKENIZER_H_
