#include "verifiers/code/sandbox_bwrap.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace ponder::verifiers::sandbox {

std::vector<RootEntry> HostRootEntries() {
  std::vector<RootEntry> entries;
  for (const char* path : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat info;
    if (lstat(path, &info) != 0) continue;
    if (S_ISLNK(info.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlink(path, target, sizeof(target) - 1);
      if (n <= 0) continue;
      entries.push_back({path, std::string(target, static_cast<size_t>(n))});
    } else if (S_ISDIR(info.st_mode)) {
      entries.push_back({path, ""});
    }
  }
  return entries;
}

std::vector<std::string> BwrapArgv(const BwrapInvocation& invocation) {
  std::vector<std::string> argv = {
      invocation.bwrap_path,
      // Namespaces. The user namespace maps only our own uid, so nothing inside can become anyone
      // else, and --disable-userns stops the candidate from making another one.
      "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
      "--unshare-cgroup-try", "--disable-userns", "--uid", absl::StrCat(invocation.uid), "--gid",
      absl::StrCat(invocation.gid), "--hostname", "sandbox",
      // Life cycle and privileges.
      "--die-with-parent", "--as-pid-1", "--new-session", "--cap-drop", "ALL"};
  auto add = [&argv](std::initializer_list<std::string> items) {
    argv.insert(argv.end(), items.begin(), items.end());
  };
  for (const std::string& path : invocation.read_only_paths) add({"--ro-bind-try", path, path});
  for (const RootEntry& entry : invocation.root_entries) {
    if (entry.symlink_target.empty()) {
      add({"--ro-bind", entry.path, entry.path});
    } else {
      add({"--symlink", entry.symlink_target, entry.path});
    }
  }
  add({"--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"});
  add({"--size", absl::StrCat(invocation.tmpfs_bytes), "--tmpfs", "/tmp"});
  for (const SandboxFile& file : invocation.files) {
    add({"--perms", "0444", "--ro-bind-data", absl::StrCat(file.fd), file.path});
  }
  // Last of the mount operations: bubblewrap's root is itself a tmpfs without a size limit.
  add({"--remount-ro", "/"});
  add({"--chdir", invocation.working_directory});
  if (invocation.seccomp_fd >= 0) add({"--seccomp", absl::StrCat(invocation.seccomp_fd)});
  if (invocation.json_status_fd >= 0) {
    add({"--json-status-fd", absl::StrCat(invocation.json_status_fd)});
  }
  argv.push_back("--");
  argv.insert(argv.end(), invocation.command.begin(), invocation.command.end());
  return argv;
}

}  // namespace ponder::verifiers::sandbox
