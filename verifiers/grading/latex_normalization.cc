#include "verifiers/grading/latex_normalization.h"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ponder::verifiers::grading_internal {
namespace {

// Stands for a comma that is certainly a thousands separator (`{,}` or `,\!`) until the
// post-pass decides, from the digits around it, whether to drop it.
constexpr char kThousandsMark = '\x1f';
// `\text{...}` may nest; deeper groups are copied without normalisation.
constexpr int kMaxTextDepth = 4;

enum class CommandAction {
  kDrop,               // \displaystyle, \boxed, \limits, ...
  kSizedDelimiter,     // \left, \right, \big...: dropped, and an invisible delimiter `.` with it
  kSpace,              // \quad, ...
  kSpaceWithArgument,  // \hspace{...}
  kRename,             // emits `replacement` (a command if it starts with a backslash)
  kText,               // \text{...} and font commands
  kKeepWithArgument,   // \mathbb{R}: kept verbatim with its argument
};

struct CommandRule {
  CommandAction action;
  std::string_view replacement;
};

const std::unordered_map<std::string_view, CommandRule>& CommandRules() {
  static const auto* rules = new std::unordered_map<std::string_view, CommandRule>{
      {"left", {CommandAction::kSizedDelimiter, ""}},
      {"right", {CommandAction::kSizedDelimiter, ""}},
      {"middle", {CommandAction::kSizedDelimiter, ""}},
      {"big", {CommandAction::kSizedDelimiter, ""}},
      {"Big", {CommandAction::kSizedDelimiter, ""}},
      {"bigg", {CommandAction::kSizedDelimiter, ""}},
      {"Bigg", {CommandAction::kSizedDelimiter, ""}},
      {"bigl", {CommandAction::kSizedDelimiter, ""}},
      {"bigr", {CommandAction::kSizedDelimiter, ""}},
      {"Bigl", {CommandAction::kSizedDelimiter, ""}},
      {"Bigr", {CommandAction::kSizedDelimiter, ""}},
      {"biggl", {CommandAction::kSizedDelimiter, ""}},
      {"biggr", {CommandAction::kSizedDelimiter, ""}},
      {"Biggl", {CommandAction::kSizedDelimiter, ""}},
      {"Biggr", {CommandAction::kSizedDelimiter, ""}},
      {"displaystyle", {CommandAction::kDrop, ""}},
      {"textstyle", {CommandAction::kDrop, ""}},
      {"scriptstyle", {CommandAction::kDrop, ""}},
      {"limits", {CommandAction::kDrop, ""}},
      {"nolimits", {CommandAction::kDrop, ""}},
      {"boxed", {CommandAction::kDrop, ""}},
      {"fbox", {CommandAction::kDrop, ""}},
      {"ensuremath", {CommandAction::kDrop, ""}},
      {"circ", {CommandAction::kDrop, ""}},
      {"degree", {CommandAction::kDrop, ""}},
      {"degrees", {CommandAction::kDrop, ""}},
      {"quad", {CommandAction::kSpace, ""}},
      {"qquad", {CommandAction::kSpace, ""}},
      {"enspace", {CommandAction::kSpace, ""}},
      {"enskip", {CommandAction::kSpace, ""}},
      {"thinspace", {CommandAction::kSpace, ""}},
      {"medspace", {CommandAction::kSpace, ""}},
      {"thickspace", {CommandAction::kSpace, ""}},
      {"negthinspace", {CommandAction::kDrop, ""}},
      {"hspace", {CommandAction::kSpaceWithArgument, ""}},
      {"dfrac", {CommandAction::kRename, "\\frac"}},
      {"tfrac", {CommandAction::kRename, "\\frac"}},
      {"cfrac", {CommandAction::kRename, "\\frac"}},
      {"dbinom", {CommandAction::kRename, "\\binom"}},
      {"tbinom", {CommandAction::kRename, "\\binom"}},
      {"le", {CommandAction::kRename, "\\le"}},
      {"leq", {CommandAction::kRename, "\\le"}},
      {"leqslant", {CommandAction::kRename, "\\le"}},
      {"ge", {CommandAction::kRename, "\\ge"}},
      {"geq", {CommandAction::kRename, "\\ge"}},
      {"geqslant", {CommandAction::kRename, "\\ge"}},
      {"ne", {CommandAction::kRename, "\\ne"}},
      {"neq", {CommandAction::kRename, "\\ne"}},
      {"lt", {CommandAction::kRename, "<"}},
      {"gt", {CommandAction::kRename, ">"}},
      {"lbrace", {CommandAction::kRename, "\\{"}},
      {"rbrace", {CommandAction::kRename, "\\}"}},
      {"langle", {CommandAction::kRename, "("}},
      {"rangle", {CommandAction::kRename, ")"}},
      {"lvert", {CommandAction::kRename, "|"}},
      {"rvert", {CommandAction::kRename, "|"}},
      {"vert", {CommandAction::kRename, "|"}},
      {"mid", {CommandAction::kRename, "|"}},
      {"ast", {CommandAction::kRename, "*"}},
      {"dots", {CommandAction::kRename, "\\dots"}},
      {"ldots", {CommandAction::kRename, "\\dots"}},
      {"cdots", {CommandAction::kRename, "\\dots"}},
      {"emptyset", {CommandAction::kRename, "\\emptyset"}},
      {"varnothing", {CommandAction::kRename, "\\emptyset"}},
      {"infin", {CommandAction::kRename, "\\infty"}},
      {"colon", {CommandAction::kRename, ":"}},
      {"text", {CommandAction::kText, ""}},
      {"textbf", {CommandAction::kText, ""}},
      {"textit", {CommandAction::kText, ""}},
      {"textrm", {CommandAction::kText, ""}},
      {"textsf", {CommandAction::kText, ""}},
      {"texttt", {CommandAction::kText, ""}},
      {"textup", {CommandAction::kText, ""}},
      {"textnormal", {CommandAction::kText, ""}},
      {"emph", {CommandAction::kText, ""}},
      {"mbox", {CommandAction::kText, ""}},
      {"hbox", {CommandAction::kText, ""}},
      {"mathrm", {CommandAction::kText, ""}},
      {"mathbf", {CommandAction::kText, ""}},
      {"mathit", {CommandAction::kText, ""}},
      {"mathsf", {CommandAction::kText, ""}},
      {"mathtt", {CommandAction::kText, ""}},
      {"mathnormal", {CommandAction::kText, ""}},
      {"boldsymbol", {CommandAction::kText, ""}},
      {"bm", {CommandAction::kText, ""}},
      {"operatorname", {CommandAction::kText, ""}},
      {"mathbb", {CommandAction::kKeepWithArgument, ""}},
      {"mathcal", {CommandAction::kKeepWithArgument, ""}},
      {"mathfrak", {CommandAction::kKeepWithArgument, ""}},
  };
  return *rules;
}

struct Utf8Rule {
  std::string_view bytes;
  std::string_view replacement;  // "" drops; " " is a space; a leading backslash is a command
};

constexpr std::array<Utf8Rule, 22> kUtf8Rules = {{
    {"\xE2\x88\x92", "-"},        // U+2212 minus sign
    {"\xE2\x80\x93", "-"},        // U+2013 en dash
    {"\xC3\x97", "\\times"},      // U+00D7
    {"\xC2\xB7", "\\cdot"},       // U+00B7
    {"\xE2\x8B\x85", "\\cdot"},   // U+22C5 dot operator
    {"\xC3\xB7", "\\div"},        // U+00F7
    {"\xCF\x80", "\\pi"},         // U+03C0
    {"\xE2\x88\x9A", "\\sqrt"},   // U+221A
    {"\xE2\x88\x9E", "\\infty"},  // U+221E
    {"\xE2\x89\xA4", "\\le"},     // U+2264
    {"\xE2\x89\xA5", "\\ge"},     // U+2265
    {"\xE2\x89\xA0", "\\ne"},     // U+2260
    {"\xE2\x88\xAA", "\\cup"},    // U+222A
    {"\xC2\xB0", ""},             // U+00B0 degree sign
    {"\xC2\xB2", "^2"},           // U+00B2
    {"\xC2\xB3", "^3"},           // U+00B3
    {"\xE2\x82\xAC", ""},         // U+20AC euro sign
    {"\xC2\xA3", ""},             // U+00A3 pound sign
    {"\xC2\xA5", ""},             // U+00A5 yen sign
    {"\xC2\xA0", " "},            // U+00A0 no-break space
    {"\xE2\x80\x89", " "},        // U+2009 thin space
    {"\xE2\x80\xAF", " "},        // U+202F narrow no-break space
}};

// Units removed when they trail a number (PRM800K's and Qwen's unit lists, restricted to words
// of two or more letters so that no single-letter variable is ever taken for a unit).
bool IsUnitWord(std::string_view lower) {
  static constexpr std::string_view kUnits[] = {
      "cm",         "mm",          "km",         "meter",       "meters",    "metre",      "metres",
      "centimeter", "centimeters", "millimeter", "millimeters", "kilometer", "kilometers", "inch",
      "inches",     "foot",        "feet",       "ft",          "yard",      "yards",      "yd",
      "mile",       "miles",       "second",     "seconds",     "sec",       "secs",       "minute",
      "minutes",    "min",         "mins",       "hour",        "hours",     "hr",         "hrs",
      "day",        "days",        "week",       "weeks",       "month",     "months",     "year",
      "years",      "yr",          "yrs",        "degree",      "degrees",   "deg",        "radian",
      "radians",    "rad",         "dollar",     "dollars",     "cent",      "cents",      "euro",
      "euros",      "unit",        "units",      "square",      "sq",        "cubic",      "gram",
      "grams",      "kg",          "mg",         "lb",          "lbs",       "pound",      "pounds",
      "ounce",      "ounces",      "oz",         "liter",       "liters",    "litre",      "litres",
      "ml",         "gallon",      "gallons",    "mph",         "kph",       "kmh"};
  for (std::string_view unit : kUnits) {
    if (unit == lower) return true;
  }
  return false;
}

size_t MatchingBrace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

bool StartsWithCommand(std::string_view s, size_t at, std::string_view command) {
  if (s.substr(at, command.size()) != command) return false;
  size_t end = at + command.size();
  return end >= s.size() || !IsAsciiLetter(s[end]);
}

// Whether `s` ends like a quantity that a unit may follow: a digit, a closing bracket, `%`, or
// a command such as `\pi` (`99\pi\text{ square inches}`).
bool EndsWithQuantity(std::string_view s) {
  if (s.empty()) return false;
  char last = s.back();
  if (IsAsciiDigit(last) || last == ')' || last == ']' || last == '}' || last == '%') return true;
  size_t start = s.size();
  while (start > 0 && IsAsciiLetter(s[start - 1])) --start;
  return start < s.size() && start > 0 && s[start - 1] == '\\';
}

class Normalizer {
 public:
  Normalizer(std::string_view in, int depth) : in_(in), depth_(depth) {}

  // Whether a comma was written as a list separator: followed by a space (`45, 135`; nobody
  // writes a thousands separator so) or made from a word (`12\text{ and }130`).
  bool list_commas() const { return list_commas_; }

  // The token-level pass; see NormalizeMathAnswer for the whole-string post-pass.
  std::string Run() {
    out_.reserve(in_.size());
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '\\') {
        HandleBackslash();
      } else if (static_cast<unsigned char>(c) >= 0x80) {
        HandleNonAscii();
      } else if (IsAsciiSpace(c) || c == '$' || c == '~') {
        pending_space_ = true;
        ++pos_;
      } else if (c == '^') {
        HandleCaret();
      } else if (c == '{' && in_.substr(pos_, 3) == "{,}") {
        EmitChar(kThousandsMark);
        pos_ += 3;
      } else {
        EmitChar(c);
        ++pos_;
      }
    }
    return std::move(out_);
  }

 private:
  void EmitChar(char c) {
    if (pending_space_) {
      pending_space_ = false;
      if (!out_.empty() && out_.back() == ',') list_commas_ = true;
      if (!out_.empty() && ((IsAsciiDigit(out_.back()) && IsAsciiDigit(c)) ||
                            (IsAsciiLetter(out_.back()) && IsAsciiLetter(c)))) {
        out_.push_back(' ');
      }
    } else if (after_command_ && IsAsciiLetter(c)) {
      out_.push_back(' ');
    }
    after_command_ = false;
    out_.push_back(c);
  }

  void EmitReplacement(std::string_view replacement) {
    if (replacement == " ") {
      pending_space_ = true;
    } else if (!replacement.empty() && replacement[0] == '\\' && replacement.size() > 1 &&
               IsAsciiLetter(replacement[1])) {
      EmitCommand(replacement.substr(1));
    } else {
      for (char r : replacement) EmitChar(r);
    }
  }

  void EmitCommand(std::string_view name) {
    EmitChar('\\');
    out_.append(name);
    after_command_ = true;
  }

  void SkipSpaces() {
    while (pos_ < in_.size() && IsAsciiSpace(in_[pos_])) ++pos_;
  }

  // Reads a `{...}` group at pos_ (after optional spaces); returns its contents and moves past
  // it. An unterminated group runs to the end of the input.
  bool ReadGroup(std::string_view* contents) {
    SkipSpaces();
    if (pos_ >= in_.size() || in_[pos_] != '{') return false;
    size_t close = MatchingBrace(in_, pos_);
    if (close == std::string_view::npos) {
      *contents = in_.substr(pos_ + 1);
      pos_ = in_.size();
    } else {
      *contents = in_.substr(pos_ + 1, close - pos_ - 1);
      pos_ = close + 1;
    }
    return true;
  }

  void HandleNonAscii() {
    for (const Utf8Rule& rule : kUtf8Rules) {
      if (in_.substr(pos_, rule.bytes.size()) == rule.bytes) {
        pos_ += rule.bytes.size();
        EmitReplacement(rule.replacement);
        return;
      }
    }
    EmitChar(in_[pos_]);
    ++pos_;
  }

  // `^\circ` and `^{\circ}` are degree marks and vanish; any other `^` is kept.
  void HandleCaret() {
    size_t j = pos_ + 1;
    while (j < in_.size() && IsAsciiSpace(in_[j])) ++j;
    if (StartsWithCommand(in_, j, "\\circ")) {
      pos_ = j + 5;
      return;
    }
    if (j < in_.size() && in_[j] == '{') {
      size_t k = j + 1;
      while (k < in_.size() && IsAsciiSpace(in_[k])) ++k;
      if (StartsWithCommand(in_, k, "\\circ")) {
        k += 5;
        while (k < in_.size() && IsAsciiSpace(in_[k])) ++k;
        if (k < in_.size() && in_[k] == '}') {
          pos_ = k + 1;
          return;
        }
      }
    }
    EmitChar('^');
    ++pos_;
  }

  void HandleBackslash() {
    if (pos_ + 1 >= in_.size()) {
      ++pos_;
      return;
    }
    char next = in_[pos_ + 1];
    if (IsAsciiLetter(next)) {
      size_t end = pos_ + 1;
      while (end < in_.size() && IsAsciiLetter(in_[end])) ++end;
      std::string_view name = in_.substr(pos_ + 1, end - pos_ - 1);
      pos_ = end;
      HandleNamedCommand(name);
      return;
    }
    pos_ += 2;
    switch (next) {
      case '\\':
        EmitChar('\\');
        EmitChar('\\');
        break;
      case '{':
        EmitChar('\\');
        EmitChar('{');
        break;
      case '}':
        EmitChar('\\');
        EmitChar('}');
        break;
      case '%':
      case '_':
      case '&':
      case '#':
      case '|':
        EmitChar(next);
        break;
      case '!':
        // `75,\!075`: a comma followed by a negative thin space separates thousands.
        if (!out_.empty() && out_.back() == ',') out_.back() = kThousandsMark;
        break;
      case ',':
      case ';':
      case ':':
      case '>':
      case ' ':
      case '(':
      case ')':
      case '[':
      case ']':
        pending_space_ = true;
        break;
      default:  // \$ and other escaped symbols carry no mathematical content
        break;
    }
  }

  void HandleNamedCommand(std::string_view name) {
    auto it = CommandRules().find(name);
    if (it == CommandRules().end()) {
      EmitCommand(name);
      return;
    }
    const CommandRule& rule = it->second;
    std::string_view argument;
    switch (rule.action) {
      case CommandAction::kDrop:
        break;
      case CommandAction::kSizedDelimiter:
        SkipSpaces();
        if (pos_ < in_.size() && in_[pos_] == '.') ++pos_;
        break;
      case CommandAction::kSpace:
        pending_space_ = true;
        break;
      case CommandAction::kSpaceWithArgument:
        ReadGroup(&argument);
        pending_space_ = true;
        break;
      case CommandAction::kRename:
        EmitReplacement(rule.replacement);
        break;
      case CommandAction::kText:
        HandleTextCommand();
        break;
      case CommandAction::kKeepWithArgument:
        EmitCommand(name);
        if (ReadGroup(&argument)) {
          EmitChar('{');
          for (char c : argument) {
            if (!IsAsciiSpace(c)) EmitChar(c);
          }
          EmitChar('}');
        }
        break;
    }
  }

  // A text group right after a number, with nothing but an optional power, a full stop, closing
  // braces or the end of an element after it, is a unit (Hendrycks' `_remove_right_units`, Qwen's
  // trailing `\text{...}` removal).
  bool TextIsUnit(std::string_view trimmed) {
    if (trimmed.empty() || !IsAsciiLetter(trimmed[0]) || out_.empty()) return false;
    if (!EndsWithQuantity(out_)) return false;
    size_t j = pos_;
    auto skip_spaces = [&] {
      while (j < in_.size() && IsAsciiSpace(in_[j])) ++j;
    };
    skip_spaces();
    size_t after_power = j;
    if (j < in_.size() && in_[j] == '^') {
      ++j;
      skip_spaces();
      if (j < in_.size() && IsAsciiDigit(in_[j])) {
        ++j;
      } else if (j < in_.size() && in_[j] == '{') {
        ++j;
        skip_spaces();
        if (j >= in_.size() || !IsAsciiDigit(in_[j])) return false;
        while (j < in_.size() && IsAsciiDigit(in_[j])) ++j;
        skip_spaces();
        if (j >= in_.size() || in_[j] != '}') return false;
        ++j;
      } else {
        return false;
      }
      after_power = j;
    }
    skip_spaces();
    if (j < in_.size() && in_[j] == '.') ++j;
    skip_spaces();
    // Groups that close around the quantity: `\boxed{575\text{ students}}`.
    while (j < in_.size() && in_[j] == '}') {
      ++j;
      skip_spaces();
    }
    bool ends_element = j >= in_.size() || in_[j] == ',' || in_[j] == ')' || in_[j] == ']' ||
                        in_[j] == '&' || in_[j] == '$' || in_[j] == ';' ||
                        in_.substr(j, 2) == "\\\\" || in_.substr(j, 2) == "\\}" ||
                        in_.substr(j, 2) == "\\)" || in_.substr(j, 2) == "\\]" ||
                        StartsWithCommand(in_, j, "\\right");
    if (!ends_element) return false;
    pos_ = after_power;
    return true;
  }

  void HandleTextCommand() {
    std::string_view contents;
    if (!ReadGroup(&contents)) return;
    std::string_view trimmed = TrimAsciiSpace(contents);
    std::string lower;
    for (char c : trimmed) lower.push_back(AsciiLower(c));
    if (lower == "and" || lower == "or" || lower == "," || lower == "and/or") {
      pending_space_ = false;
      EmitChar(',');
      list_commas_ = true;
      return;
    }
    if (trimmed.empty() || TextIsUnit(trimmed)) return;
    if (!contents.empty() && IsAsciiSpace(contents.front())) pending_space_ = true;
    if (depth_ >= kMaxTextDepth) {
      for (char c : trimmed) EmitChar(c);
    } else {
      Normalizer inner_normalizer(trimmed, depth_ + 1);
      std::string inner = inner_normalizer.Run();
      list_commas_ = list_commas_ || inner_normalizer.list_commas();
      for (char c : inner) EmitChar(c);
    }
    if (IsAsciiSpace(contents.back())) pending_space_ = true;
  }

  std::string_view in_;
  int depth_;
  size_t pos_ = 0;
  std::string out_;
  bool pending_space_ = false;
  bool after_command_ = false;
  bool list_commas_ = false;
};

// Resolves thousands marks: dropped between a digit and exactly three digits, else a comma.
void ResolveThousandsMarks(std::string& s) {
  std::string result;
  result.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != kThousandsMark) {
      result.push_back(s[i]);
      continue;
    }
    bool digits_follow = i + 3 < s.size() && IsAsciiDigit(s[i + 1]) && IsAsciiDigit(s[i + 2]) &&
                         IsAsciiDigit(s[i + 3]) && (i + 4 >= s.size() || !IsAsciiDigit(s[i + 4]));
    bool digit_before = !result.empty() && IsAsciiDigit(result.back());
    if (!(digits_follow && digit_before)) result.push_back(',');
  }
  s = std::move(result);
}

void StripTrailingPunctuation(std::string& s) {
  while (!s.empty()) {
    char c = s.back();
    if (c == ' ' || c == '.') {
      s.pop_back();
    } else if (s.size() >= 2 && c == '\\' && s[s.size() - 2] == '\\') {
      s.resize(s.size() - 2);
    } else {
      break;
    }
  }
  size_t start = 0;
  while (start < s.size() && s[start] == ' ') ++start;
  s.erase(0, start);
}

// `{{5}}` -> `5`: peels every brace pair that encloses the whole string, in one pass.
void UnwrapOuterBraces(std::string& s) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return;
  std::vector<size_t> open;
  std::vector<size_t> partner(s.size(), std::string::npos);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      open.push_back(i);
    } else if (s[i] == '}' && !open.empty()) {
      partner[open.back()] = i;
      open.pop_back();
    }
  }
  size_t peeled = 0;
  while (2 * peeled + 1 < s.size() && s[peeled] == '{' &&
         partner[peeled] == s.size() - 1 - peeled) {
    ++peeled;
  }
  if (peeled > 0)
    s = std::string(TrimAsciiSpace(std::string_view(s).substr(peeled, s.size() - 2 * peeled)));
}

// Replaces whole words that are not command names: `and`/`or` -> `,`, `percent` -> `%`,
// `infinity` -> `\infty`, `sqrt` -> `\sqrt`, `pi` -> `\pi`.
// Returns whether a word became a list comma.
bool ReplaceWords(std::string& s) {
  bool list_comma = false;
  std::string result;
  result.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && IsAsciiLetter(s[i + 1])) {
      size_t end = i + 1;
      while (end < s.size() && IsAsciiLetter(s[end])) ++end;
      result.append(s, i, end - i);
      i = end;
      continue;
    }
    if (!IsAsciiLetter(c)) {
      result.push_back(c);
      ++i;
      continue;
    }
    size_t end = i;
    std::string lower;
    while (end < s.size() && IsAsciiLetter(s[end])) lower.push_back(AsciiLower(s[end++]));
    if (lower == "and" || lower == "or") {
      result.push_back(',');
      list_comma = true;
    } else if (lower == "percent" || lower == "percentage" || lower == "pct") {
      result.push_back('%');
    } else if (lower == "infinity" || lower == "inf") {
      result.append("\\infty");
    } else if (lower == "sqrt" || lower == "pi") {
      result.push_back('\\');
      result.append(lower);
      if (end < s.size() && IsAsciiLetter(s[end])) result.push_back(' ');
    } else {
      result.append(s, i, end - i);
    }
    i = end;
  }
  s = std::move(result);
  return list_comma;
}

// Removes trailing unit words after a number: `25km` -> `25`, `135 square feet` -> `135`,
// `6 cm^2` -> `6`.
void StripTrailingUnitWords(std::string& s) {
  for (int round = 0; round < 4; ++round) {
    size_t end = s.size();
    while (end > 0 && s[end - 1] == ' ') --end;
    // An optional power after the unit: ^2, ^{2}.
    size_t unit_end = end;
    if (unit_end >= 2 && IsAsciiDigit(s[unit_end - 1]) && s[unit_end - 2] == '^') {
      unit_end -= 2;
    } else if (unit_end >= 4 && s[unit_end - 1] == '}' && IsAsciiDigit(s[unit_end - 2]) &&
               s[unit_end - 3] == '{' && s[unit_end - 4] == '^') {
      unit_end -= 4;
    }
    size_t start = unit_end;
    while (start > 0 && IsAsciiLetter(s[start - 1])) --start;
    if (start == unit_end || (start > 0 && s[start - 1] == '\\')) return;
    std::string lower;
    for (size_t i = start; i < unit_end; ++i) lower.push_back(AsciiLower(s[i]));
    if (!IsUnitWord(lower)) return;
    size_t rest = start;
    while (rest > 0 && s[rest - 1] == ' ') --rest;
    if (rest == 0) return;
    char last = s[rest - 1];
    std::string_view remainder = std::string_view(s).substr(0, rest);
    bool after_quantity = EndsWithQuantity(remainder);
    if (!after_quantity && !(rest < start && IsAsciiLetter(last))) return;
    // A unit made of several words ("square feet") leaves a letter before it; that is only
    // accepted if the remaining word is itself a unit, checked in the next round.
    if (!after_quantity) {
      size_t word_start = rest;
      while (word_start > 0 && IsAsciiLetter(s[word_start - 1])) --word_start;
      std::string previous;
      for (size_t i = word_start; i < rest; ++i) previous.push_back(AsciiLower(s[i]));
      if (!IsUnitWord(previous)) return;
    }
    s.resize(rest);
  }
}

// `1,000`, `1 000,000.5`, `-12,345%`: one number written in 3-digit groups.
bool IsGroupedNumber(std::string_view s, char separator) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t lead = i;
  while (i < s.size() && IsAsciiDigit(s[i])) ++i;
  if (i - lead < 1 || i - lead > 3) return false;
  int groups = 0;
  while (i < s.size() && s[i] == separator) {
    for (size_t k = 1; k <= 3; ++k) {
      if (i + k >= s.size() || !IsAsciiDigit(s[i + k])) return false;
    }
    i += 4;
    ++groups;
  }
  if (groups == 0 || (i < s.size() && IsAsciiDigit(s[i]))) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t digits = i;
    while (i < s.size() && IsAsciiDigit(s[i])) ++i;
    if (i == digits) return false;
  }
  if (i < s.size() && s[i] == '%') ++i;
  return i == s.size();
}

// `7 3/4` or `-7 3/4` -> `(7+3/4)` / `-(7+3/4)`.
bool RewriteMixedNumber(std::string& s) {
  size_t i = 0;
  std::string sign;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) sign = s.substr(i++, 1);
  size_t whole = i;
  while (i < s.size() && IsAsciiDigit(s[i])) ++i;
  if (i == whole || i >= s.size() || s[i] != ' ') return false;
  size_t whole_end = i++;
  size_t numerator = i;
  while (i < s.size() && IsAsciiDigit(s[i])) ++i;
  if (i == numerator || i >= s.size() || s[i] != '/') return false;
  size_t numerator_end = i++;
  size_t denominator = i;
  while (i < s.size() && IsAsciiDigit(s[i])) ++i;
  if (i == denominator || i != s.size()) return false;
  s = (sign == "-" ? "-" : "") + std::string("(") + s.substr(whole, whole_end - whole) + "+" +
      s.substr(numerator, numerator_end - numerator) + "/" + s.substr(denominator) + ")";
  return true;
}

// Whether a number in 3-digit groups (`70,110`) could be a list of integers instead: no decimal
// part or percent, and no group after a comma starts with 0 (`1,050` is one number).
bool CouldBeList(std::string_view grouped) {
  if (grouped.find_first_of(".%") != std::string_view::npos) return false;
  for (size_t i = 0; i + 1 < grouped.size(); ++i) {
    if (grouped[i] == ',' && grouped[i + 1] == '0') return false;
  }
  return true;
}

// One argument of `\frac` that is an integer: `{12}` or a lone digit (`\frac47`). Returns the
// position after it, or npos.
size_t SkipIntegerArgument(std::string_view s, size_t i) {
  if (i < s.size() && IsAsciiDigit(s[i])) return i + 1;
  if (i >= s.size() || s[i] != '{') return std::string_view::npos;
  size_t digits = ++i;
  while (i < s.size() && IsAsciiDigit(s[i])) ++i;
  if (i == digits || i >= s.size() || s[i] != '}') return std::string_view::npos;
  return i + 1;
}

// `1\frac{4}{5}` -> `(1+\frac{4}{5})`, anywhere an integer that follows no other operand stands
// right before a fraction of integers: a mixed number, as PRM800K reads it and Math-Verify
// does (latex2sympy2_extended's ConversionConfig.interpret_as_mixed_fractions, on by default:
// `-3 \frac{1}{2}` is -7/2, `3.1 \frac{1}{2}` a product). Qwen2.5-Math multiplies. 14 answers of
// MATH's test set are written so (`137 \frac{1}{2}`, `1\frac{4}{5}`).
void RewriteLatexMixedNumbers(std::string& s) {
  constexpr std::string_view kFrac = "\\frac";
  std::string result;
  size_t copied = 0;
  for (size_t at = s.find(kFrac); at != std::string::npos; at = s.find(kFrac, at + 1)) {
    size_t whole = at;
    while (whole > copied && IsAsciiDigit(s[whole - 1])) --whole;
    if (whole == at) continue;
    if (whole > 0) {
      char before = s[whole - 1];
      if (IsAsciiLetter(before) || IsAsciiDigit(before) || before == '.' || before == ' ' ||
          before == '^' || before == '_' || before == '}' || before == ')' || before == ']' ||
          before == '\\') {
        continue;
      }
    }
    size_t numerator_end = SkipIntegerArgument(s, at + kFrac.size());
    if (numerator_end == std::string::npos) continue;
    size_t end = SkipIntegerArgument(s, numerator_end);
    if (end == std::string::npos || (end < s.size() && s[end] == '^')) continue;
    result.append(s, copied, whole - copied);
    result.push_back('(');
    result.append(s, whole, at - whole);
    result.push_back('+');
    result.append(s, at, end - at);
    result.push_back(')');
    copied = end;
    at = end - 1;
  }
  if (copied == 0) return;
  result.append(s, copied, std::string::npos);
  s = std::move(result);
}

// `{n \\choose k}` -> `{\\binom{n}{k}}`: the TeX primitive takes everything before and after it in
// its group (PRM800K's latex2text and Math-Verify's latex2sympy read it as the binomial).
void RewriteChoose(std::string& s) {
  constexpr std::string_view kChoose = "\\choose";
  for (size_t at = s.find(kChoose); at != std::string::npos; at = s.find(kChoose, at + 1)) {
    const size_t after = at + kChoose.size();
    if (after < s.size() && IsAsciiLetter(s[after])) continue;  // another command
    size_t left = at;
    for (int depth = 0; left > 0; --left) {
      char c = s[left - 1];
      if (c == '}') ++depth;
      if (c == '{' && depth-- == 0) break;
    }
    size_t right = after;
    for (int depth = 0; right < s.size(); ++right) {
      if (s[right] == '{') ++depth;
      if (s[right] == '}' && depth-- == 0) break;
    }
    std::string binomial = absl::StrCat("\\binom{", s.substr(left, at - left), "}{",
                                        s.substr(after, right - after), "}");
    s.replace(left, right - left, binomial);
    at = left + binomial.size() - 1;
  }
}

// Keeps a space only between two digits or two letters.
// `,,` (from `7, -2, \text{ and } -5`) -> `,`; `_{7}` -> `_7` and `^{2}` -> `^2`.
void TidyPunctuation(std::string& s) {
  std::string result;
  result.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ',' && !result.empty() && result.back() == ',') continue;
    if ((c == '_' || c == '^') && i + 3 < s.size() && s[i + 1] == '{' &&
        (IsAsciiDigit(s[i + 2]) || IsAsciiLetter(s[i + 2])) && s[i + 3] == '}') {
      result.push_back(c);
      result.push_back(s[i + 2]);
      i += 3;
      continue;
    }
    result.push_back(c);
  }
  s = std::move(result);
}

void DropInsignificantSpaces(std::string& s) {
  std::string result;
  result.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != ' ') {
      result.push_back(s[i]);
      continue;
    }
    if (result.empty() || i + 1 >= s.size()) continue;
    char before = result.back();
    char after = s[i + 1];
    if ((IsAsciiDigit(before) && IsAsciiDigit(after)) ||
        (IsAsciiLetter(before) && IsAsciiLetter(after))) {
      result.push_back(' ');
    }
  }
  s = std::move(result);
}

}  // namespace

std::string_view TrimAsciiSpace(std::string_view s) {
  size_t start = 0;
  size_t end = s.size();
  while (start < end && IsAsciiSpace(s[start])) ++start;
  while (end > start && IsAsciiSpace(s[end - 1])) --end;
  return s.substr(start, end - start);
}

std::string NormalizeMathAnswer(std::string_view raw, std::optional<std::string>* list_reading) {
  if (list_reading != nullptr) list_reading->reset();
  raw = TrimAsciiSpace(raw);
  if (raw.size() > kMaxNormalizedInput) {
    std::string compact;
    for (char c : raw) {
      if (!IsAsciiSpace(c)) compact.push_back(c);
    }
    return compact;
  }
  Normalizer normalizer(raw, 0);
  std::string s = normalizer.Run();
  bool list_commas = normalizer.list_commas();
  ResolveThousandsMarks(s);
  StripTrailingPunctuation(s);
  UnwrapOuterBraces(s);
  list_commas = ReplaceWords(s) || list_commas;
  StripTrailingUnitWords(s);
  StripTrailingPunctuation(s);
  // A list that reads like one number in 3-digit groups keeps a space after its commas, so
  // that normalising the result again gives it back.
  const bool spaced_list = list_commas && IsGroupedNumber(s, ',');
  if (!list_commas && IsGroupedNumber(s, ',')) {
    if (list_reading != nullptr && CouldBeList(s)) {
      std::string list = s;
      TidyPunctuation(list);
      DropInsignificantSpaces(list);
      *list_reading = std::move(list);
    }
    std::erase(s, ',');
  } else if (IsGroupedNumber(s, ' ')) {
    std::erase(s, ' ');
  } else if (!RewriteMixedNumber(s)) {
    RewriteLatexMixedNumbers(s);
  }
  RewriteChoose(s);
  TidyPunctuation(s);
  DropInsignificantSpaces(s);
  if (spaced_list) s = absl::StrReplaceAll(s, {{",", ", "}});
  return s;
}

}  // namespace ponder::verifiers::grading_internal
