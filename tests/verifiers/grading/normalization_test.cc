#include <string_view>

#include "gtest/gtest.h"
#include "verifiers/grading/latex_normalization.h"

namespace ponder::verifiers::grading_internal {
namespace {

struct NormalizationCase {
  std::string_view input;
  std::string_view expected;
};

void PrintTo(const NormalizationCase& c, std::ostream* os) { *os << "'" << c.input << "'"; }

class GradingNormalization : public testing::TestWithParam<NormalizationCase> {};

TEST_P(GradingNormalization, ProducesCanonicalText) {
  EXPECT_EQ(NormalizeMathAnswer(GetParam().input), GetParam().expected);
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(Cases, GradingNormalization, testing::Values(
    NormalizationCase{R"(\dfrac{1}{2})", R"(\frac{1}{2})"},
    NormalizationCase{R"(\tfrac12)", R"(\frac12)"},
    NormalizationCase{R"(\frac 34)", R"(\frac34)"},
    NormalizationCase{R"(\left( 1, 2 \right))", "(1,2)"},
    NormalizationCase{R"(\left\{ 1 \right.)", R"(\{1)"},
    NormalizationCase{R"(\leftarrow)", R"(\leftarrow)"},  // \left must not eat into \leftarrow
    NormalizationCase{R"(x \leq 3)", R"(x\le3)"},
    NormalizationCase{R"(120^\circ)", "120"},
    NormalizationCase{R"(120^{\circ})", "120"},
    NormalizationCase{"120\xC2\xB0", "120"},
    NormalizationCase{R"(5\text{ cm}^2)", "5"},
    NormalizationCase{R"(135\text{ square feet})", "135"},
    NormalizationCase{R"((3\text{ cm}, 4\text{ cm}))", "(3,4)"},
    NormalizationCase{R"(\text{(C)})", "(C)"},
    NormalizationCase{R"(\text{no solution})", "no solution"},
    NormalizationCase{R"(12\text{ and }13)", "12,13"},
    NormalizationCase{R"(7, -2, \text{ and } -5)", "7,-2,-5"},
    NormalizationCase{R"(75,\!075)", "75075"},
    NormalizationCase{"14{,}916", "14916"},
    NormalizationCase{"1,000,000", "1000000"},
    NormalizationCase{"(1,000, 2)", "(1,000,2)"},  // tuples keep their commas
    NormalizationCase{"1 000", "1000"},
    NormalizationCase{R"(1\,000)", "1000"},
    NormalizationCase{"-7 3/4", "-(7+3/4)"},
    NormalizationCase{R"(137 \frac{1}{2})", R"((137+\frac{1}{2}))"},
    NormalizationCase{R"(8\frac47)", R"((8+\frac47))"},
    NormalizationCase{R"(x=1\frac{1}{2})", R"(x=(1+\frac{1}{2}))"},
    NormalizationCase{R"(3.1\frac12)", R"(3.1\frac12)"},  // a decimal multiplies
    NormalizationCase{R"(2\frac{\sqrt2}{2})", R"(2\frac{\sqrt2}{2})"},  // not a fraction of integers
    NormalizationCase{"45,  135", "45, 135"},  // a spaced comma is no thousands separator
    NormalizationCase{R"(\boxed{575\text{ students}})", "575"},
    NormalizationCase{"a+b", "a+b"},  // no unit list eats `a`
    NormalizationCase{"25 cm", "25"},
    NormalizationCase{"3 square units", "3"},
    NormalizationCase{"x cm", "x cm"},  // a unit needs a number before it
    NormalizationCase{"28 percent", "28%"},
    NormalizationCase{R"(28\%)", "28%"},
    NormalizationCase{R"(\$18.90)", "18.90"},
    NormalizationCase{R"(\boxed{5})", "5"},
    NormalizationCase{"5.", "5"},
    NormalizationCase{R"(\pi r^2)", R"(\pi r^2)"},
    NormalizationCase{"1200_{7}", "1200_7"},
    NormalizationCase{"x^{2}", "x^2"},
    NormalizationCase{"x^{10}", "x^{10}"},
    NormalizationCase{"3\xC3\x97" "4", R"(3\times4)"},
    NormalizationCase{"\xE2\x88\x92" "5", "-5"},
    NormalizationCase{R"($\frac{1}{2}$)", R"(\frac{1}{2})"},
    NormalizationCase{R"(\displaystyle\sqrt{2})", R"(\sqrt{2})"},
    NormalizationCase{R"(\begin{pmatrix} 1 \\ 2 \end{pmatrix})", R"(\begin{pmatrix}1\\2\end{pmatrix})"},
    NormalizationCase{"2 and 3", "2,3"},
    NormalizationCase{"infinity", R"(\infty)"},
    NormalizationCase{"  ", ""}));
// clang-format on

TEST(GradingNormalizationLimits, OversizedInputIsOnlyCompacted) {
  std::string big(kMaxNormalizedInput + 1, 'x');
  big[10] = ' ';
  EXPECT_EQ(NormalizeMathAnswer(big).size(), kMaxNormalizedInput);
}

}  // namespace
}  // namespace ponder::verifiers::grading_internal
