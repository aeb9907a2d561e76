#include "verifiers/grading/plain_number.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "verifiers/grading/exact_rational.h"
#include "verifiers/grading/latex_normalization.h"

namespace ponder::verifiers::grading_internal {
namespace {

constexpr std::string_view kUnicodeMinus = "\xE2\x88\x92";
constexpr int kMaxExactDigits = 18;

bool IsDigitAt(std::string_view s, size_t i) { return i < s.size() && IsAsciiDigit(s[i]); }

bool SkipCurrency(std::string_view s, size_t* i) {
  static constexpr std::string_view kCurrencies[] = {"\\$", "$", "\xE2\x82\xAC", "\xC2\xA3",
                                                     "\xC2\xA5"};
  for (std::string_view currency : kCurrencies) {
    if (s.substr(*i, currency.size()) == currency) {
      *i += currency.size();
      return true;
    }
  }
  return false;
}

// Digits with thousands groups and decimals starting at `i` (no sign). Appends the number
// without commas to `out`; returns the end position, or `i` if no number starts there.
size_t ScanUnsigned(std::string_view s, size_t i, std::string* out, bool* decimal) {
  size_t start = i;
  while (IsDigitAt(s, i)) out->push_back(s[i++]);
  if (i > start) {
    // 1,234,567: a comma followed by exactly three digits and then no digit.
    while (i < s.size() && s[i] == ',' && IsDigitAt(s, i + 1) && IsDigitAt(s, i + 2) &&
           IsDigitAt(s, i + 3) && !IsDigitAt(s, i + 4)) {
      out->append(s.substr(i + 1, 3));
      i += 4;
    }
  }
  if (i < s.size() && s[i] == '.' && IsDigitAt(s, i + 1)) {
    *decimal = true;
    out->push_back('.');
    ++i;
    while (IsDigitAt(s, i)) out->push_back(s[i++]);
  }
  return i;
}

// The length of a minus sign at `i` (`-` or U+2212), and of a currency sign after it (`-$5`).
size_t MinusLength(std::string_view s, size_t i) {
  size_t j = i;
  if (s[j] == '-') {
    ++j;
  } else if (s.substr(j, kUnicodeMinus.size()) == kUnicodeMinus) {
    j += kUnicodeMinus.size();
  } else {
    return 0;
  }
  SkipCurrency(s, &j);
  return j - i;
}

// A number token at `i` for FirstNumberIn/LastNumberIn: sign (a currency sign may follow it),
// digits, `/digits`, `%`.
size_t ScanToken(std::string_view s, size_t i, std::string* out) {
  size_t j = i;
  std::string token;
  if (size_t minus = MinusLength(s, j); minus > 0) {
    token.push_back('-');
    j += minus;
  }
  bool decimal = false;
  size_t end = ScanUnsigned(s, j, &token, &decimal);
  if (end == j) return i;
  if (!decimal && end + 1 < s.size() && s[end] == '/' && IsDigitAt(s, end + 1)) {
    token.push_back('/');
    ++end;
    while (IsDigitAt(s, end)) token.push_back(s[end++]);
  }
  if (end < s.size() && s[end] == '%') {
    token.push_back('%');
    ++end;
  } else if (s.substr(end, 2) == "\\%") {
    token.push_back('%');
    end += 2;
  }
  *out = std::move(token);
  return end;
}

bool CanStartNumber(std::string_view s, size_t i) {
  char previous = i > 0 ? s[i - 1] : ' ';
  if (IsAsciiDigit(s[i])) return !IsAsciiDigit(previous) && previous != '.';
  if (s[i] == '.') return IsDigitAt(s, i + 1) && !IsAsciiDigit(previous);
  size_t minus = MinusLength(s, i);
  if (minus == 0) return false;
  size_t after = i + minus;
  bool digit_follows =
      IsDigitAt(s, after) || (after + 1 < s.size() && s[after] == '.' && IsDigitAt(s, after + 1));
  return digit_follows && !IsAsciiLetter(previous) && !IsAsciiDigit(previous) && previous != ')';
}

template <typename Visitor>
void ForEachNumber(std::string_view text, Visitor visit) {
  size_t i = 0;
  while (i < text.size()) {
    if (CanStartNumber(text, i)) {
      std::string token;
      size_t end = ScanToken(text, i, &token);
      if (end > i) {
        if (!visit(std::move(token))) return;
        i = end;
        continue;
      }
    }
    ++i;
  }
}

bool StartsWithWord(std::string_view s, std::string_view lower_word) {
  if (s.size() < lower_word.size()) return false;
  for (size_t k = 0; k < lower_word.size(); ++k) {
    if (AsciiLower(s[k]) != lower_word[k]) return false;
  }
  return s.size() == lower_word.size() || !IsAsciiLetter(s[lower_word.size()]);
}

}  // namespace

std::optional<PlainNumber> ParsePlainNumber(std::string_view text) {
  std::string_view s = TrimAsciiSpace(text);
  size_t i = 0;
  bool negative = false;
  bool signed_already = false;
  for (int round = 0; round < 3; ++round) {
    while (i < s.size() && IsAsciiSpace(s[i])) ++i;
    if (SkipCurrency(s, &i)) continue;
    if (!signed_already && i < s.size() && (s[i] == '-' || s[i] == '+')) {
      negative = s[i] == '-';
      signed_already = true;
      ++i;
    } else if (!signed_already && s.substr(i, kUnicodeMinus.size()) == kUnicodeMinus) {
      negative = true;
      signed_already = true;
      i += kUnicodeMinus.size();
    }
  }
  std::string digits;
  PlainNumber number;
  size_t end = ScanUnsigned(s, i, &digits, &number.has_decimal);
  if (end == i || digits == ".") return std::nullopt;
  if (digits[0] == '.') digits.insert(digits.begin(), '0');
  i = end;
  while (i < s.size() && IsAsciiSpace(s[i])) ++i;
  if (i < s.size() && s[i] == '%') {
    number.percent = true;
    ++i;
  } else if (s.substr(i, 2) == "\\%") {
    number.percent = true;
    i += 2;
  } else if (StartsWithWord(s.substr(i), "percent")) {
    number.percent = true;
    i += 7;
  }
  // Whatever follows must be words after a space, e.g. "dollars" or "eggs per day."
  std::string_view rest = s.substr(i);
  while (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  if (!rest.empty()) {
    if (i == end && !number.percent) return std::nullopt;  // "5x", "2.5.1": not followed by space
    for (char c : rest) {
      if (!IsAsciiLetter(c) && !IsAsciiSpace(c) && c != '-' && c != '\'' && c != '.') {
        return std::nullopt;
      }
    }
  }

  double value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  number.value.value = negative ? -value : value;
  size_t point = digits.find('.');
  std::string mantissa_digits = digits;
  int scale = 0;
  if (point != std::string::npos) {
    scale = static_cast<int>(digits.size() - point - 1);
    mantissa_digits.erase(point, 1);
  }
  size_t first_nonzero = mantissa_digits.find_first_not_of('0');
  if (first_nonzero == std::string::npos) first_nonzero = mantissa_digits.size();
  if (mantissa_digits.size() - first_nonzero <= kMaxExactDigits && scale <= kMaxExactDigits) {
    int64_t mantissa = 0;
    for (size_t k = first_nonzero; k < mantissa_digits.size(); ++k) {
      mantissa = mantissa * 10 + (mantissa_digits[k] - '0');
    }
    std::optional<ExactRational> power = Power(ExactRational{10, 1}, scale);
    if (power) number.value.exact = MakeRational(negative ? -mantissa : mantissa, power->num);
  }
  if (number.percent) {
    number.value.value /= 100.0;
    if (number.value.exact) number.value.exact = Divide(*number.value.exact, ExactRational{100, 1});
  }
  if (number.value.exact) number.value.value = number.value.exact->ToDouble();
  if (!std::isfinite(number.value.value.real())) return std::nullopt;
  return number;
}

std::optional<std::string> FirstNumberIn(std::string_view text) {
  std::optional<std::string> first;
  ForEachNumber(text, [&](std::string token) {
    first = std::move(token);
    return false;  // stop at the first
  });
  return first;
}

std::optional<std::string> LastNumberIn(std::string_view text) {
  std::optional<std::string> last;
  ForEachNumber(text, [&](std::string token) {
    last = std::move(token);
    return true;  // keep going
  });
  return last;
}

}  // namespace ponder::verifiers::grading_internal
