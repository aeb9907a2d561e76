// Splitting text around added/special tokens before the model sees it (internal to
// engine/tokenizer/).
//
// Tokens such as "<|im_end|>" must become their own id rather than be spelled out by BPE.
// Hugging Face tokenizers extracts added tokens first (AddedVocabulary, leftmost-longest
// matching); llama.cpp does the same in tokenizer_st_partition for control, user-defined and
// unknown tokens. Control ("special") tokens are only recognised when the caller asks for it
// (parse_special), while user-defined (non-special added) tokens always are — as llama.cpp does
// and as Hugging Face does for non-special added tokens.
//
// Matching is leftmost-longest, as Hugging Face's. llama.cpp instead extracts tokens in order
// of decreasing length over the whole text; the two differ only when added tokens overlap each
// other in the text (say "<|a" and "a|>" in "<|a|>"), which no supported vocabulary provokes.
#ifndef PONDER_ENGINE_TOKENIZER_ADDED_TOKENS_H_
#define PONDER_ENGINE_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::engine {

struct AddedToken {
  std::string text;
  int32_t id = 0;
  bool special = false;  // recognised only with parse_special
  bool lstrip = false;   // swallows whitespace before it
  bool rstrip = false;   // swallows whitespace after it
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // A run of plain text, or a token.
  struct Fragment {
    std::string_view text;  // empty for a token
    int32_t token = -1;     // >= 0 for a token
  };

  // Cuts `text` into fragments: at each position, the longest added token starting there (if
  // any) becomes a token fragment; the text between tokens becomes text fragments, minus the
  // whitespace an lstrip/rstrip token swallows (ASCII whitespace, as llama.cpp's isspace).
  // Empty text fragments are left out.
  void Split(std::string_view text, bool parse_special, std::vector<Fragment>* out) const;

  bool empty() const { return tokens_.empty(); }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                 // index into tokens_
  };
  int32_t Child(int32_t node, uint8_t byte) const;
  // Length of the longest allowed token starting at `text[0]`, or 0; sets *token_index.
  size_t LongestMatch(std::string_view text, bool parse_special, int32_t* token_index) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;  // a trie; nodes_[0] is the root
  std::array<bool, 256> starts_token_ = {};
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_ADDED_TOKENS_H_
