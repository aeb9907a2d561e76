// PonderServer: `ponderd` as a library — the Ponder service, grpc.health.v1 and server
// reflection on one listening address, with the solve executor and the experiment runner
// behind them. Tests and benchmarks start one in-process; cli/ponderd_main.cc starts one from
// flags and stops it on SIGINT/SIGTERM.
#ifndef PONDER_ORCHESTRATOR_SERVER_H_
#define PONDER_ORCHESTRATOR_SERVER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/problem_source.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/strategy_factory.h"
#include "orchestrator/validation.h"

namespace grpc {
class Server;
}

namespace ponder::orchestrator {

struct ServerOptions {
  // host:port (port 0 picks a free one, see PonderServer::port), or unix:PATH.
  std::string listen_address = "127.0.0.1:50051";
  // Required (non-empty) unless the address is loopback-only; then checked on every call.
  std::string auth_token;
  ServiceLimits limits;
  // Resume experiments a previous server left interrupted (or running, i.e. it died).
  bool resume_interrupted = true;
  // Recorded with new experiments; empty: the policy's path.
  std::string model;
};

// OK when `address` is host:port with a port from 0 (pick a free one) to 65535, [v6]:port, or
// unix:PATH / unix-abstract:NAME; otherwise InvalidArgument naming the address and the part
// that is wrong (gRPC itself would take port 99999 for 34463).
absl::Status ValidateListenAddress(std::string_view address);

// ValidateListenAddress, and without an auth token a loopback address only (IsLoopbackAddress):
// what Start checks first, for ponderd to check before it opens the database and loads models.
absl::Status CheckListenAccess(std::string_view address, std::string_view auth_token);

class PonderServer {
 public:
  // Starts serving. Errors: InvalidArgument for an address ValidateListenAddress refuses or a
  // non-loopback address without a token,
  // Unavailable when the address cannot be bound, store failures from recovering experiments.
  // Everything passed by reference must outlive the server.
  static absl::StatusOr<std::unique_ptr<PonderServer>> Start(
      const ServerOptions& options, ModelRegistry& models, ExperimentStore& store,
      ProblemSource& datasets, const StrategyFactory& strategies = BuiltinStrategies());

  // Shutdown(absl::Seconds(5)).
  ~PonderServer();

  // The port bound (the chosen one when the address asked for port 0).
  int port() const { return port_; }
  // The address clients use: the listen address with the port bound (a unix socket as given).
  const std::string& address() const { return address_; }

  // Graceful stop: running experiments are interrupted with every finished run recorded (they
  // resume when a server starts on the same database), new calls are refused, calls in flight
  // get `grace` to finish and are then cancelled. Idempotent.
  void Shutdown(absl::Duration grace);

 private:
  struct Parts;
  PonderServer(std::unique_ptr<Parts> parts, int port, std::string address);

  std::unique_ptr<Parts> parts_;
  int port_;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_SERVER_H_
