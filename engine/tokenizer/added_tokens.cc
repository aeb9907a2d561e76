#include "engine/tokenizer/added_tokens.h"

#include <algorithm>

namespace ponder::engine {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  nodes_.emplace_back();
  for (const AddedToken& token : tokens) {
    if (token.text.empty()) continue;
    int32_t node = 0;
    for (char c : token.text) {
      const uint8_t byte = static_cast<uint8_t>(c);
      int32_t child = Child(node, byte);
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& children = nodes_[node].children;
        children.insert(
            std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{0})),
            {byte, child});
      }
      node = child;
    }
    if (nodes_[node].token >= 0) continue;  // the same text twice: the first one stands
    nodes_[node].token = static_cast<int32_t>(tokens_.size());
    tokens_.push_back(token);
    starts_token_[static_cast<uint8_t>(token.text[0])] = true;
  }
}

int32_t AddedTokenMatcher::Child(int32_t node, uint8_t byte) const {
  const auto& children = nodes_[node].children;
  auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{0}));
  if (it == children.end() || it->first != byte) return -1;
  return it->second;
}

size_t AddedTokenMatcher::LongestMatch(std::string_view text, bool parse_special,
                                       int32_t* token_index) const {
  size_t best_length = 0;
  int32_t node = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    node = Child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    const int32_t candidate = nodes_[node].token;
    if (candidate >= 0 && (parse_special || !tokens_[candidate].special)) {
      best_length = i + 1;
      *token_index = candidate;
    }
  }
  return best_length;
}

void AddedTokenMatcher::Split(std::string_view text, bool parse_special,
                              std::vector<Fragment>* out) const {
  size_t text_start = 0;  // start of the text not yet emitted
  size_t i = 0;
  while (i < text.size()) {
    if (!starts_token_[static_cast<uint8_t>(text[i])]) {
      ++i;
      continue;
    }
    int32_t token_index = -1;
    const size_t length = LongestMatch(text.substr(i), parse_special, &token_index);
    if (length == 0) {
      ++i;
      continue;
    }
    const AddedToken& token = tokens_[token_index];
    size_t text_end = i;
    if (token.lstrip) {
      while (text_end > text_start && IsAsciiSpace(text[text_end - 1])) --text_end;
    }
    if (text_end > text_start) out->push_back({text.substr(text_start, text_end - text_start), -1});
    out->push_back({std::string_view(), token.id});
    i += length;
    if (token.rstrip) {
      while (i < text.size() && IsAsciiSpace(text[i])) ++i;
    }
    text_start = i;
  }
  if (text_start < text.size()) out->push_back({text.substr(text_start), -1});
}

}  // namespace ponder::engine
