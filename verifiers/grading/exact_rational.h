// Exact rational arithmetic on 64-bit numerators and denominators, used beside floating point
// when an answer is built from integers and decimals only.
//
// Why: the reference graders decide integer and fraction answers exactly (PRM800K and Math-Verify
// compare sympy Rationals), so 11111111100 and 11111111101, or 1/3 and 333333/1000000, must
// differ even though a relative floating-point tolerance would call them equal. Every operation
// returns nullopt when the exact result does not fit in 64 bits; callers then fall back to the
// floating-point value.
#ifndef PONDER_VERIFIERS_GRADING_EXACT_RATIONAL_H_
#define PONDER_VERIFIERS_GRADING_EXACT_RATIONAL_H_

#include <cstdint>
#include <optional>

namespace ponder::verifiers::grading_internal {

// num/den in lowest terms with den > 0.
struct ExactRational {
  int64_t num = 0;
  int64_t den = 1;

  bool IsInteger() const { return den == 1; }
  double ToDouble() const { return static_cast<double>(num) / static_cast<double>(den); }
  friend bool operator==(const ExactRational&, const ExactRational&) = default;
};

// Reduces num/den to lowest terms; nullopt when den is 0 or the result does not fit.
std::optional<ExactRational> MakeRational(__int128 num, __int128 den);

std::optional<ExactRational> Add(const ExactRational& a, const ExactRational& b);
std::optional<ExactRational> Subtract(const ExactRational& a, const ExactRational& b);
std::optional<ExactRational> Multiply(const ExactRational& a, const ExactRational& b);
// nullopt when b is zero.
std::optional<ExactRational> Divide(const ExactRational& a, const ExactRational& b);
// base^exponent for an integer exponent; nullopt on overflow, 0^negative, or |exponent| > 4096.
std::optional<ExactRational> Power(const ExactRational& base, int64_t exponent);
// The exact n-th root (n >= 2) when numerator and denominator are perfect n-th powers
// (negative values only for odd n); nullopt otherwise.
std::optional<ExactRational> ExactRoot(const ExactRational& value, int64_t n);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_EXACT_RATIONAL_H_
