// Search strategies: how a test-time budget is spent on one problem.
//
// A Strategy takes a problem (its prompt, already rendered with the policy's chat template),
// a configuration (ponder.v1.StrategyConfig), a budget and a seed, talks to the policy through
// engine::Engine and to a verifiers::Verifier, and returns a ponder.v1.SolveResult: the chosen
// answer, every candidate with its scores, and the trace of every step of every beam or
// particle. Strategies never include an engine implementation header.
//
// Every strategy follows its paper's own code exactly; the implementation file cites it next to
// each rule. Reproducible: the same input, configuration, budget and seed give the same result
// (the engine is batch-invariant and every random draw comes from the seed).
#ifndef PONDER_SAMPLERS_STRATEGY_H_
#define PONDER_SAMPLERS_STRATEGY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "ponder/v1/result.pb.h"
#include "ponder/v1/strategy.pb.h"
#include "samplers/limits.h"
#include "verifiers/grading/grader.h"
#include "verifiers/verifier.h"

namespace ponder::samplers {

struct ProblemInput {
  std::string problem;                 // the question, as verifiers present it to reward models
  std::vector<int32_t> prompt_tokens;  // the policy's prompt (chat template applied)
  verifiers::AnswerFormat answer_format =
      verifiers::AnswerFormat::kMath;  // extraction + equivalence
};

struct SolveContext {
  engine::Engine* policy = nullptr;
  verifiers::Verifier* verifier = nullptr;  // required by strategies that score candidates
  v1::StrategyConfig config;
  v1::Budget budget;
  uint64_t seed = 0;
  const engine::CancellationToken* cancel = nullptr;
  std::optional<absl::Time> deadline;
  // Called on the solving thread after each step of a step-level strategy (every node of the
  // iteration) and after each round of sampling strategies; for streaming progress.
  std::function<void(const v1::TraceStep&)> on_step;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // Errors: CANCELLED / DEADLINE_EXCEEDED when stopped, engine or verifier failures.
  virtual absl::StatusOr<v1::SolveResult> Solve(const ProblemInput& problem,
                                                const SolveContext& context) = 0;
};

// Checks a configuration and budget; InvalidArgument naming the field and the rule.
absl::Status ValidateStrategy(const v1::StrategyConfig& config, const v1::Budget& budget);
// The rules of the fields every strategy shares, part of ValidateStrategy: InvalidArgument naming
// the field from the config ("sampling.top_p: must be in (0, 1], got 1.5"). The service checks
// them before its own limits.
absl::Status ValidateSampling(const v1::SamplingConfig& sampling);
absl::Status ValidateSteps(const v1::StepConfig& steps);
// Whether the strategy needs a verifier (best-of-N, beam search, ...).
bool NeedsVerifier(const v1::StrategyConfig& config);
absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const v1::StrategyConfig& config);

// Efficient budgets. The sampling strategies that draw all N samples in one engine request and
// then choose (best-of-N, weighted best-of-N, self-consistency, perplexity, RPC) give at budget
// k exactly what choosing among the first k samples of a larger run with the same seed gives:
// the engine's completion i depends only on the request's seed and i. A benchmark can then
// sample once at its largest budget and evaluate the smaller ones on prefixes, as
// search-and-learn does (recipes: n=256 subsampled to 1, 2, 4, ...).
bool SupportsPrefixBudgets(const v1::StrategyConfig& config);
// The result of `config` at budget k from the first k candidates of `full` (its result at a
// larger budget): answer classes and selection redone on the prefix; the verifier scores and
// log-probs are the candidates' own. Usage is what a budget-k run would have cost: generated
// tokens of the k candidates, the prompt prefilled once, verifier tokens and wall time in
// proportion to the generated tokens. InvalidArgument for other strategies or k outside
// [1, candidates].
absl::StatusOr<v1::SolveResult> SelectFromPrefix(const v1::StrategyConfig& config,
                                                 const v1::SolveResult& full, int k,
                                                 verifiers::AnswerFormat format);

}  // namespace ponder::samplers

#endif  // PONDER_SAMPLERS_STRATEGY_H_
