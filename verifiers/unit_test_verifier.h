// The unit_tests verifier (ponder.v1.UnitTests): a code candidate scores the share of the
// problem's example tests its program passes in the sandbox. It needs no model and no
// reference: the tests are those the problem shows the model (MBPP's asserts, HumanEval's
// docstring examples), as in AlphaCode's filtering (Li et al. 2022) and CodeT (Chen et al. 2022).
#ifndef PONDER_VERIFIERS_UNIT_TEST_VERIFIER_H_
#define PONDER_VERIFIERS_UNIT_TEST_VERIFIER_H_

#include <string>

#include "verifiers/verifier.h"

namespace ponder::verifiers {

class UnitTestVerifier : public Verifier {
 public:
  // `tester` must outlive the verifier.
  explicit UnitTestVerifier(ProgramTester* tester) : tester_(tester) {}

  // Each solution's program is verifiers::ExtractProgram of its text (Solution::text; else its
  // steps joined by "\n\n"), the program the answer grader runs too; its one step score and
  // its aggregate are its pass rate.
  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override;
  std::string name() const override { return "unit_tests"; }

 private:
  ProgramTester* tester_;
};

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_UNIT_TEST_VERIFIER_H_
