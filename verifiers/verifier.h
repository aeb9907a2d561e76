// Verifiers score candidate solutions without knowing the reference answer; strategies use
// them to choose (best-of-N), to prune (beam search, DVTS) and to weight (particle filtering).
//
// A Verifier scores many (partial) solutions of one problem at once, so that implementations
// backed by a model can hand all of them to the engine together (continuous batching). Each
// solution gets a score in [0, 1] per step and an aggregate (see Aggregate). Grading against a
// reference answer is a different job: verifiers/grading/grader.h.
#ifndef PONDER_VERIFIERS_VERIFIER_H_
#define PONDER_VERIFIERS_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "ponder/v1/strategy.pb.h"
#include "verifiers/grading/grader.h"

namespace ponder::verifiers {

// A solution as a sequence of steps (the step delimiter removed). `complete` is true when the
// solution has ended (answer given, or the model stopped).
struct Solution {
  std::vector<std::string> steps;
  bool complete = false;
  // The text the steps were cut from, delimiters included (SplitSteps sets it), for verifiers
  // that judge the text as written rather than as steps (unit_tests runs its program). Empty
  // when unknown: such verifiers then join the steps with "\n\n".
  std::string text;
  // The delimiter the steps were cut at (SplitSteps sets it); empty when unknown.
  std::string delimiter;
};

// The solution as one text: the text the steps were cut from, without a trailing delimiter (the
// steps joined by the delimiter they were cut at, blank ones included: its_hub's
// `step_token.join(steps)`, which its particle filtering gives the reward model, whose `model`
// aggregation scores it as one step); the steps joined by "\n\n" when the text is unknown. What
// a verifier that judges the whole solution reads.
std::string JoinedSteps(const Solution& solution);

struct VerifierScores {
  std::vector<double> step_scores;  // one per step, in [0, 1]; one for AGGREGATION_MODEL
  double aggregate = 0;             // in [0, 1]
  // Not scored because the verifier's input (the chat-formatted solution) is longer than its
  // model's context (or than its KV budget holds): no step scores and aggregate 0, the lowest
  // score. A rambling partial solution near the policy's context limit would otherwise fail the
  // whole search.
  bool over_context = false;
};

struct VerifyOptions {
  v1::Aggregation aggregation = v1::AGGREGATION_LAST;
  const engine::CancellationToken* cancel = nullptr;
  std::optional<absl::Time> deadline;
};

struct VerifyResult {
  std::vector<VerifierScores> scores;  // one per solution, in order
  int64_t tokens_processed = 0;        // tokens the verifier's model computed (0 for rules)
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // Scores every solution of `problem`. Errors: cancellation, deadline, engine failures.
  virtual absl::StatusOr<VerifyResult> Score(std::string_view problem,
                                             std::span<const Solution> solutions,
                                             const VerifyOptions& options) = 0;
  // A short description for traces and reports ("prm:qwen-math(prm.gguf)", "arithmetic").
  virtual std::string name() const = 0;
};

// last / min / prod / mean of step scores; AGGREGATION_MODEL expects the single score the
// verifier gave the whole solution. An empty list aggregates to 0.
double Aggregate(std::span<const double> step_scores, v1::Aggregation aggregation);

// Runs a solve's programs in a sandbox: what the unit_tests and program_of_thought verifiers
// score with. The orchestrator gives one per solve.
class ProgramTester {
 public:
  virtual ~ProgramTester() = default;
  // How the solve's problem is graded; nullopt before there is a problem (a configuration
  // checked ahead of an experiment).
  virtual std::optional<AnswerFormat> answer_format() const = 0;
  // Per program, the share of the tests the code problem shows the model (its example tests)
  // it passes, in [0, 1]; 0 for nullopt (no program), without a run. Errors: the sandbox is
  // unavailable, options.cancel / options.deadline.
  virtual absl::StatusOr<std::vector<double>> PassRates(
      std::span<const std::optional<std::string>> programs, const VerifyOptions& options) = 0;
  // Per program, run alone: the last line it printed when it exited normally within its
  // limits, else nullopt (nullopt too for no program, without a run). Errors as PassRates'.
  virtual absl::StatusOr<std::vector<std::optional<std::string>>> PrintedAnswers(
      std::span<const std::optional<std::string>> programs, const VerifyOptions& options) = 0;
};

// The models a verifier configuration may name: the policy (self-evaluation) and reward models
// by name (ponderd --prm NAME=PATH; in-process, the path itself); and, for the unit_tests
// verifier, what runs a code problem's example tests.
class VerifierModels {
 public:
  virtual ~VerifierModels() = default;
  virtual engine::Engine* policy() = 0;
  // Errors name the model that is not available.
  virtual absl::StatusOr<engine::Engine*> RewardModel(std::string_view name) = 0;
  // Errors say what is missing (a sandbox, the problem's example tests).
  virtual absl::StatusOr<ProgramTester*> program_tester() {
    return absl::FailedPreconditionError(
        "verifier: this process runs no programs (no code sandbox)");
  }
};

// The largest weight of a weighted verifier's part: the sum of the parts' weights, by which each
// score is divided, stays finite.
inline constexpr double kMaxVerifierWeight = 1e6;
// Weighted verifiers may nest; deeper than this is a mistake, not a configuration.
inline constexpr int kMaxVerifierDepth = 4;
inline constexpr int kMaxWeightedParts = 16;
// The longest text a configuration may set: a prompt, a step tag, an option.
inline constexpr size_t kMaxVerifierTextBytes = 16 << 10;
// The most uses of one placeholder in a prompt template.
inline constexpr size_t kMaxPlaceholderUses = 4;

// The rules of a verifier configuration, its nested parts included: InvalidArgument naming the
// field from `field` ("verifier.weighted.parts[0].weight: must be in (0, 1e+06], got 0").
// MakeVerifier checks them first; the service checks them under the request's path.
absl::Status ValidateVerifierConfig(const v1::VerifierConfig& config,
                                    std::string_view field = "verifier");

// A placeholder of a prompt template (`text`, the setting `field`): present when `required`, and
// at most kMaxPlaceholderUses times (each use is replaced by a whole problem or solution, `what`:
// a 16 kB template of "{problem}"s and a 64 kB problem would make a prompt of a hundred
// megabytes to render and tokenize). InvalidArgument naming `field` otherwise.
absl::Status CheckPlaceholder(std::string_view text, std::string_view placeholder, bool required,
                              std::string_view field, std::string_view what);

// Whether the configuration is of `kind`, itself or in one of its weighted parts.
bool UsesVerifier(const v1::VerifierConfig& config, v1::VerifierConfig::KindCase kind);
// Whether it runs programs (unit_tests, program_of_thought): it judges whole solutions only.
bool RunsPrograms(const v1::VerifierConfig& config);

// Builds the verifier a configuration describes; errors name the field: InvalidArgument for the
// configuration (a reward model that is not loaded included), FailedPrecondition when the
// process has no code sandbox for unit_tests.
absl::StatusOr<std::unique_ptr<Verifier>> MakeVerifier(const v1::VerifierConfig& config,
                                                       VerifierModels& models);

// Cuts a solution text into steps at `delimiter` (empty steps dropped), keeping the text.
Solution SplitSteps(std::string_view text, std::string_view delimiter, bool complete);

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_VERIFIER_H_
