// Protobuf messages to and from JSON (protobuf's JSON mapping), the one text form of Ponder's
// configurations: `{"selfConsistency": {}, "sampling": {"temperature": 0.7}}`.
#ifndef PONDER_ORCHESTRATOR_PROTO_JSON_H_
#define PONDER_ORCHESTRATOR_PROTO_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace ponder::orchestrator {

// Compact JSON with the proto field names in lowerCamelCase (the mapping's default).
std::string ToJson(const google::protobuf::Message& message);

// Parses `json` into `message` (cleared first) as protobuf's JSON mapping reads it (which takes
// a few things JSON does not, such as 1. and line breaks inside strings), except that trailing
// commas are errors; a UTF-8 byte order mark is skipped. Unknown fields are errors.
// InvalidArgument naming `what` (e.g. "--strategy") and, for a syntax error, its line and column,
// on one line.
absl::Status FromJson(std::string_view json, google::protobuf::Message& message,
                      std::string_view what);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_PROTO_JSON_H_
