// `ponder score`: teacher-forced log-probabilities of a continuation after a prefix, and
// reward-head read-outs, as one JSON object.
#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/status_macros.h"
#include "cli/command.h"
#include "cli/engine_flags.h"
#include "engine/local_engine.h"
#include "nlohmann/json.hpp"

namespace ponder::cli {
namespace {

absl::Status Score(std::span<char* const> args) {
  std::string model, prefix, continuation, reward_token;
  EngineFlags engine_flags;
  bool no_bos = false;
  FlagParser flags(
      "ponder score --model PATH --prefix STR --continuation STR [--reward-token TEXT]");
  flags.AddString("model", &model, "GGUF file or Hugging Face model folder");
  flags.AddString("prefix", &prefix,
                  "text the continuation follows (tokenized with BOS if the model uses one)");
  flags.AddString("continuation", &continuation, "text whose tokens are scored");
  flags.AddString(
      "reward-token", &reward_token,
      "read the model's reward head at every position holding this token (e.g. <extra_0>)");
  flags.AddBool("no-bos", &no_bos, "do not add BOS to the prefix");
  engine_flags.Register(flags);
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (model.empty()) return absl::InvalidArgumentError("--model is required");
  if (prefix.empty() && continuation.empty()) {
    return absl::InvalidArgumentError("give --prefix and/or --continuation");
  }
  PONDER_ASSIGN_OR_RETURN(engine::LocalEngineOptions options, engine_flags.Options());
  options.model_path = model;
  PONDER_ASSIGN_OR_RETURN(auto engine, engine::LocalEngine::Create(options));
  engine::ScoreRequest request;
  PONDER_ASSIGN_OR_RETURN(request.prefix_tokens,
                          engine->Tokenize(prefix, !no_bos && engine->add_bos_by_default()));
  PONDER_ASSIGN_OR_RETURN(request.continuation_tokens, engine->Tokenize(continuation, false));
  if (!reward_token.empty()) {
    std::optional<int32_t> id = engine->TokenId(reward_token);
    if (!id.has_value()) {
      return absl::InvalidArgumentError("--reward-token: '" + reward_token +
                                        "' is not a token of this model");
    }
    request.reward_token_ids = {*id};
  }
  PONDER_ASSIGN_OR_RETURN(engine::ScoreResult result, engine->Score(request));
  nlohmann::json pieces = nlohmann::json::array();
  for (int32_t token : request.continuation_tokens) pieces.push_back(engine->Detokenize({token}));
  double total = 0;
  for (float logprob : result.continuation_logprobs) total += logprob;
  nlohmann::json out = {{"prefix_tokens", request.prefix_tokens},
                        {"tokens", request.continuation_tokens},
                        {"pieces", pieces},
                        {"logprobs", result.continuation_logprobs},
                        {"sum_logprob", total},
                        {"cached_tokens", result.cached_tokens}};
  if (!reward_token.empty()) {
    nlohmann::json rewards = nlohmann::json::array();
    for (const auto& reward : result.rewards) {
      rewards.push_back({{"position", reward.position}, {"probabilities", reward.probabilities}});
    }
    out["rewards"] = rewards;
  }
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return absl::OkStatus();
}

int RunScore(std::span<char* const> args) { return ReportStatus("score", Score(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("score", "log-probs of a continuation after a prefix (teacher forcing)",
                        RunScore);

}  // namespace ponder::cli
