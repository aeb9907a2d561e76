#include <gtest/gtest.h>

#include <map>

#include "verifiers/code/sandbox_rlimits.h"

namespace ponder::verifiers::sandbox {
namespace {

std::map<int, RlimitSetting> ByResource(const std::vector<RlimitSetting>& settings) {
  std::map<int, RlimitSetting> map;
  for (const RlimitSetting& setting : settings) map[setting.resource] = setting;
  return map;
}

TEST(RlimitsTest, EveryLimitOfTheIssueIsSetFromTheRequest) {
  SandboxLimits limits;
  limits.timeout_seconds = 2.5;
  limits.address_space_bytes = 512 << 20;
  limits.file_size_bytes = 3 << 20;
  limits.open_files = 40;
  limits.processes = 12;
  std::map<int, RlimitSetting> settings = ByResource(RlimitsFor(limits));
  EXPECT_EQ(settings.at(RLIMIT_AS).hard, rlim_t{512} << 20);
  EXPECT_EQ(settings.at(RLIMIT_FSIZE).hard, rlim_t{3} << 20);
  EXPECT_EQ(settings.at(RLIMIT_NOFILE).hard, 40u);
  EXPECT_EQ(settings.at(RLIMIT_NPROC).hard, 12u);
  EXPECT_EQ(settings.at(RLIMIT_CORE).hard, 0u);
  // CPU: ceil(2.5) + 1 soft (SIGXCPU), one more second hard (SIGKILL).
  EXPECT_EQ(settings.at(RLIMIT_CPU).soft, 4u);
  EXPECT_EQ(settings.at(RLIMIT_CPU).hard, 5u);
  for (const auto& [resource, setting] : settings) {
    if (resource != RLIMIT_CPU) {
      EXPECT_EQ(setting.soft, setting.hard) << resource;
    }
  }
}

// processes * address space bounds what a run's processes can hold together.
TEST(RlimitsTest, DefaultLimitsFitTheRunsMemoryBudget) {
  const SandboxLimits limits;
  EXPECT_LE(limits.processes * limits.address_space_bytes, limits.memory_bytes);
  EXPECT_LE(limits.memory_bytes, int64_t{4} << 30);
}

TEST(RlimitsTest, ExplicitCpuSecondsWin) {
  SandboxLimits limits;
  limits.cpu_seconds = 7;
  EXPECT_EQ(CpuSecondsFor(limits), 7);
  EXPECT_EQ(ByResource(RlimitsFor(limits)).at(RLIMIT_CPU).soft, 7u);
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
