// `ponder generate`: completions from a model, one JSON object per completion per line.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "cli/command.h"
#include "cli/engine_flags.h"
#include "engine/local_engine.h"
#include "nlohmann/json.hpp"

namespace ponder::cli {
namespace {

absl::StatusOr<std::vector<int32_t>> ParseTokenList(const std::string& text) {
  std::vector<int32_t> tokens;
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t id;
    if (!absl::SimpleAtoi(piece, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--prompt-tokens: '", piece, "' is not a token id (expected e.g. 1,2,3)"));
    }
    tokens.push_back(id);
  }
  if (tokens.empty()) return absl::InvalidArgumentError("--prompt-tokens: no token ids");
  return tokens;
}

nlohmann::json StatsJson(const engine::EngineStats& s) {
  return {{"stats",
           {{"requests", s.requests},
            {"prompt_tokens_requested", s.prompt_tokens_requested},
            {"prompt_tokens_computed", s.prompt_tokens_computed},
            {"prompt_tokens_cached", s.prompt_tokens_cached},
            {"tokens_decoded", s.tokens_decoded},
            {"steps", s.steps},
            {"mean_batch_tokens", s.mean_batch_tokens},
            {"kv_blocks_total", s.kv_blocks_total},
            {"kv_blocks_used", s.kv_blocks_used},
            {"kv_blocks_cached", s.kv_blocks_cached},
            {"kv_blocks_free", s.kv_blocks_free},
            {"evictions", s.evictions},
            {"preemptions", s.preemptions},
            {"tokens_recomputed", s.tokens_recomputed},
            {"step_seconds_total", s.step_seconds_total}}}};
}

absl::Status Generate(std::span<char* const> args) {
  std::string model, prompt, prompt_tokens;
  std::vector<std::string> stops;
  int n = 1, max_tokens = 128, top_k = 0, top_logprobs = 0;
  uint64_t seed = 0;
  EngineFlags engine_flags;
  double temperature = 1.0, top_p = 1.0, min_p = 0.0;
  bool chat = false, include_stop = false, ignore_eos = false, stats = false;
  FlagParser flags(
      "ponder generate --model PATH (--prompt STR | --prompt-tokens 1,2,3) [--chat] [--n N] "
      "[--max-tokens K] [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--seed S] "
      "[--stop STR]... [--device D] [--threads N]");
  flags.AddString("model", &model, "GGUF file or Hugging Face model folder");
  flags.AddString("prompt", &prompt, "prompt text (raw unless --chat)");
  flags.AddString("prompt-tokens", &prompt_tokens, "prompt as comma-separated token ids");
  flags.RefuseRepeats("prompt");
  flags.RefuseRepeats("prompt-tokens");
  flags.AddBool("chat", &chat, "wrap --prompt as a user message in the model's chat template");
  flags.AddInt("n", &n, "completions (default 1)");
  flags.AddInt("max-tokens", &max_tokens, "tokens per completion (default 128)");
  flags.AddDouble("temperature", &temperature, "0 = greedy (default 1)");
  flags.AddInt("top-k", &top_k, "keep the k most likely tokens (0 = off)");
  flags.AddDouble("top-p", &top_p, "nucleus mass (1 = off)");
  flags.AddDouble("min-p", &min_p, "drop tokens below min-p x the top probability (0 = off)");
  flags.AddInt("seed", &seed, "random seed (default 0)");
  flags.AddStringList("stop", &stops, "stop string (repeatable)");
  flags.AddBool("include-stop", &include_stop, "keep the matched stop string in the text");
  flags.AddBool("ignore-eos", &ignore_eos, "do not stop at end-of-generation tokens");
  flags.AddInt("top-logprobs", &top_logprobs, "alternatives per token in the output (0-20)");
  engine_flags.Register(flags);
  flags.AddBool("stats", &stats, "print the engine statistics as a final JSON line");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (model.empty()) return absl::InvalidArgumentError("--model is required");
  for (const auto& [flag, value] :
       {std::pair<std::string_view, const std::string&>{"prompt", prompt},
        {"prompt-tokens", prompt_tokens}}) {
    if (flags.WasSet(flag) && value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", AsAbsl(flag), " is empty; give the prompt"));
    }
  }
  if (prompt.empty() == prompt_tokens.empty()) {
    return absl::InvalidArgumentError("give exactly one of --prompt and --prompt-tokens");
  }
  if (chat && prompt.empty()) return absl::InvalidArgumentError("--chat needs --prompt");
  // The engine's rules, said with the flags' names and before the model loads (the engine names
  // the request's fields: 'sampling: top_p must be in (0, 1]'; QA of stop 35).
  PONDER_RETURN_IF_ERROR(CheckFlagRange("n", n, 1, engine::kMaxCompletions));
  PONDER_RETURN_IF_ERROR(
      CheckFlagRange("max-tokens", max_tokens, 0, std::numeric_limits<int64_t>::max()));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("top-logprobs", top_logprobs, 0, 20));
  if (absl::Status sampling =
          engine::SamplingParams{temperature, top_k, top_p, min_p, seed}.Validate();
      !sampling.ok()) {
    // "top_p must be ..." -> "--top-p must be ...".
    std::string message(sampling.message());
    const size_t field_end = message.find(' ');
    std::replace(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(field_end), '_',
                 '-');
    return absl::InvalidArgumentError(absl::StrCat("--", message));
  }

  PONDER_ASSIGN_OR_RETURN(engine::LocalEngineOptions options, engine_flags.Options());
  options.model_path = model;
  PONDER_ASSIGN_OR_RETURN(auto engine, engine::LocalEngine::Create(options));

  engine::GenerateRequest request;
  if (!prompt_tokens.empty()) {
    PONDER_ASSIGN_OR_RETURN(request.prompt_tokens, ParseTokenList(prompt_tokens));
  } else if (chat) {
    PONDER_ASSIGN_OR_RETURN(std::string text, engine->ApplyChatTemplate({{"user", prompt}}, true));
    // The template writes its own special tokens (and BOS where the family has one).
    PONDER_ASSIGN_OR_RETURN(request.prompt_tokens, engine->Tokenize(text, /*add_bos=*/false));
  } else {
    request.prompt_text = prompt;
  }
  request.n = n;
  request.max_tokens = max_tokens;
  request.sampling = {temperature, top_k, top_p, min_p, seed};
  request.stop = stops;
  request.include_stop_string = include_stop;
  request.ignore_eos = ignore_eos;
  request.top_logprobs = top_logprobs;
  PONDER_ASSIGN_OR_RETURN(engine::GenerateResult result, engine->Generate(request));
  for (const engine::Completion& c : result.completions) {
    nlohmann::json line = {{"index", c.index},
                           {"tokens", c.tokens},
                           {"text", c.text},
                           {"logprobs", c.logprobs},
                           {"cumulative_logprob", c.cumulative_logprob},
                           {"finish_reason", engine::FinishReasonName(c.finish_reason)}};
    if (c.finish_reason == engine::FinishReason::kStop) line["stop_string"] = c.stop_string;
    if (!c.top_logprobs.empty()) {
      nlohmann::json tops = nlohmann::json::array();
      for (const auto& alternatives : c.top_logprobs) {
        nlohmann::json entry = nlohmann::json::array();
        for (const engine::TokenLogprob& t : alternatives)
          entry.push_back({{"token", t.token}, {"logprob", t.logprob}});
        tops.push_back(std::move(entry));
      }
      line["top_logprobs"] = std::move(tops);
    }
    std::printf("%s\n",
                line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  if (stats) std::printf("%s\n", StatsJson(engine->Stats()).dump().c_str());
  return absl::OkStatus();
}

int RunGenerate(std::span<char* const> args) { return ReportStatus("generate", Generate(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("generate", "sample completions from a model (JSON lines)", RunGenerate);

}  // namespace ponder::cli
