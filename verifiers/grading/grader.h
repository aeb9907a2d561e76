// Answer grading for GSM8K and MATH: find the final answer in a model response and decide
// whether it is equivalent to the reference answer.
//
// Verdicts follow the field's reference graders: PRM800K's grader (prm800k/grading), Qwen2.5-Math's
// `math_equal` (evaluation/grader.py) and Math-Verify. Where they agree we agree; where they
// disagree we take the majority, and the comment at that rule in the implementation names the
// example. The exception is order: sets, unions of intervals and several answers (`1, 3`,
// `x = 1 or x = 2`, `3 \pm \sqrt{2}`) compare without regard to order, as the issue asks and
// Math-Verify does, although PRM800K and Qwen reject reordered lists (they have no rule for
// them). The conformance table in tests/verifiers/grading/conformance_test.cc lists the cases
// and marks every disagreement.
//
// Promises:
//  * Never throws, never crashes and never hangs, whatever the bytes: expression sizes,
//    nesting, factorials, powers and list lengths are bounded (a fuzz target checks this).
//  * Deterministic and thread-safe: no shared mutable state.
//  * "No answer" (nullopt, or an empty or blank answer) is never correct and never
//    equivalent to anything, itself included.
//  * CanonicalAnswerKey: two answers with the same non-empty key are equivalent (in both
//    directions), so callers may group answers by key first and run pairwise
//    AnswersEquivalent only between groups. Equivalent answers often, but not always, share a
//    key (`\frac12`, `1/2` and `0.5` do; `2x+2` and `2(x+1)` may not).
//
// Numbers: integers and fractions compare exactly; a value written with a decimal point must
// agree with the other within relative 1e-4 AND to six decimal places (numeric_match.h);
// irrational values compare to floating-point noise. Expressions in free variables compare by
// value at fixed sample points.
#ifndef PONDER_VERIFIERS_GRADING_GRADER_H_
#define PONDER_VERIFIERS_GRADING_GRADER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ponder::verifiers {

namespace grading_internal {
struct MathAnswer;
}  // namespace grading_internal

enum class AnswerFormat {
  kGsm8k,  // grade-school word problems: the answer is a number
  kMath,   // MATH / MATH-500: LaTeX answers
  kCode,   // HumanEval / MBPP: the answer is a program, graded by running tests (verifiers/code)
};

// "gsm8k", "math" or "code"; an error naming the value otherwise.
absl::StatusOr<AnswerFormat> ParseAnswerFormat(std::string_view name);
std::string_view AnswerFormatName(AnswerFormat format);

// The final answer in a model response, or nullopt when there is none.
//  MATH:  the last `\boxed{...}` / `\fbox{...}` (nested braces), else what follows the last
//         "answer is" / "answer:" (`$...$` when delimited), else the rest of the line after
//         the last `####`.
//  GSM8K: the last `\boxed{...}`, else the number after the last `####`, else the first number
//         after the last "answer is" / "answer:", else the last number in the response.
// An empty `\boxed{}` is no answer (the earlier markers are not consulted). GSM8K numbers are
// returned without thousands separators ("1,234" -> "1234").
//  Code:  ExtractProgram.
std::optional<std::string> ExtractAnswer(std::string_view response, AnswerFormat format);

// The program in a response: the longest fenced code block (opened by a line that starts with
// ``` after any indentation, a language tag allowed; closed by the next line that is ``` alone;
// a block the response ends inside runs to the end), the first of equally long ones, its lines
// without the opening fence's indentation; with no fence, the whole response. Surrounding blank
// lines are dropped; nullopt when nothing but whitespace remains. EvalPlus's
// sanitizer (Liu et al. 2023, evalplus/sanitize.py) likewise keeps the longest stretch of code;
// it parses Python to find it, this does not.
// With whole_text_without_fence = false, a response without a fence has no program.
std::optional<std::string> ExtractProgram(std::string_view response,
                                          bool whole_text_without_fence = true);

// GSM8K gold answer: the text after the last "####" of a solution, thousands commas removed.
std::optional<std::string> Gsm8kGoldAnswer(std::string_view solution);

// MATH gold answer: the contents of the last `\boxed{}` of a solution, exactly as Hendrycks'
// `last_boxed_only_string` + `remove_boxed` produce it (the `answer` field of MATH-500).
std::optional<std::string> MathGoldAnswer(std::string_view solution);

// Whether `candidate` (an extracted answer) is equivalent to `reference`. Symmetric except
// for equations: a reference `y = 2x + 3` accepts `2x + 3`, and a candidate `x = 5` offers 5,
// but a reference `x + y = 5` does not accept `5`.
bool AnswersEquivalent(std::string_view candidate, std::string_view reference, AnswerFormat format);

// A normalised key for grouping answers into classes; see the promise above. Empty for an
// empty answer. Programs (kCode) are equivalent when they are the same text once trailing
// whitespace and blank lines are dropped: whether two programs behave alike is undecidable,
// and only tests (verifiers/code) grade one.
std::string CanonicalAnswerKey(std::string_view answer, AnswerFormat format);

// An answer parsed once, for comparing against many others (answer classes in
// self-consistency and weighted best-of-N). Cheap to copy.
class ParsedAnswer {
 public:
  static ParsedAnswer Parse(std::string_view answer, AnswerFormat format);

  AnswerFormat format() const { return format_; }
  // True for an empty or blank answer, which matches nothing.
  bool empty() const;
  // CanonicalAnswerKey of the answer.
  const std::string& key() const { return key_; }
  // AnswersEquivalent(this answer, reference); false when the formats differ.
  bool IsEquivalentTo(const ParsedAnswer& reference) const;

 private:
  ParsedAnswer(AnswerFormat format, std::shared_ptr<const grading_internal::MathAnswer> parsed,
               std::string key)
      : format_(format), parsed_(std::move(parsed)), key_(std::move(key)) {}

  AnswerFormat format_;
  std::shared_ptr<const grading_internal::MathAnswer> parsed_;  // null for kCode
  std::string key_;
  // The answer read as a list where its commas were read as thousands separators but could be
  // a list's (`70,110`); null otherwise.
  std::shared_ptr<const grading_internal::MathAnswer> list_reading_;
};

struct GradeResult {
  std::optional<std::string> extracted;  // nullopt: no answer found
  bool correct = false;
};

// Extracts the answer from `response` (or, with extract = false, takes the whole response as
// the answer) and compares it with `reference`. A GSM8K reference may be a full solution
// ending in "#### N"; N is used.
GradeResult Grade(std::string_view response, std::string_view reference, AnswerFormat format,
                  bool extract = true);

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_GRADING_GRADER_H_
