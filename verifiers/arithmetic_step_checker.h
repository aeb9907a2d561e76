// A rule-based process verifier: every "a op b = c" in a step is recomputed; the step scores 1
// if all hold and 0 otherwise, and a step with no arithmetic gets a neutral score. It needs no
// model, so it serves as a cheap PRM for arithmetic word problems (GSM8K, the built-in task).
#ifndef PONDER_VERIFIERS_ARITHMETIC_STEP_CHECKER_H_
#define PONDER_VERIFIERS_ARITHMETIC_STEP_CHECKER_H_

#include <optional>
#include <string_view>
#include <vector>

#include "verifiers/verifier.h"

namespace ponder::verifiers {

// One equation found in a step.
struct CheckedEquation {
  std::string expression;  // left-hand side, as written
  double computed = 0;     // its value
  double stated = 0;       // the right-hand side
  bool holds = false;
};

// Finds the equations in `text`: a left-hand side with at least one operator between numbers
// (+, -, *, /, ×, ÷, x between numbers, parentheses; "1,234" and "$5" read as numbers), "=",
// and a number on the right. "x = 5" or "= 3 apples" without arithmetic on the left are not
// equations. A stated value holds when it equals the computed one to the precision it is
// written with (10 / 3 = 3.33 holds; = 3.3 too, = 3.4 does not), or within `tolerance`
// relative error.
std::vector<CheckedEquation> CheckArithmetic(std::string_view text, double tolerance = 1e-6);

class ArithmeticStepChecker : public Verifier {
 public:
  explicit ArithmeticStepChecker(double neutral_score = 0.5, double tolerance = 1e-6)
      : neutral_score_(neutral_score), tolerance_(tolerance) {}

  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override;
  std::string name() const override { return "arithmetic"; }

  double ScoreStep(std::string_view step) const;

 private:
  double neutral_score_;
  double tolerance_;
};

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_ARITHMETIC_STEP_CHECKER_H_
