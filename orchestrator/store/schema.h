// The experiment database's schema and its migrations (docs/store.md documents the tables).
//
// The schema version lives in `PRAGMA user_version`. Opening a database applies, in order and
// each in its own transaction together with the version bump, every migration newer than the
// file; a file newer than this program knows is refused rather than misread.
#ifndef PONDER_ORCHESTRATOR_STORE_SCHEMA_H_
#define PONDER_ORCHESTRATOR_STORE_SCHEMA_H_

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "orchestrator/store/sqlite.h"

namespace ponder::orchestrator {

struct Migration {
  int version;  // user_version after this migration; versions count up from 1
  std::string_view sql;
  // Whether the migration drops and recreates tables that others reference: it then runs with
  // foreign keys off (a dropped table's ON DELETE CASCADE would empty the tables below it) and
  // commits only if it broke no reference between rows.
  bool rebuilds_tables = false;
};

// Every migration of the experiment store, oldest first.
std::span<const Migration> ExperimentStoreMigrations();

// The experiment database's `PRAGMA application_id` ("Pndr"), written when a writer opens it
// (MarkExperimentDatabase). It is not a schema version: builds that predate it read the file as
// before, and files written before it are known by their `experiments` table.
inline constexpr int64_t kExperimentDatabaseId = 0x506E6472;

// Writes kExperimentDatabaseId into the file's header unless it is there.
absl::Status MarkExperimentDatabase(sqlite::Database& db);

// What an existing file is to the experiment store: its schema version (0 for a new, empty
// database), or FailedPrecondition saying what it is when it is another program's SQLite
// database, so that a wrong --db is refused before anything is written to it.
absl::StatusOr<int64_t> ExperimentSchemaVersion(sqlite::Database& db);

// FailedPrecondition when `version` is newer than the last of `migrations`.
absl::Status CheckNotNewer(const sqlite::Database& db, int64_t version,
                           std::span<const Migration> migrations);

// Brings `db` to the last version in `migrations`. FailedPrecondition when the file's version
// is newer than the last migration; a failing migration leaves the file at its previous version.
absl::Status Migrate(sqlite::Database& db, std::span<const Migration> migrations);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STORE_SCHEMA_H_
