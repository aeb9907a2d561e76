#include "datasets/doctest_examples.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace ponder::datasets {
namespace {

std::string_view Trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// The text after a doctest prompt (">>>" or "...") and its one space, if `line` is one.
bool AfterPrompt(std::string_view line, std::string_view prompt, std::string_view* rest) {
  line = Trim(line);
  if (!line.starts_with(prompt)) return false;
  line.remove_prefix(prompt.size());
  if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  *rest = line;
  return true;
}

// The first position from `from` on whose character, outside Python string literals, `stop`
// accepts; npos when none does.
template <typename Stop>
size_t FindOutsideStrings(std::string_view line, size_t from, Stop stop) {
  char quote = 0;
  for (size_t i = from; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (stop(c)) {
      return i;
    }
  }
  return std::string_view::npos;
}

// `line` without a trailing comment ("# ..." outside string literals).
std::string_view WithoutComment(std::string_view line) {
  const size_t hash = FindOutsideStrings(line, 0, [](char c) { return c == '#'; });
  return hash == std::string_view::npos ? line : Trim(line.substr(0, hash));
}

// Where the call that opens `line` at `open` ends (just past its closing parenthesis), or npos
// when its brackets do not close on the line.
size_t CallEnd(std::string_view line, size_t open) {
  int depth = 0;
  const size_t close = FindOutsideStrings(line, open, [&depth](char c) {
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') return --depth == 0;
    return false;
  });
  return close == std::string_view::npos ? close : close + 1;
}

bool IsWordStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsWordPart(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Whether `text` reads as a Python literal: numbers, strings, True / False / None, and
// brackets, commas, colons and arithmetic signs between them. Not prose ("3 - 1 = 2", "true",
// "the sum"), nor names (`f(n)`, `is_happy(a)`): such an example would be a test no program
// passes, or one that favours the wrong programs.
bool LooksLikeLiteral(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      while (i + 1 < text.size() && (IsWordPart(text[i + 1]) || text[i + 1] == '.')) ++i;
    } else if (IsWordStart(c)) {
      size_t end = i;
      while (end < text.size() && IsWordPart(text[end])) ++end;
      const std::string_view word = text.substr(i, end - i);
      const bool prefix = end < text.size() && (text[end] == '\'' || text[end] == '"') &&
                          (word == "b" || word == "r" || word == "u" || word == "rb");
      if (word != "True" && word != "False" && word != "None" && !prefix) return false;
      i = end - 1;
    } else if (std::string_view(" \t()[]{},.:+-*/%").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return quote == 0;
}

// `line` as "function(...) <says> value": the assert, or "" when it is not such a line.
std::string CallLineAssert(std::string_view line, std::string_view function) {
  line = WithoutComment(Trim(line));
  if (!line.starts_with(function) || line.size() <= function.size() ||
      line[function.size()] != '(') {
    return "";
  }
  const size_t end = CallEnd(line, function.size());
  if (end == std::string_view::npos) return "";
  const std::string_view call = line.substr(0, end);
  const std::string_view arguments = line.substr(function.size() + 1, end - function.size() - 2);
  if (!arguments.empty() && !LooksLikeLiteral(arguments)) return "";
  std::string_view rest = Trim(line.substr(end));
  // Longer separators first: "==>" before "==". Not a bare "=": prompts use it for definitions
  // ("tri(1) = 3" of a sequence the function does not return).
  static constexpr std::string_view kSays[] = {
      "==>",           "==",     "=>", "\xE2\x9E\x9E" /* ➞ */, "\xE2\x86\x92" /* → */, "->",
      "should return", "returns"};
  bool said = false;
  for (std::string_view says : kSays) {
    if (rest.starts_with(says)) {
      rest = Trim(rest.substr(says.size()));
      said = true;
      break;
    }
  }
  while (!rest.empty() && (rest.back() == '.' || rest.back() == ',' || rest.back() == ';')) {
    rest.remove_suffix(1);
  }
  rest = Trim(rest);
  if (!said || !LooksLikeLiteral(rest)) return "";
  return absl::StrCat("assert (", AsAbsl(call), ") == (", AsAbsl(rest), ")");
}

// Per line of `lines`, whether it holds text of a triple-quoted string (a docstring): it
// starts inside one, or opens one.
std::vector<bool> InDocstring(const std::vector<std::string_view>& lines) {
  std::vector<bool> inside(lines.size(), false);
  std::string_view open;  // the quotes of the string the scan is in; empty outside
  for (size_t i = 0; i < lines.size(); ++i) {
    inside[i] = !open.empty();
    for (size_t at = 0; at + 3 <= lines[i].size();) {
      const std::string_view three = lines[i].substr(at, 3);
      if (open.empty() && (three == "\"\"\"" || three == "'''")) {
        open = three;
        inside[i] = true;
        at += 3;
      } else if (!open.empty() && three == open) {
        open = {};
        at += 3;
      } else {
        ++at;
      }
    }
  }
  return inside;
}

}  // namespace

std::vector<std::string> ExampleAsserts(std::string_view source, std::string_view function) {
  const std::vector<std::string_view> lines = SplitLines(source);
  const std::vector<bool> in_docstring = InDocstring(lines);
  std::vector<std::string> asserts;
  for (size_t i = 0; i < lines.size();) {
    std::string_view first;
    if (!in_docstring[i]) {
      ++i;
      continue;
    }
    if (!AfterPrompt(lines[i], ">>>", &first)) {
      if (!function.empty() && !Trim(lines[i]).starts_with("def ")) {
        if (std::string test = CallLineAssert(lines[i], function); !test.empty()) {
          asserts.push_back(std::move(test));
        }
      }
      ++i;
      continue;
    }
    std::string expression(WithoutComment(Trim(first)));
    ++i;
    std::string_view more;
    while (i < lines.size() && AfterPrompt(lines[i], "...", &more)) {
      absl::StrAppend(&expression, "\n", AsAbsl(WithoutComment(more)));
      ++i;
    }
    std::vector<std::string_view> expected;
    std::string_view unused;
    while (i < lines.size() && !Trim(lines[i]).empty() && !AfterPrompt(lines[i], ">>>", &unused)) {
      expected.push_back(Trim(lines[i]));
      ++i;
    }
    // The docstring's closing quotes may end the output's line, or be a line of their own.
    if (!expected.empty()) {
      std::string_view& last = expected.back();
      if (last.ends_with("\"\"\"") || last.ends_with("'''"))
        last = Trim(last.substr(0, last.size() - 3));
      if (last.empty()) expected.pop_back();
    }
    // One line of output that reads as a literal (a repr), not printed text nor an exception.
    if (expression.empty() || expected.size() != 1 || !LooksLikeLiteral(expected[0])) continue;
    asserts.push_back(absl::StrCat("assert (", expression, ") == (", AsAbsl(expected[0]), ")"));
  }
  return asserts;
}

}  // namespace ponder::datasets
