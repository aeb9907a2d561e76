#include "orchestrator/proto_json.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/strings.h"
#include "base/utf8.h"
#include "google/protobuf/util/json_util.h"

namespace ponder::orchestrator {

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  // Serialising a valid message cannot fail (the mapping covers every field type we use).
  (void)google::protobuf::util::MessageToJsonString(message, &json);
  return json;
}

namespace {

// Where the first comma outside strings that only a '}' or ']' follows is (1-based line and
// column), if any: protobuf's parser takes {"n": 4,}, which is not JSON. Strings are quoted with
// " or, as protobuf 3.21's parser also takes them, with '.
std::optional<std::pair<int64_t, int64_t>> TrailingComma(std::string_view json) {
  int64_t line = 1, column = 0;
  char quote = 0;  // the open string's quote, 0 outside strings
  bool escaped = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
    }
    if (quote != 0) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ',') {
      const size_t next = json.find_first_not_of(" \t\r\n\f\v", i + 1);
      if (next != std::string_view::npos && (json[next] == '}' || json[next] == ']')) {
        return std::make_pair(line, column);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

absl::Status FromJson(std::string_view json, google::protobuf::Message& message,
                      std::string_view what) {
  message.Clear();
  json = WithoutByteOrderMark(json);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (!status.ok()) {
    // A syntax error: protobuf's message quotes the text over several lines with a caret under
    // the place, which an error line cannot show (QA of stop 35); nlohmann's parser names the
    // line and column.
    if (absl::StatusOr<nlohmann::json> strict = ParseJson(json); !strict.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(what), ": not valid JSON (", strict.status().message(), ")"));
    }
    std::string_view reason(status.message().data(), status.message().size());
    reason = reason.substr(0, reason.find('\n'));
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": not a valid ",
                                                   message.GetDescriptor()->full_name(),
                                                   " in JSON: ", AsAbsl(reason)));
  }
  // Otherwise protobuf's reading stands (it takes 1. and a line break inside a string, as specs
  // written for it may hold), but for trailing commas: a spec with one started a 500-run
  // experiment (QA of stop 35).
  if (std::optional<std::pair<int64_t, int64_t>> comma = TrailingComma(json)) {
    message.Clear();
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(what), ": not valid JSON (line ", comma->first, ", column ", comma->second,
        ": a comma before a closing bracket; JSON has no trailing commas)"));
  }
  return absl::OkStatus();
}

}  // namespace ponder::orchestrator
