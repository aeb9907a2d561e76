#include "verifiers/grading/expression.h"

#include <cmath>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace ponder::verifiers::grading_internal {
namespace {

std::optional<ExpressionSamples> Eval(const std::string& text) { return EvaluateExpression(text); }

void ExpectExact(const std::string& text, int64_t num, int64_t den) {
  std::optional<ExpressionSamples> samples = Eval(text);
  ASSERT_TRUE(samples.has_value()) << text;
  ASSERT_TRUE(samples->values[0].exact.has_value()) << text;
  EXPECT_EQ(*samples->values[0].exact, (ExactRational{num, den})) << text;
}

void ExpectApprox(const std::string& text, double real, double imag = 0) {
  std::optional<ExpressionSamples> samples = Eval(text);
  ASSERT_TRUE(samples.has_value()) << text;
  EXPECT_NEAR(samples->values[0].value.real(), real, 1e-12 * std::max(1.0, std::fabs(real)))
      << text;
  EXPECT_NEAR(samples->values[0].value.imag(), imag, 1e-12) << text;
}

TEST(GradingExpression, EvaluatesIntegersAndFractionsExactly) {
  ExpectExact(R"(\frac12)", 1, 2);
  ExpectExact(R"(\frac{2}{4}+\frac{1}{4})", 3, 4);
  ExpectExact("2^{10}", 1024, 1);
  ExpectExact("2^10", 1024, 1);  // a whole-number exponent, as sympy's LaTeX parser reads it
  ExpectExact("2^{-2}", 1, 4);
  ExpectExact("0.25", 1, 4);
  ExpectExact("1.5e3", 1500, 1);
  ExpectExact("5!", 120, 1);
  ExpectExact(R"(\binom{10}{3})", 120, 1);
  ExpectExact("3(2+1)", 9, 1);
  ExpectExact(R"(7\frac34)", 21, 4);  // a number before \frac multiplies
  ExpectExact(R"(\lfloor \frac{7}{2} \rfloor)", 3, 1);
  ExpectExact(R"(\lceil -\frac{7}{2} \rceil)", -3, 1);
  ExpectExact("|-4|", 4, 1);
}

TEST(GradingExpression, TakesExactRootsOfPerfectPowers) {
  ExpectExact(R"(\sqrt{16})", 4, 1);
  ExpectExact(R"(\sqrt{\frac{9}{4}})", 3, 2);
  ExpectExact(R"(\sqrt[3]{-8})", -2, 1);  // odd roots of negative numbers are real
  ExpectExact("8^{2/3}", 4, 1);
  ExpectExact("(-8)^{1/3}", -2, 1);
}

TEST(GradingExpression, EvaluatesIrrationalAndComplexValues) {
  ExpectApprox(R"(\sqrt2)", std::sqrt(2.0));
  ExpectApprox(R"(2\pi)", 2 * M_PI);
  ExpectApprox(R"(\frac{\pi}{2})", M_PI / 2);
  ExpectApprox(R"(\sqrt{-4})", 0, 2);
  ExpectApprox("3+4i", 3, 4);
  ExpectApprox(R"(e^{i\pi})", -1, 0);
  ExpectApprox(R"(\sin(\frac{\pi}{6}))", 0.5);
  ExpectApprox(R"(\log_2 8)", 3);
  ExpectApprox(R"(\ln e)", 1);
}

TEST(GradingExpression, ReportsDecimalsPercentAndVariables) {
  EXPECT_TRUE(Eval("1.5")->has_decimal);
  EXPECT_FALSE(Eval(R"(\frac32)")->has_decimal);
  EXPECT_TRUE(Eval("28%")->percent);
  EXPECT_TRUE(Eval("-28%")->percent);
  EXPECT_FALSE(Eval("28%+1")->percent);
  EXPECT_TRUE(Eval("2x+1")->has_variables);
  EXPECT_FALSE(Eval("2+1")->has_variables);
}

TEST(GradingExpression, SamplesVariablesByNameWithOneNegativePoint) {
  EXPECT_GT(VariableSampleValue("x", 0), 0);
  EXPECT_LT(VariableSampleValue("x", 1), 0);
  EXPECT_GT(VariableSampleValue("x", 2), 0);
  EXPECT_NE(VariableSampleValue("x", 0), VariableSampleValue("y", 0));
  std::optional<ExpressionSamples> xy = Eval("xy");
  std::optional<ExpressionSamples> yx = Eval("y x");
  for (int p = 0; p < kSamplePoints; ++p) {
    EXPECT_DOUBLE_EQ(xy->values[p].value.real(), yx->values[p].value.real());
  }
}

TEST(GradingExpression, RefusesWhatIsNotAnExpression) {
  for (const char* text : {"xyz",      "even", "2 3",   "x^2 3",         "1,2",
                           "x=1",      "(1",   "1)",    R"(\mathbb{R})", R"(\frac{1}{0})",
                           "10^{400}", "171!", "(-1)!", "2.5!",          R"(\frac{1}{2004!})",
                           "",         "+",    "\\",    "1__2",          "x_"}) {
    EXPECT_FALSE(Eval(text).has_value()) << text;
  }
}

TEST(GradingExpression, BoundsSizeAndDepth) {
  std::string deep = std::string(200, '(') + "1" + std::string(200, ')');
  EXPECT_FALSE(Eval(deep).has_value());
  std::string negations = std::string(500, '-') + "1";
  EXPECT_FALSE(Eval(negations).has_value());
  std::string sum = "1";
  for (int i = 0; i < 900; ++i) sum += "+1";
  ExpectExact(sum, 901, 1);
  std::string too_long = sum + std::string(kMaxExpressionChars, ' ');
  EXPECT_FALSE(Eval(too_long).has_value());
  std::string many_variables;
  for (char c = 'a'; c <= 'z'; ++c) {
    if (c != 'e' && c != 'i') many_variables += std::string(1, c) + "+";
  }
  EXPECT_FALSE(Eval(many_variables + "1").has_value());  // more than 16 distinct variables
}

}  // namespace
}  // namespace ponder::verifiers::grading_internal
