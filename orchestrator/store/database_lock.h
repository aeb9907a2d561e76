// Which processes may run experiments on one database at the same time. A server takes the
// database to itself: at start it takes the experiments still marked running for orphans of a
// server that died and resumes them, which beside a live server would run an experiment twice
// and let two processes record its status. So does `ponder bench --resume` (it takes over an
// experiment a dead benchmark left running). Other benchmarks share it with each other.
//
// The lock is an advisory open file description lock (fcntl F_OFD_SETLK) of one byte of the
// database file itself, 1 TiB in, past every byte SQLite locks or writes, so every name of the
// file (a symbolic link, a hard link, another spelling of its path) shares it and SQLite's own
// locks never meet it, on a local disk or NFS (where flock, emulated by a whole-file lock, would
// block SQLite's); where the filesystem has no such locks, an flock of the file. A missing
// database is created empty to carry it (a symbolic link's target, for a link to a missing
// file); an exclusive lock needs the file writable. It
// is held for the life of the DatabaseLock, and the kernel drops it when the process dies (kill
// -9 too). POSIX drops every fcntl lock a process holds on a file (SQLite's too) when any
// descriptor of that file is closed: so the lock's descriptor is never closed while the file
// exists, only unlocked, and kept for the next lock of that file in this process (as SQLite keeps
// its own, os_unix.c's "pending" descriptors). Take the lock before opening the store, so that a
// refused process has written nothing to the database.
#ifndef PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_
#define PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace ponder::orchestrator {

class DatabaseLock {
 public:
  enum class Mode { kShared, kExclusive };

  // The lock of the database at `path` (created empty when missing), without waiting:
  // FailedPrecondition when another process holds it in a conflicting mode, saying that `holder`
  // (e.g. "ponderd") cannot run beside it; the errors of sqlite::CheckDatabasePath, before
  // anything is created, for a path that cannot be a database (a directory, a file that holds
  // something else). A private in-memory database (":memory:") needs no lock: it gets one that
  // holds nothing.
  static absl::StatusOr<DatabaseLock> Acquire(const std::string& path, Mode mode,
                                              std::string_view holder);

  // Removes the database file this lock created (it was missing when the lock was taken), with
  // the files SQLite keeps beside it (FILE-wal, FILE-shm, FILE-journal), whatever it holds: for a
  // process that fails before it has recorded anything (ponderd that cannot listen), once every
  // connection it opened to the database is closed. Nothing for a file the lock did not create.
  // Hold the lock kExclusive: no other process may be using the file.
  void RemoveCreatedDatabase();

  DatabaseLock(DatabaseLock&& other) noexcept;
  DatabaseLock& operator=(DatabaseLock&& other) noexcept;
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;
  // Releases the lock. A database file this lock created and nobody has written to yet (the
  // process failed before it opened the store) is removed first, when no other process holds
  // the lock, so that a failed start leaves no empty database behind.
  ~DatabaseLock();

 private:
  DatabaseLock(int fd, std::string created_path)
      : fd_(fd), created_path_(std::move(created_path)) {}
  void Release();

  int fd_ = -1;
  std::string created_path_;  // the file this lock created, through symbolic links; or empty
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STORE_DATABASE_LOCK_H_
