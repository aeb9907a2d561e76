#include "samplers/resampling.h"

#include <algorithm>
#include <cmath>

namespace ponder::samplers::internal {

double InverseSigmoid(double r) {
  r = std::clamp(r, 1e-7, 1 - 1e-7);
  return std::log(r / (1 - r));
}

std::vector<double> Softmax(const std::vector<double>& x) {
  double max = *std::max_element(x.begin(), x.end());
  std::vector<double> p(x.size());
  double total = 0;
  for (size_t i = 0; i < x.size(); ++i) total += (p[i] = std::exp(x[i] - max));
  for (double& v : p) v /= total;
  return p;
}

std::vector<int> ResampleMultinomial(const std::vector<double>& p, int count, Rng& rng) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) {
    double u = rng.Uniform(), cumulative = 0;
    int chosen = static_cast<int>(p.size()) - 1;
    for (size_t j = 0; j < p.size(); ++j) {
      cumulative += p[j];
      if (u < cumulative) {
        chosen = static_cast<int>(j);
        break;
      }
    }
    out.push_back(chosen);
  }
  return out;
}

std::vector<int> ResampleSystematic(const std::vector<double>& p, int count, Rng& rng) {
  std::vector<int> out;
  double u = rng.Uniform(), cumulative = p[0];
  size_t j = 0;
  for (int i = 0; i < count; ++i) {
    double position = (i + u) / count;
    while (position >= cumulative && j + 1 < p.size()) cumulative += p[++j];
    out.push_back(static_cast<int>(j));
  }
  return out;
}

double EntropicTemperature(const std::vector<double>& p, int num_free, double progress,
                           double ess_threshold, double early_phase) {
  if (num_free <= 1) return 1.0;
  double sum_sq = 0;
  for (double v : p) {
    double c = std::clamp(v, 1e-7, 1 - 1e-7);
    sum_sq += c * c;
  }
  double ess_ratio = (1.0 / sum_sq) / static_cast<double>(num_free);
  if (ess_ratio < ess_threshold && progress < early_phase) {
    return ess_ratio <= 0 ? 1.0 : std::max(1.0, 1.0 / ess_ratio * (1 - progress));
  }
  return 1.0;
}

}  // namespace ponder::samplers::internal
