// The public API: formats, keys, parsed answers, symmetry and robustness.
#include "verifiers/grading/grader.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ponder::verifiers {
namespace {

using ::testing::HasSubstr;

TEST(GradingFormat, ParsesKnownNamesAndNamesTheBadOne) {
  EXPECT_EQ(*ParseAnswerFormat("gsm8k"), AnswerFormat::kGsm8k);
  EXPECT_EQ(*ParseAnswerFormat("math"), AnswerFormat::kMath);
  absl::StatusOr<AnswerFormat> bad = ParseAnswerFormat("MATH500");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'MATH500'"));
  EXPECT_EQ(AnswerFormatName(AnswerFormat::kGsm8k), "gsm8k");
  EXPECT_EQ(AnswerFormatName(AnswerFormat::kMath), "math");
  EXPECT_EQ(*ParseAnswerFormat("code"), AnswerFormat::kCode);
  EXPECT_EQ(AnswerFormatName(AnswerFormat::kCode), "code");
}

TEST(GradingCode, TheProgramIsTheLongestFencedBlockElseTheWholeResponse) {
  EXPECT_EQ(ExtractProgram("Here:\n```python\ndef f(x):\n    return x\n```\nDone."),
            "def f(x):\n    return x");
  // The longest block wins over a shorter usage example after it; equal lengths: the first.
  EXPECT_EQ(ExtractProgram("```python\ndef f(x):\n    return x + 1\n```\nUse it:\n```\nf(1)\n```"),
            "def f(x):\n    return x + 1");
  EXPECT_EQ(ExtractProgram("```\na = 1\n```\n```\nb = 2\n```"), "a = 1");
  // A block the response ends inside (a length limit) runs to the end.
  EXPECT_EQ(ExtractProgram("Sure.\n```py\nimport math\ndef g():"), "import math\ndef g():");
  // No fence: the whole response, blank lines around it dropped, indentation kept.
  EXPECT_EQ(ExtractProgram("\n\n    return a + b\n\n"), "    return a + b");
  EXPECT_EQ(ExtractProgram("  \n\t\n"), std::nullopt);
  EXPECT_EQ(ExtractProgram("```python\n\n```"), std::nullopt);
  EXPECT_EQ(ExtractAnswer("```\nx = 1\n```", AnswerFormat::kCode), "x = 1");
  // A block indented under a list item loses the fence's indentation; CRLF lines are one class
  // with LF ones.
  EXPECT_EQ(ExtractProgram("1. Code:\n   ```python\n   def f():\n       return 1\n   ```\n"),
            "def f():\n    return 1");
  const std::optional<std::string> crlf =
      ExtractProgram("```\r\ndef f():\r\n  return 1\r\n```\r\n");
  ASSERT_TRUE(crlf.has_value());
  EXPECT_TRUE(AnswersEquivalent(*crlf, "def f():\n  return 1", AnswerFormat::kCode));
}

// For program-of-thought agreement the program must be fenced.
TEST(GradingCode, AProgramOfThoughtIsAFencedBlock) {
  const std::string response =
      "6 times 7 is 42.\n```python\nprint(6 * 7)  # 42\n```\nSo the answer is \\boxed{42}.";
  EXPECT_EQ(ExtractProgram(response, /*whole_text_without_fence=*/false), "print(6 * 7)  # 42");
  EXPECT_EQ(ExtractProgram("The answer is 42.", /*whole_text_without_fence=*/false), std::nullopt);
}

TEST(GradingCode, ProgramsAreOneClassWhenTheirTextIsTheSameUpToBlankLinesAndTrailingSpace) {
  const AnswerFormat c = AnswerFormat::kCode;
  EXPECT_TRUE(AnswersEquivalent("def f():\n    return 1", "def f():   \n\n    return 1\n", c));
  // Indentation and everything else matter: behaviour is for tests to judge.
  EXPECT_FALSE(AnswersEquivalent("def f():\n    return 1", "def f():\n  return 1", c));
  EXPECT_FALSE(AnswersEquivalent("return 1", "return 2", c));
  EXPECT_EQ(CanonicalAnswerKey("a = 1  \n\nb = 2\n", c), "a = 1\nb = 2\n");
  ParsedAnswer blank = ParsedAnswer::Parse(" \n ", c);
  EXPECT_TRUE(blank.empty());
  EXPECT_FALSE(blank.IsEquivalentTo(blank));
  // A program is never equivalent to a math answer of the same text.
  EXPECT_FALSE(
      ParsedAnswer::Parse("1", c).IsEquivalentTo(ParsedAnswer::Parse("1", AnswerFormat::kMath)));
}

TEST(GradingKeys, EquivalentNotationsShareAKeyAndDifferentValuesDoNot) {
  const AnswerFormat m = AnswerFormat::kMath;
  std::string half = CanonicalAnswerKey(R"(\frac12)", m);
  EXPECT_FALSE(half.empty());
  for (const char* same :
       {R"(\frac{1}{2})", "1/2", "0.5", R"(\dfrac{2}{4})", R"($\boxed{0.50}$)"}) {
    EXPECT_EQ(CanonicalAnswerKey(same, m), half) << same;
  }
  EXPECT_NE(CanonicalAnswerKey(R"(\frac13)", m), half);
  EXPECT_NE(CanonicalAnswerKey("(1,2)", m), CanonicalAnswerKey("[1,2]", m));
  EXPECT_EQ(CanonicalAnswerKey(R"(\{1,2\})", m), CanonicalAnswerKey(R"(\{2, 1\})", m));
  EXPECT_EQ(CanonicalAnswerKey("1,234", AnswerFormat::kGsm8k),
            CanonicalAnswerKey("$1234.00", AnswerFormat::kGsm8k));
  EXPECT_NE(CanonicalAnswerKey("25%", AnswerFormat::kGsm8k),
            CanonicalAnswerKey("25", AnswerFormat::kGsm8k));
}

TEST(GradingKeys, NoAnswerHasAnEmptyKeyAndMatchesNothing) {
  for (AnswerFormat format : {AnswerFormat::kGsm8k, AnswerFormat::kMath}) {
    EXPECT_EQ(CanonicalAnswerKey("", format), "");
    EXPECT_EQ(CanonicalAnswerKey("  \n ", format), "");
    EXPECT_FALSE(AnswersEquivalent("", "", format));
    EXPECT_FALSE(ParsedAnswer::Parse(" ", format).IsEquivalentTo(ParsedAnswer::Parse(" ", format)));
    EXPECT_TRUE(ParsedAnswer::Parse("", format).empty());
  }
}

// A corpus of answers with many near-duplicates, for the properties below.
const std::vector<std::string_view>& Corpus() {
  static const auto* corpus =
      new std::vector<std::string_view>{R"(\frac12)",
                                        "0.5",
                                        "1/2",
                                        R"(\frac{2}{4})",
                                        "0.500001",
                                        "0.5000001",
                                        R"(\frac13)",
                                        "0.333333",
                                        "0.3333",
                                        R"(\sqrt2)",
                                        "1.414214",
                                        R"(\sqrt{8}/2)",
                                        "2",
                                        R"(\sqrt4)",
                                        "2.0",
                                        "10%",
                                        "0.1",
                                        "10",
                                        "(1,2)",
                                        "1,2",
                                        "2,1",
                                        "[1,2]",
                                        R"(\{1,2\})",
                                        "(2,1)",
                                        "x+1",
                                        "1+x",
                                        R"(\frac{2x+2}{2})",
                                        "x-1",
                                        "C",
                                        "(C)",
                                        R"(\text{C})",
                                        "c",
                                        "D",
                                        "3+4i",
                                        "4i+3",
                                        "3-4i",
                                        R"(\begin{pmatrix}1\\2\end{pmatrix})",
                                        R"(\begin{pmatrix}1&2\end{pmatrix})",
                                        "x=2",
                                        "2x=4",
                                        "y=2",
                                        R"(\infty)",
                                        R"(-\infty)",
                                        R"((-\infty,0))",
                                        R"((-\infty,0])",
                                        "e",
                                        R"(\pi)",
                                        "3.14"};
  return *corpus;
}

TEST(GradingKeys, EqualKeysImplyEquivalenceBothWays) {
  for (AnswerFormat format : {AnswerFormat::kGsm8k, AnswerFormat::kMath}) {
    std::vector<ParsedAnswer> parsed;
    for (std::string_view answer : Corpus()) parsed.push_back(ParsedAnswer::Parse(answer, format));
    for (size_t i = 0; i < parsed.size(); ++i) {
      for (size_t j = 0; j < parsed.size(); ++j) {
        if (parsed[i].key() != parsed[j].key()) continue;
        EXPECT_TRUE(parsed[i].IsEquivalentTo(parsed[j])) << Corpus()[i] << " / " << Corpus()[j];
        EXPECT_TRUE(AnswersEquivalent(Corpus()[i], Corpus()[j], format));
      }
    }
  }
}

TEST(GradingEquivalence, IsSymmetricForAnswersThatAreNotEquations) {
  for (std::string_view a : Corpus()) {
    for (std::string_view b : Corpus()) {
      if (a.find('=') != std::string_view::npos || b.find('=') != std::string_view::npos) continue;
      EXPECT_EQ(AnswersEquivalent(a, b, AnswerFormat::kMath),
                AnswersEquivalent(b, a, AnswerFormat::kMath))
          << a << " / " << b;
    }
  }
}

TEST(GradingEquivalence, GroupsCandidatesIntoAnswerClasses) {
  // What self-consistency does: group by key, then merge groups that are equivalent.
  std::vector<std::string_view> candidates = {R"(\frac12)",     "0.5", "1/3", "0.333333",
                                              R"(\frac{1}{3})", "7",   "0.5"};
  std::vector<ParsedAnswer> classes;
  std::vector<int> votes;
  for (std::string_view candidate : candidates) {
    ParsedAnswer answer = ParsedAnswer::Parse(candidate, AnswerFormat::kMath);
    size_t k = 0;
    while (k < classes.size() && !answer.IsEquivalentTo(classes[k])) ++k;
    if (k == classes.size()) {
      classes.push_back(answer);
      votes.push_back(0);
    }
    ++votes[k];
  }
  EXPECT_EQ(votes, (std::vector<int>{3, 3, 1}));
}

TEST(GradingEquivalence, ParsedAnswersOfDifferentFormatsNeverMatch) {
  EXPECT_FALSE(ParsedAnswer::Parse("5", AnswerFormat::kMath)
                   .IsEquivalentTo(ParsedAnswer::Parse("5", AnswerFormat::kGsm8k)));
}

TEST(GradingGrade, NoExtractTakesTheWholeResponse) {
  GradeResult result = Grade("  \\frac{1}{2} ", "0.5", AnswerFormat::kMath, /*extract=*/false);
  EXPECT_EQ(result.extracted, "\\frac{1}{2}");
  EXPECT_TRUE(result.correct);
  GradeResult blank = Grade("   ", "0.5", AnswerFormat::kMath, /*extract=*/false);
  EXPECT_FALSE(blank.extracted.has_value());
  EXPECT_FALSE(blank.correct);
}

TEST(GradingGrade, AcceptsAFullGsm8kSolutionAsTheReference) {
  EXPECT_TRUE(Grade("The answer is 1450000", "... so 1,450,000 in all.\n#### 1,450,000",
                    AnswerFormat::kGsm8k)
                  .correct);
}

TEST(GradingGoldHelpers, ExtractGsm8kAndMathGoldAnswers) {
  EXPECT_EQ(Gsm8kGoldAnswer("work <<2*3=6>>6\n#### 2,125"), "2125");
  EXPECT_EQ(Gsm8kGoldAnswer("#### -10"), "-10");
  EXPECT_EQ(Gsm8kGoldAnswer("no marker"), std::nullopt);
  EXPECT_EQ(MathGoldAnswer(R"(so $\boxed{\left( 3, \frac{\pi}{2} \right)}.$)"),
            R"(\left( 3, \frac{\pi}{2} \right))");
  EXPECT_EQ(MathGoldAnswer(R"(\boxed{1} then \boxed{\{1,2\}})"), R"(\{1,2\})");
  EXPECT_EQ(MathGoldAnswer(R"(\fbox{12})"), "12");
  EXPECT_EQ(MathGoldAnswer("none"), std::nullopt);
}

// Inputs built to be slow or to break parsers. Every call must return (the test's timeout
// catches a hang) without crashing; none of these is a correct answer.
TEST(GradingRobustness, PathologicalInputsReturnPromptly) {
  std::vector<std::string> inputs = {
      std::string(100000, '{'),
      std::string(100000, '}'),
      std::string(50000, '('),
      std::string(20000, '-') + "1",
      "\\boxed{" + std::string(30000, '{'),
  };
  std::string nested_sqrt;
  for (int i = 0; i < 3000; ++i) nested_sqrt += "\\sqrt{";
  inputs.push_back(nested_sqrt);
  std::string fractions;
  for (int i = 0; i < 5000; ++i) fractions += "\\frac";
  inputs.push_back(fractions);
  std::string long_list;
  for (int i = 0; i < 20000; ++i) long_list += std::to_string(i) + ",";
  inputs.push_back(long_list);
  std::string nested_sets;
  for (int i = 0; i < 60; ++i) nested_sets += "\\{1,";
  inputs.push_back(nested_sets);
  std::string powers = "2";
  for (int i = 0; i < 500; ++i) powers += "^{9";
  inputs.push_back(powers + std::string(500, '}'));
  inputs.push_back("99999999999999999999999999999!");
  inputs.push_back(std::string(10000, '#') + " 4");
  inputs.push_back("\\text{" + std::string(20000, 'a'));
  inputs.push_back(std::string("\xff\xfe\x00\x01", 4) + "\\boxed{\xc3}");
  for (const std::string& input : inputs) {
    for (AnswerFormat format : {AnswerFormat::kGsm8k, AnswerFormat::kMath}) {
      EXPECT_FALSE(Grade(input, "5", format).correct);
      EXPECT_FALSE(Grade(input, "5", format, /*extract=*/false).correct);
      AnswersEquivalent(input, input, format);
      CanonicalAnswerKey(input, format);
    }
  }
}

}  // namespace
}  // namespace ponder::verifiers
