#include "base/strings.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/utf8.h"

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
      absl::StrCat("'", Printable(text, 64), "' holds a control character (a NUL, a newline...)"));
}

namespace {

// Characters that steer a terminal or reorder what it shows without being ASCII controls: the
// C1 controls (U+0080 to U+009F; U+009B is a control sequence introducer to many terminals), the
// bidirectional overrides, embeddings, isolates and marks that can make text display in another
// order than it reads ("Trojan Source", Boucher and Anderson 2021; U+061C is the Arabic letter
// mark), and the line and paragraph separators (U+2028, U+2029), which break a line as '\n' does.
bool IsHiddenControl(char32_t c) {
  return (c >= 0x80 && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

}  // namespace

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
  while (!text.empty()) {
    const char ch = text[0];
    char32_t code_point = 0;
    const size_t length = DecodeUtf8(text, &code_point);
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (length == 0 ||
               IsControlCharacter(ch)) {  // a byte that is no character, or a control
      out += absl::StrFormat("\\x%02x", static_cast<unsigned char>(ch));
    } else if (IsHiddenControl(code_point)) {
      out += absl::StrFormat("\\u%04x", static_cast<uint32_t>(code_point));
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(std::max<size_t>(length, 1));
  }
  if (cut) out += "...";
  return out;
}

}  // namespace ponder
