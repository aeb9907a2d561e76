// Comparison of a program's output with what was expected (internal to verifiers/code). Runs in
// our process: the candidate never sees the expected output.
#ifndef PONDER_VERIFIERS_CODE_OUTPUT_COMPARE_H_
#define PONDER_VERIFIERS_CODE_OUTPUT_COMPARE_H_

#include <string>
#include <string_view>

namespace ponder::verifiers::sandbox {

// Input/output cases, the way competitive-programming judges (and the APPS / CodeContests
// harnesses) compare by default: line by line, ignoring trailing whitespace on each line, "\r\n"
// versus "\n", and trailing blank lines. Leading whitespace and inner spacing count.
bool OutputsMatch(std::string_view actual, std::string_view expected);

// The last line of `output` that is not blank, trimmed ("" when there is none).
std::string LastPrintedLine(std::string_view output);

// Program-of-thought agreement between the program's printed answer and the chain of thought's
// answer: both are stripped of surrounding whitespace, one pair of $...$, \boxed{...}, and a
// trailing period; if both then read as numbers (commas as thousands separators allowed, a
// trailing % ignored) they agree within 1e-6 relative (1e-9 absolute near zero); otherwise they
// must be equal strings. Full LaTeX equivalence is the grading part's job, not this one.
bool AnswersAgree(std::string_view program_answer, std::string_view cot_answer);

// `text` cut to at most `limit` bytes with "..." appended when cut, for details.
std::string Clip(std::string_view text, size_t limit);

}  // namespace ponder::verifiers::sandbox

#endif  // PONDER_VERIFIERS_CODE_OUTPUT_COMPARE_H_
