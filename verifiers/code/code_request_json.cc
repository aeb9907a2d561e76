// The JSON line format of `ponder verify-code` (see CodeRunRequestFromJson in code_verifier.h).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers {
namespace {

constexpr double kDefaultTimeoutSeconds = 5;
constexpr double kMaxTimeoutSeconds = 600;

}  // namespace

absl::StatusOr<CodeRunRequest> CodeRunRequestFromJson(std::string_view line) {
  nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
  if (object.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!object.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (key != "language" && key != "program" && key != "tests" && key != "test_cases" &&
        key != "timeout_s") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", key, "' (fields: language, program, tests, test_cases, timeout_s)"));
    }
  }
  CodeRunRequest request;
  if (object.contains("language")) {
    if (!object["language"].is_string()) {
      return absl::InvalidArgumentError("field 'language' must be a string");
    }
    request.language = object["language"].get<std::string>();
    if (request.language != "python") {
      return absl::InvalidArgumentError(absl::StrCat("field 'language': unsupported language '",
                                                     request.language, "' (supported: python)"));
    }
  }
  if (!object.contains("program") || !object["program"].is_string()) {
    return absl::InvalidArgumentError("field 'program' (a string) is required");
  }
  request.program = object["program"].get<std::string>();
  const bool has_tests = object.contains("tests");
  const bool has_cases = object.contains("test_cases");
  if (has_tests == has_cases) {
    return absl::InvalidArgumentError("give exactly one of 'tests' and 'test_cases'");
  }
  if (has_tests) {
    if (!object["tests"].is_string()) {
      return absl::InvalidArgumentError("field 'tests' must be a string of Python test code");
    }
    request.kind = CodeTestKind::kTestCode;
    request.test_code = object["tests"].get<std::string>();
  } else {
    const nlohmann::json& cases = object["test_cases"];
    if (!cases.is_array() || cases.empty()) {
      return absl::InvalidArgumentError("field 'test_cases' must be a non-empty array");
    }
    request.kind = CodeTestKind::kIoCases;
    for (size_t i = 0; i < cases.size(); ++i) {
      const nlohmann::json& c = cases[i];
      if (!c.is_object() || !c.contains("input") || !c["input"].is_string() ||
          !c.contains("expected_output") || !c["expected_output"].is_string() || c.size() != 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            "test_cases[", i, "] must be {\"input\": string, \"expected_output\": string}"));
      }
      request.io_cases.push_back(
          IoCase{c["input"].get<std::string>(), c["expected_output"].get<std::string>()});
    }
  }
  request.limits.timeout_seconds = kDefaultTimeoutSeconds;
  if (object.contains("timeout_s")) {
    const nlohmann::json& timeout = object["timeout_s"];
    if (!timeout.is_number() || !(timeout.get<double>() > 0) ||
        timeout.get<double>() > kMaxTimeoutSeconds) {
      return absl::InvalidArgumentError(
          absl::StrFormat("field 'timeout_s' must be a number in (0, %g]", kMaxTimeoutSeconds));
    }
    request.limits.timeout_seconds = timeout.get<double>();
  }
  return request;
}

std::string CodeRunResultToJson(const CodeRunResult& result) {
  // In the order of the documented format.
  nlohmann::ordered_json line = {{"status", std::string(CodeRunStatusName(result.status))},
                                 {"tests_passed", result.tests_passed},
                                 {"tests_total", result.tests_total},
                                 {"detail", result.detail}};
  // Details may quote the program's output, which need not be UTF-8.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace ponder::verifiers
