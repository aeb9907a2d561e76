// Partial solutions for the step-level strategies (internal to samplers/): a sequence of
// generated tokens, extended one step at a time.
//
// Partial solutions live in token space: a step is generated from the prompt tokens followed by
// the partial's own tokens, so the engine's prefix cache serves everything computed before
// (re-tokenizing text could split differently at step boundaries and miss the cache). The text
// is always the decoding of all generated tokens, and steps are cut from that text at the
// delimiter, so a token that runs past the delimiter ("\n\nThe") puts its tail in the next step.
#ifndef PONDER_SAMPLERS_PARTIAL_H_
#define PONDER_SAMPLERS_PARTIAL_H_

#include <string>
#include <string_view>
#include <vector>

#include "samplers/common.h"

namespace ponder::samplers::internal {

struct Partial {
  std::vector<int32_t> tokens;    // generated so far (no end-of-generation token)
  std::vector<float> logprobs;    // one per token
  std::vector<size_t> step_ends;  // tokens.size() after each step
  std::vector<int> step_nodes;    // trace node of each step
  std::string text;               // decoding of `tokens`
  bool finished = false;
  engine::FinishReason finish_reason = engine::FinishReason::kLength;
  int node = -1;  // trace node of the last step (-1: the prompt)
  int num_steps() const { return static_cast<int>(step_ends.size()); }
};

// One partial to extend, `copies` times (independent samples).
struct Extension {
  const Partial* parent;
  int copies;
};

// Extends every parent by one step, all in one batch of requests (one request per parent with
// n = copies). The step ends at the delimiter, at end-of-generation, or at max_step_tokens; with
// `final_step` it runs to end-of-generation (or the remaining max_tokens). A child is finished
// when the model ended, the step holds the answer marker, the step was empty, max_steps is
// reached, or the solution reached max_tokens. Children come in order: parent by parent, copy by
// copy. Each child's trace node is appended to `trace` (iteration `iteration`).
absl::StatusOr<std::vector<Partial>> ExtendByOneStep(
    const ProblemInput& problem, const SolveContext& context, const Settings& settings,
    std::span<const Extension> extensions, bool final_step, int iteration, uint64_t& requests,
    UsageMeter& usage, v1::SolveResult& result);

// The text a step added to its parent's, valid UTF-8: the child's text from where the two first
// differ, backed up to the start of a character. A parent whose tokens end inside a character
// decodes it as U+FFFD and its child, which completes it, as the character, so the step shows
// the whole character (a cut at the parent's length in bytes split it: QA in stop 32).
std::string StepText(std::string_view parent, std::string_view child);

// Scores partial solutions with the verifier; returns the aggregated score of each and stores
// it as the reward of each one's trace node. Partials too long for the verifier's model score
// 0 (NoteOverContext) and, where `over_context` is given, are marked there (one per partial).
absl::StatusOr<std::vector<double>> ScorePartials(const ProblemInput& problem,
                                                  const SolveContext& context,
                                                  const Settings& settings,
                                                  std::span<const Partial> partials,
                                                  UsageMeter& usage, v1::SolveResult& result,
                                                  std::vector<bool>* over_context = nullptr);

// A finished partial as a candidate.
v1::Candidate PartialToCandidate(int index, const Partial& partial, verifiers::AnswerFormat format);

void EmitTrace(const SolveContext& context, const v1::SolveResult& result, int first_node);

}  // namespace ponder::samplers::internal

#endif  // PONDER_SAMPLERS_PARTIAL_H_
