// CodeGrader: grades the programs of code problems (ANSWER_FORMAT_CODE: HumanEval, MBPP) by
// running the problem's tests with each program in the sandbox (verifiers/code), the way the
// answer grader (verifiers/grading) grades math answers against a reference.
//
// A program is correct when every test passes. A run that fails, times out or ends without a
// complete verdict is wrong; a sandbox that cannot be set up is an error (FAILED_PRECONDITION),
// never a grade. Thread-safe: many solves grade at once, sharing one pool of sandbox slots.
#ifndef PONDER_ORCHESTRATOR_CODE_GRADER_H_
#define PONDER_ORCHESTRATOR_CODE_GRADER_H_

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "ponder/v1/service.pb.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::orchestrator {

// Whether a problem is graded by running tests: a code problem with code_tests (which
// validation requires to hold a test).
bool HasCodeTests(const v1::Problem& problem);

// The sandbox run of `program` against `tests` (their limits: timeout_seconds, default 10 s).
verifiers::CodeRunRequest CodeTestRequest(const v1::CodeTests& tests, std::string_view program);

// The sandbox runs of one solve, kept so that a request the solve makes twice launches once:
// where a code problem's example tests lead the tests that grade it (MBPP), the unit_tests
// verifier runs each candidate's program with the grading tests (CodeGrader::ExamplePassRates),
// and grading then finds those runs here.
//
// A result is kept only when a second launch of exactly its request (every field equal) would
// give it again, for a program that behaves the same each run: not kSandboxUnavailable, which
// says nothing of the program, and not a run whose timeout a deadline lowered unless it
// completed (kPassed, kFailed) within it. Holds the runs of one CodeGrader, whose sandbox
// settings are part of what a result means. Thread-safe; two calls that miss the same request
// at the same time both launch it.
class CodeRunCache {
 public:
  // The result kept for `request`, if any, without what the launch printed (stdout_text and
  // stderr_text are empty: a solve keeps many runs, and grading and verifying do not read them).
  std::optional<verifiers::CodeRunResult> Find(const verifiers::CodeRunRequest& request) const;
  // Keeps `result` of `requested`, which ran as `ran` (its timeout perhaps lowered to a
  // deadline), where the rules above allow.
  void Keep(const verifiers::CodeRunRequest& requested, const verifiers::CodeRunRequest& ran,
            const verifiers::CodeRunResult& result);

 private:
  struct Kept {
    verifiers::CodeRunRequest request;
    verifiers::CodeRunResult result;
  };
  mutable absl::Mutex mu_;
  // By program text: a solve runs each program with one or two requests.
  absl::flat_hash_map<std::string, std::vector<Kept>> by_program_ ABSL_GUARDED_BY(mu_);
};

// How a call's programs run: the solve's cancellation, deadline and cache.
struct CodeRunControl {
  const engine::CancellationToken* cancel = nullptr;
  std::optional<absl::Time> deadline;
  // Requests kept here do not launch again, and the runs made are kept here. Null: all launch.
  CodeRunCache* cache = nullptr;
};

class CodeGrader {
 public:
  // `parallelism` <= 0: one run per core.
  explicit CodeGrader(verifiers::SandboxConfig config = {}, int parallelism = 0);
  ~CodeGrader();

  // OK when the sandbox can be set up on this host (probed once), else FailedPrecondition
  // naming the layer that cannot.
  absl::Status CheckAvailable() const;

  // Whether each program passes every test; nullopt (no program) is wrong without a run.
  // Programs of the same text run once. FailedPrecondition when the sandbox is unavailable;
  // CANCELLED / DEADLINE_EXCEEDED when `control.cancel` fires or `control.deadline` passes: the
  // runs go in rounds of the pool's parallelism, checked between rounds, and no run's limit
  // reaches past the deadline (by more than a second).
  absl::StatusOr<std::vector<bool>> Grade(const v1::CodeTests& tests,
                                          std::span<const std::optional<std::string>> programs,
                                          const CodeRunControl& control = {});

  // Per program, the share of the tests it passes (a run that timed out or crashed counts the
  // tests that passed before); 0 for nullopt without a run. Errors as Grade's.
  absl::StatusOr<std::vector<double>> PassRates(
      const v1::CodeTests& tests, std::span<const std::optional<std::string>> programs,
      const CodeRunControl& control = {});

  // PassRates(examples, ...), for the unit_tests verifier. When `examples` lead `tests` (MBPP:
  // its first assert of the three that grade it; the same setup and limits) and there is a
  // cache, each program runs with `tests` instead, the run that Grade(tests) then finds, and
  // its share counts the leading verdicts: the examples run first in the same interpreter, so
  // those are the verdicts a run of the examples alone gets (CodeRunResult::test_verdicts). A
  // program whose run ended before every example reported (timed out, crashed, tampered with the
  // verdict channel, reported no plan: the later tests may be why) runs with the examples alone
  // too, so the share is always that of a run of the examples alone.
  absl::StatusOr<std::vector<double>> ExamplePassRates(
      const v1::CodeTests& examples, const v1::CodeTests& tests,
      std::span<const std::optional<std::string>> programs, const CodeRunControl& control = {});

  // Per program, run alone (no tests; 10 s): the last line it printed when it exited normally,
  // else nullopt; nullopt for nullopt without a run. Errors as Grade's. The program-of-thought
  // verifier compares it with the chain of thought's answer.
  absl::StatusOr<std::vector<std::optional<std::string>>> PrintedAnswers(
      std::span<const std::optional<std::string>> programs, const CodeRunControl& control = {});

  verifiers::CodeVerifierPool::Stats stats() const;

 private:
  // Runs every distinct program (in rounds, see Grade) that the cache does not hold; per
  // program its run, or nullopt for a program that is nullopt.
  absl::StatusOr<std::vector<std::optional<verifiers::CodeRunResult>>> Run(
      const std::function<verifiers::CodeRunRequest(std::string_view program)>& request_for,
      std::span<const std::optional<std::string>> programs, const CodeRunControl& control);

  std::unique_ptr<verifiers::CodeSandbox> sandbox_;
  std::unique_ptr<verifiers::CodeVerifierPool> pool_;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_CODE_GRADER_H_
