// The byte-level alphabet of GPT-2-style BPE vocabularies (internal to engine/tokenizer/).
//
// Byte-level BPE (Radford et al. 2019; openai/gpt-2 encoder.py `bytes_to_unicode`) maps each of
// the 256 byte values to a printable code point so that vocabulary entries are printable text:
// the bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF map to the code point of the same value, the
// remaining 68 bytes (controls, space, 0x7F..0xA0, 0xAD) map in order to U+0100, U+0101, ...
// So " hello" is stored as "Ġhello" (U+0120 is the 33rd remapped byte, the space).
#ifndef PONDER_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define PONDER_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace ponder::engine {

// The code point that stands for `byte`.
char32_t ByteLevelCodePoint(uint8_t byte);

// The byte-level form of raw bytes (each byte becomes its code point, in UTF-8).
std::string ByteLevelEncode(std::string_view bytes);

// Converts a byte-level string back to raw bytes, appending to `out`. Characters outside the
// alphabet (and ill-formed UTF-8) are copied through unchanged; returns false if there were any.
bool ByteLevelDecode(std::string_view text, std::string* out);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_BYTE_LEVEL_H_
