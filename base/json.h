// JSON text to nlohmann::json without exceptions, with where and why a text is not JSON.
//
// nlohmann's json::parse throws parse_error for bad syntax but out_of_range (error 406) for a
// number beyond the range of a double (1e400); a catch of parse_error alone lets the second
// escape and abort the program. ParseJson reports both the same way.
#ifndef PONDER_BASE_JSON_H_
#define PONDER_BASE_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ponder {

// Where and why a text is not one JSON document.
struct JsonSyntaxError {
  int64_t byte = 0;    // 1-based offset of the character where parsing stopped
  int64_t line = 0;    // 1-based line of that character
  int64_t column = 0;  // 1-based column of that character within its line
  // What was wrong, without the position, e.g. "syntax error while parsing value - invalid
  // literal; last read: 'x'" or "the number 1e400 is out of the range of a double".
  std::string reason;
};

// Parses `text` as one JSON document. On failure: InvalidArgument reading "line L, column C:
// <reason>", and the parts of that message in *error when given.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, JsonSyntaxError* error = nullptr);

}  // namespace ponder

#endif  // PONDER_BASE_JSON_H_
