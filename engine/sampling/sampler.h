// Token selection from a row of logits: greedy at temperature 0, otherwise temperature, top-k,
// top-p (nucleus) and min-p filtering, then one draw from a counter-based RNG.
//
// Filter order follows vLLM and Hugging Face transformers: temperature scales the logits first,
// then top-k, then top-p over the tempered distribution, then min-p (relative to the most likely
// remaining token). Ties are broken by the lower token id, so results are deterministic. The
// token is then drawn by inverse CDF over the remaining tokens in id order: the first whose
// cumulative probability exceeds u * (their total mass), u uniform in [0, 1) from Philox
// (philox.h) keyed by (seed, stream, step).
//
// Returned log-probabilities are log-softmax of the *unmodified* logits (temperature 1, no
// filtering), which is what strategies such as RPC and perplexity voting need.
#ifndef PONDER_ENGINE_SAMPLING_SAMPLER_H_
#define PONDER_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"

namespace ponder::engine {

struct SamplingParams {
  double temperature = 1.0;  // 0 = greedy
  int top_k = 0;             // 0 = off
  double top_p = 1.0;        // 1 = off
  double min_p = 0.0;        // 0 = off
  uint64_t seed = 0;

  // Errors name the parameter and its allowed range.
  absl::Status Validate() const;
  bool greedy() const { return temperature == 0.0; }
};

// Whether `temperature` can be sampled at: 0 (greedy), or in [1e-6, 1e6]. Logits are tempered
// by multiplying with float(1 / temperature) before the maximum is subtracted (here and on the
// GPU), so a smaller temperature makes large logits infinite (1e-37: a logit of 34 is) and the
// probabilities NaN; a larger one brings the factor near the end of the float range.
inline constexpr double kMinTemperature = 1e-6, kMaxTemperature = 1e6;
inline bool IsValidTemperature(double temperature) {
  return temperature == 0.0 || (temperature >= kMinTemperature && temperature <= kMaxTemperature);
}
inline constexpr char kTemperatureRange[] = "0 (greedy) or in [1e-6, 1e6]";

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t token = 0;
  float logprob = 0.0f;                    // log-softmax of the raw logits at `token`
  std::vector<TokenLogprob> top_logprobs;  // the `num_top_logprobs` most likely tokens
};

// A token for a backend to draw from row `row` of a forward step's output
// (ForwardOptions::draws): the token SampleToken(that row's logits, sampling, stream, step, 0)
// returns, and its log-prob.
struct TokenDraw {
  int32_t row = 0;
  SamplingParams sampling;
  uint64_t stream = 0;
  uint64_t step = 0;
};

// `stream` distinguishes the completions of one request (completion index); `step` is the
// index of the token being generated. The same (params, stream, step, logits) always gives the
// same token.
SampledToken SampleToken(std::span<const float> logits, const SamplingParams& params,
                         uint64_t stream, uint64_t step, int num_top_logprobs);

// log-softmax of `logits` at `token`.
float TokenLogprobOf(std::span<const float> logits, int32_t token);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_SAMPLING_SAMPLER_H_
