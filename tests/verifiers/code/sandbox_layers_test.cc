// Each sandbox layer in place, checked from inside (a Python one-liner reports what it sees) and
// from the host (listeners, files, processes of the slot uid). These launches run a plain
// interpreter, not the verdict driver.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/verifiers/code/sandbox_test_util.h"
#include "verifiers/code/sandbox_launch.h"
#include "verifiers/code/sandbox_rlimits.h"
#include "verifiers/code/sandbox_slots.h"

namespace ponder::verifiers::sandbox {
namespace {

using ::ponder::verifiers::testing::TestConfig;

class SandboxLayersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TestConfig(61100, 8);
    sandbox_ = std::make_unique<CodeSandbox>(config_);
    PONDER_REQUIRE_SANDBOX(*sandbox_);
  }

  // Runs `python` (the text of `python3 -I -c`) in the sandbox. Records the processes of the slot
  // uid right after the launch returned, before the slot's own sweep could hide a leak.
  LaunchOutcome Run(const std::string& python, SandboxLimits limits = {}, bool seccomp = true) {
    SlotAllocator slots(config_.uid_base, config_.slot_count, config_.lock_dir);
    absl::StatusOr<SlotLease> lease = slots.Acquire(absl::Seconds(60));
    EXPECT_TRUE(lease.ok()) << lease.status();
    if (!lease.ok()) return {};
    uid_ = lease->uid();
    LaunchSpec spec;
    spec.command = {config_.python_path, "-I", "-c", python};
    spec.environment = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
    spec.limits = limits;
    spec.install_seccomp = seccomp;
    absl::StatusOr<LaunchOutcome> outcome = LaunchInSandbox(config_, uid_, spec, nullptr);
    leftover_ = ProcessesOfUid(uid_);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : LaunchOutcome{};
  }

  // The JSON object the snippet printed as its last line.
  static nlohmann::json Report(const LaunchOutcome& outcome) {
    std::string text = outcome.stdout_text;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    size_t start = text.rfind('\n');
    nlohmann::json report = nlohmann::json::parse(
        start == std::string::npos ? text : text.substr(start + 1), nullptr, false);
    EXPECT_TRUE(report.is_object())
        << "stdout: " << outcome.stdout_text << "\nstderr: " << outcome.stderr_text;
    return report;
  }

  SandboxConfig config_;
  std::unique_ptr<CodeSandbox> sandbox_;
  uid_t uid_ = 0;
  std::vector<pid_t> leftover_;
};

// Python that calls `expr` on the ctypes libc and prints {"rc": ..., "errno": ...}.
std::string LibcCall(const std::string& expr) {
  return "import ctypes, json\nlibc = ctypes.CDLL(None, use_errno=True)\nrc = libc." + expr +
         "\nprint(json.dumps({'rc': rc, 'errno': ctypes.get_errno()}))\n";
}

TEST_F(SandboxLayersTest, CandidateIsPidOneOfItsOwnNamespaceAsTheSlotUidWithoutCapabilities) {
  LaunchOutcome outcome = Run(R"(
import json, os
status = dict(line.split(':\t', 1) for line in open('/proc/self/status').read().splitlines())
print(json.dumps({'pid': os.getpid(), 'uid': os.getuid(), 'gid': os.getgid(),
                  'cap_eff': status['CapEff'].strip(), 'cap_bnd': status['CapBnd'].strip(),
                  'no_new_privs': status['NoNewPrivs'].strip(), 'seccomp': status['Seccomp'].strip(),
                  'host': os.uname().nodename,
                  'procs': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}))
)");
  nlohmann::json report = Report(outcome);
  EXPECT_EQ(report["pid"], 1);
  EXPECT_EQ(report["uid"], uid_);
  EXPECT_EQ(report["gid"], uid_);
  EXPECT_EQ(report["cap_eff"], "0000000000000000");
  EXPECT_EQ(report["cap_bnd"], "0000000000000000");
  EXPECT_EQ(report["no_new_privs"], "1");
  EXPECT_EQ(report["seccomp"], "2");  // filter mode
  EXPECT_EQ(report["host"], "sandbox");
  EXPECT_EQ(report["procs"], nlohmann::json::array({1}));  // no host process is visible
}

TEST_F(SandboxLayersTest, NetworkNamespaceReachesNoHostListenerEvenWithoutSeccomp) {
  testing::LoopbackListener listener;
  const int port = listener.port();
  const std::string attempt =
      "import json, socket\ntry:\n  socket.create_connection(('127.0.0.1', " +
      std::to_string(port) +
      "), timeout=2)\n  print(json.dumps({'errno': 0}))\n"
      "except OSError as e:\n  print(json.dumps({'errno': e.errno}))\n";
  // The network namespace alone: loopback is down in it, nothing routes to the host's.
  nlohmann::json without_filter = Report(Run(attempt, {}, /*seccomp=*/false));
  EXPECT_TRUE(without_filter["errno"] == ENETUNREACH || without_filter["errno"] == ECONNREFUSED)
      << without_filter;
  // With the filter the socket cannot even be made.
  EXPECT_EQ(Report(Run(attempt))["errno"], EPERM);
  EXPECT_FALSE(listener.GotConnection()) << "the host listener got a connection";
}

TEST_F(SandboxLayersTest, NewNamespacesAreRefusedByTwoLayers) {
  const std::string unshare_user = LibcCall("unshare(0x10000000)");  // CLONE_NEWUSER
  nlohmann::json filtered = Report(Run(unshare_user));
  EXPECT_EQ(filtered["rc"], -1);
  EXPECT_EQ(filtered["errno"], EPERM);  // seccomp
  nlohmann::json unfiltered = Report(Run(unshare_user, {}, /*seccomp=*/false));
  EXPECT_EQ(unfiltered["rc"], -1);
  EXPECT_EQ(unfiltered["errno"], ENOSPC);  // bubblewrap's --disable-userns
  nlohmann::json mount = Report(Run(LibcCall("mount(b'none', b'/tmp', b'tmpfs', 0, None)")));
  EXPECT_EQ(mount["rc"], -1);
  EXPECT_EQ(mount["errno"], EPERM);
}

TEST_F(SandboxLayersTest, FileSystemShowsOnlyTheInterpreterAndOnlyTmpIsWritable) {
  char pattern[] = "/tmp/ponder-layers-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string host_dir = pattern;
  std::ofstream(host_dir + "/secret") << "host secret";
  LaunchOutcome outcome = Run(R"(
import json, os
def attempt(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        return 0
    except OSError as e:
        return e.errno
def read(path):
    try:
        return open(path).read()
    except OSError as e:
        return e.errno
print(json.dumps({'root': sorted(os.listdir('/')),
                  'writes': {p: attempt(p) for p in ['/x', '/usr/bin/x', '/etc/x', '/dev/x',
                                                     '/sandbox-x', '/tmp/x', '/proc/x']},
                  'host_secret': read(')" +
                              host_dir + R"(/secret'),
                  'passwd': read('/etc/passwd')}))
)");
  nlohmann::json report = Report(outcome);
  for (const auto& entry : report["root"]) {
    EXPECT_TRUE(entry == "usr" || entry == "bin" || entry == "sbin" || entry == "lib" ||
                entry == "lib32" || entry == "lib64" || entry == "libx32" || entry == "etc" ||
                entry == "proc" || entry == "dev" || entry == "tmp")
        << "unexpected top-level entry " << entry;
  }
  for (const auto& [path, error] : report["writes"].items()) {
    if (path == "/tmp/x") {
      EXPECT_EQ(error, 0);
    } else {
      EXPECT_NE(error, 0) << path << " was writable";
    }
  }
  EXPECT_EQ(report["writes"]["/usr/bin/x"], EROFS);
  EXPECT_EQ(report["writes"]["/x"], EROFS);
  EXPECT_EQ(report["host_secret"], ENOENT);
  EXPECT_EQ(report["passwd"], ENOENT);
  EXPECT_EQ(access("/x", F_OK), -1);
  std::system(("rm -rf " + host_dir).c_str());
}

std::string WriteBytes(int64_t bytes) {
  return "import json\ntry:\n  open('/tmp/fill', 'wb').write(b'x' * " + std::to_string(bytes) +
         ")\n  print(json.dumps({'errno': 0}))\nexcept OSError as e:\n"
         "  print(json.dumps({'errno': e.errno}))\n";
}

TEST_F(SandboxLayersTest, TmpfsIsSizeCapped) {
  SandboxLimits limits;
  limits.tmpfs_bytes = 2 << 20;
  limits.file_size_bytes = 64 << 20;
  EXPECT_EQ(Report(Run(WriteBytes(4 << 20), limits))["errno"], ENOSPC);
  EXPECT_EQ(Report(Run(WriteBytes(1 << 20), limits))["errno"], 0);
}

TEST_F(SandboxLayersTest, FileSizeLimitApplies) {
  SandboxLimits limits;
  limits.tmpfs_bytes = 8 << 20;
  limits.file_size_bytes = 1 << 20;
  EXPECT_EQ(Report(Run(WriteBytes(2 << 20), limits))["errno"], EFBIG);
}

TEST_F(SandboxLayersTest, RlimitsAreInEffectInside) {
  SandboxLimits limits;
  limits.timeout_seconds = 3;
  limits.address_space_bytes = 768 << 20;
  limits.open_files = 50;
  limits.processes = 20;
  nlohmann::json report = Report(Run(R"(
import json, resource as r
print(json.dumps({name: r.getrlimit(getattr(r, 'RLIMIT_' + name))
                  for name in ['AS', 'FSIZE', 'NOFILE', 'NPROC', 'CPU', 'CORE']}))
)",
                                     limits));
  for (const RlimitSetting& setting : RlimitsFor(limits, /*memory_cgroup=*/false)) {
    const char* name = setting.resource == RLIMIT_AS       ? "AS"
                       : setting.resource == RLIMIT_FSIZE  ? "FSIZE"
                       : setting.resource == RLIMIT_NOFILE ? "NOFILE"
                       : setting.resource == RLIMIT_NPROC  ? "NPROC"
                       : setting.resource == RLIMIT_CPU    ? "CPU"
                       : setting.resource == RLIMIT_CORE   ? "CORE"
                                                           : nullptr;
    if (name == nullptr) continue;
    EXPECT_EQ(report[name][0], setting.soft) << name;
    EXPECT_EQ(report[name][1], setting.hard) << name;
  }
}

TEST_F(SandboxLayersTest, ProcessLimitCountsTheSlotUid) {
  SandboxLimits limits;
  limits.processes = 10;
  nlohmann::json report = Report(Run(R"(
import json, os, time
children = 0
error = 0
while children < 100:
    try:
        pid = os.fork()
    except OSError as e:
        error = e.errno
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children += 1
print(json.dumps({'children': children, 'errno': error}))
)",
                                     limits));
  EXPECT_EQ(report["errno"], EAGAIN);
  // bubblewrap's monitor and the interpreter count too.
  EXPECT_LE(report["children"].get<int>(), 8);
  EXPECT_GE(report["children"].get<int>(), 5);
  EXPECT_TRUE(leftover_.empty()) << "the sleeping children outlived PID 1";
}

TEST_F(SandboxLayersTest, OnlyStdioAndTheVerdictChannelAreInherited) {
  nlohmann::json report = Report(Run(R"(
import json, os
open_fds = []
for fd in range(0, 1024):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
print(json.dumps({'fds': open_fds}))
)"));
  EXPECT_EQ(report["fds"], nlohmann::json::array({0, 1, 2, kChannelFd, kLifelineFd}));
}

TEST_F(SandboxLayersTest, BackgroundChildrenDieWithPidOne) {
  LaunchOutcome outcome = Run(R"(
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
print('{}')
)");
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_FALSE(outcome.timed_out);
  EXPECT_LT(outcome.cost.wall_seconds, 10);
  EXPECT_TRUE(leftover_.empty()) << leftover_.size() << " processes outlived PID 1";
}

TEST_F(SandboxLayersTest, TimeoutKillsTheWholeTree) {
  SandboxLimits limits;
  limits.timeout_seconds = 1;
  LaunchOutcome outcome = Run(R"(
import os, time
for _ in range(3):
    if os.fork() == 0:
        time.sleep(60)
time.sleep(60)
)",
                              limits);
  EXPECT_TRUE(outcome.timed_out);
  EXPECT_EQ(outcome.exit_code, 128 + SIGKILL);
  EXPECT_LT(outcome.cost.wall_seconds, 8);
  EXPECT_TRUE(leftover_.empty()) << leftover_.size() << " processes survived the timeout";
}

TEST_F(SandboxLayersTest, OutputBeyondTheCapEndsTheRun) {
  SandboxLimits limits;
  limits.output_bytes = 64 << 10;
  LaunchOutcome outcome = Run("while True: print('x' * 1000)", limits);
  EXPECT_TRUE(outcome.output_exceeded);
  EXPECT_FALSE(outcome.timed_out);
  EXPECT_LE(outcome.stdout_text.size() + outcome.stderr_text.size(), size_t{64} << 10);
  EXPECT_TRUE(leftover_.empty());
}

TEST_F(SandboxLayersTest, SetupFailureIsDistinguishedByTheMissingExitCode) {
  SlotAllocator slots(config_.uid_base, config_.slot_count, config_.lock_dir);
  absl::StatusOr<SlotLease> lease = slots.Acquire(absl::Seconds(60));
  ASSERT_TRUE(lease.ok());
  LaunchSpec spec;
  spec.command = {"/nonexistent/python3"};
  absl::StatusOr<LaunchOutcome> outcome = LaunchInSandbox(config_, lease->uid(), spec, nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->child_started);
  // bubblewrap reports an exit code only for a command it executed; its own exit status is 1.
  EXPECT_EQ(outcome->exit_code, -1) << outcome->json_status;
  EXPECT_TRUE(WIFEXITED(outcome->bwrap_wait_status) &&
              WEXITSTATUS(outcome->bwrap_wait_status) == 1);
  EXPECT_NE(outcome->stderr_text.find("bwrap: execvp /nonexistent/python3"), std::string::npos)
      << outcome->stderr_text;
}

TEST_F(SandboxLayersTest, SandboxDiesWithTheProcessThatLaunchedIt) {
  SlotAllocator slots(config_.uid_base, config_.slot_count, config_.lock_dir);
  absl::StatusOr<SlotLease> lease = slots.Acquire(absl::Seconds(60));
  ASSERT_TRUE(lease.ok());
  const uid_t uid = lease->uid();
  pid_t launcher = fork();
  if (launcher == 0) {
    LaunchSpec spec;
    spec.command = {config_.python_path, "-I", "-c", "import time; time.sleep(60)"};
    spec.limits.timeout_seconds = 60;
    (void)LaunchInSandbox(config_, uid, spec, nullptr);
    _exit(0);
  }
  // Wait until bubblewrap has executed the interpreter (its child arms the parent-death signal
  // only right before exec; the driver's lifeline covers the moments before), then kill the
  // launcher outright.
  auto interpreter_running = [uid] {
    for (pid_t pid : ProcessesOfUid(uid)) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      if (comm >> name && name == "python3") return true;
    }
    return false;
  };
  for (int i = 0; i < 500 && !interpreter_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(interpreter_running());
  kill(launcher, SIGKILL);
  waitpid(launcher, nullptr, 0);
  // No sweep here: bubblewrap's --die-with-parent and the parent-death signal must do it.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    gone = ProcessesOfUid(uid).empty();
  }
  EXPECT_TRUE(gone) << ProcessesOfUid(uid).size() << " sandbox processes outlived the launcher";
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
