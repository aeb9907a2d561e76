#include "verifiers/grading/grader.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

MathAnswer ParseForFormat(std::string_view answer, AnswerFormat format) {
  std::string normalized = grading_internal::NormalizeMathAnswer(answer);
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
  return grading_internal::ParseMathAnswer(normalized);
}

std::string TrimmedCopy(std::string_view s) {
  return std::string(grading_internal::TrimAsciiSpace(s));
}

}  // namespace

absl::StatusOr<AnswerFormat> ParseAnswerFormat(std::string_view name) {
  if (name == "gsm8k") return AnswerFormat::kGsm8k;
  if (name == "math") return AnswerFormat::kMath;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown answer format '", AsAbsl(name), "' (expected gsm8k or math)"));
}

std::string_view AnswerFormatName(AnswerFormat format) {
  return format == AnswerFormat::kGsm8k ? "gsm8k" : "math";
}

std::optional<std::string> ExtractAnswer(std::string_view response, AnswerFormat format) {
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
  auto parsed = std::make_shared<MathAnswer>(ParseForFormat(answer, format));
  std::string key = grading_internal::MathAnswerKey(*parsed);
  return ParsedAnswer(format, std::move(parsed), std::move(key));
}

bool ParsedAnswer::empty() const { return parsed_->kind == MathAnswer::Kind::kEmpty; }

bool ParsedAnswer::IsEquivalentTo(const ParsedAnswer& reference) const {
  if (format_ != reference.format_ || empty() || reference.empty()) return false;
  if (!key_.empty() && key_ == reference.key_) return true;
  return grading_internal::MathAnswersEquivalent(*parsed_, *reference.parsed_);
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
