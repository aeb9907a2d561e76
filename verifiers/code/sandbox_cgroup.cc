#include "verifiers/code/sandbox_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace ponder::verifiers::sandbox {
namespace {

constexpr char kNamePrefix[] = "ponder-sandbox-";

bool ReadFile(const std::string& path, std::string& content) {
  std::ifstream file(path);
  if (!file) return false;
  std::stringstream buffer;
  buffer << file.rdbuf();
  content = buffer.str();
  return true;
}

absl::Status WriteFile(const std::string& path, absl::string_view value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  }
  ssize_t n = write(fd, value.data(), value.size());
  int error = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return absl::UnavailableError(
        absl::StrCat("cannot write '", value, "' to ", path, ": ", strerror(error)));
  }
  return absl::OkStatus();
}

// The cgroup of this process in the hierarchy that has the memory controller (v1), or in the
// unified hierarchy (v2): {path relative to the hierarchy's root, is v2}.
struct OwnCgroup {
  std::string path;
  bool v2 = false;
};

absl::StatusOr<OwnCgroup> FindOwnCgroup() {
  std::string content;
  if (!ReadFile("/proc/self/cgroup", content)) {
    return absl::UnavailableError("cannot read /proc/self/cgroup");
  }
  std::optional<OwnCgroup> unified;
  for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    if (fields[0] == "0" && fields[1].empty()) {
      unified = OwnCgroup{std::string(fields[2]), true};
      continue;
    }
    for (absl::string_view controller : absl::StrSplit(fields[1], ',')) {
      if (controller == "memory") return OwnCgroup{std::string(fields[2]), false};
    }
  }
  if (unified) return *unified;
  return absl::UnavailableError("this process is in no memory cgroup (/proc/self/cgroup)");
}

// The directory of `own` in the mounted hierarchy, from /proc/self/mountinfo.
absl::StatusOr<std::string> MountedPath(const OwnCgroup& own) {
  std::string content;
  if (!ReadFile("/proc/self/mountinfo", content)) {
    return absl::UnavailableError("cannot read /proc/self/mountinfo");
  }
  for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
    // id parent major:minor root mount-point options [optional fields] - fstype source super
    std::vector<absl::string_view> halves = absl::StrSplit(line, absl::MaxSplits(" - ", 1));
    if (halves.size() != 2) continue;
    std::vector<absl::string_view> before = absl::StrSplit(halves[0], ' ');
    std::vector<absl::string_view> after = absl::StrSplit(halves[1], ' ');
    if (before.size() < 5 || after.size() < 3) continue;
    bool match = false;
    if (own.v2) {
      match = after[0] == "cgroup2";
    } else if (after[0] == "cgroup") {
      for (absl::string_view option : absl::StrSplit(after[2], ',')) match |= option == "memory";
    }
    if (!match) continue;
    absl::string_view root = before[3];
    absl::string_view path = own.path;
    if (root != "/") {
      if (!absl::ConsumePrefix(&path, root)) continue;  // our cgroup is outside this mount
    }
    return absl::StrCat(before[4], path == "/" ? "" : path);
  }
  return absl::UnavailableError(
      absl::StrCat("the memory cgroup hierarchy holding ", own.path, " is not mounted here"));
}

// The count after "oom_kill " in memory.oom_control (v1) or memory.events (v2).
absl::StatusOr<int64_t> ReadOomKills(const std::string& dir, bool v2) {
  const std::string path = absl::StrCat(dir, v2 ? "/memory.events" : "/memory.oom_control");
  std::string content;
  if (!ReadFile(path, content)) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path));
  }
  for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
    int64_t count = 0;
    if (absl::ConsumePrefix(&line, "oom_kill ") && absl::SimpleAtoi(line, &count)) return count;
  }
  return absl::UnavailableError(absl::StrCat(path, " has no oom_kill count (kernel before 4.13)"));
}

// Removes the cgroups of ours that a process which no longer exists left behind.
void RemoveStaleCgroups(const std::string& parent) {
  DIR* dir = opendir(parent.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* entry = readdir(dir)) {
    absl::string_view name = entry->d_name;
    if (!absl::ConsumePrefix(&name, kNamePrefix)) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(0, name.find('-')), &pid) || pid <= 0) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(entry->d_name);
  }
  closedir(dir);
  for (const std::string& name : stale) rmdir(absl::StrCat(parent, "/", name).c_str());
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryCgroups>> MemoryCgroups::Create() {
  absl::StatusOr<OwnCgroup> own = FindOwnCgroup();
  if (!own.ok()) return own.status();
  absl::StatusOr<std::string> parent = MountedPath(*own);
  if (!parent.ok()) return parent.status();
  if (own->v2) {
    std::string controllers;
    ReadFile(absl::StrCat(*parent, "/cgroup.subtree_control"), controllers);
    bool delegated = false;
    for (absl::string_view name : absl::StrSplit(controllers, absl::ByAnyChar(" \n"))) {
      delegated |= name == "memory";
    }
    if (!delegated) {
      return absl::UnavailableError(
          absl::StrCat("the memory controller is not enabled for the children of cgroup ", *parent,
                       " (cgroup.subtree_control)"));
    }
  }
  RemoveStaleCgroups(*parent);
  static std::atomic<int> instances{0};
  std::string prefix = absl::StrCat(kNamePrefix, getpid(), "-", instances++, "-");
  // Making and removing a child shows that we may; its limit files show it is a memory cgroup.
  const std::string probe = absl::StrCat(*parent, "/", prefix, "probe");
  if (mkdir(probe.c_str(), 0700) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot make a memory cgroup under ", *parent, ": ", strerror(errno)));
  }
  absl::StatusOr<int64_t> oom_kills = ReadOomKills(probe, own->v2);
  rmdir(probe.c_str());
  if (!oom_kills.ok()) return oom_kills.status();
  return std::unique_ptr<MemoryCgroups>(
      new MemoryCgroups(*std::move(parent), own->v2, std::move(prefix)));
}

MemoryCgroups::~MemoryCgroups() {
  absl::MutexLock lock(&mu_);
  for (uid_t uid : made_) rmdir(SlotPath(uid).c_str());
}

std::string MemoryCgroups::SlotPath(uid_t uid) const {
  return absl::StrCat(parent_, "/", prefix_, uid);
}

absl::StatusOr<MemoryCgroups::Run> MemoryCgroups::PrepareRun(uid_t uid, int64_t limit_bytes) {
  const std::string dir = SlotPath(uid);
  {
    absl::MutexLock lock(&mu_);
    if (!made_.contains(uid)) {
      if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return absl::UnavailableError(
            absl::StrCat("cannot make the memory cgroup ", dir, ": ", strerror(errno)));
      }
      made_.insert(uid);
    }
  }
  const std::string limit = absl::StrCat(limit_bytes);
  if (v2_) {
    if (absl::Status status = WriteFile(dir + "/memory.max", limit); !status.ok()) return status;
    // Absent where the kernel has no swap accounting; then nothing can be swapped out anyway.
    if (access((dir + "/memory.swap.max").c_str(), F_OK) == 0) {
      if (absl::Status status = WriteFile(dir + "/memory.swap.max", "0"); !status.ok()) {
        return status;
      }
    }
  } else {
    // memory + swap may not be below memory alone: lift it, set memory, then tie it to memory.
    const bool has_swap_limit = access((dir + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0;
    if (has_swap_limit) {
      if (absl::Status status = WriteFile(dir + "/memory.memsw.limit_in_bytes", "-1");
          !status.ok()) {
        return status;
      }
    }
    if (absl::Status status = WriteFile(dir + "/memory.limit_in_bytes", limit); !status.ok()) {
      return status;
    }
    if (has_swap_limit) {
      if (absl::Status status = WriteFile(dir + "/memory.memsw.limit_in_bytes", limit);
          !status.ok()) {
        return status;
      }
    }
  }
  absl::StatusOr<int64_t> oom_kills = ReadOomKills(dir, v2_);
  if (!oom_kills.ok()) return oom_kills.status();
  int fd = open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", dir, "/cgroup.procs: ", strerror(errno)));
  }
  return Run{fd, *oom_kills};
}

absl::StatusOr<int64_t> MemoryCgroups::OomKills(uid_t uid) const {
  return ReadOomKills(SlotPath(uid), v2_);
}

}  // namespace ponder::verifiers::sandbox
