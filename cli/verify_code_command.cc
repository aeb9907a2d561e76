// `ponder verify-code --input FILE.jsonl`: runs generated programs against their tests in the
// code sandbox (verifiers/code/code_verifier.h), one JSON result line per input line, in order.
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "base/mapped_file.h"
#include "base/strings.h"
#include "cli/command.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::cli {
namespace {

using ::ponder::verifiers::CodeRunRequest;
using ::ponder::verifiers::CodeRunResult;
using ::ponder::verifiers::CodeRunStatus;

constexpr char kUsage[] =
    "ponder verify-code --input FILE.jsonl [--parallel N]\n"
    "\n"
    "Each input line is a JSON object:\n"
    "  {\"language\": \"python\", \"program\": \"...\",\n"
    "   \"tests\": \"python test code run after the program\"  (with a top-level assert, each\n"
    "            top-level assert, loop or call such as check(f) is a test, else the whole\n"
    "            block is one; the full rule: CodeRunRequest in verifiers/code/code_verifier.h;\n"
    "            the program's __main__ block does not run, the tests' does)\n"
    "   | \"test_cases\": [{\"input\": \"...\", \"expected_output\": \"...\"}, ...],\n"
    "   \"timeout_s\": 5}\n"
    "Each output line (same order) is\n"
    "  {\"status\": \"passed|failed|timeout|error|sandbox_unavailable\", \"tests_passed\": n,\n"
    "   \"tests_total\": m, \"detail\": \"...\"}\n"
    "A line that cannot be read gets status error with its line number and the run goes on.\n"
    "Exit status 1 when a line could not be read or the sandbox was unavailable. The sandbox\n"
    "needs root, bubblewrap and user namespaces (see verifiers/code/code_verifier.h).";

int RunVerifyCode(std::span<char* const> args) {
  std::string input_path;
  int parallel = 0;
  FlagParser flags(kUsage);
  flags.AddString("input", &input_path, "JSONL file of programs and their tests");
  flags.AddInt("parallel", &parallel,
               "runs at once (default and maximum: one per core; more is lowered, with a note)");
  if (absl::Status status = flags.Parse(args); !status.ok()) {
    return ReportStatus("verify-code", status);
  }
  if (input_path.empty()) {
    return ReportStatus("verify-code",
                        absl::InvalidArgumentError("--input FILE.jsonl is required"));
  }
  if (flags.WasSet("parallel")) {
    if (absl::Status status =
            CheckFlagRange("parallel", parallel, 1, std::numeric_limits<int64_t>::max(),
                           "leave it out for one per core");
        !status.ok()) {
      return ReportStatus("verify-code", status);
    }
  }
  absl::StatusOr<std::ifstream> opened = OpenFileForReading(input_path);
  if (!opened.ok()) {
    return ReportStatus(
        "verify-code",
        absl::Status(opened.status().code(), absl::StrCat("--input: ", opened.status().message())));
  }
  std::ifstream& input = *opened;

  verifiers::CodeSandbox sandbox;
  verifiers::CodeVerifierPool pool(&sandbox, parallel);
  if (flags.WasSet("parallel") && parallel > pool.parallelism()) {
    absl::FPrintF(stderr,
                  "ponder verify-code: --parallel %d is more than this host runs at once (one "
                  "per core); running %d at once\n",
                  parallel, pool.parallelism());
  }
  // Lines go through the pool in batches so that a large file needs bounded memory and results
  // appear as they are ready; within a batch they keep their order.
  const size_t batch_size = static_cast<size_t>(pool.parallelism()) * 16;
  int64_t line_number = 0;
  int64_t bad_lines = 0;
  bool input_left = true;
  while (input_left) {
    std::vector<std::optional<CodeRunRequest>> batch;
    std::vector<std::string> errors;
    std::string line;
    while (batch.size() < batch_size &&
           (input_left = static_cast<bool>(std::getline(input, line)))) {
      ++line_number;
      absl::StatusOr<CodeRunRequest> request = verifiers::CodeRunRequestFromJson(line);
      if (request.ok()) {
        batch.push_back(std::move(*request));
        errors.emplace_back();
      } else {
        batch.push_back(std::nullopt);
        errors.push_back(absl::StrCat("line ", line_number, ": ", request.status().message()));
        ++bad_lines;
      }
    }
    std::vector<CodeRunRequest> requests;
    for (const std::optional<CodeRunRequest>& request : batch) {
      if (request) requests.push_back(*request);
    }
    std::vector<CodeRunResult> results = pool.RunAll(requests);
    size_t next_result = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i]) {
        const CodeRunResult& result = results[next_result++];
        std::puts(verifiers::CodeRunResultToJson(result).c_str());
      } else {
        CodeRunResult bad_line;
        bad_line.status = CodeRunStatus::kError;
        bad_line.detail = errors[i];
        std::puts(verifiers::CodeRunResultToJson(bad_line).c_str());
      }
    }
    std::fflush(stdout);
  }
  verifiers::CodeVerifierPool::Stats stats = pool.stats();
  absl::FPrintF(stderr,
                "ponder verify-code: %d lines, %d bad; %d runs: %d passed, %d failed, %d timeout, "
                "%d error, %d sandbox_unavailable; %.2f s wall, %.2f s CPU in the sandbox\n",
                line_number, bad_lines, stats.runs,
                stats.runs_by_status[static_cast<int>(CodeRunStatus::kPassed)],
                stats.runs_by_status[static_cast<int>(CodeRunStatus::kFailed)],
                stats.runs_by_status[static_cast<int>(CodeRunStatus::kTimeout)],
                stats.runs_by_status[static_cast<int>(CodeRunStatus::kError)],
                stats.runs_by_status[static_cast<int>(CodeRunStatus::kSandboxUnavailable)],
                stats.wall_seconds, stats.cpu_seconds);
  const int64_t unavailable =
      stats.runs_by_status[static_cast<int>(CodeRunStatus::kSandboxUnavailable)];
  return bad_lines == 0 && unavailable == 0 ? 0 : 1;
}

}  // namespace

PONDER_REGISTER_COMMAND("verify-code", "run generated programs against tests in the sandbox",
                        RunVerifyCode);

}  // namespace ponder::cli
