#include "orchestrator/client.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/utf8.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "orchestrator/auth.h"
#include "orchestrator/proto_json.h"

namespace ponder::orchestrator {

absl::StatusOr<std::unique_ptr<PonderClient>> PonderClient::Connect(const ClientOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("--server: give the server's address (host:port)");
  }
  // Every gRPC target has one ("host:port", "[::1]:port", "unix:PATH", "dns:///host:port"); a
  // bare "50051" reached the resolver, which answered with a DNS error (QA of stop 35).
  if (options.address.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server ", Printable(options.address, 64),
                     ": give the server's address as host:port (e.g. 127.0.0.1:50051)"));
  }
  grpc::ChannelArguments arguments;
  // Results with every candidate and trace step can outgrow gRPC's 4 MiB default.
  arguments.SetMaxReceiveMessageSize(std::numeric_limits<int>::max());
  auto channel =
      grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), arguments);
  return std::unique_ptr<PonderClient>(new PonderClient(options, v1::Ponder::NewStub(channel)));
}

std::unique_ptr<grpc::ClientContext> PonderClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options_.auth_token.empty()) {
    context->AddMetadata("authorization", BearerHeader(options_.auth_token));
  }
  if (options_.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
  return context;
}

void ClientFlags::Register(FlagParser& flags) {
  flags.AddString("server", &server, "address of a ponderd (host:port)");
  flags.AddString("auth-token-file", &auth_token_file, "file holding the server's token");
  flags.AddDouble("timeout", &timeout_seconds, "deadline per call in seconds (0 = none)");
}

absl::StatusOr<ClientOptions> ClientFlags::Options() const {
  ClientOptions options;
  if (server.empty()) return absl::InvalidArgumentError("--server ADDR is required");
  options.address = server;
  if (!auth_token_file.empty()) {
    PONDER_ASSIGN_OR_RETURN(options.auth_token, ReadAuthToken(auth_token_file));
  }
  if (timeout_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout must be >= 0 seconds (0 = none), got ", timeout_seconds));
  }
  if (timeout_seconds > 0) options.timeout = absl::Seconds(timeout_seconds);
  return options;
}

absl::StatusOr<v1::StrategyConfig> ParseStrategyArgument(std::string_view text,
                                                         std::string_view flag) {
  v1::StrategyConfig config;
  const std::string trimmed(absl::StripAsciiWhitespace(AsAbsl(WithoutByteOrderMark(text))));
  if (!trimmed.empty() && trimmed.front() == '{') {
    PONDER_RETURN_IF_ERROR(FromJson(trimmed, config, flag));
    return config;
  }
  const std::string name = absl::StrReplaceAll(absl::AsciiStrToLower(trimmed), {{"-", "_"}});
  const google::protobuf::OneofDescriptor* kind =
      v1::StrategyConfig::descriptor()->FindOneofByName("kind");
  std::vector<std::string> known;
  for (int i = 0; i < kind->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = kind->field(i);
    if (field->name() == name) {
      // Selecting the oneof member with its defaults: an empty sub-message.
      config.GetReflection()->MutableMessage(&config, field);
      return config;
    }
    known.push_back(field->name());
  }
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(flag), ": '", trimmed,
                                                 "' is neither JSON nor a strategy name (",
                                                 absl::StrJoin(known, ", "), ")"));
}

}  // namespace ponder::orchestrator
