#include "base/strings.h"

#include <string>

#include "gtest/gtest.h"

namespace ponder {
namespace {

TEST(PrintableTest, EscapesControlCharactersAndKeepsOtherBytes) {
  EXPECT_EQ(Printable("plain text"), "plain text");
  EXPECT_EQ(Printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Printable("one\ntwo\r\tthree\x7f"), "one\\ntwo\\r\\tthree\\x7f");
  EXPECT_EQ(Printable("caf\xc3\xa9 \xe2\x88\x9a"), "caf\xc3\xa9 \xe2\x88\x9a");  // UTF-8 stays
}

TEST(PrintableTest, CutsLongTextAtACharacterBoundary) {
  EXPECT_EQ(Printable(std::string(100, 'x'), 8), "xxxxxxxx...");
  EXPECT_EQ(Printable("short", 8), "short");
  EXPECT_EQ(Printable("12345678", 8), "12345678");
  // "ab" then a 2-byte character across the cut at 3: the whole character goes.
  EXPECT_EQ(Printable("ab\xc3\xa9zzz", 3), "ab...");
}

}  // namespace
}  // namespace ponder
