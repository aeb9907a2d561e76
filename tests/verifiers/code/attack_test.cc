// The attack suite of issue #4: each hostile program is contained, gets the right status, and
// leaves no trace on the host (checked from the host side). Plus correct programs using threads
// and subprocesses, which must pass. Every test has its own slot uid (61200 + n), so "no process
// of the slot uid is left" sees only that test's processes.
#include <dirent.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/verifiers/code/sandbox_test_util.h"
#include "verifiers/code/sandbox_cgroup.h"
#include "verifiers/code/sandbox_slots.h"

namespace ponder::verifiers {
namespace {

using ::ponder::verifiers::testing::Describe;
using ::ponder::verifiers::testing::TestConfig;

// A correct function the attacks wrap, so that "contained" can mean "the tests still ran".
constexpr char kCorrectFunction[] = "\ndef add(a, b):\n    return a + b\n";
constexpr char kAddTests[] = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n";

class AttackTest : public ::testing::Test {
 protected:
  // `slot` picks this test's uid: 61200 + slot.
  void Prepare(int slot) {
    sandbox_ = std::make_unique<CodeSandbox>(TestConfig(61200 + static_cast<uid_t>(slot)));
  }

  CodeRunResult Run(std::string program, std::string tests, double timeout_seconds = 5) {
    CodeRunRequest request;
    request.program = std::move(program);
    request.test_code = std::move(tests);
    request.limits.timeout_seconds = timeout_seconds;
    return Run(request);
  }

  CodeRunResult Run(const CodeRunRequest& request) {
    CodeRunResult result = sandbox_->Run(request);
    leftover_ = sandbox::ProcessesOfUid(result.sandbox_uid);
    EXPECT_NE(result.sandbox_uid, 0u);
    return result;
  }

  std::unique_ptr<CodeSandbox> sandbox_;
  std::vector<pid_t> leftover_;  // processes of the slot uid after Run returned
};

TEST_F(AttackTest, ForkBombTimesOutAndLeavesNoProcess) {
  Prepare(0);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result = Run(R"(
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
)",
                             kAddTests, 2);
  EXPECT_EQ(result.status, CodeRunStatus::kTimeout) << Describe(result);
  EXPECT_LT(result.cost.wall_seconds, 15);
  EXPECT_TRUE(leftover_.empty()) << leftover_.size() << " fork-bomb processes left";
  // The host can still start processes.
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_GT(pid, 0);
  waitpid(pid, nullptr, 0);
}

TEST_F(AttackTest, InfiniteLoopTimesOut) {
  Prepare(1);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run(std::string("while True:\n    pass\n") + kCorrectFunction, kAddTests, 1);
  EXPECT_EQ(result.status, CodeRunStatus::kTimeout) << Describe(result);
  EXPECT_LT(result.cost.wall_seconds, 10);
  EXPECT_TRUE(leftover_.empty());
}

TEST_F(AttackTest, InfiniteLoopInsideATestTimesOutWithTheEarlierTestsCounted) {
  Prepare(2);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result = Run(std::string(kCorrectFunction) + "def spin():\n    while True: pass\n",
                             "assert add(1, 2) == 3\nassert spin()\nassert add(2, 2) == 4\n", 1);
  EXPECT_EQ(result.status, CodeRunStatus::kTimeout) << Describe(result);
  EXPECT_EQ(result.tests_passed, 1);
  EXPECT_EQ(result.tests_total, 3);
}

TEST_F(AttackTest, MemoryHogFailsWithMemoryError) {
  Prepare(3);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunRequest request;
  request.program = std::string("hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))\n") +
                    kCorrectFunction;
  request.test_code = kAddTests;
  request.limits.address_space_bytes = int64_t{128} << 20;
  CodeRunResult result = Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_NE(result.detail.find("MemoryError"), std::string::npos) << result.detail;
  EXPECT_LE(result.cost.peak_rss_bytes, int64_t{512} << 20);
  EXPECT_TRUE(leftover_.empty());
}

TEST_F(AttackTest, HugeOutputIsCappedAndEndsTheRun) {
  Prepare(4);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunRequest request;
  request.program = std::string("while True:\n    print('spam' * 10000)\n") + kCorrectFunction;
  request.test_code = kAddTests;
  request.limits.output_bytes = 256 << 10;
  CodeRunResult result = Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kError) << Describe(result);
  EXPECT_NE(result.detail.find("printed more than 262144 bytes"), std::string::npos);
  EXPECT_LE(result.stdout_text.size() + result.stderr_text.size(), size_t{256} << 10);
  EXPECT_LT(result.cost.wall_seconds, 5);  // ended by the cap, not the timeout
  EXPECT_TRUE(leftover_.empty());
}

TEST_F(AttackTest, WritingOutsideTheSandboxChangesNothingOnTheHost) {
  Prepare(5);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  char pattern[] = "/tmp/ponder-attack-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string host_dir = pattern;
  // The host directory's path exists inside only as part of the sandbox's private /tmp, so the
  // one write that can succeed lands there; every other path is read-only or absent.
  CodeRunResult result = Run(absl::StrCat("written = []\nfor path in ['", host_dir, R"(/pwned',
             '/root/pwned', '/etc/pwned', '/usr/lib/pwned', '/work/pwned', '/pwned']:
    try:
        import os
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write('pwned')
        written.append(path)
    except OSError:
        pass
)",
                                          kCorrectFunction),
                             absl::StrCat("assert written == ['", host_dir, "/pwned'], written\n"));
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  struct stat info;
  for (const std::string& path :
       {host_dir + "/pwned", std::string("/root/pwned"), std::string("/etc/pwned"),
        std::string("/usr/lib/pwned"), std::string("/work/pwned"), std::string("/pwned")}) {
    EXPECT_NE(stat(path.c_str(), &info), 0) << path << " appeared on the host";
  }
  std::system(("rm -rf " + host_dir).c_str());
}

TEST_F(AttackTest, ReadingHostFilesFindsNothing) {
  Prepare(6);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  char pattern[] = "/tmp/ponder-attack-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string host_dir = pattern;
  const std::string secret = "ponder-host-secret-" + std::to_string(getpid());
  std::ofstream(host_dir + "/secret") << secret;
  CodeRunResult result =
      Run(absl::StrCat("found = {}\nfor path in ['", host_dir,
                       R"(/secret', '/etc/shadow', '/etc/passwd', '/root/.bash_history',
             '/proc/1/environ', '/work/shared/DESIGN.md', '/home']:
    try:
        found[path] = open(path).read()
    except OSError:
        pass
print(found)
)",
                       kCorrectFunction),
          absl::StrCat("assert any('", secret, "' in text for text in found.values())\n"));
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.stdout_text.find(secret), std::string::npos);
  EXPECT_EQ(result.stdout_text.find("root:"), std::string::npos);
  std::system(("rm -rf " + host_dir).c_str());
}

TEST_F(AttackTest, ConnectingToAHostLoopbackListenerIsRefused) {
  Prepare(7);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  testing::LoopbackListener listener;
  const int port = listener.port();
  CodeRunResult result =
      Run(absl::StrCat("import socket\nsocket.create_connection(('127.0.0.1', ", port,
                       "), timeout=2).sendall(b'exfiltrated')\n", kCorrectFunction),
          kAddTests);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_NE(result.detail.find("PermissionError"), std::string::npos) << result.detail;
  EXPECT_FALSE(listener.GotConnection()) << "the host listener got a connection";
}

TEST_F(AttackTest, KillingTheParentHasNoEffect) {
  Prepare(8);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  // A host process of ours that the candidate tries to kill by pid, besides its parent, PID 1
  // and every process it can signal.
  pid_t bystander = fork();
  if (bystander == 0) {
    while (true) pause();
  }
  CodeRunResult result = Run(absl::StrCat(R"(
import os, signal
for pid in [os.getppid(), 1, )",
                                          getpid(), ", ", bystander, R"(, -1]:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
)",
                                          kCorrectFunction),
                             kAddTests);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_EQ(kill(bystander, 0), 0) << "the bystander host process was killed";
  kill(bystander, SIGKILL);
  waitpid(bystander, nullptr, 0);
}

TEST_F(AttackTest, SleepingPastTheTimeoutIsKilled) {
  Prepare(9);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run(std::string("import time\ntime.sleep(120)\n") + kCorrectFunction, kAddTests, 1);
  EXPECT_EQ(result.status, CodeRunStatus::kTimeout) << Describe(result);
  EXPECT_LT(result.cost.wall_seconds, 10);
  EXPECT_TRUE(leftover_.empty());
}

TEST_F(AttackTest, ClosingStdoutDoesNotHideTheVerdict) {
  Prepare(10);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run(std::string("import os\nos.close(1)\nos.close(2)\n") + kCorrectFunction, kAddTests);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  result =
      Run(std::string("import os\nos.close(1)\n") + kCorrectFunction, "assert add(1, 2) == 4\n");
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
}

TEST_F(AttackTest, ClosingEveryDescriptorLeavesNoVerdictAndIsAnError) {
  Prepare(11);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run(std::string("import os\nos.closerange(0, 1024)\n") + kCorrectFunction, kAddTests);
  EXPECT_EQ(result.status, CodeRunStatus::kError) << Describe(result);
}

TEST_F(AttackTest, BackgroundChildDoesNotOutliveTheProgram) {
  Prepare(12);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result = Run(std::string(R"(
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
        print('still here')
    os._exit(0)
)") + kCorrectFunction,
                             kAddTests, 20);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_LT(result.cost.wall_seconds, 10);  // the verdict did not wait for the child
  EXPECT_TRUE(leftover_.empty()) << leftover_.size() << " processes outlived the program";
}

TEST_F(AttackTest, FillingTheDiskStopsAtTheTmpfsCap) {
  Prepare(13);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunRequest request;
  request.program = std::string(R"(
import os
errors = []
for directory in ['/tmp', '/', '/dev/shm', '/usr/lib', '/sandbox']:
    try:
        with open(os.path.join(directory, 'fill'), 'wb') as f:
            while True:
                f.write(b'x' * (1 << 20))
    except OSError as e:
        errors.append(e.errno)
)") + kCorrectFunction;
  request.test_code = "assert errors == [28, 30, 30, 30, 30], errors\n";  // ENOSPC, then EROFS
  request.limits.tmpfs_bytes = 8 << 20;
  request.limits.file_size_bytes = 64 << 20;
  CodeRunResult result = Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  struct stat info;
  EXPECT_NE(stat("/fill", &info), 0);
}

TEST_F(AttackTest, FakeAllTestsPassedPrintIsNotAVerdict) {
  Prepare(14);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  const char* wrong = "\ndef add(a, b):\n    return a - b\n";
  // Print a fake verdict and leave before the tests run.
  CodeRunResult exit_now =
      Run(absl::StrCat(wrong,
                       "import os\nprint('all tests passed')\nprint('{\"event\": \"done\"}')\n"
                       "import sys\nsys.stdout.flush()\nos._exit(0)\n"),
          kAddTests);
  EXPECT_EQ(exit_now.status, CodeRunStatus::kError) << Describe(exit_now);
  EXPECT_NE(exit_now.stdout_text.find("all tests passed"), std::string::npos);
  // sys.exit(0) is an exception the driver sees.
  CodeRunResult exit_cleanly =
      Run(absl::StrCat(wrong, "print('all tests passed')\nimport sys\nsys.exit(0)\n"), kAddTests);
  EXPECT_EQ(exit_cleanly.status, CodeRunStatus::kFailed) << Describe(exit_cleanly);
  // Forge lines on the verdict channel itself, without the nonce.
  CodeRunResult forged = Run(absl::StrCat(wrong, R"(
import os
for fd in range(3, 10):
    try:
        os.write(fd, b'{"event": "done", "pid": 1}\nPASSED\n')
    except OSError:
        pass
)"),
                             kAddTests);
  EXPECT_EQ(forged.status, CodeRunStatus::kError) << Describe(forged);
  EXPECT_NE(forged.detail.find("tampered"), std::string::npos) << forged.detail;
}

TEST_F(AttackTest, DeepRecursionIsContained) {
  Prepare(15);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult bounded = Run(
      std::string(kCorrectFunction) + "def deep(n):\n    return deep(n + 1)\n", "assert deep(0)\n");
  EXPECT_EQ(bounded.status, CodeRunStatus::kFailed) << Describe(bounded);
  EXPECT_NE(bounded.detail.find("RecursionError"), std::string::npos) << bounded.detail;
  // With the interpreter's guard lifted the C stack overflows: a contained crash.
  // Python 3.11 keeps Python-to-Python calls off the C stack, so recurse through C (repr of a
  // deeply nested list).
  CodeRunResult unbounded =
      Run(std::string("import sys\nsys.setrecursionlimit(10**8)\nnested = []\n"
                      "for _ in range(10**6):\n    nested = [nested]\n") +
              kCorrectFunction,
          "assert repr(nested)\n");
  EXPECT_EQ(unbounded.status, CodeRunStatus::kError) << Describe(unbounded);
  EXPECT_NE(unbounded.detail.find("SIGSEGV"), std::string::npos) << unbounded.detail;
  EXPECT_TRUE(leftover_.empty());
}

TEST_F(AttackTest, NamespaceMountAndPtraceEscapesAreRefused) {
  Prepare(16);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run(std::string(R"(
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
results = {
    'unshare': libc.unshare(0x10000000 | 0x20000),
    'mount': libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),
    'ptrace': libc.ptrace(0, 0, None, None),
    'setns': libc.setns(0, 0),
    'chroot': libc.chroot(b'/tmp'),
}
)") + kCorrectFunction,
          "assert all(rc == -1 for rc in results.values()), results\n" + std::string(kAddTests));
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
}

#if defined(__x86_64__)
TEST_F(AttackTest, ForeignAbiSystemCallKillsTheProgram) {
  Prepare(17);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  // socket(2) through the x32 ABI, around the x86_64 rules.
  CodeRunResult result = Run(std::string(R"(
import ctypes
ctypes.CDLL(None).syscall(0x40000000 | 41, 2, 1, 0)
)") + kCorrectFunction,
                             kAddTests);
  EXPECT_EQ(result.status, CodeRunStatus::kError) << Describe(result);
  EXPECT_NE(result.detail.find("SIGSYS"), std::string::npos) << result.detail;
}
#endif

TEST_F(AttackTest, InputOutputCandidateCannotReachTheDriver) {
  Prepare(20);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  // In input/output mode the candidate is a separate process of the same uid as the driver (PID
  // 1): it tries to forge on the driver's channel, read its memory and descriptors, and stop it
  // with signals. The second case shows that the driver lived through the first.
  CodeRunResult result = CodeVerifier(sandbox_.get())
                             .VerifyIoCases(R"(
import os, signal
reached = []
def attempt(name, action):
    try:
        action()
        reached.append(name)
    except OSError:
        pass
attempt('channel', lambda: open('/proc/1/fd/3', 'wb').write(b'forged\n'))
attempt('fds', lambda: os.listdir('/proc/1/fd'))
attempt('maps', lambda: open('/proc/1/maps').read())
attempt('memory', lambda: open('/proc/1/mem', 'rb').read(1))
attempt('environ', lambda: open('/proc/1/environ', 'rb').read())
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGKILL):
    try:
        os.kill(1, sig)
    except OSError:
        pass
print(' '.join(reached) or 'blocked')
)",
                                            {{"", "blocked"}, {"", "blocked"}});
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 2);
}

TEST_F(AttackTest, ProgramUsingThreadsPasses) {
  Prepare(18);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result = Run(R"(
import threading
from concurrent.futures import ThreadPoolExecutor

def parallel_sum(n, workers=8):
    total = [0]
    lock = threading.Lock()
    def part(k):
        s = sum(range(k, n, workers))
        with lock:
            total[0] += s
    threads = [threading.Thread(target=part, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total[0]

def squares(values):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda v: v * v, values))
)",
                             "assert parallel_sum(100000) == sum(range(100000))\n"
                             "assert squares(range(50)) == [v * v for v in range(50)]\n");
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 2);
}

TEST_F(AttackTest, ProgramUsingSubprocessesPasses) {
  Prepare(19);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result = Run(R"(
import os, subprocess, sys

def child_answer():
    out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)

def shell_words():
    return subprocess.run('echo one two | wc -w', shell=True, capture_output=True, text=True).stdout.strip()

def forked():
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
)",
                             "assert child_answer() == 42\nassert shell_words() == '2'\n"
                             "assert forked() == 7\n");
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 3);
  EXPECT_TRUE(leftover_.empty());
}

// The run's processes together hold no more than its memory budget: each forks children that
// fill their memory until refused and keep it while the others fill theirs. A small budget, so
// that the test cannot endanger the host.
TEST_F(AttackTest, ProcessesTogetherStayWithinTheRunsMemoryBudget) {
  Prepare(20);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunRequest request;
  request.program = R"(
import os

def fill():
    blocks = []
    try:
        while True:
            blocks.append(b'\x01' * (1 << 20))  # written, so resident
    except MemoryError:
        pass
    return blocks

def hog():
    counts_read, counts_write = os.pipe()
    hold_read, hold_write = os.pipe()
    children = 0
    while children < 64:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            blocks = fill()
            os.write(counts_write, b'%d\n' % len(blocks))
            os.read(hold_read, 1)  # keep the memory until every child has filled its own
            os._exit(0)
        children += 1
    counts = b''
    while counts.count(b'\n') < children:
        counts += os.read(counts_read, 4096)
    mine = len(fill())
    return children, sum(int(n) for n in counts.split()) + mine
)";
  request.test_code = "children, mib = hog()\nprint(children, mib)\nassert children >= 2\n";
  request.limits.timeout_seconds = 60;
  request.limits.processes = 8;
  request.limits.address_space_bytes = int64_t{96} << 20;
  request.limits.memory_bytes = int64_t{768} << 20;
  CodeRunResult result = Run(request);
  ASSERT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
  int children = 0;
  long long mib = 0;
  ASSERT_EQ(std::sscanf(result.stdout_text.c_str(), "%d %lld", &children, &mib), 2)
      << result.stdout_text;
  EXPECT_GT(mib, 2 * 32) << "the processes did not fill their memory";
  EXPECT_LE(mib << 20, request.limits.memory_bytes) << children << " children";
  EXPECT_TRUE(leftover_.empty());
}

// What the driver reports with is bound before the program runs: replacing its encoder
// through sys.modules["__main__"] does not turn failures into passes.
TEST_F(AttackTest, ReplacingTheDriversGlobalsDoesNotForgeAPass) {
  Prepare(23);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run("import sys\nd = sys.modules['__main__']\n"
          "if hasattr(d, 'encode'):\n    _e = d.encode\n"
          "    d.encode = lambda v: _e(True if v is False else v)\n"
          "def f():\n    return 2\n",
          "assert f() == 1\nassert f() == 3\n", 1);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 0) << Describe(result);
}

// A program that runs unittest.main() over a passing TestCase of its own ends every test with
// SystemExit(False), the exit of a successful unittest run: that is a failure, not a pass.
TEST_F(AttackTest, UnittestMainCalledByTheProgramDoesNotPass) {
  Prepare(28);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result =
      Run("import unittest, types\n"
          "class _T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
          "_m = types.ModuleType('m'); _m._T = _T\n"
          "def f(*a):\n    unittest.main(module=_m, argv=['x'])\n",
          "assert f(1) == 2\nassert f(2) == 3\n");
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_EQ(result.tests_passed, 0) << Describe(result);
}

// Memory in memfds and System V shared memory is shmem, which RLIMIT_AS does not count: a
// process could otherwise hold many times its address space there.
TEST_F(AttackTest, MemoryOutsideTheAddressSpaceCannotBeMade) {
  Prepare(22);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  CodeRunResult result = Run(R"(
import ctypes, errno, os
def memfd_refused():
    try:
        os.close(os.memfd_create('hold'))
    except PermissionError:
        return True
    return False
def shmget_refused():
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.shmget(0, 1 << 20, 0o1600) == -1 and ctypes.get_errno() == errno.EPERM
)",
                             "assert memfd_refused()\nassert shmget_refused()\n", 1);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
}

// The driver runs the tests with the exec it bound before the program ran.
TEST_F(AttackTest, ReplacingExecDoesNotSkipTheTests) {
  Prepare(21);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  const std::string program =
      "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, "
      "**k: None\ndef f():\n    return 2\n";
  for (const char* tests :
       {"assert f() == 1\n", "def check(c):\n    assert c() == 1\ncheck(f)\n"}) {
    CodeRunResult result = Run(program, tests);
    EXPECT_EQ(result.status, CodeRunStatus::kFailed) << tests << Describe(result);
  }
}

// Where the host has no memory cgroup that we may use, the sandbox runs without one (the rlimits
// then bound the run) and the tests of the cgroup path skip.
#define PONDER_REQUIRE_MEMORY_CGROUP()                                                     \
  do {                                                                                     \
    absl::StatusOr<std::unique_ptr<sandbox::MemoryCgroups>> ponder_cgroups =               \
        sandbox::MemoryCgroups::Create();                                                  \
    if (!ponder_cgroups.ok()) {                                                            \
      GTEST_SKIP() << "no memory cgroup can be made on this host, so runs are bounded by " \
                      "rlimits alone: "                                                    \
                   << std::string(ponder_cgroups.status().message());                      \
    }                                                                                      \
  } while (0)

// The run's memory cgroup counts its processes together: four processes each writing 100 MiB
// under a 256 MiB budget (the fallback rlimits would let them) fail the run, naming the budget.
TEST_F(AttackTest, RunExceedingTheMemoryBudgetFailsNamingTheBudget) {
  Prepare(24);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  PONDER_REQUIRE_MEMORY_CGROUP();
  CodeRunRequest request;
  request.program = R"(
import os, time

def hog():
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            block = b'\x01' * (100 << 20)  # written, so resident
            time.sleep(2)
            os._exit(0)
        pids.append(pid)
    block = b'\x01' * (100 << 20)
    for pid in pids:
        os.waitpid(pid, 0)
    return len(block)
)";
  request.test_code = "assert hog() > 0\n";
  request.limits.timeout_seconds = 30;
  request.limits.memory_bytes = int64_t{256} << 20;
  CodeRunResult result = Run(request);
  EXPECT_EQ(result.status, CodeRunStatus::kFailed) << Describe(result);
  EXPECT_NE(result.detail.find("memory budget exceeded (256 MiB)"), std::string::npos)
      << Describe(result);
  EXPECT_TRUE(leftover_.empty());
}

// Under a memory cgroup a thread pool of 32 workers runs (64 processes and threads per run).
TEST_F(AttackTest, ThreadPoolOf32WorkersPassesUnderTheMemoryCgroup) {
  Prepare(25);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  PONDER_REQUIRE_MEMORY_CGROUP();
  CodeRunResult result = Run(R"(
import time
from concurrent.futures import ThreadPoolExecutor
def pooled():
    with ThreadPoolExecutor(max_workers=32) as pool:
        return sum(pool.map(lambda i: time.sleep(0.05) or i, range(40)))
def big_list():
    return len(list(range(5 * 10**6)))
)",
                             "assert pooled() == 780\nassert big_list() == 5 * 10**6\n", 20);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
}

// numpy imports and multiplies 300 x 300 matrices under the memory cgroup (the 256 MiB address
// space of the fallback makes OpenBLAS spin until the timeout).
TEST_F(AttackTest, NumpyMatrixProductPassesUnderTheMemoryCgroup) {
  Prepare(26);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  PONDER_REQUIRE_MEMORY_CGROUP();
  const std::string check = sandbox_->config().python_path + " -c 'import numpy' 2>/dev/null";
  if (std::system(check.c_str()) != 0) {
    GTEST_SKIP() << sandbox_->config().python_path << " has no numpy";
  }
  CodeRunResult result = Run(
      "import numpy as np\ndef product():\n    a = np.ones((300, 300))\n    return (a @ a)[0, 0]\n",
      "assert product() == 300\n", 30);
  EXPECT_EQ(result.status, CodeRunStatus::kPassed) << Describe(result);
}

// The slots' cgroups exist while the sandbox does and are removed with it.
TEST_F(AttackTest, MemoryCgroupsAreRemovedWhenTheSandboxGoes) {
  Prepare(27);
  PONDER_REQUIRE_SANDBOX(*sandbox_);
  absl::StatusOr<std::unique_ptr<sandbox::MemoryCgroups>> cgroups =
      sandbox::MemoryCgroups::Create();
  if (!cgroups.ok()) {
    GTEST_SKIP() << "no memory cgroup can be made on this host: "
                 << std::string(cgroups.status().message());
  }
  const std::string parent = (*cgroups)->parent();
  auto ours = [&] {
    std::vector<std::string> names;
    const std::string prefix = absl::StrCat("ponder-sandbox-", getpid(), "-");
    DIR* dir = opendir(parent.c_str());
    if (dir == nullptr) return names;
    while (const dirent* entry = readdir(dir)) {
      if (std::string(entry->d_name).starts_with(prefix)) names.push_back(entry->d_name);
    }
    closedir(dir);
    return names;
  };
  ASSERT_EQ(Run(kCorrectFunction, kAddTests).status, CodeRunStatus::kPassed);
  EXPECT_EQ(ours().size(), 1u) << "one cgroup for the one slot used, in " << parent;
  sandbox_.reset();
  EXPECT_TRUE(ours().empty()) << "left in " << parent << ": " << ours().front();
}

}  // namespace
}  // namespace ponder::verifiers
