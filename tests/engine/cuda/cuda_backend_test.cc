// The CUDA backend end to end against the CPU backend on the random test models: logits at
// every position through chunked prefill and decode, greedy generation, scoring, seeded
// sampling, copy-on-write forks, and the errors. Skipped without a CUDA device.
//
// Tolerance: the GPU rounds weights (f32 files: to bf16) and the inputs of every matrix product
// to 16 bits, so logits differ from the CPU path by up to about 1% of their range. We allow
// kLogitTolerance * max(1, max |logit|) absolute, and the measured figure is printed.
#include "engine/cuda/cuda_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "engine/backend.h"
#include "engine/local_engine.h"
#include "engine/sampling/sampler.h"
#include "engine/testing/random_model.h"
#include "engine/transformer/weights.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/testing/scoped_env.h"

namespace ponder::engine {
namespace {

constexpr double kLogitTolerance = 0.03;
constexpr double kLogprobTolerance = 0.05;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

std::vector<int32_t> Tokens(int n, int vocab, int salt) {
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) tokens[i] = (i * 37 + salt * 101 + 11) % vocab;
  return tokens;
}

// Greedy completion y against x, which `reference` generated after `prompt`: the same tokens, their
// log-probs within kLogprobTolerance, up to the first difference, which is acceptable only at a
// near tie (the reference rates y's token there almost as highly as its own). Returns the number
// of tokens before it.
size_t ExpectSameUpToANearTie(LocalEngine& reference, const std::vector<int32_t>& prompt,
                              const Completion& x, const Completion& y, const std::string& what) {
  EXPECT_EQ(x.tokens.size(), y.tokens.size()) << what;
  size_t same = 0;
  while (same < std::min(x.tokens.size(), y.tokens.size()) && x.tokens[same] == y.tokens[same]) {
    EXPECT_NEAR(x.logprobs[same], y.logprobs[same], kLogprobTolerance)
        << what << ", token " << same;
    ++same;
  }
  if (same < std::min(x.tokens.size(), y.tokens.size())) {
    ScoreRequest score;
    score.prefix_tokens = prompt;
    score.prefix_tokens.insert(score.prefix_tokens.end(), x.tokens.begin(),
                               x.tokens.begin() + same);
    score.continuation_tokens = {y.tokens[same]};
    auto scored = reference.Score(score);
    EXPECT_TRUE(scored.ok()) << scored.status();
    if (scored.ok()) {
      EXPECT_NEAR(scored->continuation_logprobs[0], x.logprobs[same], kLogprobTolerance)
          << what << " diverges at token " << same << " without a near tie";
    }
  }
  return same;
}

// Logits at every position of `tokens`, prefilled `prefill` tokens at a time, then one token
// per step (decode), in blocks [first_block, first_block + 64).
std::vector<std::vector<float>> AllLogits(ForwardBackend& backend, const ModelConfig& config,
                                          const std::vector<int32_t>& tokens, int prefill,
                                          int first_block) {
  std::vector<int32_t> table(64);
  std::iota(table.begin(), table.end(), first_block);
  std::vector<std::vector<float>> logits;
  size_t start = 0;
  while (start < tokens.size()) {
    const size_t n =
        start < static_cast<size_t>(prefill) ? std::min<size_t>(prefill, tokens.size() - start) : 1;
    std::vector<int32_t> rows(n);
    std::iota(rows.begin(), rows.end(), 0);
    SequenceChunk chunk{std::span(tokens).subspan(start, n), static_cast<int64_t>(start), table,
                        rows};
    ForwardOutput out;
    absl::Status status = backend.Forward({&chunk, 1}, {}, out);
    EXPECT_TRUE(status.ok()) << status;
    if (!status.ok()) return logits;
    for (size_t r = 0; r < n; ++r) {
      logits.emplace_back(out.logits.begin() + r * config.vocab_size,
                          out.logits.begin() + (r + 1) * config.vocab_size);
    }
    start += n;
  }
  return logits;
}

struct ModelCase {
  Architecture architecture;
  bool gguf;
  DType dtype;
};

class CudaMatchesCpu : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override { PONDER_SKIP_WITHOUT_CUDA_DEVICE(); }
};

TEST_P(CudaMatchesCpu, LogitsAtEveryPositionThroughPrefillAndDecode) {
  const ModelCase& c = GetParam();
  testing::RandomModelSpec spec;
  spec.architecture = c.architecture;
  spec.seed = 11;
  std::string path = TempPath(absl::StrCat("cuda_", AsAbsl(ArchitectureName(c.architecture)), "_",
                                           AsAbsl(DTypeName(c.dtype)), c.gguf ? ".gguf" : ""));
  ASSERT_TRUE((c.gguf ? testing::WriteRandomGgufModel(spec, c.dtype, path)
                      : testing::WriteRandomHuggingFaceModel(spec, c.dtype, path))
                  .ok());
  auto weights = ModelWeights::Load(path);
  ASSERT_TRUE(weights.ok()) << weights.status();
  ops::ThreadPool pool(2);
  BackendOptions options{.device = Device::kCpu, .block_size = 16, .kv_budget_bytes = 16 << 20};
  auto cpu = CreateForwardBackend(**weights, pool, options);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const ModelConfig& config = (*weights)->config();
  std::vector<int32_t> tokens = Tokens(70, spec.vocab_size, 1);
  auto expected = AllLogits(**cpu, config, tokens, 40, 0);
  // Decode attention in one pass per head, then split over the positions (flash-decoding: 2
  // and 3 stretches at positions 40 to 69), with a block per head or per KV head and stretch,
  // each with the default prefill attention (on the tensor cores with BF16 storage: every model
  // here but the F16 ones); then the defaults with prefill attention on the CUDA cores, with the
  // decode products through cuBLAS instead of the matrix-vector kernels, with decode attention's
  // loads never pipelined (these models' 4 heads take pipelined loads at every decode step by
  // default), with the rope kernel instead of rope and the KV store in the QKV product (the
  // default for the models without q/k norms), with a wide block per head wherever decode
  // attention would split, and never (DecodeAttentionGoesWide; the kernel tests check the kernel
  // itself), with the gate/up product's other batch sizes, with one-token weights streamed
  // through shared memory (cp.async), with one-token steps' down product on cuBLAS instead of the
  // matrix-vector kernel and on the kernel at its other batch size, and with split attention's
  // stretches of at least 64 keys (1 or 2 at positions 40 to 69). (PONDER_CUDA_SKINNY_WARPS
  // cannot change these models' products, whose rows of 64 and 128 values are too short to split;
  // the kernel tests run the split-K targets and batch sizes on larger shapes.)
  const std::pair<std::string, std::string> settings[] = {
      {"PONDER_CUDA_SPLIT_ATTENTION", "0"},
      {"PONDER_CUDA_SPLIT_ATTENTION", "1"},
      {"PONDER_CUDA_SPLIT_ATTENTION", "grouped"},
      {"PONDER_CUDA_PREFILL_ATTENTION", "cuda_cores"},
      {"PONDER_CUDA_SKINNY_TOKENS", "0"},
      {"PONDER_CUDA_ATTENTION_PIPELINE", "0"},
      {"PONDER_CUDA_QKV_ROPE", "0"},
      {"PONDER_CUDA_WIDE_ATTENTION", "4096"},
      {"PONDER_CUDA_WIDE_ATTENTION", "0"},
      {"PONDER_CUDA_GATE_UP_UNROLL", "3"},
      {"PONDER_CUDA_GATE_UP_UNROLL", "4"},
      {"PONDER_CUDA_SKINNY_ASYNC", "1"},
      {"PONDER_CUDA_SKINNY_DOWN", "0"},
      {"PONDER_CUDA_SKINNY_DOWN", "9"},
      {"PONDER_CUDA_SPLIT_KEYS", "64"},
  };
  // Those that only reorganise the same arithmetic (kernels.h: pipelined loads or not, the rope
  // kernel or rope in the QKV product, batches of loads, loads through shared memory) must give
  // the default's bits.
  const std::set<std::string> same_bits = {
      "PONDER_CUDA_ATTENTION_PIPELINE=0", "PONDER_CUDA_QKV_ROPE=0",
      "PONDER_CUDA_GATE_UP_UNROLL=3",     "PONDER_CUDA_GATE_UP_UNROLL=4",
      "PONDER_CUDA_SKINNY_ASYNC=1",       "PONDER_CUDA_SKINNY_DOWN=9"};
  options.device = Device::kCuda;
  std::vector<std::vector<float>> gpu_default;
  {
    auto gpu = CreateForwardBackend(**weights, pool, options);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_default = AllLogits(**gpu, config, tokens, 40, 3);
  }
  for (const auto& [variable, value] : settings) {
    const std::string setting = variable + "=" + value;
    SCOPED_TRACE(setting);
    options.device = Device::kCuda;
    auto gpu = [&] {
      testutil::ScopedEnv scoped(variable, value.c_str());
      return CreateForwardBackend(**weights, pool, options);
    }();
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    EXPECT_EQ((*gpu)->device(), Device::kCuda);
    // Blocks 3.. on the GPU, 0.. on the CPU: block ids must not matter.
    auto actual = AllLogits(**gpu, config, tokens, 40, 3);
    ASSERT_EQ(actual.size(), expected.size());
    double worst = 0, range = 1;
    int argmax_agree = 0;
    for (size_t p = 0; p < expected.size(); ++p) {
      for (size_t v = 0; v < expected[p].size(); ++v) {
        worst = std::max(worst, std::fabs(double(actual[p][v]) - expected[p][v]));
        range = std::max(range, std::fabs(double(expected[p][v])));
      }
      argmax_agree +=
          std::max_element(actual[p].begin(), actual[p].end()) - actual[p].begin() ==
          std::max_element(expected[p].begin(), expected[p].end()) - expected[p].begin();
    }
    std::printf(
        "[ cuda vs cpu ] %s%s: max |logit diff| %.4g (max |logit| %.3g), argmax agrees at "
        "%d of %zu positions\n",
        path.c_str(), (" (" + setting + ")").c_str(), worst, range, argmax_agree, expected.size());
    EXPECT_LE(worst, kLogitTolerance * range);
    EXPECT_GE(argmax_agree, static_cast<int>(expected.size()) * 9 / 10);
    if (same_bits.contains(setting)) {
      ASSERT_EQ(actual.size(), gpu_default.size());
      size_t differ = 0;
      for (size_t p = 0; p < actual.size(); ++p) differ += actual[p] != gpu_default[p];
      EXPECT_EQ(differ, 0u) << "positions whose logits are not the default's bits";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaMatchesCpu,
                         ::testing::Values(ModelCase{Architecture::kLlama, true, DType::kF32},
                                           ModelCase{Architecture::kLlama, true, DType::kF16},
                                           ModelCase{Architecture::kLlama, false, DType::kBF16},
                                           ModelCase{Architecture::kLlama, true, DType::kQ8_0},
                                           ModelCase{Architecture::kQwen2, false, DType::kBF16},
                                           ModelCase{Architecture::kQwen2, true, DType::kF16},
                                           ModelCase{Architecture::kQwen3, false, DType::kF32}),
                         [](const auto& info) {
                           return absl::StrCat(AsAbsl(ArchitectureName(info.param.architecture)),
                                               info.param.gguf ? "_gguf_" : "_hf_",
                                               AsAbsl(DTypeName(info.param.dtype)));
                         });

// The engine on either device, on a Qwen2-shaped model (biases).
class CudaEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PONDER_SKIP_WITHOUT_CUDA_DEVICE();
    path_ = TempPath("cuda_engine_model");
    testing::RandomModelSpec spec;
    spec.architecture = Architecture::kQwen2;
    spec.seed = 21;
    spec.reward_labels = 2;
    ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kBF16, path_).ok());
    auto weights = ModelWeights::Load(path_);
    ASSERT_TRUE(weights.ok()) << weights.status();
    weights_ = std::move(*weights);
  }
  // A backend on the fixture's model (weights_ and pool_ outlive it); null after a failure.
  std::unique_ptr<ForwardBackend> Backend(BackendOptions options = {.device = Device::kCuda,
                                                                    .block_size = 8}) {
    auto backend = CreateForwardBackend(*weights_, pool_, options);
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(*backend) : nullptr;
  }
  // Backend(options) with the environment variable `variable` set to `value` while it starts
  // (the PONDER_CUDA_* settings are read then).
  std::unique_ptr<ForwardBackend> BackendWith(const char* variable, const char* value,
                                              BackendOptions options = {.device = Device::kCuda,
                                                                        .block_size = 8}) {
    testutil::ScopedEnv scoped(variable, value);
    return Backend(options);
  }
  // A backend started with `variable`=`value` beside the settings already set: refused as an
  // invalid argument whose message names `named`.
  void ExpectRefusedWith(const char* variable, const char* value, std::string_view named) {
    testutil::ScopedEnv scoped(variable, value);
    auto backend = CreateForwardBackend(*weights_, pool_, {.device = Device::kCuda});
    ASSERT_FALSE(backend.ok()) << variable << "=" << value;
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(backend.status().message()), ::testing::HasSubstr(std::string(named)));
  }
  std::unique_ptr<LocalEngine> Engine(Device device, int64_t kv_bytes = 0) {
    LocalEngineOptions options;
    options.model_path = path_;
    options.device = device;
    options.threads = 2;
    options.kv_budget_bytes = kv_bytes;
    auto engine = LocalEngine::Create(options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }
  // DrawsAreTheCpuSamplersTokensOnTheGpuLogits on one backend.
  void CheckDrawsOnTheGpuLogits(ForwardBackend& gpu);
  std::string path_;
  std::unique_ptr<ModelWeights> weights_;
  ops::ThreadPool pool_{1};
};

TEST_F(CudaEngineTest, AutoPicksCudaWhenADeviceIsPresent) {
  auto engine = Engine(Device::kAuto);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->device_description().rfind("cuda:0", 0), 0u) << engine->device_description();
}

TEST_F(CudaEngineTest, GreedyGenerationMatchesTheCpuUpToNearTies) {
  auto cpu = Engine(Device::kCpu), gpu = Engine(Device::kCuda);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);
  for (int salt = 0; salt < 4; ++salt) {
    GenerateRequest request;
    request.prompt_tokens = Tokens(20 + 7 * salt, 384, salt);
    request.max_tokens = 24;
    request.sampling.temperature = 0;
    request.ignore_eos = true;
    auto a = cpu->Generate(request);
    auto b = gpu->Generate(request);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    const size_t same = ExpectSameUpToANearTie(*cpu, request.prompt_tokens, a->completions[0],
                                               b->completions[0], absl::StrCat("prompt ", salt));
    std::printf("[ cuda vs cpu ] greedy prompt %d: %zu of %zu tokens identical\n", salt, same,
                a->completions[0].tokens.size());
  }
}

TEST_F(CudaEngineTest, ScoresAndRewardHeadMatchTheCpu) {
  auto cpu = Engine(Device::kCpu), gpu = Engine(Device::kCuda);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(gpu, nullptr);
  ScoreRequest request;
  request.prefix_tokens = Tokens(30, 384, 5);
  request.continuation_tokens = Tokens(12, 384, 6);
  request.reward_positions = {41};
  auto a = cpu->Score(request);
  auto b = gpu->Score(request);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->continuation_logprobs.size(), b->continuation_logprobs.size());
  for (size_t i = 0; i < a->continuation_logprobs.size(); ++i) {
    EXPECT_NEAR(a->continuation_logprobs[i], b->continuation_logprobs[i], kLogprobTolerance) << i;
  }
  ASSERT_EQ(a->rewards.size(), 1u);
  ASSERT_EQ(b->rewards.size(), 1u);
  for (size_t k = 0; k < a->rewards[0].probabilities.size(); ++k) {
    EXPECT_NEAR(a->rewards[0].probabilities[k], b->rewards[0].probabilities[k], 0.02) << k;
  }
}

// Seeded sampling on the GPU: the same request on a fresh engine gives the same tokens (the same
// steps, so the same bits). On the first engine again it is served from the prefix cache, which
// recomputes the prompt's partial last block in a step of another shape: its products round
// differently (within the log-probs' tolerance, as on any GPU engine without batch-invariant
// kernels; cuda_backend.h), so a draw that falls next to a boundary between tokens may differ:
// the log-probs must agree up to the first difference. Greedy forks share the prompt, and greedy
// completions from the cache agree with a cold engine's up to a near tie.
TEST_F(CudaEngineTest, SeededSamplingIsReproducibleAndForksShareThePrompt) {
  auto gpu = Engine(Device::kCuda), fresh = Engine(Device::kCuda), cold = Engine(Device::kCuda);
  ASSERT_TRUE(gpu != nullptr && fresh != nullptr && cold != nullptr);
  GenerateRequest request;
  request.prompt_tokens = Tokens(37, 384, 9);  // not a multiple of the block size: the fork
  request.n = 4;                               // copies the shared partial block on write
  request.max_tokens = 16;
  request.sampling.temperature = 0.9;
  request.sampling.top_p = 0.95;
  request.sampling.seed = 1234;
  request.ignore_eos = true;
  auto first = gpu->Generate(request);
  auto again = fresh->Generate(request);
  auto cached = gpu->Generate(request);  // now served from the prefix cache
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(cached.ok()) << cached.status();
  int same = 0, total = 0;
  for (int i = 0; i < request.n; ++i) {
    EXPECT_EQ(first->completions[i].tokens, again->completions[i].tokens) << "completion " << i;
    const Completion &x = first->completions[i], &y = cached->completions[i];
    ASSERT_EQ(x.tokens.size(), y.tokens.size());
    for (size_t j = 0; j < x.tokens.size() && x.tokens[j] == y.tokens[j]; ++j, ++same) {
      EXPECT_NEAR(x.logprobs[j], y.logprobs[j], kLogprobTolerance)
          << "completion " << i << " token " << j << " after a prefix-cache hit";
    }
    total += static_cast<int>(x.tokens.size());
  }
  std::printf(
      "[ cuda seeded ] after a prefix-cache hit: %d of %d tokens before a first difference\n", same,
      total);
  EXPECT_GT(cached->cached_prompt_tokens, 0);
  // Greedy completions of a forked request are identical: the copied blocks hold the prompt.
  request.sampling.temperature = 0;
  auto greedy = gpu->Generate(request);
  ASSERT_TRUE(greedy.ok()) << greedy.status();
  for (int i = 1; i < request.n; ++i) {
    EXPECT_EQ(greedy->completions[i].tokens, greedy->completions[0].tokens) << "completion " << i;
  }
  // From the cache against a cold engine: the same up to a near tie, where the cold engine rates
  // the other's choice almost as highly as its own.
  auto uncached = cold->Generate(request);
  ASSERT_TRUE(uncached.ok()) << uncached.status();
  EXPECT_EQ(uncached->cached_prompt_tokens, 0);
  ExpectSameUpToANearTie(*cold, request.prompt_tokens, uncached->completions[0],
                         greedy->completions[0], "greedy from the prefix cache");
}

// The reward head on the GPU (f32, cuBLAS) against RewardHeadLogits on the hidden states the GPU
// returned, at chosen rows of a prefill step and of a decode step (graphed from its second use).
TEST_F(CudaEngineTest, RewardRowsAreTheRewardHeadOnTheGpuHiddenStates) {
  auto gpu = Backend();
  ASSERT_NE(gpu, nullptr);
  const ModelConfig& c = weights_->config();
  const RewardHeadWeights& head = *weights_->reward_head();
  std::vector<int32_t> tokens = Tokens(30, c.vocab_size, 4), table = {2, 5, 0, 7, 9};
  std::vector<int32_t> rows = {3, 9, 17, 29}, decode_row = {0};
  const std::vector<int32_t> prefill_rewards = {0, 2, 3}, decode_rewards = {0};
  for (int step = 0; step < 4; ++step) {
    // Step 0: the 30 tokens; then the last token again at positions 30, 31, 32 (one token).
    SequenceChunk chunk =
        step == 0 ? SequenceChunk{tokens, 0, table, rows}
                  : SequenceChunk{std::span(tokens).subspan(29, 1), 29 + step, table, decode_row};
    const std::vector<int32_t>& reward_rows = step == 0 ? prefill_rewards : decode_rewards;
    ForwardOutput out;
    ASSERT_TRUE(gpu->Forward({&chunk, 1},
                             {.logits = false, .hidden = true, .reward_rows = reward_rows}, out)
                    .ok());
    ASSERT_EQ(out.reward_logits.size(), reward_rows.size() * head.num_labels());
    for (size_t i = 0; i < reward_rows.size(); ++i) {
      std::vector<float> expected(head.num_labels());
      RewardHeadLogits(head, out.hidden.data() + reward_rows[i] * c.hidden_size, c.hidden_size,
                       pool_, expected.data());
      for (int k = 0; k < head.num_labels(); ++k) {
        const float got = out.reward_logits[i * head.num_labels() + k];
        EXPECT_NEAR(got, expected[k], 1e-4 * std::max(1.0f, std::abs(expected[k])))
            << "step " << step << " reward row " << i << " label " << k;
      }
    }
  }
  EXPECT_GT(cuda::GraphStats(*gpu).launches, 0);
}

// Draws on the GPU against the CPU sampler on the logits the GPU returned: the same tokens, for
// greedy rows (the argmax kernel) and for every filter with several draws per row
// (LaunchDrawTokens), in prefill steps and replayed decode graphs.
TEST_F(CudaEngineTest, DrawsAreTheCpuSamplersTokensOnTheGpuLogits) {
  // Probabilities computed again in every pass of a draw, then once per draw into scratch rows
  // (each with the default: a cluster of blocks per draw on Hopper, else one block); then one
  // block per draw where the default is clusters.
  for (const char* cache : {"0", "1"}) {
    SCOPED_TRACE(std::string("PONDER_CUDA_DRAW_CACHE=") + cache);
    auto gpu = BackendWith("PONDER_CUDA_DRAW_CACHE", cache);
    ASSERT_NE(gpu, nullptr);
    CheckDrawsOnTheGpuLogits(*gpu);
  }
  if (cuda::DrawClusters()) {
    SCOPED_TRACE("PONDER_CUDA_DRAW_CLUSTER=1");
    auto gpu = BackendWith("PONDER_CUDA_DRAW_CLUSTER", "1");
    ASSERT_NE(gpu, nullptr);
    CheckDrawsOnTheGpuLogits(*gpu);
  }
}

void CudaEngineTest::CheckDrawsOnTheGpuLogits(ForwardBackend& gpu) {
  const int vocab = weights_->config().vocab_size;
  const std::vector<SamplingParams> settings = {
      {.temperature = 0.0},
      {.temperature = 1.0, .seed = 1},
      {.temperature = 0.7, .top_k = 20, .seed = 2},
      {.temperature = 1.2, .top_p = 0.9, .seed = 3},
      {.temperature = 1.0, .min_p = 0.1, .seed = 4},
      {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.02, .seed = 5},
  };
  std::vector<std::vector<int32_t>> tables(4), prompts(4);
  std::vector<int32_t> last = {0}, all_rows(12);
  std::iota(all_rows.begin(), all_rows.end(), 0);
  for (int s = 0; s < 4; ++s) {
    tables[s] = {4 * s, 4 * s + 1, 4 * s + 2, 4 * s + 3};
    prompts[s] = Tokens(12, vocab, 20 + s);
  }
  for (int step = 0; step < 4; ++step) {
    // Step 0: the prompts, every position a row; then decode steps of one token per sequence.
    std::vector<SequenceChunk> chunks;
    for (int s = 0; s < 4; ++s) {
      if (step == 0) {
        chunks.push_back({prompts[s], 0, tables[s], all_rows});
      } else {
        chunks.push_back({std::span(prompts[s]).subspan(step - 1, 1), 11 + step, tables[s], last});
      }
    }
    const int rows = step == 0 ? 48 : 4;
    std::vector<TokenDraw> sampled;
    for (int r = 0; r < rows; ++r) {
      for (size_t k = 0; k < settings.size(); ++k) {
        sampled.push_back({.row = r, .sampling = settings[k], .stream = k, .step = uint64_t(step)});
      }
    }
    // The step twice (it writes the same keys and values again): greedy rows, then the draws.
    for (const std::vector<TokenDraw>& draws : {GreedyDraws(rows), sampled}) {
      ForwardOutput out;
      ASSERT_TRUE(gpu.Forward(chunks, {.logits = true, .draws = draws}, out).ok());
      ASSERT_EQ(out.drawn_tokens.size(), draws.size());
      for (size_t d = 0; d < draws.size(); ++d) {
        std::span<const float> row(out.logits.data() + draws[d].row * vocab, vocab);
        SampledToken expected =
            SampleToken(row, draws[d].sampling, draws[d].stream, draws[d].step, 0);
        EXPECT_EQ(out.drawn_tokens[d], expected.token) << "step " << step << " draw " << d;
        EXPECT_NEAR(out.drawn_logprobs[d], expected.logprob, 1e-4)
            << "step " << step << " draw " << d;
      }
    }
  }
  EXPECT_GT(cuda::GraphStats(gpu).launches, 0);
}

// Graphs and early starts (kernels.h Launch) change when kernels run, never what they compute:
// the same bits as kernels launched one by one, each after the previous one has finished.
TEST_F(CudaEngineTest, GraphsAndEarlyStartsGiveTheBitsOfPlainOrderedLaunches) {
  auto graphed = Backend({.device = Device::kCuda, .block_size = 8, .cuda_graphs = true});
  auto direct = Backend({.device = Device::kCuda, .block_size = 8, .cuda_graphs = false});
  auto ordered = BackendWith("PONDER_CUDA_EARLY_START", "0",
                             {.device = Device::kCuda, .block_size = 8, .cuda_graphs = false});
  // Graphs with each decode step timed on the stream (PONDER_CUDA_STEP_TIMING): the same bits.
  auto timed = BackendWith("PONDER_CUDA_STEP_TIMING", "1",
                           {.device = Device::kCuda, .block_size = 8, .cuda_graphs = true});
  ASSERT_TRUE(graphed != nullptr && direct != nullptr && ordered != nullptr && timed != nullptr);
  ForwardBackend* backends[] = {graphed.get(), direct.get(), timed.get(), ordered.get()};
  std::chrono::duration<double> timed_wall{0};  // the timed backend's Forward calls, on the host
  const int vocab = weights_->config().vocab_size;
  // Every output of `chunks` from each backend, checked equal to the last (ordered) one's; the
  // greedy tokens returned. With `sample`, each row also gets a sampled draw (LaunchDrawTokens).
  auto run_all = [&](const std::vector<SequenceChunk>& chunks, bool sample,
                     const std::string& what) {
    std::vector<TokenDraw> draws = GreedyDraws(static_cast<int64_t>(chunks.size()));
    for (size_t r = 0; sample && r < chunks.size(); ++r) {
      draws.push_back({.row = static_cast<int32_t>(r),
                       .sampling = {.temperature = 0.9, .top_k = 30, .top_p = 0.95, .seed = 8},
                       .stream = r,
                       .step = static_cast<uint64_t>(chunks[r].start_position)});
    }
    ForwardOutput reference;
    EXPECT_TRUE(backends[3]->Forward(chunks, {.logits = true, .draws = draws}, reference).ok());
    for (int b = 0; b < 3; ++b) {
      ForwardOutput out;
      const auto start = std::chrono::steady_clock::now();
      EXPECT_TRUE(backends[b]->Forward(chunks, {.logits = true, .draws = draws}, out).ok());
      if (backends[b] == timed.get()) {
        timed_wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
      }
      EXPECT_EQ(out.logits, reference.logits) << what << ", backend " << b;
      EXPECT_EQ(out.drawn_tokens, reference.drawn_tokens) << what << ", backend " << b;
      EXPECT_EQ(out.drawn_logprobs, reference.drawn_logprobs) << what << ", backend " << b;
    }
    reference.drawn_tokens.resize(chunks.size());
    return reference.drawn_tokens;
  };
  // 3 and 12 sequences: products through cuBLAS, captured inside the graphs too.
  for (int batch : {3, 12}) {
    std::vector<std::vector<int32_t>> tables(batch), prompts(batch);
    for (int s = 0; s < batch; ++s) {
      tables[s].resize(8);
      std::iota(tables[s].begin(), tables[s].end(), s * 8);
      prompts[s] = Tokens(9, vocab, s + batch);
    }
    std::vector<int32_t> rows = {8}, last = {0};
    std::vector<SequenceChunk> prefill;
    for (int s = 0; s < batch; ++s) prefill.push_back({prompts[s], 0, tables[s], rows});
    std::vector<int32_t> next = run_all(prefill, true, absl::StrCat("prefill of ", batch));
    ASSERT_EQ(next.size(), static_cast<size_t>(batch));
    // Two decode shapes, greedy only and with sampled draws, alternating: each runs directly
    // first, is captured the second time and replayed the third.
    for (int step = 0; step < 6; ++step) {
      std::vector<SequenceChunk> chunks;
      for (int s = 0; s < batch; ++s) {
        chunks.push_back({std::span(next).subspan(s, 1), 9 + step, tables[s], last});
      }
      next = run_all(chunks, step % 2 == 1, absl::StrCat("batch ", batch, " step ", step));
      ASSERT_EQ(next.size(), static_cast<size_t>(batch));
    }
  }
  const cuda::CudaGraphStats stats = cuda::GraphStats(*graphed);
  EXPECT_EQ(stats.fallbacks, 0) << stats.first_fallback;
  EXPECT_EQ(stats.captures, 2 * 2);
  EXPECT_EQ(stats.launches, 2 * 2 * 2);
  EXPECT_EQ(cuda::GraphStats(*direct).launches, 0);
  // The timed backend ran from graphs as the untimed one did, timed its 12 decode steps (not the
  // prefills), each within the wall time of its Forward call; the others timed none.
  const cuda::CudaGraphStats timed_graphs = cuda::GraphStats(*timed);
  EXPECT_EQ(timed_graphs.fallbacks, 0) << timed_graphs.first_fallback;
  EXPECT_EQ(timed_graphs.captures, stats.captures);
  EXPECT_EQ(timed_graphs.launches, stats.launches);
  const cuda::CudaStepTiming timing = cuda::StepTiming(*timed);
  EXPECT_EQ(timing.steps, 2 * 6);
  EXPECT_GT(timing.stream_seconds, 0.0);
  EXPECT_LT(timing.stream_seconds, timed_wall.count());
  EXPECT_GT(timing.enqueue_seconds, 0.0);
  EXPECT_LT(timing.enqueue_seconds, timed_wall.count());
  EXPECT_EQ(cuda::StepTiming(*graphed).steps, 0);
}

// Decode steps of three sequences at once against the CPU backend on the same chunks: the
// products through cuBLAS (the default above one token) and through the matrix-vector kernels
// (PONDER_CUDA_SKINNY_TOKENS=8), with the three prompts prefilled in one step.
TEST_F(CudaEngineTest, DecodeStepsOfSeveralSequencesMatchTheCpu) {
  auto cpu = CreateForwardBackend(
      *weights_, pool_, {.device = Device::kCpu, .block_size = 8, .kv_budget_bytes = 16 << 20});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const int vocab = weights_->config().vocab_size;
  constexpr int kSequences = 3, kPrompt = 9, kSteps = 5;
  std::vector<std::vector<int32_t>> tables(kSequences), tokens(kSequences);
  for (int s = 0; s < kSequences; ++s) {
    tables[s].resize(8);
    std::iota(tables[s].begin(), tables[s].end(), s * 8);
    tokens[s] = Tokens(kPrompt + kSteps, vocab, s + 40);
  }
  // The logits of each step's rows (the prompts' last, then the new tokens'), on `backend`.
  auto run = [&](ForwardBackend& backend) {
    std::vector<float> logits;
    const std::vector<int32_t> last = {kPrompt - 1}, only = {0};
    std::vector<SequenceChunk> chunks;
    for (int s = 0; s < kSequences; ++s) {
      chunks.push_back({std::span(tokens[s]).first(kPrompt), 0, tables[s], last});
    }
    for (int step = 0; step <= kSteps; ++step) {
      ForwardOutput out;
      const absl::Status status = backend.Forward(chunks, {.logits = true}, out);
      EXPECT_TRUE(status.ok()) << status;
      logits.insert(logits.end(), out.logits.begin(), out.logits.end());
      chunks.clear();
      for (int s = 0; s < kSequences && step < kSteps; ++s) {
        chunks.push_back(
            {std::span(tokens[s]).subspan(kPrompt + step, 1), kPrompt + step, tables[s], only});
      }
    }
    return logits;
  };
  const std::vector<float> expected = run(**cpu);
  ASSERT_EQ(expected.size(), size_t(kSequences) * (kSteps + 1) * vocab);
  for (const char* skinny : {"1", "8"}) {
    SCOPED_TRACE(std::string("PONDER_CUDA_SKINNY_TOKENS=") + skinny);
    auto gpu = BackendWith("PONDER_CUDA_SKINNY_TOKENS", skinny);
    ASSERT_NE(gpu, nullptr);
    const std::vector<float> actual = run(*gpu);
    ASSERT_EQ(actual.size(), expected.size());
    double worst = 0, range = 1;
    for (size_t i = 0; i < expected.size(); ++i) {
      worst = std::max(worst, std::fabs(double(actual[i]) - expected[i]));
      range = std::max(range, std::fabs(double(expected[i])));
    }
    std::printf(
        "[ cuda vs cpu ] decode of %d sequences (PONDER_CUDA_SKINNY_TOKENS=%s): max |logit diff| "
        "%.4g (max |logit| %.3g)\n",
        kSequences, skinny, worst, range);
    EXPECT_LE(worst, kLogitTolerance * range);
  }
}

// The automatic decode attention rule: split while the heads leave multiprocessors idle, and with
// up to two heads per multiprocessor over long contexts (no device needed).
TEST(DecodeAttentionRuleTest, SplitsIdleOrLongContextStepsOnly) {
  EXPECT_TRUE(cuda::DecodeAttentionSplits(12, 128, 132));     // batch 1
  EXPECT_TRUE(cuda::DecodeAttentionSplits(120, 100, 132));    // batch 10
  EXPECT_FALSE(cuda::DecodeAttentionSplits(192, 128, 132));   // batch 16, short
  EXPECT_FALSE(cuda::DecodeAttentionSplits(192, 1023, 132));  // batch 16, just short of 1 024
  EXPECT_TRUE(cuda::DecodeAttentionSplits(192, 1024, 132));   // batch 16, long
  EXPECT_TRUE(cuda::DecodeAttentionSplits(264, 2048, 132));   // two heads per multiprocessor
  EXPECT_FALSE(cuda::DecodeAttentionSplits(384, 2048, 132));  // batch 32: three
}

// The automatic pipelining rule: where the heads leave multiprocessors idle, and up to two heads
// per multiprocessor with a block of 8 warps per head, one with a wide block (no device needed).
TEST(DecodeAttentionRuleTest, PipelinesStepsOfFewHeadsOnly) {
  using cuda::DecodeAttentionLayout;
  using cuda::DecodeAttentionPipelines;
  EXPECT_TRUE(DecodeAttentionPipelines(12, DecodeAttentionLayout::kSplit, 132));   // batch 1
  EXPECT_TRUE(DecodeAttentionPipelines(120, DecodeAttentionLayout::kSplit, 132));  // batch 10
  // Batch 16 at long contexts, which split.
  EXPECT_FALSE(DecodeAttentionPipelines(192, DecodeAttentionLayout::kSplit, 132));
  EXPECT_TRUE(DecodeAttentionPipelines(192, DecodeAttentionLayout::kPerHead, 132));  // batch 16
  EXPECT_TRUE(DecodeAttentionPipelines(264, DecodeAttentionLayout::kPerHead, 132));
  EXPECT_FALSE(DecodeAttentionPipelines(265, DecodeAttentionLayout::kPerHead, 132));
  EXPECT_FALSE(DecodeAttentionPipelines(768, DecodeAttentionLayout::kPerHead, 132));  // batch 64
  EXPECT_TRUE(DecodeAttentionPipelines(12, DecodeAttentionLayout::kWide, 132));
  EXPECT_TRUE(DecodeAttentionPipelines(132, DecodeAttentionLayout::kWide, 132));
  EXPECT_FALSE(DecodeAttentionPipelines(192, DecodeAttentionLayout::kWide, 132));
}

// PONDER_CUDA_WIDE_ATTENTION=N: steps that would split go wide while their mean context is at
// most N, whatever their heads; 0 never; auto where the heads fill half the multiprocessors and
// the mean context is at most 2 048 (no device needed).
TEST(DecodeAttentionRuleTest, GoesWideUpToTheSettingsContext) {
  EXPECT_TRUE(cuda::DecodeAttentionGoesWide(12, 192, 256, 132));
  EXPECT_TRUE(cuda::DecodeAttentionGoesWide(12, 256, 256, 132));
  EXPECT_FALSE(cuda::DecodeAttentionGoesWide(12, 257, 256, 132));
  EXPECT_FALSE(cuda::DecodeAttentionGoesWide(96, 1, 0, 132));
  const int64_t automatic = cuda::kWideAttentionAuto;
  EXPECT_FALSE(cuda::DecodeAttentionGoesWide(12, 128, automatic, 132));   // batch 1
  EXPECT_FALSE(cuda::DecodeAttentionGoesWide(48, 128, automatic, 132));   // batch 4
  EXPECT_TRUE(cuda::DecodeAttentionGoesWide(72, 128, automatic, 132));    // batch 6
  EXPECT_TRUE(cuda::DecodeAttentionGoesWide(96, 128, automatic, 132));    // batch 8
  EXPECT_TRUE(cuda::DecodeAttentionGoesWide(192, 1024, automatic, 132));  // batch 16, long
  EXPECT_TRUE(cuda::DecodeAttentionGoesWide(192, 2048, automatic, 132));
  EXPECT_FALSE(cuda::DecodeAttentionGoesWide(192, 2049, automatic, 132));
}

TEST_F(CudaEngineTest, AnImpossibleKvBudgetIsResourceExhaustedNotACrash) {
  LocalEngineOptions options;
  options.model_path = path_;
  options.device = Device::kCuda;
  options.kv_budget_bytes = int64_t{1} << 50;
  auto engine = LocalEngine::Create(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kResourceExhausted) << engine.status();
}

TEST_F(CudaEngineTest, ASettingOutOfRangeIsRefusedByName) {
  const std::pair<std::string, std::string> settings[] = {
      {"PONDER_CUDA_SKINNY_TOKENS", "9"},      {"PONDER_CUDA_SKINNY_TOKENS", "-1"},
      {"PONDER_CUDA_SKINNY_TOKENS", "two"},    {"PONDER_CUDA_PREFILL_ATTENTION", "mmaa"},
      {"PONDER_CUDA_SPLIT_ATTENTION", "2"},    {"PONDER_CUDA_DRAW_CACHE", "yes"},
      {"PONDER_CUDA_EARLY_START", "off"},      {"PONDER_CUDA_QKV_ROPE", "on"},
      {"PONDER_CUDA_ATTENTION_PIPELINE", "2"}, {"PONDER_CUDA_DRAW_CLUSTER", "4"},
      {"PONDER_CUDA_WIDE_ATTENTION", "-1"},    {"PONDER_CUDA_SKINNY_WARPS", "0"},
      {"PONDER_CUDA_STEP_TIMING", "yes"},      {"PONDER_CUDA_GATE_UP_UNROLL", "5"},
      {"PONDER_CUDA_SKINNY_DOWN", "1"},        {"PONDER_CUDA_SKINNY_ASYNC", "yes"},
      {"PONDER_CUDA_SPLIT_KEYS", "14"},        {"PONDER_CUDA_SPLIT_KEYS", "65537"},
      {"PONDER_CUDA_SKINNY_MLP", "1"}};  // no setting (removed in stop 36)
  for (const auto& [variable, value] : settings) {
    ExpectRefusedWith(variable.c_str(), value.c_str(), variable);
  }
}

// A PONDER_CUDA_* variable that is no setting, misspelt or removed (stop 36's SKINNY_MLP), is
// refused naming it and the settings there are, before any device work (no GPU needed); the
// settings themselves pass.
TEST(CudaSettingNamesTest, AVariableThatIsNoSettingIsRefusedNamingIt) {
  {
    testutil::ScopedEnv known("PONDER_CUDA_SKINNY_DOWN", "0");
    EXPECT_TRUE(cuda::CheckSettingNames().ok()) << cuda::CheckSettingNames();
  }
  for (const char* name : {"PONDER_CUDA_SKINNY_MLP", "PONDER_CUDA_SKINY_DOWN", "PONDER_CUDA_"}) {
    testutil::ScopedEnv unknown(name, "1");
    const absl::Status status = cuda::CheckSettingNames();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(status.message()),
                ::testing::StartsWith(absl::StrCat(name, " is not a setting")));
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("PONDER_CUDA_SKINNY_DOWN"));
  }
  testutil::ScopedEnv other("PONDER_CUDAX", "1");  // not the prefix
  EXPECT_TRUE(cuda::CheckSettingNames().ok());
}

TEST_F(CudaEngineTest, InvalidTokensAreRejectedBeforeAnyDeviceWork) {
  auto gpu = Backend();
  ASSERT_NE(gpu, nullptr);
  std::vector<int32_t> tokens = {1, 100000}, table = {0}, rows = {1};
  SequenceChunk chunk{tokens, 0, table, rows};
  ForwardOutput out;
  absl::Status status = gpu->Forward({&chunk, 1}, {}, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

}  // namespace
}  // namespace ponder::engine
