// Sandboxed unit-test verification of generated programs (DESIGN.md, "Verifiers: unit tests").
//
// Generated code is hostile until proven otherwise. The reference harnesses (human-eval's
// execution.py, evalplus, bigcode-evaluation-harness) run candidates inside a Python process
// guarded by monkey-patching; fork, file reads and the network all get through. Here every
// candidate runs in one launch of a sandbox built from independent layers:
//   1. bubblewrap namespaces: new user, PID, network, IPC, UTS and cgroup namespaces; the
//      candidate is PID 1 of its namespace, so the whole tree dies with it; a read-only view of
//      only the interpreter's directories (SandboxConfig::read_only_paths); a size-capped tmpfs
//      at /tmp is the only writable place; --die-with-parent, --cap-drop ALL, a new session.
//   2. a seccomp filter: sockets other than AF_UNIX, namespace, mount and ptrace calls and other
//      kernel attack surface are refused (verifiers/code/sandbox_seccomp.h lists them).
//   3. a memory cgroup per slot that bounds the run's memory (SandboxLimits::memory_bytes), where
//      the host has one, and rlimits on CPU time, address space, file size, open files and
//      processes; without a memory cgroup the product of address space and processes is what
//      bounds the run's memory.
//   4. one unprivileged uid per concurrent slot (SandboxConfig::uid_base + slot), so the process
//      limit counts only that run's processes; bubblewrap itself starts as that uid.
//   5. a wall-clock timeout that kills the whole process tree, and a slot is reused only after
//      every process of its uid is gone.
//   6. stdout/stderr capped in size; verdicts come back on a separate channel, each line tagged
//      with a per-run nonce that the candidate never sees in its output, so printing a fake
//      verdict does nothing. Outputs of input/output cases are compared here, not in the sandbox.
// A layer that cannot be set up yields kSandboxUnavailable with the reason, never a pass or a
// fail. Requires root (to switch to the slot uids) and user namespaces; the uids
// [uid_base, uid_base + slot_count), by default 60000-60063, must belong to nobody else: their
// processes are killed. Costs per candidate: bench/sandbox/sandbox_bench.cc.
//
// What the nonce does not cover: test code (HumanEval's check(), MBPP's asserts) necessarily runs
// in the candidate's interpreter, so a candidate that introspects that interpreter can still game
// in-process tests, as with every harness of this kind: by walking frames up to the driver's
// (sys._getframe reaches the tests and the reporter), by finding the driver's objects through
// the gc, by monkey-patching builtins the tests call, or with objects whose __eq__ always holds.
// The driver binds what it runs the tests and reports with (exec, compile, os.write, its JSON
// encoder) in locals and closures before the program runs, and takes its own module out of
// sys.modules, so replacing a builtin or a driver global neither skips a test nor forges a
// verdict.
// Input/output cases and program-of-thought answers do not have this weakness: the candidate runs
// in a separate process and its output is judged here.
#ifndef PONDER_VERIFIERS_CODE_CODE_VERIFIER_H_
#define PONDER_VERIFIERS_CODE_CODE_VERIFIER_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ponder::verifiers {

enum class CodeRunStatus {
  kPassed,              // every test passed
  kFailed,              // the program ran and at least one test did not pass (incl. exceptions)
  kTimeout,             // the wall-clock limit (or the CPU-time backstop) ended the run
  kError,               // the run ended without a complete verdict: crash, kill by a limit,
                        // output cap, early exit, tampered verdict channel, or a bad request
  kSandboxUnavailable,  // a sandbox layer could not be set up; says nothing about the program
};
inline constexpr int kCodeRunStatusCount = 5;

// "passed", "failed", "timeout", "error", "sandbox_unavailable".
std::string_view CodeRunStatusName(CodeRunStatus status);

// Resource use of one launch, measured outside the sandbox.
struct CodeRunCost {
  double wall_seconds = 0;  // from spawn to the end of teardown
  // user + system time of the sandbox processes that were reaped (the interpreter and the
  // children it waited for); processes killed at teardown contribute nothing.
  double cpu_seconds = 0;
  // Largest resident set of one process: the interpreter's, sampled from outside every 100 ms
  // and before a kill, or that or a waited-for child's as the driver reports at the end of a
  // complete run. A statistic, not a limit (SandboxLimits::memory_bytes is the limit).
  int64_t peak_rss_bytes = 0;
};

struct SandboxLimits {
  // Wall clock for the whole launch, interpreter start included: a run that spends it starting
  // (a timeout below about 0.1 s, or a very loaded host) ends as kTimeout.
  double timeout_seconds = 5;
  // RLIMIT_CPU per process; 0 means ceil(timeout_seconds) + 1, a backstop behind the wall clock.
  int cpu_seconds = 0;
  // The run's memory, all its processes together, as a memory cgroup counts it (anonymous and
  // shared memory, the writable /tmp's pages, page cache; no swap), where the host has a memory
  // cgroup we may use: cgroup v1's memory controller, or v2's delegated to us (each slot gets one:
  // verifiers/code/sandbox_cgroup.h). A run that needs more has a process killed by the kernel
  // and fails with "memory budget exceeded (N MiB)". Kernel memory such as AF_UNIX socket buffers
  // is charged to it too (cgroup v1 counted 506 MB of one run's 511 MB so); memfds and System V
  // shared memory are refused by the seccomp filter. Runs at once
  // are at most one per core per CodeVerifierPool, so a pool needs about cores * memory_bytes in
  // the worst case, and every other pool or process using the sandbox (a CLI run next to
  // ponderd) as much again. 2 GiB: several times what correct programs of these benchmarks use
  // (numpy and a few matrices, tables of millions of ints), and no more than hosts commonly have
  // per core.
  //
  // Without such a cgroup nothing counts the run's processes together and memory_bytes is not
  // enforced: RLIMIT_AS and RLIMIT_NPROC are then lowered to at most 256 MiB and 16
  // (sandbox_rlimits.h), so that the run's processes map at most 4 GiB, plus the /tmp tmpfs and
  // kernel buffers, which no rlimit counts (one process held 494 MB in AF_UNIX socket buffers, so
  // a run may hold several GB more). The price is correct programs that fail: numpy's BLAS spins until the timeout on a 300 x 300
  // matrix product, a list of five million ints is a MemoryError, and a program cannot run more
  // than about 12 threads.
  int64_t memory_bytes = int64_t{2} << 30;
  // RLIMIT_AS, of each process. It limits address space, which thread stacks, malloc arenas and
  // numpy reserve without touching, not memory used: 1 GiB leaves room for those.
  int64_t address_space_bytes = int64_t{1} << 30;
  int64_t file_size_bytes = int64_t{16} << 20;  // RLIMIT_FSIZE
  int64_t tmpfs_bytes = int64_t{64} << 20;      // size of the writable /tmp
  int open_files = 128;                         // RLIMIT_NOFILE
  // RLIMIT_NPROC, counted for the slot's uid: processes and threads, bubblewrap's monitor and
  // the driver (two, plus its lifeline thread) included. It stops fork bombs; the memory cgroup
  // bounds what the processes hold. 64 lets a ThreadPoolExecutor(max_workers=32) run.
  int processes = 64;
  // Cap on stdout + stderr of the launch (exceeding it ends the run as kError) and on the
  // stdout of each input/output case (exceeding it fails the case).
  int64_t output_bytes = int64_t{1} << 20;

  friend bool operator==(const SandboxLimits&, const SandboxLimits&) = default;
};

struct SandboxConfig {
  std::string bwrap_path = "/usr/bin/bwrap";
  std::string python_path = "/usr/bin/python3";
  // Host directories and files mounted read-only at the same place; missing ones are skipped.
  // /bin, /lib, /lib64 and /sbin are recreated as on the host (symlinks into /usr on merged-/usr
  // systems such as Debian 12, read-only binds otherwise). Nothing else of the host is visible.
  std::vector<std::string> read_only_paths = {"/usr/bin", "/usr/lib", "/usr/lib64",
                                              "/etc/ld.so.cache", "/etc/alternatives"};
  uid_t uid_base = 60000;  // slot i runs as uid (and gid) uid_base + i
  int slot_count = 64;
  // Holds one lock file per slot uid so that processes sharing a uid range never share a slot.
  std::string lock_dir = "/run/lock/ponder-sandbox";
  double slot_wait_seconds = 60;  // how long Run waits for a free slot before giving up
};

struct IoCase {
  std::string input;            // stdin of the program
  std::string expected_output;  // compared with stdout, ignoring trailing whitespace per line
                                // and trailing blank lines

  friend bool operator==(const IoCase&, const IoCase&) = default;
};

enum class CodeTestKind {
  kTestCode,          // Python test code runs after the program in the same interpreter
  kIoCases,           // the program runs once per case with the case's input on stdin
  kProgramOfThought,  // the program runs once; its last printed line must match an answer
};

struct CodeRunRequest {
  std::string language = "python";  // the only language so far
  std::string program;
  CodeTestKind kind = CodeTestKind::kTestCode;

  // kTestCode: either `tests` (each entry one test, e.g. MBPP's test_list; an entry that does
  // not compile fails as a test, and one that checks nothing, only comments, imports,
  // definitions or assignments, is an error naming it) after `test_setup`, or `test_code`, one
  // block. In a block with
  // a top-level assert, every top-level statement that checks something is one test: an
  // assert, a loop, a call such as check(f), a raise; anything but imports, definitions,
  // assignments and docstrings, which are setup for the tests after them, while statements
  // after the last test belong to it. A block without a top-level assert, such as HumanEval's
  // `check(entry_point)`, is a single test. A block that does not compile, or has no test in it
  // (only comments, imports, definitions, assignments), is an error. The program runs first,
  // as module "program" (registered in sys.modules), not as "__main__" (as in human-eval, which
  // exec()s it in a fresh dict): its `if __name__ == "__main__":` block does not run. The tests
  // then run in the program's globals with __name__ "__main__", so their main block does run.
  // A failing setup or program fails every test, and so does every exception a test raises,
  // SystemExit included: test code that ends in unittest.main() fails, whatever its TestCases
  // found (a rule that read their result was withdrawn: the program could call unittest.main()
  // itself, skip, or choose the TestCases it runs).
  std::string test_setup;
  std::vector<std::string> tests;
  std::string test_code;

  std::vector<IoCase> io_cases;  // kIoCases

  // kProgramOfThought (the program runs as a script, once, its main block included): the chain
  // of thought's answer (not blank). Numbers agree within 1e-6 relative; other answers must
  // match after trimming whitespace, a trailing period and surrounding $...$. nullopt: the program
  // only runs; it passes when it ends well, and the caller compares CodeRunResult::printed_answer
  // itself.
  std::optional<std::string> expected_answer;

  SandboxLimits limits;

  // Every field equal: the same launch (a cache of results keys on this, code_grader.h).
  friend bool operator==(const CodeRunRequest&, const CodeRunRequest&) = default;
};

struct CodeRunResult {
  CodeRunStatus status = CodeRunStatus::kError;
  int tests_passed = 0;
  int tests_total = 0;
  // kTestCode: the verdict of each test that reported, in test order (test i's at i; fewer
  // than tests_total when the run ended early), kept whatever ended the run but a tampered
  // verdict channel (none kept, none counts: a forged verdict may have come first). A request
  // whose tests begin with other tests gets those tests' verdicts here as a run of them alone
  // would (they run first, in the same interpreter); orchestrator/code_grader.h relies on it.
  std::vector<bool> test_verdicts;
  std::string detail;  // the first failing test, or why the run errored or was unavailable
  CodeRunCost cost;
  std::string stdout_text;  // what the launch printed (capped; input/output cases excluded)
  std::string stderr_text;
  // kProgramOfThought: the last line the program printed, when it exited normally within its
  // limits (whatever it is compared with); unset otherwise.
  std::optional<std::string> printed_answer;
  uid_t sandbox_uid = 0;  // the slot uid the run used; 0 when none was taken
};

// Runs candidates in the sandbox. Thread-safe: Run may be called from many threads at once, each
// call takes its own slot (waiting for one if all are busy) and blocks until the run is over and
// every process of the slot is gone.
class CodeSandbox {
 public:
  explicit CodeSandbox(SandboxConfig config = {});
  ~CodeSandbox();
  CodeSandbox(const CodeSandbox&) = delete;
  CodeSandbox& operator=(const CodeSandbox&) = delete;

  CodeRunResult Run(const CodeRunRequest& request) const;

  // OK when every layer can be set up on this host: the static checks (root, bubblewrap, the
  // interpreter, the seccomp filter, the slot range) pass and a trivial program runs and passes.
  // Otherwise kUnavailable (or kFailedPrecondition for a bad configuration) naming the layer.
  // The probe runs once; later calls return its result.
  absl::Status CheckAvailable() const;

  const SandboxConfig& config() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// HumanEval (Chen et al. 2021): the program is prompt + completion, the test is the problem's
// `test` followed by `check(entry_point)`, as in human-eval's execution.py.
struct HumanEvalProblem {
  std::string task_id;
  std::string prompt;
  std::string canonical_solution;
  std::string test;
  std::string entry_point;
};
CodeRunRequest HumanEvalRequest(const HumanEvalProblem& problem, std::string_view completion,
                                const SandboxLimits& limits = {});

// MBPP (Austin et al. 2021): the program is the candidate's code; test_setup_code runs after it
// and each entry of test_list is one test.
struct MbppProblem {
  int task_id = 0;
  std::string text;
  std::string code;  // the reference solution
  std::string test_setup_code;
  std::vector<std::string> test_list;
};
CodeRunRequest MbppRequest(const MbppProblem& problem, std::string_view program,
                           const SandboxLimits& limits = {});

CodeRunRequest IoCaseRequest(std::string_view program, std::vector<IoCase> cases,
                             const SandboxLimits& limits = {});

// Program of thought (Chen et al. 2022, "Program of Thoughts Prompting"): runs the generated
// program and compares the last line it prints with the chain of thought's answer.
CodeRunRequest ProgramOfThoughtRequest(std::string_view program, std::string_view cot_answer,
                                       const SandboxLimits& limits = {});

// One line of `ponder verify-code` input:
//   {"language": "python", "program": "...",
//    "tests": "python test code run after the program" (as test_code above: each top-level
//              assert, loop or call is one test)
//    | "test_cases": [{"input": "...", "expected_output": "..."}, ...],
//    "timeout_s": 5}
// "language" defaults to python and "timeout_s" to 5 (at most 600); exactly one of "tests" and
// "test_cases"; other fields are rejected. InvalidArgument names the offending field.
absl::StatusOr<CodeRunRequest> CodeRunRequestFromJson(std::string_view json_line);

// {"status": "passed|failed|timeout|error|sandbox_unavailable", "tests_passed": n,
//  "tests_total": m, "detail": "..."} on one line; invalid UTF-8 in the detail is replaced.
std::string CodeRunResultToJson(const CodeRunResult& result);

// The verifiers named by the design, as one object over a sandbox. Thread-safe.
class CodeVerifier {
 public:
  explicit CodeVerifier(const CodeSandbox* sandbox) : sandbox_(sandbox) {}
  CodeRunResult VerifyHumanEval(const HumanEvalProblem& problem, std::string_view completion,
                                const SandboxLimits& limits = {}) const;
  CodeRunResult VerifyMbpp(const MbppProblem& problem, std::string_view program,
                           const SandboxLimits& limits = {}) const;
  CodeRunResult VerifyIoCases(std::string_view program, std::vector<IoCase> cases,
                              const SandboxLimits& limits = {}) const;
  CodeRunResult VerifyProgramOfThought(std::string_view program, std::string_view cot_answer,
                                       const SandboxLimits& limits = {}) const;

 private:
  const CodeSandbox* sandbox_;
};

// Runs many candidates in parallel, at most `parallelism` at a time (bounded by the cores and by
// the sandbox's slot count), and accumulates their cost. Thread-safe; callers block until their
// own requests are done.
class CodeVerifierPool {
 public:
  struct Stats {
    int64_t runs = 0;
    std::array<int64_t, kCodeRunStatusCount> runs_by_status{};  // indexed by CodeRunStatus
    double wall_seconds = 0;                                    // summed over runs
    double cpu_seconds = 0;                                     // summed over runs
    int64_t peak_rss_bytes = 0;                                 // largest over runs
  };

  // parallelism <= 0 means one per core.
  explicit CodeVerifierPool(const CodeSandbox* sandbox, int parallelism = 0);
  ~CodeVerifierPool();
  CodeVerifierPool(const CodeVerifierPool&) = delete;
  CodeVerifierPool& operator=(const CodeVerifierPool&) = delete;

  // Results in request order.
  std::vector<CodeRunResult> RunAll(std::span<const CodeRunRequest> requests);
  int parallelism() const;
  Stats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_CODE_CODE_VERIFIER_H_
