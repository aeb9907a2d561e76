// SentencePiece-style BPE over a scored vocabulary (internal to engine/tokenizer/), as used by
// Llama 2, Mistral and Phi-3 GGUF `llama` vocabularies.
//
// Follows llama.cpp's llm_tokenizer_spm (itself a port of SentencePiece's bpe_model.cc): cut
// the text into UTF-8 characters, then repeatedly merge the adjacent pair whose concatenation
// is the vocabulary token of highest score (leftmost on ties) until no adjacent pair forms a
// token. A final symbol that is not a token (a character outside the vocabulary) is emitted as
// byte-fallback tokens <0xNN>, one per byte.
#ifndef PONDER_ENGINE_TOKENIZER_SENTENCEPIECE_BPE_H_
#define PONDER_ENGINE_TOKENIZER_SENTENCEPIECE_BPE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/tokenizer/vocabulary.h"

namespace ponder::engine {

class SentencePieceBpe {
 public:
  // `vocabulary` must outlive this object. `byte_tokens[b]` is the <0xNN> token of byte b (or,
  // as llama.cpp's byte_to_token falls back, the token whose text is that single byte), or -1;
  // a byte without one becomes `unknown_token`, or is dropped when there is none.
  SentencePieceBpe(const Vocabulary* vocabulary, std::array<int32_t, 256> byte_tokens,
                   std::optional<int32_t> unknown_token);

  // Appends the tokens of `text`, which must already be escaped (spaces replaced by U+2581 "▁",
  // and the leading space added where the vocabulary asks for it).
  void Encode(std::string_view text, std::vector<int32_t>* out) const;

 private:
  const Vocabulary* vocabulary_;
  std::array<int32_t, 256> byte_tokens_;
  std::optional<int32_t> unknown_token_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_SENTENCEPIECE_BPE_H_
