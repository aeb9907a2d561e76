// Plain numbers as GSM8K writes them, and finding numbers in running text.
#ifndef PONDER_VERIFIERS_GRADING_PLAIN_NUMBER_H_
#define PONDER_VERIFIERS_GRADING_PLAIN_NUMBER_H_

#include <optional>
#include <string>
#include <string_view>

#include "verifiers/grading/numeric_match.h"

namespace ponder::verifiers::grading_internal {

struct PlainNumber {
  NumericValue value;  // already divided by 100 when `percent`
  bool percent = false;
  bool has_decimal = false;  // written with a decimal point
};

// A whole answer that is one number: an optional sign and currency (`$`, `\$`, €, £, ¥), digits
// with optional thousands commas in 3-digit groups, optional decimals, an optional `%` (or
// `\%`, "percent"), then optionally words after a space ("18 dollars", "5 eggs per day") and a
// full stop. `-$1,234.50`, `18.00`, `25%` parse; `15/2`, `1,22`, `5x`, `18 + 2` do not.
std::optional<PlainNumber> ParsePlainNumber(std::string_view text);

// The first or last number written in `text`, without thousands commas: `-1234.5`, `15/2`,
// `25%`. A minus sign belongs to the number unless it follows a letter, digit or `)` (so the
// last number of `5-3` is `3`). A comma joins digits only before exactly three digits.
std::optional<std::string> FirstNumberIn(std::string_view text);
std::optional<std::string> LastNumberIn(std::string_view text);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_PLAIN_NUMBER_H_
