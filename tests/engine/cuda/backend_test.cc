// Backend selection (engine/backend.h), in every build: device names, what kAuto resolves to,
// and a clear error when CUDA is asked for where it cannot run.
#include "engine/backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/sampling/sampler.h"
#include "engine/testing/random_model.h"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

TEST(DeviceTest, ParsesTheThreeNamesAndRejectsOthersByName) {
  EXPECT_EQ(*ParseDevice("auto"), Device::kAuto);
  EXPECT_EQ(*ParseDevice("cpu"), Device::kCpu);
  EXPECT_EQ(*ParseDevice("cuda"), Device::kCuda);
  for (Device d : {Device::kAuto, Device::kCpu, Device::kCuda})
    EXPECT_EQ(*ParseDevice(DeviceName(d)), d);
  absl::StatusOr<Device> bad = ParseDevice("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"gpu\""));
}

TEST(DeviceTest, AutoResolvesToCudaExactlyWhenCudaIsUsable) {
  EXPECT_EQ(ResolveDevice(Device::kAuto), CudaDeviceStatus().ok() ? Device::kCuda : Device::kCpu);
  EXPECT_EQ(ResolveDevice(Device::kCpu), Device::kCpu);
}

class BackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/backend_model.gguf";
    ASSERT_TRUE(testing::WriteRandomGgufModel(testing::RandomModelSpec{}, DType::kF32, path_).ok());
    auto weights = ModelWeights::Load(path_);
    ASSERT_TRUE(weights.ok()) << weights.status();
    weights_ = std::move(*weights);
  }
  std::string path_;
  std::unique_ptr<ModelWeights> weights_;
  ops::ThreadPool pool_{1};
};

TEST_F(BackendTest, AskingForCudaWithoutAUsableDeviceIsAFailedPrecondition) {
  if (CudaDeviceStatus().ok()) GTEST_SKIP() << "a CUDA device is present; nothing to refuse";
  auto backend = CreateForwardBackend(*weights_, pool_, {.device = Device::kCuda});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition) << backend.status();
  EXPECT_FALSE(backend.status().message().empty());
}

TEST_F(BackendTest, CpuBackendSizesItsCacheFromTheBudget) {
  const int64_t block_bytes = 2 * 8 * 2 * 16 * 2 * 4;  // K+V, 8 tokens, 2 kv heads, d 16, 2 layers
  auto backend = CreateForwardBackend(
      *weights_, pool_,
      {.device = Device::kCpu, .block_size = 8, .kv_budget_bytes = 10 * block_bytes + 5});
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->device(), Device::kCpu);
  EXPECT_EQ((*backend)->kv().num_blocks(), 10);
  EXPECT_THAT((*backend)->description(), HasSubstr("cpu"));
  auto none = CreateForwardBackend(
      *weights_, pool_, {.device = Device::kCpu, .block_size = 8, .kv_budget_bytes = 100});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
}

// A budget the machine cannot hold was allocated and touched until the process aborted or was
// killed; it is refused up front, naming both sizes.
TEST_F(BackendTest, CpuBackendRefusesABudgetBeyondPhysicalMemory) {
  const int64_t memory = int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGE_SIZE);
  ASSERT_GT(memory, 0);
  auto backend = CreateForwardBackend(
      *weights_, pool_, {.device = Device::kCpu, .block_size = 8, .kv_budget_bytes = 2 * memory});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kResourceExhausted) << backend.status();
  EXPECT_THAT(backend.status().message(),
              HasSubstr(absl::StrCat("a KV cache budget of ", (2 * memory) >> 20,
                                     " MiB is more than the memory this process may use (")));
}

TEST_F(BackendTest, DrawsAreWhatTheSamplerGivesOnTheRowsLogits) {
  auto backend = CreateForwardBackend(*weights_, pool_, {.device = Device::kCpu, .block_size = 8});
  ASSERT_TRUE(backend.ok()) << backend.status();
  const int vocab = weights_->config().vocab_size;
  std::vector<int32_t> tokens = {5, 77, 300, 12, 9}, table = {3}, rows = {1, 4};
  SequenceChunk chunk{tokens, 0, table, rows};
  ForwardOutput with_logits, drawn_only;
  ASSERT_TRUE((*backend)->Forward({&chunk, 1}, {.logits = true}, with_logits).ok());
  // Greedy rows, then several draws from one row (the completions of a forked prompt).
  std::vector<TokenDraw> draws = GreedyDraws(2);
  for (uint64_t stream = 0; stream < 4; ++stream) {
    draws.push_back({.row = 1,
                     .sampling = {.temperature = 0.9, .top_k = 50, .top_p = 0.9, .seed = 3},
                     .stream = stream,
                     .step = 2});
  }
  draws.push_back({.row = 0, .sampling = {.temperature = 1.0, .min_p = 0.1}, .step = 7});
  ASSERT_TRUE((*backend)->Forward({&chunk, 1}, {.logits = false, .draws = draws}, drawn_only).ok());
  EXPECT_TRUE(drawn_only.logits.empty());
  ASSERT_EQ(drawn_only.drawn_tokens.size(), draws.size());
  ASSERT_EQ(drawn_only.drawn_logprobs.size(), draws.size());
  for (size_t d = 0; d < draws.size(); ++d) {
    SampledToken expected =
        SampleToken(std::span<const float>(with_logits.logits.data() + draws[d].row * vocab, vocab),
                    draws[d].sampling, draws[d].stream, draws[d].step, 0);
    EXPECT_EQ(drawn_only.drawn_tokens[d], expected.token) << "draw " << d;
    EXPECT_EQ(drawn_only.drawn_logprobs[d], expected.logprob) << "draw " << d;
  }
}

TEST_F(BackendTest, ADrawOfARowTheStepHasNotOrWithBadParametersIsInvalid) {
  auto backend = CreateForwardBackend(*weights_, pool_, {.device = Device::kCpu, .block_size = 8});
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<int32_t> tokens = {5, 77}, table = {3}, rows = {1};
  SequenceChunk chunk{tokens, 0, table, rows};
  ForwardOutput out;
  const std::vector<TokenDraw> past_the_rows = {{.row = 1}};
  absl::Status status = (*backend)->Forward({&chunk, 1}, {.draws = past_the_rows}, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("draw 0 reads output row 1 of a step with 1"));
  const std::vector<TokenDraw> bad_top_p = {{.row = 0, .sampling = {.top_p = 0}}};
  status = (*backend)->Forward({&chunk, 1}, {.draws = bad_top_p}, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("top_p"));
}

TEST_F(BackendTest, RewardRowsAreTheRewardHeadOnTheRowsHiddenStates) {
  const std::string path = ::testing::TempDir() + "/backend_prm.gguf";
  ASSERT_TRUE(testing::WriteRandomGgufModel({.reward_labels = 2}, DType::kF32, path).ok());
  auto prm = ModelWeights::Load(path);
  ASSERT_TRUE(prm.ok()) << prm.status();
  auto backend = CreateForwardBackend(**prm, pool_, {.device = Device::kCpu, .block_size = 8});
  ASSERT_TRUE(backend.ok()) << backend.status();
  const int64_t H = (*prm)->config().hidden_size;
  const RewardHeadWeights& head = *(*prm)->reward_head();
  std::vector<int32_t> tokens = {5, 77, 300, 12, 9}, table = {3}, rows = {0, 2, 4};
  SequenceChunk chunk{tokens, 0, table, rows};
  ForwardOutput with_hidden, rewards_only;
  ASSERT_TRUE(
      (*backend)->Forward({&chunk, 1}, {.logits = false, .hidden = true}, with_hidden).ok());
  const std::vector<int32_t> reward_rows = {1, 2};
  ASSERT_TRUE(
      (*backend)
          ->Forward({&chunk, 1}, {.logits = false, .reward_rows = reward_rows}, rewards_only)
          .ok());
  EXPECT_TRUE(rewards_only.hidden.empty());
  ASSERT_EQ(rewards_only.reward_logits.size(), 2u * head.num_labels());
  for (size_t i = 0; i < reward_rows.size(); ++i) {
    std::vector<float> expected(head.num_labels());
    RewardHeadLogits(head, with_hidden.hidden.data() + reward_rows[i] * H, H, pool_,
                     expected.data());
    for (int k = 0; k < head.num_labels(); ++k) {
      EXPECT_EQ(rewards_only.reward_logits[i * head.num_labels() + k], expected[k])
          << i << " " << k;
    }
  }
  // Rows out of order, and a model without a head.
  const std::vector<int32_t> backwards = {2, 1};
  absl::Status status = (*backend)->Forward({&chunk, 1}, {.reward_rows = backwards}, rewards_only);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("reward row 1 is 1"));
  auto plain = CreateForwardBackend(*weights_, pool_, {.device = Device::kCpu, .block_size = 8});
  ASSERT_TRUE(plain.ok()) << plain.status();
  status = (*plain)->Forward({&chunk, 1}, {.reward_rows = reward_rows}, rewards_only);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("has no reward head"));
}

}  // namespace
}  // namespace ponder::engine
