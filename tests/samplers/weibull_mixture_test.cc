// RPC's Weibull-mixture fit against SciPy's (make_rpc_golden.py runs compute_rpc.py's code).
#include "samplers/weibull_mixture.h"

#include <gtest/gtest.h>

#include <fstream>

#include "nlohmann/json.hpp"

namespace ponder::samplers {
namespace {

nlohmann::json Golden() {
  std::ifstream in(std::string(PONDER_SOURCE_DIR) + "/tests/samplers/rpc_golden.json");
  return nlohmann::json::parse(in);
}

TEST(WeibullMixtureTest, FitMatchesScipyAndPrunesTheSamePaths) {
  const nlohmann::json golden = Golden();  // kept alive for the loop (not a temporary)
  for (const nlohmann::json& c : golden["cases"]) {
    std::vector<double> p = c["p"].get<std::vector<double>>();
    SCOPED_TRACE(p.size());
    absl::StatusOr<WeibullMixture> fit = FitWeibullMixture(p);
    ASSERT_TRUE(fit.ok()) << fit.status();
    std::vector<double> expected = c["params"].get<std::vector<double>>();
    // Same optimum: the likelihood agrees closely, and so do the parameters.
    double nll = fit->NegativeLogLikelihood(p);
    EXPECT_LE(nll, c["nll"].get<double>() + 1e-4 * std::fabs(c["nll"].get<double>()));
    EXPECT_NEAR(fit->w, expected[0], 0.02);
    EXPECT_NEAR(fit->k1, expected[1], 0.05 * expected[1]);
    EXPECT_NEAR(fit->lambda1, expected[2], 0.01 * expected[2]);
    // A second component left at the scale bound has a density of 0 at every path, so its shape
    // is undetermined (SciPy and NLopt stop at different ones); the cases of tight clusters of
    // high probabilities end there in both, and nothing is pruned (RPC is then perplexity
    // consistency alone, in the reference as here).
    if (expected[4] > 0.01 + 1e-9) {
      EXPECT_NEAR(fit->k2, expected[3], 0.05 * expected[3]);
    }
    EXPECT_NEAR(fit->lambda2, expected[4], 0.02 * expected[4]);
    EXPECT_EQ(PrunePaths(*fit, p), c["pruned"].get<std::vector<bool>>());
  }
}

TEST(WeibullMixtureTest, FirstComponentHasTheLargerMean) {
  std::vector<double> p = {0.9, 0.92, 0.88, 0.95, 0.3, 0.25, 0.91, 0.93};
  absl::StatusOr<WeibullMixture> fit = FitWeibullMixture(p);
  ASSERT_TRUE(fit.ok());
  EXPECT_GE(WeibullMean(fit->k1, fit->lambda1), WeibullMean(fit->k2, fit->lambda2));
  EXPECT_GE(fit->w, 0.2);
  EXPECT_LE(fit->w, 0.8);
}

TEST(WeibullMixtureTest, RejectsEmptyAndNonPositiveInput) {
  EXPECT_FALSE(FitWeibullMixture({}).ok());
  std::vector<double> bad = {0.5, 0.0};
  EXPECT_FALSE(FitWeibullMixture(bad).ok());
}

}  // namespace
}  // namespace ponder::samplers
