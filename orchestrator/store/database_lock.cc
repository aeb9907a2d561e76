#include "orchestrator/store/database_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ponder::orchestrator {

absl::StatusOr<DatabaseLock> DatabaseLock::Acquire(const std::string& path, Mode mode) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("database '", path, "': cannot open it to lock it: ", std::strerror(errno)));
  }
  DatabaseLock lock(fd);
  int result;
  do {
    result = flock(fd, (mode == Mode::kServer ? LOCK_EX : LOCK_SH) | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result == 0) return lock;
  if (errno != EWOULDBLOCK) {
    return absl::UnavailableError(
        absl::StrCat("database '", path, "': cannot lock it: ", std::strerror(errno)));
  }
  if (mode == Mode::kServer) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database '", path,
        "' is in use by another process that runs experiments on it (a ponderd or a ponder "
        "bench); one server per database, and no benchmark beside it"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("database '", path,
                   "' is served by a running ponderd; run the benchmark through it (--server "
                   "ADDRESS) or give another --db"));
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
  if (fd_ >= 0) close(fd_);  // closing the last descriptor of the open file drops the lock
}

}  // namespace ponder::orchestrator
