// `ponder bench`, `ponder query` and `ponder report` end to end, as child processes: a
// benchmark on the built-in task and on slices of the real GSM8K and MATH-500 files, resume
// after an interruption, and the numbers in the database against what the CLI tables print
// and what the report plots — also in a real headless browser (chromium), when installed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "datasets/dataset.h"
#include "nlohmann/json.hpp"
#include "orchestrator/builtin_datasets.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/store/sqlite.h"
#include "tests/orchestrator/ponderd_process.h"
#include "tests/orchestrator/test_util.h"

namespace ponder::orchestrator {
namespace {

using testing::BinaryPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::TempPath;

struct CommandResult {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandResult RunBinary(const std::string& binary, const std::vector<std::string>& args,
                        absl::Duration timeout = absl::Seconds(50)) {
  ChildProcess child;
  const std::string err_path = TempPath("stderr.txt");
  CommandResult result;
  if (!child.Start(binary, args, err_path)) return result;
  result.out = child.ReadAll();
  result.code = child.Wait(timeout);
  result.err = ReadFile(err_path);
  return result;
}

CommandResult Ponder(const std::vector<std::string>& args) {
  return RunBinary(BinaryPath("ponder"), args);
}

// The rows of a query over the database, as text per column (NULL reads as "").
std::vector<std::vector<std::string>> Sql(const std::string& db_path, const std::string& sql) {
  auto db = sqlite::Database::Open(db_path);
  EXPECT_TRUE(db.ok()) << db.status();
  auto statement = db->Prepare(sql);
  EXPECT_TRUE(statement.ok()) << statement.status();
  std::vector<std::vector<std::string>> rows;
  if (!statement.ok()) return rows;
  while (true) {
    auto row = statement->Step();
    EXPECT_TRUE(row.ok()) << row.status();
    if (!row.ok() || !*row) break;
    std::vector<std::string>& out = rows.emplace_back();
    for (int c = 0; c < statement->ColumnCount(); ++c) {
      out.push_back(statement->ColumnIsNull(c) ? "" : statement->ColumnText(c));
    }
  }
  return rows;
}

// The first column of the query's first row; a failure (and "") when there is no row.
std::string SqlText(const std::string& db_path, const std::string& sql) {
  std::vector<std::vector<std::string>> rows = Sql(db_path, sql);
  if (rows.empty() || rows[0].empty()) {
    ADD_FAILURE() << "no row from " << sql;
    return "";
  }
  return rows[0][0];
}

int64_t SqlInt(const std::string& db_path, const std::string& sql) {
  auto db = sqlite::Database::Open(db_path);
  EXPECT_TRUE(db.ok());
  auto value = db->QueryInt(sql);
  EXPECT_TRUE(value.ok()) << value.status() << " " << sql;
  return value.ok() ? *value : -1;
}

// The cells of the database computed by SQL alone: (strategy, n) -> runs, graded, correct,
// mean generated tokens.
struct SqlCell {
  int64_t runs = 0, graded = 0, correct = 0;
  double tokens = 0;
};
std::map<std::pair<std::string, int>, SqlCell> SqlCells(const std::string& db_path) {
  std::map<std::pair<std::string, int>, SqlCell> cells;
  for (const auto& row :
       Sql(db_path,
           "SELECT strategy, budget_n, count(*), count(correct), coalesce(sum(correct), 0), "
           "avg(generated_tokens) FROM runs GROUP BY strategy, budget_n")) {
    SqlCell cell;
    EXPECT_TRUE(absl::SimpleAtoi(row[2], &cell.runs));
    EXPECT_TRUE(absl::SimpleAtoi(row[3], &cell.graded));
    EXPECT_TRUE(absl::SimpleAtoi(row[4], &cell.correct));
    EXPECT_TRUE(absl::SimpleAtod(row[5], &cell.tokens));
    cells[{row[0], std::stoi(row[1])}] = cell;
  }
  return cells;
}

// The value of attribute `name` in the tag that starts at `at` ("" when absent). (No
// std::regex: GCC 12 warns inside it under the sanitizers.)
std::string Attribute(const std::string& html, size_t at, const std::string& name) {
  const size_t tag_end = html.find('>', at);
  const size_t found = html.find(" " + name + "=\"", at);
  if (found == std::string::npos || found > tag_end) return "";
  const size_t value = found + name.size() + 3;
  return html.substr(value, html.find('"', value) - value);
}

// The points of one figure of report.html: (series, x) -> y.
std::map<std::pair<std::string, double>, double> FigurePoints(const std::string& html,
                                                              const std::string& figure) {
  std::map<std::pair<std::string, double>, double> points;
  const size_t start = html.find(absl::StrCat("<figure id=\"", figure, "\">"));
  if (start == std::string::npos) return points;
  const size_t end = html.find("</figure>", start);
  for (size_t at = html.find("<circle class=\"point\"", start); at < end;
       at = html.find("<circle class=\"point\"", at + 1)) {
    points[{Attribute(html, at, "data-series"), std::stod(Attribute(html, at, "data-x"))}] =
        std::stod(Attribute(html, at, "data-y"));
  }
  return points;
}

// The texts of <td data-column="column"> cells in document order.
std::vector<std::string> HtmlColumn(const std::string& html, const std::string& column) {
  std::vector<std::string> values;
  const std::string cell = absl::StrCat("<td data-column=\"", column, "\"");
  for (size_t at = html.find(cell); at != std::string::npos; at = html.find(cell, at + 1)) {
    const size_t text = html.find('>', at) + 1;
    values.push_back(html.substr(text, html.find('<', text) - text));
  }
  return values;
}

class BenchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {}

  // `limit` 0: every problem (no --limit).
  std::vector<std::string> BenchArgs(const std::string& db, const std::string& dataset, int limit,
                                     const std::string& budgets) {
    std::vector<std::string> args = {"bench",
                                     "--model",
                                     testing::TinyModelPath(),
                                     "--dataset",
                                     dataset,
                                     "--strategy",
                                     "self_consistency",
                                     "--strategy",
                                     "bon={\"bestOfN\":{}}",
                                     "--verifier",
                                     "{\"arithmetic\":{}}",
                                     "--budget",
                                     budgets,
                                     "--max-tokens",
                                     "12",
                                     "--temperature",
                                     "1",
                                     "--threads",
                                     "2",
                                     "--db",
                                     db,
                                     "--progress-interval",
                                     "0"};
    if (limit > 0) args.insert(args.end(), {"--limit", std::to_string(limit)});
    return args;
  }
};

TEST_F(BenchCliTest, ArithBenchRecordsEveryRunAndQueryAndReportShowTheDatabasesNumbers) {
  const std::string db = TempPath("arith.db");
  std::vector<std::string> args = BenchArgs(db, "arith", 4, "1,2,4");
  args.insert(args.end(), {"--seeds", "2"});
  CommandResult bench = Ponder(args);
  ASSERT_EQ(bench.code, 0) << bench.err << bench.out;
  EXPECT_THAT(bench.out, HasSubstr("completed, 48 of 48 runs recorded"));
  // Plain progress lines (stderr is not a terminal), the last one at 100%.
  EXPECT_THAT(bench.err, HasSubstr("progress: 48/48 runs (100%)"));

  // 4 problems x 2 strategies x 3 budgets x 2 seeds; n = 1 and 2 read off the n = 4 samples.
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'"), 48);
  EXPECT_EQ(SqlInt(db,
                   "SELECT count(*) FROM runs WHERE "
                   "json_extract(diagnostics_json, '$.prefix_of_budget_n') = 4"),
            32);
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE correct IS NULL"), 0);
  EXPECT_EQ(SqlText(db, "SELECT dataset FROM experiments"), "arith:test[0:4]");
  const auto cells = SqlCells(db);
  ASSERT_EQ(cells.size(), 6u);

  // ponder query accuracy (JSON): every cell as SQL counts it.
  CommandResult accuracy = Ponder({"query", "--db", db, "accuracy", "--format", "json"});
  ASSERT_EQ(accuracy.code, 0) << accuracy.err;
  const nlohmann::json rows = nlohmann::json::parse(accuracy.out);
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& row : rows) {
    const SqlCell& cell = cells.at({row["strategy"].get<std::string>(), row["n"].get<int>()});
    EXPECT_EQ(row["runs"].get<int64_t>(), cell.runs);
    EXPECT_EQ(row["graded"].get<int64_t>(), cell.graded);
    EXPECT_EQ(row["correct"].get<int64_t>(), cell.correct);
    EXPECT_DOUBLE_EQ(row["accuracy"].get<double>(),
                     static_cast<double>(cell.correct) / static_cast<double>(cell.graded));
  }
  // ponder query cost (CSV): tokens per problem as SQL's average, to the printed decimal.
  CommandResult cost = Ponder({"query", "--db", db, "cost", "--format", "csv"});
  ASSERT_EQ(cost.code, 0) << cost.err;
  std::vector<std::string> lines = absl::StrSplit(cost.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_THAT(lines[0], HasSubstr("tokens/problem"));
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    const SqlCell& cell = cells.at({fields[1], std::stoi(fields[2])});
    EXPECT_EQ(fields[5], absl::StrFormat("%.1f", cell.tokens)) << lines[i];
    EXPECT_EQ(fields.back(), std::stoi(fields[2]) < 4 ? "8" : "0") << "prefix_runs";
  }
  // The aligned table names every strategy.
  CommandResult table = Ponder({"query", "--db", db, "accuracy"});
  EXPECT_THAT(table.out, HasSubstr("self_consistency"));
  EXPECT_THAT(table.out, HasSubstr("ci95_low"));
  CommandResult runs = Ponder({"query", "--db", db, "runs", "--format", "json"});
  EXPECT_EQ(nlohmann::json::parse(runs.out).size(), 48u);
  CommandResult candidates =
      Ponder({"query", "--db", db, "candidates", "--strategy", "bon", "--budget", "4"});
  ASSERT_EQ(candidates.code, 0) << candidates.err;
  EXPECT_EQ(std::count(candidates.out.begin(), candidates.out.end(), '\n'), 2 + 4 * 2 * 4);

  // ponder report: the plotted accuracies and the tables are the database's.
  const std::string out = TempPath("report");
  CommandResult report = Ponder({"report", "--db", db, "--out", out});
  ASSERT_EQ(report.code, 0) << report.err;
  const std::string html = ReadFile(out + "/report.html");
  const auto points = FigurePoints(html, "accuracy-vs-budget");
  ASSERT_EQ(points.size(), 6u);
  for (const auto& [key, cell] : cells) {
    const double accuracy = static_cast<double>(cell.correct) / static_cast<double>(cell.graded);
    EXPECT_NEAR(points.at({key.first, key.second}), accuracy, 1e-9);
  }
  EXPECT_EQ(FigurePoints(html, "accuracy-vs-tokens").size(), 6u);
  EXPECT_EQ(HtmlColumn(html, "accuracy").size(), 6u);
  EXPECT_EQ(ReadFile(out + "/accuracy.csv"),
            Ponder({"query", "--db", db, "accuracy", "--format", "csv"}).out);
  // Self-contained: nothing is fetched (the SVG namespace is a name, not a download).
  const std::string without_namespace =
      absl::StrReplaceAll(html, {{"xmlns=\"http://www.w3.org/2000/svg\"", ""}});
  EXPECT_THAT(without_namespace, ::testing::Not(HasSubstr("http")));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("<script")));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("<link")));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("url(")));
}

// A database written directly, with hand-chosen outcomes: the accuracies, intervals, pass@k and
// false-positive rates `ponder query` and the report show are the hand-computed ones.
std::string HandMadeDatabase() {
  const std::string path = TempPath("hand.db");
  auto store = ExperimentStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  NewExperiment experiment;
  experiment.spec.set_name("hand made");
  v1::NamedStrategy& sc = *experiment.spec.add_strategies();
  sc.set_name("sc");
  sc.mutable_config()->mutable_self_consistency();
  v1::NamedStrategy& bon = *experiment.spec.add_strategies();
  bon.set_name("bon");
  bon.mutable_config()->mutable_best_of_n();
  bon.mutable_config()->mutable_verifier()->mutable_arithmetic();
  experiment.spec.add_budgets()->set_n(1);
  experiment.spec.add_budgets()->set_n(4);
  for (int p = 0; p < 3; ++p) {
    v1::Problem& problem = experiment.problems.emplace_back();
    problem.set_id(absl::StrCat("p", p));
    problem.set_text("q");
    problem.set_reference_answer("1");
  }
  experiment.models.policy.path = "hand";
  experiment.dataset = "inline";
  experiment.code_version = "test";
  experiment.runs_planned = 12;
  experiment.create_time = absl::Now();
  auto id = store.ok() ? (*store)->CreateExperiment(experiment) : absl::StatusOr<int64_t>(0);
  EXPECT_TRUE(id.ok()) << id.status();

  // correct per (strategy, n, problem); candidates correct; selected candidate's score.
  struct Outcome {
    int strategy, budget, problem;
    bool correct;
    std::vector<bool> candidates_correct;
    double selected_score;
  };
  const std::vector<Outcome> outcomes = {
      {0, 0, 0, true, {true}, 0},
      {0, 0, 1, false, {false}, 0},
      {0, 0, 2, false, {false}, 0},
      {0, 1, 0, true, {true, false, true, false}, 0},  // 2 of 4: pass@1 = 1/2
      {0, 1, 1, false, {false, true, false, false}, 0},
      {0, 1, 2, false, {false, false, false, false}, 0},
      {1, 0, 0, true, {true}, 0.9},
      {1, 0, 1, false, {false}, 0.3},
      {1, 0, 2, false, {false}, 0.8},  // wrong, accepted by the verifier
      {1, 1, 0, true, {true, true, false, false}, 0.9},
      {1, 1, 1, false, {false, false, false, false}, 0.7},  // wrong, accepted
      {1, 1, 2, true, {false, true, false, false}, 0.6},
  };
  std::vector<RunRecord> records;
  for (const Outcome& o : outcomes) {
    RunRecord r;
    r.experiment_id = *id;
    r.key = {o.problem, o.strategy, o.budget, 0};
    r.strategy = o.strategy == 0 ? "sc" : "bon";
    r.budget.set_n(o.budget == 0 ? 1 : 4);
    r.correct = o.correct;
    r.candidate_correct = o.candidates_correct;
    r.finish_time = absl::Now();
    r.result.set_answer(o.correct ? "1" : "2");
    r.result.mutable_usage()->set_generated_tokens(100 * r.budget.n() + o.problem);
    r.result.mutable_usage()->set_wall_seconds(0.25 * r.budget.n());
    for (size_t i = 0; i < o.candidates_correct.size(); ++i) {
      v1::Candidate& c = *r.result.add_candidates();
      c.set_index(static_cast<int>(i));
      c.set_text("x");
      c.set_answer(o.candidates_correct[i] ? "1" : "2");
      c.set_num_tokens(100);
      // The selected candidate is one whose grade is the run's.
      const bool selected =
          o.candidates_correct[i] == o.correct &&
          std::find(o.candidates_correct.begin(),
                    o.candidates_correct.begin() + static_cast<long>(i),
                    o.correct) == o.candidates_correct.begin() + static_cast<long>(i);
      c.set_selected(selected);
      if (o.strategy == 1) c.set_score(selected ? o.selected_score : 0.1);
    }
    records.push_back(std::move(r));
  }
  if (store.ok()) {
    absl::Status inserted = (*store)->InsertRuns(records);
    EXPECT_TRUE(inserted.ok()) << inserted;
    EXPECT_TRUE((*store)->SetStatus(*id, v1::EXPERIMENT_STATUS_COMPLETED, "", absl::Now()).ok());
  }
  return path;
}

TEST(ResultsCliTest, QueryAndReportShowHandComputedMetrics) {
  const std::string db = HandMadeDatabase();
  CommandResult accuracy = Ponder({"query", "--db", db, "accuracy", "--format", "json"});
  ASSERT_EQ(accuracy.code, 0) << accuracy.err;
  const nlohmann::json rows = nlohmann::json::parse(accuracy.out);
  ASSERT_EQ(rows.size(), 4u);
  // Spec order: sc n=1, sc n=4, bon n=1, bon n=4.
  EXPECT_EQ(rows[0]["strategy"], "sc");
  EXPECT_EQ(rows[0]["n"], 1);
  EXPECT_NEAR(rows[0]["accuracy"].get<double>(), 1.0 / 3, 1e-12);
  // Wilson 95% for 1 of 3: [0.0615, 0.7923].
  EXPECT_NEAR(rows[0]["ci95_low"].get<double>(), 0.061492, 1e-4);
  EXPECT_NEAR(rows[0]["ci95_high"].get<double>(), 0.792340, 1e-4);
  // pass@1 from the n=4 candidates: (2/4 + 1/4 + 0) / 3 = 0.25.
  EXPECT_NEAR(rows[0]["pass@n"].get<double>(), 0.25, 1e-12);
  EXPECT_NEAR(rows[1]["accuracy"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(rows[1]["pass@n"].get<double>(), 2.0 / 3, 1e-12);  // pass@4 with n = 4
  EXPECT_NEAR(rows[1]["oracle"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_TRUE(rows[1]["fpr_selected"].is_null());  // self-consistency has no verifier
  // Best-of-N n=1: 2 wrong choices, one scored 0.8 (accepted) -> 1/2. n=4: the one wrong
  // choice scored 0.7 -> 1.
  EXPECT_NEAR(rows[2]["fpr_selected"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(rows[3]["fpr_selected"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(rows[3]["accuracy"].get<double>(), 2.0 / 3, 1e-12);

  CommandResult text = Ponder({"query", "--db", db, "accuracy"});
  EXPECT_THAT(text.out, HasSubstr("0.6667"));
  EXPECT_THAT(text.out, HasSubstr("0.0615"));
  CommandResult compare = Ponder({"query", "--db", db, "compare", "--format", "csv"});
  ASSERT_EQ(compare.code, 0) << compare.err;
  EXPECT_EQ(compare.out,
            "n,sc accuracy,sc tokens,bon accuracy,bon tokens\n"
            "1,0.3333,101.0,0.3333,101.0\n"
            "4,0.3333,401.0,0.6667,401.0\n");
  CommandResult cost = Ponder({"query", "--db", db, "cost", "--strategy", "bon", "--budget", "4"});
  EXPECT_THAT(cost.out, HasSubstr("401.0"));
  EXPECT_THAT(cost.out, HasSubstr("3.00"));  // 3 runs x 1 s

  const std::string out = TempPath("hand_report");
  ASSERT_EQ(Ponder({"report", "--db", db, "--out", out}).code, 0);
  const std::string html = ReadFile(out + "/report.html");
  const auto points = FigurePoints(html, "accuracy-vs-budget");
  EXPECT_NEAR(points.at({"sc", 1}), 1.0 / 3, 1e-9);
  EXPECT_NEAR(points.at({"sc", 4}), 1.0 / 3, 1e-9);
  EXPECT_NEAR(points.at({"bon", 4}), 2.0 / 3, 1e-9);
  const auto by_tokens = FigurePoints(html, "accuracy-vs-tokens");
  EXPECT_NEAR(by_tokens.at({"sc", 401}), 1.0 / 3, 1e-9);
  const auto coverage = FigurePoints(html, "coverage");
  EXPECT_NEAR(coverage.at({"sc", 1}), 0.25, 1e-9);
  EXPECT_THAT(HtmlColumn(html, "accuracy"),
              ::testing::ElementsAre("0.3333", "0.3333", "0.3333", "0.6667"));
  EXPECT_THAT(html, HasSubstr("hand made"));
}

// --budget picks the cells shown; it does not change their numbers: pass@n still comes from
// each problem's largest-budget run (here n = 4), not from the largest budget shown.
TEST(ResultsCliTest, BudgetFilterKeepsACellsPassAtN) {
  const std::string db = HandMadeDatabase();
  CommandResult shown =
      Ponder({"query", "--db", db, "accuracy", "--budget", "1", "--format", "json"});
  ASSERT_EQ(shown.code, 0) << shown.err;
  const nlohmann::json rows = nlohmann::json::parse(shown.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["strategy"], "sc");
  EXPECT_EQ(rows[0]["n"], 1);
  EXPECT_NEAR(rows[0]["pass@n"].get<double>(), 0.25, 1e-12);  // as without --budget
}

// --run shows the run's cell, with the pass@n of its problem's largest-budget run: sc n=1 on
// p0 draws on the n=4 run's candidates (2 of 4 correct: pass@1 = 1/2), not on its own one.
TEST(ResultsCliTest, RunFilterKeepsACellsPassAtN) {
  const std::string db = HandMadeDatabase();
  const int64_t run = SqlInt(db,
                             "SELECT runs.id FROM runs JOIN problems ON problems.id = "
                             "runs.problem_id WHERE strategy = 'sc' AND budget_n = 1 AND "
                             "problems.source_id = 'p0'");
  CommandResult shown =
      Ponder({"query", "--db", db, "accuracy", "--run", std::to_string(run), "--format", "json"});
  ASSERT_EQ(shown.code, 0) << shown.err;
  const nlohmann::json rows = nlohmann::json::parse(shown.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["strategy"], "sc");
  EXPECT_EQ(rows[0]["n"], 1);
  EXPECT_EQ(rows[0]["runs"], 1);
  EXPECT_NEAR(rows[0]["pass@n"].get<double>(), 0.5, 1e-12);
}

// --limit 0 ran every problem; compare --experiment 1,1 repeated its columns.
TEST(ResultsCliTest, ZeroLimitAndARepeatedExperimentAreRefused) {
  CommandResult limit = Ponder({"bench", "--model", "m.gguf", "--dataset", "arith", "--limit", "0",
                                "--strategy", "self_consistency", "--budget", "1"});
  EXPECT_EQ(limit.code, 2);
  EXPECT_THAT(limit.err, HasSubstr("--limit must be >= 1, got 0"));
  CommandResult twice =
      Ponder({"query", "--db", HandMadeDatabase(), "compare", "--experiment", "1,1"});
  EXPECT_EQ(twice.code, 2);
  EXPECT_THAT(twice.err, HasSubstr("--experiment: 1 is given twice"));
}

// A typo in a strategy name or problem id gave an empty table and exit 0 (QA of stop 35).
TEST(ResultsCliTest, AStrategyOrProblemTheExperimentLacksIsRefusedNamingWhatItHas) {
  const std::string db = HandMadeDatabase();
  CommandResult strategy = Ponder({"query", "--db", db, "accuracy", "--strategy", "bom"});
  EXPECT_EQ(strategy.code, 2);
  EXPECT_THAT(strategy.err,
              HasSubstr("--strategy: experiment 1 ran no strategy named 'bom' (it ran: sc, bon)"));
  CommandResult problem = Ponder({"query", "--db", db, "runs", "--problem", "p9"});
  EXPECT_EQ(problem.code, 2);
  EXPECT_THAT(problem.err, HasSubstr("--problem: experiment 1 has no problem with id 'p9'"));
  CommandResult budget = Ponder({"query", "--db", db, "accuracy", "--budget", "3"});
  EXPECT_EQ(budget.code, 2);
  EXPECT_THAT(budget.err, HasSubstr("--budget: experiment 1 ran no budget of 3 (it ran: "));
  CommandResult seed = Ponder({"query", "--db", db, "runs", "--seed", "77"});
  EXPECT_EQ(seed.code, 2);
  EXPECT_THAT(seed.err, HasSubstr("--seed: experiment 1 ran no seed 77 (it ran: "));
  CommandResult known =
      Ponder({"query", "--db", db, "runs", "--problem", "p1", "--strategy", "bon"});
  EXPECT_EQ(known.code, 0) << known.err;
  EXPECT_THAT(known.out, HasSubstr("bon"));
}

// `ponder query` only reads: a database in a directory its user may not write (where SQLite
// cannot create the write-ahead log's index) is read as it is on disk. Needs root, to run the
// query as another user.
TEST(ResultsCliTest, QueryReadsADatabaseInAReadOnlyDirectory) {
  if (geteuid() != 0 || !std::filesystem::exists("/usr/bin/setpriv")) {
    GTEST_SKIP() << "needs root and setpriv to query as an unprivileged user";
  }
  const std::string directory = TempPath("read_only");
  std::filesystem::create_directories(directory);
  const std::string db = directory + "/hand.db";
  std::filesystem::copy_file(HandMadeDatabase(), db);
  std::filesystem::permissions(db, std::filesystem::perms::others_read |
                                       std::filesystem::perms::owner_read |
                                       std::filesystem::perms::group_read);
  std::filesystem::permissions(directory, std::filesystem::perms::others_read |
                                              std::filesystem::perms::others_exec |
                                              std::filesystem::perms::owner_all);
  CommandResult query =
      RunBinary("/usr/bin/setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups",
                                     BinaryPath("ponder"), "query", "--db", db, "accuracy"});
  EXPECT_EQ(query.code, 0) << query.err;
  EXPECT_THAT(query.out, HasSubstr("0.6667"));
  EXPECT_FALSE(std::filesystem::exists(db + "-shm"));
}

// In a directory the user may not write, with a FILE-wal and no FILE-shm: an empty log is read
// past (the file holds every commit), a log holding changes is refused with the explanation,
// not SQLite's "unable to open database file".
TEST(ResultsCliTest, QueryInAReadOnlyDirectoryExplainsALogHoldingChanges) {
  if (geteuid() != 0 || !std::filesystem::exists("/usr/bin/setpriv")) {
    GTEST_SKIP() << "needs root and setpriv to query as an unprivileged user";
  }
  const std::string directory = TempPath("read_only_wal");
  std::filesystem::create_directories(directory);
  const std::string empty_log = directory + "/empty.db";
  std::filesystem::copy_file(HandMadeDatabase(), empty_log);
  std::ofstream(empty_log + "-wal").flush();
  const std::string changes = directory + "/changes.db";
  {
    // A writer's committed changes, still in its log: the file and log copied while it is open.
    const std::string source = HandMadeDatabase();
    auto writer = sqlite::Database::Open(source);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->Execute("PRAGMA wal_autocheckpoint = 0").ok());
    ASSERT_TRUE(writer->Execute("UPDATE experiments SET name = 'changed'").ok());
    ASSERT_GT(std::filesystem::file_size(source + "-wal"), 0u);
    std::filesystem::copy_file(source, changes);
    std::filesystem::copy_file(source + "-wal", changes + "-wal");
  }
  for (const std::string& file : {empty_log, empty_log + "-wal", changes, changes + "-wal"}) {
    std::filesystem::permissions(file, std::filesystem::perms::others_read |
                                           std::filesystem::perms::owner_read |
                                           std::filesystem::perms::group_read);
  }
  std::filesystem::permissions(directory, std::filesystem::perms::others_read |
                                              std::filesystem::perms::others_exec |
                                              std::filesystem::perms::owner_all);
  auto query_as_nobody = [&](const std::string& db) {
    return RunBinary("/usr/bin/setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups",
                                          BinaryPath("ponder"), "query", "--db", db, "accuracy"});
  };
  CommandResult empty = query_as_nobody(empty_log);
  EXPECT_EQ(empty.code, 0) << empty.err;
  EXPECT_THAT(empty.out, HasSubstr("0.6667"));
  CommandResult refused = query_as_nobody(changes);
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("its write-ahead log '" + changes + "-wal' holds changes"));
  EXPECT_FALSE(std::filesystem::exists(changes + "-shm"));
}

TEST(ResultsCliTest, ErrorsNameTheFlag) {
  CommandResult missing = Ponder({"query", "--db", TempPath("absent.db"), "accuracy"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no experiment database"));
  EXPECT_FALSE(std::filesystem::exists(TempPath("absent.db")));
  CommandResult table = Ponder({"query", "--db", HandMadeDatabase(), "nonsense"});
  EXPECT_EQ(table.code, 2);
  EXPECT_THAT(table.err, HasSubstr("unknown table 'nonsense'"));
  CommandResult bench = Ponder({"bench", "--model", "m.gguf", "--dataset", "arith"});
  EXPECT_EQ(bench.code, 2);
  EXPECT_THAT(bench.err, HasSubstr("--strategy is required"));
  CommandResult budget = Ponder({"bench", "--model", "m.gguf", "--dataset", "arith", "--strategy",
                                 "self_consistency", "--budget", "1,x"});
  EXPECT_EQ(budget.code, 2);
  EXPECT_THAT(budget.err, HasSubstr("--budget: 'x'"));
  // An in-memory database ran the benchmark, then could not read its table back.
  CommandResult memory = Ponder({"bench", "--model", "m.gguf", "--dataset", "arith", "--strategy",
                                 "self_consistency", "--budget", "1", "--db", ":memory:"});
  EXPECT_EQ(memory.code, 2);
  EXPECT_THAT(memory.err, HasSubstr("--db :memory:"));
}

// Values the fuzzer found: each is refused before any model is loaded, naming its flag.
TEST(ResultsCliTest, OutOfRangeValuesAndADirectoryAreRefusedNamingTheFlag) {
  const std::vector<std::string> common = {"bench",
                                           "--model",
                                           "m.gguf",
                                           "--strategy",
                                           "self_consistency",
                                           "--db",
                                           TempPath("refused.db")};
  auto bench = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return Ponder(args);
  };
  const std::string dir = TempPath("problems_dir");
  std::filesystem::create_directories(dir);
  CommandResult directory = bench({"--problems", dir, "--budget", "1"});
  EXPECT_EQ(directory.code, 2) << directory.err;
  EXPECT_THAT(directory.err, HasSubstr(dir + " is a directory"));
  // 2^31 wrapped to -2^31 on its way into budget.n.
  CommandResult wrapped = bench({"--dataset", "arith", "--budget", "1,2147483648"});
  EXPECT_EQ(wrapped.code, 2) << wrapped.err;
  EXPECT_THAT(wrapped.err, HasSubstr("--budget: 2147483648 is more than 4096"));
  // An explicit temperature that cannot be sampled at is not "the strategy's default".
  for (const std::string temperature : {"-1", "nan"}) {
    CommandResult run =
        bench({"--dataset", "arith", "--budget", "1", "--temperature", temperature});
    EXPECT_EQ(run.code, 2) << temperature << ": " << run.err;
    EXPECT_THAT(run.err, HasSubstr("--temperature must be 0 (greedy) or in [1e-6, 10]"))
        << temperature;
  }
  // A directory as --db was "disk I/O error".
  CommandResult db_directory = bench({"--dataset", "arith", "--budget", "1", "--db", dir});
  EXPECT_EQ(db_directory.code, 2) << db_directory.err;
  EXPECT_THAT(db_directory.err, HasSubstr("database '" + dir + "' is a directory"));
  // A negative --max-tokens was taken for "not given" (generate refused it).
  CommandResult tokens = bench({"--dataset", "arith", "--budget", "1", "--max-tokens", "-1"});
  EXPECT_EQ(tokens.code, 2) << tokens.err;
  EXPECT_THAT(tokens.err, HasSubstr("--max-tokens must be in [0, 1048576], got -1"));
  // query took a negative --limit or --answer-width for "all" / "whole".
  for (const auto& [flag, why] : std::vector<std::pair<std::string, std::string>>{
           {"--limit", "(0: all rows)"}, {"--answer-width", "(0: whole)"}}) {
    CommandResult query = Ponder({"query", "--db", HandMadeDatabase(), "runs", flag, "-3"});
    EXPECT_EQ(query.code, 2) << flag << ": " << query.err;
    EXPECT_THAT(query.err, HasSubstr(flag + " must be >= 0, got -3 " + why));
  }
}

// --problems: a JSONL file (what `ponder datasets export` writes, or a user's own) benchmarked
// as given — every line a problem with its id, reference and answer format — and a line that
// does not parse stops the benchmark naming the file and line.
TEST_F(BenchCliTest, ProblemsFileIsBenchmarkedAsGiven) {
  const std::string path = TempPath("problems.jsonl");
  {
    std::ofstream out(path);
    out << R"({"id":"test/0","problem":"Ann has 3 apples and gets 4 more. How many?","answer":"7"})"
        << "\n\n"  // blank lines are skipped
        << R"({"question":"What is 6 x 7?","answer":42})"
        << "\n"
        << R"({"problem":"Simplify 2/4.","answer":"\\frac{1}{2}","id":9})"
        << "\n"
        << R"({"problem":"Name a prime.","answer_format":"math"})"
        << "\n";
  }
  const std::string db = TempPath("problems.db");
  std::vector<std::string> args = BenchArgs(db, "", 0, "1,2");
  args.erase(args.begin() + 3, args.begin() + 5);  // no --dataset
  args.insert(args.end(), {"--problems", path});
  CommandResult bench = Ponder(args);
  ASSERT_EQ(bench.code, 0) << bench.err << bench.out;
  EXPECT_THAT(bench.out, HasSubstr("completed, 16 of 16 runs recorded"));
  const auto first_column = [](const std::string& db_path, const std::string& sql) {
    std::vector<std::string> values;
    for (const std::vector<std::string>& row : Sql(db_path, sql)) values.push_back(row.at(0));
    return values;
  };
  EXPECT_THAT(
      first_column(db,
                   "SELECT source_id || '|' || answer_format || '|' || "
                   "coalesce(reference_answer, 'none') FROM problems ORDER BY problem_index"),
      ::testing::ElementsAre("test/0|gsm8k|7", "line 3|gsm8k|42", "9|math|\\frac{1}{2}",
                             "line 5|math|none"));
  EXPECT_EQ(SqlText(db, "SELECT name FROM experiments"), "bench " + path);
  // Graded where a reference is given, ungraded where not.
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE correct IS NULL"), 4);

  // --offset/--limit pick rows of the file (blank lines do not count).
  const std::string sliced_db = TempPath("sliced.db");
  std::vector<std::string> sliced = BenchArgs(sliced_db, "", 0, "1");
  sliced.erase(sliced.begin() + 3, sliced.begin() + 5);  // no --dataset
  sliced.insert(sliced.end(), {"--problems", path, "--offset", "1", "--limit", "2"});
  CommandResult slice = Ponder(sliced);
  ASSERT_EQ(slice.code, 0) << slice.err << slice.out;
  EXPECT_THAT(first_column(sliced_db, "SELECT source_id FROM problems ORDER BY problem_index"),
              ::testing::ElementsAre("line 3", "9"));

  {
    std::ofstream out(path, std::ios::app);
    out << R"({"problem": 3, "answer": "1"})"
        << "\n";
  }
  CommandResult bad = Ponder(args);
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr(path + ":6: needs a non-empty string \"problem\""));
  // A number beyond a double is the same FILE:LINE error (it was an uncaught exception, rc 134),
  // found before any database is created.
  const std::string overflow = TempPath("overflow.jsonl");
  std::ofstream(overflow) << R"({"problem": "1+2?", "answer": "3"})"
                          << "\n"
                          << R"({"problem": "1+2?", "answer": 1e400})"
                          << "\n";
  const std::string overflow_db = TempPath("overflow.db");
  std::vector<std::string> overflow_args = BenchArgs(overflow_db, "", 0, "1");
  overflow_args.erase(overflow_args.begin() + 3, overflow_args.begin() + 5);
  overflow_args.insert(overflow_args.end(), {"--problems", overflow});
  CommandResult overflowed = Ponder(overflow_args);
  EXPECT_EQ(overflowed.code, 2) << overflowed.err;
  EXPECT_THAT(overflowed.err,
              HasSubstr(overflow + ":2: not valid JSON (column 31: the number 1e400 is out of "
                                   "the range of a double)"));
  EXPECT_FALSE(std::filesystem::exists(overflow_db));

  CommandResult both = Ponder({"bench", "--model", "m.gguf", "--dataset", "arith", "--problems",
                               path, "--strategy", "self_consistency", "--budget", "1"});
  EXPECT_EQ(both.code, 2);
  EXPECT_THAT(both.err, HasSubstr("give one of --dataset NAME"));
}

// The real GSM8K and MATH-500 test files (../shared/datasets), a few problems each, with the
// tiny random model: accuracy near 0 is expected; the point is that the files load, every run
// is graded against the file's reference and recorded.
TEST_F(BenchCliTest, RealGsm8kAndMath500Slices) {
  const std::string data_dir = std::string(PONDER_SHARED_DIR) + "/datasets";
  for (const auto& [dataset, file] :
       {std::pair<std::string, std::string>{"gsm8k", "gsm8k/test.jsonl"},
        {"math500", "math500/test.jsonl"}}) {
    SCOPED_TRACE(dataset);
    if (!std::filesystem::exists(data_dir + "/" + file)) {
      GTEST_SKIP() << data_dir << "/" << file << " is absent: the real-dataset runs are skipped";
    }
    const std::string db = TempPath(dataset + ".db");
    std::vector<std::string> args = BenchArgs(db, dataset, 3, "1,2");
    args.insert(args.end(), {"--data-dir", data_dir});
    CommandResult bench = Ponder(args);
    ASSERT_EQ(bench.code, 0) << bench.err;
    EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE correct IS NOT NULL"), 12);
    EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM problems WHERE reference_answer <> ''"), 3);
    EXPECT_EQ(SqlText(db, "SELECT dataset FROM experiments"), dataset + ":test[0:3]");
    const auto cells = SqlCells(db);
    CommandResult accuracy = Ponder({"query", "--db", db, "accuracy", "--format", "json"});
    for (const auto& row : nlohmann::json::parse(accuracy.out)) {
      const SqlCell& cell = cells.at({row["strategy"].get<std::string>(), row["n"].get<int>()});
      EXPECT_EQ(row["correct"].get<int64_t>(), cell.correct);
      EXPECT_EQ(row["graded"].get<int64_t>(), 3);
    }
  }
}

// The real HumanEval and MBPP files, a few problems each, with the tiny random model: every
// candidate's program (the random model's text) runs with the problem's tests in the code
// sandbox and is graded wrong, and best-of-N with the unit_tests verifier runs them with the
// examples the prompt shows; the runs and candidates are graded and recorded, and the problems
// keep their tests. Skips without the files or the sandbox.
TEST_F(BenchCliTest, RealHumanEvalAndMbppSlicesAreGradedInTheSandbox) {
  const std::string data_dir = std::string(PONDER_SHARED_DIR) + "/datasets";
  for (const auto& [dataset, file] :
       {std::pair<std::string, std::string>{"humaneval", "humaneval/HumanEval.jsonl.gz"},
        {"mbpp", "mbpp/mbpp.jsonl"}}) {
    SCOPED_TRACE(dataset);
    if (!std::filesystem::exists(data_dir + "/" + file)) {
      GTEST_SKIP() << data_dir << "/" << file << " is absent: the real-dataset runs are skipped";
    }
    const std::string db = TempPath(dataset + ".db");
    std::vector<std::string> args = BenchArgs(db, dataset, 2, "1,2");
    args.insert(args.end(), {"--data-dir", data_dir, "--strategy",
                             R"(tests={"bestOfN":{},"verifier":{"unitTests":{}}})"});
    CommandResult bench = Ponder(args);
    if (bench.code != 0 && bench.err.find("sandbox") != std::string::npos) {
      GTEST_SKIP() << "the code sandbox cannot be set up here: " << bench.err;
    }
    ASSERT_EQ(bench.code, 0) << bench.err;
    EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'"), 12);
    EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE correct = 0"), 12);
    // The random model's text is no program that passes an example: every score is 0.
    EXPECT_EQ(SqlInt(db,
                     "SELECT count(*) FROM candidates c JOIN runs r ON r.id = c.run_id "
                     "WHERE r.strategy = 'tests' AND c.score = 0"),
              6);
    EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM candidates WHERE correct IS NULL"), 0);
    EXPECT_EQ(SqlInt(db,
                     "SELECT count(*) FROM problems WHERE answer_format = 'code' AND "
                     "code_tests IS NOT NULL AND example_tests IS NOT NULL AND "
                     "reference_answer IS NULL"),
              2);
    CommandResult accuracy = Ponder({"query", "--db", db, "accuracy", "--format", "json"});
    ASSERT_EQ(accuracy.code, 0) << accuracy.err;
    for (const auto& row : nlohmann::json::parse(accuracy.out)) {
      EXPECT_EQ(row["graded"].get<int64_t>(), 2);
      EXPECT_EQ(row["correct"].get<int64_t>(), 0);
    }
  }
}

// Code problems of one's own in a problems file: their text as written, their tests run in the
// sandbox, their examples for the unit_tests verifier; a blank test is refused naming the line.
TEST_F(BenchCliTest, CodeProblemsFileIsGradedByItsTests) {
  const std::string path = TempPath("code.jsonl");
  {
    std::ofstream out(path);
    out << R"({"id":"add","problem":"Write add(a, b).","answer_format":"code",)"
        << R"("tests":["assert add(1, 2) == 3"],"example_tests":["assert add(0, 0) == 0"]})"
        << "\n";
  }
  const std::string db = TempPath("code.db");
  std::vector<std::string> args = {"bench",
                                   "--model",
                                   testing::TinyModelPath(),
                                   "--problems",
                                   path,
                                   "--strategy",
                                   R"(tests={"bestOfN":{},"verifier":{"unitTests":{}}})",
                                   "--budget",
                                   "2",
                                   "--max-tokens",
                                   "8",
                                   "--db",
                                   db,
                                   "--quiet"};
  CommandResult bench = Ponder(args);
  if (bench.code != 0 && bench.err.find("sandbox") != std::string::npos) {
    GTEST_SKIP() << "the code sandbox cannot be set up here: " << bench.err;
  }
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_EQ(
      SqlText(db, "SELECT text || '|' || code_tests || '|' || example_tests FROM problems"),
      R"(Write add(a, b).|{"tests":["assert add(1, 2) == 3"]}|{"tests":["assert add(0, 0) == 0"]})");
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs WHERE correct = 0"), 1);

  {
    std::ofstream out(path, std::ios::app);
    out << R"({"problem":"Write f().","answer_format":"code","tests":[" "]})"
        << "\n";
  }
  args[args.size() - 2] = TempPath("blank.db");
  CommandResult blank = Ponder(args);
  EXPECT_EQ(blank.code, 2) << blank.err;
  EXPECT_THAT(blank.err, HasSubstr("code.jsonl:2: \"tests\"[0] is blank"));
}

// Exports code dataset `name` from `data_dir` to `path` with `ponder datasets export` and checks
// that the file gives the problems the dataset gives (orchestrator::ProblemProto): the same ids,
// text, tests as they are run and examples for the unit_tests verifier. Returns the problems
// compared.
size_t ExpectExportGivesTheSameProblems(const std::string& name, const std::string& data_dir,
                                        const std::string& path) {
  SCOPED_TRACE(name);
  CommandResult exported =
      Ponder({"datasets", "export", name, "--data-dir", data_dir, "--out", path});
  EXPECT_EQ(exported.code, 0) << exported.err;
  absl::StatusOr<datasets::LoadedDataset> dataset =
      datasets::LoadDataset(name, {.data_dir = data_dir});
  absl::StatusOr<datasets::LoadedDataset> file = datasets::LoadProblemsFile(path);
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_TRUE(file.ok()) << file.status();
  if (!dataset.ok() || !file.ok()) return 0;
  EXPECT_EQ(file->skipped, 0);
  EXPECT_EQ(file->problems.size(), dataset->problems.size());
  const size_t count = std::min(file->problems.size(), dataset->problems.size());
  for (size_t i = 0; i < count; ++i) {
    const v1::Problem expected = ProblemProto(dataset->problems[i]);
    const v1::Problem actual = ProblemProto(file->problems[i]);
    EXPECT_EQ(actual.id(), expected.id());
    EXPECT_EQ(actual.text(), expected.text()) << expected.id();
    EXPECT_EQ(actual.answer_format(), v1::ANSWER_FORMAT_CODE) << expected.id();
    EXPECT_EQ(actual.code_tests().SerializeAsString(), expected.code_tests().SerializeAsString())
        << expected.id() << ": " << actual.code_tests().DebugString() << " against "
        << expected.code_tests().DebugString();
    EXPECT_EQ(actual.example_tests().SerializeAsString(),
              expected.example_tests().SerializeAsString())
        << expected.id() << ": " << actual.example_tests().DebugString() << " against "
        << expected.example_tests().DebugString();
  }
  return count;
}

// `ponder datasets export` of a code dataset writes problems-file code rows that give the same
// problems as the dataset: the same text, the same tests as they are run (HumanEval's block,
// MBPP's asserts after its setup), the same examples for the unit_tests verifier.
TEST(DatasetsExportTest, CodeDatasetsExportAsProblemsFilesOfTheSameProblems) {
  const std::string data_dir = TempPath("export_data");
  std::filesystem::create_directories(data_dir + "/humaneval");
  std::filesystem::create_directories(data_dir + "/mbpp");
  {
    std::ofstream out(data_dir + "/humaneval/HumanEval.jsonl");
    out << R"({"task_id":"HumanEval/0","prompt":"def twice(x):\n    \"\"\"Twice x.\n    )"
        << R"(>>> twice(2)\n    4\n    \"\"\"\n","entry_point":"twice",)"
        << R"("canonical_solution":"    return 2 * x\n","test":"def check(candidate):\n)"
        << R"(    assert candidate(3) == 6\n"})"
        << "\n";
  }
  {
    std::ofstream out(data_dir + "/mbpp/mbpp.jsonl");
    out << R"({"task_id":11,"text":"Write f.","code":"def f():\n    return 1",)"
        << R"("test_setup_code":"import math","test_list":["assert f() == 1",)"
        << R"("assert f() + 1 == 2"],"challenge_test_list":[]})"
        << "\n";
  }
  for (const std::string name : {"humaneval", "mbpp"}) {
    const std::string path = TempPath(name + "_export.jsonl");
    EXPECT_EQ(ExpectExportGivesTheSameProblems(name, data_dir, path), 1u);
    absl::StatusOr<datasets::LoadedDataset> dataset =
        datasets::LoadDataset(name, {.data_dir = data_dir});
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    // Something to compare: HumanEval's docstring example, MBPP's first assert after its setup.
    EXPECT_EQ(ProblemProto(dataset->problems[0]).example_tests().tests_size(), 1) << name;
    // The reference solution comes along, for a user editing the file.
    EXPECT_THAT(
        ReadFile(path),
        HasSubstr(name == "humaneval" ? R"("canonical_solution":"    return 2 * x\n")"
                                      : R"("canonical_solution":"def f():\n    return 1")"));
  }
}

// The same for every problem of the real HumanEval, MBPP and sanitized MBPP (../shared).
TEST(DatasetsExportTest, RealCodeDatasetsExportAsProblemsFilesOfTheSameProblems) {
  const std::string data_dir = std::string(PONDER_SHARED_DIR) + "/datasets";
  for (const auto& [name, file, count] : {std::tuple<std::string, std::string, size_t>{
                                              "humaneval", "humaneval/HumanEval.jsonl.gz", 164},
                                          {"mbpp", "mbpp/mbpp.jsonl", 500},
                                          {"mbpp-sanitized", "mbpp/sanitized-mbpp.json", 257}}) {
    if (!std::filesystem::exists(data_dir + "/" + file)) {
      GTEST_SKIP() << data_dir << "/" << file << " is absent: the real-dataset exports are skipped";
    }
    EXPECT_EQ(ExpectExportGivesTheSameProblems(name, data_dir, TempPath(name + "_export.jsonl")),
              count);
  }
}

// A dataset line that does not parse is skipped, as everywhere, and said on stderr (before, the
// benchmark ran on fewer problems without a word). Flags that would be ignored are refused.
TEST_F(BenchCliTest, SkippedRecordsAreToldAndIgnoredFlagsRefused) {
  const std::string data_dir = TempPath("skipping_data");
  std::filesystem::create_directories(data_dir + "/gsm8k");
  {
    std::ofstream out(data_dir + "/gsm8k/test.jsonl");
    out << R"({"question": "What is 2 + 2?", "answer": "2 + 2 = 4\n#### 4"})"
        << "\n"
        << R"({"question": "broken)"
        << "\n"
        << R"({"question": "What is 3 + 3?", "answer": "3 + 3 = 6\n#### 6"})"
        << "\n";
  }
  const std::string db = TempPath("skipping.db");
  std::vector<std::string> args = BenchArgs(db, "gsm8k", 0, "1");
  args.insert(args.end(), {"--data-dir", data_dir});
  CommandResult bench = Ponder(args);
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_THAT(bench.err,
              HasSubstr("ponder bench: gsm8k test: skipped " + data_dir + "/gsm8k/test.jsonl:2:"));
  EXPECT_THAT(bench.err, HasSubstr("ponder bench: gsm8k test: skipped 1 malformed record\n"));
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM problems"), 2);

  std::vector<std::string> subset = BenchArgs(TempPath("subset.db"), "gsm8k", 1, "1");
  subset.insert(subset.end(), {"--data-dir", data_dir, "--subset", "test/0"});
  CommandResult refused = Ponder(subset);
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("--subset picks problems by id; --offset and --limit do not"));

  CommandResult server =
      Ponder({"bench", "--server", "127.0.0.1:1", "--dataset", "gsm8k", "--data-dir", data_dir,
              "--strategy", "self_consistency", "--budget", "1"});
  EXPECT_EQ(server.code, 2) << server.err;
  EXPECT_THAT(server.err, HasSubstr("--data-dir: with --server, datasets are the server's"));
}

// "--seeds 7," is the one seed 7 ("--seeds 7" would be seeds 0 to 6).
TEST_F(BenchCliTest, ATrailingCommaGivesOneSeed) {
  const std::string db = TempPath("one_seed.db");
  std::vector<std::string> args = BenchArgs(db, "arith", 1, "1");
  args.insert(args.end(), {"--seeds", "7,"});
  CommandResult bench = Ponder(args);
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_EQ(SqlText(db, "SELECT group_concat(DISTINCT seed) FROM runs"), "7");
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs"), 2);  // two strategies, one budget
}

TEST_F(BenchCliTest, InterruptedBenchResumesWithoutLosingOrDuplicatingRuns) {
  const std::string db = TempPath("resume.db");
  const std::string first_stderr = TempPath("first.txt");
  std::vector<std::string> args = BenchArgs(db, "arith", 40, "1,2,4,8");
  args.insert(args.end(), {"--parallel", "2", "--max-tokens", "24"});
  {
    ChildProcess child;
    ASSERT_TRUE(child.Start(BinaryPath("ponder"), args, first_stderr));
    // Interrupt once some runs are recorded.
    const absl::Time give_up = absl::Now() + absl::Seconds(40);
    while (absl::Now() < give_up) {
      if (std::filesystem::exists(db)) {
        auto opened = sqlite::Database::Open(db);
        auto recorded = opened.ok() ? opened->QueryInt("SELECT count(*) FROM runs")
                                    : absl::StatusOr<int64_t>(0);
        if (recorded.ok() && *recorded > 0) break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    child.Signal(SIGINT);
    const int code = child.Wait(absl::Seconds(40));
    // 1: cancelled part-way (the usual case); 0: it had already finished.
    EXPECT_TRUE(code == 0 || code == 1) << code;
    if (code == 1) {
      const std::string err = ReadFile(first_stderr);
      EXPECT_THAT(err, HasSubstr("stopping; the runs recorded so far are kept"));
      EXPECT_THAT(err, HasSubstr("--resume"));
      EXPECT_EQ(SqlText(db, "SELECT status FROM experiments"), "cancelled");
    }
  }
  const int64_t planned = 40 * 2 * 4;
  const int64_t before = SqlInt(db, "SELECT count(*) FROM runs");
  EXPECT_GT(before, 0);
  args.push_back("--resume");
  CommandResult resumed = Ponder(args);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  if (before < planned) {
    EXPECT_THAT(resumed.err, HasSubstr("resuming experiment 1"));
  }
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM experiments"), 1);
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs"), planned);
  EXPECT_EQ(SqlInt(db,
                   "SELECT count(DISTINCT problem_id || '/' || strategy || '/' || budget_n) "
                   "FROM runs"),
            planned);
  EXPECT_EQ(SqlText(db, "SELECT status FROM experiments"), "completed");
  // Resuming a completed benchmark does nothing.
  CommandResult again = Ponder(args);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("already completed"));
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs"), planned);
}

// --resume continues an experiment only on its own problems and models: another --subset, an
// edited --problems file or another --model is refused, naming the difference, and nothing is
// added to the experiment.
TEST_F(BenchCliTest, ResumeOnOtherProblemsOrAnotherModelIsRefused) {
  const std::string db = TempPath("mismatch.db");
  auto bench = [&](const std::string& model, std::vector<std::string> problems, bool resume) {
    std::vector<std::string> args = {"bench",
                                     "--model",
                                     model,
                                     "--strategy",
                                     "self_consistency",
                                     "--budget",
                                     "1",
                                     "--max-tokens",
                                     "8",
                                     "--threads",
                                     "2",
                                     "--db",
                                     db,
                                     "--quiet"};
    args.insert(args.end(), problems.begin(), problems.end());
    if (resume) args.push_back("--resume");
    return Ponder(args);
  };
  const std::vector<std::string> subset = {"--dataset", "arith", "--subset", "test/0,test/1"};
  ASSERT_EQ(bench(testing::TinyModelPath(), subset, false).code, 0);
  const int64_t runs = SqlInt(db, "SELECT count(*) FROM runs");

  CommandResult other_subset = bench(
      testing::TinyModelPath(), {"--dataset", "arith", "--subset", "test/5,test/6,test/7"}, true);
  EXPECT_EQ(other_subset.code, 1);
  EXPECT_THAT(other_subset.err, HasSubstr("experiment 1 was started on other problems"));
  EXPECT_THAT(other_subset.err, HasSubstr("2 (test/0, test/1)"));
  EXPECT_THAT(other_subset.err, HasSubstr("3 (test/5, test/6, test/7)"));

  const std::string other_model = TempPath("other.gguf");
  engine::testing::RandomModelSpec other_spec;
  other_spec.seed = 6;
  ASSERT_TRUE(
      engine::testing::WriteRandomGgufModel(other_spec, engine::DType::kF32, other_model).ok());
  CommandResult other = bench(other_model, subset, true);
  EXPECT_EQ(other.code, 1);
  EXPECT_THAT(other.err,
              HasSubstr("experiment 1 was run with the policy model '" + testing::TinyModelPath()));
  EXPECT_THAT(other.err, HasSubstr("where it is being resumed (this ponder bench, or the server) "
                                   "the policy model is '" +
                                   other_model));
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM experiments"), 1);
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM runs"), runs);

  CommandResult same = bench(testing::TinyModelPath(), subset, true);
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_THAT(same.err, HasSubstr("experiment 1 is already completed"));

  const std::string problems = TempPath("edited.jsonl");
  std::ofstream(problems) << "{\"id\":\"p0\",\"problem\":\"1+1\",\"answer\":\"2\"}\n";
  ASSERT_EQ(bench(testing::TinyModelPath(), {"--problems", problems}, false).code, 0);
  std::ofstream(problems) << "{\"id\":\"p0\",\"problem\":\"2+2\",\"answer\":\"4\"}\n";
  CommandResult edited = bench(testing::TinyModelPath(), {"--problems", problems}, true);
  EXPECT_EQ(edited.code, 1);
  EXPECT_THAT(edited.err, HasSubstr("experiment 2 was started on other problems"));
  EXPECT_THAT(edited.err, HasSubstr("differ in their text"));
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM experiments"), 2);
}

// --resume of a dataset slice whose files are gone takes the problems the experiment
// recorded (the slice that chose them is the same); with the files there, their content is
// compared, so an edited file is refused.
TEST_F(BenchCliTest, ResumeTakesTheRecordedProblemsWhenTheDatasetFilesAreAbsent) {
  const std::string db = TempPath("absent.db");
  const std::string data_dir = TempPath("absent_data");
  std::filesystem::create_directories(data_dir + "/gsm8k");
  const std::string file = data_dir + "/gsm8k/test.jsonl";
  std::ofstream(file) << "{\"question\":\"1+1\",\"answer\":\"#### 2\"}\n"
                      << "{\"question\":\"2+2\",\"answer\":\"#### 4\"}\n";
  const std::vector<std::string> args = {"bench",     "--model",    testing::TinyModelPath(),
                                         "--dataset", "gsm8k",      "--data-dir",
                                         data_dir,    "--strategy", "self_consistency",
                                         "--budget",  "1",          "--max-tokens",
                                         "8",         "--threads",  "2",
                                         "--db",      db,           "--quiet"};
  ASSERT_EQ(Ponder(args).code, 0);
  std::vector<std::string> resume = args;
  resume.push_back("--resume");

  std::filesystem::remove(file);
  CommandResult absent = Ponder(resume);
  EXPECT_EQ(absent.code, 0) << absent.err;
  EXPECT_THAT(absent.err, HasSubstr("experiment 1: its problems are the ones it recorded"));
  EXPECT_THAT(absent.err, HasSubstr("experiment 1 is already completed"));

  std::ofstream(file) << "{\"question\":\"1+1\",\"answer\":\"#### 2\"}\n"
                      << "{\"question\":\"3+3\",\"answer\":\"#### 6\"}\n";
  CommandResult edited = Ponder(resume);
  EXPECT_EQ(edited.code, 1);
  EXPECT_THAT(edited.err, HasSubstr("experiment 1 was started on other problems"));
  EXPECT_EQ(SqlInt(db, "SELECT count(*) FROM experiments"), 1);
}

// Starts ponderd on `model` and `db`, listening on a free loopback port; its address, or ""
// when it did not start.
std::string StartPonderd(ChildProcess& ponderd, const std::string& model, const std::string& db,
                         const std::string& stderr_path) {
  if (!ponderd.Start(BinaryPath("ponderd"),
                     {"--model", model, "--db", db, "--listen", "127.0.0.1:0", "--threads", "2"},
                     stderr_path)) {
    return "";
  }
  const std::string line = ponderd.WaitForLine("listening on ");
  if (line.empty()) return "";
  const size_t at = line.find("listening on ") + 13;
  return line.substr(at, line.find(' ', at) - at);
}

// `bench --server --resume` follows the in-process rule (ExperimentRunner::FindResumable on the
// server): an edited --problems file or a server with another model is refused, nothing is
// added, and the same problems on the same model find the experiment.
TEST_F(BenchCliTest, ResumeOnAServerIsRefusedForOtherProblemsOrAnotherModel) {
  const std::string server_db = TempPath("server_resume.db");
  const std::string other_model = TempPath("server_other.gguf");
  engine::testing::RandomModelSpec other_spec;
  other_spec.seed = 6;
  ASSERT_TRUE(
      engine::testing::WriteRandomGgufModel(other_spec, engine::DType::kF32, other_model).ok());
  const std::string problems = TempPath("server_problems.jsonl");
  std::ofstream(problems) << "{\"id\":\"p0\",\"problem\":\"1+1\",\"answer\":\"2\"}\n";
  for (const std::string& model : {testing::TinyModelPath(), other_model}) {
    ChildProcess ponderd;
    const std::string address =
        StartPonderd(ponderd, model, server_db, TempPath("ponderd_resume.stderr"));
    ASSERT_FALSE(address.empty()) << "ponderd did not start";
    auto bench = [&](bool resume) {
      std::vector<std::string> args = {
          "bench",      "--server",         address,    "--problems", problems,
          "--strategy", "self_consistency", "--budget", "1",          "--max-tokens",
          "8",          "--quiet"};
      if (resume) args.push_back("--resume");
      return Ponder(args);
    };
    if (model == other_model) {
      CommandResult other = bench(true);
      EXPECT_EQ(other.code, 1);
      EXPECT_THAT(other.err, HasSubstr("experiment 1 was run with the policy model '" +
                                       testing::TinyModelPath()));
    } else {
      ASSERT_EQ(bench(false).code, 0);
      CommandResult same = bench(true);
      EXPECT_EQ(same.code, 0) << same.err;
      EXPECT_THAT(same.err, HasSubstr("experiment 1 on " + address + " is already completed"));
      std::ofstream(problems) << "{\"id\":\"p0\",\"problem\":\"2+2\",\"answer\":\"4\"}\n";
      CommandResult edited = bench(true);
      EXPECT_EQ(edited.code, 1);
      EXPECT_THAT(edited.err, HasSubstr("experiment 1 was started on other problems"));
      EXPECT_THAT(edited.err, HasSubstr("differ in their text"));
      std::ofstream(problems) << "{\"id\":\"p0\",\"problem\":\"1+1\",\"answer\":\"2\"}\n";
    }
    ponderd.Signal(SIGTERM);
    EXPECT_EQ(ponderd.Wait(), 0);
  }
  EXPECT_EQ(SqlInt(server_db, "SELECT count(*) FROM experiments"), 1);
  EXPECT_EQ(SqlInt(server_db, "SELECT count(*) FROM runs"), 1);
}

// A cell with nothing graded (problems without answers) has no accuracy: `experiments show
// --results` prints "-" there, as every other table does, not 0.000.
TEST_F(BenchCliTest, ExperimentsShowPrintsNoAccuracyForACellWithNothingGraded) {
  const std::string server_db = TempPath("ungraded.db");
  ChildProcess ponderd;
  const std::string address =
      StartPonderd(ponderd, testing::TinyModelPath(), server_db, TempPath("ungraded.stderr"));
  ASSERT_FALSE(address.empty()) << "ponderd did not start";
  const std::string problems = TempPath("ungraded.jsonl");
  std::ofstream(problems) << "{\"id\":\"p0\",\"problem\":\"1+1\"}\n";
  CommandResult bench =
      Ponder({"bench", "--server", address, "--problems", problems, "--strategy",
              "self_consistency", "--budget", "1", "--max-tokens", "8", "--quiet"});
  ASSERT_EQ(bench.code, 0) << bench.err;
  CommandResult show = Ponder({"experiments", "show", "1", "--results", "--server", address});
  ASSERT_EQ(show.code, 0) << show.err;
  // strategy, n, runs, graded, correct, accuracy.
  EXPECT_THAT(show.out, ::testing::ContainsRegex("self_consistency +1 +1 +0 +0 +- "));
  EXPECT_THAT(show.out, ::testing::Not(HasSubstr("0.000")));
  ponderd.Signal(SIGTERM);
  EXPECT_EQ(ponderd.Wait(), 0);
}

// With --server the server's runner does the work and records it in the server's database;
// bench shows its progress and the accuracy table from the server's cells.
TEST_F(BenchCliTest, BenchOnAServerStartsWatchesAndRecordsInTheServersDatabase) {
  const std::string server_db = TempPath("server.db");
  ChildProcess ponderd;
  const std::string address =
      StartPonderd(ponderd, testing::TinyModelPath(), server_db, TempPath("ponderd.stderr"));
  ASSERT_FALSE(address.empty()) << "ponderd did not start";

  std::vector<std::string> args = BenchArgs("", "arith", 3, "1,2");
  // No --db, --model or --threads on the client: the server has its own.
  std::vector<std::string> client_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--db" || args[i] == "--model" || args[i] == "--threads") {
      ++i;
      continue;
    }
    client_args.push_back(args[i]);
  }
  client_args.insert(client_args.end(), {"--server", address});
  CommandResult bench = Ponder(client_args);
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_THAT(bench.out, HasSubstr("completed, 12 of 12 runs recorded"));
  EXPECT_THAT(bench.out, HasSubstr("self_consistency"));
  EXPECT_THAT(bench.err, HasSubstr("progress: 12/12 runs (100%)"));
  // The table the server's final state gives is `ponder query accuracy`'s, every column
  // (pass@n, oracle and the verifier's rates come with the stopped experiment's cells).
  CommandResult table = Ponder({"query", "--db", server_db, "accuracy"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("pass@n"));
  EXPECT_THAT(bench.out, HasSubstr(table.out));
  ponderd.Signal(SIGTERM);
  EXPECT_EQ(ponderd.Wait(), 0);
  EXPECT_EQ(SqlInt(server_db, "SELECT count(*) FROM runs"), 12);
  EXPECT_EQ(SqlInt(server_db,
                   "SELECT count(*) FROM runs WHERE "
                   "json_extract(diagnostics_json, '$.prefix_of_budget_n') = 2"),
            6);
  // The server's database answers `ponder query` like a local one.
  CommandResult accuracy = Ponder({"query", "--db", server_db, "accuracy", "--format", "json"});
  ASSERT_EQ(accuracy.code, 0) << accuracy.err;
  EXPECT_EQ(nlohmann::json::parse(accuracy.out).size(), 4u);
  // --db with --server is refused: the results are the server's.
  client_args.insert(client_args.end(), {"--db", TempPath("client.db")});
  CommandResult refused = Ponder(client_args);
  EXPECT_EQ(refused.code, 2);
  EXPECT_THAT(refused.err, HasSubstr("server's own database"));
}

// --- The report in a real browser ---

std::string FindChromium() {
  for (const char* path :
       {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (std::filesystem::exists(path)) return path;
  }
  return "";
}

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // 3 bytes per pixel
};

uint32_t BigEndian(const std::string& data, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(data[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(data[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(data[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(data[at + 3]));
}

// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what chromium writes): the chunks, zlib, and
// the five scanline filters of the PNG specification, section 9.
std::optional<Image> DecodePng(const std::string& data) {
  if (data.size() < 33 || data.compare(1, 3, "PNG") != 0) return std::nullopt;
  Image image;
  int channels = 0;
  std::string compressed;
  for (size_t at = 8; at + 8 <= data.size();) {
    const uint32_t length = BigEndian(data, at);
    const std::string type = data.substr(at + 4, 4);
    if (at + 12 + length > data.size()) return std::nullopt;
    if (type == "IHDR") {
      image.width = static_cast<int>(BigEndian(data, at + 8));
      image.height = static_cast<int>(BigEndian(data, at + 12));
      const int depth = static_cast<uint8_t>(data[at + 16]);
      const int color = static_cast<uint8_t>(data[at + 17]);
      const int interlace = static_cast<uint8_t>(data[at + 20]);
      if (depth != 8 || interlace != 0 || (color != 2 && color != 6)) return std::nullopt;
      channels = color == 6 ? 4 : 3;
    } else if (type == "IDAT") {
      compressed += data.substr(at + 8, length);
    }
    at += 12 + length;
  }
  if (channels == 0) return std::nullopt;
  const size_t stride = static_cast<size_t>(image.width) * channels;
  std::vector<uint8_t> raw((stride + 1) * static_cast<size_t>(image.height));
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()),
                 compressed.size()) != Z_OK ||
      raw_size != raw.size()) {
    return std::nullopt;
  }
  std::vector<uint8_t> previous(stride, 0), line(stride);
  image.rgb.reserve(static_cast<size_t>(image.width) * image.height * 3);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* in = &raw[static_cast<size_t>(y) * (stride + 1)];
    const int filter = in[0];
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<size_t>(channels) ? line[i - channels] : 0;
      const int b = previous[i];
      const int c = i >= static_cast<size_t>(channels) ? previous[i - channels] : 0;
      int predictor = 0;
      switch (filter) {
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
          break;
        }
        default:
          break;
      }
      line[i] = static_cast<uint8_t>(in[1 + i] + predictor);
    }
    for (int x = 0; x < image.width; ++x) {
      for (int k = 0; k < 3; ++k) image.rgb.push_back(line[static_cast<size_t>(x) * channels + k]);
    }
    previous = line;
  }
  return image;
}

TEST(ReportBrowserTest, ChromiumRendersTheCurvesAndTables) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh --tools installs it): the "
                    "report is not checked in a browser";
  }
  const std::string out = TempPath("browser_report");
  ASSERT_EQ(Ponder({"report", "--db", HandMadeDatabase(), "--out", out}).code, 0);
  const std::string png = out + "/screenshot.png";
  // No network, no profile in $HOME, no GPU; --no-sandbox because tests may run as root.
  CommandResult shot = RunBinary(
      chromium,
      {"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
       "--disable-extensions", "--user-data-dir=" + TempPath("chromium_profile"),
       "--window-size=1280,1400", "--screenshot=" + png, "file://" + out + "/report.html"},
      absl::Seconds(50));
  ASSERT_TRUE(std::filesystem::exists(png)) << shot.code << shot.err;
  std::optional<Image> image = DecodePng(ReadFile(png));
  ASSERT_TRUE(image.has_value()) << "not an 8-bit RGB(A) PNG: " << png;
  EXPECT_EQ(image->width, 1280);
  EXPECT_EQ(image->height, 1400);
  // Drawn: a real share of non-white pixels, and the lines in the first two series colours
  // (#1f77b4 for "sc", #ff7f0e for "bon").
  int64_t ink = 0, blue = 0, orange = 0;
  for (size_t i = 0; i + 2 < image->rgb.size(); i += 3) {
    const int r = image->rgb[i], g = image->rgb[i + 1], b = image->rgb[i + 2];
    if (r < 235 || g < 235 || b < 235) ++ink;
    if (std::abs(r - 0x1f) < 24 && std::abs(g - 0x77) < 24 && std::abs(b - 0xb4) < 24) ++blue;
    if (std::abs(r - 0xff) < 24 && std::abs(g - 0x7f) < 24 && std::abs(b - 0x0e) < 24) ++orange;
  }
  const double pixels = static_cast<double>(image->width) * image->height;
  EXPECT_GT(ink / pixels, 0.02) << "the page looks blank: " << png;
  EXPECT_GT(blue, 200) << "no 'sc' curve in " << png;
  EXPECT_GT(orange, 200) << "no 'bon' curve in " << png;
}

}  // namespace
}  // namespace ponder::orchestrator
