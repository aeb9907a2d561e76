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
};

// Every migration of the experiment store, oldest first.
std::span<const Migration> ExperimentStoreMigrations();

// Brings `db` to the last version in `migrations`. FailedPrecondition when the file's version
// is newer than the last migration; a failing migration leaves the file at its previous version.
absl::Status Migrate(sqlite::Database& db, std::span<const Migration> migrations);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STORE_SCHEMA_H_
