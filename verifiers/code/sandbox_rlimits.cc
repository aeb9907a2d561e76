#include "verifiers/code/sandbox_rlimits.h"

#include <cmath>

namespace ponder::verifiers::sandbox {

int CpuSecondsFor(const SandboxLimits& limits) {
  if (limits.cpu_seconds > 0) return limits.cpu_seconds;
  return static_cast<int>(std::ceil(limits.timeout_seconds)) + 1;
}

std::vector<RlimitSetting> RlimitsFor(const SandboxLimits& limits) {
  auto same = [](int resource, int64_t value) {
    rlim_t v = static_cast<rlim_t>(value);
    return RlimitSetting{resource, v, v};
  };
  rlim_t cpu = static_cast<rlim_t>(CpuSecondsFor(limits));
  return {
      RlimitSetting{RLIMIT_CPU, cpu, cpu + 1},
      same(RLIMIT_AS, limits.address_space_bytes),
      same(RLIMIT_FSIZE, limits.file_size_bytes),
      same(RLIMIT_NOFILE, limits.open_files),
      same(RLIMIT_NPROC, limits.processes),
      same(RLIMIT_CORE, 0),
      same(RLIMIT_MEMLOCK, 0),
      same(RLIMIT_MSGQUEUE, 0),
      same(RLIMIT_STACK, int64_t{8} << 20),
  };
}

}  // namespace ponder::verifiers::sandbox
