#include "samplers/strategy.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
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

absl::Status ValidateSampling(const v1::SamplingConfig& s) {
  if (s.has_temperature() && !IsStrategyTemperature(s.temperature())) {
    return InvalidField("sampling.temperature", absl::StrCat("must be ", kStrategyTemperatureRange,
                                                             ", got ", s.temperature()));
  }
  if (s.has_top_p() && !(s.top_p() > 0 && s.top_p() <= 1)) {
    return InvalidField("sampling.top_p", absl::StrCat("must be in (0, 1], got ", s.top_p()));
  }
  if (s.top_k() < 0)
    return InvalidField("sampling.top_k", absl::StrCat("must be >= 0, got ", s.top_k()));
  if (!(s.min_p() >= 0 && s.min_p() <= 1)) {
    return InvalidField("sampling.min_p", absl::StrCat("must be in [0, 1], got ", s.min_p()));
  }
  if (s.max_tokens() < 0 || s.max_tokens() > kMaxTokens) {
    return InvalidField(
        "sampling.max_tokens",
        absl::StrCat("must be in [0, ", kMaxTokens, "] (0 = the default), got ", s.max_tokens()));
  }
  return absl::OkStatus();
}

absl::Status ValidateSteps(const v1::StepConfig& steps) {
  if (steps.has_delimiter() && steps.delimiter().empty()) {
    return InvalidField("steps.delimiter", "must not be empty when set");
  }
  if (steps.max_steps() < 0 || steps.max_steps() > kMaxSteps) {
    return InvalidField("steps.max_steps",
                        absl::StrCat("must be in [0, ", kMaxSteps, "], got ", steps.max_steps()));
  }
  if (steps.max_step_tokens() < 0 || steps.max_step_tokens() > kMaxTokens) {
    return InvalidField("steps.max_step_tokens", absl::StrCat("must be in [0, ", kMaxTokens,
                                                              "], got ", steps.max_step_tokens()));
  }
  return absl::OkStatus();
}

absl::Status ValidateStrategy(const v1::StrategyConfig& config, const v1::Budget& budget) {
  if (config.kind_case() == v1::StrategyConfig::KIND_NOT_SET) {
    return InvalidField(
        "strategy",
        "set one of best_of_n, weighted_best_of_n, self_consistency, adaptive_self_consistency, "
        "rpc, perplexity, beam_search, dvts, particle_filter");
  }
  if (budget.n() < 1 || budget.n() > kMaxBudgetN)
    return InvalidField("budget.n",
                        absl::StrCat("must be in [1, ", kMaxBudgetN, "], got ", budget.n()));
  if (budget.max_generated_tokens() < 0)
    return InvalidField("budget.max_generated_tokens", "must be >= 0");
  PONDER_RETURN_IF_ERROR(ValidateSampling(config.sampling()));
  PONDER_RETURN_IF_ERROR(ValidateSteps(config.steps()));
  switch (config.kind_case()) {
    case v1::StrategyConfig::kAdaptiveSelfConsistency: {
      const auto& a = config.adaptive_self_consistency();
      if (a.has_stop_share() && !(a.stop_share() > 0 && a.stop_share() <= 1)) {
        return InvalidField("adaptive_self_consistency.stop_share", "must be in (0, 1]");
      }
      if (a.round_size() < 0)
        return InvalidField("adaptive_self_consistency.round_size", "must be >= 0");
      if (a.min_samples() < 0)
        return InvalidField("adaptive_self_consistency.min_samples", "must be >= 0");
      break;
    }
    case v1::StrategyConfig::kBeamSearch:
      if (config.beam_search().beam_width() < 0)
        return InvalidField("beam_search.beam_width", "must be >= 1");
      if (config.beam_search().beam_width() > budget.n()) {
        return InvalidField("beam_search.beam_width",
                            absl::StrCat("must not exceed budget.n (", budget.n(), ")"));
      }
      break;
    case v1::StrategyConfig::kDvts:
      if (config.dvts().beam_width() < 0) return InvalidField("dvts.beam_width", "must be >= 1");
      if (config.dvts().beam_width() > budget.n()) {
        return InvalidField("dvts.beam_width",
                            absl::StrCat("must not exceed budget.n (", budget.n(), ")"));
      }
      // sal's Config: "n should be a multiple of beam_width" (N / M subtrees of M each; the rest
      // of the budget would go unspent). The default width 4 shrinks to a smaller budget.
      if (const int width = config.dvts().beam_width() > 0 ? config.dvts().beam_width() : 4;
          budget.n() > width && budget.n() % width != 0) {
        return InvalidField("dvts.beam_width",
                            absl::StrCat("budget.n (", budget.n(), ") must be a multiple of it (",
                                         width, config.dvts().beam_width() > 0 ? "" : " by default",
                                         "): DVTS runs N / M subtrees of M candidates"));
      }
      if (config.dvts().lookahead() < 0 || config.dvts().lookahead() > kMaxLookahead) {
        return InvalidField("dvts.lookahead", absl::StrCat("must be in [0, ", kMaxLookahead,
                                                           "], got ", config.dvts().lookahead()));
      }
      break;
    case v1::StrategyConfig::kParticleFilter: {
      const auto& pf = config.particle_filter();
      // Weights are softmax(logit(r) / T): a T whose reciprocal overflows makes them NaN.
      if (pf.has_temperature() && !(pf.temperature() >= kMinWeightTemperature &&
                                    pf.temperature() <= kMaxWeightTemperature)) {
        return InvalidField(
            "particle_filter.temperature",
            absl::StrCat("must be in [", kMinWeightTemperature, ", ", kMaxWeightTemperature,
                         "] (default 1), got ", pf.temperature()));
      }
      if (!v1::ParticleFilter::Resampling_IsValid(pf.resampling())) {
        return InvalidField("particle_filter.resampling",
                            absl::StrCat("unknown value ", pf.resampling(),
                                         " (RESAMPLING_MULTINOMIAL or RESAMPLING_SYSTEMATIC)"));
      }
      if (pf.gibbs_iterations() < 0)
        return InvalidField("particle_filter.gibbs_iterations", "must be >= 1");
      int iterations = std::max(1, pf.gibbs_iterations());
      // its_hub: "budget must be divisible by num_iterations", and each run needs a free
      // particle besides the reference.
      if (budget.n() % iterations != 0 || (iterations > 1 && budget.n() / iterations < 2)) {
        return InvalidField(
            "particle_filter.gibbs_iterations",
            absl::StrCat("budget.n (", budget.n(),
                         ") must be a multiple of it with at least 2 particles per run"));
      }
      if (!(pf.entropic_ess_fraction() >= 0 && pf.entropic_ess_fraction() <= 1)) {
        return InvalidField("particle_filter.entropic_ess_fraction", "must be in [0, 1]");
      }
      if (pf.has_entropic_early_phase() &&
          !(pf.entropic_early_phase() >= 0 && pf.entropic_early_phase() <= 1)) {
        return InvalidField("particle_filter.entropic_early_phase", "must be in [0, 1]");
      }
      break;
    }
    default:
      break;
  }
  if (NeedsVerifier(config) && config.verifier().kind_case() == v1::VerifierConfig::KIND_NOT_SET) {
    return InvalidField(
        "verifier",
        "this strategy scores candidates: set a verifier (prm, orm, self_evaluation, "
        "arithmetic, unit_tests, program_of_thought, weighted)");
  }
  // Verifiers that run programs judge whole ones; the step-level searches score every partial
  // solution at every step, which would run half-written programs (loops without their exit).
  const bool steps = config.has_beam_search() || config.has_dvts() || config.has_particle_filter();
  if (steps && verifiers::RunsPrograms(config.verifier())) {
    return InvalidField(
        "verifier",
        "unit_tests and program_of_thought run a solution's program and judge whole solutions: "
        "use them with best_of_n or weighted_best_of_n, not with a search that scores partial "
        "solutions step by step");
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
