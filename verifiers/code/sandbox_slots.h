// The uid-per-slot layer of the code sandbox (internal to verifiers/code).
//
// Slot i of a range runs its candidate as uid (and gid) base + i. A slot is held through a lock
// file (flock) in the lock directory, so that several processes using the same range (two test
// binaries, a CLI run next to the server) never share a uid, and a crashed holder's lock goes
// away with it. Taking a slot first kills whatever a crashed holder left running under its uid;
// giving it back kills every process of the uid and waits until the last one is gone, so the
// next run's process limit counts only its own processes.
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_SLOTS_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_SLOTS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ponder::verifiers::sandbox {

// Whether the real, effective or saved uid of process `pid` is `uid` (false if it is gone).
bool ProcessHasUid(pid_t pid, uid_t uid);

// VmHWM (peak resident set) of process `pid` in bytes if its real uid is `uid`, else 0 (also for
// a zombie, which has no memory left).
int64_t PeakResidentBytes(pid_t pid, uid_t uid);

// Processes (thread-group leaders, zombies included) whose real, effective or saved uid is `uid`.
std::vector<pid_t> ProcessesOfUid(uid_t uid);

// Sends SIGKILL to every process of `uid` until none is left; each kill goes through a pidfd
// opened after the uid was checked, so a recycled pid is never hit. DeadlineExceeded names the
// processes still there after `max_wait`.
absl::Status KillProcessesOfUid(uid_t uid, absl::Duration max_wait);

class SlotAllocator;

// A held slot. Moving transfers it; destruction gives it back (see SlotAllocator).
class SlotLease {
 public:
  SlotLease() = default;
  SlotLease(SlotLease&& other) noexcept;
  SlotLease& operator=(SlotLease&& other) noexcept;
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  ~SlotLease();

  uid_t uid() const { return uid_; }
  bool held() const { return allocator_ != nullptr; }

 private:
  friend class SlotAllocator;
  SlotLease(SlotAllocator* allocator, int slot, uid_t uid, int lock_fd)
      : allocator_(allocator), slot_(slot), uid_(uid), lock_fd_(lock_fd) {}
  void Reset();

  SlotAllocator* allocator_ = nullptr;
  int slot_ = -1;
  uid_t uid_ = 0;
  int lock_fd_ = -1;
};

class SlotAllocator {
 public:
  SlotAllocator(uid_t uid_base, int slot_count, std::string lock_dir);
  ~SlotAllocator();

  // Checks the range (not root, no overflow, no named user or group in it) and that the lock
  // directory exists or can be made, is a directory owned by us and writable only by us.
  absl::Status Validate() const;

  // Takes a free slot, waiting up to `max_wait` for one. Unavailable when none frees up.
  absl::StatusOr<SlotLease> Acquire(absl::Duration max_wait);

  // Slots never handed out again because processes of their uid could not be killed.
  int quarantined_slots() const;

 private:
  friend class SlotLease;
  // Tries the slots once; returns a lease or an empty one when all are taken.
  absl::StatusOr<SlotLease> TryAcquireOnce();
  void Release(int slot, int lock_fd);
  std::string LockPath(uid_t uid) const;

  const uid_t uid_base_;
  const int slot_count_;
  const std::string lock_dir_;
  mutable absl::Mutex mu_;
  std::vector<char> taken_ ABSL_GUARDED_BY(mu_);
  int next_ ABSL_GUARDED_BY(mu_) = 0;
  int quarantined_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_SLOTS_H_
