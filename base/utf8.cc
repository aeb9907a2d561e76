#include "base/utf8.h"

namespace ponder {
namespace {

// The well-formed byte sequences of Unicode Table 3-7: the sequence length for a lead byte and
// the range its second byte must lie in (later bytes are always 0x80..0xBF). Returns 0 for
// bytes that cannot start a multi-byte sequence.
size_t SequenceRule(uint8_t lead, uint8_t* second_low, uint8_t* second_high) {
  *second_low = 0x80;
  *second_high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead == 0xE0) {
    *second_low = 0xA0;
    return 3;
  }
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) return 3;
  if (lead == 0xED) {
    *second_high = 0x9F;  // excludes the surrogates U+D800..U+DFFF
    return 3;
  }
  if (lead == 0xF0) {
    *second_low = 0x90;
    return 4;
  }
  if (lead >= 0xF1 && lead <= 0xF3) return 4;
  if (lead == 0xF4) {
    *second_high = 0x8F;  // nothing above U+10FFFF
    return 4;
  }
  return 0;
}

enum class SequenceState { kComplete, kIncomplete, kInvalid };

// Classifies the sequence at the start of `text` (non-empty, first byte non-ASCII). For
// kComplete, `*length` is the sequence length; for kInvalid, the length of the maximal
// ill-formed subpart to replace; for kIncomplete, the bytes available.
SequenceState ClassifySequence(std::string_view text, size_t* length) {
  uint8_t low;
  uint8_t high;
  const size_t needed = SequenceRule(static_cast<uint8_t>(text[0]), &low, &high);
  if (needed == 0) {
    *length = 1;
    return SequenceState::kInvalid;
  }
  for (size_t i = 1; i < needed; ++i) {
    if (i >= text.size()) {
      *length = i;
      return SequenceState::kIncomplete;
    }
    const uint8_t byte = static_cast<uint8_t>(text[i]);
    const uint8_t lo = i == 1 ? low : 0x80;
    const uint8_t hi = i == 1 ? high : 0xBF;
    if (byte < lo || byte > hi) {
      *length = i;
      return SequenceState::kInvalid;
    }
  }
  *length = needed;
  return SequenceState::kComplete;
}

}  // namespace

size_t Utf8LengthFromLeadByte(uint8_t lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t DecodeUtf8(std::string_view text, char32_t* code_point) {
  if (text.empty()) return 0;
  const uint8_t lead = static_cast<uint8_t>(text[0]);
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  size_t length = 0;
  if (ClassifySequence(text, &length) != SequenceState::kComplete) return 0;
  char32_t cp = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[i]) & 0x3F);
  *code_point = cp;
  return length;
}

std::string_view WithoutByteOrderMark(std::string_view text) {
  return text.starts_with("\xEF\xBB\xBF") ? text.substr(3) : text;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    if (ClassifySequence(text.substr(i), &length) != SequenceState::kComplete) return false;
    i += length;
  }
  return true;
}

size_t AppendSanitizedUtf8(std::string_view input, bool at_end, std::string* out) {
  size_t i = 0;
  size_t run_start = 0;  // start of the pending run of bytes to copy unchanged
  while (i < input.size()) {
    if (static_cast<uint8_t>(input[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    switch (ClassifySequence(input.substr(i), &length)) {
      case SequenceState::kComplete:
        i += length;
        break;
      case SequenceState::kInvalid:
        out->append(input.substr(run_start, i - run_start));
        out->append(kReplacementCharacter);
        i += length;
        run_start = i;
        break;
      case SequenceState::kIncomplete:
        out->append(input.substr(run_start, i - run_start));
        if (!at_end) return i;
        out->append(kReplacementCharacter);
        return input.size();
    }
  }
  out->append(input.substr(run_start, i - run_start));
  return input.size();
}

}  // namespace ponder
