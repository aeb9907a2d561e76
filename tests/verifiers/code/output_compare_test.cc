#include "verifiers/code/output_compare.h"

#include <gtest/gtest.h>

namespace ponder::verifiers::sandbox {
namespace {

TEST(OutputsMatchTest, IgnoresTrailingWhitespaceAndBlankLinesOnly) {
  EXPECT_TRUE(OutputsMatch("1 2\n3\n", "1 2\n3"));
  EXPECT_TRUE(OutputsMatch("1 2  \r\n3\t\n\n\n", "1 2\n3\n"));
  EXPECT_TRUE(OutputsMatch("", "\n"));
  EXPECT_FALSE(OutputsMatch("1  2\n", "1 2\n"));     // inner spacing counts
  EXPECT_FALSE(OutputsMatch(" 1\n", "1\n"));         // leading spacing counts
  EXPECT_FALSE(OutputsMatch("1\n\n2\n", "1\n2\n"));  // inner blank lines count
  EXPECT_FALSE(OutputsMatch("12", "1"));
}

TEST(LastPrintedLineTest, SkipsTrailingBlankLines) {
  EXPECT_EQ(LastPrintedLine("a\n  42  \n\n  \n"), "42");
  EXPECT_EQ(LastPrintedLine(""), "");
  EXPECT_EQ(LastPrintedLine("only"), "only");
}

TEST(AnswersAgreeTest, NumbersWithinToleranceAndNormalizedStrings) {
  EXPECT_TRUE(AnswersAgree("18.0", "18"));
  EXPECT_TRUE(AnswersAgree("1,000", "1000"));
  EXPECT_TRUE(AnswersAgree("0.3333333333", "0.33333333"));
  EXPECT_TRUE(AnswersAgree("50%", "50"));
  EXPECT_TRUE(AnswersAgree(" 7. ", "$7$"));
  EXPECT_TRUE(AnswersAgree("\\boxed{12}", "12"));
  EXPECT_TRUE(AnswersAgree("yes", "yes"));
  EXPECT_FALSE(AnswersAgree("18.01", "18"));
  EXPECT_FALSE(AnswersAgree("1e-12", "0.5"));
  EXPECT_FALSE(AnswersAgree("yes", "no"));
  EXPECT_FALSE(AnswersAgree("", ""));
}

TEST(ClipTest, MarksCutText) {
  EXPECT_EQ(Clip("abcdef", 3), "abc...");
  EXPECT_EQ(Clip("abc", 3), "abc");
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
