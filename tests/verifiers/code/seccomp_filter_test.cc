// The seccomp layer alone: the exported program is loaded into a forked child of the test (no
// bubblewrap, no other layer), which then tries the system calls and reports each errno.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "verifiers/code/sandbox_seccomp.h"

namespace ponder::verifiers::sandbox {
namespace {

using Probe = std::pair<std::string, std::function<long()>>;

// errno of a call that returns -1 on failure, 0 on success.
long ErrnoOf(long result) { return result < 0 ? errno : 0; }

bool LoadFilter(const std::vector<uint8_t>& program) {
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(program.size() / sizeof(sock_filter));
  prog.filter = reinterpret_cast<sock_filter*>(const_cast<uint8_t*>(program.data()));
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// Runs each probe in a child under the filter (or without it) and returns name -> errno.
std::map<std::string, long> RunProbes(const std::vector<Probe>& probes, bool with_filter) {
  absl::StatusOr<std::vector<uint8_t>> program = SeccompFilterProgram();
  EXPECT_TRUE(program.ok()) << program.status();
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    if (with_filter && !LoadFilter(*program)) _exit(100);
    for (const auto& [name, probe] : probes) {
      char line[256];
      int n = std::snprintf(line, sizeof(line), "%s %ld\n", name.c_str(), probe());
      if (write(fds[1], line, static_cast<size_t>(n)) != n) _exit(101);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof(buffer))) > 0)
    text.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "probe child status " << status;
  std::map<std::string, long> results;
  char name[128];
  long value = 0;
  for (const char* p = text.c_str(); std::sscanf(p, "%127s %ld", name, &value) == 2;) {
    results[name] = value;
    p = std::strchr(p, '\n');
    if (p == nullptr) break;
    ++p;
  }
  return results;
}

long SocketErrno(int domain, int type) {
  int fd = socket(domain, type, 0);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

void* ThreadBody(void*) { return nullptr; }

TEST(SeccompFilterTest, ProgramIsWholeBpfInstructions) {
  absl::StatusOr<std::vector<uint8_t>> program = SeccompFilterProgram();
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_GT(program->size(), 0u);
  EXPECT_EQ(program->size() % sizeof(sock_filter), 0u);
  EXPECT_LE(program->size() / sizeof(sock_filter), size_t{BPF_MAXINSNS});
}

TEST(SeccompFilterTest, RefusesEverySocketFamilyButUnix) {
  std::vector<Probe> probes = {
      {"inet_stream", [] { return SocketErrno(AF_INET, SOCK_STREAM); }},
      {"inet_dgram", [] { return SocketErrno(AF_INET, SOCK_DGRAM); }},
      {"inet6", [] { return SocketErrno(AF_INET6, SOCK_STREAM); }},
      {"netlink", [] { return SocketErrno(AF_NETLINK, SOCK_RAW); }},
      {"packet", [] { return SocketErrno(AF_PACKET, SOCK_RAW); }},
      {"unix", [] { return SocketErrno(AF_UNIX, SOCK_STREAM); }},
      {"inet_pair",
       [] {
         int sv[2];
         return ErrnoOf(socketpair(AF_INET, SOCK_STREAM, 0, sv));
       }},
      {"unix_pair",
       [] {
         int sv[2];
         long e = ErrnoOf(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
         if (e == 0) close(sv[0]), close(sv[1]);
         return e;
       }},
  };
  std::map<std::string, long> filtered = RunProbes(probes, true);
  EXPECT_EQ(filtered["inet_stream"], EPERM);
  EXPECT_EQ(filtered["inet_dgram"], EPERM);
  EXPECT_EQ(filtered["inet6"], EPERM);
  EXPECT_EQ(filtered["netlink"], EPERM);
  EXPECT_EQ(filtered["packet"], EPERM);
  EXPECT_EQ(filtered["inet_pair"], EPERM);
  EXPECT_EQ(filtered["unix"], 0);
  EXPECT_EQ(filtered["unix_pair"], 0);
  // Without the filter the same child can open an inet socket: the refusal is the filter's.
  EXPECT_EQ(RunProbes(probes, false)["inet_stream"], 0);
}

TEST(SeccompFilterTest, RefusesNamespaceMountAndPtraceCalls) {
  // Each probe is chosen so that, without the filter, it fails differently or succeeds
  // harmlessly (we run as root), so the EPERM can only come from the filter.
  std::vector<Probe> probes = {
      {"setns", [] { return ErrnoOf(setns(-1, 0)); }},
      {"mount",
       [] { return ErrnoOf(mount("none", "/nonexistent-ponder-dir", "tmpfs", 0, nullptr)); }},
      {"umount", [] { return ErrnoOf(umount2("/nonexistent-ponder-dir", 0)); }},
      {"pivot_root",
       [] { return ErrnoOf(syscall(SYS_pivot_root, "/nonexistent-a", "/nonexistent-b")); }},
      {"chroot", [] { return ErrnoOf(chroot("/nonexistent-ponder-dir")); }},
      // Peeking at a process that does not trace us: ESRCH without the filter.
      {"ptrace",
       [] {
         long data = 0;
         return ErrnoOf(syscall(SYS_ptrace, PTRACE_PEEKDATA, getppid(), nullptr, &data));
       }},
      {"clone_newnet",
       [] {
         long pid = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
         if (pid == 0) _exit(0);
         if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
         return pid < 0 ? errno : 0L;
       }},
      {"clone3", [] { return ErrnoOf(syscall(SYS_clone3, nullptr, 0)); }},
      {"bpf", [] { return ErrnoOf(syscall(SYS_bpf, -1, nullptr, 0)); }},
      {"io_uring", [] { return ErrnoOf(syscall(SYS_io_uring_setup, 0, nullptr)); }},
      {"keyctl", [] { return ErrnoOf(syscall(SYS_keyctl, -1, 0, 0, 0, 0)); }},
      {"tiocsti",
       [] {
         char c = 'x';
         return ErrnoOf(ioctl(-1, TIOCSTI, &c));
       }},
      // Last: unfiltered, these move the child into new namespaces.
      {"unshare_net", [] { return ErrnoOf(unshare(CLONE_NEWNET)); }},
      {"unshare_user", [] { return ErrnoOf(unshare(CLONE_NEWUSER)); }},
  };
  std::map<std::string, long> filtered = RunProbes(probes, true);
  for (const auto& [name, probe] : probes) {
    if (name == "clone3") continue;
    EXPECT_EQ(filtered[name], EPERM) << name;
  }
  EXPECT_EQ(filtered["clone3"], ENOSYS);  // glibc then falls back to clone
  std::map<std::string, long> unfiltered = RunProbes(probes, false);
  EXPECT_NE(unfiltered["mount"], EPERM);
  EXPECT_NE(unfiltered["setns"], EPERM);
  EXPECT_NE(unfiltered["tiocsti"], EPERM);
}

TEST(SeccompFilterTest, AllowsForkThreadsAndOrdinaryFiles) {
  std::vector<Probe> probes = {{"fork",
                                [] {
                                  pid_t pid = fork();
                                  if (pid == 0) _exit(0);
                                  if (pid < 0) return static_cast<long>(errno);
                                  int status = 0;
                                  waitpid(pid, &status, 0);
                                  return WIFEXITED(status) ? 0L : -1L;
                                }},
                               {"thread",
                                [] {
                                  pthread_t thread;
                                  int rc = pthread_create(&thread, nullptr, ThreadBody, nullptr);
                                  if (rc == 0) pthread_join(thread, nullptr);
                                  return static_cast<long>(rc);
                                }},
                               {"open", [] {
                                  int fd = open("/proc/self/status", O_RDONLY);
                                  if (fd < 0) return static_cast<long>(errno);
                                  close(fd);
                                  return 0L;
                                }}};
  std::map<std::string, long> filtered = RunProbes(probes, true);
  EXPECT_EQ(filtered["fork"], 0);
  EXPECT_EQ(filtered["thread"], 0);
  EXPECT_EQ(filtered["open"], 0);
}

#if defined(__x86_64__)
TEST(SeccompFilterTest, ForeignAbiSystemCallKillsTheProcess) {
  absl::StatusOr<std::vector<uint8_t>> program = SeccompFilterProgram();
  ASSERT_TRUE(program.ok());
  pid_t child = fork();
  if (child == 0) {
    if (!LoadFilter(*program)) _exit(100);
    constexpr long kX32SyscallBit = 0x40000000;
    syscall(kX32SyscallBit | SYS_getpid);  // an x32 call: a classic way around x86_64 rules
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}
#endif

TEST(SeccompFilterTest, DeniedListCoversTheIssueCalls) {
  const std::vector<std::string>& denied = SeccompDeniedSyscalls();
  for (const char* name : {"unshare", "setns", "mount", "umount2", "pivot_root", "ptrace"}) {
    EXPECT_NE(std::find(denied.begin(), denied.end(), name), denied.end()) << name;
  }
}

}  // namespace
}  // namespace ponder::verifiers::sandbox
