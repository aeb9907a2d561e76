// Internal to datasets/: one JSON record of a dataset file -> one Problem.
#ifndef PONDER_DATASETS_ROW_PARSERS_H_
#define PONDER_DATASETS_ROW_PARSERS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "datasets/dataset.h"
#include "nlohmann/json.hpp"

namespace ponder::datasets::internal {

struct RowContext {
  std::string_view dataset;  // Problem::dataset
  std::string_view split;
  int64_t index = 0;  // position in the file, bad records included: ids do not shift
  // For MATH per-problem files: the id when the record has no unique_id ("test/algebra/1.json").
  std::string_view id_hint;
  int64_t line = 0;  // 1-based line the record starts on (0: unknown)
};

// A parser returns the problem or an error saying which field is wrong; the caller prefixes
// file and line.
using RowParser = absl::StatusOr<Problem> (*)(const nlohmann::json& row, const RowContext& context);

// GSM8K (Cobbe et al. 2021): {"question", "answer"}; the answer's last "#### N" is the gold
// answer. Id "<split>/<index>".
absl::StatusOr<Problem> ParseGsm8kRow(const nlohmann::json& row, const RowContext& context);

// MATH (Hendrycks et al. 2021) and MATH-500 (Lightman et al. 2023): {"problem", "solution",
// "level", "type" or "subject", optional "answer" and "unique_id"}. The gold answer is "answer"
// when present, else the last \boxed{} of the solution (MathGoldAnswer). "level" is "Level 3"
// or 3 ("Level ?" -> 0). Id: unique_id, else the id hint, else "<split>/<index>".
absl::StatusOr<Problem> ParseMathRow(const nlohmann::json& row, const RowContext& context);

// HumanEval (Chen et al. 2021): {"task_id", "prompt", "canonical_solution", "test",
// "entry_point"}. Id: the task id ("HumanEval/0").
absl::StatusOr<Problem> ParseHumanEvalRow(const nlohmann::json& row, const RowContext& context);

// MBPP (Austin et al. 2021), both files: mbpp.jsonl {"task_id", "text", "code",
// "test_setup_code", "test_list", ...} and sanitized-mbpp.json {"task_id", "prompt", "code",
// "test_imports", "test_list"}. Id "MBPP/<task_id>".
absl::StatusOr<Problem> ParseMbppRow(const nlohmann::json& row, const RowContext& context);

// A problems file (LoadProblemsFile): {"problem" (or "question"), optional "answer" (string or
// number), "id" (string or integer; default "line <line>"), "answer_format" ("math" or "gsm8k";
// default gsm8k for a plain number, math otherwise)}.
absl::StatusOr<Problem> ParseProblemsFileRow(const nlohmann::json& row, const RowContext& context);

// The MBPP task id of a problem parsed by ParseMbppRow (from its id), or -1.
int64_t MbppTaskId(const Problem& problem);

}  // namespace ponder::datasets::internal

#endif  // PONDER_DATASETS_ROW_PARSERS_H_
