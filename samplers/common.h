// Shared machinery of the strategies (internal to samplers/): resolved settings, seeded
// randomness, usage accounting, sampling requests, candidates and answer classes, scoring.
#ifndef PONDER_SAMPLERS_COMMON_H_
#define PONDER_SAMPLERS_COMMON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "samplers/strategy.h"

namespace ponder::samplers::internal {

// The configuration with every default applied.
struct Settings {
  engine::SamplingParams sampling;  // seed set per request
  int max_tokens = 1024;            // full completion
  std::string delimiter = "\n\n";
  std::string answer_marker = "\\boxed";
  int max_steps = 40;
  int max_step_tokens = 256;
  v1::Aggregation aggregation = v1::AGGREGATION_LAST;
};
Settings ResolveSettings(const v1::StrategyConfig& config, v1::Aggregation default_aggregation);

// SplitMix64: deterministic on every platform (std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Uniform();  // [0, 1)
 private:
  uint64_t state_;
};

// A distinct, reproducible engine seed for the `index`-th request of a solve.
uint64_t RequestSeed(uint64_t strategy_seed, uint64_t index);

// CANCELLED / DEADLINE_EXCEEDED when the solve must stop.
absl::Status CheckStopped(const SolveContext& context);

// Counts what the solve cost.
class UsageMeter {
 public:
  void AddGeneration(const engine::GenerateRequest& request, const engine::GenerateResult& result);
  void AddVerifierTokens(int64_t tokens) { verifier_tokens_ += tokens; }
  int64_t generated_tokens() const { return generated_; }
  // Fills `usage`; `full_completion_tokens` is the mean length of one finished candidate.
  void Fill(double full_completion_tokens, double seconds, v1::Usage& usage) const;

 private:
  int64_t prompt_requested_ = 0, prompt_computed_ = 0, generated_ = 0, verifier_tokens_ = 0;
  int calls_ = 0;
};

// Runs `requests` together through the policy (one batch), stamping seeds, cancellation and
// deadline, and recording usage.
absl::StatusOr<std::vector<engine::GenerateResult>> GenerateAll(
    std::vector<engine::GenerateRequest> requests, const SolveContext& context,
    uint64_t& request_counter, UsageMeter& usage);

// A candidate from a finished completion: text, extracted answer, token statistics.
v1::Candidate MakeCandidate(int index, const std::string& text, const std::vector<float>& logprobs,
                            engine::FinishReason finish, verifiers::AnswerFormat format);

// Groups candidates with equivalent answers: sets answer_class (first-occurrence order, -1 for
// no answer) and returns the number of classes. Answers are compared by canonical key first and
// then pairwise (verifiers::ParsedAnswer), joining classes like RPC's union-find (compute_sc.py).
int AssignAnswerClasses(std::vector<v1::Candidate>& candidates, verifiers::AnswerFormat format);

// Scores every candidate of `result` with the verifier (steps cut at the delimiter): fills
// step_scores and score. Candidates too long for the verifier's model score 0 and are counted
// in the diagnostic "verifier_over_context" (NoteOverContext).
absl::Status ScoreCandidates(const ProblemInput& problem, const SolveContext& context,
                             const Settings& settings, v1::SolveResult& result, UsageMeter& usage);

// Adds the solutions of `scored` that did not fit the verifier's context to the diagnostic
// "verifier_over_context" of `result`.
void NoteOverContext(const verifiers::VerifyResult& scored, v1::SolveResult& result);

// Sets `selected` on candidate `index` (SelectCandidate) or the members of `answer_class`
// (SelectAnswerClass, `representative` the one named), and the result's answer and
// selected_candidate; an answer_class of -1 (no class won) selects nothing: -1.
void SelectCandidate(v1::SolveResult& result, int index);
void SelectAnswerClass(v1::SolveResult& result, int answer_class, int representative);

// Mean token count of the candidates (for full-generation equivalents).
double MeanCandidateTokens(const v1::SolveResult& result);

}  // namespace ponder::samplers::internal

#endif  // PONDER_SAMPLERS_COMMON_H_
