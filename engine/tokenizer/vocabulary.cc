#include "engine/tokenizer/vocabulary.h"

#include <utility>

namespace ponder::engine {

void Vocabulary::Assign(std::vector<std::string> texts, std::vector<float> scores,
                        std::vector<uint16_t> attrs) {
  texts_ = std::move(texts);
  scores_ = std::move(scores);
  attrs_ = std::move(attrs);
  if (attrs_.empty()) attrs_.assign(texts_.size(), kTokenNormal);
  text_to_id_.clear();
  text_to_id_.reserve(texts_.size());
  for (int32_t id = 0; id < size(); ++id) {
    if (texts_[id].empty() || attrs_[id] == 0) continue;
    text_to_id_[std::string_view(texts_[id])] = id;
  }
  piece_bytes_.clear();
  piece_offsets_.assign(texts_.size() + 1, 0);
  piece_to_id_.clear();
}

void Vocabulary::SetPieces(const std::vector<std::string>& pieces) {
  size_t total = 0;
  for (const std::string& piece : pieces) total += piece.size();
  piece_bytes_.clear();
  piece_bytes_.reserve(total);
  piece_offsets_.assign(texts_.size() + 1, 0);
  for (int32_t id = 0; id < size(); ++id) {
    piece_offsets_[id] = static_cast<uint32_t>(piece_bytes_.size());
    piece_bytes_.append(pieces[id]);
  }
  piece_offsets_[size()] = static_cast<uint32_t>(piece_bytes_.size());

  piece_to_id_.clear();
  piece_to_id_.reserve(texts_.size());
  auto rank = [&](int32_t id) { return Has(id, kTokenByte) ? 1 : 0; };
  for (int32_t id = 0; id < size(); ++id) {
    const std::string_view piece = Piece(id);
    if (piece.empty() || !IsValid(id)) continue;
    auto [it, inserted] = piece_to_id_.try_emplace(piece, id);
    if (!inserted && rank(id) < rank(it->second)) it->second = id;
  }
}

}  // namespace ponder::engine
