// The conformance table: answers and responses with the verdict the reference graders give
// (PRM800K's grader.py, Qwen2.5-Math's math_equal, Math-Verify), each with its reason.
//
// Verdicts were derived by reading the references' code (the files named in grader.h); the
// `disagreement` column records the cases where they differ, what each says, and that we
// follow the majority (or, where marked "issue rule", the issue's explicit requirement).
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "verifiers/grading/grader.h"

namespace ponder::verifiers {
namespace {

constexpr AnswerFormat kG = AnswerFormat::kGsm8k;
constexpr AnswerFormat kM = AnswerFormat::kMath;

struct EquivalenceCase {
  AnswerFormat format;
  std::string_view candidate;
  std::string_view reference;
  bool equivalent;
  std::string_view reason;
  std::string_view disagreement;  // empty when all three references agree
};

// clang-format off
const EquivalenceCase kEquivalenceCases[] = {
    // ---- GSM8K ----
    {kG, "18", "18", true, "identical integers", ""},
    {kG, "1,234", "1234", true, "thousands separators are dropped", ""},
    {kG, "1450000", "1,450,000", true, "gold answers carry thousands separators", ""},
    {kG, "$18", "18", true, "currency sign", ""},
    {kG, R"(\$18)", "18", true, "LaTeX currency sign", ""},
    {kG, "18.00", "18", true, "trailing .00", ""},
    {kG, "18.0", "18", true, "integer written as a decimal", ""},
    {kG, "18.5", "18", false, "a different number", ""},
    {kG, "-10", "-10", true, "negative numbers", ""},
    {kG, "10", "-10", false, "the sign matters", ""},
    {kG, "\xE2\x88\x92" "3", "-3", true, "Unicode minus sign", ""},
    {kG, "18 dollars", "18", true, "unit words after the number", ""},
    {kG, "5 eggs per day", "5", true, "several words after the number", ""},
    {kG, "$1,234.50", "1234.5", true, "currency, separators and decimals together", ""},
    {kG, "2125", "2,125", true, "separators on the reference side", ""},
    {kG, "19", "18", false, "off by one", ""},
    {kG, "25%", "25", true, "a percentage of the same quantity", ""},
    {kG, "0.25", "25", false, "0.25 is not 25 (the 0.18-vs-18 trap)",
     "Qwen's include_percentage accepts; PRM800K and Math-Verify reject; majority rejects"},
    {kG, "25%", "0.25", true, "25% is the quantity 0.25",
     "PRM800K strips the % and rejects; Qwen and Math-Verify accept; majority accepts"},
    {kG, R"(\frac{15}{2})", "7.5", true, "a fraction against its decimal", ""},
    {kG, "15/2", "7.5", true, "a slash fraction against its decimal", ""},
    {kG, "7.50", "7.5", true, "trailing zero after the point", ""},
    {kG, "1234567", "1234600", false, "close but different integers",
     "Qwen's rel_tol=1e-4 accepts; PRM800K and Math-Verify reject; majority rejects"},
    {kG, "18.0001", "18", false, "a decimal that differs in the 4th place",
     "Qwen's rel_tol=1e-4 accepts; PRM800K and Math-Verify reject; majority rejects"},
    {kG, "1,22", "122", false, "a comma that is not a thousands separator",
     "Qwen deletes every comma and accepts; Math-Verify reads 1.22 and PRM800K a tuple; majority rejects"},
    {kG, "", "18", false, "an empty answer is no answer", ""},
    {kG, "18", "", false, "an empty reference matches nothing", ""},
    {kG, R"(\boxed{18})", "18", true, "a boxed answer", ""},
    {kG, "18.", "18", true, "a full stop after the number", ""},
    {kG, "1e3", "1000", true, "scientific notation", ""},
    {kG, "18 + 2", "20", true, "arithmetic is evaluated",
     "PRM800K requires a literal integer when the reference is one and rejects; Qwen and Math-Verify accept"},
    {kG, ".5", "0.5", true, "leading decimal point", ""},
    {kG, "0", "-0", true, "negative zero is zero", ""},
    {kG, "18 eggs", "17", false, "units do not rescue a wrong number", ""},

    // ---- MATH: fractions ----
    {kM, R"(\dfrac{1}{2})", R"(\frac{1}{2})", true, "\\dfrac is \\frac", ""},
    {kM, R"(\tfrac12)", R"(\frac{1}{2})", true, "\\tfrac and brace-less arguments", ""},
    {kM, R"(\frac 34)", R"(\frac{3}{4})", true, "\\frac with a space and one-character arguments", ""},
    {kM, R"(\frac1{72})", R"(\frac{1}{72})", true, "mixed brace-less and braced arguments", ""},
    {kM, "1/2", R"(\frac{1}{2})", true, "a slash fraction", ""},
    {kM, "0.5", R"(\frac12)", true, "an exact decimal", ""},
    {kM, R"(\frac{2}{4})", R"(\frac{1}{2})", true, "an unreduced fraction has the same value",
     "PRM800K requires unreduced fractions to match as strings and rejects; Qwen and Math-Verify accept"},
    {kM, "0.333333", R"(\frac{1}{3})", true, "a decimal agreeing to six places",
     "PRM800K (exact sympy) rejects; Qwen (1e-4) and Math-Verify (6 decimals) accept"},
    {kM, "0.3333", R"(\frac{1}{3})", false, "four decimals are not enough",
     "Qwen (1e-4) is borderline; Math-Verify (6 decimals) and PRM800K reject; majority rejects"},
    {kM, R"(\frac{10001}{10000})", "1", false, "different exact rationals",
     "Qwen's rel_tol=1e-4 accepts; PRM800K and Math-Verify compare exactly; majority rejects"},
    {kM, R"(\frac{333333}{1000000})", R"(\frac{1}{3})", false, "exact rationals never round",
     "Qwen accepts; PRM800K and Math-Verify reject"},
    {kM, "0.000067", "0.0000672", false, "small decimals differ relatively",
     "Math-Verify's 6-decimal rounding accepts; Qwen (1e-4 relative) and PRM800K reject"},
    {kM, R"(-\frac{5}{7})", R"(\frac{-5}{7})", true, "where the minus sign sits", ""},
    {kM, R"(\frac{5}{7})", R"(-\frac{5}{7})", false, "the sign matters", ""},
    // ---- MATH: roots, pi, powers ----
    {kM, R"(\sqrt2)", R"(\sqrt{2})", true, "\\sqrt with a one-character argument", ""},
    {kM, R"(2\sqrt{3})", R"(\sqrt{12})", true, "equal surds", ""},
    {kM, R"(\sqrt{\frac23})", R"(\frac{\sqrt{6}}{3})", true, "rationalised denominator", ""},
    {kM, R"(\frac{1}{\sqrt{3}})", R"(\frac{\sqrt{3}}{3})", true, "unrationalised denominator", ""},
    {kM, R"(\sqrt[3]{8})", "2", true, "a cube root",
     "PRM800K demands a literal integer for an integer reference and rejects; Qwen and Math-Verify accept"},
    {kM, "1.414214", R"(\sqrt{2})", true, "a decimal to six places",
     "PRM800K rejects; Qwen and Math-Verify accept"},
    {kM, "2.236", R"(\sqrt{5})", false, "three decimals are not enough",
     "Qwen (1e-4) accepts; Math-Verify and PRM800K reject; majority rejects"},
    {kM, "3.1416", R"(\pi)", false, "pi to four decimals",
     "Qwen (1e-4) accepts; Math-Verify and PRM800K reject; majority rejects"},
    {kM, R"(2 \pi)", R"(2\pi)", true, "spacing", ""},
    {kM, R"(\frac12\pi)", R"(\frac{\pi}{2})", true, "pi outside the fraction", ""},
    {kM, "6.28", R"(2\pi)", false, "a rough decimal of 2 pi", ""},
    {kM, R"(2004 \sqrt{2} - 2003)", R"(-2003+2004\sqrt{2})", true, "reordered terms", ""},
    {kM, "2^{10}", "1024", true, "a power is evaluated",
     "PRM800K demands a literal integer for an integer reference and rejects; Qwen and Math-Verify accept"},
    {kM, "2^10", "1024", true, "a multi-digit exponent without braces (as sympy's LaTeX parser reads it)",
     "PRM800K refuses `^` followed by two digits; Qwen and Math-Verify accept"},
    {kM, "x^{2}", "x^2", true, "braces around a one-character exponent", ""},
    {kM, "5!", "120", true, "factorial",
     "PRM800K rejects non-literal answers for an integer reference; Qwen and Math-Verify accept"},
    {kM, R"(\binom{5}{2})", "10", true, "binomial coefficient",
     "PRM800K rejects non-literal answers for an integer reference; Qwen and Math-Verify accept"},
    {kM, R"({4 \choose 2})", R"(\binom{4}{2})", true, "\\choose is the binomial", ""},
    {kM, "3^{2007}", "3^{2007}", true, "too large to evaluate, equal as text", ""},
    {kM, "1000!", "1001!", false, "too large to evaluate, different as text", ""},
    {kM, "10^{400}", "10^{500}", false, "overflow is not a value (never infinity = infinity)", ""},
    {kM, R"(\frac{1}{0})", R"(\frac{2}{0})", false, "division by zero is not a value",
     "Qwen compares str(zoo) == str(zoo) and accepts; PRM800K and Math-Verify reject"},
    {kM, R"(1.5\times 10^{3})", "1500", true, "scientific notation with \\times", ""},
    {kM, R"(2.5 \cdot 10^{-3})", "0.0025", true, "scientific notation with a negative exponent", ""},
    {kM, "1.5e-3", "0.0015", true, "e-notation", ""},
    {kM, R"(2.5\times10^{-3})", "0.0026", false, "scientific notation keeps its digits", ""},
    {kM, "11111111100", "11111111101", false, "large integers compare exactly",
     "Qwen's rel_tol=1e-4 accepts; PRM800K and Math-Verify reject"},
    {kM, R"(11,\! 111,\! 111,\! 100)", "11111111100", true, "\\! thousands separators", ""},
    // ---- MATH: percent, degrees, units, currency ----
    {kM, R"(10\%)", "10", true, "percent sign dropped against the bare number", ""},
    {kM, R"(10\%)", "0.1", true, "a percentage is its fraction",
     "PRM800K strips % and rejects; Qwen and Math-Verify accept"},
    {kM, "0.1", "10", false, "without a % sign 0.1 is not 10 (the 0.18-vs-18 trap)",
     "Qwen's include_percentage accepts; PRM800K and Math-Verify reject"},
    {kM, R"(90^\circ)", "90", true, "degree sign", ""},
    {kM, R"(90^{\circ})", "90", true, "braced degree sign", ""},
    {kM, R"(135\text{ square feet})", "135", true, "a unit in \\text", ""},
    {kM, R"(5\text{ cm}^2)", "5", true, "a unit with a power", ""},
    {kM, R"(25 \, \text{km})", "25", true, "a unit after a thin space", ""},
    {kM, R"(864 \mbox{ inches}^2)", "864", true, "a unit in \\mbox", ""},
    {kM, R"(99\pi \text{ square inches})", R"(99\pi)", true, "a unit after a constant", ""},
    {kM, "25 cm", "25", true, "a plain unit word", ""},
    {kM, R"(\$18.90)", "18.90", true, "LaTeX dollar sign", ""},
    {kM, R"(-\$0.50)", "-0.5", true, "negative amount of money", ""},
    // ---- MATH: text answers ----
    {kM, R"(\text{(C)})", "C", true, "a multiple-choice letter in \\text and parentheses", ""},
    {kM, "(C)", R"(\text{(C)})", true, "parentheses around the letter", ""},
    {kM, R"(\text{(A)})", "(B)", false, "a different choice", ""},
    {kM, R"(\text{Evelyn})", "Evelyn", true, "a name in \\text", ""},
    {kM, R"(\text{even})", "Even", true, "text compares without case", ""},
    {kM, R"(\text{odd})", R"(\text{even})", false, "different words", ""},
    {kM, "C", "c", true, "a lone letter without case",
     "Math-Verify keeps the case of one-letter symbols and rejects; PRM800K and Qwen lower-case and accept"},
    {kM, R"(\text{no solution})", "No Solution", true, "case and \\text", ""},
    {kM, "1200_7", "1200_{7}", true, "a number in base 7, braces around the base", ""},
    {kM, "1200_7", "1200", false, "the base matters", ""},
    // ---- MATH: normalisation ----
    {kM, R"(\left( 3, \frac{\pi}{2} \right))", R"((3,\frac{\pi}{2}))", true, "\\left and \\right", ""},
    {kM, "x = 5", "5", true, "a leading x= on the candidate", ""},
    {kM, "2x+3", "y = 2x + 3", true, "the reference is an assignment to y", ""},
    {kM, "y = 2x + 3", "2x+3", true, "the candidate is an assignment to y", ""},
    {kM, "k = 5", "5", true, "any one-letter name", ""},
    {kM, "5.", "5", true, "a full stop at the end", ""},
    {kM, R"(\frac{7}{5} + \frac{1}{5} i.)", R"(\frac{7+i}{5})", true, "a complex number ending in a full stop",
     "PRM800K keeps the full stop, cannot parse it and rejects; Qwen and Math-Verify accept"},
    {kM, R"(75,\!075)", "75075", true, "\\! after a thousands comma", ""},
    {kM, "14{,}916", "14916", true, "{,} thousands separator", ""},
    {kM, "1,000", "1000", true, "plain thousands separator in a lone number", ""},
    {kM, "1 000", "1000", true, "thin-space thousands separator", ""},
    {kM, R"(\displaystyle \frac{1}{2})", "0.5", true, "\\displaystyle", ""},
    {kM, R"(\boxed{\frac{1}{2}})", "0.5", true, "a \\boxed wrapper", ""},
    {kM, R"($\frac{1}{2}$)", "0.5", true, "math delimiters", ""},
    // ---- MATH: mixed numbers ----
    {kM, "7 3/4", R"(\frac{31}{4})", true, "a mixed number",
     "Qwen removes the space and reads 73/4; PRM800K and Math-Verify read 7+3/4"},
    {kM, R"(7\frac{3}{4})", R"(\frac{31}{4})", true, "an integer before \\frac is a mixed number",
     "PRM800K and Math-Verify (latex2sympy2_extended's interpret_as_mixed_fractions) read 31/4; Qwen multiplies (21/4)"},
    {kM, R"(7\frac{3}{4})", R"(\frac{21}{4})", false, "so it is not the product",
     "Qwen accepts; PRM800K and Math-Verify reject"},
    {kM, R"(\frac{9}{5})", R"(1\frac{4}{5})", true, "a mixed gold answer (MATH geometry/826)", ""},
    {kM, "68.5", R"(137 \frac{1}{2})", false, "half the mixed number is wrong (MATH algebra/2470)", ""},
    {kM, R"(-3\frac12)", "-3.5", true, "a negative mixed number, -(3+1/2)", ""},
    {kM, R"(2^3\frac12)", "4", true, "an integer that ends a power is no whole part", ""},
    // ---- MATH: tuples and intervals ----
    {kM, "(2,5)", "[2,5)", false, "bracket type matters",
     "Qwen's compare_lists ignores brackets and accepts; PRM800K and Math-Verify reject"},
    {kM, "(2,5)", "[2,5]", false, "open versus closed interval",
     "Qwen accepts; PRM800K and Math-Verify reject"},
    {kM, "[2,5)", "[2, 5)", true, "spacing inside an interval", ""},
    {kM, "(2,5)", "(5,2)", false, "a tuple is ordered", ""},
    {kM, "(1,2)", "1,2", true, "a parenthesised pair against a bare pair",
     "PRM800K compares the brackets and rejects; Qwen and Math-Verify accept"},
    {kM, "[1,2]", "1,2", false, "a closed interval is not a bare pair",
     "Qwen strips brackets and accepts; PRM800K and Math-Verify reject"},
    {kM, R"((-\infty, 0])", R"((-\infty,0])", true, "an interval to minus infinity", ""},
    {kM, R"((-\infty, 0))", R"((-\infty, 0])", false, "the closing bracket differs", ""},
    {kM, R"([3,\infty))", R"([3, \infty))", true, "an interval to infinity", ""},
    {kM, R"(\left[ -1, \frac{1}{2} \right))", R"([-1,\frac12))", true, "sized brackets", ""},
    {kM, R"((0.5, 3))", R"((\frac12, 3))", true, "elements compare as numbers", ""},
    {kM, R"((-\infty,-7) \cup (1,2))", R"((-\infty,-7)\cup(1,2))", true, "a union of intervals", ""},
    {kM, R"((1,2) \cup (-\infty,-7))", R"((-\infty,-7) \cup (1,2))", true, "a union is a set: order does not matter",
     "issue rule: Math-Verify accepts; PRM800K and Qwen reject (no union rule); we follow the issue's 'order does not matter'"},
    {kM, R"((1,2) \cup (3,4))", R"((1,2) \cup (3,5))", false, "different unions", ""},
    // ---- MATH: sets and several answers ----
    {kM, R"(\{1,2\})", R"(\{2,1\})", true, "a set is unordered",
     "issue rule: Math-Verify accepts; PRM800K and Qwen compare the element strings in order and reject"},
    {kM, "3,1", "1,3", true, "several answers in any order",
     "issue rule: Math-Verify accepts; PRM800K and Qwen do not parse bare lists and reject"},
    {kM, "4, -2 + 3i, -2 - 3i", "-2+3i, -2-3i, 4", true, "several complex roots in any order",
     "issue rule: as above"},
    {kM, "1,2", "1,2,3", false, "a missing answer", ""},
    {kM, "45, 135", "45135", false, "a comma followed by a space separates answers", ""},
    {kM, R"(135^\circ, 45^\circ)", R"(45^\circ, 135^\circ)", true, "two angles in any order (MATH precalculus/1000)",
     "issue rule: Math-Verify accepts; PRM800K and Qwen do not parse bare lists and reject"},
    {kM, R"(\{45, 135\})", "45, 135", true, "a set against a bare list of three-digit answers",
     "issue rule: Math-Verify accepts; PRM800K and Qwen reject"},
    {kM, R"(12\text{ and }130)", "12, 130", true, "'and' separates answers, not thousands", ""},
    {kM, "110, 70", "70,110", true, "a gold list written as a grouped number (MATH precalculus/528)",
     "issue rule: the grouped gold reads as a list against a list"},
    {kM, "70110", "70,110", true, "and as a number against a number",
     "PRM800K strips the commas and accepts"},
    {kM, "456,123", "123,456", false, "two grouped numbers stay numbers", ""},
    {kM, "600, 15", "15,600", true, "the price of the list reading: a gold number accepts its groups as a list",
     "PRM800K and Math-Verify read 15600 and reject; accepted so that list golds like 70,110 accept their lists"},
    {kM, "50, 1", "1,050", false, "a group starting with 0 is one number", ""},
    {kM, "0.007812", R"(\frac{1}{128})", true, "six decimals, the half rounded to even",
     "Math-Verify rounds 0.0078125 to 0.007812 and accepts; PRM800K rejects every rounded decimal"},
    {kM, "0.007813", R"(\frac{1}{128})", false, "so rounding the half up is wrong",
     "Qwen's 1e-4 tolerance accepts; PRM800K and Math-Verify reject"},
    {kM, "1,1,2", "1,2,2", false, "multiplicity counts",
     "Math-Verify's FiniteSet drops duplicates and accepts; PRM800K and Qwen reject"},
    {kM, R"(\{5\})", "5", true, "a one-element set", ""},
    {kM, R"(3 \pm 2\sqrt{2})", R"(3+2\sqrt{2}, 3-2\sqrt{2})", true, "\\pm is two answers",
     "issue rule (multiple answers): Math-Verify expands \\pm to a set and accepts; PRM800K and Qwen reject"},
    {kM, R"(3 \pm 2\sqrt{2})", R"(3+2\sqrt{2})", false, "one of the two is not enough", ""},
    {kM, R"(\emptyset)", R"(\{\})", true, "empty set", ""},
    {kM, R"(12\text{ and }13)", "12, 13", true, "\\text{ and } separates answers",
     "Qwen deletes 'and' and rejects; PRM800K (' and ' -> ',') and Math-Verify accept"},
    {kM, R"(x = 1 \text{ or } x = 2)", "1, 2", true, "several assignments",
     "issue rule (multiple answers): Math-Verify accepts; PRM800K and Qwen reject"},
    // ---- MATH: matrices and vectors ----
    {kM, R"(\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix})", R"(\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix})", true, "bmatrix is pmatrix", ""},
    {kM, R"(\begin{pmatrix} \frac15 \\ -\frac35 \end{pmatrix})", R"(\begin{pmatrix} 1/5 \\ -3/5 \end{pmatrix})", true, "cells compare as numbers", ""},
    {kM, R"(\begin{pmatrix} 1 & 2 \\ 3 & 5 \end{pmatrix})", R"(\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix})", false, "one cell differs", ""},
    {kM, R"(\begin{pmatrix} 1 & 3 \end{pmatrix})", R"(\begin{pmatrix} 1 \\ 3 \end{pmatrix})", false, "a row is not a column", ""},
    {kM, "(1,3)", R"(\begin{pmatrix} 1 \\ 3 \end{pmatrix})", false, "a tuple is not a matrix", ""},
    // ---- MATH: complex numbers ----
    {kM, "-12 + 15i", "15i - 12", true, "reordered complex number", ""},
    {kM, "3i", "-3i", false, "conjugates differ", ""},
    {kM, "1+i", "1-i", false, "conjugates differ", ""},
    // ---- MATH: expressions in variables ----
    {kM, "x^2+7x+10", "(x+5)(x+2)", true, "expanded versus factored", ""},
    {kM, "6(x+2)(x+3)", "6x^2 + 30x + 36", true, "factored with a constant", ""},
    {kM, R"(\frac{x}{7}+\frac{2}{7})", R"(\frac{x+2}{7})", true, "split fraction", ""},
    {kM, "-n(2n+1)", "-2n^2 - n", true, "factored polynomial in n", ""},
    {kM, "2x+2", "2(x+1)", true, "distributed constant", ""},
    {kM, "x^2", "x^3", false, "different powers", ""},
    {kM, R"(\sin 3x)", R"(\sin(3x))", true, "a function's argument without parentheses is the product after it",
     "Math-Verify accepts (latex2sympy's func_arg_noparens, a product without functions); PRM800K and Qwen not checked"},
    {kM, R"(\sin x \cos x)", R"(\frac{\sin(2x)}{2})", true, "the product stops at the next function", ""},
    {kM, R"(\sin 3x)", R"(x\sin 3)", false, "so it is not sin(3) times x", ""},
    {kM, "2x", "2y", false, "different variables", ""},
    {kM, "x", "x", true, "a lone variable", ""},
    {kM, "n", "m", false, "a different lone variable", ""},
    {kM, R"(\sqrt{x^2})", "x", false, "sqrt(x^2) is |x|, not x", ""},
    {kM, "xy", "yx", true, "two letters are a product",
     ""},
    {kM, "b", "a+b", false, "unit stripping must not eat the variable a",
     "Qwen's strip_string removes `a` as a unit, turning a+b into +b, and accepts; PRM800K and Math-Verify reject"},
    {kM, R"(2\theta)", R"(\theta + \theta)", true, "Greek letters are variables", ""},
    // ---- MATH: equations and inequalities ----
    {kM, "2x+2y=10", "x+y=5", false, "a scaled equation with another right-hand side",
     "Math-Verify solves both and accepts; Qwen (same or negated difference only) and PRM800K (compares 10 with 5) reject"},
    {kM, "10x-14y+22z+8=0", "5x - 7y + 11z + 4 = 0", true, "a scaled plane equation with equal right-hand sides",
     "Qwen rejects; PRM800K (right-hand sides 0 and 0) and Math-Verify (solves) accept"},
    {kM, "2y-x=3", "x-2y=-3", true, "a negated and rearranged equation", ""},
    {kM, "y+x=5", "x+y=5", true, "reordered equation", ""},
    {kM, "y=-x+3", "x+y=3", true, "rearranged equation",
     "PRM800K compares right-hand sides and rejects; Qwen and Math-Verify accept"},
    {kM, "x=5", "y=5", false, "the variable named matters",
     "PRM800K compares right-hand sides and accepts; Qwen and Math-Verify reject"},
    {kM, "5", "x+y=5", false, "an equation that is not an assignment does not name 5",
     "PRM800K compares right-hand sides and accepts; Qwen and Math-Verify reject"},
    {kM, "2x+1=11", "11", true, "a candidate equation offers its right-hand side",
     "Qwen only unwraps left sides of at most two characters and rejects; PRM800K and Math-Verify accept"},
    {kM, R"(10x-4y-5z-20=0)", R"(10x - 4y - 5z - 20 = 0)", true, "plane equation with spaces", ""},
    {kM, "x > 3", "3 < x", true, "a flipped inequality",
     "PRM800K cannot subtract relations and rejects; Qwen (|lhs - rhs|) and Math-Verify accept"},
    {kM, R"(x \ge 3)", "x > 3", false, "strict versus non-strict",
     "Qwen's |lhs - rhs| test ignores the operator and accepts; PRM800K and Math-Verify reject"},
    {kM, "2x > 6", "x > 3", false, "a scaled inequality",
     "Math-Verify solves both and accepts; PRM800K and Qwen reject"},
    {kM, "1 < x < 2", "1<x<2", true, "a chain of inequalities", ""},
    {kM, R"(x \in [2,5))", "[2,5)", true, "x \\in names an interval", ""},
    {kM, R"([3,\infty))", R"(x \ge 3)", false, "an interval is not an inequality",
     "Math-Verify converts the reference inequality to a set and accepts; PRM800K and Qwen reject"},
};

struct ExtractionCase {
  AnswerFormat format;
  std::string_view response;
  std::optional<std::string_view> extracted;
  std::string_view reference;
  bool correct;
  std::string_view reason;
};

const ExtractionCase kExtractionCases[] = {
    // ---- MATH ----
    {kM, R"(So the answer is $\boxed{\frac{1}{2}}$.)", R"(\frac{1}{2})", "0.5", true, "a boxed answer"},
    {kM, R"(Thus $\boxed{\frac{\sqrt{3}}{2}}$.)", R"(\frac{\sqrt{3}}{2})", R"(\frac{\sqrt3}{2})", true, "nested braces"},
    {kM, R"(First \boxed{1}, then finally \boxed{2}.)", "2", "2", true, "the last box wins"},
    {kM, R"(The area is \fbox{7}.)", "7", "7", true, "\\fbox"},
    {kM, R"(I am not sure. \boxed{})", std::nullopt, "7", false, "an empty box is no answer"},
    {kM, R"(\boxed{  })", std::nullopt, "7", false, "a blank box is no answer"},
    {kM, R"(so we get $\boxed 5$.)", "5", "5", true, "\\boxed without braces"},
    {kM, R"(the value is \boxed{5)", std::nullopt, "5", false, "an unterminated box is no answer"},
    {kM, R"(The answer is \boxed{10)", std::nullopt, "104", false, "a box cut off after 'the answer is' is no answer"},
    {kM, R"(The answer is \boxed{)", std::nullopt, "104", false, "a box cut off at its brace is no answer"},
    {kM, R"(The answer is \boxed)", std::nullopt, "104", false, "a box cut off after its name is no answer"},
    {kM, R"(So \boxed{3}. Checking: \boxed{3)", std::nullopt, "3", false, "the last box decides, and it is cut off"},
    {kM, R"(Final Answer: The final answer is $\frac{3}{4}$. I hope it is correct.)", R"(\frac{3}{4})", "0.75", true, "Minerva's answer sentence"},
    {kM, "The answer is: 42.", "42", "42", true, "'The answer is'"},
    {kM, R"(The answer is \(x^2\))", "x^2", "x^2", true, "'The answer is' with \\( \\)"},
    {kM, "Computing...\n#### 12", "12", "12", true, "a #### marker"},
    {kM, "I think it is 5.", std::nullopt, "5", false, "no last-number fallback for MATH"},
    {kM, R"(The set is $\boxed{\{1,2\}}$)", R"(\{1,2\})", R"(\{2,1\})", true, "escaped braces inside a box"},
    {kM, R"(Hence \boxed{\text{(C)}})", R"(\text{(C)})", "C", true, "a boxed choice"},
    {kM, R"(so \boxed{x = 5}.)", "x = 5", "5", true, "a boxed assignment"},
    {kM, R"(\boxed{\left( 3, \frac{\pi}{2} \right)})", R"(\left( 3, \frac{\pi}{2} \right))", R"((3,\frac{\pi}{2}))", true, "a boxed tuple"},
    {kM, R"(**Final Answer:** 17)", "17", "17", true, "markdown 'Answer:'"},
    {kM, R"(We find \boxed{3}. The answer is 4.)", "3", "4", false, "a box outranks 'the answer is'"},
    {kM, "", std::nullopt, "1", false, "an empty response"},
    // ---- GSM8K ----
    {kG, "She makes 9 * 2 = $18 every day.\n#### 18", "18", "18", true, "the #### marker"},
    {kG, R"(Tara has 67 - 39 = 28 stamps. The answer is \boxed{2)", std::nullopt, "28", false, "a cut-off box is no answer, not the last number"},
    {kG, R"(Tara has 28 stamps. The answer is \boxed)", std::nullopt, "28", false, "a box cut off after its name is no answer"},
    {kG, "So \\boxed{18 is it.\n#### 18", "18", "18", true, "#### decides even after a cut-off box"},
    {kG, "#### 1,450,000", "1450000", "1450000", true, "separators removed from the extracted number"},
    {kG, "It drops by 3.\n#### -3", "-3", "-3", true, "a negative answer"},
    {kG, "The answer is 42.", "42", "42", true, "'The answer is'"},
    {kG, "#### -$5", "-5", "5", false, "a minus before a currency sign keeps the sign"},
    {kG, "The answer is -$1,250.", "-1250", "-1250", true, "a minus before a currency sign, 'The answer is'"},
    {kG, "So the answer is $1,234.50.", "1234.50", "1234.5", true, "currency after 'answer is'"},
    {kG, "She has 5 apples and 3 pears, 8 in total", "8", "8", true, "the last number"},
    {kG, "5 - 3 = 2", "2", "2", true, "a minus between numbers is subtraction"},
    {kG, "The temperature fell to -5 degrees", "-5", "-5", true, "a negative last number"},
    {kG, "Answer: 25%", "25%", "25", true, "a percentage"},
    {kG, R"(so \boxed{18})", "18", "18", true, "a boxed number"},
    {kG, R"(so \boxed{\$18})", R"(\$18)", "18", true, "a boxed amount"},
    {kG, "no numbers here", std::nullopt, "18", false, "nothing to extract"},
    {kG, "", std::nullopt, "18", false, "an empty response"},
    {kG, "#### 15/2", "15/2", "7.5", true, "a fraction after ####"},
    {kG, "The answer is 18. Check: 18 - 3 = 15", "18", "18", true, "the number right after 'answer is'"},
    {kG, "I bought 1,000 apples", "1000", "1000", true, "a thousands separator in running text"},
    {kG, "It costs $0.50.", "0.50", "0.5", true, "a decimal amount before a full stop"},
    {kG, "Total: 1, 2, 3", "3", "3", true, "commas followed by spaces separate numbers"},
    {kG, "We need 12 boxes.\n#### 12\nExtra text 99", "12", "12", true, "#### outranks a later number"},
    {kG, "Janet earns 16 - 3 - 4 = <<16-3-4=9>>9 * 2 = 18 dollars", "18", "17", false, "a wrong last number"},
};
// clang-format on

// Readable test parameters in failure messages and --gtest_list_tests.
void PrintTo(const EquivalenceCase& c, std::ostream* os) {
  *os << "'" << c.candidate << "' vs '" << c.reference << "'";
}
void PrintTo(const ExtractionCase& c, std::ostream* os) { *os << "'" << c.response << "'"; }

class GradingEquivalenceTable : public testing::TestWithParam<EquivalenceCase> {};

TEST_P(GradingEquivalenceTable, MatchesReferenceVerdict) {
  const EquivalenceCase& c = GetParam();
  EXPECT_EQ(AnswersEquivalent(c.candidate, c.reference, c.format), c.equivalent)
      << AnswerFormatName(c.format) << ": '" << c.candidate << "' vs reference '" << c.reference
      << "' -- " << c.reason
      << (c.disagreement.empty() ? ""
                                 : " [references disagree: " + std::string(c.disagreement) + "]");
}

INSTANTIATE_TEST_SUITE_P(Cases, GradingEquivalenceTable, testing::ValuesIn(kEquivalenceCases),
                         [](const testing::TestParamInfo<EquivalenceCase>& info) {
                           return std::string(AnswerFormatName(info.param.format)) + "_" +
                                  std::to_string(info.index);
                         });

class GradingExtractionTable : public testing::TestWithParam<ExtractionCase> {};

TEST_P(GradingExtractionTable, ExtractsAndGrades) {
  const ExtractionCase& c = GetParam();
  GradeResult result = Grade(c.response, c.reference, c.format);
  std::optional<std::string> expected;
  if (c.extracted) expected = std::string(*c.extracted);
  EXPECT_EQ(result.extracted, expected) << "response: '" << c.response << "' -- " << c.reason;
  EXPECT_EQ(result.correct, c.correct)
      << "response: '" << c.response << "' vs '" << c.reference << "' -- " << c.reason;
}

INSTANTIATE_TEST_SUITE_P(Cases, GradingExtractionTable, testing::ValuesIn(kExtractionCases),
                         [](const testing::TestParamInfo<ExtractionCase>& info) {
                           return std::string(AnswerFormatName(info.param.format)) + "_" +
                                  std::to_string(info.index);
                         });

TEST(GradingConformanceTable, HasAtLeast150CasesWithReasons) {
  size_t count = std::size(kEquivalenceCases) + std::size(kExtractionCases);
  EXPECT_GE(count, 150u);
  for (const EquivalenceCase& c : kEquivalenceCases) EXPECT_FALSE(c.reason.empty()) << c.candidate;
  for (const ExtractionCase& c : kExtractionCases) EXPECT_FALSE(c.reason.empty()) << c.response;
}

}  // namespace
}  // namespace ponder::verifiers
