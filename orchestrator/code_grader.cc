#include "orchestrator/code_grader.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ponder::orchestrator {

namespace {
// A HumanEval or MBPP run takes well under a second; the limit is for programs that loop.
constexpr double kDefaultTimeoutSeconds = 10;
// The request that runs a program with `tests`.
std::function<verifiers::CodeRunRequest(std::string_view)> TestsOf(const v1::CodeTests& tests) {
  return [&tests](std::string_view program) { return CodeTestRequest(tests, program); };
}

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

absl::StatusOr<std::vector<std::optional<verifiers::CodeRunResult>>> CodeGrader::Run(
    const std::function<verifiers::CodeRunRequest(std::string_view program)>& request_for,
    std::span<const std::optional<std::string>> programs, const engine::CancellationToken* cancel,
    std::optional<absl::Time> deadline) {
  std::vector<verifiers::CodeRunResult> results;
  // One run per distinct program: candidates of a strong model often write the same one.
  std::map<std::string_view, size_t> run_of;
  std::vector<verifiers::CodeRunRequest> requests;
  for (const std::optional<std::string>& program : programs) {
    if (!program.has_value() || run_of.contains(*program)) continue;
    run_of.emplace(*program, requests.size());
    requests.push_back(request_for(*program));
  }
  if (!requests.empty()) {
    if (absl::Status available = CheckAvailable(); !available.ok()) return available;
  }
  auto past_deadline = [] {
    return absl::DeadlineExceededError("the solve passed its deadline while its programs ran");
  };
  const size_t round = static_cast<size_t>(std::max(1, pool_->parallelism()));
  for (size_t begin = 0; begin < requests.size(); begin += round) {
    if (cancel != nullptr && cancel->cancelled()) {
      return absl::CancelledError("the solve was cancelled while its programs ran");
    }
    const size_t end = std::min(requests.size(), begin + round);
    if (deadline.has_value()) {
      const double left = absl::ToDoubleSeconds(*deadline - absl::Now());
      if (left <= 0) return past_deadline();
      for (size_t i = begin; i < end; ++i) {
        double& timeout = requests[i].limits.timeout_seconds;
        timeout = std::min(timeout, left + 1);
      }
    }
    std::vector<verifiers::CodeRunResult> done = pool_->RunAll(
        std::span<const verifiers::CodeRunRequest>(requests.data() + begin, end - begin));
    results.insert(results.end(), std::make_move_iterator(done.begin()),
                   std::make_move_iterator(done.end()));
  }
  // A run cut short by the deadline says nothing of its program: the solve has ended.
  if (deadline.has_value() && absl::Now() >= *deadline && !requests.empty()) {
    return past_deadline();
  }
  for (const verifiers::CodeRunResult& result : results) {
    if (result.status == verifiers::CodeRunStatus::kSandboxUnavailable) {
      return absl::FailedPreconditionError(
          absl::StrCat("the sandbox became unavailable while programs ran: ", result.detail));
    }
  }
  std::vector<std::optional<verifiers::CodeRunResult>> per_program;
  per_program.reserve(programs.size());
  for (const std::optional<std::string>& program : programs) {
    if (program.has_value()) {
      per_program.push_back(results[run_of.at(*program)]);
    } else {
      per_program.emplace_back();
    }
  }
  return per_program;
}

absl::StatusOr<std::vector<bool>> CodeGrader::Grade(
    const v1::CodeTests& tests, std::span<const std::optional<std::string>> programs,
    const engine::CancellationToken* cancel, std::optional<absl::Time> deadline) {
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(TestsOf(tests), programs, cancel, deadline));
  std::vector<bool> correct;
  for (const auto& run : runs) {
    correct.push_back(run.has_value() && run->status == verifiers::CodeRunStatus::kPassed);
  }
  return correct;
}

absl::StatusOr<std::vector<double>> CodeGrader::PassRates(
    const v1::CodeTests& tests, std::span<const std::optional<std::string>> programs,
    const engine::CancellationToken* cancel, std::optional<absl::Time> deadline) {
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(TestsOf(tests), programs, cancel, deadline));
  std::vector<double> rates;
  for (const auto& run : runs) {
    // A run that timed out or crashed may still report the tests that passed before it ended.
    const bool counted = run.has_value() && run->tests_total > 0;
    rates.push_back(counted ? static_cast<double>(run->tests_passed) / run->tests_total : 0.0);
  }
  return rates;
}

absl::StatusOr<std::vector<std::optional<std::string>>> CodeGrader::PrintedAnswers(
    std::span<const std::optional<std::string>> programs, const engine::CancellationToken* cancel,
    std::optional<absl::Time> deadline) {
  auto alone = [](std::string_view program) {
    verifiers::SandboxLimits limits;
    limits.timeout_seconds = kDefaultTimeoutSeconds;
    verifiers::CodeRunRequest request = verifiers::ProgramOfThoughtRequest(program, "", limits);
    request.expected_answer.reset();  // the program only runs: the caller compares the output
    return request;
  };
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(alone, programs, cancel, deadline));
  std::vector<std::optional<std::string>> printed;
  for (const auto& run : runs)
    printed.push_back(run.has_value() ? run->printed_answer : std::nullopt);
  return printed;
}

verifiers::CodeVerifierPool::Stats CodeGrader::stats() const { return pool_->stats(); }

}  // namespace ponder::orchestrator
