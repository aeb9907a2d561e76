#include "orchestrator/store/database_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace ponder::orchestrator {

absl::StatusOr<DatabaseLock> DatabaseLock::Acquire(const std::string& path, Mode mode,
                                                   std::string_view holder) {
  const std::string lock_path = LockPath(path);
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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
