// Request validation for the Ponder service. Every check fails with InvalidArgument whose
// message starts with the offending field's path in proto names (`budget.n`,
// `strategies[1].config.sampling.top_p`) and states the rule, so a client can fix the request
// without reading the server's code.
#ifndef PONDER_ORCHESTRATOR_VALIDATION_H_
#define PONDER_ORCHESTRATOR_VALIDATION_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/strategy_factory.h"
#include "ponder/v1/service.pb.h"

namespace ponder::orchestrator {

// What the server accepts (ponderd flags; reported by GetEngineInfo).
struct ServiceLimits {
  int max_concurrent_solves = 8;  // Solve/SolveStream calls solving at once
  int max_queued_solves = 64;     // waiting for a solver; beyond: RESOURCE_EXHAUSTED
  int max_budget_n = 64;
  int max_tokens = 4096;                 // strategy.sampling.max_tokens
  int64_t max_problem_bytes = 64 << 10;  // problem.text
  int64_t max_request_bytes = 4 << 20;   // whole request messages (gRPC receive limit)
  int max_running_experiments = 4;
  int max_experiment_parallelism = 16;
  int default_experiment_parallelism = 4;
  int64_t max_experiment_runs = 1'000'000;
  int max_watchers = 256;  // WatchExperiment streams open at once
};

v1::ServerLimits LimitsProto(const ServiceLimits& limits);

// An InvalidArgument message that starts with a field relative to `field` made to start from the
// request's root (a verifier's "verifier.prm.format: ..." within "strategy" as
// "strategy.verifier.prm.format: ..."); other errors, and messages that do not start with a
// field, unchanged.
absl::Status Within(std::string_view field, const absl::Status& status);

absl::Status ValidateProblem(const v1::Problem& problem, const ServiceLimits& limits,
                             std::string_view field);
absl::Status ValidateBudget(const v1::Budget& budget, const ServiceLimits& limits,
                            std::string_view field);
// The generic rules (exactly one strategy, sampling and step ranges, a verifier where the
// strategy needs one), then the strategy's own (StrategyFactory::Validate).
absl::Status ValidateStrategyConfig(const v1::StrategyConfig& config, const v1::Budget& budget,
                                    const ServiceLimits& limits, const StrategyFactory& strategies,
                                    std::string_view field);
absl::Status ValidatePrompt(const v1::PromptConfig& prompt, std::string_view field);

absl::Status ValidateSolveRequest(const v1::SolveRequest& request, const ServiceLimits& limits,
                                  const StrategyFactory& strategies);
// Everything but the run count of a dataset slice, which is known once it is loaded.
absl::Status ValidateExperimentSpec(const v1::ExperimentSpec& spec, const ServiceLimits& limits,
                                    const StrategyFactory& strategies);
// Every reward model `verifier` names (prm.model and orm.model, in weighted parts too) is
// loaded in `models`: InvalidArgument naming the field, the model and the loaded ones. Apart
// from the rules above because it needs the server's models.
absl::Status ValidateRewardModelNames(const v1::VerifierConfig& verifier, ModelRegistry& models,
                                      std::string_view field);
absl::Status ValidateExperimentId(int64_t id);
// page_size: 0 (the default) or 1..1000.
absl::Status ValidatePageSize(int32_t page_size);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_VALIDATION_H_
