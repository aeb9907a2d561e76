#include "verifiers/grading/grader.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "verifiers/grading/answer_extraction.h"
#include "verifiers/grading/latex_normalization.h"
#include "verifiers/grading/math_answer.h"
#include "verifiers/grading/plain_number.h"

namespace ponder::verifiers {
namespace {

using grading_internal::MathAnswer;

// `list_reading`, where given, receives the parse of the answer read as a list where its
// commas were read as thousands separators but could be a list's (NormalizeMathAnswer).
MathAnswer ParseForFormat(std::string_view answer, AnswerFormat format,
                          std::shared_ptr<const MathAnswer>* list_reading = nullptr) {
  std::optional<std::string> as_list;
  std::string normalized = grading_internal::NormalizeMathAnswer(answer, &as_list);
  if (format == AnswerFormat::kGsm8k) {
    // GSM8K answers are numbers with currency, commas and units around them; the LaTeX path
    // below still handles `\frac{15}{2}`, `\$18` or `18\text{ dollars}`.
    if (std::optional<grading_internal::PlainNumber> number =
            grading_internal::ParsePlainNumber(answer)) {
      MathAnswer parsed;
      parsed.kind = MathAnswer::Kind::kExpression;
      for (char c : normalized) parsed.text.push_back(grading_internal::AsciiLower(c));
      parsed.samples.values.fill(number->value);
      parsed.samples.has_decimal = number->has_decimal;
      parsed.samples.percent = number->percent;
      return parsed;
    }
  }
  if (as_list && list_reading != nullptr) {
    *list_reading = std::make_shared<MathAnswer>(grading_internal::ParseMathAnswer(*as_list));
  }
  return grading_internal::ParseMathAnswer(normalized);
}

std::string TrimmedCopy(std::string_view s) {
  return std::string(grading_internal::TrimAsciiSpace(s));
}

std::string_view TrimTrailing(std::string_view s) {
  while (!s.empty() && grading_internal::IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// A program's lines without trailing whitespace, blank lines dropped.
std::string CanonicalProgram(std::string_view program) {
  std::string key;
  for (std::string_view line : SplitLines(program)) {
    line = TrimTrailing(line);
    if (line.empty()) continue;
    key.append(line);
    key.push_back('\n');
  }
  return key;
}

bool IsFence(std::string_view line) {
  return grading_internal::TrimAsciiSpace(line).starts_with("```");
}

}  // namespace

absl::StatusOr<AnswerFormat> ParseAnswerFormat(std::string_view name) {
  if (name == "gsm8k") return AnswerFormat::kGsm8k;
  if (name == "math") return AnswerFormat::kMath;
  if (name == "code") return AnswerFormat::kCode;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown answer format '", AsAbsl(name), "' (expected gsm8k, math or code)"));
}

std::string_view AnswerFormatName(AnswerFormat format) {
  switch (format) {
    case AnswerFormat::kGsm8k:
      return "gsm8k";
    case AnswerFormat::kMath:
      return "math";
    case AnswerFormat::kCode:
      return "code";
  }
  return "math";
}

std::optional<std::string> ExtractProgram(std::string_view response,
                                          bool whole_text_without_fence) {
  const std::vector<std::string_view> lines = SplitLines(response);
  // The longest fenced block: lines [first, last) opened by a fence indented by `indent`.
  size_t best_first = 0, best_last = 0, best_indent = 0, best_size = 0;
  bool fenced = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!IsFence(lines[i])) continue;
    fenced = true;
    size_t end = i + 1;
    while (end < lines.size() && grading_internal::TrimAsciiSpace(lines[end]) != "```") ++end;
    size_t size = 0;
    for (size_t j = i + 1; j < end; ++j) size += lines[j].size() + 1;
    if (size > best_size) {
      best_first = i + 1, best_last = end, best_size = size;
      best_indent = lines[i].find_first_not_of(" \t");
    }
    i = end;  // the closing fence (or the end)
  }
  std::vector<std::string_view> kept;
  if (fenced) {
    // Content lines lose up to the opening fence's indentation (CommonMark, "Fenced code
    // blocks"), so a block indented under a list item is the program, not an indentation error.
    for (size_t j = best_first; j < best_last; ++j) {
      std::string_view line = lines[j];
      size_t cut = 0;
      while (cut < best_indent && cut < line.size() && (line[cut] == ' ' || line[cut] == '\t')) {
        ++cut;
      }
      kept.push_back(line.substr(cut));
    }
  } else if (whole_text_without_fence) {
    kept = lines;
  }
  // Drop the blank lines around it; keep the first line's indentation.
  size_t first = 0, last = kept.size();
  while (first < last && grading_internal::TrimAsciiSpace(kept[first]).empty()) ++first;
  while (last > first && grading_internal::TrimAsciiSpace(kept[last - 1]).empty()) --last;
  if (first == last) return std::nullopt;
  std::string program;
  for (size_t j = first; j < last; ++j) {
    program.append(j + 1 < last ? kept[j] : TrimTrailing(kept[j]));
    if (j + 1 < last) program.push_back('\n');
  }
  return program;
}

std::optional<std::string> ExtractAnswer(std::string_view response, AnswerFormat format) {
  if (format == AnswerFormat::kCode) return ExtractProgram(response);
  if (std::optional<std::string_view> boxed = grading_internal::LastBoxedContent(response)) {
    std::string answer = TrimmedCopy(*boxed);
    if (answer.empty()) return std::nullopt;
    return answer;
  }
  // Cut off inside its last box (a length limit, a step delimiter inside the answer): no answer,
  // as PRM800K's last_boxed_only_string gives None, rather than "\boxed{10" of "\boxed{104}"
  // through "The answer is" or the last number. GSM8K's "####" still decides where it is given.
  const bool cut_off = grading_internal::EndsInsideLastBox(response);
  if (format == AnswerFormat::kMath) {
    if (cut_off) return std::nullopt;
    if (auto phrase = grading_internal::AfterLastAnswerPhrase(response))
      return std::string(*phrase);
    if (auto marker = grading_internal::AfterLastHashMarker(response)) return std::string(*marker);
    return std::nullopt;
  }
  if (auto marker = grading_internal::AfterLastHashMarker(response)) {
    if (auto number = grading_internal::FirstNumberIn(*marker)) return number;
    return std::string(*marker);
  }
  if (cut_off) return std::nullopt;
  if (auto phrase = grading_internal::AfterLastAnswerPhrase(response)) {
    if (auto number = grading_internal::FirstNumberIn(*phrase)) return number;
  }
  return grading_internal::LastNumberIn(response);
}

std::optional<std::string> Gsm8kGoldAnswer(std::string_view solution) {
  std::optional<std::string_view> marker = grading_internal::AfterLastHashMarker(solution);
  if (!marker) return std::nullopt;
  std::string gold;
  for (char c : *marker) {
    if (c != ',') gold.push_back(c);
  }
  return gold;
}

std::optional<std::string> MathGoldAnswer(std::string_view solution) {
  std::optional<std::string_view> boxed = grading_internal::LastBoxedContent(solution);
  if (!boxed) return std::nullopt;
  return std::string(*boxed);
}

ParsedAnswer ParsedAnswer::Parse(std::string_view answer, AnswerFormat format) {
  if (format == AnswerFormat::kCode) return ParsedAnswer(format, nullptr, CanonicalProgram(answer));
  std::shared_ptr<const MathAnswer> list_reading;
  auto parsed = std::make_shared<MathAnswer>(ParseForFormat(answer, format, &list_reading));
  std::string key = grading_internal::MathAnswerKey(*parsed);
  ParsedAnswer result(format, std::move(parsed), std::move(key));
  result.list_reading_ = std::move(list_reading);
  return result;
}

bool ParsedAnswer::empty() const {
  return parsed_ == nullptr ? key_.empty() : parsed_->kind == MathAnswer::Kind::kEmpty;
}

bool ParsedAnswer::IsEquivalentTo(const ParsedAnswer& reference) const {
  if (format_ != reference.format_ || empty() || reference.empty()) return false;
  if (parsed_ == nullptr || reference.parsed_ == nullptr) return key_ == reference.key_;
  if (!key_.empty() && key_ == reference.key_) return true;
  if (grading_internal::MathAnswersEquivalent(*parsed_, *reference.parsed_)) return true;
  // `70,110` against `110, 70`: the side written as one number in 3-digit groups is read as a
  // list when the other side is a list. Two numbers both so written stay numbers (`123,456` is
  // not `456,123`).
  if ((list_reading_ == nullptr) == (reference.list_reading_ == nullptr)) return false;
  return grading_internal::MathAnswersEquivalent(
      list_reading_ ? *list_reading_ : *parsed_,
      reference.list_reading_ ? *reference.list_reading_ : *reference.parsed_);
}

bool AnswersEquivalent(std::string_view candidate, std::string_view reference,
                       AnswerFormat format) {
  return ParsedAnswer::Parse(candidate, format)
      .IsEquivalentTo(ParsedAnswer::Parse(reference, format));
}

std::string CanonicalAnswerKey(std::string_view answer, AnswerFormat format) {
  return ParsedAnswer::Parse(answer, format).key();
}

GradeResult Grade(std::string_view response, std::string_view reference, AnswerFormat format,
                  bool extract) {
  GradeResult result;
  if (extract) {
    result.extracted = ExtractAnswer(response, format);
  } else if (std::string answer = TrimmedCopy(response); !answer.empty()) {
    result.extracted = std::move(answer);
  }
  if (!result.extracted) return result;
  std::optional<std::string> gold;
  if (format == AnswerFormat::kGsm8k && reference.find("####") != std::string_view::npos) {
    gold = Gsm8kGoldAnswer(reference);
  }
  result.correct = AnswersEquivalent(*result.extracted, gold ? *gold : reference, format);
  return result;
}

}  // namespace ponder::verifiers
