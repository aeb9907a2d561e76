// The merge step of byte-level BPE (internal to engine/tokenizer/).
//
// BPE (Sennrich et al. 2016; GPT-2's byte-level variant) turns one pre-tokenized piece into
// tokens: start from one token per byte, then repeatedly apply the merge of lowest rank among
// adjacent pairs (leftmost first on ties) until no adjacent pair has a merge. This matches both
// Hugging Face tokenizers' BPE `Word::merge_all` and llama.cpp's llm_tokenizer_bpe_session.
//
// Merges are kept as token-id pairs: a merge (a, b) -> ab is only usable when a, b and ab are
// all tokens, which is the case for every merge of a well-formed vocabulary.
#ifndef PONDER_ENGINE_TOKENIZER_BYTE_PAIR_ENCODER_H_
#define PONDER_ENGINE_TOKENIZER_BYTE_PAIR_ENCODER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/tokenizer/vocabulary.h"

namespace ponder::engine {

class BytePairEncoder {
 public:
  // `byte_tokens[b]` is the token of the single byte b, or -1. With `ignore_merges` (Llama 3's
  // tokenizer.json, llama.cpp's llama-bpe), a piece that is itself a token is emitted whole.
  // `whole_tokens` lists (raw bytes, token) for ignore_merges; a later entry for the same bytes
  // wins. A byte without a token becomes `unknown_token` when there is one, and is dropped
  // otherwise (as llama.cpp).
  BytePairEncoder(std::array<int32_t, 256> byte_tokens,
                  std::vector<std::pair<std::string, int32_t>> whole_tokens, bool ignore_merges,
                  std::optional<int32_t> unknown_token);
  BytePairEncoder(const BytePairEncoder&) = delete;
  BytePairEncoder& operator=(const BytePairEncoder&) = delete;

  // Adds the merge of rank = number of merges added before; a pair already present keeps its
  // first (lowest) rank.
  void AddMerge(int32_t left, int32_t right, int32_t result);
  size_t merge_count() const { return merges_.size(); }

  // Appends the tokens of the raw-byte `piece` to `out`. Pieces of up to kShortPiece bytes (nearly
  // all of them in natural text) keep the rank of every adjacent pair in an array and rescan it
  // after each merge, updating only the two pairs the merge changed (O(n) lookups, O(n^2) cheap
  // comparisons); longer ones use a priority queue of candidate merges over a linked list of
  // symbols, O(n log n).
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;
  static constexpr size_t kShortPiece = 64;

  // The same result by the textbook loop: scan every adjacent pair for the lowest rank, merge,
  // repeat — O(n^2). The obviously-correct reference for tests and the benchmark's baseline.
  void EncodePieceNaive(std::string_view piece, std::vector<int32_t>* out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  const Merge* FindMerge(int32_t left, int32_t right) const {
    if (left < 0 || right < 0) return nullptr;
    auto it = merges_.find(PairKey(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }
  bool EmitWhole(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodeShortPiece(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodeLongPiece(std::string_view piece, std::vector<int32_t>* out) const;
  void EmitSymbol(int32_t id, std::vector<int32_t>* out) const;

  std::array<int32_t, 256> byte_tokens_;
  std::vector<std::string> whole_token_bytes_;  // the keys of whole_tokens_ point here
  StringViewMap<int32_t> whole_tokens_;
  bool ignore_merges_;
  std::optional<int32_t> unknown_token_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_BYTE_PAIR_ENCODER_H_
