// The parallel pool: order, bounds, stats, and slot isolation under a fork bomb.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "tests/verifiers/code/sandbox_test_util.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers {
namespace {

using ::ponder::verifiers::testing::Describe;
using ::ponder::verifiers::testing::TestConfig;

CodeRunRequest Request(std::string program, std::string tests, double timeout_seconds = 10) {
  CodeRunRequest request;
  request.program = std::move(program);
  request.test_code = std::move(tests);
  request.limits.timeout_seconds = timeout_seconds;
  return request;
}

using PoolTest = ::ponder::verifiers::testing::SandboxFixture<61320, 4>;

TEST(PoolBoundsTest, ParallelismIsBoundedByCoresAndSlots) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  CodeSandbox sandbox(TestConfig(61330, 64));
  EXPECT_EQ(CodeVerifierPool(&sandbox, 0).parallelism(), cores);
  EXPECT_EQ(CodeVerifierPool(&sandbox, 1000).parallelism(), cores);
  EXPECT_EQ(CodeVerifierPool(&sandbox, 1).parallelism(), 1);
  CodeSandbox one_slot(TestConfig(61331, 1));
  EXPECT_EQ(CodeVerifierPool(&one_slot, 1000).parallelism(), 1);
}

TEST_F(PoolTest, ResultsComeBackInRequestOrderWithStats) {
  std::vector<CodeRunRequest> requests = {
      Request("def f(): return 1", "assert f() == 1"),
      Request("def f(): return 2", "assert f() == 1"),
      Request("import time\ntime.sleep(30)", "assert True", 1),
      Request("def f(): return 1", "assert f() == 1"),
      Request("import os\nos._exit(3)", "assert True"),
  };
  CodeVerifierPool pool(sandbox_.get(), 2);
  std::vector<CodeRunResult> results = pool.RunAll(requests);
  ASSERT_EQ(results.size(), requests.size());
  EXPECT_EQ(results[0].status, CodeRunStatus::kPassed) << Describe(results[0]);
  EXPECT_EQ(results[1].status, CodeRunStatus::kFailed) << Describe(results[1]);
  EXPECT_EQ(results[2].status, CodeRunStatus::kTimeout) << Describe(results[2]);
  EXPECT_EQ(results[3].status, CodeRunStatus::kPassed) << Describe(results[3]);
  EXPECT_EQ(results[4].status, CodeRunStatus::kError) << Describe(results[4]);
  CodeVerifierPool::Stats stats = pool.stats();
  EXPECT_EQ(stats.runs, 5);
  EXPECT_EQ(stats.runs_by_status[static_cast<int>(CodeRunStatus::kPassed)], 2);
  EXPECT_EQ(stats.runs_by_status[static_cast<int>(CodeRunStatus::kTimeout)], 1);
  EXPECT_GE(stats.wall_seconds, 1.0);  // the timed-out run alone took its second
  EXPECT_GT(stats.cpu_seconds, 0);
  EXPECT_GT(stats.peak_rss_bytes, 0);
  EXPECT_TRUE(pool.RunAll({}).empty());
}

TEST_F(PoolTest, ConcurrentCallersEachGetTheirOwnResults) {
  CodeVerifierPool pool(sandbox_.get(), 2);
  std::vector<CodeRunResult> first, second;
  std::vector<CodeRunRequest> passing(3, Request("def f(): return 1", "assert f() == 1"));
  std::vector<CodeRunRequest> failing(3, Request("def f(): return 2", "assert f() == 1"));
  std::thread a([&] { first = pool.RunAll(passing); });
  std::thread b([&] { second = pool.RunAll(failing); });
  a.join();
  b.join();
  for (const CodeRunResult& result : first) EXPECT_EQ(result.status, CodeRunStatus::kPassed);
  for (const CodeRunResult& result : second) EXPECT_EQ(result.status, CodeRunStatus::kFailed);
}

TEST_F(PoolTest, ForkBombInOneSlotDoesNotStarveTheOther) {
  // The bomb exhausts the process limit of its own uid only; the other run forks freely.
  std::vector<CodeRunRequest> requests = {
      Request("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        "
              "pass\n",
              "assert True", 4),
      Request(R"(
import subprocess, sys
def spawn_many(n):
    procs = [subprocess.Popen([sys.executable, '-c', 'pass']) for _ in range(n)]
    return [p.wait() for p in procs]
)",
              "assert spawn_many(10) == [0] * 10", 30),
  };
  CodeVerifierPool pool(sandbox_.get(), 2);
  if (pool.parallelism() < 2) GTEST_SKIP() << "needs two cores to run both at once";
  std::vector<CodeRunResult> results = pool.RunAll(requests);
  EXPECT_EQ(results[0].status, CodeRunStatus::kTimeout) << Describe(results[0]);
  EXPECT_EQ(results[1].status, CodeRunStatus::kPassed) << Describe(results[1]);
  EXPECT_NE(results[0].sandbox_uid, results[1].sandbox_uid);
}

}  // namespace
}  // namespace ponder::verifiers
