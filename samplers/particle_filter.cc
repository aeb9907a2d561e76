// Particle filtering for inference-time scaling (Puri et al. 2025, "A Probabilistic Inference
// Approach to Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods"), as the
// authors' its_hub implements it (its_hub/algorithms/particle_gibbs.py, ParticleGibbs and
// ParticleFiltering; resampling and entropic tempering from
// its_hub/core/algorithms/particle_filtering.py):
//  - N particles advance one step at a time; each propagated particle's reward r is the
//    verifier's score of its whole partial solution (aggregation "model" by default), kept as
//    the log-weight logit(r) (r clipped to [1e-7, 1 - 1e-7]);
//  - after every step all particles, finished ones included, are resampled with replacement
//    from softmax(log-weight / T) (T = 1: weights proportional to r / (1 - r)); a finished
//    particle keeps its final weight;
//  - the loop ends when every particle has finished; the answer is the particle with the
//    highest last log-weight (its_hub's default ARGMAX selection);
//  - Particle Gibbs: the budget is split over `gibbs_iterations` runs of N / iterations
//    particles; after each run one reference particle is drawn from softmax(final log-weights)
//    and joins the next run, where it takes part in resampling (a resampled copy of it is cut
//    back to the current step and continues as a free particle);
//  - entropic tempering: see ParticleFilter.entropic_* in strategy.proto.
#include <algorithm>
#include <cmath>

#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "samplers/partial.h"
#include "samplers/resampling.h"
#include "samplers/strategies.h"

namespace ponder::samplers::internal {
namespace {

struct Particle {
  Partial partial;
  std::vector<double> log_weights;  // one per step
  double log_weight() const { return log_weights.empty() ? 0.0 : log_weights.back(); }
};

class ParticleFilter : public Strategy {
 public:
  explicit ParticleFilter(const v1::ParticleFilter& config) : config_(config) {}

  absl::StatusOr<v1::SolveResult> Solve(const ProblemInput& problem,
                                        const SolveContext& context) override {
    absl::Time started = absl::Now();
    const Settings settings = ResolveSettings(context.config, v1::AGGREGATION_MODEL);
    const int iterations = std::max(1, config_.gibbs_iterations());
    const int num_particles = context.budget.n() / iterations;
    const double temperature = config_.has_temperature() ? config_.temperature() : 1.0;
    const double early_phase =
        config_.has_entropic_early_phase() ? config_.entropic_early_phase() : 0.5;
    // its_hub's ParticleFiltering and ParticleGibbs resample multinomially, its
    // EntropicParticleFiltering (one run, tempered) systematically, unless told otherwise.
    const bool systematic = config_.resampling() == v1::ParticleFilter::RESAMPLING_SYSTEMATIC ||
                            (config_.resampling() == v1::ParticleFilter::RESAMPLING_UNSPECIFIED &&
                             config_.entropic_ess_fraction() > 0 && iterations == 1);
    v1::SolveResult result;
    UsageMeter usage;
    uint64_t requests = 0;
    Rng rng(context.seed ^ 0x5DEECE66Dull);
    std::vector<Particle> references, particles;
    for (int gibbs = 0; gibbs < iterations; ++gibbs) {
      // Once budget.max_generated_tokens is spent no further run starts (its first step would
      // generate every free particle to its end); the last run's particles stand.
      if (gibbs > 0 && context.budget.max_generated_tokens() > 0 &&
          usage.generated_tokens() >= context.budget.max_generated_tokens()) {
        break;
      }
      const int free = num_particles - static_cast<int>(references.size());
      particles.assign(free, Particle{});
      particles.insert(particles.end(), references.begin(), references.end());
      for (int step = 1;; ++step) {
        if (std::all_of(particles.begin(), particles.end(),
                        [](const Particle& p) { return p.partial.finished; }))
          break;
        const int first_node = result.trace_size();
        PONDER_RETURN_IF_ERROR(Propagate(problem, context, settings, step - 1, gibbs, particles,
                                         requests, usage, result));
        // A finished particle keeps its final weight; the others have one per step.
        std::vector<double> log_weights;
        for (const Particle& p : particles) {
          log_weights.push_back(p.partial.finished || static_cast<int>(p.log_weights.size()) < step
                                    ? p.log_weight()
                                    : p.log_weights[step - 1]);
        }
        std::vector<double> tempered(log_weights);
        for (double& w : tempered) w /= temperature;
        std::vector<double> probabilities = Softmax(tempered);
        if (config_.entropic_ess_fraction() > 0) {
          double t = EntropicTemperature(probabilities, free,
                                         static_cast<double>(step) / settings.max_steps,
                                         config_.entropic_ess_fraction(), early_phase);
          for (double& w : tempered) w /= t;
          probabilities = Softmax(tempered);
        }
        std::vector<int> drawn = systematic ? ResampleSystematic(probabilities, free, rng)
                                            : ResampleMultinomial(probabilities, free, rng);
        for (size_t i = 0; i < particles.size(); ++i) {
          if (particles[i].partial.node >= first_node) {
            result.mutable_trace(particles[i].partial.node)->set_weight(probabilities[i]);
          }
        }
        std::vector<Particle> next;
        for (int index : drawn) {
          Particle copy = particles[index];
          if (copy.partial.node >= 0) {
            v1::TraceStep& node = *result.mutable_trace(copy.partial.node);
            node.set_kept(true);
            node.set_copies(node.copies() + 1);
          }
          if (copy.partial.num_steps() > step)
            TruncateToStep(copy, step, *context.policy);  // a reference's copy
          next.push_back(std::move(copy));
        }
        next.insert(next.end(), references.begin(), references.end());
        particles = std::move(next);
        EmitTrace(context, result, first_node);
      }
      // The next run's reference particle: one draw from softmax(final log-weights).
      std::vector<double> final_weights;
      for (const Particle& p : particles) final_weights.push_back(p.log_weight());
      if (gibbs + 1 < iterations) {
        references = {particles[ResampleMultinomial(Softmax(final_weights), 1, rng)[0]]};
      }
    }
    // The answer: the particle with the highest last log-weight (its_hub ARGMAX).
    int best = -1;
    for (size_t i = 0; i < particles.size(); ++i) {
      v1::Candidate c =
          PartialToCandidate(static_cast<int>(i), particles[i].partial, problem.answer_format);
      c.set_score(1.0 / (1.0 + std::exp(-particles[i].log_weight())));  // back to the reward r
      *result.add_candidates() = std::move(c);
      if (best < 0 || particles[i].log_weight() > particles[best].log_weight())
        best = static_cast<int>(i);
    }
    std::vector<v1::Candidate> candidates(result.candidates().begin(), result.candidates().end());
    AssignAnswerClasses(candidates, problem.answer_format);
    result.mutable_candidates()->Assign(candidates.begin(), candidates.end());
    SelectCandidate(result, best);
    usage.Fill(MeanCandidateTokens(result), absl::ToDoubleSeconds(absl::Now() - started),
               *result.mutable_usage());
    return result;
  }

 private:
  // Extends every unfinished particle by one step (identical particles share one request with
  // n = their count, so the engine forks them) and appends logit(reward) to each.
  absl::Status Propagate(const ProblemInput& problem, const SolveContext& context,
                         const Settings& settings, int iteration, int gibbs,
                         std::vector<Particle>& particles, uint64_t& requests, UsageMeter& usage,
                         v1::SolveResult& result) {
    std::vector<Extension> extensions;
    std::vector<std::vector<int>> members;
    for (size_t i = 0; i < particles.size(); ++i) {
      if (particles[i].partial.finished) continue;
      bool grouped = false;
      for (size_t g = 0; g < extensions.size(); ++g) {
        if (extensions[g].parent->tokens == particles[i].partial.tokens &&
            extensions[g].parent->node == particles[i].partial.node) {
          ++extensions[g].copies;
          members[g].push_back(static_cast<int>(i));
          grouped = true;
          break;
        }
      }
      if (!grouped) {
        extensions.push_back({&particles[i].partial, 1});
        members.push_back({static_cast<int>(i)});
      }
    }
    const bool final_step = context.budget.max_generated_tokens() > 0 &&
                            usage.generated_tokens() >= context.budget.max_generated_tokens();
    const int first_node = result.trace_size();
    PONDER_ASSIGN_OR_RETURN(std::vector<Partial> children,
                            ExtendByOneStep(problem, context, settings, extensions, final_step,
                                            iteration, requests, usage, result));
    for (int i = first_node; i < result.trace_size(); ++i)
      result.mutable_trace(i)->set_gibbs_iteration(gibbs);
    PONDER_ASSIGN_OR_RETURN(std::vector<double> rewards,
                            ScorePartials(problem, context, settings, children, usage, result));
    size_t child = 0;
    for (const std::vector<int>& group : members) {
      for (int i : group) {
        particles[i].partial = std::move(children[child]);
        particles[i].log_weights.push_back(InverseSigmoid(rewards[child]));
        ++child;
      }
    }
    return absl::OkStatus();
  }

  // its_hub: "Truncate reference particles if they were resampled as non-reference".
  static void TruncateToStep(Particle& p, int step, engine::Engine& policy) {
    size_t end = p.partial.step_ends[step - 1];
    p.partial.tokens.resize(end);
    p.partial.logprobs.resize(end);
    p.partial.step_ends.resize(step);
    p.partial.step_nodes.resize(step);
    p.partial.node = p.partial.step_nodes.back();
    p.partial.text = policy.Detokenize(p.partial.tokens);
    p.partial.finished = false;
    p.log_weights.resize(step);
  }

  v1::ParticleFilter config_;
};

}  // namespace

std::unique_ptr<Strategy> MakeParticleFilter(const v1::ParticleFilter& config) {
  return std::make_unique<ParticleFilter>(config);
}

}  // namespace ponder::samplers::internal
