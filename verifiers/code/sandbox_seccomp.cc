#include "verifiers/code/sandbox_seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ponder::verifiers::sandbox {
namespace {

// CLONE_NEWTIME is missing from older libc headers.
constexpr uint64_t kCloneNewTime = 0x00000080;

constexpr uint64_t kNamespaceCloneFlags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, kCloneNewTime,
};

// A scmp_filter_ctx that is released on every path.
class FilterContext {
 public:
  explicit FilterContext(uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
  ~FilterContext() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

absl::Status LibseccompError(const std::string& what, int rc) {
  return absl::InternalError(absl::StrCat("seccomp filter: ", what, " failed: ", strerror(-rc)));
}

absl::StatusOr<std::vector<uint8_t>> BuildProgram() {
  FilterContext filter(SCMP_ACT_ALLOW);
  if (filter.get() == nullptr) return absl::InternalError("seccomp filter: seccomp_init failed");
  scmp_filter_ctx ctx = filter.get();
  // A foreign-architecture call is an attempt to slip past the rules: end the whole process.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc != 0) {
    return LibseccompError("setting the bad-architecture action", rc);
  }
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);

  for (const std::string& name : SeccompDeniedSyscalls()) {
    int number = seccomp_syscall_resolve_name(name.c_str());
    if (number == __NR_SCMP_ERROR) continue;  // not a system call on this architecture
    if (int rc = seccomp_rule_add(ctx, deny, number, 0); rc != 0) {
      return LibseccompError(absl::StrCat("denying ", name), rc);
    }
  }
  // Only local (AF_UNIX) sockets; the network namespace already has no route out, this is the
  // second wall and also shuts netlink and packet sockets.
  for (int number : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    if (int rc = seccomp_rule_add(ctx, deny, number, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX)); rc != 0) {
      return LibseccompError("restricting socket families", rc);
    }
  }
  // clone(2): flags are the first argument on x86_64 and aarch64. One rule per namespace flag,
  // because a rule can only test "masked value equals".
  for (uint64_t flag : kNamespaceCloneFlags) {
    if (int rc = seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        rc != 0) {
      return LibseccompError("denying clone with namespace flags", rc);
    }
  }
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc != 0) {
    return LibseccompError("denying clone3", rc);
  }
  for (uint64_t request : {static_cast<uint64_t>(TIOCSTI), static_cast<uint64_t>(TIOCLINUX)}) {
    if (int rc = seccomp_rule_add(ctx, deny, SCMP_SYS(ioctl), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request));
        rc != 0) {
      return LibseccompError("denying terminal ioctls", rc);
    }
  }

  // libseccomp 2.5 exports only to a file descriptor; a memfd keeps it off the file system.
  int fd = memfd_create("ponder-seccomp", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", strerror(errno)));
  std::vector<uint8_t> program;
  absl::Status status = absl::OkStatus();
  if (int rc = seccomp_export_bpf(ctx, fd); rc != 0) {
    status = LibseccompError("seccomp_export_bpf", rc);
  } else {
    off_t size = lseek(fd, 0, SEEK_END);
    program.resize(size > 0 ? static_cast<size_t>(size) : 0);
    if (size <= 0 || pread(fd, program.data(), program.size(), 0) != size) {
      status = absl::InternalError("seccomp filter: reading the exported program back failed");
    }
  }
  close(fd);
  if (!status.ok()) return status;
  return program;
}

}  // namespace

const std::vector<std::string>& SeccompDeniedSyscalls() {
  static const std::vector<std::string>* const kDenied = new std::vector<std::string>{
      // namespaces and mounts
      "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen",
      "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
      // other processes' memory, and file handles that skip path checks
      "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
      "open_by_handle_at", "name_to_handle_at",
      // kernel attack surface an interpreter never needs
      "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
      "io_uring_enter", "io_uring_register", "init_module", "finit_module", "delete_module",
      "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl",
      "quotactl_fd", "syslog", "vhangup", "lookup_dcookie", "uselib", "iopl", "ioperm",
      "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "nfsservctl",
      // memory that no process's RLIMIT_AS counts (shmem): memfds and System V shared memory
      // would let a run hold far more than its budget where no memory cgroup caps it
      // (POSIX shm_open needs /dev/shm, which is read-only)
      "memfd_create", "memfd_secret", "shmget"};
  return *kDenied;
}

absl::StatusOr<std::vector<uint8_t>> SeccompFilterProgram() {
  static const absl::StatusOr<std::vector<uint8_t>>* const kProgram =
      new absl::StatusOr<std::vector<uint8_t>>(BuildProgram());
  return *kProgram;
}

}  // namespace ponder::verifiers::sandbox
