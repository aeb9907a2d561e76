// The token table shared by the tokenizer algorithms (internal to engine/tokenizer/).
#ifndef PONDER_ENGINE_TOKENIZER_VOCABULARY_H_
#define PONDER_ENGINE_TOKENIZER_VOCABULARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "base/strings.h"

namespace ponder::engine {

// Token attributes, as llama.cpp's llama_token_attr (GGUF `tokenizer.ggml.token_type` 1..6
// give kNormal, kUnknown, kControl, kUserDefined, kUnused, kByte). Hugging Face added tokens
// are kControl when `special`, kUserDefined otherwise. No attribute at all marks an id that is
// not a token (a gap in a tokenizer.json vocabulary).
enum TokenAttr : uint16_t {
  kTokenNormal = 1 << 0,
  kTokenUnknown = 1 << 1,
  kTokenControl = 1 << 2,
  kTokenUserDefined = 1 << 3,
  kTokenUnused = 1 << 4,
  kTokenByte = 1 << 5,
  kTokenUndefined = 1 << 6,
  kTokenLstrip = 1 << 7,  // added token swallows the whitespace before it
  kTokenRstrip = 1 << 8,  // added token swallows the whitespace after it
};

// Hash for std::string_view keys (Debian's Abseil hashes only absl::string_view).
struct StringViewHash {
  size_t operator()(std::string_view s) const { return absl::Hash<absl::string_view>{}(AsAbsl(s)); }
};
template <typename Value>
using StringViewMap = absl::flat_hash_map<std::string_view, Value, StringViewHash>;

class Vocabulary {
 public:
  Vocabulary() = default;
  Vocabulary(const Vocabulary&) = delete;
  Vocabulary& operator=(const Vocabulary&) = delete;

  // Builds a table of `texts.size()` tokens. `scores` and `attrs` are empty or as long as
  // `texts`. Text lookups map each stored text to its id; when a text appears twice, the later
  // id wins, as in llama.cpp (token_to_id[word] = i). Empty texts are not looked up.
  void Assign(std::vector<std::string> texts, std::vector<float> scores,
              std::vector<uint16_t> attrs);

  // Sets the bytes each token contributes to decoded text (computed by the algorithm), and
  // builds the piece lookup FindPiece uses. `pieces` is as long as the vocabulary.
  void SetPieces(const std::vector<std::string>& pieces);

  int32_t size() const { return static_cast<int32_t>(texts_.size()); }
  bool IsValid(int32_t id) const { return id >= 0 && id < size() && attrs_[id] != 0; }
  std::string_view Text(int32_t id) const { return texts_[id]; }
  float Score(int32_t id) const { return scores_.empty() ? 0.0f : scores_[id]; }
  uint16_t Attrs(int32_t id) const { return attrs_[id]; }
  bool Has(int32_t id, uint16_t attr) const { return (attrs_[id] & attr) != 0; }
  void AddAttrs(int32_t id, uint16_t attrs) { attrs_[id] |= attrs; }
  void RemoveAttrs(int32_t id, uint16_t attrs) { attrs_[id] &= static_cast<uint16_t>(~attrs); }

  std::string_view Piece(int32_t id) const {
    return std::string_view(piece_bytes_)
        .substr(piece_offsets_[id], piece_offsets_[id + 1] - piece_offsets_[id]);
  }

  // Id of the token stored as `text`, if any.
  std::optional<int32_t> FindText(std::string_view text) const {
    auto it = text_to_id_.find(text);
    if (it == text_to_id_.end()) return std::nullopt;
    return it->second;
  }
  // Id of the token that decodes to exactly `piece`: control, user-defined and normal tokens
  // before byte tokens, lower ids first.
  std::optional<int32_t> FindPiece(std::string_view piece) const {
    auto it = piece_to_id_.find(piece);
    if (it == piece_to_id_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::vector<std::string> texts_;
  std::vector<float> scores_;
  std::vector<uint16_t> attrs_;
  StringViewMap<int32_t> text_to_id_;  // views into texts_
  std::string piece_bytes_;            // all decoded pieces, back to back
  std::vector<uint32_t> piece_offsets_;
  StringViewMap<int32_t> piece_to_id_;  // views into piece_bytes_
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_VOCABULARY_H_
