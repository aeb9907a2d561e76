#include "verifiers/code/sandbox_slots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ponder::verifiers::sandbox {
namespace {

// The parts of /proc/<pid>/status we use.
struct ProcessStatus {
  uid_t uids[3] = {};             // real, effective, saved
  int64_t peak_resident_kib = 0;  // VmHWM; absent (0) for a zombie
};

bool ReadProcessStatus(pid_t pid, ProcessStatus& status) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[4096];
  ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (n <= 0) return false;
  buffer[n] = '\0';
  const char* uid_line = std::strstr(buffer, "\nUid:");
  unsigned long values[3];
  if (uid_line == nullptr ||
      std::sscanf(uid_line + 5, "%lu %lu %lu", &values[0], &values[1], &values[2]) != 3) {
    return false;
  }
  for (int i = 0; i < 3; ++i) status.uids[i] = static_cast<uid_t>(values[i]);
  long long kib = 0;
  const char* peak_line = std::strstr(buffer, "\nVmHWM:");
  if (peak_line != nullptr && std::sscanf(peak_line + 7, "%lld", &kib) == 1) {
    status.peak_resident_kib = kib;
  }
  return true;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

}  // namespace

bool ProcessHasUid(pid_t pid, uid_t uid) {
  ProcessStatus status;
  if (!ReadProcessStatus(pid, status)) return false;
  return status.uids[0] == uid || status.uids[1] == uid || status.uids[2] == uid;
}

int64_t PeakResidentBytes(pid_t pid, uid_t uid) {
  ProcessStatus status;
  if (!ReadProcessStatus(pid, status) || status.uids[0] != uid) return 0;
  return status.peak_resident_kib * 1024;
}

std::vector<pid_t> ProcessesOfUid(uid_t uid) {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (const dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
    if (ProcessHasUid(pid, uid)) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

absl::Status KillProcessesOfUid(uid_t uid, absl::Duration max_wait) {
  const absl::Time deadline = absl::Now() + max_wait;
  absl::Duration pause = absl::Microseconds(500);
  while (true) {
    std::vector<pid_t> pids = ProcessesOfUid(uid);
    if (pids.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("processes of sandbox uid ", uid, " still present after ",
                       absl::FormatDuration(max_wait), ": pids ", absl::StrJoin(pids, ",")));
    }
    for (pid_t pid : pids) {
      int pidfd = PidfdOpen(pid);
      if (pidfd < 0) continue;  // already gone
      // Check again through the pidfd's process: the pid may have been recycled since the scan.
      if (ProcessHasUid(pid, uid)) PidfdSendSignal(pidfd, SIGKILL);
      close(pidfd);
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(20));
  }
}

SlotLease::SlotLease(SlotLease&& other) noexcept
    : allocator_(other.allocator_), slot_(other.slot_), uid_(other.uid_), lock_fd_(other.lock_fd_) {
  other.allocator_ = nullptr;
  other.lock_fd_ = -1;
}

SlotLease& SlotLease::operator=(SlotLease&& other) noexcept {
  if (this != &other) {
    Reset();
    allocator_ = other.allocator_;
    slot_ = other.slot_;
    uid_ = other.uid_;
    lock_fd_ = other.lock_fd_;
    other.allocator_ = nullptr;
    other.lock_fd_ = -1;
  }
  return *this;
}

SlotLease::~SlotLease() { Reset(); }

void SlotLease::Reset() {
  if (allocator_ != nullptr) allocator_->Release(slot_, lock_fd_);
  allocator_ = nullptr;
  lock_fd_ = -1;
}

SlotAllocator::SlotAllocator(uid_t uid_base, int slot_count, std::string lock_dir)
    : uid_base_(uid_base),
      slot_count_(slot_count),
      lock_dir_(std::move(lock_dir)),
      taken_(static_cast<size_t>(std::max(slot_count, 0)), 0) {}

SlotAllocator::~SlotAllocator() = default;

std::string SlotAllocator::LockPath(uid_t uid) const {
  return absl::StrCat(lock_dir_, "/uid-", uid, ".lock");
}

absl::Status SlotAllocator::Validate() const {
  if (slot_count_ < 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox slot_count must be at least 1, got ", slot_count_));
  }
  if (uid_base_ == 0 || uint64_t{uid_base_} + static_cast<uint64_t>(slot_count_) >
                            uint64_t{std::numeric_limits<uid_t>::max()} - 1) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox uid range [", uid_base_, ", ",
                                                      uint64_t{uid_base_} + slot_count_,
                                                      ") is not a range of unprivileged uids"));
  }
  for (int i = 0; i < slot_count_; ++i) {
    uid_t id = uid_base_ + static_cast<uid_t>(i);
    passwd pw;
    passwd* pw_result = nullptr;
    group gr;
    group* gr_result = nullptr;
    char buffer[4096];
    if (getpwuid_r(id, &pw, buffer, sizeof(buffer), &pw_result) == 0 && pw_result != nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox uid ", id, " belongs to user '", pw.pw_name,
                       "' on this host; choose a uid_base whose range has no named users"));
    }
    if (getgrgid_r(id, &gr, buffer, sizeof(buffer), &gr_result) == 0 && gr_result != nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox gid ", id, " belongs to group '", gr.gr_name,
                       "' on this host; choose a uid_base whose range has no named groups"));
    }
  }
  if (mkdir(lock_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create the sandbox lock directory ",
                                               lock_dir_, ": ", strerror(errno)));
  }
  struct stat info;
  if (lstat(lock_dir_.c_str(), &info) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot stat the sandbox lock directory ", lock_dir_, ": ", strerror(errno)));
  }
  if (!S_ISDIR(info.st_mode) || info.st_uid != geteuid() || (info.st_mode & 022) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox lock directory ", lock_dir_,
                                                      " must be a directory owned by uid ",
                                                      geteuid(), " and writable only by it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SlotLease> SlotAllocator::TryAcquireOnce() {
  for (int attempt = 0; attempt < slot_count_; ++attempt) {
    int slot;
    {
      absl::MutexLock lock(&mu_);
      slot = (next_ + attempt) % slot_count_;
      if (taken_[slot]) continue;
      taken_[slot] = 1;
    }
    const uid_t uid = uid_base_ + static_cast<uid_t>(slot);
    int fd = open(LockPath(uid).c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      int error = errno;
      absl::MutexLock lock(&mu_);
      taken_[slot] = 0;
      return absl::UnavailableError(
          absl::StrCat("cannot open sandbox lock file ", LockPath(uid), ": ", strerror(error)));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {  // another process holds this slot
      close(fd);
      absl::MutexLock lock(&mu_);
      taken_[slot] = 0;
      continue;
    }
    // Whatever a crashed earlier holder left running under this uid goes first.
    if (!KillProcessesOfUid(uid, absl::Seconds(2)).ok()) {
      close(fd);
      absl::MutexLock lock(&mu_);
      ++quarantined_;  // keep taken_[slot] set: this process will not use it again
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      next_ = (slot + 1) % slot_count_;
    }
    return SlotLease(this, slot, uid, fd);
  }
  return SlotLease();
}

absl::StatusOr<SlotLease> SlotAllocator::Acquire(absl::Duration max_wait) {
  const absl::Time deadline = absl::Now() + max_wait;
  while (true) {
    absl::StatusOr<SlotLease> lease = TryAcquireOnce();
    if (!lease.ok() || lease->held()) return lease;
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("no free sandbox slot among uids ", uid_base_,
                                                 "..", uid_base_ + slot_count_ - 1, " within ",
                                                 absl::FormatDuration(max_wait)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void SlotAllocator::Release(int slot, int lock_fd) {
  const uid_t uid = uid_base_ + static_cast<uid_t>(slot);
  if (!KillProcessesOfUid(uid, absl::Seconds(5)).ok()) {
    // Keep the lock and the slot: nobody may start a run under a uid that still has processes.
    absl::MutexLock lock(&mu_);
    ++quarantined_;
    return;
  }
  close(lock_fd);  // drops the flock
  absl::MutexLock lock(&mu_);
  taken_[slot] = 0;
}

int SlotAllocator::quarantined_slots() const {
  absl::MutexLock lock(&mu_);
  return quarantined_;
}

}  // namespace ponder::verifiers::sandbox
