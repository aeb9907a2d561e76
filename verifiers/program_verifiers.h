// Verifiers that run a candidate's program in the code sandbox, through the solve's
// ProgramTester (verifiers/verifier.h):
//  * unit_tests (ponder.v1.UnitTests): a code candidate scores the share of the problem's
//    example tests its program passes. No model and no reference: the tests are those the
//    problem shows the model (MBPP's asserts, HumanEval's docstring examples), as in AlphaCode's
//    filtering (Li et al. 2022) and CodeT (Chen et al. 2022).
//  * program_of_thought (ponder.v1.ProgramOfThought): a math candidate that reasons and also
//    writes a program scores by whether the program's printed answer agrees with its chain of
//    thought's (Program of Thoughts, Chen et al. 2022; the agreement of the two as a check).
#ifndef PONDER_VERIFIERS_PROGRAM_VERIFIERS_H_
#define PONDER_VERIFIERS_PROGRAM_VERIFIERS_H_

#include <string>

#include "verifiers/verifier.h"

namespace ponder::verifiers {

class UnitTestVerifier : public Verifier {
 public:
  // `tester` must outlive the verifier.
  explicit UnitTestVerifier(ProgramTester* tester) : tester_(tester) {}

  // Each solution's program is ExtractProgram of its text (Solution::text; else its steps
  // joined by "\n\n"), the program the answer grader runs too; its one step score and its
  // aggregate are its pass rate.
  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override;
  std::string name() const override { return "unit_tests"; }

 private:
  ProgramTester* tester_;
};

class ProgramOfThoughtVerifier : public Verifier {
 public:
  // `tester` must outlive the verifier; `format` is the problem's (how answers compare).
  ProgramOfThoughtVerifier(ProgramTester* tester, AnswerFormat format)
      : tester_(tester), format_(format) {}

  // A solution's program is its longest fenced code block (none: no program); its chain of
  // thought's answer is ExtractAnswer of its text, the answer its candidate records. The program
  // runs alone and its last printed line (or the answer ExtractAnswer finds in it: "The answer
  // is 42") is compared with that answer by the answer grader's equivalence
  // (AnswersEquivalent): 1 when they agree, 0 when they do not or the program fails (an
  // exception, a timeout), 0.5 without a program, an answer or a printed line (no evidence).
  // One score for the whole solution.
  absl::StatusOr<VerifyResult> Score(std::string_view problem, std::span<const Solution> solutions,
                                     const VerifyOptions& options) override;
  std::string name() const override { return "program_of_thought"; }

 private:
  ProgramTester* tester_;
  AnswerFormat format_;
};

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_PROGRAM_VERIFIERS_H_
