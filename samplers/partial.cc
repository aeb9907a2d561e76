#include "samplers/partial.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ponder::samplers::internal {

std::string StepText(std::string_view parent, std::string_view child) {
  const size_t limit = std::min(parent.size(), child.size());
  size_t start = 0;
  while (start < limit && parent[start] == child[start]) ++start;
  while (start > 0 && start < child.size() &&
         (static_cast<unsigned char>(child[start]) & 0xC0) == 0x80) {
    --start;  // a continuation byte: back to the character's first byte
  }
  return std::string(child.substr(start));
}

absl::StatusOr<std::vector<Partial>> ExtendByOneStep(
    const ProblemInput& problem, const SolveContext& context, const Settings& settings,
    std::span<const Extension> extensions, bool final_step, int iteration, uint64_t& requests,
    UsageMeter& usage, v1::SolveResult& result) {
  // The longest sequence the policy takes (its context, or its KV budget if less): the engine
  // stops a step there ("length"), and a partial that fills it is finished (extending it would
  // ask for a prompt the policy cannot hold).
  const int64_t usable = context.policy->Info().usable_context();
  std::vector<engine::GenerateRequest> batch;
  for (const Extension& e : extensions) {
    engine::GenerateRequest request;
    request.prompt_tokens = problem.prompt_tokens;
    request.prompt_tokens.insert(request.prompt_tokens.end(), e.parent->tokens.begin(),
                                 e.parent->tokens.end());
    request.n = e.copies;
    const int remaining =
        std::max(1, settings.max_tokens - static_cast<int>(e.parent->tokens.size()));
    request.max_tokens = final_step ? remaining : std::min(settings.max_step_tokens, remaining);
    if (!final_step) request.stop = {settings.delimiter};
    request.include_stop_string = true;
    request.sampling = settings.sampling;
    batch.push_back(std::move(request));
  }
  PONDER_ASSIGN_OR_RETURN(std::vector<engine::GenerateResult> generated,
                          GenerateAll(std::move(batch), context, requests, usage));
  std::vector<Partial> children;
  for (size_t g = 0; g < extensions.size(); ++g) {
    const Partial& parent = *extensions[g].parent;
    for (const engine::Completion& completion : generated[g].completions) {
      Partial child = parent;
      std::vector<int32_t> step_tokens = completion.tokens;
      std::vector<float> step_logprobs = completion.logprobs;
      if (completion.finish_reason == engine::FinishReason::kEos && !step_tokens.empty()) {
        step_tokens.pop_back();  // the end-of-generation token is not part of the text
        step_logprobs.pop_back();
      }
      child.tokens.insert(child.tokens.end(), step_tokens.begin(), step_tokens.end());
      child.logprobs.insert(child.logprobs.end(), step_logprobs.begin(), step_logprobs.end());
      child.step_ends.push_back(child.tokens.size());
      child.text = context.policy->Detokenize(child.tokens);
      child.finish_reason = completion.finish_reason;
      const std::string step_text = StepText(parent.text, child.text);
      child.finished =
          final_step || completion.finish_reason == engine::FinishReason::kEos ||
          step_tokens.empty() ||
          (!settings.answer_marker.empty() &&
           step_text.find(settings.answer_marker) != std::string::npos) ||
          child.num_steps() >= settings.max_steps ||
          static_cast<int>(child.tokens.size()) >= settings.max_tokens ||
          (usable > 0 &&  // 0: an engine that does not say
           static_cast<int64_t>(problem.prompt_tokens.size() + child.tokens.size()) >= usable);
      v1::TraceStep* node = result.add_trace();
      node->set_iteration(iteration);
      node->set_node(result.trace_size() - 1);
      node->set_parent(parent.node);
      node->set_text(step_text);
      node->set_num_tokens(static_cast<int>(step_tokens.size()));
      node->set_finished(child.finished);
      child.node = node->node();
      child.step_nodes.push_back(child.node);
      children.push_back(std::move(child));
    }
  }
  return children;
}

absl::StatusOr<std::vector<double>> ScorePartials(const ProblemInput& problem,
                                                  const SolveContext& context,
                                                  const Settings& settings,
                                                  std::span<const Partial> partials,
                                                  UsageMeter& usage, v1::SolveResult& result,
                                                  std::vector<bool>* over_context) {
  if (context.verifier == nullptr)
    return absl::FailedPreconditionError("this strategy needs a verifier");
  std::vector<verifiers::Solution> solutions;
  for (const Partial& p : partials)
    solutions.push_back(verifiers::SplitSteps(p.text, settings.delimiter, p.finished));
  PONDER_ASSIGN_OR_RETURN(
      verifiers::VerifyResult scored,
      context.verifier->Score(problem.problem, solutions,
                              {settings.aggregation, context.cancel, context.deadline}));
  usage.AddVerifierTokens(scored.tokens_processed);
  NoteOverContext(scored, result);
  std::vector<double> scores;
  if (over_context != nullptr) over_context->assign(partials.size(), false);
  for (size_t i = 0; i < partials.size(); ++i) {
    scores.push_back(scored.scores[i].aggregate);
    if (over_context != nullptr) (*over_context)[i] = scored.scores[i].over_context;
    if (partials[i].node >= 0)
      result.mutable_trace(partials[i].node)->set_reward(scored.scores[i].aggregate);
  }
  return scores;
}

v1::Candidate PartialToCandidate(int index, const Partial& partial,
                                 verifiers::AnswerFormat format) {
  return MakeCandidate(index, partial.text, partial.logprobs, partial.finish_reason, format);
}

void EmitTrace(const SolveContext& context, const v1::SolveResult& result, int first_node) {
  if (!context.on_step) return;
  for (int i = first_node; i < result.trace_size(); ++i) context.on_step(result.trace(i));
}

}  // namespace ponder::samplers::internal
