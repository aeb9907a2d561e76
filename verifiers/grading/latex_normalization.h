// LaTeX normalisation of a final answer, before it is parsed (math_answer.h).
//
// The output is a compact LaTeX-like string in which notational variants of the same answer
// coincide. It follows Hendrycks' MATH `_strip_string` (used by PRM800K's math_normalize.py and,
// extended, by Qwen2.5-Math's parser.py `strip_string`) where those agree, but works on LaTeX
// commands as tokens rather than by substring replacement, so `\left` never eats into
// `\leftarrow` and a unit list never eats letters out of an expression (Qwen's unit stripping
// turns `a+b` into `+b`; here only whole known unit words after a number are removed).
//
// What it does:
//  * `\dfrac`/`\tfrac`/`\cfrac` -> `\frac`, `\dbinom`/`\tbinom` -> `\binom`; `\le(q)`, `\ge(q)`,
//    `\ne(q)` unified; `\left`, `\right`, `\big...` dropped; `\lbrace`/`\rbrace` -> `\{`/`\}`;
//    `\langle`/`\rangle` -> `(`/`)`; `\boxed`/`\fbox` wrappers dropped.
//  * spacing (`\!`, `\,`, `\;`, `\quad`, `~`, newlines) and `$`, `\$`, `\(`, `\)` removed;
//    `^\circ`, `^{\circ}`, `\circ`, `\degree`, U+00B0 removed; `\%` -> `%`.
//  * `\text{...}` and other font commands: `\text{ and }` / `\text{ or }` become a list comma;
//    a text group that follows a number at the end of the answer (or of a tuple element) is a
//    unit and is removed (`135\text{ square feet}`, `5\text{ cm}^2`); otherwise the group is
//    replaced by its normalised contents (`\text{(C)}` -> `(C)`).
//  * thousands separators: `{,}` and `,\!` always; plain commas or spaces only when the whole
//    answer is one number in 3-digit groups (`1,000`, `1 000`), so tuples keep their commas,
//    and no comma is followed by a space or made from a word (`45, 135` and `12 and 130` are
//    lists).
//  * a mixed number `7 3/4` becomes `(7+3/4)` (PRM800K and Math-Verify; Qwen reads 73/4), and
//    so does an integer right before a fraction of integers, `7\frac{3}{4}` (PRM800K and
//    Math-Verify; Qwen multiplies).
//  * trailing full stops and trailing known unit words (`25 cm`, `3 dollars`) removed; the
//    words `percent`/`pct` become `%`, `and`/`or` become a comma, `infinity` becomes `\infty`.
//  * spaces removed, except one between two digits or two letters (`4 4/9`, `no solution`).
//
// Unicode −, ×, ·, ÷, π, √, ∞, ≤, ≥, ≠, ∪ and the en dash are mapped to their LaTeX forms.
// Runs in linear time; inputs over kMaxNormalizedInput bytes are only trimmed and compacted.
#ifndef PONDER_VERIFIERS_GRADING_LATEX_NORMALIZATION_H_
#define PONDER_VERIFIERS_GRADING_LATEX_NORMALIZATION_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ponder::verifiers::grading_internal {

inline constexpr size_t kMaxNormalizedInput = 16384;

// `list_reading`, where given, receives the normalisation of `raw` as a list when its commas
// were read as thousands separators but could be a list's (`70,110`, MATH's answer to a
// problem with the solutions 70 and 110; not `1,050`), and is reset otherwise.
std::string NormalizeMathAnswer(std::string_view raw,
                                std::optional<std::string>* list_reading = nullptr);

// Character classes on bytes (ASCII only; other bytes are neither).
inline bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}
inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
std::string_view TrimAsciiSpace(std::string_view s);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_LATEX_NORMALIZATION_H_
