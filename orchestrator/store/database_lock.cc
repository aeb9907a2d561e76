#include "orchestrator/store/database_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "orchestrator/store/sqlite.h"

namespace ponder::orchestrator {
namespace {

// What every name of a file shares.
using FileIdentity = std::pair<dev_t, ino_t>;

// Descriptors of database files whose lock was released, by file. They stay open (see the
// header: closing one would drop the POSIX locks SQLite holds on the file in this process) and
// carry the next lock of the same file.
ABSL_CONST_INIT absl::Mutex retired_mu(absl::kConstInit);
absl::flat_hash_map<FileIdentity, std::vector<int>>& RetiredDescriptors()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(retired_mu) {
  static auto* const retired = new absl::flat_hash_map<FileIdentity, std::vector<int>>;
  return *retired;
}

void Retire(int fd) {
  struct stat info;
  if (fstat(fd, &info) != 0) return;  // cannot be: the descriptor stays open regardless
  absl::MutexLock lock(&retired_mu);
  RetiredDescriptors()[{info.st_dev, info.st_ino}].push_back(fd);
}

bool Writable(int fd) { return (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR; }

// A retired descriptor of the file `info` describes, open for writing where `write`, or -1.
int TakeRetired(const struct stat& info, bool write) {
  absl::MutexLock lock(&retired_mu);
  auto it = RetiredDescriptors().find(FileIdentity{info.st_dev, info.st_ino});
  if (it == RetiredDescriptors().end()) return -1;
  std::vector<int>& descriptors = it->second;
  for (auto d = descriptors.begin(); d != descriptors.end(); ++d) {
    if (write && !Writable(*d)) continue;
    const int fd = *d;
    descriptors.erase(d);
    return fd;
  }
  return -1;
}

// The file a chain of symbolic links from `path` ends at (a relative target read from its link's
// folder), or `path` itself when it is no link, or when the chain cannot be read or is a loop.
std::string LinkTarget(const std::string& path) {
  std::filesystem::path at = path;
  for (int links = 0; links < 40; ++links) {  // Linux's limit (ELOOP)
    std::error_code error;  // set for a missing file, which is no link: where the chain ends
    if (!std::filesystem::is_symlink(at, error)) return at.string();
    const std::filesystem::path target = std::filesystem::read_symlink(at, error);
    if (error) return path;
    at = target.is_absolute() ? target : at.parent_path() / target;
  }
  return path;
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The byte of the database file the lock is taken on: 1 TiB in, far past SQLite's own lock bytes
// (PENDING_BYTE, 0x40000000, to 0x400001FF, os_unix.c) and past any page of a database this
// store writes, so SQLite never locks, reads or writes it (servers that enforce byte-range locks,
// as CIFS's may, would otherwise refuse SQLite's own I/O there). Locks past the end of a file are
// allowed.
constexpr off_t kLockByte = off_t{1} << 40;

// An open file description lock (F_OFD_SETLK, Linux 3.15) of kLockByte: F_RDLCK, F_WRLCK or
// F_UNLCK, without waiting; 0 or -1 with errno (EAGAIN or EACCES: held elsewhere). Where the
// kernel or filesystem has no such locks (EINVAL: old kernels, some FUSE filesystems), an flock
// of the whole file instead, the same on every call there.
int LockByte(int fd, short type) {
  struct flock request = {};
  request.l_type = type;
  request.l_whence = SEEK_SET;
  request.l_start = kLockByte;
  request.l_len = 1;
  int result;
  do {
    result = fcntl(fd, F_OFD_SETLK, &request);
  } while (result != 0 && errno == EINTR);
  if (result != 0 && errno == EINVAL) {
    const int operation = type == F_RDLCK ? LOCK_SH : type == F_WRLCK ? LOCK_EX : LOCK_UN;
    do {
      result = flock(fd, operation | LOCK_NB);
    } while (result != 0 && errno == EINTR);
  }
  return result;
}

}  // namespace

absl::StatusOr<DatabaseLock> DatabaseLock::Acquire(const std::string& path, Mode mode,
                                                   std::string_view holder) {
  if (path == ":memory:") return DatabaseLock(-1, "");
  // Nothing is created at a path that can never be a database.
  PONDER_RETURN_IF_ERROR(sqlite::CheckDatabasePath(path));
  // The lock must end up on the file `path` names: one a failed process removed (the destructor)
  // between our open and our lock is given up for the one that replaced it.
  constexpr int kAttempts = 8;
  for (int attempt = 1;; ++attempt) {
    // A write lock needs a descriptor open for writing, a read lock one open for reading: a
    // shared lock of a database this process may only read is taken through a read-only one.
    const bool exclusive = mode == Mode::kExclusive;
    struct stat before;
    int fd = stat(path.c_str(), &before) == 0 ? TakeRetired(before, exclusive) : -1;
    std::string created_path;
    if (fd < 0) fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && !exclusive && (errno == EACCES || errno == EROFS)) {
      fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 && errno == ENOENT) {
      // As SQLite creates a database: 0644 less the umask. O_EXCL: a file another process
      // creates meanwhile is not taken for this lock's own (it would be removed on release).
      // O_EXCL does not follow a symbolic link: one whose target is missing gets the target
      // created, as SQLite would create it.
      const std::string create_at = LinkTarget(path);
      fd = open(create_at.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0 && errno == EEXIST && attempt < kAttempts) continue;
      if (fd >= 0) {
        std::error_code error;
        created_path = std::filesystem::canonical(path, error).string();
        if (error) created_path.clear();  // it is kept, then
      }
    }
    if (fd < 0) {
      const int open_errno = errno;
      return absl::UnavailableError(absl::StrCat(
          "database '", path, "': cannot open it to lock it", exclusive ? " (writing)" : "", ": ",
          std::strerror(open_errno),
          exclusive && (open_errno == EACCES || open_errno == EROFS)
              ? " (a process that runs experiments writes to its database: give one it may "
                "write, or copy this one somewhere writable)"
          : exclusive && open_errno == ENOENT  // O_CREAT: the folder is missing
              ? absl::StrCat(" (its folder '", std::filesystem::path(path).parent_path().string(),
                             "' does not exist: create it first, or give a path in one that does)")
              : std::string()));
    }
    DatabaseLock lock(fd, std::move(created_path));
    if (LockByte(fd, exclusive ? F_WRLCK : F_RDLCK) != 0) {
      if (errno != EAGAIN && errno != EACCES) {
        return absl::UnavailableError(
            absl::StrCat("database '", path, "': cannot lock it: ", std::strerror(errno)));
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
    struct stat locked;
    struct stat now;
    if (fstat(fd, &locked) == 0 && stat(path.c_str(), &now) == 0 && SameFile(locked, now)) {
      return lock;
    }
    lock.created_path_.clear();  // not ours to remove any more
    if (attempt == kAttempts) {
      return absl::UnavailableError(absl::StrCat(
          "database '", path, "': the file keeps being removed or replaced while it is locked"));
    }
  }
}

void DatabaseLock::RemoveCreatedDatabase() {
  if (fd_ < 0 || created_path_.empty()) return;
  struct stat held;
  struct stat named;
  if (fstat(fd_, &held) == 0 && stat(created_path_.c_str(), &named) == 0 && SameFile(held, named)) {
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      unlink(absl::StrCat(created_path_, suffix).c_str());
    }
    unlink(created_path_.c_str());
    // The file is gone with every connection to it closed: its descriptor may be too.
    close(std::exchange(fd_, -1));
  }
  created_path_.clear();
}

void DatabaseLock::Release() {
  if (fd_ < 0) return;
  if (!created_path_.empty()) {
    // Nobody wrote to the file this lock created: it is removed, unless another process holds
    // the lock too (a benchmark sharing it may be about to write), or the path no longer names
    // it. The size first: the write lock, tried, would refuse for a moment a process starting
    // beside this one.
    struct stat held;
    struct stat named;
    if (fstat(fd_, &held) == 0 && held.st_size == 0 && LockByte(fd_, F_WRLCK) == 0 &&
        stat(created_path_.c_str(), &named) == 0 && SameFile(held, named)) {
      unlink(created_path_.c_str());
      close(std::exchange(fd_, -1));  // the file is gone: its descriptor may be too
      return;
    }
  }
  LockByte(fd_, F_UNLCK);
  Retire(std::exchange(fd_, -1));
}

DatabaseLock::DatabaseLock(DatabaseLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), created_path_(std::move(other.created_path_)) {}

DatabaseLock& DatabaseLock::operator=(DatabaseLock&& other) noexcept {
  if (this != &other) {
    Release();
    fd_ = std::exchange(other.fd_, -1);
    created_path_ = std::move(other.created_path_);
  }
  return *this;
}

DatabaseLock::~DatabaseLock() { Release(); }

}  // namespace ponder::orchestrator
