// `ponder query`: tables of benchmark results from an experiment database.
//
//   ponder query --db FILE (experiments|accuracy|cost|runs|candidates|compare)
//                [--experiment ID]... [--strategy NAME]... [--budget N,...] [--problem ID]...
//                [--seed S]... [--run ID] [--limit N] [--format table|csv|json]
//
// Without --experiment the newest experiment is shown. The numbers are those of `ponder report`
// (orchestrator/results/tables.h builds both).
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "cli/command.h"
#include "orchestrator/results/results_db.h"
#include "orchestrator/results/tables.h"

namespace ponder::cli {
namespace {

using results::Table;

struct QueryFlags {
  std::string db, format = "table";
  std::vector<std::string> experiments, strategies, budgets, problems, seeds;
  int64_t run = 0, limit = 0;
  int answer_width = 24;
};

template <typename T>
absl::Status ParseNumbers(const std::vector<std::string>& values, std::string_view flag,
                          std::vector<T>& out) {
  for (const std::string& value : values) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      T number{};
      if (!absl::SimpleAtoi(part, &number)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", AsAbsl(flag), ": '", part, "' is not a number"));
      }
      out.push_back(number);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Render(const Table& table, const std::string& format) {
  if (format == "table") return table.ToText();
  if (format == "csv") return table.ToCsv();
  if (format == "json") return table.ToJson();
  return absl::InvalidArgumentError(
      absl::StrCat("--format must be table, csv or json, got '", format, "'"));
}

// Appends `more`'s rows to `table` (same columns).
void Append(Table& table, const Table& more) {
  for (const auto& row : more.rows()) table.AddRow(row);
}

absl::Status Query(std::span<char* const> args) {
  QueryFlags f;
  FlagParser flags(
      "ponder query --db FILE (experiments|accuracy|cost|runs|candidates|compare) "
      "[--experiment ID]... [--strategy NAME]... [--budget N,...] [--format table|csv|json]");
  flags.AddString("db", &f.db, "the experiment database (ponder bench --db, ponderd --db)");
  flags.AddStringList("experiment", &f.experiments,
                      "experiment ids, comma-separated or repeated (default: the newest)");
  flags.AddStringList("strategy", &f.strategies, "only these strategies (by name; repeatable)");
  flags.AddStringList("budget", &f.budgets, "only these budgets n (comma-separated)");
  flags.AddStringList("problem", &f.problems, "only these problem ids (repeatable)");
  flags.AddStringList("seed", &f.seeds, "only these seeds (comma-separated)");
  flags.AddInt("run", &f.run, "only this run id");
  flags.AddInt("limit", &f.limit, "runs, candidates: at most this many rows (default: all)");
  flags.AddInt("answer-width", &f.answer_width,
               "runs, candidates: cut answers to this many characters (0: whole)");
  flags.AddString("format", &f.format, "table (default), csv or json");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (f.db.empty()) return absl::InvalidArgumentError("--db FILE is required");
  constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();
  PONDER_RETURN_IF_ERROR(CheckFlagRange("limit", f.limit, 0, kNoLimit, "0: all rows"));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("answer-width", f.answer_width, 0, kNoLimit, "0: whole"));
  if (flags.positional().size() != 1) {
    return absl::InvalidArgumentError(
        "give one table: experiments, accuracy, cost, runs, candidates or compare");
  }
  const std::string& what = flags.positional()[0];
  results::RunFilter filter;
  filter.strategies = f.strategies;
  filter.problem_ids = f.problems;
  filter.run_id = f.run;
  PONDER_RETURN_IF_ERROR(ParseNumbers(f.budgets, "budget", filter.budgets));
  PONDER_RETURN_IF_ERROR(ParseNumbers(f.seeds, "seed", filter.seeds));
  std::vector<int64_t> ids;
  PONDER_RETURN_IF_ERROR(ParseNumbers(f.experiments, "experiment", ids));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (std::find(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i), ids[i]) !=
        ids.begin() + static_cast<std::ptrdiff_t>(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--experiment: ", ids[i], " is given twice; give each experiment once"));
    }
  }

  PONDER_ASSIGN_OR_RETURN(auto db, results::ResultsDb::Open(f.db));
  if (what == "experiments") {
    PONDER_ASSIGN_OR_RETURN(std::vector<v1::Experiment> experiments, db->Experiments());
    PONDER_ASSIGN_OR_RETURN(std::string text,
                            Render(results::ExperimentsTable(experiments), f.format));
    std::fwrite(text.data(), 1, text.size(), stdout);  // all of it, NULs too
    return absl::OkStatus();
  }
  if (ids.empty()) {
    PONDER_ASSIGN_OR_RETURN(int64_t latest, db->LatestExperimentId());
    ids.push_back(latest);
  }
  PONDER_RETURN_IF_ERROR(db->CheckFilterNames(ids, filter));

  std::optional<Table> table;
  auto add = [&](const Table& part) {
    if (!table.has_value()) {
      table = part;
    } else {
      Append(*table, part);
    }
  };
  std::vector<std::pair<std::string, std::vector<results::CellMetrics>>> sets;
  for (int64_t id : ids) {
    if (what == "accuracy" || what == "cost" || what == "compare") {
      PONDER_ASSIGN_OR_RETURN(std::vector<results::CellMetrics> cells,
                              results::ExperimentCells(*db, id, filter));
      if (what == "accuracy") add(results::AccuracyTable(id, cells));
      if (what == "cost") add(results::CostTable(id, cells));
      if (what == "compare") {
        sets.emplace_back(ids.size() > 1 ? absl::StrCat("e", id) : "", std::move(cells));
      }
    } else if (what == "runs") {
      PONDER_ASSIGN_OR_RETURN(std::vector<results::RunRow> runs, db->Runs(id, filter));
      if (f.limit > 0 && static_cast<int64_t>(runs.size()) > f.limit) {
        runs.resize(static_cast<size_t>(f.limit));
      }
      add(results::RunsTable(runs));
    } else if (what == "candidates") {
      PONDER_ASSIGN_OR_RETURN(std::vector<results::CandidateRow> candidates,
                              db->Candidates(id, filter, f.limit));
      add(results::CandidatesTable(candidates, f.answer_width));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown table '", what, "' (experiments, accuracy, cost, runs, candidates, compare)"));
    }
  }
  if (what == "compare") table = results::CompareTable(sets);
  PONDER_ASSIGN_OR_RETURN(std::string text, Render(*table, f.format));
  std::fwrite(text.data(), 1, text.size(), stdout);  // all of it, NULs too
  return absl::OkStatus();
}

int RunQuery(std::span<char* const> args) { return ReportStatus("query", Query(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("query", "tables of benchmark results from an experiment database",
                        RunQuery);

}  // namespace ponder::cli
