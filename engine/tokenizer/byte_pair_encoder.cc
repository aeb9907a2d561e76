#include "engine/tokenizer/byte_pair_encoder.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "engine/tokenizer/merge_queue.h"

namespace ponder::engine {
namespace {

// A symbol of the piece being merged: a token and its neighbours in the linked list.
struct Symbol {
  int32_t id;    // -1: a byte without a token; kMerged: absorbed by its left neighbour
  int32_t prev;  // index, -1 at the start
  int32_t next;  // index, -1 at the end
};
constexpr int32_t kMerged = -2;

// A possible merge of symbols[left] with the symbol after it, valid while both still hold the
// ids it was computed from (ids only ever grow into longer tokens, so a changed id is detected).
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};
// std::push_heap builds a max-heap: "less" means "merged later" (higher rank, then further right).
struct MergedLater {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

BytePairEncoder::BytePairEncoder(std::array<int32_t, 256> byte_tokens,
                                 std::vector<std::pair<std::string, int32_t>> whole_tokens,
                                 bool ignore_merges, std::optional<int32_t> unknown_token)
    : byte_tokens_(byte_tokens), ignore_merges_(ignore_merges), unknown_token_(unknown_token) {
  whole_token_bytes_.reserve(whole_tokens.size());
  for (auto& [bytes, id] : whole_tokens) whole_token_bytes_.push_back(std::move(bytes));
  whole_tokens_.reserve(whole_tokens.size());
  for (size_t i = 0; i < whole_tokens.size(); ++i) {
    whole_tokens_[std::string_view(whole_token_bytes_[i])] = whole_tokens[i].second;
  }
}

void BytePairEncoder::AddMerge(int32_t left, int32_t right, int32_t result) {
  merges_.try_emplace(PairKey(left, right), Merge{static_cast<int32_t>(merges_.size()), result});
}

bool BytePairEncoder::EmitWhole(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() == 1) {
    EmitSymbol(byte_tokens_[static_cast<uint8_t>(piece[0])], out);
    return true;
  }
  if (!ignore_merges_) return false;
  auto it = whole_tokens_.find(piece);
  if (it == whole_tokens_.end()) return false;
  out->push_back(it->second);
  return true;
}

void BytePairEncoder::EmitSymbol(int32_t id, std::vector<int32_t>* out) const {
  if (id >= 0) {
    out->push_back(id);
  } else if (unknown_token_.has_value()) {
    out->push_back(*unknown_token_);
  }
}

void BytePairEncoder::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty() || EmitWhole(piece, out)) return;
  if (piece.size() <= kShortPiece) {
    EncodeShortPiece(piece, out);
  } else {
    EncodeLongPiece(piece, out);
  }
}

void BytePairEncoder::EncodeShortPiece(std::string_view piece, std::vector<int32_t>* out) const {
  constexpr int32_t kNoMerge = INT32_MAX;
  int32_t ids[kShortPiece];
  int32_t ranks[kShortPiece];    // ranks[i]: merge rank of (ids[i], ids[i + 1])
  int32_t results[kShortPiece];  // results[i]: the token that merge makes
  int32_t count = static_cast<int32_t>(piece.size());
  for (int32_t i = 0; i < count; ++i) ids[i] = byte_tokens_[static_cast<uint8_t>(piece[i])];
  auto update = [&](int32_t i) {
    const Merge* merge = FindMerge(ids[i], ids[i + 1]);
    ranks[i] = merge == nullptr ? kNoMerge : merge->rank;
    results[i] = merge == nullptr ? -1 : merge->result;
  };
  for (int32_t i = 0; i + 1 < count; ++i) update(i);
  while (count > 1) {
    int32_t best = 0;
    for (int32_t i = 1; i + 1 < count; ++i) {
      if (ranks[i] < ranks[best]) best = i;  // strict: the leftmost of equal ranks
    }
    if (ranks[best] == kNoMerge) break;
    ids[best] = results[best];
    const int32_t tail = count - best - 2;  // symbols after the absorbed one
    std::copy_n(ids + best + 2, tail, ids + best + 1);
    std::copy_n(ranks + best + 2, tail, ranks + best + 1);
    std::copy_n(results + best + 2, tail, results + best + 1);
    --count;
    if (best > 0) update(best - 1);
    if (best + 1 < count) update(best);
  }
  for (int32_t i = 0; i < count; ++i) EmitSymbol(ids[i], out);
}

void BytePairEncoder::EncodeLongPiece(std::string_view piece, std::vector<int32_t>* out) const {
  // Scratch space reused across calls on the same thread: pieces are short and numerous.
  thread_local std::vector<Symbol> symbols;
  thread_local MergeQueue<Candidate, MergedLater> queue;
  const int32_t n = static_cast<int32_t>(piece.size());
  symbols.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] =
        Symbol{byte_tokens_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  queue.Clear();
  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Merge* merge = FindMerge(symbols[left].id, symbols[right].id);
    if (merge == nullptr) return;
    queue.Push(
        Candidate{merge->rank, left, right, symbols[left].id, symbols[right].id, merge->result});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i, i + 1);

  while (!queue.Empty()) {
    const Candidate candidate = queue.Pop();
    Symbol& left = symbols[candidate.left];
    Symbol& right = symbols[candidate.right];
    if (left.id != candidate.left_id || right.id != candidate.right_id ||
        left.next != candidate.right) {
      continue;  // stale: one side has merged since
    }
    left.id = candidate.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = candidate.left;
    right.id = kMerged;
    consider(left.prev, candidate.left);
    consider(candidate.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) EmitSymbol(symbols[i].id, out);
}

void BytePairEncoder::EncodePieceNaive(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty() || EmitWhole(piece, out)) return;
  std::vector<int32_t> ids;
  ids.reserve(piece.size());
  for (char c : piece) ids.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
  while (true) {
    const Merge* best = nullptr;
    size_t best_index = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const Merge* merge = FindMerge(ids[i], ids[i + 1]);
      if (merge != nullptr && (best == nullptr || merge->rank < best->rank)) {
        best = merge;
        best_index = i;
      }
    }
    if (best == nullptr) break;
    ids[best_index] = best->result;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }
  for (int32_t id : ids) EmitSymbol(id, out);
}

}  // namespace ponder::engine
