#include "verifiers/code/output_compare.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/strings.h"

namespace ponder::verifiers::sandbox {
namespace {

std::vector<std::string_view> NormalizedLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    while (!line.empty() && absl::ascii_isspace(static_cast<unsigned char>(line.back()))) {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    start = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string_view Trim(std::string_view text) {
  return AsStd(absl::StripAsciiWhitespace(AsAbsl(text)));
}

std::string_view Unwrap(std::string_view text) {
  text = Trim(text);
  if (text.size() >= 2 && text.front() == '$' && text.back() == '$') {
    text = Trim(text.substr(1, text.size() - 2));
  }
  constexpr std::string_view kBoxed = "\\boxed{";
  if (text.size() > kBoxed.size() && text.substr(0, kBoxed.size()) == kBoxed &&
      text.back() == '}') {
    text = Trim(text.substr(kBoxed.size(), text.size() - kBoxed.size() - 1));
  }
  if (!text.empty() && text.back() == '.') text = Trim(text.substr(0, text.size() - 1));
  return text;
}

bool ReadNumber(std::string_view text, double* value) {
  std::string digits;
  for (char c : text) {
    if (c != ',') digits.push_back(c);
  }
  if (!digits.empty() && digits.back() == '%') digits.pop_back();
  if (digits.empty()) return false;
  return absl::SimpleAtod(digits, value) && std::isfinite(*value);
}

}  // namespace

bool OutputsMatch(std::string_view actual, std::string_view expected) {
  return NormalizedLines(actual) == NormalizedLines(expected);
}

std::string LastPrintedLine(std::string_view output) {
  std::vector<std::string_view> lines = NormalizedLines(output);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string_view line = Trim(*it);
    if (!line.empty()) return std::string(line);
  }
  return "";
}

bool AnswersAgree(std::string_view program_answer, std::string_view cot_answer) {
  std::string_view a = Unwrap(program_answer);
  std::string_view b = Unwrap(cot_answer);
  double x = 0, y = 0;
  if (ReadNumber(a, &x) && ReadNumber(b, &y)) {
    double scale = std::max(std::fabs(x), std::fabs(y));
    return std::fabs(x - y) <= std::max(1e-6 * scale, 1e-9);
  }
  return !a.empty() && a == b;
}

std::string Clip(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

}  // namespace ponder::verifiers::sandbox
