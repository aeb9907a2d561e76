#include "engine/tokenizer/sentencepiece_bpe.h"

#include <algorithm>

#include "base/utf8.h"
#include "engine/tokenizer/merge_queue.h"

namespace ponder::engine {
namespace {

struct Symbol {
  uint32_t begin;   // byte offset into the text
  uint32_t length;  // 0 once absorbed by the left neighbour
  int32_t prev;
  int32_t next;
};

// Merging symbols[left] with symbols[right] would give token `id` of `score`; stale once either
// symbol has changed length (a symbol's start never moves, so its length identifies it).
struct Candidate {
  float score;
  int32_t left;
  int32_t right;
  uint32_t length;
};
// Max-heap order: higher score first, then the leftmost pair (llama.cpp llm_bigram_spm).
struct MergedLater {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  }
};

}  // namespace

SentencePieceBpe::SentencePieceBpe(const Vocabulary* vocabulary,
                                   std::array<int32_t, 256> byte_tokens,
                                   std::optional<int32_t> unknown_token)
    : vocabulary_(vocabulary), byte_tokens_(byte_tokens), unknown_token_(unknown_token) {}

void SentencePieceBpe::Encode(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  thread_local std::vector<Symbol> symbols;
  thread_local MergeQueue<Candidate, MergedLater> queue;
  symbols.clear();
  queue.Clear();
  for (size_t offset = 0; offset < text.size();) {
    const size_t length =
        std::min(Utf8LengthFromLeadByte(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{static_cast<uint32_t>(offset), static_cast<uint32_t>(length),
                             index - 1, offset + length < text.size() ? index + 1 : -1});
    offset += length;
  }

  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t length = symbols[left].length + symbols[right].length;
    const std::optional<int32_t> id =
        vocabulary_->FindText(text.substr(symbols[left].begin, length));
    if (!id.has_value()) return;
    queue.Push(Candidate{vocabulary_->Score(*id), left, right, length});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i, i + 1);

  while (!queue.Empty()) {
    const Candidate candidate = queue.Pop();
    Symbol& left = symbols[candidate.left];
    Symbol& right = symbols[candidate.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != candidate.length) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = candidate.left;
    consider(left.prev, candidate.left);
    consider(candidate.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].begin, symbols[i].length);
    if (std::optional<int32_t> id = vocabulary_->FindText(piece); id.has_value()) {
      out->push_back(*id);
      continue;
    }
    for (char byte : piece) {
      const int32_t id = byte_tokens_[static_cast<uint8_t>(byte)];
      if (id >= 0) {
        out->push_back(id);
      } else if (unknown_token_.has_value()) {
        out->push_back(*unknown_token_);
      }
    }
  }
}

}  // namespace ponder::engine
