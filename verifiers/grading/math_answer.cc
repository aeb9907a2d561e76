#include "verifiers/grading/math_answer.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "verifiers/grading/expression.h"
#include "verifiers/grading/latex_normalization.h"
#include "verifiers/grading/numeric_match.h"

namespace ponder::verifiers::grading_internal {
namespace {

// Bounds on structure so that comparison time stays small for any input.
constexpr size_t kMaxAnswerChars = 4096;
constexpr size_t kMaxElements = 128;
constexpr int kMaxNesting = 8;

using Kind = MathAnswer::Kind;
using SetNotation = MathAnswer::SetNotation;

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string lower(s);
  for (char& c : lower) c = AsciiLower(c);
  return lower;
}

std::string_view CommandNameAt(std::string_view s, size_t i) {
  if (i + 1 >= s.size() || s[i] != '\\' || !IsAsciiLetter(s[i + 1])) return {};
  size_t end = i + 1;
  while (end < s.size() && IsAsciiLetter(s[end])) ++end;
  return s.substr(i + 1, end - i - 1);
}

// Splits `s` at separators found outside any bracket, brace, `\{ \}` or `\begin ... \end`.
// `separator(s, i)` returns the separator's length at position i, or 0.
template <typename SeparatorFn>
std::vector<std::string_view> SplitTopLevel(std::string_view s, SeparatorFn separator) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  size_t i = 0;
  auto try_split = [&]() {
    if (depth != 0) return false;
    size_t length = separator(s, i);
    if (length == 0) return false;
    parts.push_back(s.substr(start, i - start));
    i += length;
    start = i;
    return true;
  };
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      char next = s[i + 1];
      if (next == '{' || next == '}') {
        depth += next == '{' ? 1 : -1;
        i += 2;
        continue;
      }
      std::string_view name = CommandNameAt(s, i);
      if (name == "begin" || name == "end") {
        depth += name == "begin" ? 1 : -1;
        i += name.size() + 1;
        continue;
      }
      if (try_split()) continue;
      i += name.empty() ? 2 : name.size() + 1;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (try_split()) {
      continue;
    }
    ++i;
  }
  parts.push_back(s.substr(start));
  return parts;
}

size_t CommaSeparator(std::string_view s, size_t i) { return s[i] == ',' ? 1 : 0; }

size_t UnionSeparator(std::string_view s, size_t i) { return CommandNameAt(s, i) == "cup" ? 4 : 0; }

// The relation operator at position i (its length, or 0) and which one it is.
size_t RelationAt(std::string_view s, size_t i, RelationOperator* op) {
  char c = s[i];
  bool followed_by_equals = i + 1 < s.size() && s[i + 1] == '=';
  if (c == '=') {
    *op = RelationOperator::kEqual;
    return 1;
  }
  if (c == '<' || c == '>') {
    if (followed_by_equals) {
      *op = c == '<' ? RelationOperator::kLessEqual : RelationOperator::kGreaterEqual;
      return 2;
    }
    *op = c == '<' ? RelationOperator::kLess : RelationOperator::kGreater;
    return 1;
  }
  std::string_view name = CommandNameAt(s, i);
  if (name == "le") {
    *op = RelationOperator::kLessEqual;
  } else if (name == "ge") {
    *op = RelationOperator::kGreaterEqual;
  } else if (name == "ne") {
    *op = RelationOperator::kNotEqual;
  } else if (name == "in") {
    *op = RelationOperator::kIn;
  } else if (name == "approx" || name == "equiv") {
    *op = RelationOperator::kEqual;
  } else {
    return 0;
  }
  return name.size() + 1;
}

// `x`, `x_1`, `x_{10}`, `AB`, `f(x)`, `\theta`: a left side that names what the right side is.
bool IsLoneVariable(std::string_view s) {
  s = TrimSpaces(s);
  if (s.empty()) return false;
  if (s[0] == '\\') {
    std::string_view name = CommandNameAt(s, 0);
    return !name.empty() && name.size() + 1 == s.size();
  }
  size_t i = 0;
  while (i < s.size() && i < 2 && IsAsciiLetter(s[i])) ++i;
  if (i == 0) return false;
  if (i == s.size()) return true;
  if (s[i] == '_') {
    ++i;
    if (i < s.size() && s[i] == '{') {
      size_t close = s.find('}', i);
      return close == s.size() - 1;
    }
    return i + 1 == s.size() && (IsAsciiLetter(s[i]) || IsAsciiDigit(s[i]));
  }
  if (s[i] == '(' && s.back() == ')' && i == 1) {
    for (size_t k = i + 1; k + 1 < s.size(); ++k) {
      if (!IsAsciiLetter(s[k]) && s[k] != ',') return false;
    }
    return true;
  }
  return false;
}

// Index of the bracket closing the one at `open`, by nesting depth of any bracket type (so an
// interval `[a, b)` closes).
size_t ClosingBracket(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
        depth += s[i + 1] == '{' ? 1 : -1;
        if (depth == 0) return i;
      }
      ++i;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

bool HasPlusMinus(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    std::string_view name = CommandNameAt(s, i);
    if (name == "pm" || name == "mp") return true;
    if (!name.empty()) i += name.size();
  }
  return false;
}

// `s` with every `\pm` replaced by `pm_sign` and every `\mp` by the other sign.
std::string ResolvePlusMinus(std::string_view s, char pm_sign) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    std::string_view name = CommandNameAt(s, i);
    if (name == "pm" || name == "mp") {
      bool plus = (name == "pm") == (pm_sign == '+');
      out.push_back(plus ? '+' : '-');
      i += name.size() + 1;
    } else if (!name.empty()) {
      out.append(s.substr(i, name.size() + 1));
      i += name.size() + 1;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

MathAnswer MakeText(std::string_view s) {
  MathAnswer answer;
  answer.kind = Kind::kText;
  answer.text = Lower(s);
  return answer;
}

MathAnswer ParseElement(std::string_view s, int depth);

// Parses comma-separated elements; nullopt-like kText result when there are too many.
bool ParseElements(const std::vector<std::string_view>& parts, int depth,
                   std::vector<MathAnswer>* elements) {
  if (parts.size() > kMaxElements) return false;
  elements->reserve(parts.size());
  for (std::string_view part : parts) {
    elements->push_back(ParseElement(part, depth + 1));
    if (elements->back().kind == Kind::kEmpty) return false;
  }
  return true;
}

bool ParseMatrix(std::string_view s, int depth, MathAnswer* matrix) {
  std::string_view env = s.substr(7);  // after "\begin{"
  size_t env_end = env.find('}');
  if (env_end == std::string_view::npos) return false;
  std::string_view name = env.substr(0, env_end);
  if (name != "pmatrix" && name != "bmatrix" && name != "matrix" && name != "Bmatrix" &&
      name != "smallmatrix" && name != "array") {
    return false;
  }
  std::string end_marker = "\\end{" + std::string(name) + "}";
  if (s.size() < end_marker.size() || s.substr(s.size() - end_marker.size()) != end_marker) {
    return false;
  }
  std::string_view body = s.substr(7 + env_end + 1);
  if (body.size() < end_marker.size()) return false;
  body = body.substr(0, body.size() - end_marker.size());
  if (name == "array" && !body.empty() && body[0] == '{') {  // column specification
    size_t close = body.find('}');
    if (close == std::string_view::npos) return false;
    body = body.substr(close + 1);
  }
  if (SplitTopLevel(body, UnionSeparator).size() > 1) return false;
  std::vector<std::string_view> rows = SplitTopLevel(
      body, [](std::string_view t, size_t i) { return t.substr(i, 2) == "\\\\" ? 2 : 0; });
  while (!rows.empty() && TrimSpaces(rows.back()).empty()) rows.pop_back();
  if (rows.empty() || rows.size() > kMaxElements) return false;
  matrix->kind = Kind::kMatrix;
  matrix->rows = static_cast<int>(rows.size());
  for (std::string_view row : rows) {
    std::vector<std::string_view> cells =
        SplitTopLevel(row, [](std::string_view t, size_t i) { return t[i] == '&' ? 1 : 0; });
    if (matrix->columns == 0) matrix->columns = static_cast<int>(cells.size());
    if (static_cast<int>(cells.size()) != matrix->columns) return false;
    if (!ParseElements(cells, depth, &matrix->elements)) return false;
    if (matrix->elements.size() > kMaxElements) return false;
  }
  return true;
}

MathAnswer ParseElement(std::string_view s, int depth) {
  s = TrimSpaces(s);
  if (s.empty()) return MathAnswer{};
  if (depth > kMaxNesting) return MakeText(s);

  // `a \pm b` is the set {a + b, a - b}.
  if (HasPlusMinus(s)) {
    MathAnswer set;
    set.kind = Kind::kSet;
    set.notation = SetNotation::kPlusMinus;
    set.text = Lower(s);
    set.elements.push_back(ParseElement(ResolvePlusMinus(s, '+'), depth + 1));
    set.elements.push_back(ParseElement(ResolvePlusMinus(s, '-'), depth + 1));
    if (set.elements[0].kind == Kind::kEmpty || set.elements[1].kind == Kind::kEmpty) {
      return MakeText(s);
    }
    return set;
  }

  // Relations: `x = 3`, `y = 2x + 3`, `1 < x \le 2`, `x \in [0, 1)`.
  std::vector<RelationOperator> operators;
  std::vector<std::string_view> sides = SplitTopLevel(s, [&](std::string_view t, size_t i) {
    RelationOperator op;
    size_t length = RelationAt(t, i, &op);
    if (length > 0) operators.push_back(op);
    return length;
  });
  if (sides.size() > 1) {
    MathAnswer relation;
    relation.kind = Kind::kRelation;
    relation.text = Lower(s);
    relation.relations = operators;
    if (!ParseElements(sides, depth, &relation.elements)) return MakeText(s);
    // A side that is a lone letter is a variable here (`y = -x + 3`), not a word.
    for (size_t i = 0; i < sides.size(); ++i) {
      MathAnswer& side = relation.elements[i];
      if (side.kind != Kind::kText) continue;
      if (std::optional<ExpressionSamples> samples = EvaluateExpression(TrimSpaces(sides[i]))) {
        side.kind = Kind::kExpression;
        side.samples = *samples;
      }
    }
    bool all_equal = std::all_of(operators.begin(), operators.end(), [](RelationOperator op) {
      return op == RelationOperator::kEqual || op == RelationOperator::kIn;
    });
    relation.assignment = all_equal && IsLoneVariable(sides.front());
    return relation;
  }

  MathAnswer answer;
  answer.text = Lower(s);
  if (s.substr(0, 7) == "\\begin{") {
    if (ParseMatrix(s, depth, &answer)) return answer;
    return MakeText(s);
  }
  if (s == "\\emptyset" || s == "\\{\\}") {
    answer.kind = Kind::kSet;
    answer.notation = SetNotation::kBraces;
    return answer;
  }
  if (s.substr(0, 2) == "\\{" && ClosingBracket(s, 0) == s.size() - 2 &&
      s.substr(s.size() - 2) == "\\}") {
    answer.kind = Kind::kSet;
    answer.notation = SetNotation::kBraces;
    std::string_view inner = s.substr(2, s.size() - 4);
    if (!ParseElements(SplitTopLevel(inner, CommaSeparator), depth, &answer.elements)) {
      return MakeText(s);
    }
    return answer;
  }
  if ((s[0] == '(' || s[0] == '[') && ClosingBracket(s, 0) == s.size() - 1 &&
      (s.back() == ')' || s.back() == ']')) {
    std::string_view inner = s.substr(1, s.size() - 2);
    std::vector<std::string_view> parts = SplitTopLevel(inner, CommaSeparator);
    if (parts.size() == 1) {
      // A parenthesised single answer, `(5)` or `(C)`; a mixed pair like `[5)` is not one.
      if ((s[0] == '(') != (s.back() == ')')) return MakeText(s);
      return ParseElement(inner, depth + 1);
    }
    answer.kind = Kind::kTuple;
    answer.open = s[0];
    answer.close = s.back();
    if (!ParseElements(parts, depth, &answer.elements)) return MakeText(s);
    return answer;
  }
  // A lone letter (`C`, `x`) and words (`even`, `no solution`) are text; two letters (`xy`,
  // `AB`) are a product, as sympy reads them in all three references.
  bool letters_only =
      std::all_of(s.begin(), s.end(), [](char c) { return IsAsciiLetter(c) || c == ' '; });
  if (letters_only && !(s.size() == 2 && IsAsciiLetter(s[0]) && IsAsciiLetter(s[1]))) {
    return MakeText(s);
  }
  std::optional<ExpressionSamples> samples = EvaluateExpression(s);
  if (!samples) return MakeText(s);
  answer.kind = Kind::kExpression;
  answer.samples = *samples;
  return answer;
}

bool Equivalent(const MathAnswer& candidate, const MathAnswer& reference, int depth);

bool ElementwiseEquivalent(const std::vector<MathAnswer>& candidate,
                           const std::vector<MathAnswer>& reference, int depth) {
  if (candidate.size() != reference.size()) return false;
  for (size_t i = 0; i < candidate.size(); ++i) {
    if (!Equivalent(candidate[i], reference[i], depth + 1)) return false;
  }
  return true;
}

// Multiset equality by greedy matching; sizes are small and equivalence is close to
// transitive, so greedy finds a matching whenever one exists in practice.
bool UnorderedEquivalent(const std::vector<MathAnswer>& candidate,
                         const std::vector<MathAnswer>& reference, int depth) {
  if (candidate.size() != reference.size()) return false;
  std::vector<bool> used(candidate.size(), false);
  for (const MathAnswer& wanted : reference) {
    bool found = false;
    for (size_t j = 0; j < candidate.size() && !found; ++j) {
      if (!used[j] && Equivalent(candidate[j], wanted, depth + 1)) {
        used[j] = true;
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}

bool ExpressionsEquivalent(const ExpressionSamples& a, const ExpressionSamples& b) {
  bool rounded = a.has_decimal || b.has_decimal;
  if (!a.has_variables && !b.has_variables) {
    return QuantitiesMatch(a.values[0], a.percent, b.values[0], b.percent, rounded);
  }
  // Functions of free variables: equal at every sample point where both are defined, and
  // defined at the same points (x/x and 1 differ nowhere we sample, which is fine).
  int compared = 0;
  for (int p = 0; p < kSamplePoints; ++p) {
    const std::complex<double>& x = a.values[p].value;
    const std::complex<double>& y = b.values[p].value;
    bool x_nan = std::isnan(x.real()) || std::isnan(x.imag());
    bool y_nan = std::isnan(y.real()) || std::isnan(y.imag());
    if (x_nan && y_nan) continue;
    if (x_nan != y_nan) return false;
    if (!NumbersMatch(NumericValue{x, std::nullopt}, NumericValue{y, std::nullopt}, rounded)) {
      return false;
    }
    ++compared;
  }
  return compared > 0;
}

bool IsInequality(RelationOperator op) {
  return op == RelationOperator::kLess || op == RelationOperator::kLessEqual ||
         op == RelationOperator::kGreater || op == RelationOperator::kGreaterEqual;
}

RelationOperator Flipped(RelationOperator op) {
  switch (op) {
    case RelationOperator::kLess:
      return RelationOperator::kGreater;
    case RelationOperator::kLessEqual:
      return RelationOperator::kGreaterEqual;
    case RelationOperator::kGreater:
      return RelationOperator::kLess;
    case RelationOperator::kGreaterEqual:
      return RelationOperator::kLessEqual;
    default:
      return op;
  }
}

bool HasVariables(const MathAnswer& relation) {
  return std::any_of(relation.elements.begin(), relation.elements.end(),
                     [](const MathAnswer& side) {
                       return side.kind == Kind::kExpression && side.samples.has_variables;
                     });
}

// For single relations `l1 op r1` (candidate) and `l2 op r2` (reference) between expressions:
// the constant c with l1 - r1 = c (l2 - r2) at every sample point, if there is one (1 when
// both differences vanish everywhere).
std::optional<std::complex<double>> DifferenceRatio(const MathAnswer& candidate,
                                                    const MathAnswer& reference) {
  const ExpressionSamples& cl = candidate.elements[0].samples;
  const ExpressionSamples& cr = candidate.elements[1].samples;
  const ExpressionSamples& rl = reference.elements[0].samples;
  const ExpressionSamples& rr = reference.elements[1].samples;
  bool rounded = cl.has_decimal || cr.has_decimal || rl.has_decimal || rr.has_decimal;
  std::complex<double> fc[kSamplePoints];
  std::complex<double> fr[kSamplePoints];
  double scale = 0;
  for (int p = 0; p < kSamplePoints; ++p) {
    fc[p] = cl.values[p].value - cr.values[p].value;
    fr[p] = rl.values[p].value - rr.values[p].value;
    if (!std::isfinite(std::abs(fc[p])) || !std::isfinite(std::abs(fr[p]))) return std::nullopt;
    scale = std::max({scale, std::abs(fc[p]), std::abs(fr[p])});
  }
  double negligible = 1e-12 * std::max(1.0, scale);
  int pivot = -1;
  for (int p = 0; p < kSamplePoints && pivot < 0; ++p) {
    if (std::abs(fr[p]) > negligible) pivot = p;
  }
  if (pivot < 0) {  // the reference difference vanishes everywhere: so must the candidate's
    for (int p = 0; p < kSamplePoints; ++p) {
      if (std::abs(fc[p]) > negligible) return std::nullopt;
    }
    return std::complex<double>(1, 0);
  }
  std::complex<double> ratio = fc[pivot] / fr[pivot];
  if (std::abs(ratio) <= 1e-12 || !std::isfinite(std::abs(ratio))) return std::nullopt;
  for (int p = 0; p < kSamplePoints; ++p) {
    if (!NumbersMatch(NumericValue{fc[p], std::nullopt}, NumericValue{ratio * fr[p], std::nullopt},
                      rounded)) {
      return std::nullopt;
    }
  }
  return ratio;
}

bool IsUnit(std::complex<double> ratio, double sign) {
  return std::abs(ratio - std::complex<double>(sign, 0)) <= 1e-9;
}

bool RelationsEquivalent(const MathAnswer& candidate, const MathAnswer& reference, int depth) {
  const std::vector<RelationOperator>& c_ops = candidate.relations;
  const std::vector<RelationOperator>& r_ops = reference.relations;
  if (c_ops.size() != r_ops.size()) return false;
  bool same = c_ops == r_ops;
  bool flipped = true;
  for (size_t i = 0; i < c_ops.size(); ++i) {
    if (c_ops[i] != Flipped(r_ops[r_ops.size() - 1 - i]) || !IsInequality(c_ops[i])) {
      flipped = false;
    }
  }
  bool expressions = std::all_of(candidate.elements.begin(), candidate.elements.end(),
                                 [](const MathAnswer& e) { return e.kind == Kind::kExpression; }) &&
                     std::all_of(reference.elements.begin(), reference.elements.end(),
                                 [](const MathAnswer& e) { return e.kind == Kind::kExpression; });
  if (c_ops.size() == 1 && expressions && r_ops[0] != RelationOperator::kIn &&
      (HasVariables(candidate) || HasVariables(reference))) {
    // Equations are equivalent when their differences agree up to sign (y = -x + 3 and
    // x + y = 3; all three references). A scaled equation (2x + 2y = 10 for x + y = 5) is
    // accepted by Math-Verify, which solves both, and rejected by Qwen (same or negated
    // difference only) and by PRM800K, which compares the right-hand sides 10 and 5; with equal
    // right-hand sides (10x - 14y + 22z + 8 = 0 for 5x - 7y + 11z + 4 = 0) PRM800K accepts, so
    // the majority accepts a scaled equation exactly when the right-hand sides agree.
    // Inequalities must agree exactly or flipped (x > 3, 3 < x); PRM800K cannot compare
    // relations, Qwen's |lhs - rhs| test ignores the operator, Math-Verify solves: the majority
    // (Qwen and Math-Verify) accepts the flipped form and rejects a scaled one.
    std::optional<std::complex<double>> ratio = DifferenceRatio(candidate, reference);
    if (!ratio) return false;
    if (same && IsInequality(r_ops[0])) return IsUnit(*ratio, 1);
    if (same) {
      return IsUnit(*ratio, 1) || IsUnit(*ratio, -1) ||
             Equivalent(candidate.elements[1], reference.elements[1], depth + 1);
    }
    return flipped && IsUnit(*ratio, -1);
  }
  // Chains, `\in`, and relations between constants or structures: side by side.
  if (same && ElementwiseEquivalent(candidate.elements, reference.elements, depth)) return true;
  if (flipped) {
    std::vector<MathAnswer> reversed(candidate.elements.rbegin(), candidate.elements.rend());
    return ElementwiseEquivalent(reversed, reference.elements, depth);
  }
  return false;
}

bool IsSet(const MathAnswer& a) { return a.kind == Kind::kSet; }

bool Equivalent(const MathAnswer& candidate, const MathAnswer& reference, int depth) {
  if (candidate.kind == Kind::kEmpty || reference.kind == Kind::kEmpty) return false;
  if (depth > 2 * kMaxNesting) return false;
  // Text equality covers every kind; letter case is ignored because PRM800K lower-cases the
  // whole answer and Qwen compares lower-cased strings first (Math-Verify keeps the case of
  // one-letter symbols: "C" vs "c" is a disagreement, decided by the majority).
  if (!candidate.text.empty() && candidate.text == reference.text) return true;

  // Relations. A reference assignment names its answer (`y = 2x + 3` accepts `2x + 3`; all
  // three references agree). A candidate equation offers its last right-hand side (`k = 5`,
  // `2x + 1 = 11` for 11: Math-Verify and PRM800K accept, Qwen only for a left side of at
  // most two characters; majority accepts). A reference equation that is not an assignment
  // (`x + y = 5`) does not accept a bare `5` (Math-Verify and Qwen reject; PRM800K accepts).
  if (candidate.kind == Kind::kRelation && reference.kind == Kind::kRelation) {
    return RelationsEquivalent(candidate, reference, depth);
  }
  if (reference.kind == Kind::kRelation) {
    return reference.assignment && Equivalent(candidate, reference.elements.back(), depth + 1);
  }
  if (candidate.kind == Kind::kRelation) {
    bool equation = std::all_of(
        candidate.relations.begin(), candidate.relations.end(), [](RelationOperator op) {
          return op == RelationOperator::kEqual || op == RelationOperator::kIn;
        });
    return equation && Equivalent(candidate.elements.back(), reference, depth + 1);
  }

  if (IsSet(candidate) || IsSet(reference)) {
    if (IsSet(candidate) && IsSet(reference)) {
      // A union only matches a union; braces, bare lists and \pm are the same notion: an
      // unordered collection of answers. Deliberately NOT the majority: the issue asks that
      // order not matter for sets and several answers, and Math-Verify agrees, while PRM800K
      // and Qwen reject `\{2,1\}` for `\{1,2\}`, `3,1` for `1,3`, a reordered union and an
      // expanded `3 \pm \sqrt{2}` only because they compare such answers as strings or cannot
      // parse them at all.
      bool candidate_union = candidate.notation == SetNotation::kUnion;
      bool reference_union = reference.notation == SetNotation::kUnion;
      if (candidate_union != reference_union) return false;
      return UnorderedEquivalent(candidate.elements, reference.elements, depth);
    }
    const MathAnswer& set = IsSet(candidate) ? candidate : reference;
    const MathAnswer& other = IsSet(candidate) ? reference : candidate;
    // `\{5\}` vs `5`: all three references accept.
    if (set.elements.size() == 1) {
      return IsSet(candidate) ? Equivalent(set.elements[0], other, depth + 1)
                              : Equivalent(other, set.elements[0], depth + 1);
    }
    // `(1, 2)` vs `1, 2`: Math-Verify (an open interval against a two-element set) and Qwen
    // (strips the parentheses) accept, PRM800K rejects; `[1, 2]` vs `1, 2` only Qwen accepts.
    if (set.notation == SetNotation::kList && other.kind == Kind::kTuple && other.open == '(' &&
        other.close == ')') {
      return ElementwiseEquivalent(candidate.elements, reference.elements, depth);
    }
    return false;
  }

  if (candidate.kind != reference.kind) return false;
  switch (candidate.kind) {
    case Kind::kTuple:
      // Bracket type matters: `(2, 5)` vs `[2, 5)` differ (PRM800K and Math-Verify; Qwen's
      // compare_lists ignores the brackets).
      return candidate.open == reference.open && candidate.close == reference.close &&
             ElementwiseEquivalent(candidate.elements, reference.elements, depth);
    case Kind::kMatrix:
      return candidate.rows == reference.rows && candidate.columns == reference.columns &&
             ElementwiseEquivalent(candidate.elements, reference.elements, depth);
    case Kind::kExpression:
      return ExpressionsEquivalent(candidate.samples, reference.samples);
    default:
      return false;  // text that differs
  }
}

void AppendNumberKey(const NumericValue& value, std::string* key) {
  char buffer[80];
  if (value.exact) {
    if (value.exact->den == 1) {
      std::snprintf(buffer, sizeof(buffer), "q:%lld", static_cast<long long>(value.exact->num));
    } else {
      std::snprintf(buffer, sizeof(buffer), "q:%lld/%lld", static_cast<long long>(value.exact->num),
                    static_cast<long long>(value.exact->den));
    }
  } else if (value.value.imag() == 0) {
    std::snprintf(buffer, sizeof(buffer), "r:%.12g", value.value.real() + 0.0);
  } else {
    std::snprintf(buffer, sizeof(buffer), "c:%.12g,%.12g", value.value.real() + 0.0,
                  value.value.imag() + 0.0);
  }
  key->append(buffer);
}

void AppendKey(const MathAnswer& answer, std::string* key) {
  switch (answer.kind) {
    case Kind::kEmpty:
      return;
    case Kind::kText:
      key->append("t:");
      key->append(answer.text);
      return;
    case Kind::kExpression:
      if (!answer.samples.has_variables) {
        AppendNumberKey(answer.samples.values[0], key);
        if (answer.samples.percent) key->push_back('%');
      } else {
        key->append("f:");
        for (int p = 0; p < kSamplePoints; ++p) {
          if (p > 0) key->push_back(';');
          AppendNumberKey(answer.samples.values[p], key);
        }
      }
      return;
    case Kind::kTuple:
      key->push_back(answer.open);
      for (size_t i = 0; i < answer.elements.size(); ++i) {
        if (i > 0) key->push_back(',');
        AppendKey(answer.elements[i], key);
      }
      key->push_back(answer.close);
      return;
    case Kind::kSet: {
      std::vector<std::string> keys;
      for (const MathAnswer& element : answer.elements) {
        keys.emplace_back();
        AppendKey(element, &keys.back());
      }
      std::sort(keys.begin(), keys.end());
      key->append(answer.notation == SetNotation::kUnion ? "U{" : "{");
      for (size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) key->push_back(',');
        key->append(keys[i]);
      }
      key->push_back('}');
      return;
    }
    case Kind::kMatrix:
      key->append("M" + std::to_string(answer.rows) + "x" + std::to_string(answer.columns) + "[");
      for (size_t i = 0; i < answer.elements.size(); ++i) {
        if (i > 0) key->push_back(',');
        AppendKey(answer.elements[i], key);
      }
      key->push_back(']');
      return;
    case Kind::kRelation:
      key->append("rel:");
      key->append(answer.text);
      return;
  }
}

}  // namespace

MathAnswer ParseMathAnswer(std::string_view normalized) {
  std::string_view s = TrimSpaces(normalized);
  if (s.empty()) return MathAnswer{};
  if (s.size() > kMaxAnswerChars) return MakeText(s);
  // A union of intervals, then a bare list of answers, then a single answer.
  for (auto [separator, notation] : {std::pair{&UnionSeparator, SetNotation::kUnion},
                                     std::pair{&CommaSeparator, SetNotation::kList}}) {
    std::vector<std::string_view> parts = SplitTopLevel(s, separator);
    if (parts.size() == 1) continue;
    MathAnswer set;
    set.kind = Kind::kSet;
    set.notation = notation;
    set.text = Lower(s);
    if (!ParseElements(parts, 0, &set.elements)) return MakeText(s);
    return set;
  }
  return ParseElement(s, 0);
}

bool MathAnswersEquivalent(const MathAnswer& candidate, const MathAnswer& reference) {
  return Equivalent(candidate, reference, 0);
}

std::string MathAnswerKey(const MathAnswer& answer) {
  std::string key;
  AppendKey(answer, &key);
  return key;
}

}  // namespace ponder::verifiers::grading_internal
