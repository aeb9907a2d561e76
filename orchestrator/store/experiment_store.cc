#include "orchestrator/store/experiment_store.h"

#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"
#include "orchestrator/proto_json.h"
#include "orchestrator/store/schema.h"

namespace ponder::orchestrator {
namespace {

constexpr const char* kStoreTimeFormat = "%Y-%m-%dT%H:%M:%E3SZ";

// Statuses in the order of the v1::ExperimentStatus enum (0 = unspecified).
constexpr std::string_view kStatusNames[] = {"unspecified", "running",   "completed",
                                             "failed",      "cancelled", "interrupted"};

v1::ExperimentStatus ParseStatus(std::string_view name) {
  for (size_t i = 1; i < std::size(kStatusNames); ++i) {
    if (kStatusNames[i] == name) return static_cast<v1::ExperimentStatus>(i);
  }
  return v1::EXPERIMENT_STATUS_UNSPECIFIED;
}

void SetTimestamp(std::string_view text, google::protobuf::Timestamp& out) {
  absl::StatusOr<absl::Time> time = ParseStoreTime(text);
  if (!time.ok()) return;  // written by us; an unreadable time is left unset rather than fatal
  out.set_seconds(absl::ToUnixSeconds(*time));
  out.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(*time - absl::FromUnixSeconds(absl::ToUnixSeconds(*time)))));
}

constexpr std::string_view kInsertRun = R"sql(
INSERT INTO runs (experiment_id, problem_id, strategy_index, strategy, budget_index, budget_n,
                  budget_max_generated_tokens, seed_index, seed, status, error, answer, correct,
                  prompt_tokens_requested, prompt_tokens_computed, generated_tokens,
                  verifier_tokens, engine_calls, full_generation_equivalents, wall_seconds,
                  diagnostics_json, finished_at)
VALUES (?1, (SELECT id FROM problems WHERE experiment_id = ?1 AND problem_index = ?2), ?3, ?4,
        ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)
)sql";

constexpr std::string_view kInsertCandidate = R"sql(
INSERT INTO candidates (run_id, candidate_index, text, answer, answer_class, correct, num_tokens,
                        cumulative_logprob, mean_logprob, score, step_scores_json, selected,
                        pruned, finish_reason)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
)sql";

constexpr std::string_view kInsertStep = R"sql(
INSERT INTO steps (run_id, step_index, iteration, node, parent, gibbs_iteration, text,
                   num_tokens, reward, weight, finished, kept, copies)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
)sql";

constexpr const char* kSelectExperiment =
    "SELECT id, name, config_json, model, status, error, code_version, runs_planned, "
    "resume_count, created_at, finished_at FROM experiments ";

absl::StatusOr<v1::Experiment> ReadExperimentRow(const sqlite::Statement& row) {
  v1::Experiment experiment;
  experiment.set_id(row.ColumnInt(0));
  PONDER_RETURN_IF_ERROR(
      FromJson(row.ColumnText(2), *experiment.mutable_spec(),
               absl::StrCat("experiments.config_json of experiment ", experiment.id())));
  experiment.mutable_spec()->set_name(row.ColumnText(1));
  experiment.set_model(row.ColumnText(3));
  experiment.set_status(ParseStatus(row.ColumnText(4)));
  experiment.set_error(row.ColumnText(5));
  experiment.set_code_version(row.ColumnText(6));
  experiment.set_runs_planned(row.ColumnInt(7));
  experiment.set_resume_count(static_cast<int32_t>(row.ColumnInt(8)));
  SetTimestamp(row.ColumnText(9), *experiment.mutable_create_time());
  if (!row.ColumnIsNull(10)) SetTimestamp(row.ColumnText(10), *experiment.mutable_finish_time());
  return experiment;
}

std::string DiagnosticsJson(const v1::SolveResult& result) {
  nlohmann::json diagnostics = nlohmann::json::object();
  for (const auto& [name, value] : result.diagnostics()) {
    // Counts (rounds, pruned paths, a prefix's budget) read as integers: 4, not 4.0.
    constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
    if (std::trunc(value) == value && std::fabs(value) <= kExactIntegers) {
      diagnostics[name] = static_cast<int64_t>(value);
    } else {
      diagnostics[name] = value;  // NaN and infinities become null, as JSON has no such numbers
    }
  }
  return diagnostics.dump();
}

}  // namespace

std::string FormatStoreTime(absl::Time time) {
  return absl::FormatTime(kStoreTimeFormat, time, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseStoreTime(std::string_view text) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(kStoreTimeFormat, AsAbsl(text), absl::UTCTimeZone(), &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", AsAbsl(text), "' is not a store time: ", error));
  }
  return time;
}

std::string_view ExperimentStatusName(v1::ExperimentStatus status) {
  size_t index = static_cast<size_t>(status);
  return index < std::size(kStatusNames) ? kStatusNames[index] : kStatusNames[0];
}

std::string_view AnswerFormatName(v1::AnswerFormat format) {
  switch (format) {
    case v1::ANSWER_FORMAT_GSM8K:
      return "gsm8k";
    case v1::ANSWER_FORMAT_CODE:
      return "code";
    default:
      return "math";
  }
}

ExperimentStore::ExperimentStore(sqlite::Database db) : path_(db.path()), db_(std::move(db)) {}

namespace {

// The schema version of the existing file at `path` (0: an empty database), or the refusal of a
// file that is not an experiment database (ExperimentSchemaVersion), looked at as
// it is on disk, so that another program's file is refused before anything is written to it or
// created beside it. A write-ahead log beside the file holds what that look would miss (another
// program's tables not yet checkpointed, a writer's work in progress, pages a checkpoint is
// writing): then it is read through an ordinary read-only connection (the log is there already).
absl::StatusOr<int64_t> InspectExisting(const std::string& path) {
  std::error_code error;
  const uintmax_t log_bytes = std::filesystem::file_size(path + "-wal", error);
  const bool log = !error && log_bytes > 0;
  PONDER_ASSIGN_OR_RETURN(sqlite::Database db,
                          sqlite::Database::Open(path, log ? sqlite::Database::Access::kReadOnly
                                                           : sqlite::Database::Access::kInspect));
  return ExperimentSchemaVersion(db);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::Open(const std::string& path,
                                                                       int readers) {
  // An existing file is looked at first: opening it for writing switches it to write-ahead
  // logging, which another program's database must not see.
  std::error_code error;
  if (std::filesystem::exists(path, error)) {
    PONDER_RETURN_IF_ERROR(InspectExisting(path).status());
  }
  PONDER_ASSIGN_OR_RETURN(sqlite::Database db, sqlite::Database::Open(path));
  PONDER_RETURN_IF_ERROR(Migrate(db, ExperimentStoreMigrations()));
  PONDER_RETURN_IF_ERROR(MarkExperimentDatabase(db));
  std::vector<sqlite::Database> reader_connections;
  if (path != ":memory:" && !path.empty()) {
    // Query-only: a read cannot write by mistake, and the last connection to close still tidies
    // the write-ahead log away (Access::kQueryOnly).
    for (int i = 0; i < readers; ++i) {
      PONDER_ASSIGN_OR_RETURN(reader_connections.emplace_back(),
                              sqlite::Database::Open(path, sqlite::Database::Access::kQueryOnly));
    }
  }
  return FromDatabase(std::move(db), std::move(reader_connections));
}

absl::StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::OpenForReading(
    const std::string& path) {
  PONDER_ASSIGN_OR_RETURN(int64_t version, InspectExisting(path));
  // Query-only rather than read-only: a read-only connection would leave the write-ahead log and
  // its index beside the file after `ponder query`.
  PONDER_ASSIGN_OR_RETURN(sqlite::Database db,
                          sqlite::Database::Open(path, sqlite::Database::Access::kQueryOnly));
  PONDER_RETURN_IF_ERROR(CheckNotNewer(db, version, ExperimentStoreMigrations()));
  // A reader does not migrate: what it reads (experiments, runs, candidates, steps, and of
  // problems what version 1 had) is in every version; only a writer's LoadProblems reads
  // problems.code_tests and example_tests (version 2), and a writer migrates the file first.
  if (version == 0) {
    return absl::NotFoundError(
        absl::StrCat("the database '", path, "' has no experiments (it is empty)"));
  }
  return FromDatabase(std::move(db), {});
}

absl::StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::FromDatabase(
    sqlite::Database db, std::vector<sqlite::Database> readers) {
  std::unique_ptr<ExperimentStore> store(new ExperimentStore(std::move(db)));
  {
    absl::MutexLock lock(&store->mu_);
    PONDER_RETURN_IF_ERROR(store->PrepareStatements());
  }
  store->readers_ = std::move(readers);
  absl::MutexLock lock(&store->readers_mu_);
  for (sqlite::Database& reader : store->readers_) store->free_readers_.push_back(&reader);
  return store;
}

template <typename Read>
auto ExperimentStore::WithReader(Read read) -> decltype(read(std::declval<sqlite::Database&>())) {
  if (readers_.empty()) {
    absl::MutexLock lock(&mu_);
    return read(db_);
  }
  sqlite::Database* reader = nullptr;
  {
    absl::MutexLock lock(&readers_mu_);
    readers_mu_.Await(absl::Condition(
        +[](std::vector<sqlite::Database*>* free) { return !free->empty(); }, &free_readers_));
    reader = free_readers_.back();
    free_readers_.pop_back();
  }
  auto result = read(*reader);
  absl::MutexLock lock(&readers_mu_);
  free_readers_.push_back(reader);
  return result;
}

void ExperimentStore::CountWrite(int64_t experiment_id) {
  absl::MutexLock lock(&writes_mu_);
  ++write_counts_[experiment_id];
}

uint64_t ExperimentStore::WriteCount(int64_t experiment_id) const {
  absl::MutexLock lock(&writes_mu_);
  auto it = write_counts_.find(experiment_id);
  return it == write_counts_.end() ? 0 : it->second;
}

absl::Status ExperimentStore::PrepareStatements() {
  PONDER_ASSIGN_OR_RETURN(insert_run_, db_.Prepare(kInsertRun));
  PONDER_ASSIGN_OR_RETURN(insert_candidate_, db_.Prepare(kInsertCandidate));
  PONDER_ASSIGN_OR_RETURN(insert_step_, db_.Prepare(kInsertStep));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ExperimentStore::CreateExperiment(const NewExperiment& experiment) {
  v1::ExperimentSpec config = experiment.spec;
  config.clear_problems();
  absl::MutexLock lock(&mu_);
  PONDER_ASSIGN_OR_RETURN(sqlite::Transaction transaction, sqlite::Transaction::Begin(db_));
  PONDER_ASSIGN_OR_RETURN(
      sqlite::Statement insert,
      db_.Prepare("INSERT INTO experiments (name, config_json, model, dataset, status, "
                  "code_version, runs_planned, created_at, model_fingerprint, "
                  "reward_models_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
  nlohmann::json reward_models = nlohmann::json::object();
  for (const auto& [name, identity] : experiment.models.reward_models) {
    reward_models[name] = {{"path", identity.path}, {"fingerprint", identity.fingerprint}};
  }
  insert.BindText(1, experiment.spec.name());
  insert.BindText(2, ToJson(config));
  insert.BindText(3, experiment.models.policy.path);
  insert.BindText(4, experiment.dataset);
  insert.BindText(5, ExperimentStatusName(v1::EXPERIMENT_STATUS_RUNNING));
  insert.BindText(6, experiment.code_version);
  insert.BindInt(7, experiment.runs_planned);
  insert.BindText(8, FormatStoreTime(experiment.create_time));
  insert.BindText(9, experiment.models.policy.fingerprint);
  insert.BindText(10, reward_models.dump());
  PONDER_RETURN_IF_ERROR(insert.Run());
  const int64_t id = db_.last_insert_rowid();
  PONDER_ASSIGN_OR_RETURN(
      sqlite::Statement problem,
      db_.Prepare("INSERT INTO problems (experiment_id, problem_index, source_id, text, "
                  "reference_answer, answer_format, code_tests, example_tests) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  for (size_t i = 0; i < experiment.problems.size(); ++i) {
    const v1::Problem& p = experiment.problems[i];
    problem.BindInt(1, id);
    problem.BindInt(2, static_cast<int64_t>(i));
    problem.BindText(3, p.id());
    problem.BindText(4, p.text());
    problem.BindOptionalText(5, p.has_reference_answer()
                                    ? std::optional<std::string>(p.reference_answer())
                                    : std::nullopt);
    problem.BindText(6, AnswerFormatName(p.answer_format()));
    problem.BindOptionalText(
        7, p.has_code_tests() ? std::optional<std::string>(ToJson(p.code_tests())) : std::nullopt);
    problem.BindOptionalText(8, p.has_example_tests()
                                    ? std::optional<std::string>(ToJson(p.example_tests()))
                                    : std::nullopt);
    PONDER_RETURN_IF_ERROR(problem.Run());
  }
  PONDER_RETURN_IF_ERROR(transaction.Commit());
  CountWrite(id);
  return id;
}

absl::Status ExperimentStore::SetStatus(int64_t experiment_id, v1::ExperimentStatus status,
                                        std::string_view error,
                                        std::optional<absl::Time> finish_time, bool resumed) {
  absl::MutexLock lock(&mu_);
  PONDER_ASSIGN_OR_RETURN(
      sqlite::Statement update,
      db_.Prepare("UPDATE experiments SET status = ?2, error = ?3, finished_at = ?4, "
                  "resume_count = resume_count + ?5 WHERE id = ?1"));
  update.BindInt(1, experiment_id);
  update.BindText(2, ExperimentStatusName(status));
  update.BindText(3, error);
  update.BindOptionalText(4, finish_time.has_value()
                                 ? std::optional<std::string>(FormatStoreTime(*finish_time))
                                 : std::nullopt);
  update.BindInt(5, resumed ? 1 : 0);
  // Counted whatever the outcome: a failed write changes nothing, and a count too many only
  // costs a caller one more read.
  absl::Cleanup count = [this, experiment_id] { CountWrite(experiment_id); };
  PONDER_RETURN_IF_ERROR(update.Run());
  PONDER_ASSIGN_OR_RETURN(int64_t changed, db_.QueryInt("SELECT changes()"));
  if (changed == 0) return absl::NotFoundError(absl::StrCat("no experiment ", experiment_id));
  return absl::OkStatus();
}

absl::Status ExperimentStore::InsertRuns(std::span<const RunRecord> runs) {
  if (runs.empty()) return absl::OkStatus();
  absl::Cleanup count = [this, runs] {
    for (const RunRecord& run : runs) CountWrite(run.experiment_id);
  };
  absl::MutexLock lock(&mu_);
  PONDER_ASSIGN_OR_RETURN(sqlite::Transaction transaction, sqlite::Transaction::Begin(db_));
  for (const RunRecord& run : runs) {
    absl::Status status = InsertRun(run);
    if (!status.ok()) {  // Statement::Run has reset the statements; the transaction rolls back
      return absl::Status(
          status.code(),
          absl::StrCat("recording run (experiment ", run.experiment_id, ", problem ",
                       run.key.problem_index, ", strategy '", run.strategy, "', budget ",
                       run.budget.n(), ", seed ", run.seed, "): ", status.message()));
    }
  }
  return transaction.Commit();
}

absl::Status ExperimentStore::InsertRun(const RunRecord& run) {
  const v1::SolveResult& result = run.result;
  const v1::Usage& usage = result.usage();
  sqlite::Statement& r = insert_run_;
  r.BindInt(1, run.experiment_id);
  r.BindInt(2, run.key.problem_index);
  r.BindInt(3, run.key.strategy_index);
  r.BindText(4, run.strategy);
  r.BindInt(5, run.key.budget_index);
  r.BindInt(6, run.budget.n());
  r.BindInt(7, run.budget.max_generated_tokens());
  r.BindInt(8, run.key.seed_index);
  r.BindInt(9, static_cast<int64_t>(run.seed));  // two's complement for seeds >= 2^63
  r.BindText(10, run.status.ok() ? "succeeded" : "failed");
  r.BindText(11, run.status.ok() ? std::string() : std::string(run.status.ToString()));
  r.BindOptionalText(
      12, result.has_answer() ? std::optional<std::string>(result.answer()) : std::nullopt);
  r.BindOptionalBool(13, run.correct);
  r.BindInt(14, usage.prompt_tokens_requested());
  r.BindInt(15, usage.prompt_tokens_computed());
  r.BindInt(16, usage.generated_tokens());
  r.BindInt(17, usage.verifier_tokens());
  r.BindInt(18, usage.engine_calls());
  r.BindDouble(19, usage.full_generation_equivalents());
  r.BindDouble(20, usage.wall_seconds());
  r.BindText(21, DiagnosticsJson(result));
  r.BindText(22, FormatStoreTime(run.finish_time));
  PONDER_RETURN_IF_ERROR(r.Run());
  const int64_t run_id = db_.last_insert_rowid();

  sqlite::Statement& c = insert_candidate_;
  for (int i = 0; i < result.candidates_size(); ++i) {
    const v1::Candidate& candidate = result.candidates(i);
    c.BindInt(1, run_id);
    c.BindInt(2, i);
    c.BindText(3, candidate.text());
    c.BindOptionalText(
        4, candidate.has_answer() ? std::optional<std::string>(candidate.answer()) : std::nullopt);
    c.BindInt(5, candidate.answer_class());
    c.BindOptionalBool(6, static_cast<size_t>(i) < run.candidate_correct.size()
                              ? std::optional<bool>(run.candidate_correct[i])
                              : std::nullopt);
    c.BindInt(7, candidate.num_tokens());
    c.BindDouble(8, candidate.cumulative_logprob());
    c.BindDouble(9, candidate.mean_logprob());
    if (candidate.has_score()) {
      c.BindDouble(10, candidate.score());
    } else {
      c.BindNull(10);
    }
    c.BindText(11, nlohmann::json(std::vector<double>(candidate.step_scores().begin(),
                                                      candidate.step_scores().end()))
                       .dump());
    c.BindInt(12, candidate.selected() ? 1 : 0);
    c.BindInt(13, candidate.pruned() ? 1 : 0);
    c.BindText(14, candidate.finish_reason());
    PONDER_RETURN_IF_ERROR(c.Run());
  }

  sqlite::Statement& s = insert_step_;
  for (int i = 0; i < result.trace_size(); ++i) {
    const v1::TraceStep& step = result.trace(i);
    s.BindInt(1, run_id);
    s.BindInt(2, i);
    s.BindInt(3, step.iteration());
    s.BindInt(4, step.node());
    s.BindInt(5, step.parent());
    s.BindInt(6, step.gibbs_iteration());
    s.BindText(7, step.text());
    s.BindInt(8, step.num_tokens());
    if (step.has_reward()) {
      s.BindDouble(9, step.reward());
    } else {
      s.BindNull(9);
    }
    if (step.has_weight()) {
      s.BindDouble(10, step.weight());
    } else {
      s.BindNull(10);
    }
    s.BindInt(11, step.finished() ? 1 : 0);
    s.BindInt(12, step.kept() ? 1 : 0);
    s.BindInt(13, step.copies());
    PONDER_RETURN_IF_ERROR(s.Run());
  }
  return absl::OkStatus();
}

namespace {

absl::Status AddCounts(sqlite::Database& db, v1::Experiment& experiment) {
  PONDER_ASSIGN_OR_RETURN(sqlite::Statement counts,
                          db.Prepare("SELECT count(*), coalesce(sum(status = 'failed'), 0), "
                                     "(SELECT count(*) FROM problems WHERE experiment_id = ?1) "
                                     "FROM runs WHERE experiment_id = ?1"));
  counts.BindInt(1, experiment.id());
  PONDER_ASSIGN_OR_RETURN(bool row, counts.Step());
  if (row) {
    experiment.set_runs_recorded(counts.ColumnInt(0));
    experiment.set_runs_failed(counts.ColumnInt(1));
    experiment.set_problems(counts.ColumnInt(2));
  }
  return absl::OkStatus();
}

absl::Status AddCells(sqlite::Database& db, v1::Experiment& experiment) {
  PONDER_ASSIGN_OR_RETURN(
      sqlite::Statement cells,
      db.Prepare("SELECT strategy, budget_n, count(*), count(correct), "
                 "coalesce(sum(correct), 0), avg(generated_tokens), avg(wall_seconds) "
                 "FROM runs WHERE experiment_id = ?1 "
                 "GROUP BY strategy_index, strategy, budget_index, budget_n "
                 "ORDER BY strategy_index, budget_index"));
  cells.BindInt(1, experiment.id());
  while (true) {
    PONDER_ASSIGN_OR_RETURN(bool row, cells.Step());
    if (!row) break;
    v1::ExperimentCell& cell = *experiment.add_cells();
    cell.set_strategy(cells.ColumnText(0));
    cell.set_budget_n(static_cast<int32_t>(cells.ColumnInt(1)));
    cell.set_runs(cells.ColumnInt(2));
    cell.set_graded(cells.ColumnInt(3));
    cell.set_correct(cells.ColumnInt(4));
    cell.set_accuracy(cell.graded() > 0
                          ? static_cast<double>(cell.correct()) / static_cast<double>(cell.graded())
                          : 0.0);
    cell.set_mean_generated_tokens(cells.ColumnDouble(5));
    cell.set_mean_wall_seconds(cells.ColumnDouble(6));
  }
  return absl::OkStatus();
}

absl::Status AddDetails(sqlite::Database& db, v1::RunResult& run) {
  v1::SolveResult& result = *run.mutable_result();
  PONDER_ASSIGN_OR_RETURN(
      sqlite::Statement candidates,
      db.Prepare("SELECT text, answer, answer_class, num_tokens, cumulative_logprob, "
                 "mean_logprob, score, step_scores_json, selected, pruned, finish_reason "
                 "FROM candidates WHERE run_id = ?1 ORDER BY candidate_index"));
  candidates.BindInt(1, run.run_id());
  while (true) {
    PONDER_ASSIGN_OR_RETURN(bool row, candidates.Step());
    if (!row) break;
    v1::Candidate& c = *result.add_candidates();
    c.set_index(result.candidates_size() - 1);
    c.set_text(candidates.ColumnText(0));
    if (!candidates.ColumnIsNull(1)) c.set_answer(candidates.ColumnText(1));
    c.set_answer_class(static_cast<int32_t>(candidates.ColumnInt(2)));
    c.set_num_tokens(static_cast<int32_t>(candidates.ColumnInt(3)));
    c.set_cumulative_logprob(candidates.ColumnDouble(4));
    c.set_mean_logprob(candidates.ColumnDouble(5));
    if (!candidates.ColumnIsNull(6)) c.set_score(candidates.ColumnDouble(6));
    nlohmann::json scores = nlohmann::json::parse(candidates.ColumnText(7), nullptr, false);
    if (scores.is_array()) {
      for (const auto& score : scores) {
        if (score.is_number()) c.add_step_scores(score.get<double>());
      }
    }
    c.set_selected(candidates.ColumnInt(8) != 0);
    c.set_pruned(candidates.ColumnInt(9) != 0);
    c.set_finish_reason(candidates.ColumnText(10));
    if (c.selected() && result.selected_candidate() < 0) result.set_selected_candidate(c.index());
  }
  PONDER_ASSIGN_OR_RETURN(
      sqlite::Statement steps,
      db.Prepare("SELECT iteration, node, parent, gibbs_iteration, text, num_tokens, reward, "
                 "weight, finished, kept, copies FROM steps WHERE run_id = ?1 "
                 "ORDER BY step_index"));
  steps.BindInt(1, run.run_id());
  while (true) {
    PONDER_ASSIGN_OR_RETURN(bool row, steps.Step());
    if (!row) break;
    v1::TraceStep& step = *result.add_trace();
    step.set_iteration(static_cast<int32_t>(steps.ColumnInt(0)));
    step.set_node(static_cast<int32_t>(steps.ColumnInt(1)));
    step.set_parent(static_cast<int32_t>(steps.ColumnInt(2)));
    step.set_gibbs_iteration(static_cast<int32_t>(steps.ColumnInt(3)));
    step.set_text(steps.ColumnText(4));
    step.set_num_tokens(static_cast<int32_t>(steps.ColumnInt(5)));
    if (!steps.ColumnIsNull(6)) step.set_reward(steps.ColumnDouble(6));
    if (!steps.ColumnIsNull(7)) step.set_weight(steps.ColumnDouble(7));
    step.set_finished(steps.ColumnInt(8) != 0);
    step.set_kept(steps.ColumnInt(9) != 0);
    step.set_copies(static_cast<int32_t>(steps.ColumnInt(10)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Experiment> ExperimentStore::GetExperiment(int64_t experiment_id,
                                                              bool with_cells) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<v1::Experiment> {
    PONDER_ASSIGN_OR_RETURN(sqlite::Statement select,
                            db.Prepare(absl::StrCat(kSelectExperiment, "WHERE id = ?1")));
    select.BindInt(1, experiment_id);
    PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no experiment ", experiment_id));
    PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment, ReadExperimentRow(select));
    PONDER_RETURN_IF_ERROR(AddCounts(db, experiment));
    if (with_cells) PONDER_RETURN_IF_ERROR(AddCells(db, experiment));
    return experiment;
  });
}

absl::StatusOr<std::vector<v1::Experiment>> ExperimentStore::ListExperiments(int64_t before_id,
                                                                             int limit) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<std::vector<v1::Experiment>> {
    PONDER_ASSIGN_OR_RETURN(
        sqlite::Statement select,
        db.Prepare(
            absl::StrCat(kSelectExperiment, "WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC LIMIT ?2")));
    select.BindInt(1, before_id);
    select.BindInt(2, limit);
    std::vector<v1::Experiment> experiments;
    while (true) {
      PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      PONDER_ASSIGN_OR_RETURN(v1::Experiment experiment, ReadExperimentRow(select));
      PONDER_RETURN_IF_ERROR(AddCounts(db, experiment));
      experiments.push_back(std::move(experiment));
    }
    return experiments;
  });
}

absl::StatusOr<std::vector<int64_t>> ExperimentStore::ExperimentsWithStatus(
    v1::ExperimentStatus status) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<std::vector<int64_t>> {
    PONDER_ASSIGN_OR_RETURN(sqlite::Statement select,
                            db.Prepare("SELECT id FROM experiments WHERE status = ?1 ORDER BY id"));
    select.BindText(1, ExperimentStatusName(status));
    std::vector<int64_t> ids;
    while (true) {
      PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      ids.push_back(select.ColumnInt(0));
    }
    return ids;
  });
}

absl::StatusOr<std::vector<v1::Problem>> ExperimentStore::LoadProblems(int64_t experiment_id) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<std::vector<v1::Problem>> {
    PONDER_ASSIGN_OR_RETURN(
        sqlite::Statement select,
        db.Prepare("SELECT source_id, text, reference_answer, answer_format, code_tests, "
                   "example_tests FROM problems WHERE experiment_id = ?1 ORDER BY problem_index"));
    select.BindInt(1, experiment_id);
    std::vector<v1::Problem> problems;
    while (true) {
      PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      v1::Problem& problem = problems.emplace_back();
      problem.set_id(select.ColumnText(0));
      problem.set_text(select.ColumnText(1));
      if (!select.ColumnIsNull(2)) problem.set_reference_answer(select.ColumnText(2));
      const std::string format = select.ColumnText(3);
      problem.set_answer_format(format == "gsm8k"  ? v1::ANSWER_FORMAT_GSM8K
                                : format == "code" ? v1::ANSWER_FORMAT_CODE
                                                   : v1::ANSWER_FORMAT_MATH);
      // mutable_* sets a field, so only for a column that holds one.
      auto read_tests = [&](int column, std::string_view name,
                            v1::CodeTests* (v1::Problem::*field)()) -> absl::Status {
        if (select.ColumnIsNull(column)) return absl::OkStatus();
        return FromJson(select.ColumnText(column), *(problem.*field)(),
                        absl::StrCat("problems.", AsAbsl(name), " of problem ", problems.size() - 1,
                                     " of experiment ", experiment_id));
      };
      PONDER_RETURN_IF_ERROR(read_tests(4, "code_tests", &v1::Problem::mutable_code_tests));
      PONDER_RETURN_IF_ERROR(read_tests(5, "example_tests", &v1::Problem::mutable_example_tests));
    }
    return problems;
  });
}

absl::StatusOr<ExperimentModels> ExperimentStore::GetExperimentModels(int64_t experiment_id) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<ExperimentModels> {
    PONDER_ASSIGN_OR_RETURN(sqlite::Statement select,
                            db.Prepare("SELECT model, model_fingerprint, reward_models_json "
                                       "FROM experiments WHERE id = ?1"));
    select.BindInt(1, experiment_id);
    PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no experiment ", experiment_id));
    ExperimentModels models;
    models.policy = {select.ColumnText(0), select.ColumnText(1)};
    const nlohmann::json reward_models =
        nlohmann::json::parse(select.ColumnText(2), nullptr, /*allow_exceptions=*/false);
    if (!reward_models.is_object()) {
      return absl::DataLossError(absl::StrCat("experiments.reward_models_json of experiment ",
                                              experiment_id, " is not a JSON object"));
    }
    for (const auto& [name, identity] : reward_models.items()) {
      auto text = [&identity](const char* key) {
        auto it = identity.find(key);
        return it != identity.end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      models.reward_models[name] = {text("path"), text("fingerprint")};
    }
    return models;
  });
}

absl::StatusOr<std::vector<RunKey>> ExperimentStore::RecordedRunKeys(int64_t experiment_id) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<std::vector<RunKey>> {
    PONDER_ASSIGN_OR_RETURN(
        sqlite::Statement select,
        db.Prepare("SELECT p.problem_index, r.strategy_index, r.budget_index, r.seed_index "
                   "FROM runs r JOIN problems p ON p.id = r.problem_id "
                   "WHERE r.experiment_id = ?1 "
                   "ORDER BY p.problem_index, r.strategy_index, r.budget_index, r.seed_index"));
    select.BindInt(1, experiment_id);
    std::vector<RunKey> keys;
    while (true) {
      PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      keys.push_back(
          {static_cast<int32_t>(select.ColumnInt(0)), static_cast<int32_t>(select.ColumnInt(1)),
           static_cast<int32_t>(select.ColumnInt(2)), static_cast<int32_t>(select.ColumnInt(3))});
    }
    return keys;
  });
}

absl::StatusOr<std::vector<v1::RunResult>> ExperimentStore::ListRuns(int64_t experiment_id,
                                                                     int64_t after_run_id,
                                                                     int limit, bool details) {
  return WithReader([&](sqlite::Database& db) -> absl::StatusOr<std::vector<v1::RunResult>> {
    PONDER_ASSIGN_OR_RETURN(
        sqlite::Statement select,
        db.Prepare("SELECT r.id, p.problem_index, p.source_id, r.strategy, r.budget_n, "
                   "r.budget_max_generated_tokens, r.seed, r.status, r.error, r.answer, "
                   "r.correct, r.prompt_tokens_requested, r.prompt_tokens_computed, "
                   "r.generated_tokens, r.verifier_tokens, r.engine_calls, "
                   "r.full_generation_equivalents, r.wall_seconds, r.diagnostics_json, "
                   "r.finished_at FROM runs r JOIN problems p ON p.id = r.problem_id "
                   "WHERE r.experiment_id = ?1 AND r.id > ?2 ORDER BY r.id LIMIT ?3"));
    select.BindInt(1, experiment_id);
    select.BindInt(2, after_run_id);
    select.BindInt(3, limit);
    std::vector<v1::RunResult> runs;
    while (true) {
      PONDER_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      v1::RunResult& run = runs.emplace_back();
      run.set_run_id(select.ColumnInt(0));
      run.set_experiment_id(experiment_id);
      run.set_problem_index(static_cast<int32_t>(select.ColumnInt(1)));
      run.set_problem_id(select.ColumnText(2));
      run.set_strategy(select.ColumnText(3));
      run.mutable_budget()->set_n(static_cast<int32_t>(select.ColumnInt(4)));
      run.mutable_budget()->set_max_generated_tokens(select.ColumnInt(5));
      run.set_seed(static_cast<uint64_t>(select.ColumnInt(6)));
      run.set_status(select.ColumnText(7) == "succeeded" ? v1::RUN_STATUS_SUCCEEDED
                                                         : v1::RUN_STATUS_FAILED);
      run.set_error(select.ColumnText(8));
      v1::SolveResult& result = *run.mutable_result();
      result.set_selected_candidate(-1);
      if (!select.ColumnIsNull(9)) {
        run.set_answer(select.ColumnText(9));
        result.set_answer(select.ColumnText(9));
      }
      if (!select.ColumnIsNull(10)) run.set_correct(select.ColumnInt(10) != 0);
      v1::Usage& usage = *run.mutable_usage();
      usage.set_prompt_tokens_requested(select.ColumnInt(11));
      usage.set_prompt_tokens_computed(select.ColumnInt(12));
      usage.set_generated_tokens(select.ColumnInt(13));
      usage.set_verifier_tokens(select.ColumnInt(14));
      usage.set_engine_calls(static_cast<int32_t>(select.ColumnInt(15)));
      usage.set_full_generation_equivalents(select.ColumnDouble(16));
      usage.set_wall_seconds(select.ColumnDouble(17));
      *result.mutable_usage() = usage;
      nlohmann::json diagnostics = nlohmann::json::parse(select.ColumnText(18), nullptr, false);
      if (diagnostics.is_object()) {
        for (const auto& [name, value] : diagnostics.items()) {
          if (value.is_number()) (*result.mutable_diagnostics())[name] = value.get<double>();
        }
      }
      SetTimestamp(select.ColumnText(19), *run.mutable_finish_time());
    }
    if (details) {
      for (v1::RunResult& run : runs) PONDER_RETURN_IF_ERROR(AddDetails(db, run));
    }
    return runs;
  });
}

}  // namespace ponder::orchestrator
