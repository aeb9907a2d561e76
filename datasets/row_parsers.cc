#include "datasets/row_parsers.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "datasets/records.h"

namespace ponder::datasets::internal {
namespace {

constexpr std::string_view kMbppIdPrefix = "MBPP/";

absl::Status RequireObject(const nlohmann::json& row) {
  if (!row.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  return absl::OkStatus();
}

std::string PositionalId(const RowContext& context) {
  return absl::StrCat(AsAbsl(context.split), "/", context.index);
}

// "Level 3" -> 3, 3 -> 3, "Level ?" or anything else -> 0 (MATH has a few problems with an
// unknown level).
int ParseLevel(const nlohmann::json& row) {
  auto it = row.find("level");
  if (it == row.end()) return 0;
  if (it->is_number_integer()) return static_cast<int>(it->get<int64_t>());
  if (!it->is_string()) return 0;
  std::string_view text = it->get_ref<const std::string&>();
  if (absl::StartsWith(AsAbsl(text), "Level ")) text.remove_prefix(6);
  int level = 0;
  if (!absl::SimpleAtoi(AsAbsl(text), &level)) return 0;
  return level;
}

}  // namespace

absl::StatusOr<Problem> ParseProblemsFileRow(const nlohmann::json& row, const RowContext& context) {
  if (!row.is_object()) return absl::InvalidArgumentError("not a JSON object");
  Problem problem;
  problem.dataset = std::string(context.dataset);
  const char* text_key = row.contains("problem") ? "problem" : "question";
  if (!row.contains(text_key) || !row[text_key].is_string() ||
      row[text_key].get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError("needs a non-empty string \"problem\" (or \"question\")");
  }
  problem.question = row[text_key].get<std::string>();
  if (row.contains("id")) {
    if (!row["id"].is_string() && !row["id"].is_number_integer()) {
      return absl::InvalidArgumentError("\"id\" must be a string or an integer");
    }
    problem.id = row["id"].is_string() ? row["id"].get<std::string>() : row["id"].dump();
    if (problem.id.empty()) {
      return absl::InvalidArgumentError("\"id\" is empty (leave it out for \"line N\")");
    }
  } else {
    problem.id = absl::StrCat("line ", context.line);
  }
  bool numeric = false;
  if (row.contains("answer") && !row["answer"].is_null()) {
    const nlohmann::json& answer = row["answer"];
    if (!answer.is_string() && !answer.is_number()) {
      return absl::InvalidArgumentError("\"answer\" must be a string or a number");
    }
    problem.reference_answer = answer.is_string() ? answer.get<std::string>() : answer.dump();
    double unused;
    numeric = absl::SimpleAtod(problem.reference_answer, &unused);
  }
  std::string format = numeric ? "gsm8k" : "math";
  if (row.contains("answer_format")) {
    if (!row["answer_format"].is_string()) {
      return absl::InvalidArgumentError(
          "\"answer_format\" must be \"math\", \"gsm8k\" or \"code\"");
    }
    format = row["answer_format"].get<std::string>();
  }
  if (format != "code") {
    // Tests on a problem graded by its answer would be ignored without a word.
    for (const char* field : {"tests", "test_code", "setup", "example_tests"}) {
      if (row.contains(field)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", field, "\" is for code problems (\"answer_format\": \"code\")"));
      }
    }
  }
  if (format == "gsm8k") {
    problem.answer_format = verifiers::AnswerFormat::kGsm8k;
  } else if (format == "math") {
    problem.answer_format = verifiers::AnswerFormat::kMath;
  } else if (format == "code") {
    // Graded by tests, as HumanEval and MBPP are: "tests" (each one test) after "setup", or one
    // block of "test_code"; "example_tests" are those the problem shows (unit_tests verifier).
    if (row.contains("answer") && !row["answer"].is_null()) {
      return absl::InvalidArgumentError(
          "a code problem is graded by its \"tests\" or \"test_code\", not an \"answer\"");
    }
    CodeTask code;
    PONDER_ASSIGN_OR_RETURN(code.test_list, StringListField(row, "tests"));
    if (row.contains("test_code")) {
      PONDER_ASSIGN_OR_RETURN(code.test_code, StringField(row, "test_code"));
    }
    if (row.contains("setup")) {
      PONDER_ASSIGN_OR_RETURN(code.test_setup_code, StringField(row, "setup"));
    }
    PONDER_ASSIGN_OR_RETURN(code.example_tests, StringListField(row, "example_tests"));
    if (code.test_list.empty() == code.test_code.empty()) {
      return absl::InvalidArgumentError(
          "a code problem needs exactly one of \"tests\" (a list) and \"test_code\"");
    }
    // A blank test passes whatever the program does; a blank block is no test.
    auto blank = [](const std::string& text) {
      return text.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
    };
    if (!code.test_code.empty() && blank(code.test_code)) {
      return absl::InvalidArgumentError("\"test_code\" is blank");
    }
    for (const char* field : {"tests", "example_tests"}) {
      const std::vector<std::string>& list =
          std::string_view(field) == "tests" ? code.test_list : code.example_tests;
      for (size_t i = 0; i < list.size(); ++i) {
        if (blank(list[i])) {
          return absl::InvalidArgumentError(absl::StrCat("\"", field, "\"[", i, "] is blank"));
        }
      }
    }
    code.prompt = problem.question;
    problem.code = std::move(code);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"answer_format\" must be \"math\", \"gsm8k\" or \"code\", got \"", format, "\""));
  }
  return problem;
}

absl::StatusOr<Problem> ParseGsm8kRow(const nlohmann::json& row, const RowContext& context) {
  PONDER_RETURN_IF_ERROR(RequireObject(row));
  Problem problem;
  problem.dataset = std::string(context.dataset);
  problem.id = PositionalId(context);
  PONDER_ASSIGN_OR_RETURN(problem.question, StringField(row, "question"));
  PONDER_ASSIGN_OR_RETURN(problem.solution, StringField(row, "answer"));
  std::optional<std::string> gold = verifiers::Gsm8kGoldAnswer(problem.solution);
  if (!gold || gold->empty()) {
    return absl::InvalidArgumentError("field \"answer\" has no final \"#### N\" line");
  }
  problem.reference_answer = std::move(*gold);
  problem.answer_format = verifiers::AnswerFormat::kGsm8k;
  return problem;
}

absl::StatusOr<Problem> ParseMathRow(const nlohmann::json& row, const RowContext& context) {
  PONDER_RETURN_IF_ERROR(RequireObject(row));
  Problem problem;
  problem.dataset = std::string(context.dataset);
  PONDER_ASSIGN_OR_RETURN(problem.question, StringField(row, "problem"));
  if (row.contains("solution")) {
    PONDER_ASSIGN_OR_RETURN(problem.solution, StringField(row, "solution"));
  }
  if (row.contains("answer")) {
    PONDER_ASSIGN_OR_RETURN(problem.reference_answer, StringField(row, "answer"));
  } else if (std::optional<std::string> boxed = verifiers::MathGoldAnswer(problem.solution)) {
    problem.reference_answer = std::move(*boxed);
  } else if (!row.contains("solution")) {
    return absl::InvalidArgumentError(
        "missing field \"answer\" (and no \"solution\" to take it from)");
  } else {
    return absl::InvalidArgumentError(
        "the solution has no \\boxed{} answer and there is no \"answer\" field");
  }
  if (problem.reference_answer.find_first_not_of(" \t\n") == std::string::npos) {
    return absl::InvalidArgumentError("the answer is empty");
  }
  problem.answer_format = verifiers::AnswerFormat::kMath;
  problem.level = ParseLevel(row);
  for (const char* field : {"type", "subject"}) {
    auto it = row.find(field);
    if (it != row.end() && it->is_string()) {
      problem.subject = it->get<std::string>();
      break;
    }
  }
  auto unique_id = row.find("unique_id");
  if (unique_id != row.end() && unique_id->is_string() &&
      !unique_id->get_ref<const std::string&>().empty()) {
    problem.id = unique_id->get<std::string>();
  } else if (!context.id_hint.empty()) {
    problem.id = std::string(context.id_hint);
  } else {
    problem.id = PositionalId(context);
  }
  return problem;
}

absl::StatusOr<Problem> ParseHumanEvalRow(const nlohmann::json& row, const RowContext& context) {
  PONDER_RETURN_IF_ERROR(RequireObject(row));
  Problem problem;
  problem.dataset = std::string(context.dataset);
  CodeTask code;
  PONDER_ASSIGN_OR_RETURN(problem.id, StringField(row, "task_id"));
  PONDER_ASSIGN_OR_RETURN(code.prompt, StringField(row, "prompt"));
  PONDER_ASSIGN_OR_RETURN(code.canonical_solution, StringField(row, "canonical_solution"));
  PONDER_ASSIGN_OR_RETURN(code.test, StringField(row, "test"));
  PONDER_ASSIGN_OR_RETURN(code.entry_point, StringField(row, "entry_point"));
  problem.question = code.prompt;
  problem.solution = code.prompt + code.canonical_solution;
  problem.code = std::move(code);
  return problem;
}

absl::StatusOr<Problem> ParseMbppRow(const nlohmann::json& row, const RowContext& context) {
  PONDER_RETURN_IF_ERROR(RequireObject(row));
  Problem problem;
  problem.dataset = std::string(context.dataset);
  CodeTask code;
  PONDER_ASSIGN_OR_RETURN(int64_t task_id, IntegerField(row, "task_id"));
  problem.id = absl::StrCat(AsAbsl(kMbppIdPrefix), task_id);
  // mbpp.jsonl calls the task "text"; sanitized-mbpp.json calls its (reworded) task "prompt".
  bool sanitized = !row.contains("text") && row.contains("prompt");
  PONDER_ASSIGN_OR_RETURN(code.prompt, StringField(row, sanitized ? "prompt" : "text"));
  PONDER_ASSIGN_OR_RETURN(code.canonical_solution, StringField(row, "code"));
  PONDER_ASSIGN_OR_RETURN(code.test_list, StringListField(row, "test_list"));
  if (code.test_list.empty()) return absl::InvalidArgumentError("field \"test_list\" is empty");
  if (row.contains("test_setup_code")) {
    PONDER_ASSIGN_OR_RETURN(code.test_setup_code, StringField(row, "test_setup_code"));
  }
  PONDER_ASSIGN_OR_RETURN(code.test_imports, StringListField(row, "test_imports"));
  problem.question = code.prompt;
  problem.solution = code.canonical_solution;
  problem.code = std::move(code);
  return problem;
}

int64_t MbppTaskId(const Problem& problem) {
  std::string_view id = problem.id;
  if (!absl::StartsWith(AsAbsl(id), AsAbsl(kMbppIdPrefix))) return -1;
  int64_t task_id = -1;
  if (!absl::SimpleAtoi(AsAbsl(id.substr(kMbppIdPrefix.size())), &task_id)) return -1;
  return task_id;
}

}  // namespace ponder::datasets::internal
