// Strategies that sample complete solutions and then choose: best-of-N, weighted best-of-N,
// self-consistency (and its adaptive variant), perplexity, RPC.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "samplers/common.h"
#include "samplers/strategies.h"
#include "samplers/weibull_mixture.h"

namespace ponder::samplers::internal {
namespace {

// Samples `n` complete solutions of the prompt as one request (the engine prefills the prompt
// once and forks it) and appends them to `result` as candidates.
absl::Status SampleInto(const ProblemInput& problem, const SolveContext& context,
                        const Settings& settings, int n, uint64_t& requests, UsageMeter& usage,
                        v1::SolveResult& result) {
  engine::GenerateRequest request;
  request.prompt_tokens = problem.prompt_tokens;
  request.n = n;
  request.max_tokens = settings.max_tokens;
  request.sampling = settings.sampling;
  std::vector<engine::GenerateRequest> batch = {request};
  PONDER_ASSIGN_OR_RETURN(std::vector<engine::GenerateResult> generated,
                          GenerateAll(std::move(batch), context, requests, usage));
  for (const engine::Completion& c : generated[0].completions) {
    *result.add_candidates() = MakeCandidate(result.candidates_size(), c.text, c.logprobs,
                                             c.finish_reason, problem.answer_format);
  }
  return absl::OkStatus();
}

// How many of `want` more samples to draw now within budget.max_generated_tokens, `drawn`
// drawn so far: all of them without a cap; else as many as could each run to `round.max_tokens`
// within what is left, and 0 when not one more could. Only a cap below max_tokens cuts a sample:
// the first, whose max_tokens becomes the cap (in `round`), since a solve needs one; a sample cut
// later would take part in the choice as a stump of one (its last number read as its answer).
// Samples drawn so never pass the cap; fewer than budget.n may be drawn.
int SamplesWithinCap(const SolveContext& context, const UsageMeter& usage, int drawn, int want,
                     Settings& round) {
  const int64_t cap = context.budget.max_generated_tokens();
  if (cap <= 0) return want;
  const int64_t left = cap - usage.generated_tokens();
  if (left <= 0) return 0;
  const int64_t whole = left / round.max_tokens;
  if (whole == 0) {
    if (drawn > 0) return 0;
    round.max_tokens = static_cast<int>(left);
    return std::min(want, 1);
  }
  return static_cast<int>(std::min<int64_t>(want, whole));
}

// budget.n samples, or as many as budget.max_generated_tokens allows (SamplesWithinCap), in
// rounds: one round when the cap allows all of them or there is none.
absl::Status SampleBudget(const ProblemInput& problem, const SolveContext& context,
                          const Settings& settings, uint64_t& requests, UsageMeter& usage,
                          v1::SolveResult& result) {
  while (result.candidates_size() < context.budget.n()) {
    Settings round = settings;
    const int n = SamplesWithinCap(context, usage, result.candidates_size(),
                                   context.budget.n() - result.candidates_size(), round);
    if (n == 0) break;
    PONDER_RETURN_IF_ERROR(SampleInto(problem, context, round, n, requests, usage, result));
  }
  return absl::OkStatus();
}

// A progress event after a round of samples: the samples and the tokens generated so far (the
// meter's: result.usage is filled when the solve ends).
void ReportRound(const SolveContext& context, const v1::SolveResult& result,
                 const UsageMeter& usage, int round) {
  if (!context.on_step) return;
  v1::TraceStep event;
  event.set_iteration(round);
  event.set_node(-1);
  event.set_parent(-1);
  event.set_num_tokens(static_cast<int>(
      std::min<int64_t>(usage.generated_tokens(), std::numeric_limits<int32_t>::max())));
  event.set_text(absl::StrCat(result.candidates_size(), " samples"));
  context.on_step(event);
}

// The class with the largest total of `weight(candidate)` over its members; ties go to the
// class that occurs first, as search-and-learn's find_answer_with_largest_sum and
// find_majority_answer do (Python's max / first maximal group). -1 when no candidate has an
// answer. Candidates without an answer cast no vote (search-and-learn would group the empty
// answers as one more class).
template <typename Weight>
int HeaviestClass(const v1::SolveResult& result, int num_classes, Weight weight,
                  std::vector<double>* totals_out = nullptr) {
  std::vector<double> totals(num_classes, 0.0);
  for (const v1::Candidate& c : result.candidates()) {
    if (c.answer_class() >= 0) totals[c.answer_class()] += weight(c);
  }
  int best = -1;
  for (int k = 0; k < num_classes; ++k) {
    if (best < 0 || totals[k] > totals[best]) best = k;
  }
  if (totals_out != nullptr) *totals_out = totals;
  return best;
}

int FirstOfClass(const v1::SolveResult& result, int answer_class) {
  for (const v1::Candidate& c : result.candidates()) {
    if (c.answer_class() == answer_class) return c.index();
  }
  return -1;
}

// The selection rules, apart from sampling and scoring, so that SelectFromPrefix can apply them
// to the first k candidates of a larger run. Each takes candidates that are sampled (and scored,
// for the verifier-based rules), assigns answer classes and selects.

// Best-of-N: the highest aggregated verifier score (search-and-learn best_of_n: pred =
// completions[argmax(agg_scores)]; ties to the first).
void SelectBestScore(v1::SolveResult& result, verifiers::AnswerFormat format) {
  std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
  AssignAnswerClasses(candidates, format);
  int best = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    if (candidates[i].score() > candidates[best].score()) best = static_cast<int>(i);
  }
  result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
  SelectCandidate(result, best);
}

// Weighted best-of-N: scores summed per answer class; the heaviest class wins
// (search-and-learn compute_weighted_pred / find_answer_with_largest_sum).
void SelectHeaviestScoredClass(v1::SolveResult& result, verifiers::AnswerFormat format) {
  std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
  int classes = AssignAnswerClasses(candidates, format);
  result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
  int best = HeaviestClass(result, classes, [](const v1::Candidate& c) { return c.score(); });
  SelectAnswerClass(result, best, best < 0 ? -1 : FirstOfClass(result, best));
}

// Self-consistency (Wang et al. 2023): the majority answer class.
void SelectMajority(v1::SolveResult& result, verifiers::AnswerFormat format) {
  std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
  int classes = AssignAnswerClasses(candidates, format);
  result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
  int best = HeaviestClass(result, classes, [](const v1::Candidate&) { return 1.0; });
  SelectAnswerClass(result, best, best < 0 ? -1 : FirstOfClass(result, best));
}

// RPC's PPL baseline (compute_perp.py, prep_evaluator): the single path with the highest mean
// token log-probability; ties to the first.
void SelectHighestMeanLogprob(v1::SolveResult& result, verifiers::AnswerFormat format) {
  std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
  AssignAnswerClasses(candidates, format);
  result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
  int best = 0;
  for (int i = 1; i < result.candidates_size(); ++i) {
    if (result.candidates(i).mean_logprob() > result.candidates(best).mean_logprob()) best = i;
  }
  SelectCandidate(result, best);
}

// RPC (WNJXYK/RPC, compute_rpc.py, wpc_evaluator). Path probability p = exp(mean token
// log-prob). Reasoning pruning: the Weibull-mixture rule of weibull_mixture.h. Perplexity
// consistency: a class's score is the sum of p over its *distinct* completion texts (the
// reference keys each class's probabilities by completion text and sums the set), pruned paths
// add nothing; the highest-scoring class wins (ties to the class that occurs first). With
// prune = false this is perplexity consistency alone. Two differences from the reference, both
// deliberate: paths without an answer count in the fit and the mean (as there) but add to no
// class, where the reference's extract_answer gives them "" and sums them as one more class that
// can win (HeaviestClass's rule for every vote here); and a tie picks one class, where the
// reference's evaluator credits each of k tied classes with 1/k of a correct answer (a solver
// must answer once).
void SelectRpc(v1::SolveResult& result, verifiers::AnswerFormat format, bool prune) {
  std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
  int classes = AssignAnswerClasses(candidates, format);
  std::vector<double> p;
  for (const v1::Candidate& c : candidates) p.push_back(std::exp(c.mean_logprob()));
  std::vector<bool> pruned(p.size(), false);
  auto& diagnostics = *result.mutable_diagnostics();
  if (prune) {
    absl::StatusOr<WeibullMixture> fit = FitWeibullMixture(p);
    if (fit.ok()) {
      pruned = PrunePaths(*fit, p);
      diagnostics["weibull_w"] = fit->w;
      diagnostics["weibull_k1"] = fit->k1;
      diagnostics["weibull_lambda1"] = fit->lambda1;
      diagnostics["weibull_k2"] = fit->k2;
      diagnostics["weibull_lambda2"] = fit->lambda2;
    } else {
      diagnostics["weibull_fit_failed"] = 1;  // no pruning: perplexity consistency alone
    }
  }
  // Class score: sum of p over distinct completion texts that were not pruned.
  std::vector<double> totals(classes, 0.0);
  std::vector<std::set<std::string>> seen(classes);
  int num_pruned = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    candidates[i].set_pruned(pruned[i]);
    candidates[i].set_score(p[i]);
    num_pruned += pruned[i] ? 1 : 0;
    int k = candidates[i].answer_class();
    if (k < 0 || pruned[i]) continue;
    if (seen[k].insert(candidates[i].text()).second) totals[k] += p[i];
  }
  diagnostics["pruned"] = num_pruned;
  result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
  int best = -1;
  for (int k = 0; k < classes; ++k) {
    if (best < 0 || totals[k] > totals[best]) best = k;
  }
  SelectAnswerClass(result, best, best < 0 ? -1 : FirstOfClass(result, best));
}

bool RpcPrunes(const v1::Rpc& config) { return config.has_prune() ? config.prune() : true; }

class SamplingStrategy : public Strategy {
 public:
  absl::StatusOr<v1::SolveResult> Solve(const ProblemInput& problem,
                                        const SolveContext& context) final {
    absl::Time started = absl::Now();
    Settings settings = ResolveSettings(context.config, v1::AGGREGATION_LAST);
    v1::SolveResult result;
    result.set_selected_candidate(-1);
    UsageMeter usage;
    uint64_t requests = 0;
    PONDER_RETURN_IF_ERROR(Run(problem, context, settings, usage, requests, result));
    usage.Fill(MeanCandidateTokens(result), absl::ToDoubleSeconds(absl::Now() - started),
               *result.mutable_usage());
    return result;
  }

 protected:
  virtual absl::Status Run(const ProblemInput& problem, const SolveContext& context,
                           const Settings& settings, UsageMeter& usage, uint64_t& requests,
                           v1::SolveResult& result) = 0;
};

// Samples budget.n complete solutions (fewer when budget.max_generated_tokens runs out:
// SampleBudget), scores them with the verifier when `scored`, and selects with `select`:
// best-of-N, weighted best-of-N, self-consistency and perplexity.
class SampleThenSelect : public SamplingStrategy {
 public:
  SampleThenSelect(bool scored, void (*select)(v1::SolveResult&, verifiers::AnswerFormat))
      : scored_(scored), select_(select) {}

 private:
  absl::Status Run(const ProblemInput& problem, const SolveContext& context,
                   const Settings& settings, UsageMeter& usage, uint64_t& requests,
                   v1::SolveResult& result) override {
    PONDER_RETURN_IF_ERROR(SampleBudget(problem, context, settings, requests, usage, result));
    ReportRound(context, result, usage, 0);
    if (scored_) PONDER_RETURN_IF_ERROR(ScoreCandidates(problem, context, settings, result, usage));
    select_(result, problem.answer_format);
    return absl::OkStatus();
  }
  bool scored_;
  void (*select_)(v1::SolveResult&, verifiers::AnswerFormat);
};

// Adaptive self-consistency: samples in rounds and stops as soon as the leading answer holds
// `stop_share` of all samples drawn (after at least `min_samples`), or the budget is spent (N
// samples, or budget.max_generated_tokens: a round then draws what fits, SamplesWithinCap).
class AdaptiveSelfConsistency : public SamplingStrategy {
 public:
  explicit AdaptiveSelfConsistency(const v1::AdaptiveSelfConsistency& config) : config_(config) {}

 private:
  absl::Status Run(const ProblemInput& problem, const SolveContext& context,
                   const Settings& settings, UsageMeter& usage, uint64_t& requests,
                   v1::SolveResult& result) override {
    const double share = config_.has_stop_share() ? config_.stop_share() : 0.75;
    const int round_size = config_.round_size() > 0 ? config_.round_size() : 4;
    const int min_samples = std::max(config_.min_samples(), round_size);
    const int budget = context.budget.n();
    int best = -1, rounds = 0;
    std::vector<v1::Candidate> candidates;
    while (result.candidates_size() < budget) {
      Settings round = settings;
      const int n =
          SamplesWithinCap(context, usage, result.candidates_size(),
                           std::min(round_size, budget - result.candidates_size()), round);
      if (n == 0) break;
      PONDER_RETURN_IF_ERROR(SampleInto(problem, context, round, n, requests, usage, result));
      ReportRound(context, result, usage, rounds++);
      candidates.assign(result.candidates().begin(), result.candidates().end());
      int classes = AssignAnswerClasses(candidates, problem.answer_format);
      result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
      std::vector<double> votes;
      best = HeaviestClass(
          result, classes, [](const v1::Candidate&) { return 1.0; }, &votes);
      if (best >= 0 && result.candidates_size() >= min_samples &&
          votes[best] >= share * result.candidates_size()) {
        break;
      }
    }
    (*result.mutable_diagnostics())["rounds"] = rounds;
    SelectAnswerClass(result, best, best < 0 ? -1 : FirstOfClass(result, best));
    return absl::OkStatus();
  }
  v1::AdaptiveSelfConsistency config_;
};

// RPC: N samples, then SelectRpc.
class Rpc : public SamplingStrategy {
 public:
  explicit Rpc(const v1::Rpc& config) : prune_(RpcPrunes(config)) {}

 private:
  absl::Status Run(const ProblemInput& problem, const SolveContext& context,
                   const Settings& settings, UsageMeter& usage, uint64_t& requests,
                   v1::SolveResult& result) override {
    PONDER_RETURN_IF_ERROR(SampleBudget(problem, context, settings, requests, usage, result));
    ReportRound(context, result, usage, 0);
    SelectRpc(result, problem.answer_format, prune_);
    return absl::OkStatus();
  }
  bool prune_;
};

}  // namespace

std::unique_ptr<Strategy> MakeBestOfN() {
  return std::make_unique<SampleThenSelect>(/*scored=*/true, SelectBestScore);
}
std::unique_ptr<Strategy> MakeWeightedBestOfN() {
  return std::make_unique<SampleThenSelect>(/*scored=*/true, SelectHeaviestScoredClass);
}
std::unique_ptr<Strategy> MakeSelfConsistency() {
  return std::make_unique<SampleThenSelect>(/*scored=*/false, SelectMajority);
}
std::unique_ptr<Strategy> MakeAdaptiveSelfConsistency(const v1::AdaptiveSelfConsistency& config) {
  return std::make_unique<AdaptiveSelfConsistency>(config);
}
std::unique_ptr<Strategy> MakePerplexity() {
  return std::make_unique<SampleThenSelect>(/*scored=*/false, SelectHighestMeanLogprob);
}
std::unique_ptr<Strategy> MakeRpc(const v1::Rpc& config) { return std::make_unique<Rpc>(config); }

}  // namespace ponder::samplers::internal

namespace ponder::samplers {

bool SupportsPrefixBudgets(const v1::StrategyConfig& config) {
  switch (config.kind_case()) {
    case v1::StrategyConfig::kBestOfN:
    case v1::StrategyConfig::kWeightedBestOfN:
    case v1::StrategyConfig::kSelfConsistency:
    case v1::StrategyConfig::kPerplexity:
    case v1::StrategyConfig::kRpc:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<v1::SolveResult> SelectFromPrefix(const v1::StrategyConfig& config,
                                                 const v1::SolveResult& full, int k,
                                                 verifiers::AnswerFormat format) {
  if (!SupportsPrefixBudgets(config)) {
    return absl::InvalidArgumentError(
        "strategy: only best_of_n, weighted_best_of_n, self_consistency, perplexity and rpc "
        "select from a prefix of their samples");
  }
  if (k < 1 || k > full.candidates_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prefix of ", k, " candidates: the result has ", full.candidates_size()));
  }
  v1::SolveResult prefix;
  prefix.set_selected_candidate(-1);
  int64_t prefix_tokens = 0, all_tokens = 0;
  for (int i = 0; i < full.candidates_size(); ++i) {
    all_tokens += full.candidates(i).num_tokens();
    if (i >= k) continue;
    v1::Candidate& c = *prefix.add_candidates();
    c = full.candidates(i);
    c.set_selected(false);
    c.set_pruned(false);
    c.set_answer_class(-1);
    prefix_tokens += c.num_tokens();
  }
  switch (config.kind_case()) {
    case v1::StrategyConfig::kBestOfN:
      internal::SelectBestScore(prefix, format);
      break;
    case v1::StrategyConfig::kWeightedBestOfN:
      internal::SelectHeaviestScoredClass(prefix, format);
      break;
    case v1::StrategyConfig::kSelfConsistency:
      internal::SelectMajority(prefix, format);
      break;
    case v1::StrategyConfig::kPerplexity:
      internal::SelectHighestMeanLogprob(prefix, format);
      break;
    default:
      internal::SelectRpc(prefix, format, internal::RpcPrunes(config.rpc()));
      break;
  }
  // Usage: what a run at budget k would have cost. Its k samples are one engine request whose
  // prompt is prefilled once, like the full run's; the costs that grow with the samples'
  // length (verifier tokens, time) are attributed by the share of generated tokens.
  const v1::Usage& all = full.usage();
  const double share = all_tokens > 0 ? static_cast<double>(prefix_tokens) / all_tokens
                                      : static_cast<double>(k) / full.candidates_size();
  v1::Usage& usage = *prefix.mutable_usage();
  usage.set_prompt_tokens_requested(all.prompt_tokens_requested() / full.candidates_size() * k);
  usage.set_prompt_tokens_computed(all.prompt_tokens_computed());
  usage.set_generated_tokens(prefix_tokens);
  const double mean_tokens = internal::MeanCandidateTokens(prefix);
  usage.set_full_generation_equivalents(mean_tokens > 0 ? prefix_tokens / mean_tokens : 0);
  usage.set_engine_calls(all.engine_calls());
  usage.set_verifier_tokens(static_cast<int64_t>(std::llround(all.verifier_tokens() * share)));
  usage.set_wall_seconds(all.wall_seconds() * share);
  return prefix;
}

}  // namespace ponder::samplers
