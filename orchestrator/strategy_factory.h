// How the orchestrator obtains strategies and verifiers: through this interface, so the service
// can be built and tested before (and apart from) samplers/ and the model-based verifiers, and
// tests can substitute a scripted strategy.
#ifndef PONDER_ORCHESTRATOR_STRATEGY_FACTORY_H_
#define PONDER_ORCHESTRATOR_STRATEGY_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "ponder/v1/strategy.pb.h"
#include "samplers/strategy.h"
#include "verifiers/verifier.h"

namespace ponder::orchestrator {

class StrategyFactory {
 public:
  virtual ~StrategyFactory() = default;
  // samplers::ValidateStrategy: InvalidArgument naming the field (relative to the config).
  virtual absl::Status Validate(const v1::StrategyConfig& config,
                                const v1::Budget& budget) const = 0;
  virtual bool NeedsVerifier(const v1::StrategyConfig& config) const = 0;
  virtual absl::StatusOr<std::unique_ptr<samplers::Strategy>> MakeStrategy(
      const v1::StrategyConfig& config) const = 0;
  virtual absl::StatusOr<std::unique_ptr<verifiers::Verifier>> MakeVerifier(
      const v1::VerifierConfig& config, verifiers::VerifierModels& models) const = 0;

  // Efficient budgets (samplers::SupportsPrefixBudgets): whether the strategy's result at budget
  // k is its choice among the first k candidates of a larger run with the same seed, so an
  // experiment may sample once at its largest budget. False unless a factory says so.
  virtual bool SupportsPrefixBudgets(const v1::StrategyConfig& config) const { return false; }
  // samplers::SelectFromPrefix. Unimplemented unless SupportsPrefixBudgets.
  virtual absl::StatusOr<v1::SolveResult> SelectFromPrefix(const v1::StrategyConfig& config,
                                                           const v1::SolveResult& full, int k,
                                                           verifiers::AnswerFormat format) const {
    return absl::UnimplementedError("this strategy does not select from a prefix of samples");
  }
};

// The strategies of samplers/ (library ponder_samplers) and the verifiers of verifiers/
// (ponder_verifiers). In a build without one of those libraries, the calls that need it fail
// with UNIMPLEMENTED naming the library.
const StrategyFactory& BuiltinStrategies();

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STRATEGY_FACTORY_H_
