#include "orchestrator/results/results_db.h"

#include <algorithm>
#include <filesystem>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::results {
namespace {

using orchestrator::sqlite::Statement;

template <typename T>
bool AnyOf(const std::vector<T>& allowed, const T& value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

// Runs with their candidates summarised. ?1: the experiment, ?2: the verifier's accept
// threshold. A NULL `correct` (not graded) drops out of count(correct) and the sums.
constexpr std::string_view kRunsSql = R"sql(
SELECT r.id, p.problem_index, p.source_id, r.strategy, r.budget_n, r.seed, r.status, r.error,
       r.answer, r.correct, r.prompt_tokens_requested, r.prompt_tokens_computed,
       r.generated_tokens, r.verifier_tokens, r.wall_seconds,
       coalesce(json_extract(r.diagnostics_json, '$.prefix_of_budget_n'), 0),
       coalesce(c.n, 0), coalesce(c.graded, 0), coalesce(c.correct, 0), c.selected_score,
       coalesce(c.wrong_scored, 0), coalesce(c.wrong_accepted, 0), r.budget_max_generated_tokens
FROM runs r
JOIN problems p ON p.id = r.problem_id
LEFT JOIN (
  SELECT run_id, count(*) AS n, count(correct) AS graded, sum(correct) AS correct,
         max(CASE WHEN selected = 1 THEN score END) AS selected_score,
         sum(correct = 0 AND score IS NOT NULL) AS wrong_scored,
         sum(correct = 0 AND score > ?2) AS wrong_accepted
  FROM candidates
  WHERE run_id IN (SELECT id FROM runs WHERE experiment_id = ?1)
  GROUP BY run_id) c ON c.run_id = r.id
WHERE r.experiment_id = ?1
ORDER BY r.id
)sql";

constexpr std::string_view kCandidatesSql = R"sql(
SELECT c.run_id, c.candidate_index, c.answer, c.answer_class, c.correct, c.num_tokens,
       c.mean_logprob, c.score, c.selected, c.pruned, c.finish_reason
FROM candidates c
WHERE c.run_id IN (SELECT id FROM runs WHERE experiment_id = ?1)
ORDER BY c.run_id, c.candidate_index
)sql";

std::optional<double> OptionalDouble(const Statement& row, int column) {
  if (row.ColumnIsNull(column)) return std::nullopt;
  return row.ColumnDouble(column);
}

}  // namespace

bool RunFilter::Matches(const RunRow& run) const {
  return AnyOf(strategies, run.strategy) && AnyOf(budgets, run.budget_n) &&
         AnyOf(problem_ids, run.problem_id) && AnyOf(seeds, run.seed) &&
         (run_id == 0 || run.run_id == run_id);
}

absl::StatusOr<std::unique_ptr<ResultsDb>> ResultsDb::Open(const std::string& path) {
  // A directory or a device is named as such; only a missing file is "no database".
  PONDER_RETURN_IF_ERROR(orchestrator::sqlite::CheckDatabasePath(path));
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat("no experiment database at '", path,
                                            "' (--db): run `ponder bench --db ", path,
                                            " ...` or point --db at a ponderd database"));
  }
  PONDER_ASSIGN_OR_RETURN(auto store, orchestrator::ExperimentStore::OpenForReading(path));
  PONDER_ASSIGN_OR_RETURN(orchestrator::sqlite::Database db,
                          orchestrator::sqlite::Database::Open(
                              path, orchestrator::sqlite::Database::Access::kQueryOnly));
  return std::unique_ptr<ResultsDb>(new ResultsDb(path, std::move(store), std::move(db)));
}

absl::StatusOr<std::vector<v1::Experiment>> ResultsDb::Experiments() {
  std::vector<v1::Experiment> all;
  int64_t before = 0;
  while (true) {
    PONDER_ASSIGN_OR_RETURN(std::vector<v1::Experiment> page,
                            store_->ListExperiments(before, 1000));
    if (page.empty()) break;
    before = page.back().id();
    for (v1::Experiment& e : page) all.push_back(std::move(e));
  }
  return all;
}

absl::StatusOr<v1::Experiment> ResultsDb::Experiment(int64_t experiment_id) {
  return store_->GetExperiment(experiment_id, /*with_cells=*/true);
}

absl::StatusOr<int64_t> ResultsDb::LatestExperimentId() {
  PONDER_ASSIGN_OR_RETURN(std::vector<v1::Experiment> newest, store_->ListExperiments(0, 1));
  if (newest.empty()) {
    return absl::NotFoundError(absl::StrCat("the database '", path_, "' has no experiments"));
  }
  return newest.front().id();
}

absl::Status ResultsDb::CheckFilterNames(const std::vector<int64_t>& experiment_ids,
                                         const RunFilter& filter) {
  std::vector<std::string> strategies;  // every name, in the experiments' order
  std::vector<int32_t> budgets;
  std::vector<uint64_t> seeds;
  auto add = [](auto& list, const auto& value) {
    if (absl::c_find(list, value) == list.end()) list.push_back(value);
  };
  for (int64_t id : experiment_ids) {
    PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment, Experiment(id));
    for (const v1::NamedStrategy& strategy : experiment.spec().strategies()) {
      add(strategies, strategy.name());
    }
    for (const v1::Budget& budget : experiment.spec().budgets()) add(budgets, budget.n());
    for (uint64_t seed : experiment.spec().seeds()) add(seeds, seed);
    if (experiment.spec().seeds().empty()) add(seeds, uint64_t{0});  // the runner's default
  }
  const std::string which = experiment_ids.size() == 1
                                ? absl::StrCat("experiment ", experiment_ids[0])
                                : absl::StrCat("experiments ", absl::StrJoin(experiment_ids, ", "));
  // The first of `wanted` that `ran` lacks, said as "--FLAG: experiment 1 ran no WHAT (it ran:
  // ...)".
  auto first_missing = [&which](std::string_view flag, const auto& wanted, const auto& ran,
                                auto what) -> absl::Status {
    for (const auto& value : wanted) {
      if (absl::c_find(ran, value) == ran.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", AsAbsl(flag), ": ", which, " ran no ", what(value),
                         " (it ran: ", absl::StrJoin(ran, ", "), ")"));
      }
    }
    return absl::OkStatus();
  };
  PONDER_RETURN_IF_ERROR(
      first_missing("strategy", filter.strategies, strategies, [](const std::string& name) {
        return absl::StrCat("strategy named '", Printable(name, 64), "'");
      }));
  PONDER_RETURN_IF_ERROR(first_missing("budget", filter.budgets, budgets,
                                       [](int32_t n) { return absl::StrCat("budget of ", n); }));
  PONDER_RETURN_IF_ERROR(first_missing("seed", filter.seeds, seeds,
                                       [](uint64_t seed) { return absl::StrCat("seed ", seed); }));
  PONDER_ASSIGN_OR_RETURN(
      Statement problem,
      db_.Prepare("SELECT 1 FROM problems WHERE experiment_id = ?1 AND source_id = ?2 LIMIT 1"));
  for (const std::string& id : filter.problem_ids) {
    bool found = false;
    for (int64_t experiment_id : experiment_ids) {
      problem.Reset();
      problem.BindInt(1, experiment_id);
      problem.BindText(2, id);
      PONDER_ASSIGN_OR_RETURN(found, problem.Step());
      if (found) break;
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("--problem: ", which, " has no problem with id '", Printable(id, 64), "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RunRow>> ResultsDb::Runs(int64_t experiment_id,
                                                    const RunFilter& filter) {
  PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment, Experiment(experiment_id));
  const std::map<std::string, bool> uses_verifier = StrategiesUsingVerifier(experiment.spec());
  PONDER_ASSIGN_OR_RETURN(Statement query, db_.Prepare(kRunsSql));
  query.BindInt(1, experiment_id);
  query.BindDouble(2, kVerifierAcceptThreshold);
  std::vector<RunRow> runs;
  while (true) {
    PONDER_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    RunRow run;
    run.experiment_id = experiment_id;
    run.run_id = query.ColumnInt(0);
    run.problem_index = static_cast<int32_t>(query.ColumnInt(1));
    run.problem_id = query.ColumnText(2);
    run.strategy = query.ColumnText(3);
    run.budget_n = static_cast<int32_t>(query.ColumnInt(4));
    run.seed = static_cast<uint64_t>(query.ColumnInt(5));
    run.succeeded = query.ColumnText(6) == "succeeded";
    run.error = query.ColumnText(7);
    run.answer = query.ColumnOptionalText(8);
    run.correct = query.ColumnOptionalBool(9);
    run.prompt_tokens_requested = query.ColumnInt(10);
    run.prompt_tokens_computed = query.ColumnInt(11);
    run.generated_tokens = query.ColumnInt(12);
    run.verifier_tokens = query.ColumnInt(13);
    run.wall_seconds = query.ColumnDouble(14);
    run.prefix_of_budget_n = static_cast<int32_t>(query.ColumnInt(15));
    run.candidates = static_cast<int32_t>(query.ColumnInt(16));
    run.candidates_graded = static_cast<int32_t>(query.ColumnInt(17));
    run.candidates_correct = static_cast<int32_t>(query.ColumnInt(18));
    run.selected_score = OptionalDouble(query, 19);
    run.wrong_candidates_scored = static_cast<int32_t>(query.ColumnInt(20));
    run.wrong_candidates_accepted = static_cast<int32_t>(query.ColumnInt(21));
    run.max_generated_tokens = query.ColumnInt(22);
    auto it = uses_verifier.find(run.strategy);
    run.uses_verifier = it != uses_verifier.end() && it->second;
    if (filter.Matches(run)) runs.push_back(std::move(run));
  }
  return runs;
}

absl::StatusOr<std::vector<CandidateRow>> ResultsDb::Candidates(int64_t experiment_id,
                                                                const RunFilter& filter,
                                                                int64_t limit) {
  PONDER_ASSIGN_OR_RETURN(std::vector<RunRow> runs, Runs(experiment_id, filter));
  std::map<int64_t, const RunRow*> by_id;
  for (const RunRow& run : runs) by_id[run.run_id] = &run;
  PONDER_ASSIGN_OR_RETURN(Statement query, db_.Prepare(kCandidatesSql));
  query.BindInt(1, experiment_id);
  std::vector<CandidateRow> candidates;
  while (limit <= 0 || static_cast<int64_t>(candidates.size()) < limit) {
    PONDER_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    auto run = by_id.find(query.ColumnInt(0));
    if (run == by_id.end()) continue;
    CandidateRow c;
    c.run_id = run->first;
    c.experiment_id = experiment_id;
    c.problem_id = run->second->problem_id;
    c.strategy = run->second->strategy;
    c.budget_n = run->second->budget_n;
    c.seed = run->second->seed;
    c.candidate_index = static_cast<int32_t>(query.ColumnInt(1));
    c.answer = query.ColumnOptionalText(2);
    c.answer_class = static_cast<int32_t>(query.ColumnInt(3));
    c.correct = query.ColumnOptionalBool(4);
    c.num_tokens = static_cast<int32_t>(query.ColumnInt(5));
    c.mean_logprob = query.ColumnDouble(6);
    c.score = OptionalDouble(query, 7);
    c.selected = query.ColumnInt(8) != 0;
    c.pruned = query.ColumnInt(9) != 0;
    c.finish_reason = query.ColumnText(10);
    candidates.push_back(std::move(c));
  }
  return candidates;
}

std::map<std::string, bool> StrategiesUsingVerifier(const v1::ExperimentSpec& spec) {
  std::map<std::string, bool> uses;
  for (const v1::NamedStrategy& s : spec.strategies()) {
    uses[s.name()] = s.config().verifier().kind_case() != v1::VerifierConfig::KIND_NOT_SET;
  }
  return uses;
}

absl::StatusOr<std::vector<CellMetrics>> ExperimentCells(ResultsDb& db, int64_t experiment_id,
                                                         const RunFilter& filter) {
  PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment, db.Experiment(experiment_id));
  // --budget and --run pick the cells shown, not the runs a cell's numbers come from: pass@n
  // draws on each problem's largest-budget run under the cell's token cap, whichever budgets are
  // shown. --run is its
  // problem, seed, strategy and budget.
  RunFilter every_budget = filter;
  std::vector<int32_t> shown_budgets = filter.budgets;
  if (filter.run_id != 0) {
    PONDER_ASSIGN_OR_RETURN(std::vector<RunRow> selected, db.Runs(experiment_id, filter));
    if (selected.empty()) return std::vector<CellMetrics>();
    const RunRow& run = selected.front();
    every_budget.run_id = 0;
    every_budget.strategies = {run.strategy};
    every_budget.problem_ids = {run.problem_id};
    every_budget.seeds = {run.seed};
    shown_budgets = {run.budget_n};
  }
  every_budget.budgets.clear();
  PONDER_ASSIGN_OR_RETURN(std::vector<RunRow> runs, db.Runs(experiment_id, every_budget));
  // Cells follow the spec's strategy order (ComputeCells orders by first appearance).
  std::map<std::string, int> order;
  for (const v1::NamedStrategy& s : experiment.spec().strategies()) {
    order.try_emplace(s.name(), static_cast<int>(order.size()));
  }
  std::vector<RunSample> samples(runs.begin(), runs.end());
  std::stable_sort(samples.begin(), samples.end(), [&](const RunSample& a, const RunSample& b) {
    return order[a.strategy] < order[b.strategy];
  });
  std::vector<CellMetrics> cells = ComputeCells(samples);
  std::erase_if(cells,
                [&](const CellMetrics& cell) { return !AnyOf(shown_budgets, cell.budget_n); });
  return cells;
}

absl::Status AddCellMetrics(ResultsDb& db, v1::Experiment& experiment) {
  PONDER_ASSIGN_OR_RETURN(std::vector<CellMetrics> cells,
                          ExperimentCells(db, experiment.id(), RunFilter{}));
  for (v1::ExperimentCell& cell : *experiment.mutable_cells()) {
    auto metrics = std::find_if(cells.begin(), cells.end(), [&](const CellMetrics& m) {
      return m.strategy == cell.strategy() && m.budget_n == cell.budget_n();
    });
    if (metrics == cells.end()) continue;
    if (metrics->pass_at_k) cell.set_pass_at_n(*metrics->pass_at_k);
    if (metrics->oracle) cell.set_oracle(*metrics->oracle);
    if (metrics->selected_false_positive_rate) {
      cell.set_selected_false_positive_rate(*metrics->selected_false_positive_rate);
    }
    if (metrics->candidate_false_positive_rate) {
      cell.set_candidate_false_positive_rate(*metrics->candidate_false_positive_rate);
    }
  }
  return absl::OkStatus();
}

}  // namespace ponder::results
