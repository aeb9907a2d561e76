#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/ops/ops.h"
#include "engine/sampling/philox.h"

namespace ponder::engine {
namespace {

struct Candidate {
  int32_t token;
  float value;  // tempered logit, later probability
};

// Higher value first; the lower token id wins ties.
bool Before(const Candidate& a, const Candidate& b) {
  return a.value != b.value ? a.value > b.value : a.token < b.token;
}

int32_t ArgMax(std::span<const float> logits) {
  int32_t best = 0;
  for (int32_t i = 1; i < static_cast<int32_t>(logits.size()); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// Sorts the first `count` candidates into order, growing the sorted prefix geometrically until
// it holds probability mass `mass` (the nucleus), so the usual case sorts a few hundred tokens,
// not the vocabulary. Returns the nucleus size.
size_t NucleusSize(std::vector<Candidate>& candidates, double mass) {
  size_t sorted = 0;
  double cumulative = 0;
  for (size_t want = 256;; want *= 8) {
    size_t count = std::min(want, candidates.size());
    std::partial_sort(candidates.begin() + sorted, candidates.begin() + count, candidates.end(),
                      Before);
    for (; sorted < count; ++sorted) {
      cumulative += candidates[sorted].value;
      if (cumulative >= mass) return sorted + 1;
    }
    if (count == candidates.size()) return count;
  }
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (!IsValidTemperature(temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be ", kTemperatureRange, ", got ", temperature));
  }
  if (top_k < 0) return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", top_k));
  if (!(top_p > 0 && top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", top_p));
  }
  if (!(min_p >= 0 && min_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("min_p must be in [0, 1], got ", min_p));
  }
  return absl::OkStatus();
}

float TokenLogprobOf(std::span<const float> logits, int32_t token) {
  return logits[token] - ops::LogSumExp(logits.data(), static_cast<int64_t>(logits.size()));
}

SampledToken SampleToken(std::span<const float> logits, const SamplingParams& params,
                         uint64_t stream, uint64_t step, int num_top_logprobs) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  const float log_z = ops::LogSumExp(logits.data(), vocab);
  SampledToken result;

  if (params.greedy()) {
    result.token = ArgMax(logits);
  } else {
    const float inv_t = static_cast<float>(1.0 / params.temperature);
    std::vector<Candidate> candidates(vocab);
    for (int32_t i = 0; i < vocab; ++i) candidates[i] = {i, logits[i] * inv_t};
    if (params.top_k > 0 && params.top_k < vocab) {
      std::nth_element(candidates.begin(), candidates.begin() + params.top_k, candidates.end(),
                       Before);
      candidates.resize(params.top_k);
    }
    // Probabilities of the tempered distribution over the remaining candidates.
    float max_value = -INFINITY;
    for (const Candidate& c : candidates) max_value = std::max(max_value, c.value);
    double total = 0;
    for (Candidate& c : candidates) total += (c.value = std::exp(c.value - max_value));
    for (Candidate& c : candidates) c.value = static_cast<float>(c.value / total);

    if (params.top_p < 1.0) {
      candidates.resize(NucleusSize(candidates, params.top_p));
    }
    // The draw below walks the remaining tokens in id order, whatever order the filters left
    // them in: the inverse CDF over ids, which a GPU computes with a prefix sum, no sort.
    if (params.top_k > 0 || params.top_p < 1.0) {
      std::sort(candidates.begin(), candidates.end(),
                [](const Candidate& a, const Candidate& b) { return a.token < b.token; });
    }
    if (params.min_p > 0.0) {
      float p_max = 0;
      for (const Candidate& c : candidates) p_max = std::max(p_max, c.value);
      float threshold = static_cast<float>(params.min_p) * p_max;
      std::erase_if(candidates, [threshold](const Candidate& c) { return c.value < threshold; });
    }
    double mass = 0;
    for (const Candidate& c : candidates) mass += c.value;
    const double u = UniformDouble(params.seed, stream, step) * mass;
    double cumulative = 0;
    result.token = candidates.back().token;  // guards against rounding at the top end
    for (const Candidate& c : candidates) {
      cumulative += c.value;
      if (u < cumulative) {
        result.token = c.token;
        break;
      }
    }
  }
  result.logprob = logits[result.token] - log_z;

  if (num_top_logprobs > 0) {
    int n = std::min(num_top_logprobs, vocab);
    std::vector<int32_t> ids(vocab);
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    for (int i = 0; i < n; ++i) result.top_logprobs.push_back({ids[i], logits[ids[i]] - log_z});
  }
  return result;
}

}  // namespace ponder::engine
