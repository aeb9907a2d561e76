// cli/engine_flags.h: the flags parse into LocalEngineOptions, bad values name their flag, and
// `ponder generate` hands them to the engine (its statistics show the step size taking effect).
#include "cli/engine_flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "tests/testing/run_command.h"

namespace ponder::cli {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

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

// 100000 threads were accepted and aborted the process when the system could not start them.
TEST(EngineFlagsTest, ThreadsAreAtMostTheThreadPoolsLimit) {
  absl::StatusOr<engine::LocalEngineOptions> options = Parse({"--threads", "100000"});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr("--threads must be in [0, 1024], got 100000"));
  EXPECT_TRUE(Parse({"--threads", "1024"}).ok());
}

// Under a limit on address space (ulimit -v), what the engine cannot have is an error naming
// it, not an abort or the OOM killer: worker threads whose stacks (8 MiB each, ulimit -s) do not
// fit, a KV budget beyond the memory the process may use, a KV cache that cannot be allocated.
TEST(EngineFlagsTest, GenerateReportsResourcesItCannotHaveInsteadOfAborting) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer cannot run under ulimit -v";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer cannot run under ulimit -v";
#endif
#endif
  const std::string ponder = std::string(PONDER_BINARY_DIR) + "/bin/ponder";
  const std::string model = std::string(PONDER_SOURCE_DIR) + "/models/arith-policy.gguf";
  auto generate = [&](const std::string& limit_kib, const std::string& flags) {
    return testutil::RunCommand(
        "ulimit -s 8192 && ulimit -v " + limit_kib + " && " + ponder + " generate --model " +
        model + " --prompt-tokens 5,6 --max-tokens 1 --temperature 0 " + "--device cpu " + flags);
  };
  testutil::CommandOutput threads = generate("2000000", "--threads 1024");
  EXPECT_EQ(threads.exit_code, 1) << threads.err;
  EXPECT_THAT(threads.err, HasSubstr("threads of a pool of 1024")) << threads.err;

  testutil::CommandOutput beyond = generate("8000000", "--threads 1 --kv-budget-mb 99999999");
  EXPECT_EQ(beyond.exit_code, 1) << beyond.err;
  EXPECT_THAT(beyond.err, HasSubstr("a KV cache budget of 99999999 MiB is more than the "
                                    "memory this process may use"));

  const int64_t memory_mib = (int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGE_SIZE)) >> 20;
  if (memory_mib < 8192) GTEST_SKIP() << "needs 8 GiB of memory, has " << memory_mib << " MiB";
  testutil::CommandOutput unallocated = generate("2000000", "--threads 1 --kv-budget-mb 4096");
  EXPECT_EQ(unallocated.exit_code, 1) << unallocated.err;
  // Refused up front where a cgroup allows less than 4 GiB, else when the allocation fails.
  EXPECT_THAT(unallocated.err, AnyOf(HasSubstr("cannot allocate a KV cache of"),
                                     HasSubstr("more than the memory this process may use")));
}

// An empty --prompt was reported as "give exactly one of --prompt and --prompt-tokens", and of
// two --prompt flags the first was silently dropped.
TEST(EngineFlagsTest, GenerateRefusesAnEmptyOrRepeatedPrompt) {
  const std::string ponder = std::string(PONDER_BINARY_DIR) + "/bin/ponder";
  const std::string model = std::string(PONDER_SOURCE_DIR) + "/models/arith-policy.gguf";
  auto generate = [&](const std::string& flags) {
    return testutil::RunCommand(ponder + " generate --model " + model +
                                " --max-tokens 1 --device cpu --threads 1 " + flags);
  };
  testutil::CommandOutput empty = generate("--prompt ''");
  EXPECT_EQ(empty.exit_code, 2) << empty.err;
  EXPECT_THAT(empty.err, HasSubstr("--prompt is empty; give the prompt"));
  testutil::CommandOutput empty_tokens = generate("--prompt-tokens ''");
  EXPECT_EQ(empty_tokens.exit_code, 2) << empty_tokens.err;
  EXPECT_THAT(empty_tokens.err, HasSubstr("--prompt-tokens is empty"));
  testutil::CommandOutput twice = generate("--prompt x --prompt y");
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_THAT(twice.err, HasSubstr("--prompt is given more than once; give it once"));
  EXPECT_EQ(generate("--prompt x").exit_code, 0);
}

// Out-of-range sampling flags were refused with the engine's field names ('sampling: top_p must
// be in (0, 1]', 'n must be ...'), after the model had loaded (QA of stop 35).
TEST(EngineFlagsTest, GenerateNamesTheFlagOfAValueOutOfRange) {
  const std::string ponder = std::string(PONDER_BINARY_DIR) + "/bin/ponder";
  auto generate = [&](const std::string& flags) {  // the model is never read
    return testutil::RunCommand(ponder + " generate --model /nonexistent/m.gguf --prompt x " +
                                flags);
  };
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--n 0", "--n must be in [1, 4096], got 0"},
           {"--max-tokens -1", "--max-tokens must be >= 0, got -1"},
           {"--top-logprobs 21", "--top-logprobs must be in [0, 20], got 21"},
           {"--top-p 2", "--top-p must be in (0, 1], got 2"},
           {"--min-p 3", "--min-p must be in [0, 1], got 3"},
           {"--top-k -2", "--top-k must be >= 0, got -2"},
           {"--temperature -1", "--temperature must be 0 (greedy) or in"}}) {
    testutil::CommandOutput refused = generate(flags);
    EXPECT_EQ(refused.exit_code, 2) << flags << ": " << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("ponder generate: " + message)) << flags;
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
