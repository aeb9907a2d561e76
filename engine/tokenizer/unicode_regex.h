// A compiled PCRE2 regular expression used by pre-tokenizers (internal to engine/tokenizer/).
//
// Pre-tokenizer expressions need Unicode properties (\p{L}, \p{N}) and look-ahead (`\s+(?!\S)`),
// so patterns compile in UTF + UCP mode, JIT-compiled when the platform supports it. Subjects may
// hold ill-formed UTF-8 (PCRE2_MATCH_INVALID_UTF): ill-formed bytes never match, so they end up
// in the gaps between matches rather than making matching fail.
#ifndef PONDER_ENGINE_TOKENIZER_UNICODE_REGEX_H_
#define PONDER_ENGINE_TOKENIZER_UNICODE_REGEX_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace ponder::engine {

class UnicodeRegex {
 public:
  // Compiles `pattern` (Oniguruma / Rust-regex syntax as found in tokenizer.json, which PCRE2
  // accepts for the expressions tokenizers use). Errors name the pattern and the offset.
  static absl::StatusOr<std::unique_ptr<UnicodeRegex>> Compile(std::string_view pattern);
  // A pattern matching `literal` exactly (tokenizer.json `Split` with a String pattern).
  static absl::StatusOr<std::unique_ptr<UnicodeRegex>> CompileLiteral(std::string_view literal);

  UnicodeRegex(const UnicodeRegex&) = delete;
  UnicodeRegex& operator=(const UnicodeRegex&) = delete;
  ~UnicodeRegex();

  // Calls `on_match(begin, end)` for each successive non-overlapping non-empty match in
  // `subject`, left to right (an empty match advances the search by one character). Should the
  // engine fail part-way (a resource limit on a pathological subject), matching stops there and
  // the rest of the subject is left unmatched: callers treat it as one gap.
  void ForEachMatch(std::string_view subject,
                    absl::FunctionRef<void(size_t begin, size_t end)> on_match) const;

  const std::string& pattern() const { return pattern_; }

 private:
  UnicodeRegex() = default;

  std::string pattern_;  // as given, before WidenWhitespaceClasses
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

// Rewrites `\s` and `\S` so they match Unicode White_Space. Hugging Face tokenizers run these
// expressions with Oniguruma (or Rust's regex crate), where `\s` is White_Space; PCRE2's `\s`
// under UCP is \p{Z} plus \t\n\v\f\r and lacks U+0085 (NEXT LINE). Inside a character class
// `\s` gains `\x{85}`; outside, `\s` becomes `[\s\x{85}]` and `\S` `[^\s\x{85}]`. A `\S` inside
// a class is left as is (no tokenizer expression uses one).
std::string WidenWhitespaceClasses(std::string_view pattern);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_UNICODE_REGEX_H_
