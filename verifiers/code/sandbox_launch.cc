#include "verifiers/code/sandbox_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "verifiers/code/sandbox_bwrap.h"
#include "verifiers/code/sandbox_rlimits.h"
#include "verifiers/code/sandbox_seccomp.h"
#include "verifiers/code/sandbox_slots.h"

namespace ponder::verifiers::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPeakSampleInterval = std::chrono::milliseconds(100);

// --- Spawning bubblewrap as the slot uid ------------------------------------------------------
//
// The child is made the way posix_spawn makes it (clone with CLONE_VM | CLONE_VFORK): no copy of
// a possibly large parent's page tables, and the parent thread sleeps until the child has exec'd.
// The child shares our memory, so it only runs raw system calls on data prepared beforehand, and
// switches uid with the raw setresuid: glibc's wrapper would broadcast the change to the threads
// of the process whose memory it shares, i.e. ours.

constexpr int kMaxChildFds = 16;
constexpr int kMaxChildLimits = 16;
constexpr size_t kChildStackBytes = 64 * 1024;

enum ChildStep : int {
  kStepNone = 0,
  kStepMemoryCgroup,
  kStepDuplicateFds,
  kStepCloseFds,
  kStepSetsid,
  kStepSetgroups,
  kStepSetgid,
  kStepSetuid,
  kStepRlimit,
  kStepParentDeathSignal,
  kStepParentGone,
  kStepChdir,
  kStepSignalMask,
  kStepExec,
};

const char* ChildStepName(int step) {
  switch (step) {
    case kStepMemoryCgroup:
      return "joining the slot's memory cgroup";
    case kStepDuplicateFds:
      return "arranging file descriptors";
    case kStepCloseFds:
      return "closing inherited file descriptors";
    case kStepSetsid:
      return "setsid";
    case kStepSetgroups:
      return "dropping supplementary groups (needs root)";
    case kStepSetgid:
      return "switching to the sandbox gid (needs root)";
    case kStepSetuid:
      return "switching to the sandbox uid (needs root)";
    case kStepRlimit:
      return "setting rlimits";
    case kStepParentDeathSignal:
      return "PR_SET_PDEATHSIG";
    case kStepParentGone:
      return "checking the parent";
    case kStepChdir:
      return "chdir /";
    case kStepSignalMask:
      return "restoring the signal mask";
    case kStepExec:
      return "executing bubblewrap";
    default:
      return "unknown step";
  }
}

struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int fd_sources[kMaxChildFds] = {};  // the child's fd i becomes a copy of fd_sources[i]
  int fd_count = 0;
  int memory_cgroup_procs_fd = -1;  // written "0" (this process) before the fds are rearranged
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t parent_pid = 0;
  RlimitSetting limits[kMaxChildLimits] = {};
  int limit_count = 0;
  volatile int failed_step = kStepNone;  // written by the child when it gives up
  volatile int failed_errno = 0;
};

// The kernel's struct sigaction (the libc one differs in layout).
struct KernelSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

#define PONDER_CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

PONDER_CHILD_CODE int ChildFail(ChildPlan* plan, int step) {
  plan->failed_errno = errno;
  plan->failed_step = step;
  syscall(SYS_exit_group, 127);
  return 127;
}

PONDER_CHILD_CODE int ChildMain(void* arg) {
  ChildPlan* plan = static_cast<ChildPlan*>(arg);
  // Our signal handlers must not run in this child: back to the defaults (the mask inherited
  // from the parent blocks everything until the end).
  KernelSigaction default_action = {};
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &default_action, nullptr, sizeof(uint64_t));
  }
  // As root and before close_range, which closes the descriptor; bubblewrap and everything it
  // starts inherit the cgroup.
  if (plan->memory_cgroup_procs_fd >= 0 &&
      syscall(SYS_write, plan->memory_cgroup_procs_fd, "0", 1) != 1) {
    return ChildFail(plan, kStepMemoryCgroup);
  }
  int moved[kMaxChildFds];
  for (int i = 0; i < plan->fd_count; ++i) {
    moved[i] =
        static_cast<int>(syscall(SYS_fcntl, plan->fd_sources[i], F_DUPFD_CLOEXEC, kMaxChildFds));
    if (moved[i] < 0) return ChildFail(plan, kStepDuplicateFds);
  }
  for (int i = 0; i < plan->fd_count; ++i) {
    if (syscall(SYS_dup3, moved[i], i, 0) < 0) return ChildFail(plan, kStepDuplicateFds);
  }
  if (syscall(SYS_close_range, plan->fd_count, ~0U, 0) < 0) {
    return ChildFail(plan, kStepCloseFds);
  }
  if (syscall(SYS_setsid) < 0) return ChildFail(plan, kStepSetsid);
  if (syscall(SYS_setgroups, 0, nullptr) < 0) return ChildFail(plan, kStepSetgroups);
  if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) < 0) {
    return ChildFail(plan, kStepSetgid);
  }
  if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) < 0) {
    return ChildFail(plan, kStepSetuid);
  }
  for (int i = 0; i < plan->limit_count; ++i) {
    struct rlimit limit = {plan->limits[i].soft, plan->limits[i].hard};
    if (syscall(SYS_prlimit64, 0, plan->limits[i].resource, &limit, nullptr) < 0) {
      return ChildFail(plan, kStepRlimit);
    }
  }
  // After the uid change, which clears the parent-death signal.
  if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
    return ChildFail(plan, kStepParentDeathSignal);
  }
  if (syscall(SYS_getppid) != plan->parent_pid) {
    errno = ESRCH;
    return ChildFail(plan, kStepParentGone);
  }
  if (syscall(SYS_chdir, "/") < 0) return ChildFail(plan, kStepChdir);
  uint64_t empty_mask = 0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, sizeof(uint64_t)) < 0) {
    return ChildFail(plan, kStepSignalMask);
  }
  syscall(SYS_execve, plan->path, plan->argv, plan->envp);
  return ChildFail(plan, kStepExec);
}

struct SpawnedChild {
  pid_t pid = -1;
  int pidfd = -1;
};

absl::StatusOr<SpawnedChild> SpawnChild(ChildPlan& plan) {
  void* stack = mmap(nullptr, kChildStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("mmap for the spawn stack: ", strerror(errno)));
  }
  sigset_t all_signals, previous;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_SETMASK, &all_signals, &previous);
  plan.parent_pid = getpid();
  int pidfd = -1;
  pid_t pid = clone(ChildMain, static_cast<char*>(stack) + kChildStackBytes,
                    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &plan, &pidfd);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  munmap(stack, kChildStackBytes);
  if (pid < 0) {
    return absl::ResourceExhaustedError(absl::StrCat("clone: ", strerror(clone_errno)));
  }
  if (plan.failed_step != kStepNone) {
    int status = 0;
    waitpid(pid, &status, 0);
    close(pidfd);
    return absl::UnavailableError(absl::StrCat(ChildStepName(plan.failed_step), " as uid ",
                                               plan.uid, " failed: ", strerror(plan.failed_errno)));
  }
  return SpawnedChild{pid, pidfd};
}

// --- Descriptors ----------------------------------------------------------------------------

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

absl::StatusOr<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

absl::StatusOr<UniqueFd> MemfdWith(std::string_view name, std::string_view content) {
  UniqueFd fd(memfd_create(std::string(name).c_str(), MFD_CLOEXEC));
  if (fd.get() < 0)
    return absl::ResourceExhaustedError(absl::StrCat("memfd_create: ", strerror(errno)));
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return absl::ResourceExhaustedError(absl::StrCat("writing a memfd: ", strerror(errno)));
    written += static_cast<size_t>(n);
  }
  if (lseek(fd.get(), 0, SEEK_SET) != 0) {
    return absl::InternalError(absl::StrCat("lseek on a memfd: ", strerror(errno)));
  }
  return fd;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
void PidfdKill(int pidfd) {
  if (pidfd >= 0) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

bool PidfdExited(int pidfd, int timeout_ms) {
  pollfd entry = {pidfd, POLLIN, 0};
  return poll(&entry, 1, timeout_ms) > 0;
}

// --- Supervision ----------------------------------------------------------------------------

// Reads from a non-blocking pipe what is there; false at EOF or on an error.
bool ReadAvailable(int fd, std::string& into, int64_t keep_up_to, int64_t& total) {
  char buffer[65536];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n > 0) {
      total += n;
      int64_t room = keep_up_to - static_cast<int64_t>(into.size());
      if (room > 0) into.append(buffer, static_cast<size_t>(std::min<int64_t>(room, n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

// Reads the child's pid from bubblewrap's first JSON status line.
std::optional<pid_t> ChildPidFromStatus(std::string_view json_status) {
  size_t end = json_status.find('\n');
  if (end == std::string_view::npos) return std::nullopt;
  nlohmann::json line = nlohmann::json::parse(json_status.substr(0, end), nullptr, false);
  if (!line.is_object() || !line.contains("child-pid") || !line["child-pid"].is_number_integer()) {
    return std::nullopt;
  }
  return line["child-pid"].get<pid_t>();
}

int ExitCodeFromStatus(std::string_view json_status) {
  size_t start = 0;
  int code = -1;
  while (start < json_status.size()) {
    size_t end = json_status.find('\n', start);
    if (end == std::string_view::npos) end = json_status.size();
    nlohmann::json line =
        nlohmann::json::parse(json_status.substr(start, end - start), nullptr, false);
    if (line.is_object() && line.contains("exit-code") && line["exit-code"].is_number_integer()) {
      code = line["exit-code"].get<int>();
    }
    start = end + 1;
  }
  return code;
}

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec * 1e-6; }

std::vector<char*> PointersTo(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Watches one running sandbox until it is over: reads the pipes within their caps, feeds the
// channel observer, samples the command's memory, and kills the sandbox at the deadline, on a
// cap, or shortly after a complete verdict.
class Supervisor {
 public:
  enum Stream { kStdout, kStderr, kChannel, kStatus, kBwrap, kStreams };

  Supervisor(const LaunchSpec& spec, uid_t uid, ChannelObserver* observer, int bwrap_pidfd,
             std::array<int, kBwrap> pipes)
      : spec_(spec), uid_(uid), observer_(observer), bwrap_pidfd_(bwrap_pidfd) {
    for (int i = kStdout; i < kBwrap; ++i) {
      fds_[i] = {pipes[i], POLLIN, 0};
      fcntl(pipes[i], F_SETFL, O_NONBLOCK);
    }
    fds_[kBwrap] = {bwrap_pidfd, POLLIN, 0};
  }

  // Returns once bubblewrap has exited (it is not reaped yet) and the pipes are drained.
  LaunchOutcome Run(Clock::time_point start) {
    const Clock::time_point deadline =
        start + std::chrono::microseconds(static_cast<int64_t>(spec_.limits.timeout_seconds * 1e6));
    std::optional<Clock::time_point> wind_up_by;  // set once the verdict is complete
    bool bwrap_exited = false;
    while (!bwrap_exited && !kill_now_) {
      Clock::time_point now = Clock::now();
      if (now >= deadline) {
        outcome_.timed_out = true;
        break;
      }
      if (wind_up_by && now >= *wind_up_by) break;
      if (now - last_sample_ >= kPeakSampleInterval) SamplePeak();
      Clock::time_point until = wind_up_by ? std::min(deadline, *wind_up_by) : deadline;
      until = std::min(until, last_sample_ + kPeakSampleInterval);
      int timeout_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1);
      int ready = poll(fds_, kStreams, timeout_ms);
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      Service();
      if (fds_[kBwrap].revents & POLLIN) bwrap_exited = true;
      if (observer_ != nullptr && observer_->Complete() && !wind_up_by) {
        outcome_.channel_complete = true;
        SamplePeak();
        // The driver exits right after its last verdict; give it a moment to do so by itself.
        wind_up_by = Clock::now() + std::chrono::milliseconds(500);
      }
    }
    if (!bwrap_exited) {
      SamplePeak();
      // PID 1 of the namespace first, so that bubblewrap still reaps it and reports; then
      // bubblewrap itself if it lingers. Before bubblewrap reported PID 1 (a timeout shorter
      // than the start-up), bubblewrap at once: waiting would let the command run on.
      if (fds_[kStatus].fd >= 0 && !ReadStatus()) fds_[kStatus].fd = -1;
      PidfdKill(child_pidfd_.get());
      if (child_pidfd_.get() < 0 || !PidfdExited(bwrap_pidfd_, 2000)) PidfdKill(bwrap_pidfd_);
    }
    Drain();
    if (observer_ != nullptr && observer_->Complete()) outcome_.channel_complete = true;
    return std::move(outcome_);
  }

 private:
  // What is still in the pipes. The write ends close when the namespace is gone; a bound keeps
  // us from waiting on a process we cannot see.
  void Drain() {
    const Clock::time_point drain_until = Clock::now() + std::chrono::seconds(2);
    fds_[kBwrap].fd = -1;
    while (Clock::now() < drain_until &&
           std::any_of(fds_, fds_ + kBwrap, [](const pollfd& p) { return p.fd >= 0; })) {
      if (poll(fds_, kStreams, 50) > 0) Service();
    }
  }

  // Reads every ready pipe; sets kill_now_ when a cap was exceeded.
  void Service() {
    for (int i = kStdout; i < kBwrap; ++i) {
      if (fds_[i].fd < 0 || (fds_[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      bool open = true;
      switch (i) {
        case kStdout:
        case kStderr:
          open = ReadOutput(i);
          break;
        case kChannel:
          open = ReadChannel();
          break;
        case kStatus:
          open = ReadStatus();
          break;
      }
      if (!open) fds_[i].fd = -1;
    }
  }

  // stdout and stderr share one cap; what is beyond it is read and dropped, and ends the run.
  bool ReadOutput(int stream) {
    std::string& text = stream == kStdout ? outcome_.stdout_text : outcome_.stderr_text;
    const int64_t kept =
        static_cast<int64_t>(outcome_.stdout_text.size() + outcome_.stderr_text.size());
    const int64_t room = spec_.limits.output_bytes - kept;
    bool open = ReadAvailable(fds_[stream].fd, text, static_cast<int64_t>(text.size()) + room,
                              output_total_);
    if (output_total_ > spec_.limits.output_bytes) {
      outcome_.output_exceeded = true;
      kill_now_ = true;
    }
    return open;
  }

  bool ReadChannel() {
    std::string chunk;
    bool open = ReadAvailable(fds_[kChannel].fd, chunk, spec_.channel_bytes + 1, channel_total_);
    if (channel_total_ > spec_.channel_bytes) {
      outcome_.channel_exceeded = true;
      kill_now_ = true;
    } else if (observer_ != nullptr && !chunk.empty()) {
      observer_->OnData(chunk);
    }
    return open;
  }

  bool ReadStatus() {
    bool open = ReadAvailable(fds_[kStatus].fd, outcome_.json_status, 65536, status_total_);
    if (child_pid_ == 0) {
      if (std::optional<pid_t> pid = ChildPidFromStatus(outcome_.json_status)) {
        outcome_.child_started = true;
        child_pidfd_.Reset(PidfdOpen(*pid));
        // The pid was read after the fact: make sure it is still our child and not a recycled
        // pid before we ever signal it.
        if (child_pidfd_.get() >= 0 && ProcessHasUid(*pid, uid_)) {
          child_pid_ = *pid;
        } else {
          child_pidfd_.Reset();
          child_pid_ = -1;
        }
      }
    }
    return open;
  }

  // The command's peak resident set only grows, so sampling now and then and right before the
  // end catches it, unless the command dies of a spike between two samples.
  void SamplePeak() {
    last_sample_ = Clock::now();
    if (child_pid_ <= 0) return;
    outcome_.cost.peak_rss_bytes =
        std::max(outcome_.cost.peak_rss_bytes, PeakResidentBytes(child_pid_, uid_));
  }

  const LaunchSpec& spec_;
  const uid_t uid_;
  ChannelObserver* const observer_;
  const int bwrap_pidfd_;
  pollfd fds_[kStreams];
  LaunchOutcome outcome_;
  int64_t output_total_ = 0;  // stdout + stderr, kept or not
  int64_t channel_total_ = 0;
  int64_t status_total_ = 0;
  pid_t child_pid_ = 0;  // the command (PID 1 inside), once bubblewrap reported it
  UniqueFd child_pidfd_;
  Clock::time_point last_sample_;
  bool kill_now_ = false;
};

}  // namespace

absl::StatusOr<LaunchOutcome> LaunchInSandbox(const SandboxConfig& config, uid_t uid,
                                              const LaunchSpec& spec, ChannelObserver* observer) {
  if (spec.stdin_data.size() > kMaxStdinBytes) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox stdin is limited to ", kMaxStdinBytes,
                                                   " bytes, got ", spec.stdin_data.size()));
  }
  // Descriptors the child gets, in order: 0 stdin, 1 stdout, 2 stderr, 3 channel, 4 lifeline,
  // 5 bubblewrap's JSON status, then the seccomp program and the data files.
  PONDER_ASSIGN_OR_RETURN(Pipe stdin_pipe, MakePipe());
  PONDER_ASSIGN_OR_RETURN(Pipe stdout_pipe, MakePipe());
  PONDER_ASSIGN_OR_RETURN(Pipe stderr_pipe, MakePipe());
  PONDER_ASSIGN_OR_RETURN(Pipe channel_pipe, MakePipe());
  PONDER_ASSIGN_OR_RETURN(Pipe lifeline_pipe, MakePipe());
  PONDER_ASSIGN_OR_RETURN(Pipe status_pipe, MakePipe());
  std::vector<UniqueFd> extra_fds;  // seccomp, files
  ChildPlan plan;
  plan.fd_sources[0] = stdin_pipe.read_end.get();
  plan.fd_sources[1] = stdout_pipe.write_end.get();
  plan.fd_sources[2] = stderr_pipe.write_end.get();
  plan.fd_sources[kChannelFd] = channel_pipe.write_end.get();
  plan.fd_sources[kLifelineFd] = lifeline_pipe.read_end.get();
  constexpr int kStatusFd = 5;
  plan.fd_sources[kStatusFd] = status_pipe.write_end.get();
  plan.fd_count = 6;

  BwrapInvocation invocation;
  invocation.bwrap_path = config.bwrap_path;
  invocation.uid = uid;
  invocation.gid = static_cast<gid_t>(uid);
  invocation.read_only_paths = config.read_only_paths;
  invocation.root_entries = HostRootEntries();
  invocation.tmpfs_bytes = spec.limits.tmpfs_bytes;
  invocation.json_status_fd = kStatusFd;
  invocation.command = spec.command;
  if (spec.install_seccomp) {
    PONDER_ASSIGN_OR_RETURN(std::vector<uint8_t> program, SeccompFilterProgram());
    PONDER_ASSIGN_OR_RETURN(
        UniqueFd fd,
        MemfdWith("ponder-seccomp",
                  std::string_view(reinterpret_cast<const char*>(program.data()), program.size())));
    invocation.seccomp_fd = plan.fd_count;
    plan.fd_sources[plan.fd_count++] = fd.get();
    extra_fds.push_back(std::move(fd));
  }
  if (spec.files.size() > static_cast<size_t>(kMaxChildFds - plan.fd_count)) {
    return absl::InvalidArgumentError(absl::StrCat("too many sandbox files: ", spec.files.size()));
  }
  for (const auto& [path, content] : spec.files) {
    PONDER_ASSIGN_OR_RETURN(UniqueFd fd, MemfdWith("ponder-file", content));
    invocation.files.push_back({plan.fd_count, path});
    plan.fd_sources[plan.fd_count++] = fd.get();
    extra_fds.push_back(std::move(fd));
  }

  plan.memory_cgroup_procs_fd = spec.memory_cgroup_procs_fd;
  std::vector<RlimitSetting> limits =
      RlimitsFor(spec.limits, /*memory_cgroup=*/spec.memory_cgroup_procs_fd >= 0);
  plan.limit_count = static_cast<int>(std::min<size_t>(limits.size(), kMaxChildLimits));
  std::copy_n(limits.begin(), plan.limit_count, plan.limits);
  plan.uid = uid;
  plan.gid = static_cast<gid_t>(uid);
  std::vector<std::string> argv_strings = BwrapArgv(invocation);
  std::vector<std::string> env_strings = spec.environment;
  std::vector<char*> argv = PointersTo(argv_strings);
  std::vector<char*> envp = PointersTo(env_strings);
  plan.path = config.bwrap_path.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();

  // The stdin data fits the pipe buffer, so this never blocks; EOF follows.
  if (!spec.stdin_data.empty() &&
      write(stdin_pipe.write_end.get(), spec.stdin_data.data(), spec.stdin_data.size()) !=
          static_cast<ssize_t>(spec.stdin_data.size())) {
    return absl::InternalError(absl::StrCat("writing the sandbox stdin: ", strerror(errno)));
  }
  stdin_pipe.write_end.Reset();

  const Clock::time_point start = Clock::now();
  PONDER_ASSIGN_OR_RETURN(SpawnedChild bwrap, SpawnChild(plan));
  UniqueFd bwrap_pidfd(bwrap.pidfd);
  // Only the child keeps these ends now; EOF on the read ends means the sandbox is gone.
  stdin_pipe.read_end.Reset();
  stdout_pipe.write_end.Reset();
  stderr_pipe.write_end.Reset();
  channel_pipe.write_end.Reset();
  lifeline_pipe.read_end.Reset();  // the write end stays open until we return
  status_pipe.write_end.Reset();
  extra_fds.clear();

  Supervisor supervisor(spec, uid, observer, bwrap_pidfd.get(),
                        {stdout_pipe.read_end.get(), stderr_pipe.read_end.get(),
                         channel_pipe.read_end.get(), status_pipe.read_end.get()});
  LaunchOutcome outcome = supervisor.Run(start);
  rusage usage = {};
  int wait_status = 0;
  while (wait4(bwrap.pid, &wait_status, 0, &usage) < 0 && errno == EINTR) {
  }
  outcome.cost.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // bubblewrap's own time and that of the processes it reaped, the command first of all.
  outcome.cost.cpu_seconds = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
  outcome.bwrap_wait_status = wait_status;
  outcome.exit_code = ExitCodeFromStatus(outcome.json_status);
  return outcome;
}

}  // namespace ponder::verifiers::sandbox
