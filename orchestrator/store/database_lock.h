// Which processes may run experiments on one database at the same time. A server takes the
// database to itself: at start it takes the experiments still marked running for orphans of a
// server that died and resumes them, which beside a live server would run an experiment twice
// and let two processes record its status. So does `ponder bench --resume` (it takes over an
// experiment a dead benchmark left running). Other benchmarks share it with each other.
//
// The lock is an advisory flock(2) on a file beside the database, `<database>.lock` (the path
// through symbolic links; created when missing and left in place), held for the life of the
// DatabaseLock; the kernel drops it when the process dies (kill -9 too). It is never the database
// file itself: closing a descriptor of that file would drop the POSIX locks SQLite holds on it
// in this process. Take it before opening the store, so that a refused process has written
// nothing to the database (the lock file may have been created).
#ifndef PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_
#define PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ponder::orchestrator {

class DatabaseLock {
 public:
  enum class Mode { kShared, kExclusive };

  // The lock of the database at `path`, without waiting: FailedPrecondition when another process
  // holds it in a conflicting mode, saying that `holder` (e.g. "ponderd") cannot run beside it;
  // the errors of sqlite::CheckDatabasePath, before any lock file is created, for a path that
  // cannot be a database (a directory, a file that holds something else).
  static absl::StatusOr<DatabaseLock> Acquire(const std::string& path, Mode mode,
                                              std::string_view holder);

  // The file that carries the lock of the database at `path`.
  static std::string LockPath(const std::string& path);

  DatabaseLock(DatabaseLock&& other) noexcept;
  DatabaseLock& operator=(DatabaseLock&& other) noexcept;
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;
  ~DatabaseLock();

 private:
  explicit DatabaseLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_
