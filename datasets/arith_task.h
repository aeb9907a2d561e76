// The built-in task: arithmetic word problems with worked solutions, generated from a seed.
//
// It exists so that the project can train its own small model (issue 7) on a task where
// test-time scaling visibly helps, and so that every demo and integration test has data without
// a download. The problems are meant to be learnable by a transformer of a few million
// parameters and still need 2 to 5 dependent steps:
//  * every step is one operation `a op b = c` with op in + - * /, written with ASCII operators
//    and digits; the second operand b is at most 100, a product's factors are at most 100 and
//    12, divisions are exact, and every value is a positive integer of at most 4 digits;
//  * the vocabulary is small: 24 names, 20 kinds of objects, 5 containers, about 25 sentence
//    templates (buying, giving, comparisons "5 more than", "twice as many", "a third as many",
//    selling at a price, sharing, packing);
//  * the solution writes one step per paragraph (separated by "\n\n"), each with exactly one
//    equation, and the last paragraph ends with "The answer is \boxed{N}." — so the answer
//    grader (GSM8K and MATH formats), the arithmetic step checker and the strategies' default
//    step delimiter apply unchanged.
//
// Promises:
//  * Deterministic: the same (split, seed, difficulty) gives the same problem on every machine
//    and compiler (own integer RNG; no std::*_distribution, no floating point).
//  * Train and test never share a problem: each problem's arithmetic chain (its equations)
//    is assigned to test when a hash of the chain falls in 1/8 of the range, else to train, and
//    each split only emits its own chains — whatever the phrasing, names or seeds. The split
//    name is also mixed into the seed, so train seed 5 and test seed 5 are unrelated.
//  * Difficulty d in 2..5 gives exactly d steps (d equations).
#ifndef PONDER_DATASETS_ARITH_TASK_H_
#define PONDER_DATASETS_ARITH_TASK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ponder::datasets {

enum class ArithSplit { kTrain, kTest };

// "train" / "test"; InvalidArgument naming the value otherwise.
absl::StatusOr<ArithSplit> ParseArithSplit(std::string_view name);
std::string_view ArithSplitName(ArithSplit split);

inline constexpr int kArithMinSteps = 2;
inline constexpr int kArithMaxSteps = 5;

// One step of the reference solution: `lhs op rhs = result`.
struct ArithStep {
  int64_t lhs = 0;
  char op = '+';  // one of + - * /
  int64_t rhs = 0;
  int64_t result = 0;
  std::string phrasing;  // the template's name, e.g. "compare.times" (for tests and analysis)
};

struct ArithProblem {
  std::string id;  // "<split>/<seed>" (mixed difficulty) or "<split>/d<d>/<seed>"
  uint64_t seed = 0;
  int difficulty = 0;    // the number of steps, 2..5
  std::string problem;   // the word problem
  std::string solution;  // steps separated by "\n\n", ending "The answer is \boxed{N}."
  int64_t answer = 0;
  std::vector<ArithStep> steps;
};

// The problem of `split` with `seed`. `difficulty` is the number of steps (2..5), or 0 to draw
// it from the seed (uniform over 2..5). InvalidArgument for any other difficulty.
absl::StatusOr<ArithProblem> GenerateArithProblem(ArithSplit split, uint64_t seed, int difficulty);

// `count` problems with seeds seed, seed + 1, ... (so a larger count extends a smaller one).
// InvalidArgument for a negative count or a bad difficulty.
absl::StatusOr<std::vector<ArithProblem>> GenerateArithProblems(ArithSplit split, uint64_t seed,
                                                                int64_t count, int difficulty);

}  // namespace ponder::datasets

#endif  // PONDER_DATASETS_ARITH_TASK_H_
