#include "orchestrator/results/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace ponder::results {

Interval WilsonInterval(int64_t successes, int64_t trials, double z) {
  if (trials <= 0) return {0, 1};
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z2 = z * z;
  const double denominator = 1 + z2 / n;
  const double center = (p + z2 / (2 * n)) / denominator;
  const double half = z / denominator * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

absl::StatusOr<double> PassAtK(int64_t n, int64_t c, int64_t k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("pass@k needs 0 <= c <= n and 1 <= k <= n; got n=", n, ", c=", c, ", k=", k));
  }
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i): no factorials, no overflow.
  double all_wrong = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) {
    all_wrong *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  }
  return 1.0 - all_wrong;
}

std::vector<CellMetrics> ComputeCells(std::span<const RunSample> runs) {
  // Strategies in order of first appearance, budgets ascending.
  std::map<std::string, size_t> strategy_order;
  for (const RunSample& run : runs) strategy_order.try_emplace(run.strategy, strategy_order.size());
  using CellKey = std::pair<size_t, int32_t>;
  std::map<CellKey, std::vector<const RunSample*>> by_cell;
  // The candidates of each (strategy, problem, seed)'s largest succeeded run under the same cap
  // on generated tokens: the pool pass@k is estimated from. (Samples under another cap come from
  // another distribution: pass@4 of runs capped at 1 token was read off an uncapped run's 8
  // candidates, 1.0 where none of them answered; QA of stop 35.)
  std::map<std::tuple<std::string, int32_t, uint64_t, int64_t>, const RunSample*> pool;
  for (const RunSample& run : runs) {
    by_cell[{strategy_order[run.strategy], run.budget_n}].push_back(&run);
    if (!run.succeeded || !run.correct.has_value() || run.candidates_graded == 0) continue;
    const RunSample*& best =
        pool[{run.strategy, run.problem_index, run.seed, run.max_generated_tokens}];
    if (best == nullptr || run.candidates_graded > best->candidates_graded) best = &run;
  }

  std::vector<CellMetrics> cells;
  for (const auto& [key, members] : by_cell) {
    CellMetrics cell;
    cell.strategy = members.front()->strategy;
    cell.budget_n = key.second;
    int64_t succeeded = 0, oracle_hits = 0, wrong_selected = 0, wrong_selected_accepted = 0;
    int64_t wrong_candidates = 0, wrong_candidates_accepted = 0;
    double pass_sum = 0;
    int64_t pass_count = 0;
    bool uses_verifier = false;
    for (const RunSample* run : members) {
      ++cell.runs;
      if (!run->succeeded) {
        ++cell.failed;
        continue;
      }
      ++succeeded;
      cell.mean_generated_tokens += static_cast<double>(run->generated_tokens);
      cell.mean_prompt_tokens_requested += static_cast<double>(run->prompt_tokens_requested);
      cell.mean_prompt_tokens_computed += static_cast<double>(run->prompt_tokens_computed);
      cell.mean_verifier_tokens += static_cast<double>(run->verifier_tokens);
      cell.total_wall_seconds += run->wall_seconds;
      if (run->prefix_of_budget_n > 0) ++cell.prefix_runs;
      uses_verifier = uses_verifier || run->uses_verifier;
      if (!run->correct.has_value()) continue;
      ++cell.graded;
      if (*run->correct) ++cell.correct;
      if (run->candidates_correct > 0) ++oracle_hits;
      if (run->uses_verifier) {
        if (!*run->correct && run->selected_score.has_value()) {
          ++wrong_selected;
          if (*run->selected_score > kVerifierAcceptThreshold) ++wrong_selected_accepted;
        }
        wrong_candidates += run->wrong_candidates_scored;
        wrong_candidates_accepted += run->wrong_candidates_accepted;
      }
      auto it =
          pool.find({run->strategy, run->problem_index, run->seed, run->max_generated_tokens});
      if (it != pool.end() && it->second->candidates_graded >= cell.budget_n) {
        absl::StatusOr<double> pass =
            PassAtK(it->second->candidates_graded, it->second->candidates_correct, cell.budget_n);
        if (pass.ok()) {
          pass_sum += *pass;
          ++pass_count;
        }
      }
    }
    if (succeeded > 0) {
      const double s = static_cast<double>(succeeded);
      cell.mean_generated_tokens /= s;
      cell.mean_prompt_tokens_requested /= s;
      cell.mean_prompt_tokens_computed /= s;
      cell.mean_verifier_tokens /= s;
      cell.mean_wall_seconds = cell.total_wall_seconds / s;
    }
    if (cell.graded > 0) {
      cell.accuracy = static_cast<double>(cell.correct) / static_cast<double>(cell.graded);
      cell.oracle = static_cast<double>(oracle_hits) / static_cast<double>(cell.graded);
      cell.accuracy_ci = WilsonInterval(cell.correct, cell.graded);
    }
    if (pass_count > 0) cell.pass_at_k = pass_sum / static_cast<double>(pass_count);
    if (uses_verifier && wrong_selected > 0) {
      cell.selected_false_positive_rate =
          static_cast<double>(wrong_selected_accepted) / static_cast<double>(wrong_selected);
    }
    if (uses_verifier && wrong_candidates > 0) {
      cell.candidate_false_positive_rate =
          static_cast<double>(wrong_candidates_accepted) / static_cast<double>(wrong_candidates);
    }
    cells.push_back(std::move(cell));
  }
  return cells;
}

}  // namespace ponder::results
