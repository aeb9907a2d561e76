#include "samplers/strategy.h"

#include "absl/strings/str_cat.h"
#include "samplers/strategies.h"

namespace ponder::samplers {

bool NeedsVerifier(const v1::StrategyConfig& config) {
  switch (config.kind_case()) {
    case v1::StrategyConfig::kBestOfN:
    case v1::StrategyConfig::kWeightedBestOfN:
    case v1::StrategyConfig::kBeamSearch:
    case v1::StrategyConfig::kDvts:
    case v1::StrategyConfig::kParticleFilter:
      return true;
    default:
      return false;
  }
}

absl::Status ValidateStrategy(const v1::StrategyConfig& config, const v1::Budget& budget) {
  auto invalid = [](const std::string& field, const std::string& rule) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
  };
  if (config.kind_case() == v1::StrategyConfig::KIND_NOT_SET) {
    return invalid(
        "strategy",
        "set one of best_of_n, weighted_best_of_n, self_consistency, adaptive_self_consistency, "
        "rpc, perplexity, beam_search, dvts, particle_filter");
  }
  if (budget.n() < 1 || budget.n() > kMaxBudgetN)
    return invalid("budget.n", absl::StrCat("must be in [1, ", kMaxBudgetN, "], got ", budget.n()));
  if (budget.max_generated_tokens() < 0)
    return invalid("budget.max_generated_tokens", "must be >= 0");
  const v1::SamplingConfig& s = config.sampling();
  if (s.has_temperature() && !IsStrategyTemperature(s.temperature())) {
    return invalid("sampling.temperature",
                   absl::StrCat("must be ", kStrategyTemperatureRange, ", got ", s.temperature()));
  }
  if (s.has_top_p() && !(s.top_p() > 0 && s.top_p() <= 1))
    return invalid("sampling.top_p", "must be in (0, 1]");
  if (s.top_k() < 0) return invalid("sampling.top_k", "must be >= 0");
  if (!(s.min_p() >= 0 && s.min_p() <= 1)) return invalid("sampling.min_p", "must be in [0, 1]");
  if (s.max_tokens() < 0 || s.max_tokens() > 1 << 20)
    return invalid("sampling.max_tokens", "must be in [0, 1048576]");
  const v1::StepConfig& steps = config.steps();
  if (steps.has_delimiter() && steps.delimiter().empty())
    return invalid("steps.delimiter", "must not be empty");
  if (steps.max_steps() < 0 || steps.max_steps() > 10000)
    return invalid("steps.max_steps", "must be in [0, 10000]");
  if (steps.max_step_tokens() < 0) return invalid("steps.max_step_tokens", "must be >= 0");
  switch (config.kind_case()) {
    case v1::StrategyConfig::kAdaptiveSelfConsistency: {
      const auto& a = config.adaptive_self_consistency();
      if (a.has_stop_share() && !(a.stop_share() > 0 && a.stop_share() <= 1)) {
        return invalid("adaptive_self_consistency.stop_share", "must be in (0, 1]");
      }
      if (a.round_size() < 0)
        return invalid("adaptive_self_consistency.round_size", "must be >= 0");
      if (a.min_samples() < 0)
        return invalid("adaptive_self_consistency.min_samples", "must be >= 0");
      break;
    }
    case v1::StrategyConfig::kBeamSearch:
      if (config.beam_search().beam_width() < 0)
        return invalid("beam_search.beam_width", "must be >= 1");
      if (config.beam_search().beam_width() > budget.n()) {
        return invalid("beam_search.beam_width",
                       absl::StrCat("must not exceed budget.n (", budget.n(), ")"));
      }
      break;
    case v1::StrategyConfig::kDvts:
      if (config.dvts().beam_width() < 0) return invalid("dvts.beam_width", "must be >= 1");
      if (config.dvts().beam_width() > budget.n()) {
        return invalid("dvts.beam_width",
                       absl::StrCat("must not exceed budget.n (", budget.n(), ")"));
      }
      break;
    case v1::StrategyConfig::kParticleFilter: {
      const auto& pf = config.particle_filter();
      if (pf.has_temperature() && !(pf.temperature() > 0))
        return invalid("particle_filter.temperature", "must be > 0");
      if (pf.gibbs_iterations() < 0)
        return invalid("particle_filter.gibbs_iterations", "must be >= 1");
      int iterations = std::max(1, pf.gibbs_iterations());
      // its_hub: "budget must be divisible by num_iterations", and each run needs a free
      // particle besides the reference.
      if (budget.n() % iterations != 0 || (iterations > 1 && budget.n() / iterations < 2)) {
        return invalid(
            "particle_filter.gibbs_iterations",
            absl::StrCat("budget.n (", budget.n(),
                         ") must be a multiple of it with at least 2 particles per run"));
      }
      if (!(pf.entropic_ess_fraction() >= 0 && pf.entropic_ess_fraction() <= 1)) {
        return invalid("particle_filter.entropic_ess_fraction", "must be in [0, 1]");
      }
      if (pf.has_entropic_early_phase() &&
          !(pf.entropic_early_phase() >= 0 && pf.entropic_early_phase() <= 1)) {
        return invalid("particle_filter.entropic_early_phase", "must be in [0, 1]");
      }
      break;
    }
    default:
      break;
  }
  if (NeedsVerifier(config) && config.verifier().kind_case() == v1::VerifierConfig::KIND_NOT_SET) {
    return invalid("verifier",
                   "this strategy scores candidates: set a verifier (prm, orm, self_evaluation, "
                   "arithmetic, weighted)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const v1::StrategyConfig& config) {
  switch (config.kind_case()) {
    case v1::StrategyConfig::kBestOfN:
      return internal::MakeBestOfN();
    case v1::StrategyConfig::kWeightedBestOfN:
      return internal::MakeWeightedBestOfN();
    case v1::StrategyConfig::kSelfConsistency:
      return internal::MakeSelfConsistency();
    case v1::StrategyConfig::kAdaptiveSelfConsistency:
      return internal::MakeAdaptiveSelfConsistency(config.adaptive_self_consistency());
    case v1::StrategyConfig::kRpc:
      return internal::MakeRpc(config.rpc());
    case v1::StrategyConfig::kPerplexity:
      return internal::MakePerplexity();
    case v1::StrategyConfig::kBeamSearch:
      return internal::MakeBeamSearch(config.beam_search());
    case v1::StrategyConfig::kDvts:
      return internal::MakeDvts(config.dvts());
    case v1::StrategyConfig::kParticleFilter:
      return internal::MakeParticleFilter(config.particle_filter());
    case v1::StrategyConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("strategy: no strategy set");
}

}  // namespace ponder::samplers
