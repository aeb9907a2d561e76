#include "orchestrator/proto_json.h"

#include "absl/strings/str_cat.h"
#include "base/json.h"
#include "base/strings.h"
#include "google/protobuf/util/json_util.h"

namespace ponder::orchestrator {

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  // Serialising a valid message cannot fail (the mapping covers every field type we use).
  (void)google::protobuf::util::MessageToJsonString(message, &json);
  return json;
}

absl::Status FromJson(std::string_view json, google::protobuf::Message& message,
                      std::string_view what) {
  message.Clear();
  // JSON as RFC 8259 has it first: protobuf's parser takes trailing commas ({"n": 4,}) and
  // reports a syntax error over several lines with a caret under a quote of the text, which an
  // error line cannot show (QA of stop 35).
  if (absl::StatusOr<nlohmann::json> strict = ParseJson(json); !strict.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(what), ": not valid JSON (", strict.status().message(), ")"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (status.ok()) return absl::OkStatus();
  std::string_view reason(status.message().data(), status.message().size());
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": not a valid ",
                                                 message.GetDescriptor()->full_name(),
                                                 " in JSON: ", AsAbsl(reason)));
}

}  // namespace ponder::orchestrator
