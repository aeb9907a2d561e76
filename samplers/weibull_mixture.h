// The reasoning-pruning model of RPC (Zhou et al. 2025, "Bridging Internal Probability and
// Self-Consistency for Effective and Efficient LLM Reasoning"; code: WNJXYK/RPC,
// compute_rpc.py): the path probabilities of K sampled reasoning paths are modelled as a
// two-component Weibull mixture fitted by maximum likelihood, and a path is pruned when it
// more likely belongs to the low-probability component and lies below the mean.
#ifndef PONDER_SAMPLERS_WEIBULL_MIXTURE_H_
#define PONDER_SAMPLERS_WEIBULL_MIXTURE_H_

#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace ponder::samplers {

// w * Weibull(k1, lambda1) + (1 - w) * Weibull(k2, lambda2); after FitWeibullMixture the first
// component is the one with the larger mean lambda * Gamma(1 + 1/k) ("high").
struct WeibullMixture {
  double w = 0.5, k1 = 1, lambda1 = 1, k2 = 1.5, lambda2 = 2;

  double NegativeLogLikelihood(std::span<const double> x) const;
  // Posterior probability that x came from the first component.
  double FirstComponentProbability(double x) const;
};

double WeibullPdf(double x, double k, double lambda);
double WeibullMean(double k, double lambda);

// Maximum-likelihood fit as compute_rpc.py does it: start (w, k1, l1, k2, l2) = (0.5, 1, 1,
// 1.5, 2), bounds w in [0.2, 0.8] and the rest >= 0.01, a bounded quasi-Newton method (SciPy's
// L-BFGS-B there; NLopt's L-BFGS with analytic gradients here), then the components are ordered
// so that the first has the larger mean. Errors only for empty or non-positive input.
absl::StatusOr<WeibullMixture> FitWeibullMixture(std::span<const double> x);

// RPC's pruning rule: prune path i iff P(low | p_i) > P(high | p_i) and p_i < mean(p).
std::vector<bool> PrunePaths(const WeibullMixture& fit, std::span<const double> p);

}  // namespace ponder::samplers

#endif  // PONDER_SAMPLERS_WEIBULL_MIXTURE_H_
