// The namespace layer of the code sandbox: the bubblewrap command line (internal to
// verifiers/code). See bwrap(1) for each option.
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_BWRAP_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_BWRAP_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ponder::verifiers::sandbox {

// A top-level entry of the host's root that programs expect (/bin, /lib, ...): recreated as the
// same symlink (merged /usr) or bound read-only when it is a real directory.
struct RootEntry {
  std::string path;            // e.g. "/lib"
  std::string symlink_target;  // e.g. "usr/lib"; empty for a directory
};

// /bin, /sbin, /lib, /lib32, /lib64 and /libx32 as they exist on this host.
std::vector<RootEntry> HostRootEntries();

// A file the sandbox sees read-only at `path`, read by bubblewrap from `fd` (a memfd).
struct SandboxFile {
  int fd;
  std::string path;
};

struct BwrapInvocation {
  std::string bwrap_path;
  uid_t uid = 0;  // inside and outside: bubblewrap already runs as this uid
  gid_t gid = 0;
  std::vector<std::string> read_only_paths;  // bound at the same place if present (--ro-bind-try)
  std::vector<RootEntry> root_entries;
  int64_t tmpfs_bytes = 0;  // the writable /tmp
  std::vector<SandboxFile> files;
  int seccomp_fd = -1;      // -1 leaves the filter out (only tests of the other layers do)
  int json_status_fd = -1;  // bwrap reports the child's pid and exit code here
  std::string working_directory = "/tmp";
  std::vector<std::string> command;
};

// argv for execve, argv[0] included. The candidate becomes PID 1 of a new PID namespace
// (--as-pid-1): when it exits the kernel kills everything else in the namespace, so a background
// child cannot outlive it. Every namespace is new (user, PID, network, IPC, UTS, cgroup), nested
// user namespaces are disabled, all capabilities dropped, the session is new (no TIOCSTI into a
// terminal), /dev is a minimal read-only devtmpfs, /proc belongs to the new PID namespace, and
// after the mounts the root itself is remounted read-only so that /tmp is the only writable place.
std::vector<std::string> BwrapArgv(const BwrapInvocation& invocation);

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_BWRAP_H_
