// The memory-cgroup layer of the code sandbox (internal to verifiers/code).
//
// Each slot uid gets a memory cgroup of its own, a child of the memory cgroup this process runs
// in: made at the slot's first run, reused by its later runs, removed when the MemoryCgroups goes
// away. The process that becomes bubblewrap joins it before it drops to the slot uid, so every
// process of the run is in it, and its limit (SandboxLimits::memory_bytes, no swap) bounds what
// the run's processes hold together, however they share it out: anonymous memory, shared and
// tmpfs pages (the writable /tmp included), page cache. A run that needs more has a process
// killed by the kernel's OOM killer, which the cgroup's oom_kill count records.
//
// cgroup v1 (a hierarchy with the memory controller) and cgroup v2 (where `memory` is in our
// cgroup's cgroup.subtree_control, i.e. delegated to us) are both used. Where neither is there,
// or a child cgroup cannot be made, Create says why and the sandbox runs without one
// (code_verifier.h, SandboxLimits, says what it falls back to).
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_CGROUP_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ponder::verifiers::sandbox {

class MemoryCgroups {
 public:
  // Finds this process's memory cgroup and checks that a child of it can be made (by making and
  // removing one). Child cgroups left by a process that no longer exists are removed on the way.
  static absl::StatusOr<std::unique_ptr<MemoryCgroups>> Create();
  ~MemoryCgroups();  // removes the slot cgroups made (each is empty once its slot is given back)
  MemoryCgroups(const MemoryCgroups&) = delete;
  MemoryCgroups& operator=(const MemoryCgroups&) = delete;

  struct Run {
    int procs_fd = -1;  // the slot cgroup's cgroup.procs, opened for writing; the caller closes
    int64_t oom_kills_before = 0;
  };
  // Makes `uid`'s cgroup if needed and sets its limit to `limit_bytes` with swap off. The caller
  // holds the slot, so no run of `uid` is in it.
  absl::StatusOr<Run> PrepareRun(uid_t uid, int64_t limit_bytes);
  // How many processes the OOM killer has killed in `uid`'s cgroup since it was made.
  absl::StatusOr<int64_t> OomKills(uid_t uid) const;

  const std::string& parent() const { return parent_; }  // the directory holding our cgroups
  bool v2() const { return v2_; }
  // The directory of `uid`'s cgroup (made or not).
  std::string SlotPath(uid_t uid) const;

 private:
  MemoryCgroups(std::string parent, bool v2, std::string prefix)
      : parent_(std::move(parent)), v2_(v2), prefix_(std::move(prefix)) {}

  const std::string parent_;
  const bool v2_;
  const std::string prefix_;  // "ponder-sandbox-<pid>-<instance>-"
  absl::Mutex mu_;
  absl::flat_hash_set<uid_t> made_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_CGROUP_H_
