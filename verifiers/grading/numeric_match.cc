#include "verifiers/grading/numeric_match.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <optional>

namespace ponder::verifiers::grading_internal {
namespace {

// Floating-point noise allowance for values that are not exact rationals (surds, pi, samples of
// expressions in a variable): different but equal closed forms evaluate within a few ulps.
constexpr double kNoiseRelative = 1e-9;
constexpr double kNoiseAbsolute = 1e-12;
// Qwen2.5-Math's numeric_equal: math.isclose(reference, prediction, rel_tol=1e-4).
constexpr double kRoundedRelative = 1e-4;
// Math-Verify's float_rounding=6.
constexpr double kRoundingScale = 1e6;

bool RealsMatchWithinNoise(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b)) return a == b;  // equal infinities only
  double diff = std::fabs(a - b);
  return diff <= kNoiseAbsolute || diff <= kNoiseRelative * std::max(std::fabs(a), std::fabs(b));
}

bool RealsMatchRounded(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b)) return a == b;
  double scale = std::max(std::fabs(a), std::fabs(b));
  if (std::fabs(a - b) > kRoundedRelative * scale) return false;
  // Six-decimal rounding is only representable below ~1e9 in a double; above that the relative
  // test alone would be looser than Math-Verify, so require agreement to noise instead.
  if (scale >= 1e9) return RealsMatchWithinNoise(a, b);
  // Halves to even, as Math-Verify's rounding does (1/128 = 0.0078125 is 0.007812, not 0.007813);
  // nearbyint rounds so in the default rounding mode.
  return std::nearbyint(a * kRoundingScale) == std::nearbyint(b * kRoundingScale);
}

}  // namespace

bool NumbersMatch(const NumericValue& a, const NumericValue& b, bool rounded) {
  if (a.exact && b.exact) {
    if (*a.exact == *b.exact) return true;
    if (!rounded) return false;
  }
  const std::complex<double>& x = a.value;
  const std::complex<double>& y = b.value;
  if (std::isnan(x.real()) || std::isnan(x.imag()) || std::isnan(y.real()) ||
      std::isnan(y.imag())) {
    return false;
  }
  if (rounded)
    return RealsMatchRounded(x.real(), y.real()) && RealsMatchRounded(x.imag(), y.imag());
  // Compare complex values by the modulus of the difference so that a tiny imaginary residue
  // (e.g. from a principal root) does not fail against a real value.
  if (std::isfinite(x.real()) && std::isfinite(x.imag()) && std::isfinite(y.real()) &&
      std::isfinite(y.imag())) {
    double diff = std::abs(x - y);
    return diff <= kNoiseAbsolute || diff <= kNoiseRelative * std::max(std::abs(x), std::abs(y));
  }
  return RealsMatchWithinNoise(x.real(), y.real()) && RealsMatchWithinNoise(x.imag(), y.imag());
}

bool QuantitiesMatch(const NumericValue& a, bool a_percent, const NumericValue& b, bool b_percent,
                     bool rounded) {
  if (NumbersMatch(a, b, rounded)) return true;
  if (a_percent == b_percent) return false;
  // Undo the /100 of the side that carried the % sign and compare the bare numbers.
  const NumericValue& percent_side = a_percent ? a : b;
  const NumericValue& other_side = a_percent ? b : a;
  NumericValue bare{percent_side.value * 100.0, std::nullopt};
  if (percent_side.exact) bare.exact = Multiply(*percent_side.exact, ExactRational{100, 1});
  return NumbersMatch(bare, other_side, rounded);
}

}  // namespace ponder::verifiers::grading_internal
