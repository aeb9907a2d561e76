// What a loaded Tokenizer holds (internal to engine/tokenizer/; the loaders fill it in).
#ifndef PONDER_ENGINE_TOKENIZER_TOKENIZER_STATE_H_
#define PONDER_ENGINE_TOKENIZER_TOKENIZER_STATE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/byte_pair_encoder.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/sentencepiece_bpe.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode_normalizer.h"
#include "engine/tokenizer/vocabulary.h"

namespace ponder::engine {

// Remembers the tokens of recent pre-tokenized pieces: natural text repeats its words, and a
// lookup is cheaper than merging again (tokenizer_bench measures both). Pieces shorter than
// kMinPieceBytes merge faster than they are looked up and are not cached. Bounded: cleared when
// full.
class PieceCache {
 public:
  static constexpr size_t kMaxEntries = 1 << 16;
  static constexpr size_t kMinPieceBytes = 4;
  static constexpr size_t kMaxPieceBytes = 64;

  bool Lookup(std::string_view piece, std::vector<int32_t>* out) const;
  void Insert(std::string_view piece, std::span<const int32_t> ids) const;

 private:
  mutable absl::Mutex mutex_;
  mutable absl::flat_hash_map<std::string, absl::InlinedVector<int32_t, 4>> entries_
      ABSL_GUARDED_BY(mutex_);
};

struct TokenizerState {
  std::string source;  // file name, for messages
  Tokenizer::Algorithm algorithm = Tokenizer::Algorithm::kByteLevelBpe;
  Vocabulary vocabulary;
  AddedTokenMatcher added_tokens;

  // Byte-level BPE.
  std::unique_ptr<UnicodeNormalizer> normalizer;  // may be null
  PreTokenizer pre_tokenizer;
  std::unique_ptr<BytePairEncoder> byte_pair_encoder;
  PieceCache piece_cache;

  // SentencePiece BPE.
  std::unique_ptr<SentencePieceBpe> sentencepiece;
  bool add_space_prefix = false;

  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  std::optional<int32_t> unknown_id;
  bool add_bos_by_default = false;
  std::vector<int32_t> end_of_generation_ids;  // sorted, unique
  ChatTemplate chat_template;
};

// Steps the loaders share.
//
// Adds the tokens llama.cpp treats as end-of-generation by their text, forcing them to
// control type as llama.cpp does, then `extra` (EOS, EOT, ... when present), and sorts.
void CollectEndOfGenerationTokens(std::span<const int32_t> extra, TokenizerState* state);
// Builds state->added_tokens from the vocabulary's control, user-defined and unknown tokens
// (llama.cpp's cache_special_tokens).
void BuildAddedTokenMatcher(TokenizerState* state);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_TOKENIZER_STATE_H_
