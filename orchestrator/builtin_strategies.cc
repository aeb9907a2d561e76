// BuiltinStrategies: the strategies of samplers/ and the verifiers of verifiers/.
#include "orchestrator/strategy_factory.h"

namespace ponder::orchestrator {
namespace {

class Builtin : public StrategyFactory {
 public:
  absl::Status Validate(const v1::StrategyConfig& config, const v1::Budget& budget) const override {
    return samplers::ValidateStrategy(config, budget);
  }

  bool NeedsVerifier(const v1::StrategyConfig& config) const override {
    return samplers::NeedsVerifier(config);
  }

  absl::StatusOr<std::unique_ptr<samplers::Strategy>> MakeStrategy(
      const v1::StrategyConfig& config) const override {
    return samplers::MakeStrategy(config);
  }

  bool SupportsPrefixBudgets(const v1::StrategyConfig& config) const override {
    return samplers::SupportsPrefixBudgets(config);
  }

  absl::StatusOr<v1::SolveResult> SelectFromPrefix(const v1::StrategyConfig& config,
                                                   const v1::SolveResult& full, int k,
                                                   verifiers::AnswerFormat format) const override {
    return samplers::SelectFromPrefix(config, full, k, format);
  }

  absl::StatusOr<std::unique_ptr<verifiers::Verifier>> MakeVerifier(
      const v1::VerifierConfig& config, verifiers::VerifierModels& models) const override {
    return verifiers::MakeVerifier(config, models);
  }
};

}  // namespace

const StrategyFactory& BuiltinStrategies() {
  static const Builtin* const factory = new Builtin;
  return *factory;
}

}  // namespace ponder::orchestrator
