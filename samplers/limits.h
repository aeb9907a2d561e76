// The ranges every strategy accepts, for the layers that check a request before it reaches one
// (the service's validation, the CLI's flags). Header-only: no protobuf.
#ifndef PONDER_SAMPLERS_LIMITS_H_
#define PONDER_SAMPLERS_LIMITS_H_

#include "engine/engine.h"  // SamplingParams, IsValidTemperature

namespace ponder::samplers {

// The largest budget.n any strategy accepts; a server's --max-budget-n and the in-process
// commands' limits are at most this.
inline constexpr int kMaxBudgetN = engine::kMaxCompletions;  // drawn in one engine request

// The largest sampling.max_tokens and steps.max_step_tokens any strategy accepts (a server's
// --max-tokens is at most this), and the most steps a step-level search may be given.
inline constexpr int kMaxTokens = 1 << 20;
inline constexpr int kMaxSteps = 1000;

// Sampling temperatures a strategy accepts: 0 (greedy), or from the engine's least
// (engine::kMinTemperature) up to kMaxTemperature. One rule, one wording.
inline constexpr double kMaxTemperature = 10;
inline bool IsStrategyTemperature(double temperature) {
  return engine::IsValidTemperature(temperature) && temperature <= kMaxTemperature;
}
inline constexpr char kStrategyTemperatureRange[] = "0 (greedy) or in [1e-6, 10]";

// Particle filtering's weight temperature (softmax over logit(reward) / T).
inline constexpr double kMinWeightTemperature = 1e-6;
inline constexpr double kMaxWeightTemperature = 1e6;

// DVTS's lookahead steps (v1::Dvts::lookahead): each costs a greedy step per candidate.
inline constexpr int kMaxLookahead = 16;

}  // namespace ponder::samplers

#endif  // PONDER_SAMPLERS_LIMITS_H_
