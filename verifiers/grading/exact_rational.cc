#include "verifiers/grading/exact_rational.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace ponder::verifiers::grading_internal {
namespace {

using Wide = __int128;
using UnsignedWide = unsigned __int128;

UnsignedWide Magnitude(Wide v) { return v < 0 ? -static_cast<UnsignedWide>(v) : v; }

UnsignedWide Gcd(UnsignedWide a, UnsignedWide b) {
  while (b != 0) {
    UnsignedWide t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Integer n-th root of v >= 0 when v is a perfect n-th power.
std::optional<int64_t> ExactIntegerRoot(int64_t v, int64_t n) {
  if (v == 0 || v == 1) return v;
  if (n > 63) return std::nullopt;  // 2^63 exceeds int64, so only 0 and 1 have such roots.
  double guess = std::round(std::pow(static_cast<double>(v), 1.0 / static_cast<double>(n)));
  for (int64_t candidate = static_cast<int64_t>(guess) - 1;
       candidate <= static_cast<int64_t>(guess) + 1; ++candidate) {
    if (candidate < 1) continue;
    std::optional<ExactRational> power = Power(ExactRational{candidate, 1}, n);
    if (power && power->num == v) return candidate;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ExactRational> MakeRational(Wide num, Wide den) {
  if (den == 0) return std::nullopt;
  bool negative = (num < 0) != (den < 0);
  UnsignedWide n = Magnitude(num);
  UnsignedWide d = Magnitude(den);
  UnsignedWide g = Gcd(n, d);
  if (g > 1) {
    n /= g;
    d /= g;
  }
  constexpr UnsignedWide kMax = static_cast<UnsignedWide>(std::numeric_limits<int64_t>::max());
  if (n > kMax || d > kMax) return std::nullopt;
  int64_t signed_num = static_cast<int64_t>(n);
  return ExactRational{negative ? -signed_num : signed_num, static_cast<int64_t>(d)};
}

std::optional<ExactRational> Add(const ExactRational& a, const ExactRational& b) {
  return MakeRational(static_cast<Wide>(a.num) * b.den + static_cast<Wide>(b.num) * a.den,
                      static_cast<Wide>(a.den) * b.den);
}

std::optional<ExactRational> Subtract(const ExactRational& a, const ExactRational& b) {
  return MakeRational(static_cast<Wide>(a.num) * b.den - static_cast<Wide>(b.num) * a.den,
                      static_cast<Wide>(a.den) * b.den);
}

std::optional<ExactRational> Multiply(const ExactRational& a, const ExactRational& b) {
  return MakeRational(static_cast<Wide>(a.num) * b.num, static_cast<Wide>(a.den) * b.den);
}

std::optional<ExactRational> Divide(const ExactRational& a, const ExactRational& b) {
  if (b.num == 0) return std::nullopt;
  return MakeRational(static_cast<Wide>(a.num) * b.den, static_cast<Wide>(a.den) * b.num);
}

std::optional<ExactRational> Power(const ExactRational& base, int64_t exponent) {
  if (exponent < -4096 || exponent > 4096) return std::nullopt;
  if (exponent < 0) {
    if (base.num == 0) return std::nullopt;
    std::optional<ExactRational> inverse = Divide(ExactRational{1, 1}, base);
    if (!inverse) return std::nullopt;
    return Power(*inverse, -exponent);
  }
  ExactRational result{1, 1};
  ExactRational square = base;
  while (exponent > 0) {
    if (exponent & 1) {
      std::optional<ExactRational> next = Multiply(result, square);
      if (!next) return std::nullopt;
      result = *next;
    }
    exponent >>= 1;
    if (exponent > 0) {
      std::optional<ExactRational> next = Multiply(square, square);
      if (!next) return std::nullopt;
      square = *next;
    }
  }
  return result;
}

std::optional<ExactRational> ExactRoot(const ExactRational& value, int64_t n) {
  if (n < 2) return std::nullopt;
  bool negative = value.num < 0;
  if (negative && n % 2 == 0) return std::nullopt;
  std::optional<int64_t> num = ExactIntegerRoot(negative ? -value.num : value.num, n);
  std::optional<int64_t> den = ExactIntegerRoot(value.den, n);
  if (!num || !den) return std::nullopt;
  return ExactRational{negative ? -*num : *num, *den};
}

}  // namespace ponder::verifiers::grading_internal
