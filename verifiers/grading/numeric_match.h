// When two numbers count as the same answer.
//
// The three reference graders disagree on inexact numbers; we take the majority verdict:
//  * PRM800K (grader.py) accepts only exact sympy equality, so every rounded decimal fails.
//  * Qwen2.5-Math (grader.py numeric_equal) accepts math.isclose(rel_tol=1e-4).
//  * Math-Verify (grader.py sympy_numeric_eq) rounds both to 6 decimal places when either is
//    a Float, and otherwise compares exactly.
// Because PRM800K rejects every inexact match, an inexact match wins the majority only when
// Qwen and Math-Verify both accept it, so a rounded decimal must pass BOTH the 1e-4 relative
// tolerance AND agree to 6 decimal places:
//   0.333333 vs 1/3      -> equal    (Qwen yes, Math-Verify yes, PRM800K no)
//   0.3333 vs 1/3        -> unequal  (Qwen yes, Math-Verify no,  PRM800K no)
//   3.1416 vs \pi        -> unequal  (Qwen yes, Math-Verify no,  PRM800K no)
//   0.000067 vs 0.0000672 -> unequal (Qwen no,  Math-Verify yes, PRM800K no)
// Answers written without a decimal point are exact: when both sides are rationals they must
// be equal as rationals (1/3 vs 333333/1000000 unequal, 10001/10000 vs 1 unequal: Qwen alone
// accepts those); irrational values are compared with a floating-point-error tolerance only
// (relative 1e-9), standing in for the references' symbolic simplification.
#ifndef PONDER_VERIFIERS_GRADING_NUMERIC_MATCH_H_
#define PONDER_VERIFIERS_GRADING_NUMERIC_MATCH_H_

#include <complex>
#include <optional>

#include "verifiers/grading/exact_rational.h"

namespace ponder::verifiers::grading_internal {

// An evaluated number: its (possibly complex) floating-point value, plus the exact rational
// when the value was computed from integers and decimals by exact operations.
struct NumericValue {
  std::complex<double> value;
  std::optional<ExactRational> exact;
};

// `rounded`: either side was written with a decimal point or scientific notation, so it may be
// a rounded value (the Float case of Math-Verify).
bool NumbersMatch(const NumericValue& a, const NumericValue& b, bool rounded);

// NumbersMatch plus the percent rule: a value written with a trailing % (stored already divided
// by 100) matches the other side either as that fraction or as the bare number before the %,
// so 28% matches 0.28 and 28 (the majority: Math-Verify and Qwen accept both, PRM800K strips
// the % and accepts 28). Without a % on either side, 0.28 and 28 stay different (the "0.18 vs
// 18" trap: only Qwen's include_percentage accepts it).
bool QuantitiesMatch(const NumericValue& a, bool a_percent, const NumericValue& b, bool b_percent,
                     bool rounded);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_NUMERIC_MATCH_H_
