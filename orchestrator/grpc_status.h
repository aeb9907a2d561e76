// absl::Status <-> grpc::Status. The canonical codes are the same numbers in both.
#ifndef PONDER_ORCHESTRATOR_GRPC_STATUS_H_
#define PONDER_ORCHESTRATOR_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/support/status.h"

namespace ponder::orchestrator {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// A status without a message (a server that died mid-call, a transport failure) gets one
// naming its code, so that a command never fails with an empty line; gRPC's own words for a
// connection that ended ("Socket closed", "Cancelling all calls" from a server shutting down)
// get what they mean for the user (QA of stop 33: `ponder solve: Socket closed`).
inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (status.error_message().empty()) {
    return absl::Status(code, absl::StrCat("the call failed with ", absl::StatusCodeToString(code),
                                           " and no message (did the server stop? see its log)"));
  }
  for (const char* transport : {"Socket closed", "Cancelling all calls", "Broken pipe",
                                "Connection reset by peer", "GOAWAY received"}) {
    if (status.error_message() == transport) {
      return absl::Status(code, absl::StrCat("the connection to the server ended (", transport,
                                             "): did the server stop? see its log"));
    }
  }
  return absl::Status(code, status.error_message());
}

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_GRPC_STATUS_H_
