// Locating the final answer in a model response or a dataset solution.
#ifndef PONDER_VERIFIERS_GRADING_ANSWER_EXTRACTION_H_
#define PONDER_VERIFIERS_GRADING_ANSWER_EXTRACTION_H_

#include <optional>
#include <string_view>

namespace ponder::verifiers::grading_internal {

// The contents of the last `\boxed{...}` (or, when there is no `\boxed`, the last `\fbox{...}`),
// braces counted as Hendrycks' `last_boxed_only_string` counts them (every `{` and `}`), so
// that the MATH dataset's own answers are reproduced exactly. `\boxed 5` (no brace) runs to the
// next `$` or end of line. nullopt when there is none or the last one is not closed.
std::optional<std::string_view> LastBoxedContent(std::string_view text);

// Whether the text ends inside its last `\boxed{` (or `\fbox{`), or right after the name: a
// response cut off while it wrote its answer.
bool EndsInsideLastBox(std::string_view text);

// The rest of the line after the last `####` (GSM8K's answer marker), trimmed.
std::optional<std::string_view> AfterLastHashMarker(std::string_view text);

// What follows the last "answer is" or "answer:" (any letter case): the `$...$`, `\(...\)` or
// `\[...\]` right after it if there is one (Minerva's "The final answer is $x$. I hope it is
// correct."), otherwise the rest of the line; trimmed, without a final full stop or `**`.
std::optional<std::string_view> AfterLastAnswerPhrase(std::string_view text);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_ANSWER_EXTRACTION_H_
