#include "cli/engine_flags.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "samplers/limits.h"

namespace ponder::cli {

void EngineFlags::Register(FlagParser& flags, std::string_view scope) {
  const std::string prefix(scope);
  flags.AddString("device", &device,
                  prefix + "cpu, cuda or auto (default: cuda when a GPU is present)");
  flags.AddInt("threads", &threads,
               prefix + "CPU worker threads, at most 1024 (default: all cores)");
  flags.AddInt(
      "kv-budget-mb", &kv_budget_mb,
      prefix +
          "KV cache memory in MiB, at most what the process may use (default: automatic); a "
          "sequence that outgrows it stops there, as at the model's context");
  flags.AddInt("max-batch-tokens", &max_batch_tokens,
               absl::StrCat(prefix,
                            "tokens the engine computes per step, decode tokens and "
                            "prefill chunks together (default ",
                            engine::LocalEngineOptions().max_batch_tokens,
                            "; on a GPU larger steps prefill faster: docs/cuda_backend.md)"));
}

absl::StatusOr<engine::LocalEngineOptions> EngineFlags::Options() const {
  constexpr int64_t kIntMax = std::numeric_limits<int>::max();
  PONDER_RETURN_IF_ERROR(
      CheckFlagRange("threads", threads, 0, engine::LocalEngineOptions::kMaxThreads));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("kv-budget-mb", kv_budget_mb, 0, int64_t{1} << 30));
  PONDER_RETURN_IF_ERROR(CheckFlagRange("max-batch-tokens", max_batch_tokens, 1, kIntMax));
  engine::LocalEngineOptions options;
  absl::StatusOr<engine::Device> parsed = engine::ParseDevice(device);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--device: ", parsed.status().message()));
  }
  options.device = *parsed;
  options.threads = static_cast<int>(threads);
  options.kv_budget_bytes = kv_budget_mb << 20;
  options.max_batch_tokens = static_cast<int>(max_batch_tokens);
  return options;
}

absl::Status CheckTemperatureFlag(const std::optional<double>& temperature) {
  if (!temperature.has_value() || samplers::IsStrategyTemperature(*temperature)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--temperature must be ", samplers::kStrategyTemperatureRange, ", got ", *temperature));
}

absl::Status CheckMaxTokensFlag(int max_tokens) {
  return CheckFlagRange("max-tokens", max_tokens, 0, samplers::kMaxTokens,
                        "0 or left out: each strategy's own");
}

}  // namespace ponder::cli
