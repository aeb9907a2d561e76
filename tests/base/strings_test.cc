#include "base/strings.h"

#include <string>

#include "base/utf8.h"
#include "gtest/gtest.h"

namespace ponder {
namespace {

TEST(PrintableTest, EscapesControlCharactersAndKeepsOtherBytes) {
  EXPECT_EQ(Printable("plain text"), "plain text");
  EXPECT_EQ(Printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Printable("one\ntwo\r\tthree\x7f"), "one\\ntwo\\r\\tthree\\x7f");
  EXPECT_EQ(Printable("caf\xc3\xa9 \xe2\x88\x9a"), "caf\xc3\xa9 \xe2\x88\x9a");  // UTF-8 stays
}

// What is not ASCII but can still steer a terminal or hide text: bytes that are not UTF-8 (a raw
// 0x9b is a control sequence introducer to 8-bit terminals), C1 controls written in UTF-8, and
// bidirectional overrides and isolates; other characters, right-to-left letters included, stay.
TEST(PrintableTest, EscapesBytesThatAreNotUtf8AndHiddenControls) {
  EXPECT_EQ(Printable("a\x9b"
                      "31mb"),
            "a\\x9b31mb");
  EXPECT_EQ(Printable("\xc2\x9b"
                      "31m"),
            "\\u009b31m");  // U+009B as UTF-8
  EXPECT_EQ(Printable("id\xe2\x80\xae"
                      "cod.exe"),
            "id\\u202ecod.exe");                                         // right-to-left override
  EXPECT_EQ(Printable("\xe2\x81\xa6x\xe2\x81\xa9"), "\\u2066x\\u2069");  // an isolate
  EXPECT_EQ(Printable("a\xe2\x80\xa8"
                      "b\xd8\x9c"),
            "a\\u2028b\\u061c");                            // a line separator, ALM
  EXPECT_EQ(Printable("\xc0\xaf"), "\\xc0\\xaf");           // an overlong '/'
  EXPECT_EQ(Printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(Printable("cut \xe2\x88"), "cut \\xe2\\x88");   // a character cut short
  EXPECT_EQ(Printable("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xf0\x9f\x98\x80"),
            "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xf0\x9f\x98\x80");  // Hebrew, an emoji
}

// A dataset's id has no length limit: its error quotes 64 bytes of it.
TEST(CheckNoControlCharactersTest, QuotesALongValueCut) {
  EXPECT_TRUE(CheckNoControlCharacters("id-1").ok());
  const absl::Status status = CheckNoControlCharacters(std::string(100000, 'x') + "\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "'" + std::string(64, 'x') +
                                  "...' holds a control character (a "
                                  "NUL, a newline...)");
}

TEST(PrintableTest, CutsLongTextAtACharacterBoundary) {
  EXPECT_EQ(Printable(std::string(100, 'x'), 8), "xxxxxxxx...");
  EXPECT_EQ(Printable("short", 8), "short");
  EXPECT_EQ(Printable("12345678", 8), "12345678");
  // "ab" then a 2-byte character across the cut at 3: the whole character goes.
  EXPECT_EQ(Printable("ab\xc3\xa9zzz", 3), "ab...");
}

TEST(Utf8Test, WithoutByteOrderMarkDropsOnlyALeadingOne) {
  EXPECT_EQ(WithoutByteOrderMark("\xEF\xBB\xBF{}"), "{}");
  EXPECT_EQ(WithoutByteOrderMark("{}\xEF\xBB\xBF"), "{}\xEF\xBB\xBF");
  EXPECT_EQ(WithoutByteOrderMark("\xEF\xBB"), "\xEF\xBB");
  EXPECT_EQ(WithoutByteOrderMark(""), "");
}

}  // namespace
}  // namespace ponder
