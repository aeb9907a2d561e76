#include "datasets/doctest_examples.h"

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
  std::string_view rest = Trim(line.substr(end));
  // Longer separators first: "==>" before "==" and "=".
  static constexpr std::string_view kSays[] = {
      "==>",           "==",     "=>", "\xE2\x9E\x9E" /* ➞ */, "\xE2\x86\x92" /* → */, "->", "=",
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
  if (!said || rest.empty()) return "";
  return absl::StrCat("assert (", AsAbsl(call), ") == (", AsAbsl(rest), ")");
}

}  // namespace

std::vector<std::string> ExampleAsserts(std::string_view source, std::string_view function) {
  const std::vector<std::string_view> lines = SplitLines(source);
  std::vector<std::string> asserts;
  for (size_t i = 0; i < lines.size();) {
    std::string_view first;
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
    if (expression.empty() || expected.size() != 1 || expected[0].starts_with("Traceback")) {
      continue;
    }
    asserts.push_back(absl::StrCat("assert (", expression, ") == (", AsAbsl(expected[0]), ")"));
  }
  return asserts;
}

}  // namespace ponder::datasets
