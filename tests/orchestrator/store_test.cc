// The SQLite wrapper, the schema migrations, the ExperimentStore and the RunWriter.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "base/mapped_file.h"
#include "orchestrator/store/database_lock.h"
#include "orchestrator/store/experiment_store.h"
#include "orchestrator/store/run_writer.h"
#include "orchestrator/store/schema.h"
#include "orchestrator/store/sqlite.h"
#include "tests/orchestrator/test_util.h"

namespace ponder::orchestrator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempPath;

// ExperimentStore::Open (with its default readers) and OpenForReading.
using StoreOpen = absl::StatusOr<std::unique_ptr<ExperimentStore>> (*)(const std::string&);
constexpr StoreOpen kBothOpens[] = {
    [](const std::string& path) { return ExperimentStore::Open(path); },
    &ExperimentStore::OpenForReading};

sqlite::Database OpenDatabase(const std::string& path) {
  absl::StatusOr<sqlite::Database> db = sqlite::Database::Open(path);
  EXPECT_TRUE(db.ok()) << db.status();
  return std::move(*db);
}

TEST(SqliteTest, StatementBindsAndReadsEveryType) {
  sqlite::Database db = OpenDatabase(":memory:");
  ASSERT_TRUE(db.Execute("CREATE TABLE t (i INTEGER, d REAL, s TEXT, n TEXT)").ok());
  auto insert = db.Prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4)");
  ASSERT_TRUE(insert.ok()) << insert.status();
  insert->BindInt(1, int64_t{1} << 40);
  insert->BindDouble(2, 0.25);
  insert->BindText(3, std::string_view("a\0b", 3));
  insert->BindOptionalText(4, std::nullopt);
  ASSERT_TRUE(insert->Run().ok());
  auto select = db.Prepare("SELECT i, d, s, n FROM t");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*select->Step());
  EXPECT_EQ(select->ColumnInt(0), int64_t{1} << 40);
  EXPECT_EQ(select->ColumnDouble(1), 0.25);
  EXPECT_EQ(select->ColumnText(2), std::string("a\0b", 3));
  EXPECT_TRUE(select->ColumnIsNull(3));
  EXPECT_EQ(select->ColumnOptionalText(3), std::nullopt);
  EXPECT_FALSE(*select->Step());
}

TEST(SqliteTest, BindErrorIsReportedByStep) {
  sqlite::Database db = OpenDatabase(":memory:");
  auto select = db.Prepare("SELECT ?1");
  ASSERT_TRUE(select.ok());
  select->BindInt(7, 1);  // there is no parameter 7
  absl::StatusOr<bool> row = select->Step();
  ASSERT_FALSE(row.ok());
  EXPECT_THAT(row.status().message(), HasSubstr("parameter 7"));
}

TEST(SqliteTest, UncommittedTransactionRollsBack) {
  sqlite::Database db = OpenDatabase(TempPath("rollback.db"));
  ASSERT_TRUE(db.Execute("CREATE TABLE t (x INTEGER)").ok());
  {
    auto transaction = sqlite::Transaction::Begin(db);
    ASSERT_TRUE(transaction.ok());
    ASSERT_TRUE(db.Execute("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM t"), 0);
  auto transaction = sqlite::Transaction::Begin(db);
  ASSERT_TRUE(db.Execute("INSERT INTO t VALUES (1)").ok());
  ASSERT_TRUE(transaction->Commit().ok());
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM t"), 1);
}

TEST(SqliteTest, OpenErrorNamesThePath) {
  absl::StatusOr<sqlite::Database> db = sqlite::Database::Open("/nonexistent/dir/x.db");
  ASSERT_FALSE(db.ok());
  EXPECT_THAT(db.status().message(), HasSubstr("/nonexistent/dir/x.db"));
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string FileBytes(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : "";
}

TEST(SqliteTest, AFileThatIsNoDatabaseIsRefusedUntouched) {
  const std::string path = TempPath("not_a.db");
  std::string garbage(5000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 131 + 7);
  WriteFile(path, garbage);
  for (auto access : {sqlite::Database::Access::kReadWrite, sqlite::Database::Access::kReadOnly,
                      sqlite::Database::Access::kQueryOnly}) {
    absl::StatusOr<sqlite::Database> db = sqlite::Database::Open(path, access);
    ASSERT_FALSE(db.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(db.status())) << db.status();
    EXPECT_THAT(std::string(db.status().message()), HasSubstr("not a database"));
    EXPECT_THAT(std::string(db.status().message()), HasSubstr(path));
  }
  EXPECT_TRUE(FileBytes(path) == garbage) << path << " changed";
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

// Opening a new file switches it to write-ahead logging, which needs the file to itself; two
// processes opening it at once (a benchmark starting while `ponder query` or a script looks at
// its database) made one fail with "database is locked" at once, without waiting.
// Whether another process could take SQLite's write lock on the bytes where every connection of
// this process that reads `path` keeps its shared lock (SHARED_FIRST, 0x40000002, in os_unix.c):
// a child asks fcntl, which reports only other processes' locks.
bool AnotherProcessCouldLockExclusively(const std::string& path) {
  const pid_t child = fork();
  if (child == 0) {
    const int fd = open(path.c_str(), O_RDWR);
    struct flock query = {};
    query.l_type = F_WRLCK;
    query.l_whence = SEEK_SET;
    query.l_start = 0x40000002;
    query.l_len = 510;
    const bool free = fd >= 0 && fcntl(fd, F_GETLK, &query) == 0 && query.l_type == F_UNLCK;
    _exit(free ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// POSIX drops every lock a process holds on a file when it closes any descriptor of that file.
// Checking a database's path read its header through a descriptor of its own, so a ponderd that
// opened a second connection lost the shared lock of its first: a `sqlite3` shell that then read
// the database and closed took the file for itself, checkpointed and deleted the write-ahead log
// the server was still writing to (its later commits went to a deleted file).
TEST(SqliteTest, OpeningAnotherConnectionKeepsTheLocksOfTheOpenOnes) {
  const std::string path = TempPath("locks.db");
  auto first = sqlite::Database::Open(path);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->Execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)").ok());
  ASSERT_FALSE(AnotherProcessCouldLockExclusively(path));  // the open connection's shared lock
  EXPECT_TRUE(sqlite::CheckDatabasePath(path).ok());
  EXPECT_FALSE(AnotherProcessCouldLockExclusively(path));
  {
    auto second = sqlite::Database::Open(path, sqlite::Database::Access::kReadOnly);
    ASSERT_TRUE(second.ok()) << second.status();
  }
  EXPECT_FALSE(AnotherProcessCouldLockExclusively(path));
  auto lock = DatabaseLock::Acquire(path, DatabaseLock::Mode::kShared, "a test");
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_FALSE(AnotherProcessCouldLockExclusively(path));
  EXPECT_EQ(*first->QueryInt("SELECT count(*) FROM t"), 1);
}

TEST(SqliteTest, ConcurrentOpensOfANewFileAllSucceed) {
  for (int round = 0; round < 20; ++round) {
    const std::string path = TempPath(absl::StrCat("concurrent_", round, ".db"));
    std::vector<absl::Status> statuses(6);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < statuses.size(); ++t) {
      threads.emplace_back([&, t] {
        absl::StatusOr<sqlite::Database> db = sqlite::Database::Open(path);
        statuses[t] = db.status();
        if (db.ok()) statuses[t] = db->Execute("SELECT count(*) FROM sqlite_master");
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (const absl::Status& status : statuses) ASSERT_TRUE(status.ok()) << status;
  }
}

TEST(SqliteTest, ConstraintViolationIsFailedPrecondition) {
  sqlite::Database db = OpenDatabase(":memory:");
  ASSERT_TRUE(db.Execute("CREATE TABLE t (x INTEGER UNIQUE); INSERT INTO t VALUES (1)").ok());
  absl::Status status = db.Execute("INSERT INTO t VALUES (1)");
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
}

TEST(SchemaTest, FreshDatabaseHasTheLatestSchemaWithWalAndForeignKeys) {
  const std::string path = TempPath("fresh.db");
  auto store = ExperimentStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  sqlite::Database db = OpenDatabase(path);
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), ExperimentStoreMigrations().back().version);
  EXPECT_EQ(*db.QueryInt("PRAGMA application_id"), kExperimentDatabaseId);
  EXPECT_EQ(*db.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(*db.QueryInt("PRAGMA foreign_keys"), 1);
  for (const char* table : {"experiments", "problems", "runs", "candidates", "steps"}) {
    EXPECT_EQ(
        *db.QueryInt(absl::StrCat(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '", table, "'")),
        1)
        << table;
  }
}

constexpr Migration kTestMigrations[] = {
    {1, "CREATE TABLE t (a INTEGER)"},
    {2, "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'; CREATE INDEX t_b ON t (b)"},
};

// Two benchmarks started together on a new file both migrated it: the second one's
// "CREATE TABLE experiments" failed ("table experiments already exists") in most rounds.
TEST(SchemaTest, StoresOpenedTogetherOnANewFileAllSucceed) {
  for (int round = 0; round < 20; ++round) {
    const std::string path = TempPath(absl::StrCat("stores_", round, ".db"));
    std::vector<absl::Status> statuses(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < statuses.size(); ++t) {
      threads.emplace_back([&, t] { statuses[t] = ExperimentStore::Open(path).status(); });
    }
    for (std::thread& thread : threads) thread.join();
    for (const absl::Status& status : statuses) ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(*OpenDatabase(path).QueryInt("PRAGMA user_version"),
              ExperimentStoreMigrations().back().version);
  }
}

TEST(SchemaTest, MigratesAnOlderFileKeepingItsRows) {
  const std::string path = TempPath("older.db");
  sqlite::Database db = OpenDatabase(path);
  ASSERT_TRUE(Migrate(db, std::span(kTestMigrations).first(1)).ok());
  ASSERT_TRUE(db.Execute("INSERT INTO t (a) VALUES (7)").ok());
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), 1);

  ASSERT_TRUE(Migrate(db, kTestMigrations).ok());
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), 2);
  EXPECT_EQ(*db.QueryText("SELECT a || b FROM t"), "7x");
  // Migrating again changes nothing.
  ASSERT_TRUE(Migrate(db, kTestMigrations).ok());
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM t"), 1);
}

TEST(SchemaTest, FailedMigrationLeavesThePreviousVersion) {
  const std::string path = TempPath("failed.db");
  sqlite::Database db = OpenDatabase(path);
  const Migration broken[] = {{1, "CREATE TABLE t (a INTEGER)"},
                              {2, "CREATE TABLE u (a INTEGER); CREATE TABLE t (a INTEGER)"}};
  absl::Status status = Migrate(db, broken);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("schema version 2"));
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), 1);
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'u'"), 0);
}

// A rebuild that fails, or that would break a reference between rows, changes nothing and
// leaves foreign keys on.
TEST(SchemaTest, AFailedRebuildChangesNothingAndLeavesForeignKeysOn) {
  const std::string path = TempPath("rebuild.db");
  sqlite::Database db = OpenDatabase(path);
  const Migration parent_child[] = {
      {1,
       "CREATE TABLE p (id INTEGER PRIMARY KEY);"
       "CREATE TABLE c (p INTEGER REFERENCES p (id) ON DELETE CASCADE);"
       "INSERT INTO p VALUES (1); INSERT INTO c VALUES (1)"}};
  ASSERT_TRUE(Migrate(db, parent_child).ok());
  const Migration drops_parent[] = {
      parent_child[0],
      {2, "CREATE TABLE p2 (id INTEGER PRIMARY KEY); DROP TABLE p; ALTER TABLE p2 RENAME TO p",
       /*rebuilds_tables=*/true}};
  absl::Status status = Migrate(db, drops_parent);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("break 1 references"));
  const Migration fails[] = {parent_child[0],
                             {2, "CREATE TABLE p2 (id INTEGER); SELECT nonsense FROM nowhere",
                              /*rebuilds_tables=*/true}};
  EXPECT_FALSE(Migrate(db, fails).ok());
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), 1);
  EXPECT_EQ(*db.QueryInt("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM c"), 1);
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'p2'"), 0);
}

TEST(SchemaTest, RefusesAFileNewerThanTheProgram) {
  const std::string path = TempPath("newer.db");
  {
    sqlite::Database db = OpenDatabase(path);
    ASSERT_TRUE(db.Execute(absl::StrCat("PRAGMA application_id = ", kExperimentDatabaseId,
                                        "; PRAGMA user_version = 99"))
                    .ok());
  }
  for (auto open : kBothOpens) {
    auto store = open(path);
    ASSERT_FALSE(store.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
    EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
  }
}

// A --db that names another program's database is refused, and nothing is written to it: no
// tables, no schema version, no change of journal mode.
TEST(SchemaTest, AnotherProgramsDatabaseIsRefusedUntouched) {
  const std::string with_tables = TempPath("other_tables.db");
  const std::string with_id = TempPath("other_id.db");
  // Another program's file in write-ahead-log mode, as SQLite leaves it when it is closed:
  // nothing may appear beside it either.
  const std::string in_wal = TempPath("other_wal.db");
  {
    sqlite::Database db = *sqlite::Database::Open(with_tables);
    ASSERT_TRUE(db.Execute("PRAGMA journal_mode = DELETE; CREATE TABLE t (x); "
                           "INSERT INTO t VALUES (1); PRAGMA user_version = 3")
                    .ok());
    sqlite::Database other = *sqlite::Database::Open(with_id);
    ASSERT_TRUE(other.Execute("PRAGMA journal_mode = DELETE; PRAGMA application_id = 7").ok());
    sqlite::Database wal = *sqlite::Database::Open(in_wal);
    ASSERT_TRUE(wal.Execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)").ok());
  }
  ASSERT_FALSE(std::filesystem::exists(in_wal + "-wal"));
  for (const std::string& path : {with_tables, with_id, in_wal}) {
    const std::string before = FileBytes(path);
    for (auto open : kBothOpens) {
      auto store = open(path);
      ASSERT_FALSE(store.ok()) << path;
      EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
      EXPECT_THAT(std::string(store.status().message()),
                  HasSubstr("point --db at an experiment database (or a new file)"));
      EXPECT_TRUE(FileBytes(path) == before) << path << " changed";
      EXPECT_FALSE(std::filesystem::exists(path + "-wal")) << path;
      EXPECT_FALSE(std::filesystem::exists(path + "-shm")) << path;
    }
  }
  EXPECT_THAT(std::string(ExperimentStore::Open(with_tables).status().message()),
              HasSubstr("(1 table, schema version 3, no experiments table)"));
  EXPECT_THAT(std::string(ExperimentStore::Open(with_id).status().message()),
              HasSubstr("application_id 7"));
}

// Files written before the application id are still experiment databases: read as they are,
// and marked when opened for writing (the mark is no schema version of its own: the file is
// migrated to the latest version as any older file is).
TEST(SchemaTest, AnUnmarkedFileIsReadUnchangedAndMarkedWhenWritten) {
  const std::string path = TempPath("v1.db");
  {
    sqlite::Database db = OpenDatabase(path);
    ASSERT_TRUE(Migrate(db, ExperimentStoreMigrations().first(1)).ok());
  }
  {
    auto reader = ExperimentStore::OpenForReading(path);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_TRUE((*reader)->ListExperiments(0, 10)->empty());
  }
  EXPECT_EQ(*OpenDatabase(path).QueryInt("PRAGMA application_id"), 0);
  ASSERT_TRUE(ExperimentStore::Open(path).ok());
  sqlite::Database db = OpenDatabase(path);
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), ExperimentStoreMigrations().back().version);
  EXPECT_EQ(*db.QueryInt("PRAGMA application_id"), kExperimentDatabaseId);
}

// Another program's database whose tables are still in its write-ahead log (the program was
// killed, or is running): the file alone looks empty; the log beside it is read too.
TEST(SchemaTest, AnotherProgramsTablesInItsWriteAheadLogAreSeen) {
  const std::string path = TempPath("other_live_wal.db");
  sqlite::Database other = OpenDatabase(path);  // WAL; its table stays in the log while open
  ASSERT_TRUE(other.Execute("CREATE TABLE accounts (x); INSERT INTO accounts VALUES (1)").ok());
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
  for (auto open : kBothOpens) {
    auto store = open(path);
    ASSERT_FALSE(store.ok());
    EXPECT_THAT(std::string(store.status().message()), HasSubstr("(1 table, schema version 0"));
  }
  EXPECT_EQ(*other.QueryInt("SELECT count(*) FROM sqlite_master"), 1);
}

// SQLite may read a name that starts with "file:" as a URI: a relative --db of that spelling is
// the file of that name for the look, the lock and the store alike.
TEST(SchemaTest, ARelativePathThatStartsWithFileIsThatFile) {
  const std::string name = absl::StrCat("file:store_test_", getpid(), ".db");
  std::filesystem::remove(name);
  {
    auto store = ExperimentStore::Open(name);
    ASSERT_TRUE(store.ok()) << store.status();
  }
  EXPECT_TRUE(std::filesystem::exists(name));
  {
    auto reader = ExperimentStore::OpenForReading(name);
    EXPECT_TRUE(reader.ok()) << reader.status();
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(name + suffix);
}

// Every name of a database shares its lock: a symbolic link to it, and a hard link (the lock was
// a file named after the database's path, so a second server through a hard link took a lock of
// its own and ran beside the first, QA F7), are refused while the database is held.
TEST(DatabaseLockTest, EveryNameOfTheFileSharesTheLock) {
  const std::string path = TempPath("locked.db");
  ASSERT_TRUE(ExperimentStore::Open(path).ok());
  for (const bool hard : {false, true}) {
    const std::string alias = TempPath(hard ? "hard_link.db" : "alias.db");
    std::filesystem::remove(alias);
    if (hard) {
      std::filesystem::create_hard_link(path, alias);
    } else {
      std::filesystem::create_symlink(path, alias);
    }
    {
      auto held = DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "the first");
      ASSERT_TRUE(held.ok()) << held.status();
      auto second = DatabaseLock::Acquire(alias, DatabaseLock::Mode::kShared, "the second");
      ASSERT_FALSE(second.ok()) << alias;
      EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
      EXPECT_THAT(std::string(second.status().message()),
                  HasSubstr("the second cannot run beside"));
    }
    // Released, it is free through either name, and benchmarks still share it.
    auto first = DatabaseLock::Acquire(alias, DatabaseLock::Mode::kShared, "a benchmark");
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_TRUE(DatabaseLock::Acquire(path, DatabaseLock::Mode::kShared, "another").ok());
  }
}

// A symbolic link whose target is not there yet gets the target created, as SQLite creates it
// (O_EXCL alone refused it, "File exists": review of stop 33), and the link then shares its lock.
TEST(DatabaseLockTest, ADanglingSymbolicLinkGetsItsTargetCreated) {
  const std::string target = TempPath("target.db"), link = TempPath("link_to_target.db");
  std::filesystem::remove(link);
  std::filesystem::create_symlink(target, link);
  auto held = DatabaseLock::Acquire(link, DatabaseLock::Mode::kExclusive, "the first");
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_TRUE(std::filesystem::is_regular_file(target));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      DatabaseLock::Acquire(target, DatabaseLock::Mode::kShared, "the second").status()));
}

// 'ponderd --db missing/x.db' said only 'No such file or directory' (QA of stop 35).
TEST(DatabaseLockTest, ADatabaseInAMissingFolderSaysTheFolderIsMissing) {
  const std::string folder = TempPath("no_such_folder");
  auto held = DatabaseLock::Acquire(folder + "/x.db", DatabaseLock::Mode::kExclusive, "ponderd");
  ASSERT_FALSE(held.status().ok());
  const std::string message(held.status().message());
  EXPECT_THAT(message, HasSubstr("No such file or directory (its folder '"));
  EXPECT_THAT(message, HasSubstr("no_such_folder' does not exist: create it first"));
}

// The lock is on the database file itself, where SQLite keeps its POSIX locks, which closing any
// descriptor of the file would drop: releasing the lock must leave those of the open connections.
TEST(DatabaseLockTest, ReleasingItKeepsTheLocksOfOpenConnections) {
  const std::string path = TempPath("released.db");
  auto lock = std::make_optional(
      DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "a test").value());
  auto db = sqlite::Database::Open(path);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE(db->Execute("CREATE TABLE t (x INTEGER)").ok());
  ASSERT_FALSE(AnotherProcessCouldLockExclusively(path));
  lock.reset();
  EXPECT_FALSE(AnotherProcessCouldLockExclusively(path));
  auto again = DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "a test");
  ASSERT_TRUE(again.ok()) << again.status();
  // Assigned over, it is released too.
  again = DatabaseLock::Acquire(TempPath("other_released.db"), DatabaseLock::Mode::kShared, "a");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "a test").ok());
  EXPECT_FALSE(AnotherProcessCouldLockExclusively(path));
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM t"), 0);
}

// A missing database is created to carry the lock, so a second process is refused from the
// start; one that fails before writing anything leaves no empty database behind.
TEST(DatabaseLockTest, ANewDatabaseIsLockedAndRemovedIfNothingWasWritten) {
  const std::string path = TempPath("new_locked.db");
  std::filesystem::remove(path);
  {
    auto held = DatabaseLock::Acquire(path, DatabaseLock::Mode::kShared, "the first");
    ASSERT_TRUE(held.ok()) << held.status();
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_FALSE(DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "the second").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  {
    auto held = DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "a server");
    ASSERT_TRUE(held.ok()) << held.status();
    ASSERT_TRUE(ExperimentStore::Open(path).ok());
  }
  EXPECT_TRUE(sqlite::Database::Open(path, sqlite::Database::Access::kReadOnly).ok());
}

// A directory was "disk I/O error", and a refused path kept the lock file created beside it.
TEST(DatabaseLockTest, APathThatCannotBeADatabaseIsRefused) {
  const std::string directory = TempPath("directory.db");
  std::filesystem::create_directories(directory);
  const std::string text = TempPath("text.db");
  WriteFile(text, "hello\n");
  const std::string fifo = TempPath("fifo.db");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& [path, message] : std::vector<std::pair<std::string, std::string>>{
           {directory, "database '" + directory + "' is a directory"},
           {text, "opening database '" + text + "': file is not a database"},
           {fifo, "database '" + fifo + "' is not a regular file"}}) {
    auto lock = DatabaseLock::Acquire(path, DatabaseLock::Mode::kExclusive, "a test");
    ASSERT_FALSE(lock.ok()) << path;
    EXPECT_THAT(std::string(lock.status().message()), HasSubstr(message));
    absl::StatusOr<sqlite::Database> db = sqlite::Database::Open(path);
    ASSERT_FALSE(db.ok()) << path;
    EXPECT_THAT(std::string(db.status().message()), HasSubstr(message));
  }
  EXPECT_TRUE(absl::IsInvalidArgument(sqlite::CheckDatabasePath(directory)));
  EXPECT_TRUE(absl::IsFailedPrecondition(sqlite::CheckDatabasePath(text)));
  EXPECT_EQ(FileBytes(text), "hello\n");
  // A missing, an empty and a real database file are fine; so is the start of SQLite's header
  // (another process may be writing the file's first page).
  const std::string empty = TempPath("empty.db");
  WriteFile(empty, "");
  const std::string partial = TempPath("partial.db");
  WriteFile(partial, "SQLite fo");
  const std::string real = TempPath("real.db");
  ASSERT_TRUE(ExperimentStore::Open(real).ok());
  for (const std::string& path : {TempPath("missing.db"), empty, partial, real}) {
    EXPECT_TRUE(sqlite::CheckDatabasePath(path).ok()) << path;
  }
  EXPECT_TRUE(DatabaseLock::Acquire(real, DatabaseLock::Mode::kShared, "a test").ok());
}

TEST(SchemaTest, ReadingAnEmptyFileSaysSoAndLeavesItEmpty) {
  const std::string path = TempPath("empty.db");
  WriteFile(path, "");
  auto reader = ExperimentStore::OpenForReading(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(absl::IsNotFound(reader.status())) << reader.status();
  EXPECT_THAT(std::string(reader.status().message()), HasSubstr("has no experiments"));
  EXPECT_EQ(FileBytes(path), "");
}

// --- ExperimentStore ---

v1::ExperimentSpec TwoByTwoSpec() {
  v1::ExperimentSpec spec;
  spec.set_name("grid");
  for (const char* name : {"sc", "bon"}) {
    v1::NamedStrategy& strategy = *spec.add_strategies();
    strategy.set_name(name);
    strategy.mutable_config()->mutable_self_consistency();
    strategy.mutable_config()->mutable_sampling()->set_temperature(0.7);
  }
  spec.add_budgets()->set_n(2);
  spec.add_budgets()->set_n(4);
  spec.add_seeds(3);
  return spec;
}

NewExperiment MakeExperiment(int problems) {
  NewExperiment e;
  e.spec = TwoByTwoSpec();
  for (int i = 0; i < problems; ++i) {
    v1::Problem& p = e.problems.emplace_back();
    p.set_id(absl::StrCat("p", i));
    p.set_text(absl::StrCat("What is ", i, " + 1?"));
    p.set_reference_answer(absl::StrCat(i + 1));
    p.set_answer_format(v1::ANSWER_FORMAT_GSM8K);
  }
  e.models.policy.path = "tiny.gguf";
  e.dataset = "inline";
  e.code_version = "test";
  e.runs_planned = problems * 4;
  e.create_time = absl::FromUnixSeconds(1700000000);
  return e;
}

RunRecord MakeRun(int64_t experiment, RunKey key, bool correct, int candidates = 3) {
  RunRecord run;
  run.experiment_id = experiment;
  run.key = key;
  run.strategy = key.strategy_index == 0 ? "sc" : "bon";
  run.budget.set_n(key.budget_index == 0 ? 2 : 4);
  run.seed = 3;
  run.result.set_answer(correct ? "right" : "wrong");
  run.result.set_selected_candidate(1);
  for (int i = 0; i < candidates; ++i) {
    v1::Candidate& c = *run.result.add_candidates();
    c.set_index(i);
    c.set_text(absl::StrCat("candidate text ", i));
    c.set_answer(absl::StrCat(i));
    c.set_answer_class(i);
    c.set_num_tokens(10 + i);
    c.set_cumulative_logprob(-1.5 * i);
    c.set_mean_logprob(-0.1 * i);
    c.add_step_scores(0.25);
    c.add_step_scores(0.75);
    c.set_score(0.5);
    c.set_selected(i == 1);
    c.set_finish_reason("stop");
    run.candidate_correct.push_back(i == 1 && correct);
  }
  v1::TraceStep& step = *run.result.add_trace();
  step.set_iteration(0);
  step.set_node(0);
  step.set_parent(-1);
  step.set_text("first step");
  step.set_reward(0.9);
  step.set_kept(true);
  step.set_copies(2);
  run.result.mutable_usage()->set_generated_tokens(33);
  run.result.mutable_usage()->set_wall_seconds(0.5);
  (*run.result.mutable_diagnostics())["rounds"] = 2;
  (*run.result.mutable_diagnostics())["share"] = 0.75;
  run.correct = correct;
  run.finish_time = absl::FromUnixSeconds(1700000100);
  return run;
}

// Version 2 rebuilds `problems` (code problems); the runs, candidates and steps that reference
// a problem must survive it: dropping the old table with foreign keys on would cascade into them.
// A user's view on the table, and rows a sqlite3 shell orphaned (foreign keys are off there by
// default), must not stop it.
TEST(SchemaTest, AVersionOneFileKeepsEveryRowThroughTheProblemsRebuild) {
  const std::string path = TempPath("v1.db");
  {
    sqlite::Database db = OpenDatabase(path);
    ASSERT_TRUE(Migrate(db, ExperimentStoreMigrations().first(1)).ok());
    ASSERT_TRUE(MarkExperimentDatabase(db).ok());
    ASSERT_TRUE(db.Execute(R"sql(
INSERT INTO experiments (id, name, config_json, model, dataset, status, code_version,
                         runs_planned, created_at)
  VALUES (1, 'old', '{}', 'm.gguf', 'inline', 'completed', 'v1', 1, '2026-01-01T00:00:00.000Z');
INSERT INTO problems (id, experiment_id, problem_index, source_id, text, reference_answer,
                      answer_format)
  VALUES (5, 1, 0, 'p0', 'What is 1 + 1?', '2', 'gsm8k');
INSERT INTO runs (id, experiment_id, problem_id, strategy_index, strategy, budget_index,
                  budget_n, seed_index, seed, status, answer, correct, finished_at)
  VALUES (9, 1, 5, 0, 'sc', 0, 2, 0, 0, 'succeeded', '2', 1, '2026-01-01T00:00:01.000Z');
INSERT INTO candidates (run_id, candidate_index, text, answer, answer_class, correct,
                        num_tokens, cumulative_logprob, mean_logprob, selected, pruned,
                        finish_reason)
  VALUES (9, 0, 'It is 2.', '2', 0, 1, 4, -1.0, -0.25, 1, 0, 'eos');
INSERT INTO steps (run_id, step_index, iteration, node, parent, gibbs_iteration, text,
                   num_tokens, finished, kept, copies)
  VALUES (9, 0, 0, 0, -1, 0, 'It is 2.', 4, 1, 1, 1);
CREATE VIEW graded AS SELECT p.source_id, r.correct FROM runs r JOIN problems p ON p.id = r.problem_id;
PRAGMA foreign_keys = OFF;
INSERT INTO problems (id, experiment_id, problem_index, source_id, text, answer_format)
  VALUES (6, 77, 0, 'orphan', 'left by a shell', 'math');
)sql")
                    .ok());
  }
  auto store = ExperimentStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto runs = (*store)->ListRuns(1, 0, 10, /*details=*/true);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].problem_id(), "p0");
  EXPECT_TRUE((*runs)[0].correct());
  ASSERT_EQ((*runs)[0].result().candidates_size(), 1);
  EXPECT_EQ((*runs)[0].result().candidates(0).text(), "It is 2.");
  EXPECT_EQ((*runs)[0].result().trace_size(), 1);
  auto problems = (*store)->LoadProblems(1);
  ASSERT_TRUE(problems.ok()) << problems.status();
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_EQ((*problems)[0].reference_answer(), "2");
  EXPECT_EQ((*problems)[0].answer_format(), v1::ANSWER_FORMAT_GSM8K);
  EXPECT_FALSE((*problems)[0].has_code_tests());

  // The rebuilt table still cascades: foreign keys are on again on the store's connection.
  NewExperiment code = MakeExperiment(0);
  v1::Problem& problem = code.problems.emplace_back();
  problem.set_id("HumanEval/0");
  problem.set_text("Write add(a, b).");
  problem.set_answer_format(v1::ANSWER_FORMAT_CODE);
  problem.mutable_code_tests()->add_tests("assert add(1, 2) == 3");
  problem.mutable_code_tests()->set_setup("import math");
  problem.mutable_code_tests()->set_timeout_seconds(3);
  problem.mutable_example_tests()->set_test_code("assert add(0, 0) == 0");
  auto id = (*store)->CreateExperiment(code);
  ASSERT_TRUE(id.ok()) << id.status();
  problems = (*store)->LoadProblems(*id);
  ASSERT_TRUE(problems.ok()) << problems.status();
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_EQ((*problems)[0].answer_format(), v1::ANSWER_FORMAT_CODE);
  EXPECT_EQ((*problems)[0].code_tests().DebugString(), problem.code_tests().DebugString());
  EXPECT_EQ((*problems)[0].example_tests().test_code(), "assert add(0, 0) == 0");
  EXPECT_FALSE((*problems)[0].has_reference_answer());
  store->reset();

  sqlite::Database db = OpenDatabase(path);
  EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), ExperimentStoreMigrations().back().version);
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM pragma_foreign_key_check"), 1);  // the orphan
  // Version 3: experiments recorded before have no model fingerprints.
  EXPECT_EQ(*db.QueryText("SELECT model_fingerprint || reward_models_json FROM experiments "
                          "ORDER BY id LIMIT 1"),
            "{}");
  EXPECT_EQ(*db.QueryText("SELECT source_id || correct FROM graded"), "p01");
  EXPECT_EQ(*db.QueryText("SELECT code_tests FROM problems WHERE source_id = 'HumanEval/0'"),
            R"({"setup":"import math","tests":["assert add(1, 2) == 3"],"timeoutSeconds":3})");
  ASSERT_TRUE(db.Execute("DELETE FROM experiments WHERE id = 1").ok());
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM candidates"), 0);
}

class ExperimentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath("store.db");
    auto store = ExperimentStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::string path_;
  std::unique_ptr<ExperimentStore> store_;
};

TEST_F(ExperimentStoreTest, CreatedExperimentReadsBackWithItsProblems) {
  NewExperiment e = MakeExperiment(3);
  *e.spec.add_problems() = e.problems[0];  // inline problems are not duplicated into config_json
  auto id = store_->CreateExperiment(e);
  ASSERT_TRUE(id.ok()) << id.status();
  auto read = store_->GetExperiment(*id, /*with_cells=*/true);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->spec().name(), "grid");
  EXPECT_EQ(read->spec().strategies_size(), 2);
  EXPECT_EQ(read->spec().strategies(0).config().sampling().temperature(), 0.7);
  EXPECT_EQ(read->spec().problems_size(), 0);
  EXPECT_EQ(read->status(), v1::EXPERIMENT_STATUS_RUNNING);
  EXPECT_EQ(read->runs_planned(), 12);
  EXPECT_EQ(read->problems(), 3);
  EXPECT_EQ(read->create_time().seconds(), 1700000000);
  EXPECT_FALSE(read->has_finish_time());
  auto problems = store_->LoadProblems(*id);
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 3u);
  EXPECT_EQ((*problems)[2].id(), "p2");
  EXPECT_EQ((*problems)[2].reference_answer(), "3");
  EXPECT_EQ((*problems)[2].answer_format(), v1::ANSWER_FORMAT_GSM8K);
}

// Reading (`ponder query`, `ponder report`) refuses writes and, once the last connection is
// closed, leaves nothing beside the file: a read-only SQLite connection would leave the
// write-ahead log and its index behind. While a writer holds the file, its log stays.
TEST_F(ExperimentStoreTest, AReaderWritesNothingAndLeavesNothingBesideTheFile) {
  ASSERT_TRUE(store_->CreateExperiment(MakeExperiment(2)).ok());
  store_.reset();
  ASSERT_FALSE(std::filesystem::exists(path_ + "-wal"));
  const std::string before = FileBytes(path_);
  {
    auto reader = ExperimentStore::OpenForReading(path_);
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto listed = (*reader)->ListExperiments(0, 10);
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_EQ(listed->size(), 1u);
    absl::StatusOr<int64_t> written = (*reader)->CreateExperiment(MakeExperiment(1));
    ASSERT_FALSE(written.ok());
    EXPECT_THAT(std::string(written.status().message()), HasSubstr("readonly"));
    auto query = sqlite::Database::Open(path_, sqlite::Database::Access::kQueryOnly);
    ASSERT_TRUE(query.ok()) << query.status();
    EXPECT_FALSE(query->Execute("DELETE FROM experiments").ok());
    EXPECT_EQ(*query->QueryInt("SELECT count(*) FROM experiments"), 1);
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(path_ + "-shm"));
  EXPECT_TRUE(FileBytes(path_) == before) << path_ << " changed";

  auto writer = ExperimentStore::Open(path_);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->CreateExperiment(MakeExperiment(1)).ok());
  {
    auto reader = ExperimentStore::OpenForReading(path_);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->ListExperiments(0, 10)->size(), 2u);
  }
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal"));  // the writer's, still open
  EXPECT_EQ((*writer)->ListExperiments(0, 10)->size(), 2u);
}

TEST_F(ExperimentStoreTest, RunRoundTripsWithCandidatesAndSteps) {
  auto id = store_->CreateExperiment(MakeExperiment(1));
  ASSERT_TRUE(id.ok());
  RunRecord run = MakeRun(*id, {0, 1, 1, 0}, /*correct=*/true);
  ASSERT_TRUE(store_->InsertRuns({&run, 1}).ok());
  auto runs = store_->ListRuns(*id, 0, 10, /*details=*/true);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  const v1::RunResult& r = (*runs)[0];
  EXPECT_EQ(r.problem_id(), "p0");
  EXPECT_EQ(r.strategy(), "bon");
  EXPECT_EQ(r.budget().n(), 4);
  EXPECT_EQ(r.seed(), 3u);
  EXPECT_EQ(r.status(), v1::RUN_STATUS_SUCCEEDED);
  EXPECT_EQ(r.answer(), "right");
  EXPECT_TRUE(r.correct());
  EXPECT_EQ(r.usage().generated_tokens(), 33);
  EXPECT_EQ(r.result().diagnostics().at("rounds"), 2);
  EXPECT_EQ(r.result().diagnostics().at("share"), 0.75);
  // Counts are stored as integers, for sqlite3 users.
  EXPECT_EQ(*OpenDatabase(path_).QueryText("SELECT diagnostics_json FROM runs"),
            R"({"rounds":2,"share":0.75})");
  ASSERT_EQ(r.result().candidates_size(), 3);
  EXPECT_EQ(r.result().selected_candidate(), 1);
  const v1::Candidate& c = r.result().candidates(2);
  EXPECT_EQ(c.text(), "candidate text 2");
  EXPECT_EQ(c.answer(), "2");
  EXPECT_EQ(c.num_tokens(), 12);
  EXPECT_EQ(c.cumulative_logprob(), -3.0);
  EXPECT_THAT(c.step_scores(), ElementsAre(0.25, 0.75));
  EXPECT_EQ(c.finish_reason(), "stop");
  ASSERT_EQ(r.result().trace_size(), 1);
  EXPECT_EQ(r.result().trace(0).text(), "first step");
  EXPECT_EQ(r.result().trace(0).reward(), 0.9);
  EXPECT_FALSE(r.result().trace(0).has_weight());
  EXPECT_EQ(r.result().trace(0).copies(), 2);

  // The candidates' grades are in the table for pass@k-style queries.
  sqlite::Database db = OpenDatabase(path_);
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM candidates WHERE correct = 1"), 1);
}

TEST_F(ExperimentStoreTest, ARunIsRecordedAtMostOnce) {
  auto id = store_->CreateExperiment(MakeExperiment(2));
  ASSERT_TRUE(id.ok());
  RunRecord first = MakeRun(*id, {0, 0, 0, 0}, true);
  ASSERT_TRUE(store_->InsertRuns({&first, 1}).ok());
  // A batch holding a new run and a repeat is refused as a whole.
  std::vector<RunRecord> batch = {MakeRun(*id, {1, 0, 0, 0}, true),
                                  MakeRun(*id, {0, 0, 0, 0}, false)};
  absl::Status status = store_->InsertRuns(batch);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("problem 0"));
  auto keys = store_->RecordedRunKeys(*id);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  sqlite::Database db = OpenDatabase(path_);
  EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM candidates"), 3);
  EXPECT_EQ(*db.QueryText("SELECT answer FROM runs"), "right");
}

TEST_F(ExperimentStoreTest, RunOfAnUnknownExperimentOrProblemIsRefused) {
  auto id = store_->CreateExperiment(MakeExperiment(1));
  ASSERT_TRUE(id.ok());
  RunRecord unknown_problem = MakeRun(*id, {5, 0, 0, 0}, true);
  EXPECT_FALSE(store_->InsertRuns({&unknown_problem, 1}).ok());
  RunRecord unknown_experiment = MakeRun(*id + 100, {0, 0, 0, 0}, true);
  EXPECT_FALSE(store_->InsertRuns({&unknown_experiment, 1}).ok());
  EXPECT_TRUE(store_->RecordedRunKeys(*id)->empty());
}

TEST_F(ExperimentStoreTest, FailedRunKeepsItsError) {
  auto id = store_->CreateExperiment(MakeExperiment(1));
  RunRecord run = MakeRun(*id, {0, 0, 0, 0}, false, /*candidates=*/0);
  run.status = absl::InternalError("engine exploded");
  run.result.clear_answer();
  run.correct.reset();
  ASSERT_TRUE(store_->InsertRuns({&run, 1}).ok());
  auto runs = store_->ListRuns(*id, 0, 10, false);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].status(), v1::RUN_STATUS_FAILED);
  EXPECT_THAT((*runs)[0].error(), HasSubstr("engine exploded"));
  EXPECT_FALSE((*runs)[0].has_correct());
  EXPECT_FALSE((*runs)[0].has_answer());
  EXPECT_EQ(store_->GetExperiment(*id, false)->runs_failed(), 1);
}

TEST_F(ExperimentStoreTest, CellsReportAccuracyPerStrategyAndBudget) {
  auto id = store_->CreateExperiment(MakeExperiment(2));
  std::vector<RunRecord> runs = {
      MakeRun(*id, {0, 0, 0, 0}, true), MakeRun(*id, {1, 0, 0, 0}, false),
      MakeRun(*id, {0, 1, 1, 0}, true), MakeRun(*id, {1, 1, 1, 0}, true)};
  runs[1].correct.reset();  // not graded
  ASSERT_TRUE(store_->InsertRuns(runs).ok());
  auto experiment = store_->GetExperiment(*id, /*with_cells=*/true);
  ASSERT_TRUE(experiment.ok());
  ASSERT_EQ(experiment->cells_size(), 2);
  EXPECT_EQ(experiment->runs_recorded(), 4);
  const v1::ExperimentCell& sc = experiment->cells(0);
  EXPECT_EQ(sc.strategy(), "sc");
  EXPECT_EQ(sc.budget_n(), 2);
  EXPECT_EQ(sc.runs(), 2);
  EXPECT_EQ(sc.graded(), 1);
  EXPECT_EQ(sc.correct(), 1);
  EXPECT_EQ(sc.accuracy(), 1.0);
  const v1::ExperimentCell& bon = experiment->cells(1);
  EXPECT_EQ(bon.strategy(), "bon");
  EXPECT_EQ(bon.budget_n(), 4);
  EXPECT_EQ(bon.accuracy(), 1.0);
  EXPECT_EQ(bon.mean_generated_tokens(), 33);
}

TEST_F(ExperimentStoreTest, ListsExperimentsNewestFirstInPages) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(*store_->CreateExperiment(MakeExperiment(1)));
  auto first = store_->ListExperiments(0, 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id(), ids[4]);
  EXPECT_EQ((*first)[1].id(), ids[3]);
  auto rest = store_->ListExperiments((*first)[1].id(), 10);
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[2].id(), ids[0]);
}

TEST_F(ExperimentStoreTest, StatusChangesAreRecorded) {
  auto id = store_->CreateExperiment(MakeExperiment(1));
  ASSERT_TRUE(
      store_
          ->SetStatus(*id, v1::EXPERIMENT_STATUS_INTERRUPTED, "", absl::FromUnixSeconds(1700000500))
          .ok());
  EXPECT_EQ(store_->GetExperiment(*id, false)->finish_time().seconds(), 1700000500);
  ASSERT_TRUE(
      store_->SetStatus(*id, v1::EXPERIMENT_STATUS_RUNNING, "", std::nullopt, /*resumed=*/true)
          .ok());
  auto experiment = store_->GetExperiment(*id, false);
  EXPECT_EQ(experiment->status(), v1::EXPERIMENT_STATUS_RUNNING);
  EXPECT_EQ(experiment->resume_count(), 1);
  EXPECT_FALSE(experiment->has_finish_time());
  EXPECT_THAT(*store_->ExperimentsWithStatus(v1::EXPERIMENT_STATUS_RUNNING), ElementsAre(*id));
  EXPECT_TRUE(absl::IsNotFound(
      store_->SetStatus(*id + 1, v1::EXPERIMENT_STATUS_FAILED, "x", std::nullopt)));
}

TEST_F(ExperimentStoreTest, WriteCountsChangeWithEachWriteToTheirExperiment) {
  const int64_t first = *store_->CreateExperiment(MakeExperiment(1));
  const int64_t second = *store_->CreateExperiment(MakeExperiment(1));
  const uint64_t created = store_->WriteCount(first);
  EXPECT_GT(created, 0u);
  EXPECT_EQ(store_->WriteCount(second + 1), 0u);  // never written
  ASSERT_TRUE(store_->SetStatus(first, v1::EXPERIMENT_STATUS_CANCELLED, "", absl::Now()).ok());
  const uint64_t cancelled = store_->WriteCount(first);
  EXPECT_GT(cancelled, created);
  RunRecord run = MakeRun(first, {0, 0, 0, 0}, true);
  ASSERT_TRUE(store_->InsertRuns({&run, 1}).ok());
  EXPECT_GT(store_->WriteCount(first), cancelled);
  EXPECT_EQ(store_->WriteCount(second), created);  // the other experiment's writes are its own
  (void)store_->GetExperiment(first, true);
  (void)store_->ListRuns(first, 0, 10, true);
  EXPECT_EQ(store_->WriteCount(second), created);  // reads are not writes
}

// Reads have connections of their own: a client's read neither waits for the writer nor holds it
// up. Here the writer is held inside a write (another connection's lock keeps its transaction
// waiting, for up to the 5 s busy timeout, with the store's write lock taken); with one
// connection for everything the read waited for it.
TEST_F(ExperimentStoreTest, AReadDoesNotWaitForAWriteInProgress) {
  const int64_t id = *store_->CreateExperiment(MakeExperiment(2));
  RunRecord first = MakeRun(id, {0, 0, 0, 0}, true);
  ASSERT_TRUE(store_->InsertRuns({&first, 1}).ok());
  sqlite::Database other = OpenDatabase(path_);
  ASSERT_TRUE(other.Execute("BEGIN IMMEDIATE").ok());
  std::atomic<bool> written{false};
  std::thread writer([&] {
    RunRecord second = MakeRun(id, {1, 0, 0, 0}, false);
    EXPECT_TRUE(store_->InsertRuns({&second, 1}).ok());
    written = true;
  });
  absl::SleepFor(absl::Milliseconds(200));  // the writer is in its busy wait by now
  absl::StatusOr<v1::Experiment> read = store_->GetExperiment(id, /*with_cells=*/true);
  absl::StatusOr<std::vector<v1::RunResult>> runs = store_->ListRuns(id, 0, 10, true);
  const bool read_before_write = !written;
  ASSERT_TRUE(other.Execute("COMMIT").ok());
  writer.join();
  EXPECT_TRUE(read_before_write);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->runs_recorded(), 1);  // what was committed when the read began
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_EQ(runs->size(), 1u);
  // And once the write has committed, the next read sees it.
  EXPECT_EQ(store_->GetExperiment(id, false)->runs_recorded(), 2);
}

TEST_F(ExperimentStoreTest, CommonQueriesUseIndexes) {
  sqlite::Database db = OpenDatabase(path_);
  auto plan = [&](const std::string& sql) {
    auto statement = db.Prepare("EXPLAIN QUERY PLAN " + sql);
    EXPECT_TRUE(statement.ok()) << statement.status();
    std::string text;
    while (*statement->Step()) text += statement->ColumnText(3) + "\n";
    return text;
  };
  EXPECT_THAT(plan("SELECT avg(correct) FROM runs WHERE experiment_id = 1 AND strategy = 'sc'"),
              HasSubstr("USING INDEX runs_by_cell"));
  EXPECT_THAT(plan("SELECT * FROM candidates WHERE run_id = 3"), HasSubstr("USING INDEX"));
  EXPECT_THAT(plan("SELECT * FROM steps WHERE run_id = 3"), HasSubstr("USING INDEX"));
  EXPECT_THAT(plan("SELECT * FROM runs WHERE problem_id = 3"), HasSubstr("USING INDEX"));
}

// Every ```sql block of docs/store.md runs against a populated database: the documentation's
// queries stay true to the schema.
TEST_F(ExperimentStoreTest, DocumentedQueriesRun) {
  auto id = store_->CreateExperiment(MakeExperiment(2));
  std::vector<RunRecord> runs = {MakeRun(*id, {0, 0, 0, 0}, true),
                                 MakeRun(*id, {1, 1, 1, 0}, false)};
  ASSERT_TRUE(store_->InsertRuns(runs).ok());
  std::ifstream file(std::string(PONDER_SOURCE_DIR) + "/docs/store.md");
  ASSERT_TRUE(file.good()) << "docs/store.md is missing";
  std::stringstream text;
  text << file.rdbuf();
  const std::string doc = text.str();
  sqlite::Database db = OpenDatabase(path_);
  int queries = 0;
  // std::regex is avoided here: GCC 12 warns (maybe-uninitialized) inside it under the
  // sanitizer build, and warnings are errors.
  constexpr std::string_view kOpen = "```sql\n", kClose = "```";
  for (size_t open = doc.find(kOpen); open != std::string::npos; open = doc.find(kOpen, open)) {
    const size_t begin = open + kOpen.size();
    const size_t close = doc.find(kClose, begin);
    ASSERT_NE(close, std::string::npos) << "unterminated ```sql block in docs/store.md";
    open = close + kClose.size();
    // Documented queries use :experiment for the experiment id.
    const std::string sql =
        absl::StrReplaceAll(doc.substr(begin, close - begin), {{":experiment", absl::StrCat(*id)}});
    auto statement = db.Prepare(sql);
    ASSERT_TRUE(statement.ok()) << sql << "\n" << statement.status();
    int rows = 0;
    while (true) {
      absl::StatusOr<bool> row = statement->Step();
      ASSERT_TRUE(row.ok()) << sql << "\n" << row.status();
      if (!*row) break;
      ++rows;
    }
    EXPECT_GT(rows, 0) << "documented query returns nothing:\n" << sql;
    ++queries;
  }
  EXPECT_GE(queries, 4);
}

// --- RunWriter ---

TEST_F(ExperimentStoreTest, RunWriterRecordsEverythingAndIsolatesABadRecord) {
  auto id = store_->CreateExperiment(MakeExperiment(4));
  absl::Mutex mu;
  int ok = 0, failed = 0;
  {
    RunWriter writer(*store_, [&](const std::vector<RunWriter::Outcome>& outcomes) {
      absl::MutexLock lock(&mu);
      for (const auto& outcome : outcomes) (outcome.status.ok() ? ok : failed)++;
    });
    for (int p = 0; p < 4; ++p) writer.Enqueue(MakeRun(*id, {p, 0, 0, 0}, true));
    writer.Enqueue(MakeRun(*id, {2, 0, 0, 0}, true));  // a repeat
    writer.Flush();
    absl::MutexLock lock(&mu);
    EXPECT_EQ(ok, 4);
    EXPECT_EQ(failed, 1);
    writer.Enqueue(MakeRun(*id, {0, 1, 0, 0}, true));
  }  // the destructor writes what is queued
  EXPECT_EQ(store_->RecordedRunKeys(*id)->size(), 5u);
}

}  // namespace
}  // namespace ponder::orchestrator
