// The numerical pieces of particle filtering (internal to samplers/; tested directly), as
// its_hub defines them (its_hub/core/algorithms/particle_filtering.py).
#ifndef PONDER_SAMPLERS_RESAMPLING_H_
#define PONDER_SAMPLERS_RESAMPLING_H_

#include <vector>

#include "samplers/common.h"

namespace ponder::samplers::internal {

// logit(r) with r clipped to [1e-7, 1 - 1e-7] (_inv_sigmoid).
double InverseSigmoid(double r);
// exp(x - max) / sum (_softmax).
std::vector<double> Softmax(const std::vector<double>& x);
// `count` independent draws from `p` (random.choices).
std::vector<int> ResampleMultinomial(const std::vector<double>& p, int count, Rng& rng);
// One uniform offset u; draw i is the first j with (i + u) / count < cumsum(p)[j]
// (_resampling_systematic).
std::vector<int> ResampleSystematic(const std::vector<double>& p, int count, Rng& rng);
// Entropic tempering with the ESS method (_temperature_annealing, _temperature_ess): with
// ess_ratio = 1 / sum(clip(p)^2) / num_free (the particles drawn, which its_hub divides by: in
// Particle Gibbs p also holds the reference particles), the temperature is max(1, (1 /
// ess_ratio) * (1 - progress)) while ess_ratio < ess_threshold and progress < early_phase,
// else 1 (and 1 when num_free <= 1).
double EntropicTemperature(const std::vector<double>& p, int num_free, double progress,
                           double ess_threshold, double early_phase);

}  // namespace ponder::samplers::internal

#endif  // PONDER_SAMPLERS_RESAMPLING_H_
