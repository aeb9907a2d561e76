#include "engine/tokenizer/byte_level.h"

#include <array>

#include "base/utf8.h"

namespace ponder::engine {
namespace {

bool MapsToItself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

struct Tables {
  std::array<char32_t, 256> byte_to_code_point;
  std::array<int16_t, 256 + 68> code_point_to_byte;  // -1 where no byte maps to the code point
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    t.code_point_to_byte.fill(-1);
    int next_remapped = 0;
    for (int byte = 0; byte < 256; ++byte) {
      const char32_t cp = MapsToItself(byte) ? static_cast<char32_t>(byte)
                                             : static_cast<char32_t>(256 + next_remapped++);
      t.byte_to_code_point[byte] = cp;
      t.code_point_to_byte[cp] = static_cast<int16_t>(byte);
    }
    return t;
  }();
  return tables;
}

}  // namespace

char32_t ByteLevelCodePoint(uint8_t byte) { return GetTables().byte_to_code_point[byte]; }

std::string ByteLevelEncode(std::string_view bytes) {
  const Tables& tables = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(tables.byte_to_code_point[static_cast<uint8_t>(c)], &out);
  return out;
}

bool ByteLevelDecode(std::string_view text, std::string* out) {
  const Tables& tables = GetTables();
  bool all_in_alphabet = true;
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    size_t length = DecodeUtf8(text.substr(i), &cp);
    if (length != 0 && cp < tables.code_point_to_byte.size() &&
        tables.code_point_to_byte[cp] >= 0) {
      out->push_back(static_cast<char>(tables.code_point_to_byte[cp]));
    } else {
      if (length == 0) length = 1;
      out->append(text.substr(i, length));
      all_in_alphabet = false;
    }
    i += length;
  }
  return all_in_alphabet;
}

}  // namespace ponder::engine
