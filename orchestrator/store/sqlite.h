// A small RAII wrapper over SQLite's C API: a connection, prepared statements and transactions,
// with absl::Status errors that carry SQLite's message and the statement that failed.
//
// Not thread-safe: a Database and its Statements belong to one thread at a time (the
// ExperimentStore serialises access with a mutex). Parameter and column indices follow SQLite:
// parameters count from 1 (`?1`), result columns from 0.
#ifndef PONDER_ORCHESTRATOR_STORE_SQLITE_H_
#define PONDER_ORCHESTRATOR_STORE_SQLITE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ponder::orchestrator::sqlite {

// A prepared statement. Bind* record the first binding error, which Step() then returns, so a
// run of binds reads as one block.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  void BindInt(int index, int64_t value);
  void BindDouble(int index, double value);
  // The text is copied (SQLITE_TRANSIENT): it need not outlive the statement.
  void BindText(int index, std::string_view value);
  void BindNull(int index);
  void BindOptionalText(int index, const std::optional<std::string>& value);
  void BindOptionalBool(int index, const std::optional<bool>& value);

  // Advances the statement: true when a result row is ready, false when it has finished.
  absl::StatusOr<bool> Step();
  // Steps to the end (for statements without results) and resets.
  absl::Status Run();
  // Back to the start with every parameter unbound; keeps the compiled statement.
  void Reset();

  // Columns of the statement's result rows.
  int ColumnCount() const;
  int64_t ColumnInt(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;
  std::optional<std::string> ColumnOptionalText(int column) const;
  std::optional<bool> ColumnOptionalBool(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  void NoteBindResult(int code, int index);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
  absl::Status bind_status_;
};

// Whether `path` can be opened as a database, found without creating or changing anything: OK
// for a missing file, an empty one or one that starts with SQLite's header; InvalidArgument
// naming the path for a directory or anything else that is not a regular file (SQLite reported
// a directory as "disk I/O error"), FailedPrecondition "file is not a database" for a file that
// holds something else. Database::Open checks this first; so does DatabaseLock::Acquire, so
// that nothing is created at a path that can never be a database.
absl::Status CheckDatabasePath(const std::string& path);

class Database {
 public:
  enum class Access {
    kReadWrite,
    kReadOnly,
    // Reads only (PRAGMA query_only: a write is an error), but opened for writing where the file
    // allows: as the last connection to a database in write-ahead-log mode it then removes the
    // log and its index on closing (checkpointing the log into the file first, as SQLite does),
    // where a read-only connection leaves both beside the file. For this program's own
    // databases, after a look with kInspect; another program's file is only read with kReadOnly.
    kQueryOnly,
    // The file as it is on disk, to see what it is before deciding to open it: read-only, no
    // locks, nothing created beside it (SQLite's immutable=1; a write-ahead log's content that is
    // not checkpointed yet is not seen).
    kInspect,
  };

  // Opens (creating if needed) the database at `path` (":memory:" for a private in-memory one)
  // with foreign keys on, a 5 s busy timeout and, for files, write-ahead logging with
  // synchronous=NORMAL: a commit survives the process being killed, and readers (the sqlite3
  // shell) never block the writer. kReadOnly and kQueryOnly open an existing file and change
  // nothing it holds (not even its journal mode); in a directory this process may not write,
  // where SQLite cannot create a write-ahead log's index (FILE-shm), a file whose FILE-wal holds
  // no changes is read as it is on disk, and one whose log holds changes is FailedPrecondition
  // saying so. Errors name the path; a file that is not a SQLite database is
  // FailedPrecondition.
  static absl::StatusOr<Database> Open(const std::string& path, Access access = Access::kReadWrite);

  Database() = default;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more statements that return no rows.
  absl::Status Execute(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  // The first column of the first row of `sql`, which must return one.
  absl::StatusOr<int64_t> QueryInt(std::string_view sql);
  absl::StatusOr<std::string> QueryText(std::string_view sql);

  int64_t last_insert_rowid() const;
  const std::string& path() const { return path_; }

 private:
  Database(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

  std::string path_;
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed uncommitted (an error path).
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Database& db);

  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_ = nullptr;
};

// The status for SQLite result `code`: constraint violations are FailedPrecondition, a locked
// database Unavailable, everything else Internal. `context` says what was being done.
absl::Status StatusFromCode(int code, std::string_view context, sqlite3* db);

}  // namespace ponder::orchestrator::sqlite

#endif  // PONDER_ORCHESTRATOR_STORE_SQLITE_H_
