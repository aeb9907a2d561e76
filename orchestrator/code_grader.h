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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
  // CANCELLED / DEADLINE_EXCEEDED when `cancel` fires or `deadline` passes: the runs go in
  // rounds of the pool's parallelism, checked between rounds, and no run's limit reaches past
  // the deadline (by more than a second).
  absl::StatusOr<std::vector<bool>> Grade(const v1::CodeTests& tests,
                                          std::span<const std::optional<std::string>> programs,
                                          const engine::CancellationToken* cancel = nullptr,
                                          std::optional<absl::Time> deadline = std::nullopt);

  // Per program, the share of the tests it passes (a run that timed out or crashed counts the
  // tests that passed before); 0 for nullopt without a run. Errors as Grade's.
  absl::StatusOr<std::vector<double>> PassRates(
      const v1::CodeTests& tests, std::span<const std::optional<std::string>> programs,
      const engine::CancellationToken* cancel = nullptr,
      std::optional<absl::Time> deadline = std::nullopt);

  // Per program, run alone (no tests; 10 s): the last line it printed when it exited normally,
  // else nullopt; nullopt for nullopt without a run. Errors as Grade's. The program-of-thought
  // verifier compares it with the chain of thought's answer.
  absl::StatusOr<std::vector<std::optional<std::string>>> PrintedAnswers(
      std::span<const std::optional<std::string>> programs,
      const engine::CancellationToken* cancel = nullptr,
      std::optional<absl::Time> deadline = std::nullopt);

  verifiers::CodeVerifierPool::Stats stats() const;

 private:
  // Runs every distinct program (in rounds, see Grade); per program its run, or nullopt for a
  // program that is nullopt.
  absl::StatusOr<std::vector<std::optional<verifiers::CodeRunResult>>> Run(
      const std::function<verifiers::CodeRunRequest(std::string_view program)>& request_for,
      std::span<const std::optional<std::string>> programs, const engine::CancellationToken* cancel,
      std::optional<absl::Time> deadline);

  std::unique_ptr<verifiers::CodeSandbox> sandbox_;
  std::unique_ptr<verifiers::CodeVerifierPool> pool_;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_CODE_GRADER_H_
