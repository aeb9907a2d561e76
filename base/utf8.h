// UTF-8 helpers: decoding and validation for every part (Printable, the CLI), and the sanitising
// rule of the tokenizer's decoders.
//
// Decoded text must always be valid UTF-8, even when token ids arrive one at a time or form an
// invalid byte sequence. AppendSanitizedUtf8 is the single rule both Tokenizer::Decode and
// StreamingDecoder apply, so feeding tokens one by one gives exactly the text of decoding them
// all at once.
#ifndef PONDER_BASE_UTF8_H_
#define PONDER_BASE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ponder {

// "\uFFFD", the replacement character, in UTF-8.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Number of bytes of the UTF-8 sequence whose first byte is `lead`, by the lead byte alone:
// 1 for ASCII and for bytes that cannot start a sequence (as llama.cpp's unicode_len_utf8, which
// its SentencePiece and BPE tokenizers use to cut text into symbols).
size_t Utf8LengthFromLeadByte(uint8_t lead);

// Appends `code_point` (which must be <= 0x10FFFF) to `out` as UTF-8.
void AppendUtf8(char32_t code_point, std::string* out);

// Decodes the well-formed UTF-8 sequence at the start of `text`. Returns its length and sets
// `code_point`, or returns 0 when `text` is empty or does not start with a well-formed sequence.
size_t DecodeUtf8(std::string_view text, char32_t* code_point);

bool IsValidUtf8(std::string_view text);

// `text` without a UTF-8 byte order mark (EF BB BF) at its start, which editors on some systems
// write and JSON readers should skip.
std::string_view WithoutByteOrderMark(std::string_view text);

// Appends `input` to `out` as valid UTF-8: well-formed sequences are copied and every maximal
// ill-formed subpart is replaced by one U+FFFD (the "maximal subpart" practice of the Unicode
// Standard, §3.9, which is also what Python's `bytes.decode("utf-8", errors="replace")` — used
// by Hugging Face tokenizers' decoders — does). When `at_end` is false, a trailing sequence that
// is incomplete but could still become well-formed is left unconsumed. Returns the number of
// bytes of `input` consumed.
size_t AppendSanitizedUtf8(std::string_view input, bool at_end, std::string* out);

}  // namespace ponder

#endif  // PONDER_BASE_UTF8_H_
