// Metrics of benchmark results: accuracy with a confidence interval, the unbiased pass@k
// estimator (coverage), and per-cell summaries of runs read from the experiment store.
//
// Everything here is a pure function of its inputs, so `ponder query`, `ponder report` and the
// tests compute the same numbers from the same rows.
#ifndef PONDER_ORCHESTRATOR_RESULTS_METRICS_H_
#define PONDER_ORCHESTRATOR_RESULTS_METRICS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ponder::results {

// z of a two-sided 95% normal interval.
inline constexpr double kZ95 = 1.959963984540054;

struct Interval {
  double low = 0;
  double high = 1;
};

// The Wilson score interval for `successes` of `trials` (Wilson 1927; Brown, Cai & DasGupta
// 2001 recommend it over the normal approximation, which collapses to a point at 0% and 100%
// and leaves [0, 1] for small samples). [0, 1] when trials is 0.
Interval WilsonInterval(int64_t successes, int64_t trials, double z = kZ95);

// The unbiased estimator of pass@k from n samples of which c are correct (Chen et al. 2021,
// "Evaluating Large Language Models Trained on Code", eq. 1 and its numerically stable form):
//   pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k / i),
// exactly 1 when n - c < k. "Large Language Monkeys" (Brown et al. 2024) reports it as
// coverage. InvalidArgument unless 0 <= c <= n and 1 <= k <= n.
absl::StatusOr<double> PassAtK(int64_t n, int64_t c, int64_t k);

// One run as the metrics need it (orchestrator/results/results_db.h reads them).
struct RunSample {
  std::string strategy;
  int32_t budget_n = 0;
  int64_t max_generated_tokens = 0;  // the budget's cap on generated tokens (0: none)
  int32_t problem_index = 0;
  uint64_t seed = 0;
  bool succeeded = true;
  std::optional<bool> correct;  // nullopt: not graded (or failed)
  int64_t prompt_tokens_requested = 0;
  int64_t prompt_tokens_computed = 0;
  int64_t generated_tokens = 0;
  int64_t verifier_tokens = 0;
  double wall_seconds = 0;
  // > 0: evaluated on the first budget_n samples of the run at this budget (efficient budgets).
  int32_t prefix_of_budget_n = 0;
  // Candidates of the run, and of those graded, how many are correct.
  int32_t candidates = 0;
  int32_t candidates_graded = 0;
  int32_t candidates_correct = 0;
  // Verifier-based strategies: the verifier's score of the selected candidate (the highest
  // among the members of a selected answer class), and per wrong graded candidate with a score,
  // whether the verifier called it correct.
  std::optional<double> selected_score;
  int32_t wrong_candidates_scored = 0;
  int32_t wrong_candidates_accepted = 0;
  bool uses_verifier = false;
};

// One strategy at one budget.
struct CellMetrics {
  std::string strategy;
  int32_t budget_n = 0;
  int64_t runs = 0;  // recorded, succeeded or failed
  int64_t failed = 0;
  int64_t graded = 0;
  int64_t correct = 0;
  // correct / graded and its 95% Wilson interval; unset when nothing is graded (no reference
  // answers), which no output may show as 0.
  std::optional<double> accuracy;
  std::optional<Interval> accuracy_ci;
  // Coverage: the mean over graded (problem, seed) of pass@budget_n estimated from the
  // candidates of that problem's largest-budget run of the strategy under the same cap on
  // generated tokens (n samples, c correct).
  // Unset when no such run has budget_n candidates or more. For step-level searches the
  // candidates are not independent draws: read it as an oracle rate there.
  std::optional<double> pass_at_k;
  // Share of graded runs with at least one correct candidate (oracle selection); unset where
  // the candidates are not known (a running experiment's cells as the server reports them).
  std::optional<double> oracle;
  // Means per run (= per problem and seed) over succeeded runs.
  double mean_generated_tokens = 0;
  double mean_prompt_tokens_requested = 0;
  double mean_prompt_tokens_computed = 0;
  double mean_verifier_tokens = 0;
  double mean_wall_seconds = 0;
  double total_wall_seconds = 0;
  int64_t prefix_runs = 0;  // runs evaluated on a prefix of a larger budget's samples
  // Verifier-based strategies only: of the graded runs whose chosen answer is wrong, the share
  // whose verifier score is above the threshold (the verifier accepted a wrong answer); and of all
  // wrong candidates, the share the verifier accepted.
  std::optional<double> selected_false_positive_rate;
  std::optional<double> candidate_false_positive_rate;
};

// A verifier calls a solution correct when its score is above this: more likely right than
// wrong. (A rule-based checker's neutral 0.5, "no opinion", is not acceptance.)
inline constexpr double kVerifierAcceptThreshold = 0.5;

// Cells sorted by strategy (first appearance in `runs`) then budget.
std::vector<CellMetrics> ComputeCells(std::span<const RunSample> runs);

}  // namespace ponder::results

#endif  // PONDER_ORCHESTRATOR_RESULTS_METRICS_H_
