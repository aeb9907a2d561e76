// `ponder solve`: one problem through a strategy, on a server (--server) or in this process
// (--model). Prints the answer and a summary, or the whole response as JSON (--json); --events
// prints each strategy step as it happens.
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "cli/command.h"
#include "cli/engine_flags.h"
#include "engine/local_engine.h"
#include "orchestrator/client.h"
#include "orchestrator/grpc_status.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/proto_json.h"
#include "orchestrator/solve_pipeline.h"
#include "orchestrator/validation.h"
#include "samplers/strategy.h"

namespace ponder::cli {
namespace {

using orchestrator::ToJson;

struct SolveFlags {
  orchestrator::ClientFlags client;
  std::string model, problem, strategy, verifier, reference, format = "math";
  std::string system_prompt;
  std::vector<std::string> prms;
  int budget = 0, max_tokens = 0;
  uint64_t seed = 0;
  EngineFlags engine;  // in-process
  std::optional<double> temperature;
  bool events = false, json = false, reference_set = false, system_prompt_set = false;
};

// A strategy step as it happens: "step {json}", or with --json a JSON line of its own
// ({"step": {...}}, a ponder.v1.SolveEvent), so that the output is JSON Lines.
void PrintStep(const v1::TraceStep& step, bool json) {
  if (!json) {
    std::printf("step %s\n", ToJson(step).c_str());
    return;
  }
  v1::SolveEvent event;
  *event.mutable_step() = step;
  std::printf("%s\n", ToJson(event).c_str());
}

void PrintSummary(const v1::SolveResponse& response) {
  const v1::SolveResult& result = response.result();
  std::printf("answer: %s\n", result.has_answer() ? result.answer().c_str() : "(none)");
  if (response.has_correct()) std::printf("correct: %s\n", response.correct() ? "yes" : "no");
  int classes = 0;
  for (const v1::Candidate& c : result.candidates())
    classes = std::max(classes, c.answer_class() + 1);
  int in_selection = 0;  // the chosen candidate, or every member of the chosen answer class
  for (const v1::Candidate& c : result.candidates()) in_selection += c.selected() ? 1 : 0;
  if (result.selected_candidate() >= 0) {
    std::printf("candidates: %d, answer classes: %d, chosen: candidate %d (%d marked selected)\n",
                result.candidates_size(), classes, result.selected_candidate(), in_selection);
  } else {
    std::printf("candidates: %d, answer classes: %d, chosen: none\n", result.candidates_size(),
                classes);
  }
  const v1::Usage& usage = result.usage();
  std::printf(
      "tokens: prompt %d, prompt requested %lld / computed %lld, generated %lld (%.2f full "
      "generations), verifier %lld, engine calls %d\n",
      response.prompt_tokens(), static_cast<long long>(usage.prompt_tokens_requested()),
      static_cast<long long>(usage.prompt_tokens_computed()),
      static_cast<long long>(usage.generated_tokens()), usage.full_generation_equivalents(),
      static_cast<long long>(usage.verifier_tokens()), usage.engine_calls());
  std::printf("time: %.3f s\n", usage.wall_seconds());
  // The strategy's own numbers (RPC's fit and pruned paths, adaptive rounds, solutions the
  // verifier could not score), by name; --json has them too.
  if (result.diagnostics().empty()) return;
  const std::map<std::string, double> diagnostics(result.diagnostics().begin(),
                                                  result.diagnostics().end());
  std::string line;
  for (const auto& [name, value] : diagnostics) {
    absl::StrAppend(&line, line.empty() ? "" : ", ", name, " ", absl::StrFormat("%g", value));
  }
  std::printf("diagnostics: %s\n", line.c_str());
  if (const auto over = diagnostics.find("verifier_over_context"); over != diagnostics.end()) {
    std::printf(
        "note: %g (partial) solutions were longer than the verifier takes (its context, or its "
        "KV budget) and scored 0, the lowest: the verifier could not rank them\n",
        over->second);
  }
}

absl::StatusOr<v1::SolveRequest> BuildRequest(const SolveFlags& f) {
  if (f.problem.empty()) return absl::InvalidArgumentError("--problem is required");
  if (f.strategy.empty()) return absl::InvalidArgumentError("--strategy JSON|NAME is required");
  // Protobuf strings are UTF-8: a server cannot parse the request otherwise.
  for (const auto& [flag, text] : {std::pair{"--problem", &f.problem},
                                   {"--reference", &f.reference},
                                   {"--system-prompt", &f.system_prompt}}) {
    if (!IsValidUtf8(*text)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " is not valid UTF-8"));
    }
  }
  v1::SolveRequest request;
  request.mutable_problem()->set_text(f.problem);
  if (f.reference_set) {
    if (f.reference.empty()) {
      return absl::InvalidArgumentError(
          "--reference is empty; give the gold answer, or leave the flag out not to grade");
    }
    request.mutable_problem()->set_reference_answer(f.reference);
  }
  if (f.format == "gsm8k") {
    request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_GSM8K);
  } else if (f.format == "math") {
    request.mutable_problem()->set_answer_format(v1::ANSWER_FORMAT_MATH);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be math or gsm8k, got '", f.format, "'"));
  }
  PONDER_ASSIGN_OR_RETURN(*request.mutable_strategy(),
                          orchestrator::ParseStrategyArgument(f.strategy, "--strategy"));
  if (!f.verifier.empty()) {
    PONDER_RETURN_IF_ERROR(orchestrator::FromJson(
        f.verifier, *request.mutable_strategy()->mutable_verifier(), "--verifier"));
  }
  PONDER_RETURN_IF_ERROR(CheckTemperatureFlag(f.temperature));
  if (f.temperature.has_value()) {
    request.mutable_strategy()->mutable_sampling()->set_temperature(*f.temperature);
  }
  PONDER_RETURN_IF_ERROR(CheckMaxTokensFlag(f.max_tokens));
  if (f.max_tokens > 0)
    request.mutable_strategy()->mutable_sampling()->set_max_tokens(f.max_tokens);
  if (f.budget == 0) return absl::InvalidArgumentError("--budget N (>= 1) is required");
  PONDER_RETURN_IF_ERROR(CheckFlagRange("budget", f.budget, 1, samplers::kMaxBudgetN));
  request.mutable_budget()->set_n(f.budget);
  request.set_seed(f.seed);
  // Given, even empty: an empty one means no system message (templates such as Gemma's and the
  // 2023 Mistral v0.1 one refuse it), as in `ponder bench`.
  if (f.system_prompt_set) request.mutable_prompt()->set_system_prompt(f.system_prompt);
  return request;
}

absl::StatusOr<v1::SolveResponse> SolveOnServer(const SolveFlags& f,
                                                const v1::SolveRequest& request) {
  PONDER_ASSIGN_OR_RETURN(orchestrator::ClientOptions options, f.client.Options());
  PONDER_ASSIGN_OR_RETURN(auto client, orchestrator::PonderClient::Connect(options));
  auto context = client->NewContext();
  v1::SolveResponse response;
  if (!f.events) {
    PONDER_RETURN_IF_ERROR(
        orchestrator::FromGrpcStatus(client->stub().Solve(context.get(), request, &response)));
    return response;
  }
  auto reader = client->stub().SolveStream(context.get(), request);
  v1::SolveEvent event;
  while (reader->Read(&event)) {
    if (event.has_step()) PrintStep(event.step(), f.json);
    if (event.has_result()) response = event.result();
  }
  PONDER_RETURN_IF_ERROR(orchestrator::FromGrpcStatus(reader->Finish()));
  return response;
}

absl::StatusOr<v1::SolveResponse> SolveInProcess(const SolveFlags& f,
                                                 const v1::SolveRequest& request) {
  PONDER_ASSIGN_OR_RETURN(engine::LocalEngineOptions engine_options, f.engine.Options());
  PONDER_ASSIGN_OR_RETURN(auto models,
                          orchestrator::LoadedModels::Load(f.model, f.prms, engine_options));
  const orchestrator::StrategyFactory& strategies = orchestrator::BuiltinStrategies();
  // In this process the server's limits do not apply; only the request's own rules do.
  orchestrator::ServiceLimits limits;
  limits.max_budget_n = samplers::kMaxBudgetN;
  limits.max_tokens = samplers::kMaxTokens;
  limits.max_problem_bytes = int64_t{1} << 30;
  PONDER_RETURN_IF_ERROR(orchestrator::ValidateSolveRequest(request, limits, strategies));
  PONDER_RETURN_IF_ERROR(orchestrator::ValidateRewardModelNames(
      request.strategy().verifier(), models->registry(), "strategy.verifier"));
  orchestrator::CodeGrader code_grader;  // verifiers that run programs (program_of_thought)
  orchestrator::SolvePipeline pipeline(models->registry(), strategies, &code_grader);
  orchestrator::SolveControl control;
  if (f.client.timeout_seconds > 0) {
    control.deadline = absl::Now() + absl::Seconds(f.client.timeout_seconds);
  }
  if (f.events) {
    control.on_step = [json = f.json](const v1::TraceStep& step) { PrintStep(step, json); };
  }
  return pipeline.Solve(request, control);
}

absl::Status Solve(std::span<char* const> args) {
  SolveFlags f;
  FlagParser flags(
      "ponder solve (--server ADDR | --model PATH) --problem TEXT --strategy JSON|NAME "
      "--budget N [--seed S] [--reference ANSWER] [--events] [--json]");
  f.client.Register(flags);
  flags.AddString("model", &f.model, "solve in this process with this policy model instead");
  flags.AddStringList("prm", &f.prms, "in-process: reward model NAME=PATH (repeatable)");
  flags.AddString("problem", &f.problem, "the problem text");
  flags.RefuseRepeats("problem");
  flags.AddString("strategy", &f.strategy,
                  "ponder.v1.StrategyConfig as JSON, or a strategy name (self_consistency, "
                  "best_of_n, ...)");
  flags.AddString("verifier", &f.verifier, "ponder.v1.VerifierConfig as JSON");
  flags.AddInt("budget", &f.budget, "N: samples, beams or particles");
  flags.AddInt("seed", &f.seed, "random seed (default 0)");
  flags.AddDouble("temperature", &f.temperature, "sampling temperature (default: the strategy's)");
  flags.AddInt("max-tokens", &f.max_tokens, "tokens per completion (default: the strategy's)");
  flags.AddString("reference", &f.reference, "the gold answer: grade the result");
  flags.AddString("format", &f.format, "answer format: math (default) or gsm8k");
  flags.AddString("system-prompt", &f.system_prompt,
                  "system message (default: Qwen2.5-Math's step-by-step prompt; '' for none)");
  flags.AddBool("events", &f.events,
                "print each strategy step as a 'step {json}' line (with --json: a JSON line)");
  flags.AddBool("json", &f.json,
                "print the whole ponder.v1.SolveResponse as one JSON line (after the events)");
  f.engine.Register(flags, "in-process: ");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  f.reference_set = flags.WasSet("reference");
  f.system_prompt_set = flags.WasSet("system-prompt");
  if (f.client.server.empty() == f.model.empty()) {
    return absl::InvalidArgumentError("give exactly one of --server and --model");
  }
  PONDER_ASSIGN_OR_RETURN(v1::SolveRequest request, BuildRequest(f));
  PONDER_ASSIGN_OR_RETURN(v1::SolveResponse response,
                          f.model.empty() ? SolveOnServer(f, request) : SolveInProcess(f, request));
  if (f.json) {
    std::printf("%s\n", ToJson(response).c_str());
  } else {
    PrintSummary(response);
  }
  return absl::OkStatus();
}

int RunSolve(std::span<char* const> args) { return ReportStatus("solve", Solve(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("solve", "solve one problem with a strategy (on a server or in-process)",
                        RunSolve);

}  // namespace ponder::cli
