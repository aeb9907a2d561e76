// cli/engine_flags.h: the flags parse into LocalEngineOptions, bad values name their flag, and
// `ponder generate` hands them to the engine (its statistics show the step size taking effect).
#include "cli/engine_flags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/flags.h"
#include "nlohmann/json.hpp"
#include "tests/testing/run_command.h"

namespace ponder::cli {
namespace {

absl::StatusOr<engine::LocalEngineOptions> Parse(std::vector<std::string> args) {
  EngineFlags engine_flags;
  FlagParser flags("test");
  engine_flags.Register(flags);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  if (absl::Status status = flags.Parse(argv); !status.ok()) return status;
  return engine_flags.Options();
}

TEST(EngineFlagsTest, DefaultsAreTheEnginesOwn) {
  absl::StatusOr<engine::LocalEngineOptions> options = Parse({});
  ASSERT_TRUE(options.ok()) << options.status();
  const engine::LocalEngineOptions defaults;
  EXPECT_EQ(options->device, defaults.device);
  EXPECT_EQ(options->threads, defaults.threads);
  EXPECT_EQ(options->kv_budget_bytes, defaults.kv_budget_bytes);
  EXPECT_EQ(options->max_batch_tokens, defaults.max_batch_tokens);
}

TEST(EngineFlagsTest, ValuesReachTheOptions) {
  absl::StatusOr<engine::LocalEngineOptions> options = Parse(
      {"--device", "cpu", "--threads", "3", "--kv-budget-mb", "64", "--max-batch-tokens", "2048"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->device, engine::Device::kCpu);
  EXPECT_EQ(options->threads, 3);
  EXPECT_EQ(options->kv_budget_bytes, int64_t{64} << 20);
  EXPECT_EQ(options->max_batch_tokens, 2048);
}

TEST(EngineFlagsTest, BadValuesNameTheirFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--device", "gpu"}, "--device"},
      {{"--max-batch-tokens", "0"}, "--max-batch-tokens"},
      {{"--max-batch-tokens", "4294967296"}, "--max-batch-tokens"},
      {{"--threads", "-1"}, "--threads"},
      {{"--kv-budget-mb", "-5"}, "--kv-budget-mb"},
  };
  for (const auto& [args, flag] : cases) {
    absl::StatusOr<engine::LocalEngineOptions> options = Parse(args);
    ASSERT_FALSE(options.ok()) << args[0] << " " << args[1];
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(options.status().message().find(flag), std::string::npos) << options.status();
  }
}

// A 20-token prompt in steps of at most 4 tokens takes 5 steps; by default, one.
TEST(EngineFlagsTest, GenerateComputesAtMostMaxBatchTokensPerStep) {
  const std::string ponder = std::string(PONDER_BINARY_DIR) + "/bin/ponder";
  const std::string model = std::string(PONDER_SOURCE_DIR) + "/models/arith-policy.gguf";
  auto steps = [&](const std::string& extra) -> nlohmann::json {
    testutil::CommandOutput run = testutil::RunCommand(
        ponder + " generate --model " + model +
        " --prompt-tokens 5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24 --max-tokens 1"
        " --temperature 0 --device cpu --threads 1 --stats " +
        extra);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    const std::vector<std::string> lines = run.lines();
    if (lines.empty()) return nlohmann::json();
    return nlohmann::json::parse(lines.back(), nullptr, false)["stats"];
  };
  const nlohmann::json small = steps("--max-batch-tokens 4");
  const nlohmann::json large = steps("");
  ASSERT_TRUE(small.is_object());
  ASSERT_TRUE(large.is_object());
  EXPECT_EQ(small["steps"], 5);
  EXPECT_LE(small["mean_batch_tokens"].get<double>(), 4.0);
  EXPECT_EQ(large["steps"], 1);
}

}  // namespace
}  // namespace ponder::cli
