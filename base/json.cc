#include "base/json.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace ponder {
namespace {

// nlohmann's DOM builder with its parse_error hidden: json::sax_parse calls this one (it takes
// the handler's type as a template argument), which keeps the first error instead of throwing.
class DomParserKeepingErrors : public nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
 public:
  explicit DomParserKeepingErrors(nlohmann::json& root)
      : json_sax_dom_parser(root, /*allow_exceptions_=*/false) {}

  template <class Exception>
  bool parse_error(size_t position, const std::string& token, const Exception& exception) {
    failed = true;
    if (exception.id == 406) {
      // Reported once the number is read: point at its first character.
      error_position = position >= token.size() ? position - token.size() + 1 : position;
      reason = absl::StrCat("the number ", token, " is out of the range of a double");
      return false;
    }
    error_position = position;
    // what(): "[json.exception.parse_error.101] parse error at line 2, column 5: syntax error
    // while parsing value - ..."; the position is reported separately.
    const std::string_view what = exception.what();
    const size_t colon = what.find(": ");
    reason = std::string(colon == std::string_view::npos ? what : what.substr(colon + 2));
    return false;
  }

  bool failed = false;
  size_t error_position = 0;
  std::string reason;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, JsonSyntaxError* error) {
  nlohmann::json root;
  DomParserKeepingErrors parser(root);
  if (nlohmann::json::sax_parse(text.begin(), text.end(), &parser) && !parser.failed) return root;
  JsonSyntaxError where;
  where.byte = static_cast<int64_t>(std::max<size_t>(parser.error_position, 1));
  // The offending character is the byte-th; the lines and columns before it are counted.
  const size_t before = std::min<size_t>(static_cast<size_t>(where.byte - 1), text.size());
  const std::string_view head = text.substr(0, before);
  where.line = 1 + std::count(head.begin(), head.end(), '\n');
  const size_t line_start = head.rfind('\n');
  where.column =
      static_cast<int64_t>(line_start == std::string_view::npos ? before + 1 : before - line_start);
  where.reason = parser.reason.empty() ? "not a JSON document" : parser.reason;
  absl::Status status = absl::InvalidArgumentError(
      absl::StrCat("line ", where.line, ", column ", where.column, ": ", where.reason));
  if (error != nullptr) *error = std::move(where);
  return status;
}

}  // namespace ponder
