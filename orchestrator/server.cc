#include "orchestrator/server.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "orchestrator/auth.h"
#include "orchestrator/experiment_runner.h"
#include "orchestrator/service.h"
#include "orchestrator/solve_executor.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/version.h"

namespace ponder::orchestrator {

// Destroyed in reverse order: the gRPC server first (no more calls), then the service, the
// runner (experiments stopped, runs flushed), the watches' and the experiment calls' pools (idle
// once the server has finished every call), the executor (queued solves drained), the pipeline,
// the code grader.
struct PonderServer::Parts {
  std::unique_ptr<CodeGrader> code_grader;
  std::unique_ptr<SolvePipeline> pipeline;
  std::unique_ptr<SolveExecutor> executor;
  std::unique_ptr<SolveExecutor> calls;
  std::unique_ptr<SolveExecutor> watches;
  std::unique_ptr<ExperimentRunner> runner;
  std::unique_ptr<PonderService> service;
  std::unique_ptr<grpc::Server> server;
};

namespace {

// The pool for the calls that read or write the store, load datasets or wait for the runner
// (service.h): enough workers that a few slow ones (a large dataset's load, a cancel waiting for
// its runs) leave room for the rest, and a queue beyond which such calls are RESOURCE_EXHAUSTED.
constexpr int kExperimentCallWorkers = 8;
constexpr int kMaxQueuedExperimentCalls = 256;
// WatchExperiment's state writes, one at most queued for each watcher, two at a time (as many as
// gRPC's callback threads gave them before, on a two-core machine): eight at a time took a third
// of a running experiment's throughput with twenty watchers re-reading it on every change
// (review), though they served twenty watchers of a large finished experiment (2.3 s a read
// under load) in 11.6 s where two take 24 s. One read shared by an experiment's watchers would
// serve both.
constexpr int kWatchWriters = 2;

bool IsUnixSocketAddress(std::string_view address) {
  return absl::StartsWith(AsAbsl(address), "unix:") ||
         absl::StartsWith(AsAbsl(address), "unix-abstract:");
}

// The address clients use: `listen` with the port actually bound (a unix socket has none).
std::string BoundAddress(std::string_view listen, int port) {
  if (IsUnixSocketAddress(listen)) return std::string(listen);
  return absl::StrCat(AsAbsl(listen.substr(0, listen.rfind(':'))), ":", port);
}

}  // namespace

absl::Status ValidateListenAddress(std::string_view address) {
  constexpr char kForm[] =
      "give host:port (e.g. 127.0.0.1:50051; port 0 picks a free one) or unix:PATH";
  if (address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the listen address is empty; ", kForm));
  }
  if (IsUnixSocketAddress(address)) {
    if (address.back() == ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address '", AsAbsl(address), "' names no socket; ", kForm));
    }
    return absl::OkStatus();
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", AsAbsl(address), "' is not host:port; ", kForm));
  }
  const std::string_view port = address.substr(colon + 1);
  int value = 0;
  const bool digits = !port.empty() && port.size() <= 5 &&
                      absl::c_all_of(port, [](char c) { return absl::ascii_isdigit(c); }) &&
                      absl::SimpleAtoi(AsAbsl(port), &value);
  if (!digits || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", AsAbsl(address), "': port '", AsAbsl(port),
                     "' is not a number from 1 to 65535 (or 0 to pick a free one)"));
  }
  return absl::OkStatus();
}

absl::Status CheckListenAccess(std::string_view address, std::string_view auth_token) {
  PONDER_RETURN_IF_ERROR(ValidateListenAddress(address));
  if (auth_token.empty() && !IsLoopbackAddress(address)) {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to listen on '", AsAbsl(address),
                     "' without an auth token: it is reachable from other machines; give "
                     "--auth-token-file FILE, or listen on 127.0.0.1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PonderServer>> PonderServer::Start(
    const ServerOptions& options, ModelRegistry& models, ExperimentStore& store,
    ProblemSource& datasets, const StrategyFactory& strategies) {
  PONDER_RETURN_IF_ERROR(CheckListenAccess(options.listen_address, options.auth_token));
  auto parts = std::make_unique<Parts>();
  parts->code_grader = std::make_unique<CodeGrader>();
  parts->pipeline = std::make_unique<SolvePipeline>(models, strategies, parts->code_grader.get());
  parts->executor = std::make_unique<SolveExecutor>(options.limits.max_concurrent_solves,
                                                    options.limits.max_queued_solves);
  // Most of these calls read the store, on its kReaders connections, as many at once as there
  // are cores to run them: their retry hint counts that many at a time (it counted all eight
  // workers, ten times too short a wait, while every call took turns on one connection).
  const int call_parallelism = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1,
                                          ExperimentStore::kReaders);
  parts->calls = std::make_unique<SolveExecutor>(kExperimentCallWorkers, kMaxQueuedExperimentCalls,
                                                 call_parallelism);
  parts->watches = std::make_unique<SolveExecutor>(kWatchWriters, options.limits.max_watchers);
  ExperimentRunnerOptions runner_options;
  runner_options.model = options.model.empty() ? models.policy()->Info().path : options.model;
  runner_options.code_version = std::string(CodeVersion());
  runner_options.limits = options.limits;
  parts->runner =
      std::make_unique<ExperimentRunner>(store, *parts->pipeline, datasets, runner_options);

  ServiceDependencies dependencies;
  dependencies.models = &models;
  dependencies.pipeline = parts->pipeline.get();
  dependencies.runner = parts->runner.get();
  dependencies.store = &store;
  dependencies.executor = parts->executor.get();
  dependencies.calls = parts->calls.get();
  dependencies.watches = parts->watches.get();
  dependencies.limits = options.limits;
  dependencies.auth_token = options.auth_token;
  dependencies.code_version = std::string(CodeVersion());
  parts->service = std::make_unique<PonderService>(std::move(dependencies));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default: a second ponderd on the same port would then bind too
  // and the kernel would split the clients between the two. One server per address.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(parts->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.limits.max_request_bytes));
  parts->server = builder.BuildAndStart();
  if (parts->server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.listen_address,
                     "' (address in use, or not an address of this machine?)"));
  }
  // Probes may name the service (grpc_health_probe -service, Kubernetes' gRPC probes); the
  // default health service knows only "" (the whole server) until told.
  parts->server->GetHealthCheckService()->SetServingStatus(
      std::string(v1::Ponder::service_full_name()), true);
  auto server = std::unique_ptr<PonderServer>(
      new PonderServer(std::move(parts), port, BoundAddress(options.listen_address, port)));
  // Once listening (a server that cannot bind leaves the database as it was): the experiments a
  // dead server left RUNNING are marked INTERRUPTED (those clients started or resumed meanwhile
  // are left alone), then resumed, now that the service can report on them.
  absl::Status recovered = server->parts_->runner->MarkInterrupted();
  if (recovered.ok() && options.resume_interrupted) {
    recovered = server->parts_->runner->ResumeInterrupted();
  }
  if (!recovered.ok()) {
    server->Shutdown(absl::Seconds(5));  // in order: the service, the runner, then gRPC
    return recovered;
  }
  return server;
}

PonderServer::PonderServer(std::unique_ptr<Parts> parts, int port, std::string address)
    : parts_(std::move(parts)), port_(port), address_(std::move(address)) {}

PonderServer::~PonderServer() { Shutdown(absl::Seconds(5)); }

void PonderServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // No new experiment starts; then the experiments: their watchers receive the INTERRUPTED state
  // before the server closes.
  parts_->service->Stop();
  parts_->runner->Shutdown();
  parts_->server->GetHealthCheckService()->Shutdown();
  parts_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  parts_->server->Wait();
}

}  // namespace ponder::orchestrator
