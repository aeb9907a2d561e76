#include "verifiers/unit_test_verifier.h"

#include <optional>
#include <vector>

#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "verifiers/grading/grader.h"

namespace ponder::verifiers {

absl::StatusOr<VerifyResult> UnitTestVerifier::Score(std::string_view problem,
                                                     std::span<const Solution> solutions,
                                                     const VerifyOptions& options) {
  std::vector<std::optional<std::string>> programs;
  programs.reserve(solutions.size());
  for (const Solution& solution : solutions) {
    programs.push_back(ExtractProgram(solution.text.empty() ? absl::StrJoin(solution.steps, "\n\n")
                                                            : solution.text));
  }
  PONDER_ASSIGN_OR_RETURN(std::vector<double> rates, tester_->PassRates(programs, options));
  if (rates.size() != solutions.size()) {
    return absl::InternalError("the program tester did not return one pass rate per program");
  }
  VerifyResult result;
  for (double rate : rates) {
    VerifierScores& scores = result.scores.emplace_back();
    scores.step_scores = {rate};
    scores.aggregate = rate;
  }
  return result;
}

}  // namespace ponder::verifiers
