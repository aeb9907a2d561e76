#include "orchestrator/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::orchestrator {
namespace {

constexpr std::string_view kBearer = "Bearer ";

// The host part of "host:port", "[v6]:port" or "host".
std::string_view HostOf(std::string_view address) {
  if (absl::StartsWith(AsAbsl(address), "[")) {
    size_t close = address.find(']');
    return close == std::string_view::npos ? address : address.substr(1, close - 1);
  }
  size_t colon = address.rfind(':');
  return colon == std::string_view::npos ? address : address.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::string> ReadAuthToken(const std::string& path) {
  PONDER_ASSIGN_OR_RETURN(std::string contents, ReadFileToString(path));
  std::string token(absl::StripAsciiWhitespace(contents));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("auth token file '", path, "' is empty"));
  }
  // The token travels in an HTTP/2 header value, where gRPC allows only printable ASCII
  // (0x20-0x7E); a client would abort on anything else. The token itself is not echoed.
  for (size_t i = 0; i < token.size(); ++i) {
    const auto byte = static_cast<unsigned char>(token[i]);
    if (byte < 0x20 || byte > 0x7E) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "auth token file '%s': byte %d of the token is 0x%02X; a token is printable ASCII "
          "on one line (no tabs, line breaks or non-ASCII characters)",
          path, i + 1, byte));
    }
  }
  return token;
}

bool IsLoopbackAddress(std::string_view address) {
  if (absl::StartsWith(AsAbsl(address), "unix:") ||
      absl::StartsWith(AsAbsl(address), "unix-abstract:")) {
    return true;
  }
  if (absl::StartsWith(AsAbsl(address), "ipv4:") || absl::StartsWith(AsAbsl(address), "ipv6:")) {
    address.remove_prefix(5);
  }
  // Literal addresses only (and localhost): a name such as 127.0.0.1.example.com resolves to
  // whatever its DNS says (QA in stop 32).
  const std::string host(HostOf(address));
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  // ::1, or ::ffff:127.x.y.z (an IPv4 loopback address written as IPv6).
  return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
}

bool AuthorizationMatches(std::string_view header, std::string_view token) {
  // The scheme's name is case-insensitive and one or more spaces follow it (RFC 7235, section
  // 2.1); the token is compared as is.
  if (header.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(AsAbsl(header.substr(0, kBearer.size())), AsAbsl(kBearer))) {
    return false;
  }
  header.remove_prefix(kBearer.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  // Compare every byte whatever the lengths, so the time taken says nothing about the token.
  unsigned char difference = header.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char got = i < header.size() ? static_cast<unsigned char>(header[i]) : 0;
    difference |= got ^ static_cast<unsigned char>(token[i]);
  }
  return difference == 0 && !token.empty();
}

std::string BearerHeader(std::string_view token) {
  return absl::StrCat(AsAbsl(kBearer), AsAbsl(token));
}

}  // namespace ponder::orchestrator
