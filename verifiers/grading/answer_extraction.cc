#include "verifiers/grading/answer_extraction.h"

#include <optional>
#include <string_view>

#include "verifiers/grading/latex_normalization.h"

namespace ponder::verifiers::grading_internal {
namespace {

std::string_view RestOfLine(std::string_view text) {
  size_t newline = text.find('\n');
  return newline == std::string_view::npos ? text : text.substr(0, newline);
}

// Last occurrence of `lower_needle` in `text`, ignoring ASCII letter case.
size_t FindLastIgnoringCase(std::string_view text, std::string_view lower_needle) {
  if (text.size() < lower_needle.size()) return std::string_view::npos;
  for (size_t start = text.size() - lower_needle.size() + 1; start-- > 0;) {
    bool match = true;
    for (size_t k = 0; k < lower_needle.size() && match; ++k) {
      match = AsciiLower(text[start + k]) == lower_needle[k];
    }
    if (match) return start;
  }
  return std::string_view::npos;
}

// Where the last `\boxed` (or, when there is none, `\fbox`) ends and its argument may start:
// the position after the name and any spaces. nullopt when there is neither.
struct BoxStart {
  size_t name_end;  // just past "\boxed" / "\fbox"
  size_t open;      // the first character after the spaces that follow the name
};
std::optional<BoxStart> LastBoxStart(std::string_view text) {
  size_t at = text.rfind("\\boxed");
  size_t name_length = 6;
  if (at == std::string_view::npos) {
    at = text.rfind("\\fbox");
    name_length = 5;
    if (at == std::string_view::npos) return std::nullopt;
  }
  size_t open = at + name_length;
  while (open < text.size() && text[open] == ' ') ++open;
  return BoxStart{at + name_length, open};
}

// The index of the `}` that closes the `{` at `open`, or npos.
size_t ClosingBrace(std::string_view text, size_t open) {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    if (text[i] == '{') {
      ++depth;
    } else if (text[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> LastBoxedContent(std::string_view text) {
  const std::optional<BoxStart> box = LastBoxStart(text);
  if (!box.has_value() || box->open >= text.size()) return std::nullopt;
  if (text[box->open] != '{') {
    if (box->open == box->name_end) return std::nullopt;  // `\boxedfoo`: not a box
    std::string_view rest = RestOfLine(text.substr(box->open));
    size_t dollar = rest.find('$');
    if (dollar != std::string_view::npos) rest = rest.substr(0, dollar);
    return TrimAsciiSpace(rest);
  }
  const size_t close = ClosingBrace(text, box->open);
  if (close == std::string_view::npos) return std::nullopt;
  return text.substr(box->open + 1, close - box->open - 1);
}

bool EndsInsideLastBox(std::string_view text) {
  const std::optional<BoxStart> box = LastBoxStart(text);
  if (!box.has_value()) return false;
  if (box->open >= text.size()) return true;  // cut right after the name
  return text[box->open] == '{' && ClosingBrace(text, box->open) == std::string_view::npos;
}

std::optional<std::string_view> AfterLastHashMarker(std::string_view text) {
  size_t at = text.rfind("####");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = TrimAsciiSpace(RestOfLine(text.substr(at + 4)));
  if (rest.empty()) return std::nullopt;
  return rest;
}

std::optional<std::string_view> AfterLastAnswerPhrase(std::string_view text) {
  size_t is_at = FindLastIgnoringCase(text, "answer is");
  size_t colon_at = FindLastIgnoringCase(text, "answer:");
  size_t at = std::string_view::npos;
  size_t length = 0;
  if (is_at != std::string_view::npos && (colon_at == std::string_view::npos || is_at > colon_at)) {
    at = is_at;
    length = 9;
  } else if (colon_at != std::string_view::npos) {
    at = colon_at;
    length = 7;
  }
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + length);
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == ':' || rest[0] == '*' || rest[0] == '\t')) {
    rest.remove_prefix(1);
  }
  std::string_view answer;
  auto delimited = [&](std::string_view open, std::string_view close) {
    if (rest.substr(0, open.size()) != open) return false;
    // The closing delimiter, skipping escaped dollars (`$\$18.90$`).
    size_t end = rest.find(close, open.size());
    while (end != std::string_view::npos && close[0] == '$' && rest[end - 1] == '\\') {
      end = rest.find(close, end + 1);
    }
    if (end == std::string_view::npos) return false;
    answer = rest.substr(open.size(), end - open.size());
    return true;
  };
  if (!delimited("$$", "$$") && !delimited("$", "$") && !delimited("\\(", "\\)") &&
      !delimited("\\[", "\\]")) {
    answer = RestOfLine(rest);
  }
  answer = TrimAsciiSpace(answer);
  while (!answer.empty() && (answer.back() == '.' || answer.back() == '*')) {
    answer.remove_suffix(1);
    answer = TrimAsciiSpace(answer);
  }
  if (answer.empty()) return std::nullopt;
  return answer;
}

}  // namespace ponder::verifiers::grading_internal
