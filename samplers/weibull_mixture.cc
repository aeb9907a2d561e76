#include "samplers/weibull_mixture.h"

#include <nlopt.h>

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ponder::samplers {
namespace {

constexpr double kTiny = 1e-300;

// log f(x; k, lambda) and its partial derivatives in k and lambda.
struct LogPdf {
  double value, d_k, d_lambda;
};

LogPdf WeibullLogPdf(double x, double k, double lambda) {
  double log_ratio = std::log(x / lambda);
  double power = std::exp(k * log_ratio);  // (x / lambda)^k
  return {std::log(k) - std::log(lambda) + (k - 1) * log_ratio - power,
          1.0 / k + log_ratio - power * log_ratio,  // d/dk
          (k / lambda) * (power - 1.0)};            // d/dlambda
}

struct Problem {
  std::span<const double> x;
};

// Negative log-likelihood of the mixture and its gradient (NLopt objective).
double Objective(unsigned n, const double* params, double* gradient, void* data) {
  const auto& x = static_cast<Problem*>(data)->x;
  const double w = params[0], k1 = params[1], l1 = params[2], k2 = params[3], l2 = params[4];
  double nll = 0;
  double g[5] = {0, 0, 0, 0, 0};
  for (double xi : x) {
    LogPdf a = WeibullLogPdf(xi, k1, l1), b = WeibullLogPdf(xi, k2, l2);
    double fa = std::exp(a.value), fb = std::exp(b.value);
    double m = w * fa + (1 - w) * fb;
    if (!(m > kTiny)) m = kTiny;  // keeps the objective finite far out in the tails
    nll -= std::log(m);
    g[0] -= (fa - fb) / m;
    g[1] -= w * fa * a.d_k / m;
    g[2] -= w * fa * a.d_lambda / m;
    g[3] -= (1 - w) * fb * b.d_k / m;
    g[4] -= (1 - w) * fb * b.d_lambda / m;
  }
  if (gradient != nullptr) {
    for (unsigned i = 0; i < n; ++i) gradient[i] = std::isfinite(g[i]) ? g[i] : 0.0;
  }
  return std::isfinite(nll) ? nll : 1e300;
}

}  // namespace

double WeibullPdf(double x, double k, double lambda) {
  return (k / lambda) * std::pow(x / lambda, k - 1) * std::exp(-std::pow(x / lambda, k));
}

double WeibullMean(double k, double lambda) { return lambda * std::tgamma(1.0 + 1.0 / k); }

double WeibullMixture::NegativeLogLikelihood(std::span<const double> x) const {
  double params[5] = {w, k1, lambda1, k2, lambda2};
  Problem problem{x};
  return Objective(5, params, nullptr, &problem);
}

double WeibullMixture::FirstComponentProbability(double x) const {
  double a = w * WeibullPdf(x, k1, lambda1), b = (1 - w) * WeibullPdf(x, k2, lambda2);
  return a / (a + b);
}

absl::StatusOr<WeibullMixture> FitWeibullMixture(std::span<const double> x) {
  if (x.empty()) return absl::InvalidArgumentError("no path probabilities to fit");
  for (double xi : x) {
    if (!(xi > 0) || !std::isfinite(xi)) {
      return absl::InvalidArgumentError(absl::StrCat("path probability ", xi, " is not positive"));
    }
  }
  Problem problem{x};
  nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, 5);
  const double lower[5] = {0.2, 0.01, 0.01, 0.01, 0.01};
  const double upper[5] = {0.8, HUGE_VAL, HUGE_VAL, HUGE_VAL, HUGE_VAL};
  nlopt_set_lower_bounds(opt, lower);
  nlopt_set_upper_bounds(opt, upper);
  nlopt_set_min_objective(opt, Objective, &problem);
  // SciPy L-BFGS-B's defaults: ftol 2.2e-9 (relative), gtol 1e-5, at most 15000 iterations.
  nlopt_set_ftol_rel(opt, 2.2e-9);
  nlopt_set_maxeval(opt, 15000);
  nlopt_set_vector_storage(opt, 10);  // SciPy's maxcor
  double params[5] = {0.5, 1.0, 1.0, 1.5, 2.0};
  double value = 0;
  nlopt_result code = nlopt_optimize(opt, params, &value);
  nlopt_destroy(opt);
  // Running out of evaluations or hitting roundoff still leaves the best point found; only a
  // failure to start is an error (then RPC proceeds without pruning).
  if (code < 0 && code != NLOPT_ROUNDOFF_LIMITED) {
    return absl::InternalError(
        absl::StrCat("Weibull mixture fit failed (NLopt code ", static_cast<int>(code), ")"));
  }
  WeibullMixture fit{params[0], params[1], params[2], params[3], params[4]};
  if (WeibullMean(fit.k1, fit.lambda1) < WeibullMean(fit.k2, fit.lambda2)) {
    std::swap(fit.k1, fit.k2);
    std::swap(fit.lambda1, fit.lambda2);
    fit.w = 1 - fit.w;
  }
  return fit;
}

std::vector<bool> PrunePaths(const WeibullMixture& fit, std::span<const double> p) {
  double mean = std::accumulate(p.begin(), p.end(), 0.0) / static_cast<double>(p.size());
  std::vector<bool> pruned(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    double high = fit.FirstComponentProbability(p[i]);
    pruned[i] =
        high < 1.0 - high && p[i] < mean;  // compute_rpc.py: p1 < p2 and proba_i < mean_proba
  }
  return pruned;
}

}  // namespace ponder::samplers
