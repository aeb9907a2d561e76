// PonderService: the `ponder.v1.Ponder` gRPC service (callback API). Each handler checks the
// caller's token, validates the request (INVALID_ARGUMENT naming the field), then delegates:
// solves to the SolveExecutor and SolvePipeline, experiments to the ExperimentRunner, reads to
// the ExperimentStore. Status codes mean what gRPC says they mean: RESOURCE_EXHAUSTED (with a
// `retry-after-ms` trailer) when the server is at capacity, CANCELLED / DEADLINE_EXCEEDED when a
// solve is stopped, NOT_FOUND for unknown experiments, FAILED_PRECONDITION for an operation the
// experiment's state forbids, UNAVAILABLE while shutting down, UNIMPLEMENTED when this build
// lacks the strategies.
#ifndef PONDER_ORCHESTRATOR_SERVICE_H_
#define PONDER_ORCHESTRATOR_SERVICE_H_

#include <atomic>
#include <string>

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
  ServiceLimits limits;
  std::string auth_token;  // empty: calls are not checked
  std::string code_version;
};

class PonderService final : public v1::Ponder::CallbackService {
 public:
  explicit PonderService(ServiceDependencies dependencies);

  grpc::ServerUnaryReactor* Solve(grpc::CallbackServerContext* context,
                                  const v1::SolveRequest* request,
                                  v1::SolveResponse* response) override;
  grpc::ServerWriteReactor<v1::SolveEvent>* SolveStream(grpc::CallbackServerContext* context,
                                                        const v1::SolveRequest* request) override;
  grpc::ServerUnaryReactor* StartExperiment(grpc::CallbackServerContext* context,
                                            const v1::StartExperimentRequest* request,
                                            v1::Experiment* response) override;
  grpc::ServerWriteReactor<v1::Experiment>* WatchExperiment(
      grpc::CallbackServerContext* context, const v1::WatchExperimentRequest* request) override;
  grpc::ServerUnaryReactor* CancelExperiment(grpc::CallbackServerContext* context,
                                             const v1::CancelExperimentRequest* request,
                                             v1::Experiment* response) override;
  grpc::ServerUnaryReactor* ResumeExperiment(grpc::CallbackServerContext* context,
                                             const v1::ResumeExperimentRequest* request,
                                             v1::Experiment* response) override;
  grpc::ServerUnaryReactor* GetExperiment(grpc::CallbackServerContext* context,
                                          const v1::GetExperimentRequest* request,
                                          v1::Experiment* response) override;
  grpc::ServerUnaryReactor* ListExperiments(grpc::CallbackServerContext* context,
                                            const v1::ListExperimentsRequest* request,
                                            v1::ListExperimentsResponse* response) override;
  grpc::ServerUnaryReactor* ListResults(grpc::CallbackServerContext* context,
                                        const v1::ListResultsRequest* request,
                                        v1::ListResultsResponse* response) override;
  grpc::ServerUnaryReactor* GetEngineInfo(grpc::CallbackServerContext* context,
                                          const v1::GetEngineInfoRequest* request,
                                          v1::EngineInfo* response) override;

 private:
  class SolveCall;
  class SolveStreamCall;
  class WatchCall;

  // UNAUTHENTICATED unless the call carries the token (when one is configured).
  grpc::Status Authorize(grpc::CallbackServerContext* context) const;
  // RESOURCE_EXHAUSTED with the retry hint, in the message and the `retry-after-ms` trailer.
  grpc::Status Overloaded(grpc::CallbackServerContext* context, std::string_view what);
  grpc::Status SolvesOverloaded(grpc::CallbackServerContext* context);
  // Authorize, then ValidateSolveRequest and ValidateRewardModelNames.
  grpc::Status AdmitSolve(grpc::CallbackServerContext* context,
                          const v1::SolveRequest& request) const;
  // Checks the call, then finishes a default reactor with what `handle` returns.
  template <typename Handler>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, Handler handle);
  // Unary for calls that take an experiment id and answer with the experiment `fetch` returns.
  template <typename Fetch>
  grpc::ServerUnaryReactor* ExperimentUnary(grpc::CallbackServerContext* context,
                                            int64_t experiment_id, v1::Experiment* response,
                                            Fetch fetch);

  ServiceDependencies deps_;
  std::atomic<int> watchers_{0};
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_SERVICE_H_
