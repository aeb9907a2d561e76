// Access control of the Ponder service: a shared bearer token, required whenever the server
// listens beyond the loopback interface.
#ifndef PONDER_ORCHESTRATOR_AUTH_H_
#define PONDER_ORCHESTRATOR_AUTH_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ponder::orchestrator {

// The token in `path`: its contents without surrounding whitespace. Errors name the file; an
// empty token, or one with a byte that cannot go in an HTTP/2 header value (anything but
// printable ASCII: a line break or tab inside, non-ASCII), is InvalidArgument.
absl::StatusOr<std::string> ReadAuthToken(const std::string& path);

// Whether a gRPC listening address reaches only this machine: 127.x.x.x, localhost, [::1] or a
// unix socket. Anything else (0.0.0.0, [::], a host name, another address) is not.
bool IsLoopbackAddress(std::string_view address);

// Whether the `authorization` metadata value is "Bearer <token>" (the scheme's name in any case),
// the token compared in time independent of where the values differ.
bool AuthorizationMatches(std::string_view header, std::string_view token);

// The metadata value a client sends: "Bearer <token>".
std::string BearerHeader(std::string_view token);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_AUTH_H_
