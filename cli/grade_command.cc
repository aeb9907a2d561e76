// `ponder grade --dataset gsm8k|math [--no-extract] --input FILE.jsonl`: grades model responses
// against reference answers (verifiers/grading/grader.h), one JSON result line per input line.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <istream>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "base/mapped_file.h"
#include "base/strings.h"
#include "cli/command.h"
#include "nlohmann/json.hpp"
#include "verifiers/grading/grader.h"

namespace ponder::cli {
namespace {

constexpr char kUsage[] =
    "ponder grade --dataset gsm8k|math [--no-extract] --input FILE.jsonl\n"
    "\n"
    "Each input line is a JSON object {\"response\": \"...\", \"reference\": \"...\"}.\n"
    "Each output line (stdout, same order) is {\"extracted\": \"...\" or null, \"correct\": "
    "true|false}.\n"
    "The final answer is extracted from the response (last \\boxed{}, \"#### N\", \"The answer "
    "is\",\n"
    "and for gsm8k the last number); --no-extract takes the whole response as the answer.\n"
    "A line that is not a valid request is reported on stderr with its line number, gets\n"
    "{\"extracted\": null, \"correct\": false, \"error\": \"...\"} so that output lines stay "
    "aligned\n"
    "with input lines, and the run goes on; the exit status is then 1. Blank lines are skipped.\n"
    "--input - reads standard input.";

struct GradeRequest {
  std::string response;
  std::string reference;
};

absl::StatusOr<GradeRequest> ParseRequestLine(std::string_view line) {
  nlohmann::json json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  GradeRequest request;
  for (auto [field, out] :
       {std::pair{"response", &request.response}, std::pair{"reference", &request.reference}}) {
    auto it = json.find(field);
    if (it == json.end()) {
      return absl::InvalidArgumentError(absl::StrCat("missing field \"", field, "\""));
    }
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("field \"", field, "\" is not a string"));
    }
    *out = it->get<std::string>();
  }
  return request;
}

void WriteLine(const nlohmann::ordered_json& json) {
  std::string text = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stdout);
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

int RunGrade(std::span<char* const> args) {
  std::string dataset;
  std::string input_path;
  bool no_extract = false;
  FlagParser flags(kUsage);
  flags.AddString("dataset", &dataset, "answer format: gsm8k or math");
  flags.AddBool("no-extract", &no_extract, "take each response as the answer itself");
  flags.AddString("input", &input_path,
                  "JSON Lines file of {\"response\", \"reference\"} ('-': stdin)");
  if (absl::Status status = flags.Parse(args); !status.ok()) return ReportStatus("grade", status);
  if (!flags.positional().empty()) {
    return ReportStatus("grade", absl::InvalidArgumentError(absl::StrCat(
                                     "unexpected argument '", flags.positional()[0], "'")));
  }
  if (dataset.empty()) {
    return ReportStatus("grade", absl::InvalidArgumentError("--dataset gsm8k|math is required"));
  }
  absl::StatusOr<verifiers::AnswerFormat> format = verifiers::ParseAnswerFormat(dataset);
  if (!format.ok()) {
    return ReportStatus("grade", absl::InvalidArgumentError(
                                     absl::StrCat("--dataset: ", format.status().message())));
  }
  if (*format == verifiers::AnswerFormat::kCode) {
    return ReportStatus("grade",
                        absl::InvalidArgumentError("--dataset code: programs are graded by running "
                                                   "tests (ponder verify-code, ponder bench)"));
  }
  if (input_path.empty()) {
    return ReportStatus("grade", absl::InvalidArgumentError("--input FILE.jsonl is required"));
  }
  std::ifstream file;
  std::istream* input = &std::cin;
  if (input_path != "-") {
    absl::StatusOr<std::ifstream> opened = OpenFileForReading(input_path);
    if (!opened.ok()) {
      return ReportStatus("grade",
                          absl::Status(opened.status().code(),
                                       absl::StrCat("--input: ", opened.status().message())));
    }
    file = std::move(*opened);
    input = &file;
  }

  int64_t line_number = 0;
  int64_t bad_lines = 0;
  std::string line;
  while (std::getline(*input, line)) {
    ++line_number;
    if (IsBlank(line)) continue;
    absl::StatusOr<GradeRequest> request = ParseRequestLine(line);
    nlohmann::ordered_json result;
    if (!request.ok()) {
      ++bad_lines;
      std::string error = absl::StrCat(input_path == "-" ? "<stdin>" : input_path, ":", line_number,
                                       ": ", request.status().message());
      PrintToStderr("ponder grade", error);
      result["extracted"] = nullptr;
      result["correct"] = false;
      result["error"] = error;
      WriteLine(result);
      continue;
    }
    verifiers::GradeResult grade =
        verifiers::Grade(request->response, request->reference, *format, !no_extract);
    if (grade.extracted) {
      result["extracted"] = *grade.extracted;
    } else {
      result["extracted"] = nullptr;
    }
    result["correct"] = grade.correct;
    WriteLine(result);
  }
  std::fflush(stdout);
  if (bad_lines > 0) {
    absl::FPrintF(stderr, "ponder grade: %d of %d lines could not be read\n", bad_lines,
                  line_number);
    return 1;
  }
  return 0;
}

}  // namespace

PONDER_REGISTER_COMMAND("grade", "grade responses against reference answers (GSM8K, MATH)",
                        RunGrade);

}  // namespace ponder::cli
