// The rlimit layer of the code sandbox (internal to verifiers/code).
//
// Limits are set on the process that becomes bubblewrap (already running as the slot uid) and are
// inherited by everything in the sandbox. RLIMIT_NPROC is why the candidate needs its own uid:
// the kernel counts it per real uid and does not enforce it for root (copy_process() skips the
// check for INIT_USER), and a shared uid would let one run's fork bomb starve the others.
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_RLIMITS_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_RLIMITS_H_

#include <sys/resource.h>

#include <vector>

#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers::sandbox {

struct RlimitSetting {
  int resource;  // RLIMIT_*
  rlim_t soft;
  rlim_t hard;
};

// The settings for `limits`, soft and hard alike except RLIMIT_CPU, whose soft limit sends
// SIGXCPU one second before the hard limit's SIGKILL. Core dumps, locked memory and POSIX
// message queues are disabled; the stack stays at 8 MiB so that deep recursion ends in
// RecursionError or a contained SIGSEGV. Without a memory cgroup (`memory_cgroup` false) the
// address space and the process count are at most kAddressSpaceWithoutCgroup and
// kProcessesWithoutCgroup, whose product is then what bounds the run's memory.
std::vector<RlimitSetting> RlimitsFor(const SandboxLimits& limits, bool memory_cgroup);

// The per-process limits of a run without a memory cgroup (see SandboxLimits::memory_bytes).
inline constexpr int64_t kAddressSpaceWithoutCgroup = int64_t{256} << 20;
inline constexpr int kProcessesWithoutCgroup = 16;

// The effective CPU limit in seconds (see SandboxLimits::cpu_seconds).
int CpuSecondsFor(const SandboxLimits& limits);

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_RLIMITS_H_
