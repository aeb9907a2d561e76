// Which processes may run experiments on one database at the same time. A server takes the
// database exclusively: at start it takes the experiments still marked running for orphans of a
// server that died and resumes them, which beside a live server would run an experiment twice
// and let two processes record its status. `ponder bench` takes it shared: benchmarks may share
// a database with each other, not with a server.
//
// The lock is an advisory flock(2) on the database file itself, held for the life of the
// DatabaseLock: the kernel drops it when the process dies (kill -9 too), and neither SQLite's
// own locks (fcntl byte ranges) nor readers (`ponder query`, the sqlite3 shell) meet it.
#ifndef PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_
#define PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_

#include <string>

#include "absl/status/statusor.h"

namespace ponder::orchestrator {

class DatabaseLock {
 public:
  enum class Mode {
    kServer,     // exclusive
    kBenchmark,  // shared with other benchmarks
  };

  // The lock on the existing file `path`, without waiting: FailedPrecondition saying who holds
  // it when it is taken.
  static absl::StatusOr<DatabaseLock> Acquire(const std::string& path, Mode mode);

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
