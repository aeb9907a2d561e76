#include "orchestrator/store/database_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "orchestrator/store/sqlite.h"

namespace ponder::orchestrator {

absl::StatusOr<DatabaseLock> DatabaseLock::Acquire(const std::string& path, Mode mode,
                                                   std::string_view holder) {
  // Nothing is created beside a path that can never be a database.
  PONDER_RETURN_IF_ERROR(sqlite::CheckDatabasePath(path));
  const std::string lock_path = LockPath(path);
  // flock needs no write access: whoever may read the file may take the lock (0666 less the
  // umask for a new one, as for the database).
  const int fd = open(lock_path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("database '", path, "': cannot open its lock file '",
                                               lock_path, "': ", std::strerror(errno)));
  }
  DatabaseLock lock(fd);
  int result;
  do {
    result = flock(fd, (mode == Mode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result == 0) return lock;
  if (errno != EWOULDBLOCK) {
    return absl::UnavailableError(absl::StrCat("database '", path, "': cannot lock '", lock_path,
                                               "': ", std::strerror(errno)));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "database '", path, "' is in use by ",
      mode == Mode::kExclusive
          ? "another process that runs experiments on it (a ponderd or a ponder bench)"
          : "a ponderd or a resuming ponder bench",
      "; ", AsAbsl(holder),
      " cannot run beside it (one server per database; benchmarks may share one, not with a "
      "server)"));
}

std::string DatabaseLock::LockPath(const std::string& path) {
  // The database's own name, through symbolic links, so that every spelling of it shares one
  // lock (for a new file, its folder's).
  std::error_code error;
  std::filesystem::path resolved = std::filesystem::weakly_canonical(path, error);
  if (error) resolved = path;
  return resolved.string() + ".lock";
}

DatabaseLock::DatabaseLock(DatabaseLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DatabaseLock& DatabaseLock::operator=(DatabaseLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DatabaseLock::~DatabaseLock() {
  if (fd_ >= 0) close(fd_);  // the last descriptor of the open file: the lock goes with it
}

}  // namespace ponder::orchestrator
