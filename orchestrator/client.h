// A client of the Ponder service, for the CLI (`ponder solve --server`, `ponder experiments`),
// tests and benchmarks: a channel to the server plus per-call contexts that carry the bearer
// token and the deadline.
#ifndef PONDER_ORCHESTRATOR_CLIENT_H_
#define PONDER_ORCHESTRATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "grpcpp/client_context.h"
#include "ponder/v1/service.grpc.pb.h"

namespace ponder::orchestrator {

struct ClientOptions {
  std::string address;     // host:port
  std::string auth_token;  // sent as "authorization: Bearer <token>" when not empty
  absl::Duration timeout = absl::InfiniteDuration();  // per call
};

class PonderClient {
 public:
  // Creates the channel (connecting lazily). InvalidArgument for an empty address.
  static absl::StatusOr<std::unique_ptr<PonderClient>> Connect(const ClientOptions& options);

  // A context for one call: the token and the options' timeout.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  v1::Ponder::Stub& stub() { return *stub_; }
  const ClientOptions& options() const { return options_; }

 private:
  PonderClient(ClientOptions options, std::unique_ptr<v1::Ponder::Stub> stub)
      : options_(std::move(options)), stub_(std::move(stub)) {}

  ClientOptions options_;
  std::unique_ptr<v1::Ponder::Stub> stub_;
};

// The flags of every client command: --server ADDR, --auth-token-file FILE and --timeout SECONDS.
struct ClientFlags {
  std::string server;
  std::string auth_token_file;  // empty: no token
  double timeout_seconds = 0;   // 0: no deadline

  void Register(FlagParser& flags);
  // Errors name the flag.
  absl::StatusOr<ClientOptions> Options() const;
};

// Parses a strategy given on the command line: JSON (protobuf's mapping of
// ponder.v1.StrategyConfig, e.g. {"selfConsistency": {}, "sampling": {"temperature": 0.7}}) or
// the name of a strategy kind ("self_consistency", "self-consistency", "best_of_n", ...) with
// its defaults. InvalidArgument naming `flag` and the known names.
absl::StatusOr<v1::StrategyConfig> ParseStrategyArgument(std::string_view text,
                                                         std::string_view flag);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_CLIENT_H_
