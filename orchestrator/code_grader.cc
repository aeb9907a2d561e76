#include "orchestrator/code_grader.h"

#include <algorithm>
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

// Whether `examples` are the first tests of `tests`, their runs otherwise the same (setup,
// limits): then a run of `tests` runs the examples first, as a run of them alone does.
bool LeadsTests(const v1::CodeTests& examples, const v1::CodeTests& tests) {
  const verifiers::CodeRunRequest part = CodeTestRequest(examples, "");
  const verifiers::CodeRunRequest whole = CodeTestRequest(tests, "");
  if (part.tests.empty() || part.tests.size() > whole.tests.size() ||
      !std::equal(part.tests.begin(), part.tests.end(), whole.tests.begin())) {
    return false;
  }
  verifiers::CodeRunRequest extended = part;
  extended.tests = whole.tests;
  return extended == whole;
}

// The share of its first `leading` tests that `run`, a run of `total` tests, passed, where that
// is the share a run of those tests alone gives (PassRates); nullopt where it may not be. Their
// verdicts arrive in order before a later test starts, so once all of them have, the rest of the
// run cannot change them. A run that ended before that (a timeout, a crash, the memory limit, a
// tampered verdict channel, no plan) may have ended because of the later tests, which the driver
// compiles before the program runs, within the same limits; but one whose program failed before
// any test fails every test alone too.
std::optional<double> LeadingPassRate(const verifiers::CodeRunResult& run, int leading, int total) {
  if (leading <= 0 || run.tests_total != total) return std::nullopt;
  if (run.test_verdicts.size() >= static_cast<size_t>(leading)) {
    const auto passed =
        std::count(run.test_verdicts.begin(), run.test_verdicts.begin() + leading, true);
    return static_cast<double>(passed) / leading;
  }
  // kFailed before every test reported: the program failed before the tests (JudgeRun).
  if (run.status == verifiers::CodeRunStatus::kFailed && run.test_verdicts.empty()) return 0.0;
  return std::nullopt;
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

std::optional<verifiers::CodeRunResult> CodeRunCache::Find(
    const verifiers::CodeRunRequest& request) const {
  absl::MutexLock lock(&mu_);
  auto it = by_program_.find(request.program);
  if (it == by_program_.end()) return std::nullopt;
  for (const Kept& kept : it->second) {
    if (kept.request == request) return kept.result;
  }
  return std::nullopt;
}

void CodeRunCache::Keep(const verifiers::CodeRunRequest& requested,
                        const verifiers::CodeRunRequest& ran,
                        const verifiers::CodeRunResult& result) {
  using verifiers::CodeRunStatus;
  if (result.status == CodeRunStatus::kSandboxUnavailable) return;
  // A run that completed within a lowered limit completes the same within the full one; one that
  // the lowered limit (or the CPU limit that follows from it) ended might not have ended.
  const bool completed =
      result.status == CodeRunStatus::kPassed || result.status == CodeRunStatus::kFailed;
  if (!completed && ran.limits != requested.limits) return;
  absl::MutexLock lock(&mu_);
  std::vector<Kept>& kept = by_program_[requested.program];
  for (const Kept& each : kept) {
    if (each.request == requested) return;  // a concurrent run of the same request kept first
  }
  Kept& added = kept.emplace_back(Kept{requested, result});
  // What the launch printed (up to the output cap) is of no use to grading and verifying.
  added.result.stdout_text.clear();
  added.result.stderr_text.clear();
}

absl::StatusOr<std::vector<std::optional<verifiers::CodeRunResult>>> CodeGrader::Run(
    const std::function<verifiers::CodeRunRequest(std::string_view program)>& request_for,
    std::span<const std::optional<std::string>> programs, const CodeRunControl& control) {
  // One run per distinct program: candidates of a strong model often write the same one.
  std::map<std::string_view, size_t> run_of;
  std::vector<verifiers::CodeRunRequest> requests;
  for (const std::optional<std::string>& program : programs) {
    if (!program.has_value() || run_of.contains(*program)) continue;
    run_of.emplace(*program, requests.size());
    requests.push_back(request_for(*program));
  }
  std::vector<std::optional<verifiers::CodeRunResult>> results(requests.size());
  std::vector<size_t> to_run;  // indices into `requests`
  for (size_t i = 0; i < requests.size(); ++i) {
    if (control.cache != nullptr) results[i] = control.cache->Find(requests[i]);
    if (!results[i].has_value()) to_run.push_back(i);
  }
  if (!to_run.empty()) {
    if (absl::Status available = CheckAvailable(); !available.ok()) return available;
  }
  auto past_deadline = [] {
    return absl::DeadlineExceededError("the solve passed its deadline while its programs ran");
  };
  const size_t round = static_cast<size_t>(std::max(1, pool_->parallelism()));
  for (size_t begin = 0; begin < to_run.size(); begin += round) {
    if (control.cancel != nullptr && control.cancel->cancelled()) {
      return absl::CancelledError("the solve was cancelled while its programs ran");
    }
    const size_t end = std::min(to_run.size(), begin + round);
    std::vector<verifiers::CodeRunRequest> batch;
    for (size_t i = begin; i < end; ++i) batch.push_back(requests[to_run[i]]);
    if (control.deadline.has_value()) {
      const double left = absl::ToDoubleSeconds(*control.deadline - absl::Now());
      if (left <= 0) return past_deadline();
      for (verifiers::CodeRunRequest& request : batch) {
        request.limits.timeout_seconds = std::min(request.limits.timeout_seconds, left + 1);
      }
    }
    std::vector<verifiers::CodeRunResult> done = pool_->RunAll(batch);
    for (size_t i = begin; i < end; ++i) {
      if (control.cache != nullptr) {
        control.cache->Keep(requests[to_run[i]], batch[i - begin], done[i - begin]);
      }
      results[to_run[i]] = std::move(done[i - begin]);
    }
  }
  // A run cut short by the deadline says nothing of its program: the solve has ended.
  if (control.deadline.has_value() && absl::Now() >= *control.deadline && !to_run.empty()) {
    return past_deadline();
  }
  for (const std::optional<verifiers::CodeRunResult>& result : results) {
    if (result->status == verifiers::CodeRunStatus::kSandboxUnavailable) {
      return absl::FailedPreconditionError(
          absl::StrCat("the sandbox became unavailable while programs ran: ", result->detail));
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
    const CodeRunControl& control) {
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(TestsOf(tests), programs, control));
  std::vector<bool> correct;
  for (const auto& run : runs) {
    correct.push_back(run.has_value() && run->status == verifiers::CodeRunStatus::kPassed);
  }
  return correct;
}

absl::StatusOr<std::vector<double>> CodeGrader::PassRates(
    const v1::CodeTests& tests, std::span<const std::optional<std::string>> programs,
    const CodeRunControl& control) {
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(TestsOf(tests), programs, control));
  std::vector<double> rates;
  for (const auto& run : runs) {
    // A run that timed out or crashed may still report the tests that passed before it ended.
    const bool counted = run.has_value() && run->tests_total > 0;
    rates.push_back(counted ? static_cast<double>(run->tests_passed) / run->tests_total : 0.0);
  }
  return rates;
}

absl::StatusOr<std::vector<double>> CodeGrader::ExamplePassRates(
    const v1::CodeTests& examples, const v1::CodeTests& tests,
    std::span<const std::optional<std::string>> programs, const CodeRunControl& control) {
  if (control.cache == nullptr || !LeadsTests(examples, tests)) {
    return PassRates(examples, programs, control);
  }
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(TestsOf(tests), programs, control));
  std::vector<double> rates(programs.size(), 0.0);
  std::vector<std::optional<std::string>> alone(programs.size());
  bool any_alone = false;
  for (size_t i = 0; i < programs.size(); ++i) {
    if (!runs[i].has_value()) continue;  // no program
    std::optional<double> rate =
        LeadingPassRate(*runs[i], examples.tests_size(), tests.tests_size());
    if (rate.has_value()) {
      rates[i] = *rate;
    } else {
      alone[i] = programs[i];
      any_alone = true;
    }
  }
  if (any_alone) {
    PONDER_ASSIGN_OR_RETURN(std::vector<double> by_examples, PassRates(examples, alone, control));
    for (size_t i = 0; i < programs.size(); ++i) {
      if (alone[i].has_value()) rates[i] = by_examples[i];
    }
  }
  return rates;
}

absl::StatusOr<std::vector<std::optional<std::string>>> CodeGrader::PrintedAnswers(
    std::span<const std::optional<std::string>> programs, const CodeRunControl& control) {
  auto alone = [](std::string_view program) {
    verifiers::SandboxLimits limits;
    limits.timeout_seconds = kDefaultTimeoutSeconds;
    verifiers::CodeRunRequest request = verifiers::ProgramOfThoughtRequest(program, "", limits);
    request.expected_answer.reset();  // the program only runs: the caller compares the output
    return request;
  };
  PONDER_ASSIGN_OR_RETURN(auto runs, Run(alone, programs, control));
  std::vector<std::optional<std::string>> printed;
  for (const auto& run : runs)
    printed.push_back(run.has_value() ? run->printed_answer : std::nullopt);
  return printed;
}

verifiers::CodeVerifierPool::Stats CodeGrader::stats() const { return pool_->stats(); }

}  // namespace ponder::orchestrator
