#include "base/strings.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ponder {

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (true) {
    const size_t newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    if (newline == std::string_view::npos) return lines;
    text.remove_prefix(newline + 1);
  }
}

absl::Status CheckNoControlCharacters(std::string_view text) {
  if (std::none_of(text.begin(), text.end(), IsControlCharacter)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("'", Printable(text), "' holds a control character (a NUL, a newline...)"));
}

std::string Printable(std::string_view text, size_t max_bytes) {
  bool cut = false;
  if (text.size() > max_bytes) {
    size_t end = max_bytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text = text.substr(0, end);
    cut = true;
  }
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const unsigned char byte = static_cast<unsigned char>(ch);
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (IsControlCharacter(ch)) {
      out += absl::StrFormat("\\x%02x", byte);
    } else {
      out += ch;
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace ponder
