#include "orchestrator/code_grader.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ponder::orchestrator {

namespace {
// A HumanEval or MBPP run takes well under a second; the limit is for programs that loop.
constexpr double kDefaultTimeoutSeconds = 10;
}  // namespace

bool HasCodeTests(const v1::Problem& problem) {
  // Validation refuses code_tests with no test (ValidateProblem).
  return problem.answer_format() == v1::ANSWER_FORMAT_CODE && problem.has_code_tests();
}

verifiers::CodeRunRequest CodeTestRequest(const v1::CodeTests& tests, std::string_view program) {
  verifiers::CodeRunRequest request;
  request.kind = verifiers::CodeTestKind::kTestCode;
  request.program = std::string(program);
  request.test_setup = tests.setup();
  request.tests.assign(tests.tests().begin(), tests.tests().end());
  request.test_code = tests.test_code();
  request.limits.timeout_seconds =
      tests.has_timeout_seconds() ? tests.timeout_seconds() : kDefaultTimeoutSeconds;
  return request;
}

CodeGrader::CodeGrader(verifiers::SandboxConfig config, int parallelism)
    : sandbox_(std::make_unique<verifiers::CodeSandbox>(std::move(config))),
      pool_(std::make_unique<verifiers::CodeVerifierPool>(sandbox_.get(), parallelism)) {}

CodeGrader::~CodeGrader() = default;

absl::Status CodeGrader::CheckAvailable() const {
  absl::Status status = sandbox_->CheckAvailable();
  if (status.ok()) return status;
  return absl::FailedPreconditionError(
      absl::StrCat("code problems are graded by running their tests in the sandbox, which cannot "
                   "be set up here: ",
                   status.message()));
}

absl::StatusOr<std::vector<bool>> CodeGrader::Grade(
    const v1::CodeTests& tests, std::span<const std::optional<std::string>> programs,
    const engine::CancellationToken* cancel, std::optional<absl::Time> deadline) {
  // One run per distinct program: candidates of a strong model often write the same one.
  std::map<std::string_view, size_t> run_of;
  std::vector<verifiers::CodeRunRequest> requests;
  for (const std::optional<std::string>& program : programs) {
    if (!program.has_value() || run_of.contains(*program)) continue;
    run_of.emplace(*program, requests.size());
    requests.push_back(CodeTestRequest(tests, *program));
  }
  std::vector<verifiers::CodeRunResult> results;
  if (!requests.empty()) {
    if (absl::Status available = CheckAvailable(); !available.ok()) return available;
  }
  const size_t round = static_cast<size_t>(std::max(1, pool_->parallelism()));
  for (size_t begin = 0; begin < requests.size(); begin += round) {
    if (cancel != nullptr && cancel->cancelled()) {
      return absl::CancelledError("the solve was cancelled while its programs were graded");
    }
    if (deadline.has_value()) {
      const double left = absl::ToDoubleSeconds(*deadline - absl::Now());
      if (left <= 0) {
        return absl::DeadlineExceededError(
            "the solve passed its deadline while its programs "
            "were graded");
      }
      for (size_t i = begin; i < std::min(requests.size(), begin + round); ++i) {
        double& timeout = requests[i].limits.timeout_seconds;
        timeout = std::min(timeout, left + 1);
      }
    }
    std::span<const verifiers::CodeRunRequest> chunk(requests.data() + begin,
                                                     std::min(round, requests.size() - begin));
    std::vector<verifiers::CodeRunResult> done = pool_->RunAll(chunk);
    results.insert(results.end(), std::make_move_iterator(done.begin()),
                   std::make_move_iterator(done.end()));
  }
  // A run cut short by the deadline is no grade: the solve has ended.
  if (deadline.has_value() && absl::Now() >= *deadline && !requests.empty()) {
    return absl::DeadlineExceededError(
        "the solve passed its deadline while its programs were "
        "graded");
  }
  for (const verifiers::CodeRunResult& result : results) {
    if (result.status == verifiers::CodeRunStatus::kSandboxUnavailable) {
      return absl::FailedPreconditionError(
          absl::StrCat("the sandbox became unavailable while grading: ", result.detail));
    }
  }
  std::vector<bool> correct;
  correct.reserve(programs.size());
  for (const std::optional<std::string>& program : programs) {
    correct.push_back(program.has_value() &&
                      results[run_of.at(*program)].status == verifiers::CodeRunStatus::kPassed);
  }
  return correct;
}

verifiers::CodeVerifierPool::Stats CodeGrader::stats() const { return pool_->stats(); }

}  // namespace ponder::orchestrator
