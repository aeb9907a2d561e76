#include "orchestrator/store/schema.h"

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ponder::orchestrator {
namespace {

// Version 1. Times are ISO-8601 UTC text ("2025-01-31T12:00:00.000Z"), which SQLite's date
// functions read. Booleans are 0/1; NULL `correct` means "not graded" (no reference answer).
// A run row and all its candidates and steps are written in one transaction, and the UNIQUE
// key of `runs` is the run's place in the experiment's grid, so a run is recorded at most once.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE experiments (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  config_json   TEXT    NOT NULL,
  model         TEXT    NOT NULL,
  dataset       TEXT    NOT NULL,
  status        TEXT    NOT NULL
                CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'interrupted')),
  error         TEXT    NOT NULL DEFAULT '',
  code_version  TEXT    NOT NULL,
  runs_planned  INTEGER NOT NULL CHECK (runs_planned >= 0),
  resume_count  INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT    NOT NULL,
  finished_at   TEXT
);
CREATE INDEX experiments_by_status ON experiments (status);

CREATE TABLE problems (
  id               INTEGER PRIMARY KEY,
  experiment_id    INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  problem_index    INTEGER NOT NULL CHECK (problem_index >= 0),
  source_id        TEXT    NOT NULL,
  text             TEXT    NOT NULL,
  reference_answer TEXT,
  answer_format    TEXT    NOT NULL CHECK (answer_format IN ('math', 'gsm8k')),
  UNIQUE (experiment_id, problem_index)
);

CREATE TABLE runs (
  id                          INTEGER PRIMARY KEY,
  experiment_id               INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  problem_id                  INTEGER NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
  strategy_index              INTEGER NOT NULL,
  strategy                    TEXT    NOT NULL,
  budget_index                INTEGER NOT NULL,
  budget_n                    INTEGER NOT NULL,
  budget_max_generated_tokens INTEGER NOT NULL DEFAULT 0,
  seed_index                  INTEGER NOT NULL,
  seed                        INTEGER NOT NULL,
  status                      TEXT    NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error                       TEXT    NOT NULL DEFAULT '',
  answer                      TEXT,
  correct                     INTEGER CHECK (correct IN (0, 1)),
  prompt_tokens_requested     INTEGER NOT NULL DEFAULT 0,
  prompt_tokens_computed      INTEGER NOT NULL DEFAULT 0,
  generated_tokens            INTEGER NOT NULL DEFAULT 0,
  verifier_tokens             INTEGER NOT NULL DEFAULT 0,
  engine_calls                INTEGER NOT NULL DEFAULT 0,
  full_generation_equivalents REAL    NOT NULL DEFAULT 0,
  wall_seconds                REAL    NOT NULL DEFAULT 0,
  diagnostics_json            TEXT    NOT NULL DEFAULT '{}',
  finished_at                 TEXT    NOT NULL,
  UNIQUE (experiment_id, problem_id, strategy_index, budget_index, seed_index)
);
CREATE INDEX runs_by_cell ON runs (experiment_id, strategy, budget_n);
CREATE INDEX runs_by_problem ON runs (problem_id);

CREATE TABLE candidates (
  id                 INTEGER PRIMARY KEY,
  run_id             INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  candidate_index    INTEGER NOT NULL,
  text               TEXT    NOT NULL,
  answer             TEXT,
  answer_class       INTEGER NOT NULL,
  correct            INTEGER CHECK (correct IN (0, 1)),
  num_tokens         INTEGER NOT NULL,
  cumulative_logprob REAL    NOT NULL,
  mean_logprob       REAL    NOT NULL,
  score              REAL,
  step_scores_json   TEXT    NOT NULL DEFAULT '[]',
  selected           INTEGER NOT NULL CHECK (selected IN (0, 1)),
  pruned             INTEGER NOT NULL CHECK (pruned IN (0, 1)),
  finish_reason      TEXT    NOT NULL,
  UNIQUE (run_id, candidate_index)
);

CREATE TABLE steps (
  id              INTEGER PRIMARY KEY,
  run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step_index      INTEGER NOT NULL,
  iteration       INTEGER NOT NULL,
  node            INTEGER NOT NULL,
  parent          INTEGER NOT NULL,
  gibbs_iteration INTEGER NOT NULL,
  text            TEXT    NOT NULL,
  num_tokens      INTEGER NOT NULL,
  reward          REAL,
  weight          REAL,
  finished        INTEGER NOT NULL CHECK (finished IN (0, 1)),
  kept            INTEGER NOT NULL CHECK (kept IN (0, 1)),
  copies          INTEGER NOT NULL,
  UNIQUE (run_id, step_index)
);
)sql";

// Version 2: code problems (HumanEval, MBPP). `problems.answer_format` also takes 'code', and
// `code_tests` and `example_tests` hold such a problem's tests (ponder.v1.CodeTests in
// protobuf's JSON mapping; NULL when unset). SQLite cannot change a CHECK constraint in place, so
// the table is rebuilt (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
// Schema Changes"): with foreign keys off, so that dropping the old table does not cascade into the
// runs that reference it; the row ids are kept, so those references still hold, which
// Migrate checks before it commits.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE problems_v2 (
  id               INTEGER PRIMARY KEY,
  experiment_id    INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  problem_index    INTEGER NOT NULL CHECK (problem_index >= 0),
  source_id        TEXT    NOT NULL,
  text             TEXT    NOT NULL,
  reference_answer TEXT,
  answer_format    TEXT    NOT NULL CHECK (answer_format IN ('math', 'gsm8k', 'code')),
  code_tests       TEXT,
  example_tests    TEXT,
  UNIQUE (experiment_id, problem_index)
);
INSERT INTO problems_v2 (id, experiment_id, problem_index, source_id, text, reference_answer,
                         answer_format)
  SELECT id, experiment_id, problem_index, source_id, text, reference_answer, answer_format
  FROM problems;
DROP TABLE problems;
ALTER TABLE problems_v2 RENAME TO problems;
)sql";

// Version 3: what identifies the models an experiment ran with, so that resuming it with other
// models is refused (orchestrator/model_identity.h). `model_fingerprint` is the policy model's;
// `reward_models_json` maps each reward model the verifiers name to {"path", "fingerprint"}.
// Experiments recorded before have '' and '{}': only their policy model's path is known.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE experiments ADD COLUMN model_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE experiments ADD COLUMN reward_models_json TEXT NOT NULL DEFAULT '{}';
)sql";

constexpr Migration kMigrations[] = {
    {1, kSchemaV1}, {2, kSchemaV2, /*rebuilds_tables=*/true}, {3, kSchemaV3}};

// References to rows that are not there (PRAGMA foreign_key_check: a row per reference). A file
// may hold some before a migration: rows a sqlite3 shell (foreign keys off by default) left when
// it deleted their parents.
absl::StatusOr<int64_t> BrokenReferences(sqlite::Database& db) {
  return db.QueryInt("SELECT count(*) FROM pragma_foreign_key_check");
}

}  // namespace

std::span<const Migration> ExperimentStoreMigrations() { return kMigrations; }

absl::StatusOr<int64_t> ExperimentSchemaVersion(sqlite::Database& db) {
  // One statement, so one snapshot: another process may be creating the schema meanwhile.
  PONDER_ASSIGN_OR_RETURN(sqlite::Statement facts,
                          db.Prepare("SELECT (SELECT application_id FROM pragma_application_id()), "
                                     "(SELECT user_version FROM pragma_user_version()), "
                                     "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                     "name NOT LIKE 'sqlite\\_%' ESCAPE '\\'), "
                                     "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                     "name = 'experiments')"));
  PONDER_ASSIGN_OR_RETURN(bool row, facts.Step());
  if (!row) return absl::InternalError("reading the schema facts returned no row");
  const int64_t id = facts.ColumnInt(0), version = facts.ColumnInt(1);
  const int64_t tables = facts.ColumnInt(2), experiments = facts.ColumnInt(3);
  if (id == kExperimentDatabaseId) return version;
  const std::string advice = "; point --db at an experiment database (or a new file)";
  if (id != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", db.path(), "' is another program's SQLite database (application_id ", id,
                     ")", advice));
  }
  if ((version == 0 && tables == 0) || (version >= 1 && experiments == 1)) return version;
  return absl::FailedPreconditionError(
      absl::StrCat("'", db.path(), "' is a SQLite database of another program (", tables,
                   tables == 1 ? " table" : " tables", ", schema version ", version,
                   ", no experiments table)", advice));
}

absl::Status MarkExperimentDatabase(sqlite::Database& db) {
  PONDER_ASSIGN_OR_RETURN(int64_t id, db.QueryInt("PRAGMA application_id"));
  if (id == kExperimentDatabaseId) return absl::OkStatus();
  return db.Execute(absl::StrCat("PRAGMA application_id = ", kExperimentDatabaseId));
}

absl::Status CheckNotNewer(const sqlite::Database& db, int64_t version,
                           std::span<const Migration> migrations) {
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  if (version <= latest) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("database '", db.path(), "' has schema version ", version,
                   ", newer than this program's ", latest, "; use a newer build of Ponder"));
}

absl::Status Migrate(sqlite::Database& db, std::span<const Migration> migrations) {
  PONDER_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  PONDER_RETURN_IF_ERROR(CheckNotNewer(db, version, migrations));
  for (const Migration& migration : migrations) {
    if (migration.version <= version) continue;
    // PRAGMA foreign_keys is a no-op inside a transaction: it is switched off before and on
    // again after, whatever the outcome. legacy_alter_table keeps the final RENAME from
    // re-parsing views and triggers (a user's, on the file), which would fail on the name of
    // the table dropped a statement before (SQLite's twelve-step procedure, step 10).
    if (migration.rebuilds_tables) {
      PONDER_RETURN_IF_ERROR(
          db.Execute("PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON"));
    }
    absl::Cleanup restore = [&db, &migration] {
      if (migration.rebuilds_tables) {
        db.Execute("PRAGMA legacy_alter_table = OFF; PRAGMA foreign_keys = ON").IgnoreError();
      }
    };
    PONDER_ASSIGN_OR_RETURN(sqlite::Transaction transaction, sqlite::Transaction::Begin(db));
    // Read again under the write lock: another process opening the same new file at the same
    // time may have applied this migration since (a rollback of nothing, then).
    PONDER_ASSIGN_OR_RETURN(version, db.QueryInt("PRAGMA user_version"));
    PONDER_RETURN_IF_ERROR(CheckNotNewer(db, version, migrations));
    if (migration.version <= version) continue;
    absl::StatusOr<int64_t> broken_before = int64_t{0};
    if (migration.rebuilds_tables) broken_before = BrokenReferences(db);
    absl::Status status = broken_before.status();
    if (status.ok()) status = db.Execute(migration.sql);
    if (status.ok() && migration.rebuilds_tables) {
      absl::StatusOr<int64_t> broken_after = BrokenReferences(db);
      status = broken_after.status();
      if (status.ok() && *broken_after > *broken_before) {
        status = absl::InternalError(absl::StrCat(
            "the rebuilt tables break ", *broken_after - *broken_before,
            " references between rows (PRAGMA foreign_key_check); nothing was changed"));
      }
    }
    if (status.ok()) {
      // user_version is part of the database header, so it commits (or rolls back) with the
      // migration's tables.
      status = db.Execute(absl::StrCat("PRAGMA user_version = ", migration.version));
    }
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("migrating to schema version ",
                                                      migration.version, ": ", status.message()));
    }
    PONDER_RETURN_IF_ERROR(transaction.Commit());
    version = migration.version;
  }
  return absl::OkStatus();
}

}  // namespace ponder::orchestrator
