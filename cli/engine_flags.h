// The flags of every command that runs a model in its own process (`ponderd`, and `ponder
// generate`, `score`, `solve --model`, `bench --model`): where the engine runs and how large it
// is. One definition, so each command spells and checks them the same way.
#ifndef PONDER_CLI_ENGINE_FLAGS_H_
#define PONDER_CLI_ENGINE_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "base/flags.h"
#include "engine/local_engine.h"

namespace ponder::cli {

struct EngineFlags {
  std::string device = "auto";
  int64_t threads = 0;
  int64_t kv_budget_mb = 0;
  int64_t max_batch_tokens = engine::LocalEngineOptions().max_batch_tokens;

  // Adds --device, --threads, --kv-budget-mb and --max-batch-tokens; `scope` starts each help
  // text (e.g. "in-process: " where the command can also call a server).
  void Register(FlagParser& flags, std::string_view scope = "");
  // The engine options they give (the model path is the caller's); a bad value is
  // InvalidArgument naming its flag.
  absl::StatusOr<engine::LocalEngineOptions> Options() const;
};

// --temperature of the commands that run strategies (`solve`, `bench`): absent means each
// strategy's own; a value given must be one a strategy accepts (samplers::IsStrategyTemperature),
// else InvalidArgument naming the flag and the rule.
absl::Status CheckTemperatureFlag(const std::optional<double>& temperature);

// --max-tokens of the same commands: 0 (absent) means each strategy's own; otherwise at most
// samplers::kMaxTokens. A negative value is InvalidArgument naming the flag, not "absent".
absl::Status CheckMaxTokensFlag(int max_tokens);

}  // namespace ponder::cli

#endif  // PONDER_CLI_ENGINE_FLAGS_H_
