#include "verifiers/arithmetic_step_checker.h"

#include <cctype>
#include <cmath>
#include <string>

namespace ponder::verifiers {
namespace {

// The characters an arithmetic left-hand side may hold. "×" and "÷" are UTF-8 (C3 97, C3 B7)
// and are rewritten to * and / before parsing.
bool IsExpressionByte(unsigned char c) {
  return std::isdigit(c) || c == '+' || c == '-' || c == '*' || c == '/' || c == '(' || c == ')' ||
         c == '.' || c == ',' || c == ' ' || c == '$' || c == 'x' || c == 0xC3 || c == 0x97 ||
         c == 0xB7;
}

// Recursive descent over + - * / with parentheses and unary minus. Fails (nullopt) on anything
// else, so prose that happens to precede "=" is not mistaken for arithmetic.
class Parser {
 public:
  explicit Parser(std::string text) : text_(std::move(text)) {}

  std::optional<double> Parse() {
    std::optional<double> value = Sum();
    Skip();
    if (!value.has_value() || pos_ != text_.size() || operators_ == 0 || numbers_ < 2)
      return std::nullopt;
    return value;
  }

 private:
  void Skip() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '$')) ++pos_;
  }
  std::optional<double> Sum() {
    std::optional<double> left = Product();
    while (left.has_value()) {
      Skip();
      if (pos_ >= text_.size() || (text_[pos_] != '+' && text_[pos_] != '-')) break;
      char op = text_[pos_++];
      ++operators_;
      std::optional<double> right = Product();
      if (!right.has_value()) return std::nullopt;
      left = op == '+' ? *left + *right : *left - *right;
    }
    return left;
  }
  std::optional<double> Product() {
    std::optional<double> left = Unary();
    while (left.has_value()) {
      Skip();
      if (pos_ >= text_.size() || (text_[pos_] != '*' && text_[pos_] != '/' && text_[pos_] != 'x'))
        break;
      char op = text_[pos_++];
      ++operators_;
      std::optional<double> right = Unary();
      if (!right.has_value()) return std::nullopt;
      if (op == '/') {
        if (*right == 0) return std::nullopt;
        left = *left / *right;
      } else {
        left = *left * *right;
      }
    }
    return left;
  }
  std::optional<double> Unary() {
    Skip();
    if (pos_ < text_.size() && text_[pos_] == '-') {
      ++pos_;
      std::optional<double> v = Unary();
      if (!v.has_value()) return std::nullopt;
      return -*v;
    }
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      if (++depth_ > 32) return std::nullopt;
      std::optional<double> v = Sum();
      Skip();
      if (!v.has_value() || pos_ >= text_.size() || text_[pos_] != ')') return std::nullopt;
      ++pos_;
      --depth_;
      return v;
    }
    return Number();
  }
  std::optional<double> Number() {
    Skip();
    size_t start = pos_;
    std::string digits;
    bool dot = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        digits += c;
      } else if (c == '.' && !dot && pos_ + 1 < text_.size() &&
                 std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
        dot = true;
        digits += c;
      } else if (c == ',' && !dot && pos_ + 3 < text_.size() + 0 && pos_ > start &&
                 std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
        // Thousands separator: skipped.
      } else {
        break;
      }
      ++pos_;
    }
    if (digits.empty() || digits.size() > 30) return std::nullopt;
    ++numbers_;
    return std::strtod(digits.c_str(), nullptr);
  }

  std::string text_;
  size_t pos_ = 0;
  int operators_ = 0;
  int numbers_ = 0;
  int depth_ = 0;
};

// The number right after "=" (spaces, "$" allowed before it); nullopt if there is none.
std::optional<std::pair<double, int>> StatedNumber(std::string_view text, size_t at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '$')) ++at;
  bool negative = false;
  if (at < text.size() && text[at] == '-') {
    negative = true;
    ++at;
  }
  std::string digits;
  int decimals = -1;
  while (at < text.size()) {
    char c = text[at];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
      if (decimals >= 0) ++decimals;
    } else if (c == '.' && decimals < 0 && at + 1 < text.size() &&
               std::isdigit(static_cast<unsigned char>(text[at + 1]))) {
      digits += c;
      decimals = 0;
    } else if (c == ',' && decimals < 0 && !digits.empty() && at + 1 < text.size() &&
               std::isdigit(static_cast<unsigned char>(text[at + 1]))) {
      // thousands separator
    } else {
      break;
    }
    ++at;
  }
  if (digits.empty() || digits.size() > 30) return std::nullopt;
  double value = std::strtod(digits.c_str(), nullptr);
  return std::make_pair(negative ? -value : value, std::max(decimals, 0));
}

}  // namespace

std::vector<CheckedEquation> CheckArithmetic(std::string_view text, double tolerance) {
  std::vector<CheckedEquation> equations;
  for (size_t eq = text.find('='); eq != std::string_view::npos; eq = text.find('=', eq + 1)) {
    if ((eq > 0 && (text[eq - 1] == '=' || text[eq - 1] == '<' || text[eq - 1] == '>' ||
                    text[eq - 1] == '!')) ||
        (eq + 1 < text.size() && text[eq + 1] == '=')) {
      continue;  // ==, <=, >=, != are not statements of a result
    }
    size_t begin = eq;
    while (begin > 0 && IsExpressionByte(static_cast<unsigned char>(text[begin - 1]))) --begin;
    std::string lhs(text.substr(begin, eq - begin));
    // Rewrite × and ÷ (UTF-8) to ASCII operators; drop a stray lead byte.
    std::string ascii;
    for (size_t i = 0; i < lhs.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(lhs[i]);
      if (c == 0xC3 && i + 1 < lhs.size() && static_cast<unsigned char>(lhs[i + 1]) == 0x97) {
        ascii += '*';
        ++i;
      } else if (c == 0xC3 && i + 1 < lhs.size() &&
                 static_cast<unsigned char>(lhs[i + 1]) == 0xB7) {
        ascii += '/';
        ++i;
      } else if (c < 0x80) {
        ascii += static_cast<char>(c);
      } else {
        ascii.clear();  // some other non-ASCII text: not an arithmetic expression
      }
    }
    // Leading "x" or words glued to the expression: start at the first digit, '(' or '-'.
    size_t first = ascii.find_first_of("0123456789(-$");
    if (first == std::string::npos) continue;
    ascii = ascii.substr(first);
    std::optional<double> computed = Parser(ascii).Parse();
    if (!computed.has_value()) continue;
    std::optional<std::pair<double, int>> stated = StatedNumber(text, eq + 1);
    if (!stated.has_value()) continue;
    auto [value, decimals] = *stated;
    double difference = std::fabs(*computed - value);
    bool holds = difference <= tolerance * std::max(1.0, std::fabs(value)) ||
                 (decimals > 0 && difference <= 0.5 * std::pow(10.0, -decimals) + 1e-12);
    std::string expression(text.substr(begin, eq - begin));
    while (!expression.empty() && expression.front() == ' ') expression.erase(expression.begin());
    while (!expression.empty() && expression.back() == ' ') expression.pop_back();
    equations.push_back({std::move(expression), *computed, value, holds});
  }
  return equations;
}

double ArithmeticStepChecker::ScoreStep(std::string_view step) const {
  std::vector<CheckedEquation> equations = CheckArithmetic(step, tolerance_);
  if (equations.empty()) return neutral_score_;
  for (const CheckedEquation& e : equations) {
    if (!e.holds) return 0.0;
  }
  return 1.0;
}

absl::StatusOr<VerifyResult> ArithmeticStepChecker::Score(std::string_view problem,
                                                          std::span<const Solution> solutions,
                                                          const VerifyOptions& options) {
  VerifyResult result;
  for (const Solution& solution : solutions) {
    VerifierScores scores;
    if (options.aggregation == v1::AGGREGATION_MODEL) {
      // The whole partial solution as one step: every equation in it must hold.
      std::string all;
      for (const std::string& step : solution.steps) all += step + "\n";
      scores.step_scores = {ScoreStep(all)};
    } else {
      for (const std::string& step : solution.steps) scores.step_scores.push_back(ScoreStep(step));
    }
    scores.aggregate = Aggregate(scores.step_scores, options.aggregation);
    result.scores.push_back(std::move(scores));
  }
  return result;
}

}  // namespace ponder::verifiers
