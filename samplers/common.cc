#include "samplers/common.h"

#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/hash.h"
#include "base/status_macros.h"

namespace ponder::samplers::internal {

Settings ResolveSettings(const v1::StrategyConfig& config, v1::Aggregation default_aggregation) {
  Settings s;
  const v1::SamplingConfig& sampling = config.sampling();
  s.sampling.temperature = sampling.has_temperature() ? sampling.temperature() : 0.8;
  s.sampling.top_p = sampling.has_top_p() ? sampling.top_p() : 1.0;
  s.sampling.top_k = sampling.top_k();
  s.sampling.min_p = sampling.min_p();
  if (sampling.max_tokens() > 0) s.max_tokens = sampling.max_tokens();
  const v1::StepConfig& steps = config.steps();
  if (steps.has_delimiter()) s.delimiter = steps.delimiter();
  if (steps.has_answer_marker()) s.answer_marker = steps.answer_marker();
  if (steps.max_steps() > 0) s.max_steps = steps.max_steps();
  if (steps.max_step_tokens() > 0) s.max_step_tokens = steps.max_step_tokens();
  s.aggregation = config.verifier().aggregation() == v1::AGGREGATION_UNSPECIFIED
                      ? default_aggregation
                      : config.verifier().aggregation();
  return s;
}

uint64_t Rng::Next() { return Mix64(state_ += kGoldenGamma); }

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

uint64_t RequestSeed(uint64_t strategy_seed, uint64_t index) {
  Rng rng(strategy_seed * kGoldenGamma + index);
  return rng.Next();
}

absl::Status CheckStopped(const SolveContext& context) {
  if (context.cancel != nullptr && context.cancel->cancelled())
    return absl::CancelledError("solve cancelled");
  if (context.deadline.has_value() && absl::Now() >= *context.deadline) {
    return absl::DeadlineExceededError("solve passed its deadline");
  }
  return absl::OkStatus();
}

void UsageMeter::AddGeneration(const engine::GenerateRequest& request,
                               const engine::GenerateResult& result) {
  ++calls_;
  prompt_requested_ += result.prompt_tokens * request.n;
  prompt_computed_ += result.prompt_tokens - result.cached_prompt_tokens;
  for (const engine::Completion& c : result.completions)
    generated_ += static_cast<int64_t>(c.tokens.size());
}

void UsageMeter::Fill(double full_completion_tokens, double seconds, v1::Usage& usage) const {
  usage.set_prompt_tokens_requested(prompt_requested_);
  usage.set_prompt_tokens_computed(prompt_computed_);
  usage.set_generated_tokens(generated_);
  usage.set_full_generation_equivalents(
      full_completion_tokens > 0 ? generated_ / full_completion_tokens : 0);
  usage.set_engine_calls(calls_);
  usage.set_wall_seconds(seconds);
  usage.set_verifier_tokens(verifier_tokens_);
}

absl::StatusOr<std::vector<engine::GenerateResult>> GenerateAll(
    std::vector<engine::GenerateRequest> requests, const SolveContext& context,
    uint64_t& request_counter, UsageMeter& usage) {
  PONDER_RETURN_IF_ERROR(CheckStopped(context));
  for (engine::GenerateRequest& request : requests) {
    request.sampling.seed = RequestSeed(context.seed, request_counter++);
    request.cancel = context.cancel;
    request.deadline = context.deadline;
  }
  std::vector<absl::StatusOr<engine::GenerateResult>> results =
      context.policy->GenerateMany(requests);
  std::vector<engine::GenerateResult> out;
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    PONDER_RETURN_IF_ERROR(results[i].status());
    usage.AddGeneration(requests[i], *results[i]);
    for (const engine::Completion& c : results[i]->completions) {
      if (c.finish_reason == engine::FinishReason::kCancelled) {
        PONDER_RETURN_IF_ERROR(CheckStopped(context));
        return absl::CancelledError("the engine stopped the request");
      }
    }
    out.push_back(std::move(*results[i]));
  }
  return out;
}

v1::Candidate MakeCandidate(int index, const std::string& text, const std::vector<float>& logprobs,
                            engine::FinishReason finish, verifiers::AnswerFormat format) {
  v1::Candidate c;
  c.set_index(index);
  c.set_text(text);
  if (std::optional<std::string> answer = verifiers::ExtractAnswer(text, format);
      answer.has_value()) {
    c.set_answer(*answer);
  }
  c.set_answer_class(-1);
  c.set_num_tokens(static_cast<int>(logprobs.size()));
  double sum = std::accumulate(logprobs.begin(), logprobs.end(), 0.0);
  c.set_cumulative_logprob(sum);
  c.set_mean_logprob(logprobs.empty() ? 0.0 : sum / static_cast<double>(logprobs.size()));
  c.set_finish_reason(std::string(engine::FinishReasonName(finish)));
  return c;
}

int AssignAnswerClasses(std::vector<v1::Candidate>& candidates, verifiers::AnswerFormat format) {
  // Union-find over candidates with answers, in candidate order.
  std::vector<int> parent(candidates.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](int x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  std::vector<verifiers::ParsedAnswer> parsed;
  std::vector<int> with_answer;
  for (size_t i = 0; i < candidates.size(); ++i) {
    parsed.push_back(verifiers::ParsedAnswer::Parse(
        candidates[i].has_answer() ? candidates[i].answer() : "", format));
    if (candidates[i].has_answer() && !parsed.back().empty())
      with_answer.push_back(static_cast<int>(i));
  }
  // Same canonical key: one class at once. Then pairwise checks between the roots only.
  absl::flat_hash_map<std::string, int> by_key;
  std::vector<int> roots;
  for (int i : with_answer) {
    auto [it, inserted] = by_key.try_emplace(parsed[i].key(), i);
    if (!inserted) {
      parent[i] = find(it->second);
      continue;
    }
    for (int root : roots) {
      if (find(root) == root &&
          (parsed[i].IsEquivalentTo(parsed[root]) || parsed[root].IsEquivalentTo(parsed[i]))) {
        parent[i] = root;
        break;
      }
    }
    if (parent[i] == i) roots.push_back(i);
  }
  absl::flat_hash_map<int, int> class_of_root;
  for (int i : with_answer) {
    auto [it, inserted] =
        class_of_root.try_emplace(find(i), static_cast<int>(class_of_root.size()));
    candidates[i].set_answer_class(it->second);
  }
  return static_cast<int>(class_of_root.size());
}

absl::Status ScoreCandidates(const ProblemInput& problem, const SolveContext& context,
                             const Settings& settings, v1::SolveResult& result, UsageMeter& usage) {
  if (context.verifier == nullptr)
    return absl::FailedPreconditionError("this strategy needs a verifier");
  std::vector<verifiers::Solution> solutions;
  for (const v1::Candidate& c : result.candidates()) {
    solutions.push_back(verifiers::SplitSteps(c.text(), settings.delimiter, true));
  }
  PONDER_ASSIGN_OR_RETURN(
      verifiers::VerifyResult scored,
      context.verifier->Score(problem.problem, solutions,
                              {settings.aggregation, context.cancel, context.deadline}));
  usage.AddVerifierTokens(scored.tokens_processed);
  for (int i = 0; i < result.candidates_size(); ++i) {
    v1::Candidate& candidate = *result.mutable_candidates(i);
    candidate.clear_step_scores();
    for (double s : scored.scores[i].step_scores) candidate.add_step_scores(s);
    candidate.set_score(scored.scores[i].aggregate);
  }
  NoteOverContext(scored, result);
  return absl::OkStatus();
}

void NoteOverContext(const verifiers::VerifyResult& scored, v1::SolveResult& result) {
  int over = 0;
  for (const verifiers::VerifierScores& s : scored.scores) over += s.over_context ? 1 : 0;
  if (over > 0) (*result.mutable_diagnostics())["verifier_over_context"] += over;
}

void SelectCandidate(v1::SolveResult& result, int index) {
  result.set_selected_candidate(index);
  if (index < 0) return;
  v1::Candidate& c = *result.mutable_candidates(index);
  c.set_selected(true);
  if (c.has_answer()) result.set_answer(c.answer());
}

void SelectAnswerClass(v1::SolveResult& result, int answer_class, int representative) {
  if (answer_class < 0) {
    // No class won, no candidate had an answer to vote with: nothing was chosen (result.proto:
    // -1). Candidate 0 was marked selected, a pruned one under RPC (QA of stop 35).
    result.set_selected_candidate(-1);
    return;
  }
  for (v1::Candidate& c : *result.mutable_candidates()) {
    if (c.answer_class() == answer_class) c.set_selected(true);
  }
  result.set_selected_candidate(representative);
  if (result.candidates(representative).has_answer())
    result.set_answer(result.candidates(representative).answer());
}

double MeanCandidateTokens(const v1::SolveResult& result) {
  if (result.candidates().empty()) return 0;
  double total = 0;
  for (const v1::Candidate& c : result.candidates()) total += c.num_tokens();
  return total / result.candidates_size();
}

}  // namespace ponder::samplers::internal
