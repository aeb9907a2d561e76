// The seccomp layer of the code sandbox (internal to verifiers/code).
//
// A deny-list filter compiled with libseccomp and exported as a classic BPF program, which
// bubblewrap loads into the candidate right before exec (`bwrap --seccomp FD`). Everything not
// listed stays allowed so an ordinary interpreter runs unchanged; what is listed fails with EPERM:
//   - socket()/socketpair() for any family but AF_UNIX (Python creates AF_UNIX sockets itself);
//   - creating or entering namespaces: unshare, setns, clone with a CLONE_NEW* flag, and clone3
//     (its flags live in memory seccomp cannot read, so it gets ENOSYS and glibc falls back to
//     clone, exactly as in Docker's and Chromium's profiles);
//   - mount, umount, pivot_root, chroot and the new mount API (fsopen, move_mount, ...);
//   - ptrace and cross-process memory access, kernel keyrings, BPF, perf, io_uring (whose
//     operations bypass seccomp), module loading, kexec, reboot, swap, time setting;
//   - the TIOCSTI/TIOCLINUX ioctls that push input into a terminal;
//   - memfd_create, memfd_secret and shmget, whose memory no RLIMIT_AS counts.
// System calls of any other architecture (e.g. 32-bit int 0x80, x32) kill the process.
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_SECCOMP_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_SECCOMP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ponder::verifiers::sandbox {

// The filter as a sequence of `struct sock_filter` (8 bytes each), ready for bwrap --seccomp or
// prctl(PR_SET_SECCOMP). Built once per process; later calls return the cached program.
absl::StatusOr<std::vector<uint8_t>> SeccompFilterProgram();

// The system calls that the filter refuses outright (for documentation and tests).
const std::vector<std::string>& SeccompDeniedSyscalls();

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_SECCOMP_H_
