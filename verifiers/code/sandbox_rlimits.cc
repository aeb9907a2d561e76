#include "verifiers/code/sandbox_rlimits.h"

#include <algorithm>
#include <cmath>

namespace ponder::verifiers::sandbox {

int CpuSecondsFor(const SandboxLimits& limits) {
  if (limits.cpu_seconds > 0) return limits.cpu_seconds;
  return static_cast<int>(std::ceil(limits.timeout_seconds)) + 1;
}

std::vector<RlimitSetting> RlimitsFor(const SandboxLimits& limits, bool memory_cgroup) {
  auto same = [](int resource, int64_t value) {
    rlim_t v = static_cast<rlim_t>(value);
    return RlimitSetting{resource, v, v};
  };
  rlim_t cpu = static_cast<rlim_t>(CpuSecondsFor(limits));
  int64_t address_space = limits.address_space_bytes;
  int64_t processes = limits.processes;
  if (!memory_cgroup) {
    address_space = std::min(address_space, kAddressSpaceWithoutCgroup);
    processes = std::min<int64_t>(processes, kProcessesWithoutCgroup);
  }
  return {
      RlimitSetting{RLIMIT_CPU, cpu, cpu + 1},
      same(RLIMIT_AS, address_space),
      same(RLIMIT_FSIZE, limits.file_size_bytes),
      same(RLIMIT_NOFILE, limits.open_files),
      same(RLIMIT_NPROC, processes),
      same(RLIMIT_CORE, 0),
      same(RLIMIT_MEMLOCK, 0),
      same(RLIMIT_MSGQUEUE, 0),
      same(RLIMIT_STACK, int64_t{8} << 20),
  };
}

}  // namespace ponder::verifiers::sandbox
