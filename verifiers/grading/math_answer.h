// The structure of a MATH answer and when two answers are equivalent.
//
// A normalised answer (latex_normalization.h) is parsed into a tree:
//   kExpression  an arithmetic expression, kept as its values at the sample points
//                (expression.h); no free variable means a number.
//   kText        anything else, compared as lower-cased normalised text: words
//                (`\text{Evelyn}`), a lone letter (`(C)`, `x`), bases (`1200_7`).
//   kTuple       `(a, b)`, `[a, b)`: ordered; the bracket on each side matters, so an
//                interval never matches a tuple or an interval with another bracket.
//   kSet         unordered: `\{a, b\}`, a bare list of answers `a, b`, `a \pm b`, and a union
//                of intervals `A \cup B`.
//   kMatrix      `\begin{pmatrix}` (also bmatrix, matrix, array), compared cell by cell.
//   kRelation    `lhs = rhs`, inequalities, chains, `x \in S`.
//
// Where the reference graders disagree, the choice and the example are documented at the
// comparison in math_answer.cc.
#ifndef PONDER_VERIFIERS_GRADING_MATH_ANSWER_H_
#define PONDER_VERIFIERS_GRADING_MATH_ANSWER_H_

#include <string>
#include <string_view>
#include <vector>

#include "verifiers/grading/expression.h"

namespace ponder::verifiers::grading_internal {

enum class RelationOperator { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kIn };

struct MathAnswer {
  enum class Kind { kEmpty, kText, kExpression, kTuple, kSet, kMatrix, kRelation };
  enum class SetNotation { kList, kBraces, kPlusMinus, kUnion };

  Kind kind = Kind::kEmpty;
  // Lower-cased normalised source text of this node (every kind).
  std::string text;
  ExpressionSamples samples;                  // kExpression
  char open = 0;                              // kTuple: '(' or '['
  char close = 0;                             // kTuple: ')' or ']'
  SetNotation notation = SetNotation::kList;  // kSet
  // kTuple, kSet: the elements; kMatrix: the cells row by row; kRelation: the sides.
  std::vector<MathAnswer> elements;
  int rows = 0;                             // kMatrix
  int columns = 0;                          // kMatrix
  std::vector<RelationOperator> relations;  // kRelation: between consecutive sides
  // kRelation `x = ...` or `x \in ...` whose left side is a lone (subscripted) variable or a
  // function of one (`f(x)`): an assignment names the answer on its right.
  bool assignment = false;
};

MathAnswer ParseMathAnswer(std::string_view normalized);

// Whether `candidate` is an acceptable answer for `reference`. Symmetric except for
// relations: a reference assignment `y = 2x+3` accepts `2x+3`, and a candidate equation
// accepts its last right-hand side, but a reference equation like `x+y=5` does not accept `5`.
bool MathAnswersEquivalent(const MathAnswer& candidate, const MathAnswer& reference);

// A key such that equal keys mean equivalent answers (not the converse): numbers by exact or
// 12-significant-digit value, expressions by their sample values, sets with sorted elements,
// text by its text. Empty for kEmpty.
std::string MathAnswerKey(const MathAnswer& answer);

}  // namespace ponder::verifiers::grading_internal

#endif  // PONDER_VERIFIERS_GRADING_MATH_ANSWER_H_
