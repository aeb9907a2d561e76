// One launch of a command in the code sandbox (internal to verifiers/code): puts the layers
// together, supervises the run and tears it down.
//
// The process tree, outside to inside:
//   our thread -> clone(CLONE_VM|CLONE_VFORK) child: joins the slot's memory cgroup (if any),
//   drops to the slot uid/gid, sets the rlimits and PR_SET_PDEATHSIG, execs bubblewrap ->
//   bubblewrap (monitor, slot uid) -> the command as PID 1 of the new namespaces, under the seccomp
//   filter -> whatever the command starts.
// File descriptors inside: 0 stdin (LaunchSpec::stdin_data then EOF), 1 stdout, 2 stderr, 3 the
// verdict channel (write end), 4 the lifeline (read end of a pipe whose only write end we hold
// until the launch returns: EOF there means we are gone); nothing else is inherited.
//
// Supervision (poll on the pipes and a pidfd of bubblewrap): stdout and stderr are read as they
// come and the run is killed when together they exceed the output cap; the channel is handed to
// a ChannelObserver, and once it reports a complete verdict the run gets a short grace to exit
// and is then killed; at the wall-clock deadline it is killed. Killing sends SIGKILL through a
// pidfd to the command (PID 1 of its namespace, so the kernel kills the rest of the namespace)
// and then to bubblewrap; bubblewrap's --die-with-parent also ends it all if we die. It does not
// cover our death while bubblewrap is still setting the sandbox up (its child sets the parent-death
// signal only right before exec), which is what the lifeline is for: the driver exits when it
// reads EOF there.
#ifndef PONDER_VERIFIERS_CODE_SANDBOX_LAUNCH_H_
#define PONDER_VERIFIERS_CODE_SANDBOX_LAUNCH_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers::sandbox {

// The fds the verdict channel and the lifeline have inside the sandbox.
inline constexpr int kChannelFd = 3;
inline constexpr int kLifelineFd = 4;

struct LaunchSpec {
  std::vector<std::string> command;  // absolute path first
  // Read-only files inside the sandbox: (path, content).
  std::vector<std::pair<std::string, std::string>> files;
  std::string stdin_data;                // at most kMaxStdinBytes; the command then sees EOF
  std::vector<std::string> environment;  // "NAME=value"
  SandboxLimits limits;
  int64_t channel_bytes = int64_t{1} << 20;  // the run is killed when the channel carries more
  // cgroup.procs of the slot's memory cgroup (sandbox_cgroup.h), which the process that becomes
  // bubblewrap joins while still root; -1: none, and the rlimits are those for a run without one
  // (RlimitsFor).
  int memory_cgroup_procs_fd = -1;
  // Tests of the layers underneath turn the filter off; nothing else does.
  bool install_seccomp = true;
};
inline constexpr size_t kMaxStdinBytes = 4096;

// Fed with the verdict channel's bytes as they arrive.
class ChannelObserver {
 public:
  virtual ~ChannelObserver() = default;
  virtual void OnData(std::string_view bytes) = 0;
  // True once the verdict is complete; the run is then wound up.
  virtual bool Complete() const = 0;
};

struct LaunchOutcome {
  bool child_started = false;  // bubblewrap created the namespaces and reported the child's pid
  bool timed_out = false;
  bool output_exceeded = false;
  bool channel_exceeded = false;
  bool channel_complete = false;
  // The command's exit code as bubblewrap reports it (128 + n when killed by signal n); -1 when
  // bubblewrap reported none: it reports one only for a command that it finished setting up and
  // executed, so -1 after child_started means the setup failed (or bubblewrap was killed).
  int exit_code = -1;
  int bwrap_wait_status = 0;  // from wait4
  // Set by the caller: the OOM killer killed a process of the run's memory cgroup.
  bool memory_exceeded = false;
  std::string stdout_text;  // capped at the output limit (stdout + stderr together)
  std::string stderr_text;
  std::string json_status;
  CodeRunCost cost;
};

// Runs `spec` as `uid` (the caller holds that slot). A non-OK status means the launch itself
// could not be set up on our side (pipes, the seccomp program, switching to the uid, executing
// bubblewrap); the caller reports it as the sandbox being unavailable. `observer` may be null.
absl::StatusOr<LaunchOutcome> LaunchInSandbox(const SandboxConfig& config, uid_t uid,
                                              const LaunchSpec& spec, ChannelObserver* observer);

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_SANDBOX_LAUNCH_H_
