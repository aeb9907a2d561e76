// The uid-per-slot layer: allocation, exclusion across allocators (as across processes), and the
// sweep that makes a slot reusable only once its uid has no process left.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <map>
#include <string>
#include <vector>

#include "verifiers/code/sandbox_slots.h"

namespace ponder::verifiers::sandbox {
namespace {

constexpr uid_t kBase = 61000;

class SlotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "slot uids need root to be switched to";
    char pattern[] = "/tmp/ponder-slots-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    lock_dir_ = pattern;
  }
  void TearDown() override {
    if (!lock_dir_.empty()) std::system(("rm -rf " + lock_dir_).c_str());
  }

  // A process running as `uid` that waits to be killed. A thread reaps it as soon as it dies, as
  // its parent in a real run (bubblewrap or the sandbox's PID 1) would: the sweep waits for
  // zombies too, since they still count against the uid's process limit.
  pid_t SpawnAs(uid_t uid) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 ||
          setresuid(uid, uid, uid) != 0) {
        _exit(1);
      }
      while (true) pause();
    }
    // Wait until the switch has happened.
    for (int i = 0; i < 1000 && !ProcessHasUid(pid, uid); ++i) usleep(1000);
    reapers_[pid] = std::async(std::launch::async, [pid] {
      int status = 0;
      waitpid(pid, &status, 0);
      return status;
    });
    return pid;
  }

  bool WasKilled(pid_t pid) {
    int status = reapers_.at(pid).get();
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

  std::map<pid_t, std::future<int>> reapers_;
  std::string lock_dir_;
};

TEST_F(SlotsTest, ConcurrentLeasesGetDistinctUids) {
  SlotAllocator allocator(kBase, 3, lock_dir_);
  ASSERT_TRUE(allocator.Validate().ok()) << allocator.Validate();
  std::vector<SlotLease> leases;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<SlotLease> lease = allocator.Acquire(absl::Milliseconds(10));
    ASSERT_TRUE(lease.ok()) << lease.status();
    leases.push_back(std::move(*lease));
  }
  EXPECT_NE(leases[0].uid(), leases[1].uid());
  EXPECT_NE(leases[1].uid(), leases[2].uid());
  EXPECT_NE(leases[0].uid(), leases[2].uid());
  for (const SlotLease& lease : leases) {
    EXPECT_GE(lease.uid(), kBase);
    EXPECT_LT(lease.uid(), kBase + 3);
  }
  // All taken: the fourth request waits and then reports the range.
  absl::StatusOr<SlotLease> none = allocator.Acquire(absl::Milliseconds(30));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(none.status().message()).find("61000..61002"), std::string::npos);
  leases.pop_back();
  EXPECT_TRUE(allocator.Acquire(absl::Milliseconds(10)).ok());
}

TEST_F(SlotsTest, AnotherAllocatorOnTheSameLocksCannotTakeAHeldSlot) {
  // Two allocators over one lock directory stand for two processes sharing the range.
  SlotAllocator first(kBase + 10, 1, lock_dir_);
  SlotAllocator second(kBase + 10, 1, lock_dir_);
  absl::StatusOr<SlotLease> held = first.Acquire(absl::Milliseconds(10));
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_FALSE(second.Acquire(absl::Milliseconds(30)).ok());
  *held = SlotLease();
  absl::StatusOr<SlotLease> taken = second.Acquire(absl::Milliseconds(10));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->uid(), kBase + 10);
}

TEST_F(SlotsTest, ReleaseKillsEveryProcessOfTheUid) {
  SlotAllocator allocator(kBase + 20, 1, lock_dir_);
  absl::StatusOr<SlotLease> lease = allocator.Acquire(absl::Milliseconds(10));
  ASSERT_TRUE(lease.ok()) << lease.status();
  pid_t a = SpawnAs(lease->uid());
  pid_t b = SpawnAs(lease->uid());
  EXPECT_EQ(ProcessesOfUid(lease->uid()).size(), 2u);
  *lease = SlotLease();  // gives the slot back
  EXPECT_TRUE(WasKilled(a));
  EXPECT_TRUE(WasKilled(b));
  EXPECT_TRUE(ProcessesOfUid(kBase + 20).empty());
  EXPECT_EQ(allocator.quarantined_slots(), 0);
}

TEST_F(SlotsTest, AcquireKillsWhatACrashedHolderLeft) {
  pid_t leftover = SpawnAs(kBase + 30);
  SlotAllocator allocator(kBase + 30, 1, lock_dir_);
  absl::StatusOr<SlotLease> lease = allocator.Acquire(absl::Milliseconds(10));
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(WasKilled(leftover));
}

TEST_F(SlotsTest, KillLeavesOtherUidsAlone) {
  pid_t bystander = SpawnAs(kBase + 41);
  EXPECT_TRUE(KillProcessesOfUid(kBase + 40, absl::Seconds(1)).ok());
  EXPECT_TRUE(ProcessHasUid(bystander, kBase + 41));
  kill(bystander, SIGKILL);
  EXPECT_TRUE(WasKilled(bystander));
}

TEST_F(SlotsTest, ValidateRejectsRootAndNamedUsers) {
  EXPECT_EQ(SlotAllocator(0, 4, lock_dir_).Validate().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SlotAllocator(kBase, 0, lock_dir_).Validate().code(),
            absl::StatusCode::kFailedPrecondition);
  if (passwd* nobody = getpwnam("nobody")) {
    absl::Status status = SlotAllocator(nobody->pw_uid, 1, lock_dir_).Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(status.message()).find("nobody"), std::string::npos) << status;
  }
}

TEST_F(SlotsTest, ValidateRejectsALockDirectoryOthersCanWrite) {
  std::string shared = lock_dir_ + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  absl::Status status = SlotAllocator(kBase, 1, shared).Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(status.message()).find(shared), std::string::npos);
  EXPECT_TRUE(SlotAllocator(kBase, 1, lock_dir_ + "/fresh").Validate().ok());
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
