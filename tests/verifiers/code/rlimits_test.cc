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
  std::map<int, RlimitSetting> settings = ByResource(RlimitsFor(limits, /*memory_cgroup=*/true));
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

// Without a memory cgroup, processes * address space is all that bounds a run's memory: the
// defaults are lowered to at most 16 x 256 MiB, and lower requests stay as they are.
TEST(RlimitsTest, WithoutAMemoryCgroupProcessesTimesAddressSpaceIsAtMostFourGiB) {
  std::map<int, RlimitSetting> settings =
      ByResource(RlimitsFor(SandboxLimits{}, /*memory_cgroup=*/false));
  EXPECT_LE(settings.at(RLIMIT_NPROC).hard * settings.at(RLIMIT_AS).hard, rlim_t{4} << 30);
  SandboxLimits lower;
  lower.address_space_bytes = 128 << 20;
  lower.processes = 8;
  settings = ByResource(RlimitsFor(lower, /*memory_cgroup=*/false));
  EXPECT_EQ(settings.at(RLIMIT_AS).hard, rlim_t{128} << 20);
  EXPECT_EQ(settings.at(RLIMIT_NPROC).hard, 8u);
}

// Under a memory cgroup the per-process limits leave room for numpy and a thread pool.
TEST(RlimitsTest, UnderAMemoryCgroupDefaultsAllowAGibibytePerProcessAnd64Processes) {
  std::map<int, RlimitSetting> settings =
      ByResource(RlimitsFor(SandboxLimits{}, /*memory_cgroup=*/true));
  EXPECT_EQ(settings.at(RLIMIT_AS).hard, rlim_t{1} << 30);
  EXPECT_EQ(settings.at(RLIMIT_NPROC).hard, 64u);
}

TEST(RlimitsTest, ExplicitCpuSecondsWin) {
  SandboxLimits limits;
  limits.cpu_seconds = 7;
  EXPECT_EQ(CpuSecondsFor(limits), 7);
  EXPECT_EQ(ByResource(RlimitsFor(limits, /*memory_cgroup=*/true)).at(RLIMIT_CPU).soft, 7u);
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
