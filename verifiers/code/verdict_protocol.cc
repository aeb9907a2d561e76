#include "verifiers/code/verdict_protocol.h"

#include <signal.h>
#include <string.h>
#include <sys/random.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"
#include "verifiers/code/output_compare.h"
#include "verifiers/code/sandbox_rlimits.h"

namespace ponder::verifiers::sandbox {
namespace {

constexpr size_t kDetailLimit = 600;

// A field of `event` of the wanted JSON type, or nullptr.
const nlohmann::json* Field(const nlohmann::json& event, const char* name,
                            nlohmann::json::value_t type) {
  auto it = event.find(name);
  if (it == event.end()) return nullptr;
  if (type == nlohmann::json::value_t::number_integer) {
    return it->is_number_integer() ? &*it : nullptr;
  }
  return it->type() == type ? &*it : nullptr;
}

std::string OptionalString(const nlohmann::json& event, const char* name) {
  const nlohmann::json* value = Field(event, name, nlohmann::json::value_t::string);
  return value != nullptr ? Clip(value->get<std::string>(), kDetailLimit * 4) : "";
}

std::string DescribeExit(int exit_code) {
  if (exit_code < 0) return "it ended without an exit status";
  if (exit_code > 128 && exit_code < 128 + 65) {
    int sig = exit_code - 128;
    const char* name = sigabbrev_np(sig);
    return absl::StrCat("it was killed by signal ", sig, name != nullptr ? " (SIG" : "",
                        name != nullptr ? name : "", name != nullptr ? ")" : "");
  }
  return absl::StrCat("it exited with status ", exit_code);
}

std::string Tail(std::string_view text, size_t limit) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.size() <= limit) return std::string(text);
  return absl::StrCat("...", AsAbsl(text.substr(text.size() - limit)));
}

std::string ShowOutput(std::string_view text) {
  std::string shown = Clip(text, 200);
  return absl::StrCat("\"", absl::CEscape(shown), "\"");
}

CodeRunResult Unavailable(std::string detail) {
  CodeRunResult result;
  result.status = CodeRunStatus::kSandboxUnavailable;
  result.detail = std::move(detail);
  return result;
}

// Input/output cases and program-of-thought, once every case reported.
void JudgeCases(const CodeRunRequest& request, const VerdictReader& verdicts,
                CodeRunResult& result) {
  const bool program_of_thought = request.kind == CodeTestKind::kProgramOfThought;
  for (const auto& [index, output] : verdicts.cases()) {
    std::string failure;
    if (output.output_exceeded) {
      failure = absl::StrCat("printed more than ", request.limits.output_bytes, " bytes");
    } else if (output.exit_code != 0) {
      failure = absl::StrCat(DescribeExit(output.exit_code), ": ", Tail(output.stderr_tail, 300));
    } else if (program_of_thought) {
      std::string answer = LastPrintedLine(output.stdout_text);
      result.printed_answer = answer;
      if (request.expected_answer.has_value() && !AnswersAgree(answer, *request.expected_answer)) {
        failure =
            absl::StrCat("the program printed ", ShowOutput(answer),
                         ", the chain of thought answered ", ShowOutput(*request.expected_answer));
      }
    } else if (static_cast<size_t>(index) >= request.io_cases.size()) {
      failure = "a case the request does not have";
    } else if (const std::string& expected =
                   request.io_cases[static_cast<size_t>(index)].expected_output;
               !OutputsMatch(output.stdout_text, expected)) {
      failure =
          absl::StrCat("expected ", ShowOutput(expected), ", got ", ShowOutput(output.stdout_text));
    }
    if (failure.empty()) {
      ++result.tests_passed;
    } else if (result.detail.empty()) {
      result.detail = program_of_thought ? failure : absl::StrCat("case ", index, ": ", failure);
    }
  }
}

}  // namespace

std::string NewNonce() {
  uint8_t bytes[16];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (n > 0) filled += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

void VerdictReader::OnData(std::string_view bytes) {
  if (Complete()) return;
  partial_.append(bytes.data(), bytes.size());
  size_t start = 0;
  while (!Complete()) {
    size_t end = partial_.find('\n', start);
    if (end == std::string::npos) break;
    HandleLine(std::string_view(partial_).substr(start, end - start));
    start = end + 1;
  }
  partial_.erase(0, start);
}

void VerdictReader::Violate(std::string reason) {
  if (violation_.empty()) violation_ = Clip(reason, kDetailLimit);
}

void VerdictReader::HandleLine(std::string_view line) {
  if (line.size() <= nonce_.size() || line.substr(0, nonce_.size()) != nonce_ ||
      line[nonce_.size()] != ' ') {
    return Violate(absl::StrCat("a line without the run's nonce: ",
                                absl::CEscape(AsAbsl(line.substr(0, 80)))));
  }
  nlohmann::json event = nlohmann::json::parse(line.substr(nonce_.size() + 1), nullptr, false);
  using Type = nlohmann::json::value_t;
  const nlohmann::json* kind = event.is_object() ? Field(event, "event", Type::string) : nullptr;
  const nlohmann::json* pid =
      event.is_object() ? Field(event, "pid", Type::number_integer) : nullptr;
  if (kind == nullptr || pid == nullptr) return Violate("a malformed event");
  const std::string name = kind->get<std::string>();
  if (!driver_pid_) {
    if (name != "start") return Violate(absl::StrCat("'", name, "' before 'start'"));
    driver_pid_ = pid->get<int64_t>();
    return;
  }
  if (pid->get<int64_t>() != *driver_pid_) {
    return Violate(absl::StrCat("an event from pid ", pid->get<int64_t>(),
                                ", not from the driver (pid ", *driver_pid_, ")"));
  }
  if (name == "plan") {
    const nlohmann::json* total = Field(event, "tests_total", Type::number_integer);
    if (tests_total_ || total == nullptr || total->get<int64_t>() < 0 ||
        total->get<int64_t>() > 1'000'000) {
      return Violate("a bad or repeated plan");
    }
    tests_total_ = total->get<int>();
  } else if (name == "harness_error") {
    harness_error_ = OptionalString(event, "detail");
  } else if (name == "program_failed") {
    if (!tests_total_ || program_failure_ || !tests_.empty()) {
      return Violate("'program_failed' out of order");
    }
    program_failure_ = OptionalString(event, "detail");
  } else if (name == "test" || name == "case") {
    const nlohmann::json* index = Field(event, "index", Type::number_integer);
    if (!tests_total_ || index == nullptr || index->get<int64_t>() < 0 ||
        index->get<int64_t>() >= *tests_total_ || program_failure_) {
      return Violate(absl::StrCat("a '", name, "' event out of the plan"));
    }
    const int i = index->get<int>();
    if (tests_.count(i) != 0 || cases_.count(i) != 0) {
      return Violate(absl::StrCat("a second verdict for test ", i));
    }
    if (name == "test") {
      const nlohmann::json* passed = Field(event, "passed", Type::boolean);
      if (passed == nullptr) return Violate("a test verdict without 'passed'");
      tests_[i] = TestVerdict{passed->get<bool>(), OptionalString(event, "detail")};
    } else {
      const nlohmann::json* exit_code = Field(event, "exit_code", Type::number_integer);
      const nlohmann::json* output = Field(event, "stdout", Type::string);
      const nlohmann::json* exceeded = Field(event, "output_exceeded", Type::boolean);
      CaseOutput case_output;
      if (exit_code == nullptr || output == nullptr || exceeded == nullptr ||
          !absl::Base64Unescape(output->get<std::string>(), &case_output.stdout_text)) {
        return Violate("a malformed case report");
      }
      case_output.exit_code = exit_code->get<int>();
      case_output.output_exceeded = exceeded->get<bool>();
      case_output.stderr_tail = OptionalString(event, "stderr");
      cases_[i] = std::move(case_output);
    }
  } else if (name == "done") {
    const size_t reported = tests_.size() + cases_.size();
    const bool all_reported = harness_error_ || program_failure_ ||
                              (tests_total_ && reported == static_cast<size_t>(*tests_total_));
    if (!all_reported) return Violate("'done' before every test reported");
    if (const nlohmann::json* kib = Field(event, "peak_rss_kb", Type::number_integer)) {
      reported_peak_rss_bytes_ =
          std::clamp<int64_t>(kib->get<int64_t>(), 0, int64_t{1} << 40) * 1024;
    }
    done_ = true;
  } else {
    return Violate(absl::StrCat("an unknown event '", name, "'"));
  }
}

CodeRunResult JudgeRun(const CodeRunRequest& request, const LaunchOutcome& outcome,
                       const VerdictReader& verdicts) {
  const SandboxLimits& limits = request.limits;
  // The kernel killed a process for the run's memory: the program asked for more than the
  // budget (or the budget is too small for the interpreter), whatever the driver still reported.
  // A tampered channel is judged below.
  if (outcome.memory_exceeded && verdicts.violation().empty()) {
    CodeRunResult result;
    result.status = CodeRunStatus::kFailed;
    result.tests_total = verdicts.tests_total().value_or(
        request.kind == CodeTestKind::kTestCode ? 0 : static_cast<int>(request.io_cases.size()));
    if (request.kind == CodeTestKind::kProgramOfThought) result.tests_total = 1;
    for (const auto& [index, verdict] : verdicts.tests()) {
      if (index == static_cast<int>(result.test_verdicts.size())) {
        result.test_verdicts.push_back(verdict.passed);
      }
      if (verdict.passed) ++result.tests_passed;
    }
    result.detail = absl::StrCat("memory budget exceeded (", limits.memory_bytes >> 20,
                                 " MiB): the run's processes together needed more memory, and the "
                                 "kernel killed one");
    return result;
  }
  if (!verdicts.started()) {
    // Nothing of the candidate ran: the driver reports "start" before it reads the program.
    // The timeout covers starting the sandbox and the interpreter, so one shorter than that
    // (or a start slowed by a loaded host) is the run's timeout, not a broken sandbox; a
    // sandbox that cannot be set up fails fast instead (bubblewrap exits).
    if (outcome.timed_out) {
      CodeRunResult result;
      result.status = CodeRunStatus::kTimeout;
      result.detail = absl::StrFormat(
          "timed out after %g s while the sandbox and the interpreter were starting (which takes "
          "about 0.1 s, more on a loaded host): give a longer timeout",
          limits.timeout_seconds);
      return result;
    }
    if (!outcome.child_started) {
      return Unavailable(absl::StrCat("bubblewrap could not create the namespaces: ",
                                      Tail(outcome.stderr_text, 1000)));
    }
    if (outcome.exit_code < 0) {  // bubblewrap reports an exit code only after a complete setup
      return Unavailable(absl::StrCat("bubblewrap could not set up the sandbox: ",
                                      Tail(outcome.stderr_text, 1000)));
    }
    return Unavailable(
        absl::StrCat("the interpreter started in the sandbox but the driver did "
                     "not report (",
                     DescribeExit(outcome.exit_code), "): ", Tail(outcome.stderr_text, 1000)));
  }
  CodeRunResult result;
  result.tests_total = verdicts.tests_total().value_or(
      request.kind == CodeTestKind::kTestCode ? 0 : static_cast<int>(request.io_cases.size()));
  if (request.kind == CodeTestKind::kProgramOfThought) result.tests_total = 1;
  // A tampered channel keeps no verdict: a forged one may have come first (the genuine verdict
  // of the same test is then the violation).
  if (!verdicts.violation().empty()) {
    result.status = CodeRunStatus::kError;
    result.detail = absl::StrCat("the verdict channel was tampered with: ", verdicts.violation());
    return result;
  }
  // The driver reports tests in order, so the verdicts that arrived are those of the first tests.
  for (const auto& [index, verdict] : verdicts.tests()) {
    if (index != static_cast<int>(result.test_verdicts.size())) break;
    result.test_verdicts.push_back(verdict.passed);
  }
  if (verdicts.harness_error()) {
    result.status = CodeRunStatus::kError;
    result.detail = absl::StrCat("the tests could not run: ", *verdicts.harness_error());
    return result;
  }
  for (const auto& [index, verdict] : verdicts.tests()) {
    if (verdict.passed) ++result.tests_passed;
  }
  // Output past the cap ends the run, also where the driver reported every test before the
  // host read the excess and killed it: a timing the same program does not always win.
  if (outcome.output_exceeded) {
    result.status = CodeRunStatus::kError;
    result.detail = absl::StrCat("the program printed more than ", limits.output_bytes,
                                 " bytes to stdout and stderr");
    return result;
  }
  if (!verdicts.done()) {
    if (outcome.timed_out) {
      result.status = CodeRunStatus::kTimeout;
      result.detail = absl::StrFormat(
          "timed out after %g s (%d of %d tests reported)", limits.timeout_seconds,
          static_cast<int>(verdicts.tests().size() + verdicts.cases().size()), result.tests_total);
      return result;
    }
    // The CPU rlimit ends a run that burns CPU in several threads before the wall clock does.
    const int cpu_limit = CpuSecondsFor(limits);
    if ((outcome.exit_code == 128 + SIGKILL || outcome.exit_code == 128 + SIGXCPU) &&
        outcome.cost.cpu_seconds >= cpu_limit - 0.05) {
      result.status = CodeRunStatus::kTimeout;
      result.detail = absl::StrCat("the CPU time limit of ", cpu_limit, " s was exceeded");
      return result;
    }
    result.status = CodeRunStatus::kError;
    if (outcome.channel_exceeded) {
      result.detail = "the verdict channel carried more than its limit";
    } else {
      result.detail = absl::StrCat("the program ended before every test reported: ",
                                   DescribeExit(outcome.exit_code));
      std::string stderr_tail = Tail(outcome.stderr_text, 500);
      if (!stderr_tail.empty()) absl::StrAppend(&result.detail, "; stderr: ", stderr_tail);
    }
    return result;
  }
  if (verdicts.program_failure()) {
    result.status = CodeRunStatus::kFailed;
    result.tests_passed = 0;
    result.detail =
        absl::StrCat("the program failed before the tests: ", *verdicts.program_failure());
    return result;
  }
  if (request.kind == CodeTestKind::kTestCode) {
    for (const auto& [index, verdict] : verdicts.tests()) {
      if (!verdict.passed) {
        result.detail = absl::StrCat("test ", index, " failed: ", verdict.detail);
        break;
      }
    }
  } else {
    JudgeCases(request, verdicts, result);
  }
  result.status = result.tests_total > 0 && result.tests_passed == result.tests_total
                      ? CodeRunStatus::kPassed
                      : CodeRunStatus::kFailed;
  if (result.status == CodeRunStatus::kFailed && result.detail.empty()) {
    result.detail = "no tests ran";
  }
  return result;
}

}  // namespace ponder::verifiers::sandbox
