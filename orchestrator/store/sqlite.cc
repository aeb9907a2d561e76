#include "orchestrator/store/sqlite.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::orchestrator::sqlite {
namespace {

// Statements quoted in error messages are cut to this many bytes.
constexpr size_t kQuotedSqlBytes = 120;

// How long a statement waits for another connection's lock before "database is locked".
constexpr absl::Duration kBusyTimeout = absl::Seconds(5);

// How long opening retries a first read that SQLite reports as a malformed file. Four threads
// opening one new file together (SchemaTest.StoresOpenedTogetherOnANewFileAllSucceed) once saw
// it in a CI run under load (SQLite 3.40.1), while the others were giving the file its first page
// and write-ahead log; it did not recur in 11 000 rounds here. A file that is corrupt stays
// so, and is reported after this.
constexpr absl::Duration kMalformedRetry = absl::Milliseconds(250);

std::string Quote(std::string_view sql) {
  std::string quoted(sql.substr(0, kQuotedSqlBytes));
  if (sql.size() > kQuotedSqlBytes) quoted += "...";
  return quoted;
}

}  // namespace

absl::Status StatusFromCode(int code, std::string_view context, sqlite3* db) {
  std::string message = absl::StrCat(AsAbsl(context), ": ",
                                     db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (code & 0xff) {  // an extended result code's low byte is its primary code
    case SQLITE_CONSTRAINT:
    case SQLITE_NOTADB:    // "file is not a database"
    case SQLITE_READONLY:  // a write to a file opened for reading, or that the process may not
                           // write
      return absl::FailedPreconditionError(message);
    case SQLITE_CORRUPT:
      return absl::DataLossError(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

namespace {

// `path` in a file: URI: the characters a URI gives a meaning (and the escape itself) as %HH.
std::string UriEscaped(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The file as it is on disk (SQLite's immutable=1): read-only, no locks, nothing created
// beside it.
std::string ImmutableUri(const std::string& path) {
  return absl::StrCat("file:", absl::StartsWith(path, "/") ? "//" : "", UriEscaped(path),
                      "?immutable=1");
}

// Whether this process may create files in the directory holding `path`.
bool DirectoryWritable(const std::string& path) {
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  return access(directory.c_str(), W_OK) == 0;
}

}  // namespace

// --- Statement ---

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      statement_(std::exchange(other.statement_, nullptr)),
      bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    db_ = std::exchange(other.db_, nullptr);
    statement_ = std::exchange(other.statement_, nullptr);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(statement_); }

void Statement::NoteBindResult(int code, int index) {
  if (code != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = StatusFromCode(
        code,
        absl::StrCat("binding parameter ", index, " of '", Quote(sqlite3_sql(statement_)), "'"),
        db_);
  }
}

void Statement::BindInt(int index, int64_t value) {
  NoteBindResult(sqlite3_bind_int64(statement_, index, value), index);
}

void Statement::BindDouble(int index, double value) {
  NoteBindResult(sqlite3_bind_double(statement_, index, value), index);
}

void Statement::BindText(int index, std::string_view value) {
  NoteBindResult(sqlite3_bind_text64(statement_, index, value.data(), value.size(),
                                     SQLITE_TRANSIENT, SQLITE_UTF8),
                 index);
}

void Statement::BindNull(int index) { NoteBindResult(sqlite3_bind_null(statement_, index), index); }

void Statement::BindOptionalText(int index, const std::optional<std::string>& value) {
  if (value.has_value()) {
    BindText(index, *value);
  } else {
    BindNull(index);
  }
}

void Statement::BindOptionalBool(int index, const std::optional<bool>& value) {
  if (value.has_value()) {
    BindInt(index, *value ? 1 : 0);
  } else {
    BindNull(index);
  }
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  return StatusFromCode(code, absl::StrCat("running '", Quote(sqlite3_sql(statement_)), "'"), db_);
}

absl::Status Statement::Run() {
  absl::StatusOr<bool> row;
  do {
    row = Step();
  } while (row.ok() && *row);
  Reset();
  return row.status();
}

void Statement::Reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
  bind_status_ = absl::OkStatus();
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(statement_, column); }

double Statement::ColumnDouble(int column) const {
  return sqlite3_column_double(statement_, column);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(statement_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(statement_, column)));
}

int Statement::ColumnCount() const { return sqlite3_column_count(statement_); }

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

std::optional<std::string> Statement::ColumnOptionalText(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnText(column);
}

std::optional<bool> Statement::ColumnOptionalBool(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnInt(column) != 0;
}

// --- Database ---

absl::Status CheckDatabasePath(const std::string& path) {
  if (path.empty() || path == ":memory:") return absl::OkStatus();
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return absl::OkStatus();  // missing: SQLite creates it
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("database '", path, "' is a directory; give the path of a database file"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("database '", path,
                     "' is not a regular file (a device, FIFO or socket); give the path "
                     "of a database file"));
  }
  // Every SQLite database starts with these 16 bytes (fileformat.html, section 1.3). A file
  // shorter than that may be one another process is creating: only its prefix is compared.
  static constexpr char kHeader[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                       'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  // Read through SQLite's own file layer, never a descriptor of our own: POSIX drops every lock
  // a process holds on a file when any of its descriptors of that file is closed, so closing one
  // here would release the locks of this process's open connections to the database (another
  // process could then take it whole and delete its write-ahead log). SQLite keeps such a
  // descriptor open until the locks are gone (os_unix.c, "pending" file descriptors).
  sqlite3* handle = nullptr;
  const std::string name = absl::StartsWith(path, "file:") ? absl::StrCat("./", path) : path;
  const int opened =
      sqlite3_open_v2(name.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  sqlite3_file* file = nullptr;
  if (opened == SQLITE_OK) sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &file);
  char header[sizeof(kHeader)] = {};
  sqlite3_int64 size = 0;
  const bool read =
      file != nullptr && file->pMethods != nullptr &&
      file->pMethods->xFileSize(file, &size) == SQLITE_OK &&
      (size == 0 ||
       file->pMethods->xRead(file, header, sizeof(header), 0) ==
           (size < sqlite3_int64{sizeof(header)} ? SQLITE_IOERR_SHORT_READ : SQLITE_OK));
  sqlite3_close(handle);
  if (!read) return absl::OkStatus();  // unreadable: SQLite reports it, naming the path
  const size_t got = static_cast<size_t>(std::min<sqlite3_int64>(size, sizeof(header)));
  if (got > 0 && std::memcmp(header, kHeader, got) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "opening database '", path,
        "': file is not a database (it does not start with SQLite's header); give a new file "
        "name or an experiment database"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Database> Database::Open(const std::string& path, Access access) {
  PONDER_RETURN_IF_ERROR(CheckDatabasePath(path));
  int mode = SQLITE_OPEN_NOMUTEX;
  // SQLite may be built to read any name that starts with "file:" as a URI: a relative path of
  // that spelling gets "./" so that it names the same file for every access below.
  std::string name = absl::StartsWith(path, "file:") ? absl::StrCat("./", path) : path;
  switch (access) {
    case Access::kReadWrite:
      mode |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
    case Access::kReadOnly:
      mode |= SQLITE_OPEN_READONLY;
      break;
    case Access::kQueryOnly:
      mode |= SQLITE_OPEN_READWRITE;  // not CREATE
      break;
    case Access::kInspect:
      mode |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
      name = ImmutableUri(path);
      break;
  }
  // SQLite reads the file's header lazily: read it now, so that a file that is no database is
  // reported as such before anything could write to it.
  int failed_code = SQLITE_OK;  // the last open's SQLite result code when it failed
  auto open = [&]() -> absl::StatusOr<Database> {
    sqlite3* handle = nullptr;
    int code = sqlite3_open_v2(name.c_str(), &handle, mode, nullptr);
    failed_code = code;
    Database db(path, handle);  // owns the handle even when opening failed
    if (code != SQLITE_OK) {
      return StatusFromCode(code, absl::StrCat("opening database '", path, "'"), handle);
    }
    sqlite3_extended_result_codes(handle, 1);
    sqlite3_busy_timeout(handle, static_cast<int>(absl::ToInt64Milliseconds(kBusyTimeout)));
    if (access == Access::kQueryOnly) PONDER_RETURN_IF_ERROR(db.Execute("PRAGMA query_only = ON"));
    if (absl::StatusOr<int64_t> read = db.QueryInt("SELECT count(*) FROM sqlite_master");
        !read.ok()) {
      failed_code = sqlite3_extended_errcode(handle);
      return absl::Status(read.status().code(),
                          absl::StrCat("opening database '", path, "': ", sqlite3_errmsg(handle)));
    }
    return db;
  };
  absl::StatusOr<Database> opened = open();
  for (const absl::Time give_up = absl::Now() + kMalformedRetry;
       absl::IsDataLoss(opened.status()) && absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(10));
    opened = open();
  }
  // A database in write-ahead-log mode is read through an index of its log, FILE-shm, which
  // SQLite creates beside the file: in a directory this process may not write, it cannot, and
  // reading fails ("attempt to write a readonly database" without FILE-wal, "unable to open
  // database file" with one). (Where a writer left FILE-shm, SQLite reads the log through it
  // and the first open succeeds.) Without changes in a log (no FILE-wal, or an empty one)
  // every commit is in the file itself, and no writer is at work (a writer's log has a
  // header): it is read as it is on disk.
  const bool cannot_index_log = absl::IsFailedPrecondition(opened.status()) ||
                                (!opened.ok() && (failed_code & 0xff) == SQLITE_CANTOPEN);
  const bool reads = access == Access::kQueryOnly || access == Access::kReadOnly;
  if (reads && cannot_index_log && !DirectoryWritable(path)) {
    std::error_code error;
    const std::string wal = path + "-wal";
    if (std::filesystem::exists(wal, error) && std::filesystem::file_size(wal, error) > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot read '", path, "': its write-ahead log '", wal,
          "' holds changes, and reading them needs SQLite to create '", path,
          "-shm' in a directory this user may not write; copy the database and its -wal file to a "
          "writable directory and query the copy"));
    }
    mode = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    name = ImmutableUri(path);
    opened = open();
  }
  PONDER_RETURN_IF_ERROR(opened.status());
  Database db = std::move(*opened);
  PONDER_RETURN_IF_ERROR(db.Execute("PRAGMA foreign_keys = ON"));
  if (path != ":memory:" && !path.empty() && access == Access::kReadWrite) {
    // Larger pages than SQLite's 4 KiB hold more kilobyte-sized candidate texts each, which
    // halves the write-ahead log frames per row (store_bench). Takes effect only on a new file.
    PONDER_RETURN_IF_ERROR(db.Execute("PRAGMA page_size = 16384"));
    // Switching a new file to WAL needs it to itself. When another connection is switching it
    // too, SQLite reports "database is locked" at once instead of calling the busy handler (one
    // of the two must give way to avoid a deadlock), so that case is retried here for as long
    // as the busy timeout would have waited.
    absl::StatusOr<std::string> mode = db.QueryText("PRAGMA journal_mode = WAL");
    for (const absl::Time give_up = absl::Now() + kBusyTimeout;
         absl::IsUnavailable(mode.status()) && absl::Now() < give_up;) {
      absl::SleepFor(absl::Milliseconds(5));
      mode = db.QueryText("PRAGMA journal_mode = WAL");
    }
    PONDER_RETURN_IF_ERROR(mode.status());
    if (*mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          "database '", path, "': cannot use write-ahead logging (journal mode stays '", *mode,
          "'); is it on a network file system?"));
    }
    // In WAL mode NORMAL syncs at checkpoints only: a commit survives a crash of the process
    // (kill -9) but the last commits may be lost if the machine loses power.
    PONDER_RETURN_IF_ERROR(db.Execute("PRAGMA synchronous = NORMAL"));
  }
  return db;
}

Database::Database(Database&& other) noexcept
    : path_(std::move(other.path_)), db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    path_ = std::move(other.path_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Database::~Database() { sqlite3_close_v2(db_); }

absl::Status Database::Execute(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int code = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (code == SQLITE_OK) return absl::OkStatus();
  std::string message = error != nullptr ? error : sqlite3_errstr(code);
  sqlite3_free(error);
  absl::Status status = StatusFromCode(code, "", nullptr);
  return absl::Status(status.code(),
                      absl::StrCat("database '", path_, "': '", Quote(sql), "': ", message));
}

absl::StatusOr<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  int code = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (code != SQLITE_OK) {
    sqlite3_finalize(statement);
    return StatusFromCode(code, absl::StrCat("preparing '", Quote(sql), "'"), db_);
  }
  return Statement(db_, statement);
}

absl::StatusOr<int64_t> Database::QueryInt(std::string_view sql) {
  PONDER_ASSIGN_OR_RETURN(Statement statement, Prepare(sql));
  PONDER_ASSIGN_OR_RETURN(bool row, statement.Step());
  if (!row) return absl::InternalError(absl::StrCat("'", Quote(sql), "' returned no row"));
  return statement.ColumnInt(0);
}

absl::StatusOr<std::string> Database::QueryText(std::string_view sql) {
  PONDER_ASSIGN_OR_RETURN(Statement statement, Prepare(sql));
  PONDER_ASSIGN_OR_RETURN(bool row, statement.Step());
  if (!row) return absl::InternalError(absl::StrCat("'", Quote(sql), "' returned no row"));
  return statement.ColumnText(0);
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

// --- Transaction ---

absl::StatusOr<Transaction> Transaction::Begin(Database& db) {
  // IMMEDIATE takes the write lock now, so a transaction never fails half-way for a lock.
  PONDER_RETURN_IF_ERROR(db.Execute("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) db_->Execute("ROLLBACK").IgnoreError();
}

absl::Status Transaction::Commit() {
  Database* db = std::exchange(db_, nullptr);
  absl::Status status = db->Execute("COMMIT");
  if (!status.ok()) db->Execute("ROLLBACK").IgnoreError();
  return status;
}

}  // namespace ponder::orchestrator::sqlite
