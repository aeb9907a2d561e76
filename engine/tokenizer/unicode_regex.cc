#include "engine/tokenizer/unicode_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "base/utf8.h"

namespace ponder::engine {
namespace {

// The JIT stack each thread matches with. PCRE2's default is 32 KiB on the machine stack; a
// larger, growable one keeps long runs of whitespace or punctuation from hitting the limit.
pcre2_jit_stack* ThreadJitStack(void*) {
  struct Holder {
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    ~Holder() {
      if (stack != nullptr) pcre2_jit_stack_free(stack);
    }
  };
  thread_local Holder holder;
  return holder.stack;
}

// Match data is per thread so that one compiled expression serves many threads at once. One
// ovector pair is enough: only the whole match is read (pcre2_match then returns 0 for patterns
// with groups, which still fills pair 0).
pcre2_match_data* ThreadMatchData() {
  struct Holder {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    ~Holder() { pcre2_match_data_free(data); }
  };
  thread_local Holder holder;
  return holder.data;
}

std::string Pcre2ErrorMessage(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return absl::StrCat("code ", code);
  return std::string(reinterpret_cast<const char*>(buffer));
}

}  // namespace

struct UnicodeRegex::Compiled {
  pcre2_code* code = nullptr;
  pcre2_match_context* match_context = nullptr;
  ~Compiled() {
    if (match_context != nullptr) pcre2_match_context_free(match_context);
    if (code != nullptr) pcre2_code_free(code);
  }
};

UnicodeRegex::~UnicodeRegex() = default;

std::string WidenWhitespaceClasses(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[i + 1];
      if (escaped == 'Q') {  // \Q...\E quotes literally
        const size_t end = pattern.find("\\E", i + 2);
        const size_t stop = end == std::string_view::npos ? pattern.size() : end + 2;
        out.append(pattern.substr(i, stop - i));
        i = stop;
        continue;
      }
      if (escaped == 's') {
        out.append(in_class ? "\\s\\x{85}" : "[\\s\\x{85}]");
      } else if (escaped == 'S' && !in_class) {
        out.append("[^\\s\\x{85}]");
      } else {
        out.push_back(c);
        out.push_back(escaped);
      }
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      ++i;
      if (i < pattern.size() && pattern[i] == '^') out.push_back(pattern[i++]);
      if (i < pattern.size() && pattern[i] == ']') out.push_back(pattern[i++]);  // literal ]
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t end = pattern.find(":]", i + 2);  // POSIX class such as [:alpha:]
      if (end != std::string_view::npos) {
        out.append(pattern.substr(i, end + 2 - i));
        i = end + 2;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
    ++i;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<UnicodeRegex>> UnicodeRegex::Compile(std::string_view pattern) {
  const std::string widened = WidenWhitespaceClasses(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(widened.data()), widened.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot compile the regular expression '", AsAbsl(pattern), "': ",
        Pcre2ErrorMessage(error_code), " (near offset ", error_offset, " of '", widened, "')"));
  }
  auto regex = std::unique_ptr<UnicodeRegex>(new UnicodeRegex());
  regex->pattern_ = std::string(pattern);
  regex->compiled_ = std::make_unique<Compiled>();
  regex->compiled_->code = code;
  // A bound on backtracking: tokenizer expressions take a few steps per match, so only a
  // pathological expression from a malformed file can reach it (matching then stops, see
  // ForEachMatch) instead of running for minutes.
  regex->compiled_->match_context = pcre2_match_context_create(nullptr);
  if (regex->compiled_->match_context == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate a PCRE2 match context");
  }
  pcre2_set_match_limit(regex->compiled_->match_context, 1'000'000);
  // JIT is an optimisation: where it is unavailable, pcre2_match interprets the pattern.
  if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0) {
    pcre2_jit_stack_assign(regex->compiled_->match_context, ThreadJitStack, nullptr);
  }
  return regex;
}

absl::StatusOr<std::unique_ptr<UnicodeRegex>> UnicodeRegex::CompileLiteral(
    std::string_view literal) {
  std::string pattern;
  for (char c : literal) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      if (c == '\0') {
        pattern.append("\\x{0}");
        continue;
      }
      pattern.push_back('\\');
    }
    pattern.push_back(c);
  }
  auto compiled = Compile(pattern);
  if (!compiled.ok()) return compiled.status();
  (*compiled)->pattern_ = std::string(literal);
  return compiled;
}

void UnicodeRegex::ForEachMatch(std::string_view subject,
                                absl::FunctionRef<void(size_t, size_t)> on_match) const {
  pcre2_match_data* match_data = ThreadMatchData();
  if (match_data == nullptr) return;
  const auto* data = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t offset = 0;
  while (offset < subject.size()) {
    int rc = pcre2_match(compiled_->code, data, subject.size(), offset, 0, match_data,
                         compiled_->match_context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The interpreter keeps its backtracking state on the heap rather than the JIT stack.
      rc = pcre2_match(compiled_->code, data, subject.size(), offset, PCRE2_NO_JIT, match_data,
                       compiled_->match_context);
    }
    if (rc < 0) return;  // PCRE2_ERROR_NOMATCH, or a failure: the rest stays unmatched
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end <= begin) {
      if (begin >= subject.size()) return;
      // An empty match: move on by one character so the search makes progress.
      offset = begin + Utf8LengthFromLeadByte(static_cast<uint8_t>(subject[begin]));
      continue;
    }
    on_match(begin, end);
    offset = end;
  }
}

}  // namespace ponder::engine
