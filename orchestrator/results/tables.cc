#include "orchestrator/results/tables.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "orchestrator/store/experiment_store.h"

namespace ponder::results {
namespace {

using nlohmann::json;

json Optional(const std::optional<double>& value) {
  return value.has_value() ? json(*value) : json(nullptr);
}
json Optional(const std::optional<bool>& value) {
  return value.has_value() ? json(*value) : json(nullptr);
}
json Optional(const std::optional<std::string>& value, int width = 0) {
  if (!value.has_value()) return nullptr;
  if (width > 0 && static_cast<int>(value->size()) > width) {
    return value->substr(0, static_cast<size_t>(width)) + "...";
  }
  return *value;
}

Column Left(std::string name) { return {std::move(name), 0, true}; }
Column Int(std::string name) { return {std::move(name), 0, false}; }
Column Real(std::string name, int precision) { return {std::move(name), precision, false}; }

}  // namespace

std::string StatusText(v1::ExperimentStatus status) {
  return std::string(orchestrator::ExperimentStatusName(status));
}

Table ExperimentsTable(const std::vector<v1::Experiment>& experiments) {
  Table table({Int("id"), Left("name"), Left("status"), Left("dataset"), Int("recorded"),
               Int("planned"), Int("failed"), Int("problems"), Left("created (UTC)"),
               Left("model")});
  for (const v1::Experiment& e : experiments) {
    const absl::Time created = absl::FromUnixSeconds(e.create_time().seconds());
    table.AddRow({e.id(), e.spec().name(), StatusText(e.status()),
                  e.spec().has_dataset() && !e.spec().dataset().name().empty()
                      ? json(e.spec().dataset().name())
                      : json("inline"),
                  e.runs_recorded(), e.runs_planned(), e.runs_failed(), e.problems(),
                  absl::FormatTime("%Y-%m-%d %H:%M:%S", created, absl::UTCTimeZone()), e.model()});
  }
  return table;
}

Table AccuracyTable(int64_t experiment_id, const std::vector<CellMetrics>& cells) {
  Table table({Int("experiment"), Left("strategy"), Int("n"), Int("runs"), Int("graded"),
               Int("correct"), Real("accuracy", 4), Real("ci95_low", 4), Real("ci95_high", 4),
               Real("pass@n", 4), Real("oracle", 4), Real("fpr_selected", 4),
               Real("fpr_candidates", 4)});
  for (const CellMetrics& c : cells) {
    // Nothing graded (no reference answers): no accuracy, as in `compare` and the charts.
    const std::optional<Interval>& ci = c.accuracy_ci;
    table.AddRow({experiment_id, c.strategy, c.budget_n, c.runs, c.graded, c.correct,
                  Optional(c.accuracy), ci ? json(ci->low) : json(nullptr),
                  ci ? json(ci->high) : json(nullptr), Optional(c.pass_at_k), Optional(c.oracle),
                  Optional(c.selected_false_positive_rate),
                  Optional(c.candidate_false_positive_rate)});
  }
  return table;
}

Table CostTable(int64_t experiment_id, const std::vector<CellMetrics>& cells) {
  Table table({Int("experiment"), Left("strategy"), Int("n"), Int("runs"), Int("failed"),
               Real("tokens/problem", 1), Real("prompt_requested/problem", 1),
               Real("prompt_computed/problem", 1), Real("verifier_tokens/problem", 1),
               Real("seconds/problem", 3), Real("seconds_total", 2), Int("prefix_runs")});
  for (const CellMetrics& c : cells) {
    table.AddRow({experiment_id, c.strategy, c.budget_n, c.runs, c.failed, c.mean_generated_tokens,
                  c.mean_prompt_tokens_requested, c.mean_prompt_tokens_computed,
                  c.mean_verifier_tokens, c.mean_wall_seconds, c.total_wall_seconds,
                  c.prefix_runs});
  }
  return table;
}

Table RunsTable(const std::vector<RunRow>& runs) {
  Table table({Int("run"), Left("problem"), Left("strategy"), Int("n"), Int("seed"), Left("status"),
               Left("answer"), Left("correct"), Int("candidates"), Int("candidates_correct"),
               Int("tokens"), Real("seconds", 3), Int("prefix_of_n")});
  for (const RunRow& r : runs) {
    table.AddRow({r.run_id, r.problem_id, r.strategy, r.budget_n, r.seed,
                  r.succeeded ? "succeeded" : "failed", Optional(r.answer, 24), Optional(r.correct),
                  r.candidates, r.candidates_correct, r.generated_tokens, r.wall_seconds,
                  r.prefix_of_budget_n > 0 ? json(r.prefix_of_budget_n) : json(nullptr)});
  }
  return table;
}

Table CandidatesTable(const std::vector<CandidateRow>& candidates, int answer_width) {
  Table table({Int("run"), Left("problem"), Left("strategy"), Int("n"), Int("candidate"),
               Left("answer"), Int("class"), Left("correct"), Real("score", 4), Left("selected"),
               Left("pruned"), Int("tokens"), Real("mean_logprob", 4), Left("finish")});
  for (const CandidateRow& c : candidates) {
    table.AddRow({c.run_id, c.problem_id, c.strategy, c.budget_n, c.candidate_index,
                  Optional(c.answer, answer_width), c.answer_class, Optional(c.correct),
                  Optional(c.score), c.selected, c.pruned, c.num_tokens, c.mean_logprob,
                  c.finish_reason});
  }
  return table;
}

Table CompareTable(const std::vector<std::pair<std::string, std::vector<CellMetrics>>>& sets) {
  // Columns: n, then per set and strategy its accuracy and tokens per problem.
  std::vector<Column> columns = {Int("n")};
  std::vector<std::pair<size_t, std::string>> series;  // (set, strategy) in order
  std::set<int32_t> budgets;
  for (size_t s = 0; s < sets.size(); ++s) {
    std::vector<std::string> seen;
    for (const CellMetrics& c : sets[s].second) {
      budgets.insert(c.budget_n);
      if (std::find(seen.begin(), seen.end(), c.strategy) != seen.end()) continue;
      seen.push_back(c.strategy);
      series.emplace_back(s, c.strategy);
      const std::string label =
          sets[s].first.empty() ? c.strategy : absl::StrCat(sets[s].first, ":", c.strategy);
      columns.push_back(Real(absl::StrCat(label, " accuracy"), 4));
      columns.push_back(Real(absl::StrCat(label, " tokens"), 1));
    }
  }
  Table table(std::move(columns));
  for (int32_t n : budgets) {
    std::vector<json> row = {n};
    for (const auto& [set, strategy] : series) {
      json accuracy = nullptr, tokens = nullptr;
      for (const CellMetrics& c : sets[set].second) {
        if (c.strategy != strategy || c.budget_n != n) continue;
        accuracy = Optional(c.accuracy);
        tokens = c.mean_generated_tokens;
      }
      row.push_back(accuracy);
      row.push_back(tokens);
    }
    table.AddRow(std::move(row));
  }
  return table;
}

}  // namespace ponder::results
