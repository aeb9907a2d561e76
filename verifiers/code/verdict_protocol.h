// The verdict channel between the in-sandbox driver (sandbox_driver.py) and us, and the judging
// of a finished launch (internal to verifiers/code).
//
// Each line on the channel is "<nonce> <json object>\n". The nonce is fresh for every run and
// reaches the driver on stdin before the candidate runs, so the candidate's output, or a process
// that merely inherited the channel, cannot produce an accepted line. Every event carries the
// reporting process's pid, which must be the pid of the "start" event: a program that forks and
// lets the child run on into the driver's code is caught. The first violation of the protocol
// ends the run as an error.
#ifndef PONDER_VERIFIERS_CODE_VERDICT_PROTOCOL_H_
#define PONDER_VERIFIERS_CODE_VERDICT_PROTOCOL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "verifiers/code/code_verifier.h"
#include "verifiers/code/sandbox_launch.h"

namespace ponder::verifiers::sandbox {

// 128 random bits from getrandom(2), as 32 hex digits.
std::string NewNonce();

struct TestVerdict {
  bool passed = false;
  std::string detail;
};

struct CaseOutput {
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_tail;
  bool output_exceeded = false;
};

class VerdictReader : public ChannelObserver {
 public:
  explicit VerdictReader(std::string nonce) : nonce_(std::move(nonce)) {}

  void OnData(std::string_view bytes) override;
  // Complete after "done", and also after a violation (nothing more is worth waiting for).
  bool Complete() const override { return done_ || !violation_.empty(); }

  bool started() const { return driver_pid_.has_value(); }
  bool done() const { return done_; }
  const std::string& violation() const { return violation_; }  // empty when none
  std::optional<int> tests_total() const { return tests_total_; }
  const std::map<int, TestVerdict>& tests() const { return tests_; }
  const std::map<int, CaseOutput>& cases() const { return cases_; }
  const std::optional<std::string>& program_failure() const { return program_failure_; }
  const std::optional<std::string>& harness_error() const { return harness_error_; }
  // The largest resident set of the driver or a process it waited for, as it reported at the
  // end (the driver shares its interpreter with the candidate: a statistic, not a verdict).
  int64_t reported_peak_rss_bytes() const { return reported_peak_rss_bytes_; }

 private:
  void HandleLine(std::string_view line);
  void Violate(std::string reason);

  const std::string nonce_;
  std::string partial_;
  std::optional<int64_t> driver_pid_;
  std::optional<int> tests_total_;
  std::map<int, TestVerdict> tests_;
  std::map<int, CaseOutput> cases_;
  std::optional<std::string> program_failure_;
  std::optional<std::string> harness_error_;
  bool done_ = false;
  int64_t reported_peak_rss_bytes_ = 0;
  std::string violation_;
};

// The result of a finished launch of the driver for `request`, from what the launch observed and
// what the channel said. Cost, output and uid are left to the caller.
CodeRunResult JudgeRun(const CodeRunRequest& request, const LaunchOutcome& outcome,
                       const VerdictReader& verdicts);

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_VERDICT_PROTOCOL_H_
