// PonderService: the `ponder.v1.Ponder` gRPC service (callback API). Each handler checks the
// caller's token, validates the request (INVALID_ARGUMENT naming the field), then delegates:
// solves to the SolveExecutor and SolvePipeline, experiments to the ExperimentRunner, reads to
// the ExperimentStore. Status codes mean what gRPC says they mean: RESOURCE_EXHAUSTED (with a
// `retry-after-ms` trailer) when the server is at capacity, CANCELLED / DEADLINE_EXCEEDED when a
// solve is stopped, NOT_FOUND for unknown experiments, FAILED_PRECONDITION for an operation the
// experiment's state forbids, UNAVAILABLE while shutting down, UNIMPLEMENTED when this build
// lacks the strategies.
//
// gRPC runs the handlers on a few callback threads (two on a two-core machine, grpcpp 1.51), and a
// handler that blocks holds one: two StartExperiment calls loading a large dataset froze every
// other call, health checks included (QA of stop 34). So no handler blocks: solves go to the
// SolveExecutor, and every call that reads or writes the store, loads a dataset or waits for the
// runner (the experiment calls) to a pool of its own (`calls`), which answers RESOURCE_EXHAUSTED
// when it is full; a call whose client has gone (cancellation, deadline) by the time its turn
// comes is answered CANCELLED without its work. WatchExperiment's state reads have a small pool
// of their own (a watcher's last state must not wait behind slow calls). GetEngineInfo answers
// at once.
//
// Every method is registered raw (bytes in, bytes out) and the service parses the request itself,
// after checking the token: a body that does not parse is answered INVALID_ARGUMENT saying so.
// gRPC's typed callback handlers parse before the handler runs and answer such a body
// UNIMPLEMENTED with an empty message (grpcpp 1.51, server_callback_handlers.h), which tells a
// client neither what went wrong nor that its credentials were not looked at.
#ifndef PONDER_ORCHESTRATOR_SERVICE_H_
#define PONDER_ORCHESTRATOR_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "orchestrator/experiment_runner.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/solve_executor.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/validation.h"
#include "ponder/v1/service.grpc.pb.h"

namespace ponder::orchestrator {

struct ServiceDependencies {
  ModelRegistry* models = nullptr;
  const SolvePipeline* pipeline = nullptr;
  ExperimentRunner* runner = nullptr;
  ExperimentStore* store = nullptr;
  SolveExecutor* executor = nullptr;
  SolveExecutor* calls = nullptr;    // the experiment calls' pool (see the file comment)
  SolveExecutor* watches = nullptr;  // WatchExperiment's state writes (short: never behind calls)
  ServiceLimits limits;
  std::string auth_token;  // empty: calls are not checked
  std::string code_version;
};

// The generated service with every method raw, in the order service.proto declares them.
using RawPonderService = v1::Ponder::WithRawCallbackMethod_Solve<
    v1::Ponder::WithRawCallbackMethod_SolveStream<v1::Ponder::WithRawCallbackMethod_StartExperiment<
        v1::Ponder::WithRawCallbackMethod_WatchExperiment<
            v1::Ponder::WithRawCallbackMethod_CancelExperiment<
                v1::Ponder::WithRawCallbackMethod_ResumeExperiment<
                    v1::Ponder::WithRawCallbackMethod_GetExperiment<
                        v1::Ponder::WithRawCallbackMethod_ListExperiments<
                            v1::Ponder::WithRawCallbackMethod_ListResults<
                                v1::Ponder::WithRawCallbackMethod_GetEngineInfo<
                                    v1::Ponder::Service>>>>>>>>>>;

class PonderService final : public RawPonderService {
 public:
  explicit PonderService(ServiceDependencies dependencies);

  // The server is stopping: StartExperiment calls that have not begun are answered UNAVAILABLE
  // without their work (a dataset load would hold the shutdown past its grace).
  void Stop() { stopping_.store(true); }

  // Each takes the request's bytes and answers with the response's (see the file comment).
  using Unary = grpc::ServerUnaryReactor;
  using Stream = grpc::ServerWriteReactor<grpc::ByteBuffer>;
  Unary* Solve(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
               grpc::ByteBuffer* response) override;
  Stream* SolveStream(grpc::CallbackServerContext* context,
                      const grpc::ByteBuffer* request) override;
  Unary* StartExperiment(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                         grpc::ByteBuffer* response) override;
  Stream* WatchExperiment(grpc::CallbackServerContext* context,
                          const grpc::ByteBuffer* request) override;
  Unary* CancelExperiment(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                          grpc::ByteBuffer* response) override;
  Unary* ResumeExperiment(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                          grpc::ByteBuffer* response) override;
  Unary* GetExperiment(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                       grpc::ByteBuffer* response) override;
  Unary* ListExperiments(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                         grpc::ByteBuffer* response) override;
  Unary* ListResults(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                     grpc::ByteBuffer* response) override;
  Unary* GetEngineInfo(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                       grpc::ByteBuffer* response) override;

 private:
  template <typename Request, typename Response>
  class UnaryCall;
  class SolveStreamCall;
  class WatchCall;

  // UNAUTHENTICATED unless the call carries the token (when one is configured).
  grpc::Status Authorize(grpc::CallbackServerContext* context) const;
  // Authorize, then the request's bytes parsed into `request` (INVALID_ARGUMENT when they do not
  // parse).
  template <typename Request>
  grpc::Status Accept(grpc::CallbackServerContext* context, const grpc::ByteBuffer& body,
                      Request& request) const;
  // RESOURCE_EXHAUSTED with `pool`'s retry hint, in the message and the `retry-after-ms` trailer.
  grpc::Status Overloaded(grpc::CallbackServerContext* context, SolveExecutor& pool,
                          std::string_view what);
  grpc::Status SolvesOverloaded(grpc::CallbackServerContext* context);
  grpc::Status CallsOverloaded(grpc::CallbackServerContext* context);
  // Runs `work` on the calls pool; false when the pool is full.
  bool SubmitCall(std::function<void()> work);
  // Runs `work`, which answers `call`, on the calls pool: unless the pool is full
  // (RESOURCE_EXHAUSTED) or the call's client has gone by its turn (CANCELLED, without the work).
  template <typename Call>
  void AnswerOnPool(Call* call, grpc::CallbackServerContext* context, std::function<void()> work);
  // Accept, then ValidateSolveRequest and ValidateRewardModelNames.
  grpc::Status AdmitSolve(grpc::CallbackServerContext* context, const grpc::ByteBuffer& body,
                          v1::SolveRequest& request) const;
  // Accepts the call, then answers with the response `handle(request, response)` fills and the
  // status it returns: at once (a handler that cannot block), or from the calls pool
  // (RespondFromPool: `handle` must own what it captures).
  template <typename Request, typename Response, typename Handler>
  Unary* Respond(grpc::CallbackServerContext* context, const grpc::ByteBuffer& body,
                 grpc::ByteBuffer* reply, Handler handle);
  template <typename Request, typename Response, typename Handler>
  Unary* RespondFromPool(grpc::CallbackServerContext* context, const grpc::ByteBuffer& body,
                         grpc::ByteBuffer* reply, Handler handle);
  using StartCall = UnaryCall<v1::StartExperimentRequest, v1::Experiment>;
  // StartExperiment's work, on the calls pool: a new experiment, or with `resume` the one
  // FindResumable names (ResumeOrStart). One call per settings does that at a time; a call for
  // the same settings that comes meanwhile is parked (no thread waits for it) and then answered
  // with that call's result if its spec is the same, else started over.
  void StartOrResume(StartCall* call, grpc::CallbackServerContext* context);
  absl::StatusOr<v1::Experiment> ResumeOrStart(const v1::ExperimentSpec& spec);
  void AnswerStart(StartCall* call, grpc::CallbackServerContext* context,
                   const absl::StatusOr<v1::Experiment>& result);
  // RespondFromPool for calls that take an experiment id and answer with the experiment `fetch`
  // returns.
  template <typename Request, typename Fetch>
  Unary* RespondWithExperiment(grpc::CallbackServerContext* context, const grpc::ByteBuffer& body,
                               grpc::ByteBuffer* reply, Fetch fetch);

  // The stored experiment with its cells; once it has stopped, with the cells' pass@n, oracle and
  // false-positive rates (results::AddCellMetrics, through a read-only connection of its own, so
  // the runner's writes wait for none of it).
  absl::StatusOr<v1::Experiment> StoredExperiment(int64_t experiment_id) const;

  ServiceDependencies deps_;
  // Experiments as StoredExperiment last read them, each with the store's WriteCount from before
  // that read, answered again while the count stays the same. A stopped experiment is read once
  // (one of 61 500 runs took 0.46 s, and every GetExperiment call and watcher read it anew: QA of
  // stop 34); a running one once a change, however many watchers it has.
  // Beyond kMaxKeptStates the least recently asked for goes.
  struct KeptState {
    uint64_t writes = 0;
    v1::Experiment experiment;
    uint64_t last_asked = 0;  // states_asked_ then
  };
  static constexpr size_t kMaxKeptStates = 64;
  mutable absl::Mutex states_mu_;
  mutable absl::flat_hash_map<int64_t, KeptState> states_ ABSL_GUARDED_BY(states_mu_);
  mutable uint64_t states_asked_ ABSL_GUARDED_BY(states_mu_) = 0;
  std::atomic<int> watchers_{0};
  std::atomic<bool> stopping_{false};
  // The settings (ExperimentRunner::SettingsKey) of the StartExperiment{resume} calls between
  // their look for a resumable experiment and the start or resume it leads to, each with the
  // calls for the same settings parked until it has its answer, so that concurrent calls for
  // one spec make one experiment (and load its dataset once); calls for other settings go on.
  struct ParkedStart {
    StartCall* call;
    grpc::CallbackServerContext* context;
  };
  static constexpr int kMaxParkedStarts = 256;  // beyond: RESOURCE_EXHAUSTED
  absl::Mutex resume_mu_;
  absl::flat_hash_map<std::string, std::vector<ParkedStart>> resuming_ ABSL_GUARDED_BY(resume_mu_);
  int parked_starts_ ABSL_GUARDED_BY(resume_mu_) = 0;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_SERVICE_H_
