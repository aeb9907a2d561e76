// sandbox_bench: what the code sandbox costs per candidate, against a plain fork/exec of the same
// interpreter, measured in the same run and printed side by side.
//
//   <build>/bin/sandbox_bench [--runs 50] [--parallel 0]
//
// Rows, each run sequentially `runs` times after a short warm-up:
//   plain: python3 -c pass          posix_spawn + wait of the bare interpreter (the baseline)
//   plain: program + test           the same interpreter running a small program and its assert
//   sandbox: python3 -c pass        every layer (uid switch, rlimits, bubblewrap namespaces and
//                                   mounts, seccomp), no verdict driver
//   sandbox: verified candidate     CodeSandbox::Run end to end: the above plus the driver, the
//                                   nonce channel, judging and the slot sweep
// and the throughput of the parallel pool on the same candidate.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "verifiers/code/code_verifier.h"
#include "verifiers/code/sandbox_launch.h"
#include "verifiers/code/sandbox_slots.h"

extern char** environ;

namespace ponder::bench {
namespace {

using Clock = std::chrono::steady_clock;
using verifiers::CodeRunRequest;
using verifiers::CodeRunStatus;
using verifiers::CodeSandbox;

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kProgram[] = "def add(a, b):\n    return a + b\n";
constexpr char kTest[] = "assert add(2, 3) == 5\n";

struct Row {
  std::string name;
  std::vector<double> milliseconds;
  bool ok = true;
};

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// Times `once` (which returns false on a failed run) `runs` times after `warmup` untimed runs.
Row Measure(std::string name, int runs, int warmup, const std::function<bool()>& once) {
  Row row{std::move(name), {}, true};
  for (int i = 0; i < warmup; ++i) row.ok &= once();
  for (int i = 0; i < runs; ++i) {
    Clock::time_point start = Clock::now();
    row.ok &= once();
    row.milliseconds.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  return row;
}

bool SpawnAndWait(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return false;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void Print(const std::vector<Row>& rows) {
  const double baseline = Percentile(rows[0].milliseconds, 0.5);
  absl::PrintF("%-34s %6s %9s %9s %9s %9s %10s\n", "variant", "runs", "mean ms", "p50 ms", "p90 ms",
               "min ms", "p50/plain");
  for (const Row& row : rows) {
    if (row.milliseconds.empty()) continue;
    double mean = std::accumulate(row.milliseconds.begin(), row.milliseconds.end(), 0.0) /
                  static_cast<double>(row.milliseconds.size());
    double p50 = Percentile(row.milliseconds, 0.5);
    absl::PrintF("%-34s %6d %9.2f %9.2f %9.2f %9.2f %9.2fx%s\n", row.name,
                 static_cast<int>(row.milliseconds.size()), mean, p50,
                 Percentile(row.milliseconds, 0.9),
                 *std::min_element(row.milliseconds.begin(), row.milliseconds.end()),
                 p50 / baseline, row.ok ? "" : "  (some runs failed)");
  }
}

int Main(std::span<char* const> args) {
  int64_t runs = 50;
  int64_t parallel = 0;
  FlagParser flags("sandbox_bench [--runs N] [--parallel N]");
  flags.AddInt("runs", &runs, "timed runs per variant");
  flags.AddInt("parallel", &parallel, "pool workers for the throughput line (0: one per core)");
  if (absl::Status status = flags.Parse(args); !status.ok()) {
    return ExitCodeFor("sandbox_bench", status);  // --help: 0; an error: its line, the usage
  }
  runs = std::max<int64_t>(runs, 1);
  const int warmup = 3;

  verifiers::SandboxConfig config;
  config.uid_base = 61800;  // a range of its own, away from the default and the tests
  config.slot_count = 16;
  CodeSandbox sandbox(config);
  absl::Status available = sandbox.CheckAvailable();

  std::vector<Row> rows;
  rows.push_back(Measure("plain: python3 -c pass", static_cast<int>(runs), warmup, [] {
    return SpawnAndWait({kPython, "-I", "-B", "-c", "pass"});
  }));
  rows.push_back(Measure("plain: program + test", static_cast<int>(runs), warmup, [] {
    return SpawnAndWait({kPython, "-I", "-B", "-c", std::string(kProgram) + kTest});
  }));
  if (!available.ok()) {
    Print(rows);
    absl::PrintF("\nsandbox rows skipped: %s\n", available.message());
    return 0;
  }
  verifiers::sandbox::SlotAllocator slots(config.uid_base, config.slot_count, config.lock_dir);
  rows.push_back(Measure("sandbox: python3 -c pass", static_cast<int>(runs), warmup, [&] {
    absl::StatusOr<verifiers::sandbox::SlotLease> lease = slots.Acquire(absl::Seconds(60));
    if (!lease.ok()) return false;
    verifiers::sandbox::LaunchSpec spec;
    spec.command = {kPython, "-I", "-B", "-c", "pass"};
    absl::StatusOr<verifiers::sandbox::LaunchOutcome> outcome =
        verifiers::sandbox::LaunchInSandbox(config, lease->uid(), spec, nullptr);
    return outcome.ok() && outcome->exit_code == 0;
  }));
  CodeRunRequest request;
  request.program = kProgram;
  request.test_code = kTest;
  double cpu_seconds = 0;
  rows.push_back(Measure("sandbox: verified candidate", static_cast<int>(runs), warmup, [&] {
    verifiers::CodeRunResult result = sandbox.Run(request);
    cpu_seconds += result.cost.cpu_seconds;
    return result.status == CodeRunStatus::kPassed;
  }));
  Print(rows);

  // Throughput: the same candidate through the pool, against plain spawns on as many threads.
  verifiers::CodeVerifierPool pool(&sandbox, static_cast<int>(parallel));
  const int batch = static_cast<int>(runs) * pool.parallelism();
  std::vector<CodeRunRequest> requests(static_cast<size_t>(batch), request);
  Clock::time_point start = Clock::now();
  std::vector<verifiers::CodeRunResult> results = pool.RunAll(requests);
  double pool_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  int passed = static_cast<int>(std::count_if(results.begin(), results.end(), [](const auto& r) {
    return r.status == CodeRunStatus::kPassed;
  }));
  start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < pool.parallelism(); ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < runs; ++i) {
        SpawnAndWait({kPython, "-I", "-B", "-c", std::string(kProgram) + kTest});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  double plain_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  absl::PrintF(
      "\nthroughput with %d workers: sandbox %.1f candidates/s (%d/%d passed), plain "
      "program + test %.1f runs/s\n",
      pool.parallelism(), batch / pool_seconds, passed, batch, batch / plain_seconds);
  absl::PrintF("sandbox CPU per verified candidate (interpreter + driver, from wait4): %.2f ms\n",
               1000 * cpu_seconds / static_cast<double>(runs + warmup));
  return 0;
}

}  // namespace
}  // namespace ponder::bench

int main(int argc, char** argv) {
  return ponder::bench::Main({argv + 1, static_cast<size_t>(argc - 1)});
}
