// The namespace layer's command line, checked without running it (the sandbox tests run it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "verifiers/code/sandbox_bwrap.h"

namespace ponder::verifiers::sandbox {
namespace {

using ::testing::Contains;
using ::testing::Not;

BwrapInvocation SampleInvocation() {
  BwrapInvocation invocation;
  invocation.bwrap_path = "/usr/bin/bwrap";
  invocation.uid = 60007;
  invocation.gid = 60007;
  invocation.read_only_paths = {"/usr/bin", "/usr/lib"};
  invocation.root_entries = {{"/lib", "usr/lib"}, {"/opt-lib", ""}};
  invocation.tmpfs_bytes = 1 << 20;
  invocation.files = {{6, "/sandbox/driver.py"}};
  invocation.seccomp_fd = 5;
  invocation.json_status_fd = 4;
  invocation.command = {"/usr/bin/python3", "-I", "/sandbox/driver.py"};
  return invocation;
}

// Position of the option sequence `sequence` in `argv`, or -1.
int Find(const std::vector<std::string>& argv, const std::vector<std::string>& sequence) {
  auto it = std::search(argv.begin(), argv.end(), sequence.begin(), sequence.end());
  return it == argv.end() ? -1 : static_cast<int>(it - argv.begin());
}

TEST(BwrapArgvTest, UnsharesEveryNamespaceAndDropsPrivileges) {
  std::vector<std::string> argv = BwrapArgv(SampleInvocation());
  EXPECT_EQ(argv[0], "/usr/bin/bwrap");
  for (const char* option : {"--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                             "--unshare-uts", "--unshare-cgroup-try", "--disable-userns",
                             "--die-with-parent", "--as-pid-1", "--new-session"}) {
    EXPECT_THAT(argv, Contains(option));
  }
  EXPECT_GE(Find(argv, {"--cap-drop", "ALL"}), 0);
  EXPECT_GE(Find(argv, {"--uid", "60007"}), 0);
  EXPECT_GE(Find(argv, {"--gid", "60007"}), 0);
  EXPECT_THAT(argv, Not(Contains("--share-net")));
}

TEST(BwrapArgvTest, ShowsOnlyTheListedPathsReadOnly) {
  std::vector<std::string> argv = BwrapArgv(SampleInvocation());
  EXPECT_GE(Find(argv, {"--ro-bind-try", "/usr/bin", "/usr/bin"}), 0);
  EXPECT_GE(Find(argv, {"--ro-bind-try", "/usr/lib", "/usr/lib"}), 0);
  EXPECT_GE(Find(argv, {"--symlink", "usr/lib", "/lib"}), 0);
  EXPECT_GE(Find(argv, {"--ro-bind", "/opt-lib", "/opt-lib"}), 0);
  // Nothing writable from the host, no device access, none of the host's private folders.
  for (const char* option : {"--bind", "--bind-try", "--dev-bind", "--dev-bind-try"}) {
    EXPECT_THAT(argv, Not(Contains(option)));
  }
  for (const char* path : {"/", "/root", "/home", "/work", "/tmp", "/etc", "/usr"}) {
    EXPECT_EQ(Find(argv, {"--ro-bind-try", path, path}), -1) << path;
    EXPECT_EQ(Find(argv, {"--ro-bind", path, path}), -1) << path;
  }
}

TEST(BwrapArgvTest, TmpIsTheOnlyWritablePlaceAndIsSizeCapped) {
  std::vector<std::string> argv = BwrapArgv(SampleInvocation());
  int tmpfs = Find(argv, {"--size", "1048576", "--tmpfs", "/tmp"});
  EXPECT_GE(tmpfs, 0);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--tmpfs"), 1);
  int dev_read_only = Find(argv, {"--remount-ro", "/dev"});
  EXPECT_GT(dev_read_only, Find(argv, {"--dev", "/dev"}));
  // The root (bubblewrap's own tmpfs) goes read-only after every mount and data file.
  int root_read_only = Find(argv, {"--remount-ro", "/"});
  EXPECT_GT(root_read_only, tmpfs);
  EXPECT_GT(root_read_only, Find(argv, {"--ro-bind-data", "6", "/sandbox/driver.py"}));
  EXPECT_LT(root_read_only, Find(argv, {"--"}));
}

TEST(BwrapArgvTest, PassesSeccompStatusAndCommandLast) {
  std::vector<std::string> argv = BwrapArgv(SampleInvocation());
  EXPECT_GE(Find(argv, {"--seccomp", "5"}), 0);
  EXPECT_GE(Find(argv, {"--json-status-fd", "4"}), 0);
  int separator = Find(argv, {"--"});
  ASSERT_GE(separator, 0);
  EXPECT_EQ(std::vector<std::string>(argv.begin() + separator + 1, argv.end()),
            (std::vector<std::string>{"/usr/bin/python3", "-I", "/sandbox/driver.py"}));
}

TEST(BwrapArgvTest, LeavesTheFilterOutOnlyWhenAsked) {
  BwrapInvocation invocation = SampleInvocation();
  invocation.seccomp_fd = -1;
  EXPECT_THAT(BwrapArgv(invocation), Not(Contains("--seccomp")));
}

TEST(BwrapArgvTest, HostRootEntriesAreSymlinksOrDirectories) {
  for (const RootEntry& entry : HostRootEntries()) {
    EXPECT_EQ(entry.path[0], '/');
    EXPECT_TRUE(entry.symlink_target.empty() || entry.symlink_target[0] != '\0');
  }
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
