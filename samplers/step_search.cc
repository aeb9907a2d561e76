// Step-level search guided by a process verifier: beam search and DVTS, as search-and-learn
// defines them (huggingface/search-and-learn, src/sal/search/beam_search.py and
// diverse_verifier_tree_search.py). Where they differ from sal, deliberately:
//  - a partial solution is scored as its steps, each read once. sal hands the PRM the text with
//    its trailing "\n\n", which its Qwen and RLHFlow read-outs split into one more, empty step
//    (`answer.replace("\n\n", "<extra_0>") + "<extra_0>"`, an empty user turn): sal's `last`
//    score is the PRM's judgement of that empty step, and `min` and `prod` count it;
//  - a step is at most steps.max_step_tokens (256 by default), and a step cut there goes on as
//    the next one; sal's step may run to max_tokens (2048), and one cut there ends its beam;
//  - the stop rule of StepConfig (the answer marker ends a beam, as "boxed{" ends a DVTS subtree
//    in sal; sal's beam search goes on past it).
#include <algorithm>
#include <numeric>

#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "samplers/partial.h"
#include "samplers/strategies.h"

namespace ponder::samplers::internal {
namespace {

// Indices of the `keep` highest scores, in index order. Ties go to the later index, as sal's
// `np.argsort(scores)[-keep:]` takes them: the tail of an ascending sort that keeps equal scores
// in index order (NumPy's default sort does for the arrays of up to 16 a beam search sorts;
// beyond that its order of ties is unspecified).
std::vector<int> TopIndices(const std::vector<double>& scores, int keep) {
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a > b);
  });
  order.resize(std::min<size_t>(keep, order.size()));
  std::sort(order.begin(), order.end());
  return order;
}

// `children` (ExtendByOneStep's order: parent by parent, `copies[i]` of parent i) in sal's
// order, `(active_beams * repeats)[:n]`: the first copy of every parent, then the second, ...
std::vector<Partial> RoundRobin(std::vector<Partial> children, const std::vector<int>& copies) {
  std::vector<size_t> first(copies.size());
  for (size_t i = 1; i < copies.size(); ++i) first[i] = first[i - 1] + copies[i - 1];
  std::vector<Partial> ordered;
  ordered.reserve(children.size());
  const int most = copies.empty() ? 0 : *std::max_element(copies.begin(), copies.end());
  for (int copy = 0; copy < most; ++copy) {
    for (size_t i = 0; i < copies.size(); ++i) {
      if (copy < copies[i]) ordered.push_back(std::move(children[first[i] + copy]));
    }
  }
  return ordered;
}

int ArgMax(const std::vector<double>& scores) {
  int best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i] > scores[best]) best = static_cast<int>(i);
  }
  return best;
}

// Beam search. Each iteration keeps N active beams: the survivors of the last iteration are
// repeated in order until there are N ((active * repeats)[:N] in sal: a, b, a, b, ..., the order
// in which beams are set aside and ties are broken), each extended by one step and scored by
// the verifier (aggregation default "last", sal's agg_strategy); beams that finished are set
// aside with their scores, and of the rest the N / M best survive (ties to the later beam, as
// sal's argsort; at least one: where N < M sal's slice [-0:] keeps them all). The last iteration
// (max_steps) generates to the end. The answer is the finished beam with the best score (the
// first of equals, np.argmax); sal keeps the first N finished beams (sort_completed = False).
class BeamSearch : public Strategy {
 public:
  explicit BeamSearch(const v1::BeamSearch& config)
      : width_(config.beam_width() > 0 ? config.beam_width() : 4) {}

  absl::StatusOr<v1::SolveResult> Solve(const ProblemInput& problem,
                                        const SolveContext& context) override {
    absl::Time started = absl::Now();
    const Settings settings = ResolveSettings(context.config, v1::AGGREGATION_LAST);
    const int n = context.budget.n();
    const int keep = std::max(1, n / width_);
    v1::SolveResult result;
    UsageMeter usage;
    uint64_t requests = 0;
    std::vector<Partial> active = {Partial{}};
    std::vector<Partial> completed;
    std::vector<double> completed_scores;
    for (int iteration = 0; iteration < settings.max_steps && !active.empty(); ++iteration) {
      // (active * repeats)[:N]: the k-th survivor gets ceil or floor of N / |active| copies.
      std::vector<Extension> extensions;
      std::vector<int> copies_of;
      for (size_t i = 0; i < active.size(); ++i) {
        int copies = static_cast<int>(n / active.size()) +
                     (static_cast<int>(i) < static_cast<int>(n % active.size()) ? 1 : 0);
        if (copies > 0) {
          extensions.push_back({&active[i], copies});
          copies_of.push_back(copies);
        }
      }
      const int first_node = result.trace_size();
      const bool final_step = iteration == settings.max_steps - 1 ||
                              (context.budget.max_generated_tokens() > 0 &&
                               usage.generated_tokens() >= context.budget.max_generated_tokens());
      PONDER_ASSIGN_OR_RETURN(std::vector<Partial> children,
                              ExtendByOneStep(problem, context, settings, extensions, final_step,
                                              iteration, requests, usage, result));
      std::vector<Partial> beams = RoundRobin(std::move(children), copies_of);
      PONDER_ASSIGN_OR_RETURN(std::vector<double> scores,
                              ScorePartials(problem, context, settings, beams, usage, result));
      std::vector<Partial> open;
      std::vector<double> open_scores;
      std::vector<int> open_nodes;
      for (size_t i = 0; i < beams.size(); ++i) {
        if (beams[i].finished) {
          completed.push_back(beams[i]);
          completed_scores.push_back(scores[i]);
        } else {
          open_nodes.push_back(beams[i].node);
          open.push_back(std::move(beams[i]));
          open_scores.push_back(scores[i]);
        }
      }
      active.clear();
      for (int i : TopIndices(open_scores, keep)) {
        result.mutable_trace(open_nodes[i])->set_kept(true);
        active.push_back(std::move(open[i]));
      }
      EmitTrace(context, result, first_node);
    }
    // The first N finished beams (sal: completed_beams[:config.n]); if none finished (every
    // beam still open when the budget ran out) the open survivors stand in.
    if (completed.empty()) {
      completed = active;
      for (const Partial& p : active)
        completed_scores.push_back(p.node >= 0 ? result.trace(p.node).reward() : 0.0);
    }
    if (static_cast<int>(completed.size()) > n) {
      completed.resize(n);
      completed_scores.resize(n);
    }
    for (size_t i = 0; i < completed.size(); ++i) {
      v1::Candidate c =
          PartialToCandidate(static_cast<int>(i), completed[i], problem.answer_format);
      c.set_score(completed_scores[i]);
      *result.add_candidates() = std::move(c);
    }
    std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
    AssignAnswerClasses(candidates, problem.answer_format);
    result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
    SelectCandidate(result, candidates.empty() ? -1 : ArgMax(completed_scores));
    usage.Fill(MeanCandidateTokens(result), absl::ToDoubleSeconds(absl::Now() - started),
               *result.mutable_usage());
    return result;
  }

 private:
  int width_;
};

// DVTS: N / M independent subtrees. Each iteration, every open subtree samples M next steps
// from its current partial solution, all are scored, and the subtree moves to the best one; a
// subtree closes when its chosen step is empty or ended the generation, or when its solution
// holds the answer marker ("boxed{" in sal). The result holds, for every subtree, the M
// candidates of its last expansion (previous text + each next step) with their scores; the
// answer is the best of all N. With lookahead k (sal's generate_k_steps: the first step
// sampled, k more at temperature 0, each ending at the delimiter, a rollout stopping where the
// generation ended), each candidate is scored by its rollout, and the subtree still takes only
// the candidate's step; the last iteration has no lookahead. A rollout here also stops where it
// finishes a solution otherwise (the answer marker, max_steps, max_tokens, the context), when
// the budget's max_generated_tokens is spent, and a candidate whose rollout is too long for the
// verifier's context is scored alone (sal would fail there).
class Dvts : public Strategy {
 public:
  explicit Dvts(const v1::Dvts& config)
      : width_(config.beam_width() > 0 ? config.beam_width() : 4), lookahead_(config.lookahead()) {}

  absl::StatusOr<v1::SolveResult> Solve(const ProblemInput& problem,
                                        const SolveContext& context) override {
    absl::Time started = absl::Now();
    const Settings settings = ResolveSettings(context.config, v1::AGGREGATION_LAST);
    // The default width (4) shrinks to a smaller budget, so that a budget of n never expands
    // more than n candidates a step (an explicit width above n is refused by validation).
    const int width = std::min(width_, context.budget.n());
    const int subtrees = std::max(1, context.budget.n() / width);
    v1::SolveResult result;
    UsageMeter usage;
    uint64_t requests = 0;
    struct Subtree {
      Partial current;
      std::vector<Partial> last_expansion;
      std::vector<double> last_scores;
      bool closed = false;
    };
    std::vector<Subtree> trees(subtrees);
    for (int iteration = 0; iteration < settings.max_steps; ++iteration) {
      std::vector<int> open;
      std::vector<Extension> extensions;
      for (int t = 0; t < subtrees; ++t) {
        if (trees[t].closed) continue;
        open.push_back(t);
        extensions.push_back({&trees[t].current, width});
      }
      if (open.empty()) break;
      const int first_node = result.trace_size();
      const bool final_step = iteration == settings.max_steps - 1 ||
                              (context.budget.max_generated_tokens() > 0 &&
                               usage.generated_tokens() >= context.budget.max_generated_tokens());
      PONDER_ASSIGN_OR_RETURN(std::vector<Partial> children,
                              ExtendByOneStep(problem, context, settings, extensions, final_step,
                                              iteration, requests, usage, result));
      std::vector<double> scores;
      if (lookahead_ > 0 && !final_step) {
        PONDER_ASSIGN_OR_RETURN(scores, ScoreByLookahead(problem, context, settings, children,
                                                         iteration, requests, usage, result));
      } else {
        PONDER_ASSIGN_OR_RETURN(scores,
                                ScorePartials(problem, context, settings, children, usage, result));
      }
      for (size_t k = 0; k < open.size(); ++k) {
        Subtree& tree = trees[open[k]];
        tree.last_expansion.assign(children.begin() + k * width,
                                   children.begin() + (k + 1) * width);
        tree.last_scores.assign(scores.begin() + k * width, scores.begin() + (k + 1) * width);
        int best = ArgMax(tree.last_scores);
        const Partial& chosen = tree.last_expansion[best];
        result.mutable_trace(chosen.node)->set_kept(true);
        tree.current = chosen;
        tree.closed = chosen.finished;
      }
      EmitTrace(context, result, first_node);
    }
    std::vector<double> all_scores;
    for (const Subtree& tree : trees) {
      for (size_t i = 0; i < tree.last_expansion.size(); ++i) {
        v1::Candidate c = PartialToCandidate(result.candidates_size(), tree.last_expansion[i],
                                             problem.answer_format);
        c.set_score(tree.last_scores[i]);
        all_scores.push_back(tree.last_scores[i]);
        *result.add_candidates() = std::move(c);
      }
    }
    std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
    AssignAnswerClasses(candidates, problem.answer_format);
    result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
    SelectCandidate(result, all_scores.empty() ? -1 : ArgMax(all_scores));
    usage.Fill(MeanCandidateTokens(result), absl::ToDoubleSeconds(absl::Now() - started),
               *result.mutable_usage());
    return result;
  }

 private:
  // The verifier's scores of `children`'s greedy rollouts of up to lookahead_ more steps (fewer
  // once the budget's max_generated_tokens is spent), each also stored as the reward of its
  // child's trace node; a child whose rollout the verifier's context cannot hold gets its own
  // score. The rollouts' steps are generated and counted in `usage` like any, then dropped from
  // the trace (they were appended after the children's nodes).
  absl::StatusOr<std::vector<double>> ScoreByLookahead(
      const ProblemInput& problem, const SolveContext& context, const Settings& settings,
      const std::vector<Partial>& children, int iteration, uint64_t& requests, UsageMeter& usage,
      v1::SolveResult& result) const {
    Settings greedy = settings;
    greedy.sampling.temperature = 0.0;
    const int children_end = result.trace_size();
    std::vector<Partial> rollouts = children;
    const int64_t token_cap = context.budget.max_generated_tokens();
    for (int step = 0; step < lookahead_; ++step) {
      if (token_cap > 0 && usage.generated_tokens() >= token_cap) break;
      std::vector<Extension> extensions;
      std::vector<size_t> extended;
      for (size_t i = 0; i < rollouts.size(); ++i) {
        if (rollouts[i].finished) continue;
        extensions.push_back({&rollouts[i], 1});
        extended.push_back(i);
      }
      if (extensions.empty()) break;
      PONDER_ASSIGN_OR_RETURN(
          std::vector<Partial> next,
          ExtendByOneStep(problem, context, greedy, extensions,
                          /*final_step=*/false, iteration, requests, usage, result));
      for (size_t j = 0; j < extended.size(); ++j) rollouts[extended[j]] = std::move(next[j]);
    }
    std::vector<bool> over_context;
    PONDER_ASSIGN_OR_RETURN(
        std::vector<double> scores,
        ScorePartials(problem, context, settings, rollouts, usage, result, &over_context));
    result.mutable_trace()->DeleteSubrange(children_end, result.trace_size() - children_end);
    std::vector<Partial> alone;
    std::vector<size_t> alone_index;
    for (size_t i = 0; i < children.size(); ++i) {
      if (over_context[i] && rollouts[i].num_steps() > children[i].num_steps()) {
        alone.push_back(children[i]);
        alone_index.push_back(i);
      }
    }
    if (!alone.empty()) {
      PONDER_ASSIGN_OR_RETURN(std::vector<double> own,
                              ScorePartials(problem, context, settings, alone, usage, result));
      for (size_t j = 0; j < alone.size(); ++j) scores[alone_index[j]] = own[j];
    }
    for (size_t i = 0; i < children.size(); ++i) {
      if (children[i].node >= 0) result.mutable_trace(children[i].node)->set_reward(scores[i]);
    }
    return scores;
  }

  int width_;
  int lookahead_;
};

}  // namespace

std::unique_ptr<Strategy> MakeBeamSearch(const v1::BeamSearch& config) {
  return std::make_unique<BeamSearch>(config);
}
std::unique_ptr<Strategy> MakeDvts(const v1::Dvts& config) {
  return std::make_unique<Dvts>(config);
}

}  // namespace ponder::samplers::internal
