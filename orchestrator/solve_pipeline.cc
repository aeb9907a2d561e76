#include "orchestrator/solve_pipeline.h"

#include "absl/strings/str_replace.h"
#include "base/status_macros.h"
#include "orchestrator/validation.h"
#include "verifiers/grading/grader.h"

namespace ponder::orchestrator {
namespace {

// Grades the chosen answer and every candidate's against the reference. A missing answer is
// wrong (grader.h: "no answer" is never correct).
void GradeResponse(const v1::Problem& problem, v1::SolveResponse& response) {
  if (!problem.has_reference_answer() || problem.answer_format() == v1::ANSWER_FORMAT_CODE) return;
  const verifiers::AnswerFormat format = AnswerFormatOf(problem);
  auto grade = [&](bool has_answer, const std::string& answer) {
    return has_answer &&
           verifiers::Grade(answer, problem.reference_answer(), format, /*extract=*/false).correct;
  };
  const v1::SolveResult& result = response.result();
  response.set_correct(grade(result.has_answer(), result.answer()));
  for (const v1::Candidate& candidate : result.candidates()) {
    response.add_candidate_correct(grade(candidate.has_answer(), candidate.answer()));
  }
}

// Grades every candidate's program by the problem's tests; the chosen answer is a candidate's,
// so its grade is that candidate's. The runs the unit_tests verifier made with the same tests are
// in `runs`.
absl::Status GradeCodeResponse(const v1::Problem& problem, CodeGrader& grader,
                               const SolveControl& control, CodeRunCache& runs,
                               v1::SolveResponse& response) {
  const v1::SolveResult& result = response.result();
  std::vector<std::optional<std::string>> programs;
  for (const v1::Candidate& candidate : result.candidates()) {
    programs.push_back(candidate.has_answer() ? std::optional<std::string>(candidate.answer())
                                              : std::nullopt);
  }
  PONDER_ASSIGN_OR_RETURN(
      std::vector<bool> correct,
      grader.Grade(problem.code_tests(), programs,
                   {.cancel = control.cancel, .deadline = control.deadline, .cache = &runs}));
  for (bool c : correct) response.add_candidate_correct(c);
  const int selected = result.selected_candidate();
  response.set_correct(result.has_answer() && selected >= 0 &&
                       selected < static_cast<int>(correct.size()) && correct[selected]);
  return absl::OkStatus();
}

// What a verifier configuration may name, for one solve: the registry's models, and for the
// verifiers that run programs (unit_tests, program_of_thought) the code grader with the
// problem's example tests and answer format, keeping its runs in the solve's `runs` for grading.
// Without a problem (CheckBuildable, before an experiment's problems are solved) it checks only
// the grader.
class SolveVerifierModels : public verifiers::VerifierModels, public verifiers::ProgramTester {
 public:
  SolveVerifierModels(ModelRegistry& models, CodeGrader* grader, const v1::Problem* problem,
                      CodeRunCache* runs)
      : models_(models), grader_(grader), problem_(problem), runs_(runs) {}

  engine::Engine* policy() override { return models_.policy(); }
  absl::StatusOr<engine::Engine*> RewardModel(std::string_view name) override {
    return models_.RewardModel(name);
  }
  absl::StatusOr<verifiers::ProgramTester*> program_tester() override {
    if (grader_ == nullptr) {
      return absl::FailedPreconditionError(
          "verifier: this process runs no programs (no code sandbox)");
    }
    PONDER_RETURN_IF_ERROR(grader_->CheckAvailable());
    return this;
  }

  std::optional<verifiers::AnswerFormat> answer_format() const override {
    if (problem_ == nullptr) return std::nullopt;
    return AnswerFormatOf(*problem_);
  }

  absl::StatusOr<std::vector<std::optional<std::string>>> PrintedAnswers(
      std::span<const std::optional<std::string>> programs,
      const verifiers::VerifyOptions& options) override {
    return grader_->PrintedAnswers(programs, ControlOf(options));
  }

  absl::StatusOr<std::vector<double>> PassRates(
      std::span<const std::optional<std::string>> programs,
      const verifiers::VerifyOptions& options) override {
    if (problem_ == nullptr) return absl::InternalError("unit tests run without a problem");
    // No example to run: no evidence either way (UnitTests in strategy.proto).
    if (!problem_->has_example_tests()) return std::vector<double>(programs.size(), 0.5);
    // Where the examples lead the grading tests (MBPP), each program runs once for both.
    if (HasCodeTests(*problem_)) {
      return grader_->ExamplePassRates(problem_->example_tests(), problem_->code_tests(), programs,
                                       ControlOf(options));
    }
    return grader_->PassRates(problem_->example_tests(), programs, ControlOf(options));
  }

 private:
  CodeRunControl ControlOf(const verifiers::VerifyOptions& options) const {
    return {.cancel = options.cancel, .deadline = options.deadline, .cache = runs_};
  }

  ModelRegistry& models_;
  CodeGrader* grader_;
  const v1::Problem* problem_;
  CodeRunCache* runs_;
};

}  // namespace

verifiers::AnswerFormat AnswerFormatOf(const v1::Problem& problem) {
  switch (problem.answer_format()) {
    case v1::ANSWER_FORMAT_GSM8K:
      return verifiers::AnswerFormat::kGsm8k;
    case v1::ANSWER_FORMAT_CODE:
      return verifiers::AnswerFormat::kCode;
    default:
      return verifiers::AnswerFormat::kMath;
  }
}

const char kDefaultSystemPrompt[] =
    "Please reason step by step, and put your final answer within \\boxed{}.";

absl::Status StopRequested(const SolveControl& control) {
  if (control.cancel != nullptr && control.cancel->cancelled()) {
    return absl::CancelledError("the solve was cancelled");
  }
  if (control.deadline.has_value() && absl::Now() >= *control.deadline) {
    return absl::DeadlineExceededError("the solve passed its deadline");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SolvePipeline::RenderPrompt(const v1::Problem& problem,
                                                        const v1::PromptConfig& prompt) const {
  std::vector<engine::Engine::Message> messages;
  const std::string system = prompt.has_system_prompt() ? prompt.system_prompt()
                             : problem.answer_format() == v1::ANSWER_FORMAT_CODE
                                 ? std::string()
                                 : std::string(kDefaultSystemPrompt);
  if (!system.empty()) messages.push_back({"system", system});
  const std::string user =
      prompt.has_user_template()
          ? absl::StrReplaceAll(prompt.user_template(), {{"{problem}", problem.text()}})
          : problem.text();
  messages.push_back({"user", user});
  return models_.policy()->ApplyChatTemplate(messages, /*add_generation_prompt=*/true);
}

absl::Status SolvePipeline::CheckBuildable(const v1::StrategyConfig& config) const {
  PONDER_ASSIGN_OR_RETURN(auto strategy, strategies_.MakeStrategy(config));
  if (strategies_.NeedsVerifier(config)) {
    SolveVerifierModels models(models_, code_grader_, /*problem=*/nullptr, /*runs=*/nullptr);
    PONDER_ASSIGN_OR_RETURN(auto verifier, strategies_.MakeVerifier(config.verifier(), models));
  }
  return absl::OkStatus();
}

absl::Status SolvePipeline::CheckGradable(const v1::Problem& problem) const {
  if (!HasCodeTests(problem)) return absl::OkStatus();
  if (code_grader_ == nullptr) {
    return absl::FailedPreconditionError(
        "this process grades no code problems (it has no code sandbox)");
  }
  return code_grader_->CheckAvailable();
}

absl::StatusOr<v1::SolveResponse> SolvePipeline::Solve(const v1::SolveRequest& request,
                                                       const SolveControl& control) const {
  const absl::Time start = absl::Now();
  PONDER_RETURN_IF_ERROR(StopRequested(control));
  // Before any tokens are spent: a result that cannot be graded is not one.
  PONDER_RETURN_IF_ERROR(CheckGradable(request.problem()));
  engine::Engine& policy = *models_.policy();
  PONDER_ASSIGN_OR_RETURN(std::string prompt, RenderPrompt(request.problem(), request.prompt()));

  samplers::ProblemInput input;
  input.problem = request.problem().text();
  // The chat template writes its own special tokens, BOS included where the family has one (and,
  // for a model without a template, where its vocabulary gives a plain prompt BOS).
  PONDER_ASSIGN_OR_RETURN(input.prompt_tokens, policy.Tokenize(prompt, /*add_bos=*/false));
  // The engine would refuse it at the first request, naming no field of this one.
  if (const int64_t context = policy.Info().usable_context();
      context > 0 && static_cast<int64_t>(input.prompt_tokens.size()) >= context) {
    return absl::InvalidArgumentError(
        absl::StrCat("problem.text: the prompt (the problem in the prompt settings' template) has ",
                     input.prompt_tokens.size(), " tokens; the policy takes ", context,
                     " (its context, or what its KV budget holds if less), with room for at "
                     "least one generated token"));
  }
  input.answer_format = AnswerFormatOf(request.problem());

  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<samplers::Strategy> strategy,
                          strategies_.MakeStrategy(request.strategy()));
  // Declared before the verifier, which may hold them (unit_tests). The solve's sandbox runs:
  // grading finds there the runs the verifier made with the same tests.
  CodeRunCache code_runs;
  SolveVerifierModels verifier_models(models_, code_grader_, &request.problem(), &code_runs);
  std::unique_ptr<verifiers::Verifier> verifier;
  if (strategies_.NeedsVerifier(request.strategy())) {
    absl::StatusOr<std::unique_ptr<verifiers::Verifier>> made =
        strategies_.MakeVerifier(request.strategy().verifier(), verifier_models);
    if (!made.ok()) return Within("strategy", made.status());  // "verifier...." from here
    verifier = *std::move(made);
  }
  samplers::SolveContext context;
  context.policy = &policy;
  context.verifier = verifier.get();
  context.config = request.strategy();
  context.budget = request.budget();
  context.seed = request.seed();
  context.cancel = control.cancel;
  context.deadline = control.deadline;
  context.on_step = control.on_step;

  absl::StatusOr<v1::SolveResult> result = strategy->Solve(input, context);
  // The engine ends a cancelled or expired generation with partial completions and OK; a
  // strategy may then return a result built from them. It is not the answer to the request.
  PONDER_RETURN_IF_ERROR(StopRequested(control));
  if (!result.ok()) return result.status();

  v1::SolveResponse response;
  *response.mutable_result() = *std::move(result);
  response.set_prompt_tokens(static_cast<int32_t>(input.prompt_tokens.size()));
  if (response.result().usage().wall_seconds() == 0) {
    response.mutable_result()->mutable_usage()->set_wall_seconds(
        absl::ToDoubleSeconds(absl::Now() - start));
  }
  GradeResponse(request.problem(), response);
  if (HasCodeTests(request.problem())) {
    PONDER_RETURN_IF_ERROR(
        GradeCodeResponse(request.problem(), *code_grader_, control, code_runs, response));
  }
  return response;
}

}  // namespace ponder::orchestrator
