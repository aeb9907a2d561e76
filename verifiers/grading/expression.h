// A small evaluator for arithmetic expressions written in normalised LaTeX
// (latex_normalization.h): the stand-in for the references' sympy in numeric equivalence.
//
// Grammar (recursive descent; implicit multiplication binds like `*`):
//   sum      := product (('+' | '-') product)*
//   product  := unary (('*' | '/' | \cdot | \times | \div) unary | <implicit> power)*
//   unary    := ('-' | '+') unary | power
//   power    := postfix ('^' exponent)?
//   postfix  := primary ('!' | '%')*
//   primary  := number | letter [ '_' subscript ] | '(' sum ')' | '[' sum ']' | '{' sum '}'
//             | '|' sum '|' | \frac A B | \sqrt[n] A | \sqrt A | \binom A B | \pi | \infty
//             | \sin.. \cos.. \tan.. \sec.. \csc.. \cot.. \arcsin.. \ln.. \log[_b].. \exp..
//             | \lfloor sum \rfloor | \lceil sum \rceil
// A TeX argument A is a `{...}` group or one character, so `\frac12` is 1/2 and `\sqrt2x` is
// sqrt(2)*x. An exponent is a group, a whole number (`2^10` = 1024, as sympy's LaTeX parser
// reads it), a letter or a command. `i` is the imaginary unit and `e` Euler's number; every
// other letter (optionally subscripted) is a free variable. Two numbers side by side
// (`2 3`) and runs of three or more letters that are not function names are refused, so
// words are never read as products of variables.
//
// Values are complex doubles, with an exact rational carried alongside while every operation
// on the way is exact (exact_rational.h). An expression with free variables is evaluated at
// kSamplePoints fixed points; each variable's value depends only on its name and the point
// (one point gives every variable a negative value), so equal polynomials agree at every
// point and different ones almost surely differ. Non-finite results from finite operands
// (overflow, division by zero, factorial of a non-integer) become NaN, which matches nothing.
//
// Bounds, so that no input can make it hang or exhaust memory: at most kMaxExpressionChars
// characters, nesting depth 64, 2048 nodes, 16 distinct variables; factorial arguments up to
// 170 (the largest finite double factorial), binomials with n up to 1e7, integer powers
// computed exactly only up to exponent 4096.
#ifndef PONDER_VERIFIERS_GRADING_EXPRESSION_H_
#define PONDER_VERIFIERS_GRADING_EXPRESSION_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "verifiers/grading/numeric_match.h"

namespace ponder::verifiers::grading_internal {

inline constexpr int kSamplePoints = 3;
inline constexpr size_t kMaxExpressionChars = 2048;

struct ExpressionSamples {
  // The value at each sample point; all equal when there are no variables.
  std::array<NumericValue, kSamplePoints> values;
  bool has_variables = false;
  // A number was written with a decimal point or in scientific notation (a rounded value).
  bool has_decimal = false;
  // The expression ends in `%` (its values are already divided by 100).
  bool percent = false;
};

// nullopt when `normalized` is not an expression of the grammar above, or its value is NaN at
// every sample point.
std::optional<ExpressionSamples> EvaluateExpression(std::string_view normalized);

// The value the variable `name` (e.g. "x", "a_1") takes at sample point `point`.
double VariableSampleValue(std::string_view name, int point);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_EXPRESSION_H_
