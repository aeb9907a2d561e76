// BuiltinStrategies: samplers/ and verifiers/ when this build has them. CMake defines
// PONDER_HAVE_SAMPLERS / PONDER_HAVE_VERIFIERS when the targets ponder_samplers /
// ponder_verifiers exist (orchestrator/CMakeLists.txt).
#include "orchestrator/strategy_factory.h"

namespace ponder::orchestrator {
namespace {

class Builtin : public StrategyFactory {
 public:
  absl::Status Validate(const v1::StrategyConfig& config, const v1::Budget& budget) const override {
#ifdef PONDER_HAVE_SAMPLERS
    return samplers::ValidateStrategy(config, budget);
#else
    return MissingSamplers();
#endif
  }

  bool NeedsVerifier(const v1::StrategyConfig& config) const override {
#ifdef PONDER_HAVE_SAMPLERS
    return samplers::NeedsVerifier(config);
#else
    return false;
#endif
  }

  absl::StatusOr<std::unique_ptr<samplers::Strategy>> MakeStrategy(
      const v1::StrategyConfig& config) const override {
#ifdef PONDER_HAVE_SAMPLERS
    return samplers::MakeStrategy(config);
#else
    return MissingSamplers();
#endif
  }

  bool SupportsPrefixBudgets(const v1::StrategyConfig& config) const override {
#ifdef PONDER_HAVE_SAMPLERS
    return samplers::SupportsPrefixBudgets(config);
#else
    return false;
#endif
  }

  absl::StatusOr<v1::SolveResult> SelectFromPrefix(const v1::StrategyConfig& config,
                                                   const v1::SolveResult& full, int k,
                                                   verifiers::AnswerFormat format) const override {
#ifdef PONDER_HAVE_SAMPLERS
    return samplers::SelectFromPrefix(config, full, k, format);
#else
    return MissingSamplers();
#endif
  }

  absl::StatusOr<std::unique_ptr<verifiers::Verifier>> MakeVerifier(
      const v1::VerifierConfig& config, verifiers::VerifierModels& models) const override {
#ifdef PONDER_HAVE_VERIFIERS
    return verifiers::MakeVerifier(config, models);
#else
    return absl::UnimplementedError(
        "this build has no model-based verifiers (library ponder_verifiers was not built)");
#endif
  }

 private:
  [[maybe_unused]] static absl::Status MissingSamplers() {
    return absl::UnimplementedError(
        "this build has no strategies (library ponder_samplers was not built)");
  }
};

}  // namespace

const StrategyFactory& BuiltinStrategies() {
  static const Builtin* const factory = new Builtin;
  return *factory;
}

}  // namespace ponder::orchestrator
