#include "verifiers/program_verifiers.h"

#include <optional>
#include <vector>

#include "base/status_macros.h"
#include "verifiers/grading/grader.h"

namespace ponder::verifiers {
namespace {

std::string TextOf(const Solution& solution) {
  return solution.text.empty() ? JoinedSteps(solution) : solution.text;
}

// One score per solution, its one step score too.
absl::StatusOr<VerifyResult> OneScoreEach(const std::vector<double>& scores, size_t solutions) {
  if (scores.size() != solutions) {
    return absl::InternalError("the program tester did not return one result per program");
  }
  VerifyResult result;
  for (double score : scores) {
    VerifierScores& each = result.scores.emplace_back();
    each.step_scores = {score};
    each.aggregate = score;
  }
  return result;
}

}  // namespace

absl::StatusOr<VerifyResult> UnitTestVerifier::Score(std::string_view problem,
                                                     std::span<const Solution> solutions,
                                                     const VerifyOptions& options) {
  std::vector<std::optional<std::string>> programs;
  programs.reserve(solutions.size());
  for (const Solution& solution : solutions) programs.push_back(ExtractProgram(TextOf(solution)));
  PONDER_ASSIGN_OR_RETURN(std::vector<double> rates, tester_->PassRates(programs, options));
  return OneScoreEach(rates, solutions.size());
}

absl::StatusOr<VerifyResult> ProgramOfThoughtVerifier::Score(std::string_view problem,
                                                             std::span<const Solution> solutions,
                                                             const VerifyOptions& options) {
  std::vector<std::optional<std::string>> programs, answers;
  for (const Solution& solution : solutions) {
    const std::string text = TextOf(solution);
    // The candidate's own answer (samplers' candidates take the same), so the score speaks of
    // the answer that is recorded and graded.
    std::optional<std::string> answer = ExtractAnswer(text, format_);
    std::optional<std::string> program =
        answer.has_value() ? ExtractProgram(text, /*whole_text_without_fence=*/false)
                           : std::nullopt;
    answers.push_back(program.has_value() ? std::move(answer) : std::nullopt);
    programs.push_back(std::move(program));
  }
  PONDER_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> printed,
                          tester_->PrintedAnswers(programs, options));
  if (printed.size() != programs.size()) {
    return absl::InternalError("the program tester did not return one result per program");
  }
  std::vector<double> scores;
  for (size_t i = 0; i < programs.size(); ++i) {
    const bool blank =
        printed[i].has_value() && printed[i]->find_first_not_of(" \t\r\n") == std::string::npos;
    if (!programs[i].has_value() || blank) {
      scores.push_back(0.5);  // nothing to check the chain of thought against
      continue;
    }
    if (!printed[i].has_value()) {
      scores.push_back(0.0);  // the program failed
      continue;
    }
    // "The answer is 42" printed is the answer 42, as in a response.
    const std::string said = ExtractAnswer(*printed[i], format_).value_or(*printed[i]);
    const bool agree = AnswersEquivalent(said, *answers[i], format_) ||
                       AnswersEquivalent(*printed[i], *answers[i], format_);
    scores.push_back(agree ? 1.0 : 0.0);
  }
  return OneScoreEach(scores, solutions.size());
}

}  // namespace ponder::verifiers
