// SolvePipeline: one problem from text to graded result.
//
//   problem --(prompt config, policy's chat template)--> prompt tokens
//           --(strategy + verifier from the StrategyFactory)--> SolveResult
//           --(reference answer, when given)--> grade of the answer and of every candidate
//             (code problems: their tests, run with each candidate's program by a CodeGrader)
//
// The same pipeline serves Solve, SolveStream, experiment runs and `ponder solve --model`, so
// an in-process solve and a served one are the same computation. Thread-safe: a pipeline holds
// no per-solve state; many solves run at once and share the engine's batches.
#ifndef PONDER_ORCHESTRATOR_SOLVE_PIPELINE_H_
#define PONDER_ORCHESTRATOR_SOLVE_PIPELINE_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "orchestrator/code_grader.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/strategy_factory.h"
#include "ponder/v1/service.pb.h"

namespace ponder::orchestrator {

// "Please reason step by step, and put your final answer within \boxed{}." — the system prompt
// of Qwen2.5-Math's chain-of-thought evaluation (QwenLM/Qwen2.5-Math, evaluation/utils.py,
// "qwen25-math-cot"), the default of PromptConfig.system_prompt.
extern const char kDefaultSystemPrompt[];

// How a problem's answers are extracted and compared (ANSWER_FORMAT_UNSPECIFIED is MATH).
verifiers::AnswerFormat AnswerFormatOf(const v1::Problem& problem);

struct SolveControl {
  const engine::CancellationToken* cancel = nullptr;
  std::optional<absl::Time> deadline;
  std::function<void(const v1::TraceStep&)> on_step;  // on the solving thread
};

class SolvePipeline {
 public:
  // `models`, `strategies` and `code_grader` must outlive the pipeline. Without a code grader,
  // solving a code problem that has tests fails with FAILED_PRECONDITION.
  SolvePipeline(ModelRegistry& models, const StrategyFactory& strategies,
                CodeGrader* code_grader = nullptr)
      : models_(models), strategies_(strategies), code_grader_(code_grader) {}

  // The policy's prompt for `problem`: the PromptConfig's messages through the chat template.
  // An unset system prompt is kDefaultSystemPrompt for math problems and none for code
  // problems (datasets/prompt.h: the code prompts are the user message alone).
  absl::StatusOr<std::string> RenderPrompt(const v1::Problem& problem,
                                           const v1::PromptConfig& prompt) const;

  // Solves a request that passed ValidateSolveRequest. Errors: InvalidArgument from building
  // the strategy or verifier (e.g. an unknown reward model), CANCELLED when `control.cancel`
  // fired and DEADLINE_EXCEEDED when the deadline passed — also when the strategy returned
  // partial results, which are never reported as a result — and engine failures.
  absl::StatusOr<v1::SolveResponse> Solve(const v1::SolveRequest& request,
                                          const SolveControl& control) const;

  // Builds (and drops) the strategy and, where needed, its verifier: the checks that need the
  // loaded models, done once before an experiment starts.
  absl::Status CheckBuildable(const v1::StrategyConfig& config) const;

  // OK unless `problem` is graded by tests that cannot run here (no code grader, or a sandbox
  // that cannot be set up): FAILED_PRECONDITION saying why. Checked before an experiment starts.
  absl::Status CheckGradable(const v1::Problem& problem) const;

  ModelRegistry& models() const { return models_; }
  const StrategyFactory& strategies() const { return strategies_; }

 private:
  ModelRegistry& models_;
  const StrategyFactory& strategies_;
  CodeGrader* code_grader_;
};

// Whether `control` asks to stop now: its CANCELLED or DEADLINE_EXCEEDED status, else OK.
absl::Status StopRequested(const SolveControl& control);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_SOLVE_PIPELINE_H_
