// LocalEngine on real (small random) models: the serving core's promises.
#include "engine/local_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/sampling/sampler.h"
#include "engine/testing/random_model.h"
#include "engine/transformer/reference_transformer.h"
#include "engine/transformer/weights.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

const std::string& ModelPath() {
  static const std::string path = [] {
    std::string p = ::testing::TempDir() + "/serving_model.gguf";
    testing::RandomModelSpec spec;
    spec.seed = 21;
    EXPECT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF16, p).ok());
    return p;
  }();
  return path;
}

std::unique_ptr<LocalEngine> MakeEngine(int64_t kv_bytes = 0, bool prefix_caching = true,
                                        int block_size = 8) {
  LocalEngineOptions options;
  options.model_path = ModelPath();
  // These tests pin the CPU backend's promises (bit-identical results whatever the batch, f32
  // KV blocks); the GPU backend's tolerances are tested in tests/engine/cuda.
  options.device = Device::kCpu;
  options.threads = 2;
  options.kv_budget_bytes = kv_bytes;
  options.prefix_caching = prefix_caching;
  options.block_size = block_size;
  auto engine = LocalEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return std::move(*engine);
}

std::vector<int32_t> Prompt(int n, int salt) {
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) tokens[i] = (i * 13 + salt * 7 + 3) % 256;
  return tokens;
}

GenerateRequest Request(std::vector<int32_t> prompt, int n, int max_tokens, uint64_t seed = 1) {
  GenerateRequest r;
  r.prompt_tokens = std::move(prompt);
  r.n = n;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.9;
  r.sampling.top_p = 0.95;
  r.sampling.seed = seed;
  r.ignore_eos = true;
  return r;
}

void ExpectSameCompletions(const GenerateResult& a, const GenerateResult& b) {
  ASSERT_EQ(a.completions.size(), b.completions.size());
  for (size_t i = 0; i < a.completions.size(); ++i) {
    EXPECT_EQ(a.completions[i].tokens, b.completions[i].tokens) << "completion " << i;
    EXPECT_EQ(a.completions[i].logprobs, b.completions[i].logprobs) << "completion " << i;
    EXPECT_EQ(a.completions[i].text, b.completions[i].text) << "completion " << i;
  }
}

TEST(LocalEngineTest, ForkedAndCachedRunsEqualAColdRun) {
  auto cold = MakeEngine(0, /*prefix_caching=*/false);
  auto warm = MakeEngine(0, /*prefix_caching=*/true);
  GenerateRequest request = Request(Prompt(45, 1), 4, 20);
  auto expected = cold->Generate(request);
  ASSERT_TRUE(expected.ok()) << expected.status();
  // Warm the cache with a request that shares the first 40 prompt tokens, then run.
  GenerateRequest other = Request(
      std::vector<int32_t>(request.prompt_tokens.begin(), request.prompt_tokens.begin() + 40), 1,
      5);
  ASSERT_TRUE(warm->Generate(other).ok());
  auto actual = warm->Generate(request);
  ASSERT_TRUE(actual.ok()) << actual.status();
  EXPECT_EQ(actual->cached_prompt_tokens, 40);
  ExpectSameCompletions(*expected, *actual);
  // The n completions are distinct samples.
  EXPECT_NE(actual->completions[0].tokens, actual->completions[1].tokens);
  EngineStats stats = warm->Stats();
  EXPECT_EQ(stats.prompt_tokens_requested, 40 + 4 * 45);
  // Computed: 40 for the warm-up, then 5 new prompt tokens once (forks share them).
  EXPECT_EQ(stats.prompt_tokens_computed, 40 + 5);
}

TEST(LocalEngineTest, GreedyMatchesTheReferenceForwardPass) {
  auto engine = MakeEngine();
  GenerateRequest request = Request(Prompt(12, 2), 1, 10);
  request.sampling.temperature = 0;
  auto result = engine->Generate(request);
  ASSERT_TRUE(result.ok());
  auto weights = ModelWeights::Load(ModelPath());
  ASSERT_TRUE(weights.ok());
  std::vector<int32_t> tokens = request.prompt_tokens;
  for (size_t i = 0; i < result->completions[0].tokens.size(); ++i) {
    std::vector<float> logits = ReferenceLogits(**weights, tokens).back();
    int32_t argmax =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(result->completions[0].tokens[i], argmax) << "token " << i;
    tokens.push_back(result->completions[0].tokens[i]);
  }
}

TEST(LocalEngineTest, SeededSamplingIsReproducibleAndSeedsDiffer) {
  auto engine = MakeEngine();
  auto a = engine->Generate(Request(Prompt(10, 3), 2, 16, 5));
  auto b = engine->Generate(Request(Prompt(10, 3), 2, 16, 5));
  auto c = engine->Generate(Request(Prompt(10, 3), 2, 16, 6));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ExpectSameCompletions(*a, *b);
  EXPECT_NE(a->completions[0].tokens, c->completions[0].tokens);
}

// Completion i's token j is SampleToken(the logits after its text so far, sampling, i, j): the
// streams and steps the engine gives its draws, the forks of the prompt included, whether the
// backend draws (the usual case) or the engine does (top log-probs asked for).
TEST(LocalEngineTest, SampledCompletionsAreTheSamplersDrawsOverTheReferenceLogits) {
  auto engine = MakeEngine();
  auto weights = ModelWeights::Load(ModelPath());
  ASSERT_TRUE(weights.ok());
  for (int top_logprobs : {0, 2}) {
    GenerateRequest request = Request(Prompt(11, 4), 3, 6, 77);
    request.sampling.top_k = 40;
    request.top_logprobs = top_logprobs;
    auto result = engine->Generate(request);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->completions.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      std::vector<int32_t> tokens = request.prompt_tokens;
      const std::vector<int32_t>& drawn = result->completions[i].tokens;
      ASSERT_EQ(drawn.size(), 6u);
      for (size_t j = 0; j < drawn.size(); ++j) {
        std::vector<float> logits = ReferenceLogits(**weights, tokens).back();
        EXPECT_EQ(drawn[j], SampleToken(logits, request.sampling, i, j, 0).token)
            << "top_logprobs " << top_logprobs << " completion " << i << " token " << j;
        tokens.push_back(drawn[j]);
      }
    }
  }
}

// A request's tokens and log-probs do not depend on what else is in the batch.
TEST(LocalEngineTest, ResultsAreBatchInvariantUnderConcurrentLoad) {
  auto engine = MakeEngine();
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 12; ++i)
    requests.push_back(Request(Prompt(8 + 5 * i, i), 1 + i % 3, 12 + i, 100 + i));
  std::vector<GenerateResult> alone;
  for (const GenerateRequest& r : requests) {
    auto result = engine->Generate(r);
    ASSERT_TRUE(result.ok()) << result.status();
    alone.push_back(*result);
  }
  auto together_engine = MakeEngine();
  std::vector<absl::StatusOr<GenerateResult>> together(requests.size(), absl::UnknownError(""));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] { together[i] = together_engine->Generate(requests[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(together[i].ok()) << together[i].status();
    SCOPED_TRACE(i);
    ExpectSameCompletions(alone[i], *together[i]);
  }
  EXPECT_GT(together_engine->Stats().mean_batch_tokens, 2.0);  // they did share steps
}

TEST(LocalEngineTest, SixtyFourConcurrentCallersGetCorrectResultsAndFreeEverything) {
  auto engine = MakeEngine();
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 64; ++i)
    requests.push_back(Request(Prompt(20 + i % 7, i % 5), 1 + i % 2, 6 + i % 5, i));
  std::vector<GenerateResult> expected;
  {
    auto sequential = MakeEngine();
    for (const GenerateRequest& r : requests) expected.push_back(*sequential->Generate(r));
  }
  std::vector<absl::StatusOr<GenerateResult>> results(requests.size(), absl::UnknownError(""));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = engine->Generate(requests[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    ExpectSameCompletions(expected[i], *results[i]);
  }
  EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.kv_blocks_used + stats.kv_blocks_cached + stats.kv_blocks_free,
            stats.kv_blocks_total);
}

// More completions than a step's token budget: steps decode at most max_batch_tokens of them
// (SchedulerTest.DecodingNeverExceedsTheStepBudget), the others wait, and every completion is
// the one a roomy engine gives.
TEST(LocalEngineTest, CompletionsBeyondTheStepBudgetTakeTurnsWithTheSameResults) {
  auto roomy = MakeEngine();
  LocalEngineOptions options;
  options.model_path = ModelPath();
  options.device = Device::kCpu;
  options.threads = 2;
  options.max_batch_tokens = 3;
  auto narrow = LocalEngine::Create(options);
  ASSERT_TRUE(narrow.ok()) << narrow.status();
  const GenerateRequest request = Request(Prompt(12, 5), 8, 10);
  auto expected = roomy->Generate(request);
  auto actual = (*narrow)->Generate(request);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_TRUE(actual.ok()) << actual.status();
  ExpectSameCompletions(*actual, *expected);
  EXPECT_EQ((*narrow)->Stats().kv_blocks_used, 0);
  EXPECT_LE((*narrow)->Stats().mean_batch_tokens, 3.0);  // 8 a step before: every completion
}

// Control tokens written in a prompt's text are control tokens, as Tokenize (and so `ponder
// score`) and Hugging Face's tokenizers read them: a generation from the text is the one from
// its tokens (the text was read as plain characters: QA of stop 33).
TEST(LocalEngineTest, PromptTextReadsControlTokensAsTokenizeDoes) {
  auto engine = MakeEngine();
  const std::string text = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
  absl::StatusOr<std::vector<int32_t>> tokens =
      engine->Tokenize(text, engine->add_bos_by_default());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(std::count(tokens->begin(), tokens->end(), *engine->TokenId("<|im_start|>")), 2);
  GenerateRequest from_text = Request({}, 2, 6);
  from_text.prompt_text = text;
  auto expected = engine->Generate(Request(*tokens, 2, 6));
  auto actual = engine->Generate(from_text);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_TRUE(actual.ok()) << actual.status();
  EXPECT_EQ(actual->prompt_tokens, static_cast<int64_t>(tokens->size()));
  ExpectSameCompletions(*actual, *expected);
}

// A tight KV budget forces eviction and preemption; nothing may change in the results.
TEST(LocalEngineTest, TightBudgetPreemptsAndEvictsWithoutChangingResults) {
  auto roomy = MakeEngine();
  // Block: 8 tokens x 2 layers x 2 (K,V) x 2 heads x 16 dims x 4 bytes = 4 KiB. 24 blocks =
  // 192 tokens: one sequence of 80 fits, three at once do not.
  auto tight = MakeEngine(24 * 4096);
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 6; ++i) requests.push_back(Request(Prompt(40, i % 2), 2, 40, 7 + i));
  std::vector<GenerateResult> expected;
  for (const GenerateRequest& r : requests) expected.push_back(*roomy->Generate(r));
  std::vector<absl::StatusOr<GenerateResult>> results(requests.size(), absl::UnknownError(""));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = tight->Generate(requests[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    ExpectSameCompletions(expected[i], *results[i]);
  }
  EngineStats stats = tight->Stats();
  EXPECT_GT(stats.preemptions, 0);
  EXPECT_GT(stats.evictions, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);
}

// Completions that each fit alone but not together finish one after another: a preempted one
// waits, and no waiting sequence keeps the blocks another needs (stop 29's QA found two
// completions of one prompt spinning for ever: the preempted one pinned the shared prefix's
// blocks while it waited and the other could not grow). The deadline turns a hang into a
// failure.
TEST(LocalEngineTest, CompletionsThatFitOnlyOneAtATimeAllFinish) {
  auto roomy = MakeEngine();
  auto tight = MakeEngine(24 * 4096);  // 24 blocks of 8 tokens: one sequence of 180 fits
  for (const int n : {2, 3}) {
    SCOPED_TRACE(::testing::Message() << n << " completions");
    GenerateRequest request = Request(Prompt(40, 1), n, 140, 5);
    auto expected = roomy->Generate(request);
    ASSERT_TRUE(expected.ok()) << expected.status();
    request.deadline = absl::Now() + absl::Seconds(60);
    auto result = tight->Generate(request);
    ASSERT_TRUE(result.ok()) << result.status();
    ExpectSameCompletions(*expected, *result);
  }
  EngineStats stats = tight->Stats();
  EXPECT_GT(stats.preemptions, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);
}

// The counters add up whatever the scheduler did (QA: one request of 31 x 8 prompt tokens
// showed 619 computed and 8 073 cached after 56 preemptions, and tokens_decoded missed a token a
// completion): requested = computed + cached, tokens_decoded the tokens sampled, and what a
// preempted sequence computes again is tokens_recomputed alone.
TEST(LocalEngineTest, StatsAddUpUnderPreemption) {
  for (const int64_t kv_bytes : {int64_t{0}, int64_t{24 * 4096}}) {
    SCOPED_TRACE(::testing::Message() << "KV bytes " << kv_bytes);
    auto engine = MakeEngine(kv_bytes);
    GenerateRequest request = Request(Prompt(40, 1), 3, 140, 5);
    request.deadline = absl::Now() + absl::Seconds(60);
    auto result = engine->Generate(request);
    ASSERT_TRUE(result.ok()) << result.status();
    auto again = engine->Generate(request);  // the prompt from the prefix cache
    ASSERT_TRUE(again.ok()) << again.status();
    ScoreRequest score;
    score.prefix_tokens = Prompt(30, 2);
    score.continuation_tokens = {5, 6, 7};
    ASSERT_TRUE(engine->Score(score).ok());
    const EngineStats stats = engine->Stats();
    EXPECT_EQ(stats.requests, 3);
    EXPECT_EQ(stats.prompt_tokens_requested, 2 * 3 * 40 + 33);
    EXPECT_EQ(stats.prompt_tokens_computed + stats.prompt_tokens_cached,
              stats.prompt_tokens_requested);
    EXPECT_EQ(stats.tokens_decoded, 2 * 3 * 140);
    if (kv_bytes == 0) {
      EXPECT_EQ(stats.preemptions, 0);
      EXPECT_EQ(stats.tokens_recomputed, 0);
      // The first prompt, its last token again (its logits are needed), the score request; the
      // rest came from the prefix cache or a fork.
      EXPECT_EQ(stats.prompt_tokens_computed, 40 + 1 + 33);
    } else {
      EXPECT_GT(stats.preemptions, 0);
      EXPECT_GT(stats.tokens_recomputed, 0);
    }
  }
}

// A request cancelled before its prompt is computed was asked for, but its completions never
// forked: none of their copies of the prompt counts as cached (a review saw 420 "cached"
// tokens against 20 computed for such requests).
TEST(LocalEngineTest, ACancelledRequestCountsNoSharingItNeverHad) {
  auto engine = MakeEngine();
  CancellationToken cancel;
  cancel.Cancel();
  GenerateRequest request = Request(Prompt(60, 4), 8, 10);
  request.cancel = &cancel;
  auto result = engine->Generate(request);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const Completion& c : result->completions)
    EXPECT_EQ(c.finish_reason, FinishReason::kCancelled);
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.prompt_tokens_requested, 8 * 60);
  EXPECT_EQ(stats.prompt_tokens_cached, 0);
  EXPECT_LE(stats.prompt_tokens_computed, 60);
}

// A KV budget below the context acts as the context: a completion stops where it is full
// ("length"; it failed the request before, though its tokens up to there fit), and a prompt it
// cannot hold fails, saying how much it needs (FAILED_PRECONDITION: no retry helps).
TEST(LocalEngineTest, AKvBudgetBelowTheContextActsAsTheContext) {
  auto tight = MakeEngine(4 * 4096);  // 32 tokens
  EXPECT_EQ(tight->Info().usable_context(), 32);
  auto stopped = tight->Generate(Request(Prompt(20, 1), 1, 30));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->completions[0].tokens.size(), 12u);
  EXPECT_EQ(stopped->completions[0].finish_reason, FinishReason::kLength);
  auto roomy = MakeEngine()->Generate(Request(Prompt(20, 1), 1, 12));
  ASSERT_TRUE(roomy.ok()) << roomy.status();
  ExpectSameCompletions(*roomy, *stopped);
  auto result = tight->Generate(Request(Prompt(40, 1), 1, 30));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("needs 6 KV blocks"));
}

TEST(LocalEngineTest, CancellationStopsWithinAStepAndFreesAllBlocks) {
  auto engine = MakeEngine();
  CancellationToken cancel;
  GenerateRequest request = Request(Prompt(30, 1), 3, 900);
  request.cancel = &cancel;
  absl::StatusOr<GenerateResult> result = absl::UnknownError("");
  std::thread caller([&] { result = engine->Generate(request); });
  while (engine->Stats().tokens_decoded < 20) std::this_thread::yield();
  cancel.Cancel();
  caller.join();
  ASSERT_TRUE(result.ok()) << result.status();
  for (const Completion& c : result->completions) {
    EXPECT_EQ(c.finish_reason, FinishReason::kCancelled);
    EXPECT_LT(c.tokens.size(), 900u);
  }
  EXPECT_EQ(engine->Stats().kv_blocks_used, 0);
}

TEST(LocalEngineTest, DeadlineStopsTheRequest) {
  auto engine = MakeEngine();
  GenerateRequest request = Request(Prompt(10, 1), 1, 900);
  request.deadline = absl::Now() + absl::Milliseconds(30);
  auto result = engine->Generate(request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->completions[0].finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(engine->Stats().kv_blocks_used, 0);
}

TEST(LocalEngineTest, StopStringsMatchAcrossTokenBoundaries) {
  auto engine = MakeEngine();
  GenerateRequest request = Request(Prompt(10, 4), 1, 30, 3);
  auto free_run = engine->Generate(request);
  ASSERT_TRUE(free_run.ok());
  const std::string& text = free_run->completions[0].text;
  ASSERT_GE(text.size(), 6u);
  // A stop string made of the end of one token's text and the start of later text.
  std::string stop = text.substr(3, 3);
  request.stop = {stop};
  auto stopped = engine->Generate(request);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->completions[0].finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->completions[0].text, text.substr(0, text.find(stop)));
  request.include_stop_string = true;
  auto included = engine->Generate(request);
  EXPECT_EQ(included->completions[0].text, text.substr(0, text.find(stop) + 3));
}

TEST(LocalEngineTest, ScoreGivesTheLogprobsGenerationReported) {
  auto engine = MakeEngine();
  GenerateRequest request = Request(Prompt(15, 5), 1, 12, 9);
  auto generated = engine->Generate(request);
  ASSERT_TRUE(generated.ok());
  ScoreRequest score;
  score.prefix_tokens = request.prompt_tokens;
  score.continuation_tokens = generated->completions[0].tokens;
  auto scored = engine->Score(score);
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(scored->continuation_logprobs, generated->completions[0].logprobs);
  EXPECT_GT(scored->cached_tokens, 0);  // the prompt's blocks came from the cache
}

TEST(LocalEngineTest, PairProbabilitiesComeFromTheNextTokenDistribution) {
  auto engine = MakeEngine();
  ScoreRequest score;
  score.prefix_tokens = Prompt(9, 6);
  score.continuation_tokens = {10, 11};
  score.pair_positions = {8, 10};
  score.pair_token_a = 43;  // '+'
  score.pair_token_b = 45;  // '-'
  auto scored = engine->Score(score);
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->pair_probabilities.size(), 2u);
  auto weights = ModelWeights::Load(ModelPath());
  std::vector<int32_t> all = score.prefix_tokens;
  all.insert(all.end(), score.continuation_tokens.begin(), score.continuation_tokens.end());
  auto logits = ReferenceLogits(**weights, all);
  for (int i = 0; i < 2; ++i) {
    const std::vector<float>& at = logits[score.pair_positions[i]];
    double expected = 1.0 / (1.0 + std::exp(-(double(at[43]) - at[45])));
    EXPECT_NEAR(scored->pair_probabilities[i], expected, 1e-3);
  }
}

// A score request whose prompt is prefilled in several chunks, the last of which holds no
// position it reads, must still finish (and never be scheduled past its last token).
TEST(LocalEngineTest, ScoreFinishesWhenItsLastChunkReadsNothing) {
  LocalEngineOptions options;
  options.model_path = ModelPath();
  options.device = Device::kCpu;
  options.threads = 2;
  options.max_batch_tokens = 16;  // every request below spans several steps
  auto engine = LocalEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<ScoreRequest> requests(12);
  for (int i = 0; i < 12; ++i) {
    requests[i].prefix_tokens = Prompt(40 + i, i);
    requests[i].pair_positions = {3};  // read early; the remaining tokens read nothing
    requests[i].pair_token_a = 43;
    requests[i].pair_token_b = 45;
  }
  std::vector<absl::StatusOr<ScoreResult>> results = (*engine)->ScoreMany(requests);
  ASSERT_EQ(results.size(), requests.size());
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(results[i].ok()) << "request " << i << ": " << results[i].status();
    ASSERT_EQ(results[i]->pair_probabilities.size(), 1u);
    auto alone = MakeEngine()->Score(requests[i]);
    ASSERT_TRUE(alone.ok()) << alone.status();
    EXPECT_EQ(results[i]->pair_probabilities[0], alone->pair_probabilities[0]) << "request " << i;
  }
  EngineStats stats = (*engine)->Stats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
}

// Found by fuzzing: a model whose weights hold NaN generated token 0 after token 0 with NaN
// log-probs and no error. The request fails, saying where and why.
TEST(LocalEngineTest, NonFiniteLogitsFailTheRequest) {
  const std::string folder = ::testing::TempDir() + "/serving_nan_model";
  testing::RandomModelSpec spec;
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  {  // The final norm's weights become NaN (F32 safetensors: the header gives their bytes).
    const std::string path = folder + "/model.safetensors";
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t header_size = 0;
    file.read(reinterpret_cast<char*>(&header_size), 8);
    std::string header(header_size, '\0');
    file.read(header.data(), static_cast<std::streamsize>(header_size));
    const nlohmann::json tensors = nlohmann::json::parse(header);
    const auto& offsets = tensors.at("model.norm.weight").at("data_offsets");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    const std::vector<float> nan((end - begin) / sizeof(float), std::nanf(""));
    file.seekp(static_cast<std::streamoff>(8 + header_size + begin));
    file.write(reinterpret_cast<const char*>(nan.data()),
               static_cast<std::streamsize>(end - begin));
    ASSERT_TRUE(file.good());
  }
  LocalEngineOptions options;
  options.model_path = folder;
  auto engine = LocalEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (double temperature : {0.0, 1.0}) {
    GenerateRequest request;
    request.prompt_tokens = Prompt(6, 2);
    request.n = 3;
    request.max_tokens = 4;
    request.sampling.temperature = temperature;
    auto result = (*engine)->Generate(request);
    ASSERT_FALSE(result.ok()) << "temperature " << temperature;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(result.status().message()),
                HasSubstr("logits for completion 0 at generated token 0 are not finite"));
  }
  ScoreRequest score;
  score.prefix_tokens = Prompt(6, 2);
  score.continuation_tokens = {50, 51};
  auto scored = (*engine)->Score(score);
  ASSERT_FALSE(scored.ok());
  EXPECT_EQ(scored.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(scored.status().message()), HasSubstr("scores for this request"));
  EXPECT_EQ((*engine)->Stats().kv_blocks_used, 0);  // the failed requests freed their blocks
}

TEST(LocalEngineTest, RewardHeadIsReadAtEveryTaggedPosition) {
  std::string folder = ::testing::TempDir() + "/serving_prm";
  testing::RandomModelSpec spec;
  spec.reward_labels = 2;
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  LocalEngineOptions options;
  options.model_path = folder;
  auto engine = LocalEngine::Create(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::optional<int32_t> tag = (*engine)->TokenId("<extra_0>");
  ASSERT_TRUE(tag.has_value());
  ScoreRequest score;
  score.prefix_tokens = Prompt(10, 1);
  score.continuation_tokens = {50, 51, *tag, 52, 53, 54, *tag};
  score.reward_token_ids = {*tag};
  auto scored = (*engine)->Score(score);
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->rewards.size(), 2u);
  EXPECT_EQ(scored->rewards[0].position, 12);
  EXPECT_EQ(scored->rewards[1].position, 16);
  for (const auto& reward : scored->rewards) {
    ASSERT_EQ(reward.probabilities.size(), 2u);
    EXPECT_NEAR(reward.probabilities[0] + reward.probabilities[1], 1.0, 1e-5);
  }
  // A policy model has no head: a clear error.
  auto policy = MakeEngine();
  EXPECT_EQ(policy->Score(score).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A score request that loses its blocks while half prefilled (a generate request preempted ahead
// of it, the scheduler releasing the later waiting sequences) is prefilled again from the start:
// its reward read-outs were appended a second time (QA: 32 to 89 read-outs for 24 positions,
// which the PRM verifiers report as an internal error). Each position is read once, and the
// read-outs equal those of the request alone. The interleaving depends on timing; a run that
// happens not to interleave passes either way.
TEST(LocalEngineTest, RewardReadoutsComeOnceEachWhenAScoreIsPrefilledAgain) {
  const std::string folder = ::testing::TempDir() + "/serving_prm_refill";
  testing::RandomModelSpec spec;
  spec.reward_labels = 2;
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  LocalEngineOptions options;
  options.model_path = folder;
  options.device = Device::kCpu;
  options.threads = 2;
  auto roomy = LocalEngine::Create(options);
  ASSERT_TRUE(roomy.ok()) << roomy.status();
  options.kv_budget_bytes =
      20 * ((*roomy)->Info().kv_budget_bytes / (*roomy)->Stats().kv_blocks_total);
  options.max_batch_tokens = 4;
  auto tight = LocalEngine::Create(options);
  ASSERT_TRUE(tight.ok()) << tight.status();
  ScoreRequest score;
  score.prefix_tokens = Prompt(120, 3);
  score.continuation_tokens = {50, 60, 70};
  for (int64_t p = 2; p < 120; p += 5) score.reward_positions.push_back(p);
  auto alone = (*roomy)->Score(score);
  ASSERT_TRUE(alone.ok()) << alone.status();
  ASSERT_EQ(alone->rewards.size(), score.reward_positions.size());
  for (int trial = 0; trial < 6; ++trial) {
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    GenerateRequest generate = Request(Prompt(10 + trial, trial), 1, 140, trial);
    absl::StatusOr<GenerateResult> generated = absl::UnknownError("");
    std::thread caller([&] { generated = (*tight)->Generate(generate); });
    std::this_thread::sleep_for(std::chrono::microseconds(200 * trial));
    auto scored = (*tight)->Score(score);
    caller.join();
    ASSERT_TRUE(generated.ok()) << generated.status();
    ASSERT_TRUE(scored.ok()) << scored.status();
    ASSERT_EQ(scored->rewards.size(), alone->rewards.size());
    for (size_t i = 0; i < scored->rewards.size(); ++i) {
      EXPECT_EQ(scored->rewards[i].position, alone->rewards[i].position);
      EXPECT_EQ(scored->rewards[i].logits, alone->rewards[i].logits);
    }
    EXPECT_EQ(scored->continuation_logprobs, alone->continuation_logprobs);
  }
}

// A random model in `folder` whose tokenizer_config.json has `chat_template` (none for null).
absl::StatusOr<std::unique_ptr<LocalEngine>> EngineWithChatTemplate(
    const std::string& folder, uint64_t seed, const nlohmann::json& chat_template) {
  testing::RandomModelSpec spec;
  spec.seed = seed;
  if (absl::Status written = testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder);
      !written.ok()) {
    return written;
  }
  nlohmann::json config;
  std::ifstream(folder + "/tokenizer_config.json") >> config;
  if (chat_template.is_null()) {
    config.erase("chat_template");
  } else {
    config["chat_template"] = chat_template;
  }
  std::ofstream(folder + "/tokenizer_config.json", std::ios::trunc) << config.dump();
  LocalEngineOptions options;
  options.model_path = folder;
  options.threads = 1;
  return LocalEngine::Create(options);
}

// A chat prompt for a model whose template is missing is in the raw format; generate --chat,
// solve, bench and ponderd all render here, and the user is told once, naming the model. It
// used to happen without a word. A model with a template it formats says nothing.
TEST(LocalEngineTest, ChatPromptsWithoutATemplateWarnOnceNamingTheModel) {
  const std::string folder = ::testing::TempDir() + "/serving_model_without_template";
  auto engine = EngineWithChatTemplate(folder, 21, nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();

  ::testing::internal::CaptureStderr();
  EXPECT_EQ(*(*engine)->ApplyChatTemplate({{"system", "S"}, {"user", "Q"}}, true), "S\n\nQ");
  EXPECT_TRUE((*engine)->ApplyChatTemplate({{"user", "Q"}}, true).ok());
  const std::string warned = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(warned, HasSubstr(folder));
  EXPECT_THAT(warned, HasSubstr("has no chat template"));
  EXPECT_THAT(warned, HasSubstr("raw format"));
  EXPECT_EQ(warned.find("raw format"), warned.rfind("raw format")) << "once per model";

  auto with_template = MakeEngine();
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(with_template->ApplyChatTemplate({{"user", "Q"}}, true).ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// A ChatML template whose generation prompt Ponder does not read gives prompts ending with the
// plain assistant header; the user is told once, naming the model. It used to be a guess made
// without a word.
TEST(LocalEngineTest, ChatPromptsWithAnUnreadGenerationPromptWarnOnceNamingTheModel) {
  const std::string folder = ::testing::TempDir() + "/serving_model_unread_generation_prompt";
  auto engine = EngineWithChatTemplate(
      folder, 22,
      "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content "
      "+ '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
      "{{- '<|im_start|>assistant\\n' + think_open }}{%- endif %}");
  ASSERT_TRUE(engine.ok()) << engine.status();

  ::testing::internal::CaptureStderr();
  EXPECT_EQ(*(*engine)->ApplyChatTemplate({{"user", "Q"}}, true),
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_TRUE((*engine)->ApplyChatTemplate({{"user", "Q"}}, true).ok());
  const std::string warned = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(warned, HasSubstr(folder));
  EXPECT_THAT(warned, HasSubstr("generation prompt"));
  EXPECT_EQ(warned.find("generation prompt"), warned.rfind("generation prompt"))
      << "once per model";
}

TEST(LocalEngineTest, InvalidRequestsNameTheProblem) {
  auto engine = MakeEngine();
  GenerateRequest bad = Request({1, 2, 100000}, 1, 5);
  EXPECT_THAT(std::string(engine->Generate(bad).status().message()), HasSubstr("token 100000"));
  GenerateRequest zero_n = Request(Prompt(5, 1), 0, 5);
  EXPECT_THAT(std::string(engine->Generate(zero_n).status().message()), HasSubstr("n must be"));
  // A whole budget of the largest size strategies accept is one request (it was refused above
  // 1024 while strategies accepted 4096).
  GenerateRequest largest = Request(Prompt(5, 1), kMaxCompletions, 1);
  absl::StatusOr<GenerateResult> drawn = engine->Generate(largest);
  ASSERT_TRUE(drawn.ok()) << drawn.status();
  EXPECT_EQ(drawn->completions.size(), static_cast<size_t>(kMaxCompletions));
  GenerateRequest too_many = Request(Prompt(5, 1), kMaxCompletions + 1, 1);
  EXPECT_THAT(std::string(engine->Generate(too_many).status().message()),
              HasSubstr("n must be in [1, 4096], got 4097"));
  GenerateRequest bad_top_p = Request(Prompt(5, 1), 1, 5);
  bad_top_p.sampling.top_p = 0;
  EXPECT_THAT(std::string(engine->Generate(bad_top_p).status().message()), HasSubstr("top_p"));
}

}  // namespace
}  // namespace ponder::engine
