// Every strategy end to end on the real engine with a small random model: it runs, respects
// its budget, is reproducible with a seed, and stops cleanly when cancelled. (Random models
// write noise, so answers are mostly absent; the logic is tested in strategies_test.cc.)
#include <gtest/gtest.h>

#include <thread>

#include "engine/local_engine.h"
#include "engine/testing/random_model.h"
#include "samplers/strategy.h"
#include "verifiers/reward_model_verifier.h"
#include "verifiers/verifier.h"

namespace ponder::samplers {
namespace {

engine::LocalEngine* RandomPolicy(const std::string& name, int64_t max_context) {
  std::string path = ::testing::TempDir() + "/" + name + ".gguf";
  engine::testing::RandomModelSpec spec;
  spec.seed = 5;
  spec.max_context = max_context;
  EXPECT_TRUE(engine::testing::WriteRandomGgufModel(spec, engine::DType::kF16, path).ok());
  engine::LocalEngineOptions options;
  options.model_path = path;
  options.threads = 2;
  return engine::LocalEngine::Create(options)->release();
}

engine::LocalEngine& Policy() {
  static engine::LocalEngine* engine = RandomPolicy("samplers_policy", 1024);
  return *engine;
}

class Models : public verifiers::VerifierModels {
 public:
  engine::Engine* policy() override { return &Policy(); }
  // "prm": a random PRM; "short-prm": the same with a 256-token context; "other-prm": the same
  // weights as "prm" in an engine of its own (its own prefix cache).
  absl::StatusOr<engine::Engine*> RewardModel(std::string_view name) override {
    static engine::LocalEngine* prm = RandomPrm("samplers_prm", 1024);
    static engine::LocalEngine* short_prm = RandomPrm("samplers_short_prm", 256);
    static engine::LocalEngine* other_prm = RandomPrm("samplers_other_prm", 1024);
    if (name == "short-prm") return short_prm;
    return name == "other-prm" ? other_prm : prm;
  }

 private:
  static engine::LocalEngine* RandomPrm(const std::string& name, int64_t max_context) {
    std::string folder = ::testing::TempDir() + "/" + name;
    engine::testing::RandomModelSpec spec;
    spec.reward_labels = 2;
    spec.max_context = max_context;
    EXPECT_TRUE(
        engine::testing::WriteRandomHuggingFaceModel(spec, engine::DType::kF32, folder).ok());
    engine::LocalEngineOptions options;
    options.model_path = folder;
    options.threads = 2;
    return engine::LocalEngine::Create(options)->release();
  }
};

v1::StrategyConfig Config(const std::string& kind) {
  v1::StrategyConfig config;
  if (kind == "bon") config.mutable_best_of_n();
  if (kind == "wbon") config.mutable_weighted_best_of_n();
  if (kind == "sc") config.mutable_self_consistency();
  if (kind == "asc") config.mutable_adaptive_self_consistency();
  if (kind == "rpc") config.mutable_rpc();
  if (kind == "ppl") config.mutable_perplexity();
  if (kind == "beam") config.mutable_beam_search()->set_beam_width(2);
  if (kind == "dvts") config.mutable_dvts()->set_beam_width(2);
  if (kind == "pf") config.mutable_particle_filter();
  if (kind == "pg") config.mutable_particle_filter()->set_gibbs_iterations(2);
  config.mutable_verifier()->mutable_arithmetic();
  config.mutable_sampling()->set_max_tokens(24);
  config.mutable_steps()->set_max_steps(3);
  config.mutable_steps()->set_max_step_tokens(8);
  config.mutable_steps()->set_delimiter("e");  // frequent in noise text, so steps end early
  return config;
}

absl::StatusOr<v1::SolveResult> Solve(const v1::StrategyConfig& config, int n, uint64_t seed,
                                      const engine::CancellationToken* cancel = nullptr,
                                      engine::Engine* policy = &Policy()) {
  Models models;
  SolveContext context;
  context.policy = policy;
  context.config = config;
  context.budget.set_n(n);
  context.seed = seed;
  context.cancel = cancel;
  auto verifier = verifiers::MakeVerifier(config.verifier(), models);
  if (!verifier.ok()) return verifier.status();
  context.verifier = verifier->get();
  if (absl::Status status = ValidateStrategy(config, context.budget); !status.ok()) return status;
  auto strategy = MakeStrategy(config);
  ProblemInput problem{"2 + 3?", {5, 17, 99, 3, 250, 64}, verifiers::AnswerFormat::kMath};
  return (*strategy)->Solve(problem, context);
}

class EveryStrategy : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryStrategy, RunsWithinBudgetAndIsReproducible) {
  v1::StrategyConfig config = Config(GetParam());
  auto a = Solve(config, 4, 11);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = Solve(config, 4, 11);
  ASSERT_TRUE(b.ok());
  EXPECT_GE(a->candidates_size(), 1);
  EXPECT_LE(a->candidates_size(), 4);
  for (const auto& c : a->candidates()) EXPECT_LE(c.num_tokens(), 24);
  EXPECT_GT(a->usage().generated_tokens(), 0);
  // A step-level search of N partial solutions generates at most N full solutions' tokens
  // plus its discarded expansions (M per survivor per step).
  EXPECT_LE(a->usage().generated_tokens(), 4 * 2 * 24);
  ASSERT_EQ(a->candidates_size(), b->candidates_size());
  for (int i = 0; i < a->candidates_size(); ++i)
    EXPECT_EQ(a->candidates(i).text(), b->candidates(i).text());
  EXPECT_EQ(a->selected_candidate(), b->selected_candidate());
  EXPECT_EQ(a->trace_size(), b->trace_size());
}

INSTANTIATE_TEST_SUITE_P(Strategies, EveryStrategy,
                         ::testing::Values("bon", "wbon", "sc", "asc", "rpc", "ppl", "beam", "dvts",
                                           "pf", "pg"));

// DVTS with lookahead on the real engine: the rollouts cost tokens (greedy steps beyond each
// candidate) but add no trace steps, the candidates stay within max_tokens, and the same seed
// gives the same result.
TEST(StrategyIntegrationTest, DvtsLookaheadRollsOutOnTheEngine) {
  v1::StrategyConfig config = Config("dvts");
  auto plain = Solve(config, 4, 11);
  ASSERT_TRUE(plain.ok()) << plain.status();
  config.mutable_dvts()->set_lookahead(2);
  auto a = Solve(config, 4, 11);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = Solve(config, 4, 11);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->candidates_size(), 4);
  for (const auto& c : a->candidates()) EXPECT_LE(c.num_tokens(), 24);
  // Every trace step is a candidate step: 2 subtrees x 2 candidates per iteration, at most 3
  // iterations, each node a child of a kept node (or of the prompt).
  EXPECT_LE(a->trace_size(), 3 * 4);
  for (const auto& node : a->trace()) {
    if (node.parent() >= 0) {
      EXPECT_TRUE(a->trace(node.parent()).kept()) << node.node();
    }
    EXPECT_TRUE(node.has_reward()) << node.node();
  }
  EXPECT_GT(a->usage().generated_tokens(), plain->usage().generated_tokens());
  ASSERT_EQ(a->candidates_size(), b->candidates_size());
  for (int i = 0; i < a->candidates_size(); ++i)
    EXPECT_EQ(a->candidates(i).text(), b->candidates(i).text());
  EXPECT_EQ(a->selected_candidate(), b->selected_candidate());
}

TEST(StrategyIntegrationTest, ProcessRewardModelGuidesParticleFiltering) {
  v1::StrategyConfig config = Config("pf");
  auto* prm = config.mutable_verifier()->mutable_prm();
  prm->set_model("prm");
  prm->set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  auto result = Solve(config, 4, 3);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->usage().verifier_tokens(), 0);
  for (const auto& node : result->trace()) {
    ASSERT_TRUE(node.has_reward());
    EXPECT_GE(node.reward(), 0.0);
    EXPECT_LE(node.reward(), 1.0);
  }
}

// The self-evaluation prompt is filled in one pass: every placeholder, and nothing that came in
// with the problem (a problem holding "{solution}" had the solution put into it, and a second
// "{problem}" reached the model as is).
TEST(StrategyIntegrationTest, SelfEvaluationFillsEveryPlaceholderAndOnlyThePrompts) {
  Models models;
  v1::VerifierConfig config;
  config.mutable_self_evaluation()->set_prompt("{problem} | {solution} | {problem}");
  auto verifier = verifiers::MakeVerifier(config, models);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string problem = "What is {solution} plus 2?";
  std::vector<verifiers::Solution> solutions = {{.steps = {"2 + 2 = 4"}, .complete = true}};
  auto scored = (*verifier)->Score(problem, solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  auto text = Policy().ApplyChatTemplate({{"user", problem + " | 2 + 2 = 4 | " + problem}}, true);
  ASSERT_TRUE(text.ok()) << text.status();
  auto tokens = Policy().Tokenize(*text, false);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(scored->tokens_processed, static_cast<int64_t>(tokens->size()));
}

// A Qwen2.5-Math-PRM-format verifier on the random reward model `name` of Models.
absl::StatusOr<std::unique_ptr<verifiers::Verifier>> QwenPrm(std::string_view name) {
  Models models;
  absl::StatusOr<engine::Engine*> prm = models.RewardModel(name);
  if (!prm.ok()) return prm.status();
  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  return verifiers::MakeProcessRewardModelVerifier(config, *prm);
}

// The Math-Shepherd and RLHFlow formats on the real engine (their token choices on real
// vocabularies: reward_model_formats_test.cc): one score per step, each the engine's
// P(+) / (P(+) + P(-)) where the format reads it. Math-Shepherd's default tag has no token of its
// own in the random model's byte-level vocabulary (refused, naming the field); a special token
// serves.
TEST(StrategyIntegrationTest, MathShepherdAndRlhflowScoreEveryStepOnTheRealEngine) {
  Models models;
  engine::Engine* prm = *models.RewardModel("prm");
  const std::string problem = "What is 2 + 2?";
  std::vector<verifiers::Solution> solutions = {
      {.steps = {"2 + 2 = 4", "So it is 4.", "The answer is 4."}, .complete = true}};
  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_MATH_SHEPHERD);
  auto refused = verifiers::MakeProcessRewardModelVerifier(config, prm);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("verifier.prm.step_tag"), std::string::npos);
  config.set_step_tag("<extra_0>");
  auto shepherd = verifiers::MakeProcessRewardModelVerifier(config, prm);
  ASSERT_TRUE(shepherd.ok()) << shepherd.status();
  auto scored = (*shepherd)->Score(problem, solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  // The model card's input, read at each tag by the engine directly.
  engine::ScoreRequest request;
  request.prefix_tokens =
      *prm->Tokenize(problem +
                         " 2 + 2 = 4 <extra_0>\nSo it is 4. <extra_0>\nThe answer is 4. "
                         "<extra_0>",
                     true);
  const int32_t tag = *prm->TokenId("<extra_0>");
  for (size_t i = 0; i < request.prefix_tokens.size(); ++i) {
    if (request.prefix_tokens[i] == tag) request.pair_positions.push_back(i);
  }
  request.pair_token_a = prm->Tokenize("a +", false)->back();
  request.pair_token_b = prm->Tokenize("a -", false)->back();
  auto direct = prm->Score(request);
  ASSERT_TRUE(direct.ok()) << direct.status();
  ASSERT_EQ(direct->pair_probabilities.size(), 3u);
  ASSERT_EQ(scored->scores[0].step_scores.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(scored->scores[0].step_scores[k], direct->pair_probabilities[k], 1e-6) << k;
  }

  config.Clear();
  config.set_format(v1::ProcessRewardModel::FORMAT_RLHFLOW);
  auto rlhflow = verifiers::MakeProcessRewardModelVerifier(config, prm);
  ASSERT_TRUE(rlhflow.ok()) << rlhflow.status();
  scored = (*rlhflow)->Score(problem, solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->scores[0].step_scores.size(), 3u);
  for (double score : scored->scores[0].step_scores) {
    EXPECT_GT(score, 0.0);
    EXPECT_LT(score, 1.0);
  }
}

// A problem that holds the step tag gets no read-outs of its own: one score per step (it had
// one more per tag in the problem, which a product over steps then counted). A tag inside the
// solution is read, as the reference reads every tag.
TEST(StrategyIntegrationTest, StepTagsInTheProblemAreNotReadAsSteps) {
  auto verifier = QwenPrm("prm");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  std::vector<verifiers::Solution> solutions = {
      {.steps = {"2 + 2 = 4", "The answer is 4."}, .complete = true}};
  for (const char* problem :
       {"What is 2 + 2?", "What is 2 + 2? <extra_0><extra_0><extra_0>", "<extra_0>"}) {
    auto scored = (*verifier)->Score(problem, solutions, {});
    ASSERT_TRUE(scored.ok()) << scored.status();
    EXPECT_EQ(scored->scores[0].step_scores.size(), 2u) << problem;
  }
  std::vector<verifiers::Solution> tagged = {
      {.steps = {"2 + 2 = 4 <extra_0> so", "The answer is 4."}, .complete = true}};
  auto scored = (*verifier)->Score("What is 2 + 2? <extra_0>", tagged, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(scored->scores[0].step_scores.size(), 3u);
}

// A step-level search scores every partial again with one more step. The verifier keeps what it
// read (a causal model's read-out depends on the tokens up to it) and reads the new step alone;
// a verifier that keeps nothing reads from the first step, and the engine's prefix cache serves
// a score request only up to its first read, so the whole partial is computed every time. The
// scores are the same either way.
TEST(StrategyIntegrationTest, ScoringAGrowingPartialReadsEachStepOnce) {
  // Two engines of the same weights, so that neither way warms the other's cache.
  auto kept = QwenPrm("prm");  // one verifier for the whole search, as a solve has
  ASSERT_TRUE(kept.ok());
  std::vector<std::string> steps;
  for (int k = 0; k < 12; ++k) steps.push_back(absl::StrCat(k, " + ", k, " = ", 2 * k, "."));
  const std::string problem = "Tara has 67 stamps. She gives away 39. How many are left?";
  int64_t kept_tokens = 0, fresh_tokens = 0;
  for (size_t k = 1; k <= steps.size(); ++k) {
    std::vector<verifiers::Solution> partial = {
        {.steps = {steps.begin(), steps.begin() + k}, .complete = k == steps.size()}};
    auto scored = (*kept)->Score(problem, partial, {});
    auto fresh_verifier = QwenPrm("other-prm");  // keeps nothing: reads every step
    ASSERT_TRUE(fresh_verifier.ok());
    auto fresh = (*fresh_verifier)->Score(problem, partial, {});
    ASSERT_TRUE(scored.ok() && fresh.ok());
    ASSERT_EQ(scored->scores[0].step_scores.size(), k);
    ASSERT_EQ(fresh->scores[0].step_scores.size(), k);
    for (size_t step = 0; step < k; ++step) {
      EXPECT_NEAR(scored->scores[0].step_scores[step], fresh->scores[0].step_scores[step], 1e-6);
    }
    EXPECT_NEAR(scored->scores[0].aggregate, fresh->scores[0].aggregate, 1e-6);
    kept_tokens += scored->tokens_processed;
    fresh_tokens += fresh->tokens_processed;
  }
  EXPECT_LT(kept_tokens * 2, fresh_tokens) << kept_tokens << " vs " << fresh_tokens;
  // Scoring a partial whose steps are all known sends nothing to the model.
  std::vector<verifiers::Solution> whole = {{.steps = steps, .complete = true}};
  auto again = (*kept)->Score(problem, whole, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->tokens_processed, 0);
  EXPECT_EQ(again->scores[0].step_scores.size(), steps.size());
}

// An engine of the model at `path` whose KV budget holds `blocks` blocks of 8 tokens (the
// default block size), far less than its context.
std::unique_ptr<engine::LocalEngine> EngineWithKvBlocks(const std::string& path, int blocks) {
  engine::LocalEngineOptions options;
  options.model_path = path;
  options.threads = 2;
  auto roomy = engine::LocalEngine::Create(options);
  EXPECT_TRUE(roomy.ok()) << roomy.status();
  if (!roomy.ok()) return nullptr;
  const engine::ModelInfo info = (*roomy)->Info();
  options.kv_budget_bytes = info.kv_budget_bytes / (info.kv_capacity_tokens / 8) * blocks;
  auto small = engine::LocalEngine::Create(options);
  EXPECT_TRUE(small.ok()) << small.status();
  if (!small.ok()) return nullptr;
  EXPECT_EQ((*small)->Info().kv_capacity_tokens, 8 * blocks);
  return std::move(*small);
}

// A policy whose KV budget holds less than its context: completions stop where it is full and
// the step-level searches grow their partial solutions up to there, as at the context (a beam
// search died in its second round: "a sequence of 182 tokens needs 23 KV blocks"; best-of-N
// failed at once).
TEST(StrategyIntegrationTest, StrategiesStopAtThePolicysKvBudget) {
  const std::string path = ::testing::TempDir() + "/samplers_small_kv_policy.gguf";
  engine::testing::RandomModelSpec spec;
  spec.seed = 5;
  ASSERT_TRUE(engine::testing::WriteRandomGgufModel(spec, engine::DType::kF16, path).ok());
  std::unique_ptr<engine::LocalEngine> small = EngineWithKvBlocks(path, 5);
  ASSERT_NE(small, nullptr);
  ASSERT_EQ(small->Info().usable_context(), 40);
  bool reached = false;
  for (const char* kind : {"bon", "sc", "beam", "dvts", "pf", "pg"}) {
    v1::StrategyConfig config = Config(kind);
    config.mutable_sampling()->set_max_tokens(200);
    config.mutable_steps()->set_max_steps(12);
    auto result = Solve(config, 4, 3, nullptr, small.get());
    ASSERT_TRUE(result.ok()) << kind << ": " << result.status();
    for (const v1::Candidate& c : result->candidates()) {
      EXPECT_LE(6 + c.num_tokens(), 40) << kind;  // the prompt's 6 tokens and the solution
      reached |= 6 + c.num_tokens() == 40;
    }
  }
  EXPECT_TRUE(reached);  // some solution ran into the budget
}

// A reward model whose KV budget holds less than its context: an input longer than the budget
// is scored as over the context, as one longer than the context is (QA: a PRM-guided beam
// search failed after 8 steps when a partial outgrew the PRM's KV budget).
TEST(StrategyIntegrationTest, InputsLongerThanTheRewardModelsKvBudgetScoreZero) {
  const std::string folder = ::testing::TempDir() + "/samplers_small_kv_prm";
  engine::testing::RandomModelSpec spec;
  spec.reward_labels = 2;
  ASSERT_TRUE(engine::testing::WriteRandomHuggingFaceModel(spec, engine::DType::kF32, folder).ok());
  std::unique_ptr<engine::LocalEngine> small = EngineWithKvBlocks(folder, 12);  // 96 tokens
  ASSERT_NE(small, nullptr);
  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  auto verifier = verifiers::MakeProcessRewardModelVerifier(config, small.get());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  std::vector<verifiers::Solution> solutions = {
      {.steps = {"2 + 2 = 4"}, .complete = true},
      {.steps = {std::string(200, 'x'), "The answer is 4."}, .complete = true}};
  auto scored = (*verifier)->Score("What is 2 + 2?", solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_FALSE(scored->scores[0].over_context);
  EXPECT_EQ(scored->scores[0].step_scores.size(), 1u);
  EXPECT_TRUE(scored->scores[1].over_context);
  EXPECT_EQ(scored->scores[1].aggregate, 0.0);
}

// A solution whose PRM input is longer than the PRM's context scores 0 (and is counted); the
// others are scored as usual. Before, one such solution failed the whole run.
TEST(StrategyIntegrationTest, SolutionsLongerThanTheRewardModelsContextScoreZero) {
  auto verifier = QwenPrm("short-prm");
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  std::vector<verifiers::Solution> solutions = {
      {.steps = {"2 + 2 = 4", "The answer is 4."}, .complete = true},
      {.steps = {std::string(600, 'x'), "The answer is 4."}, .complete = true},
      {.steps = {"2 + 2 = 5"}, .complete = false}};
  auto scored = (*verifier)->Score("What is 2 + 2?", solutions, {});
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->scores.size(), 3u);
  EXPECT_FALSE(scored->scores[0].over_context);
  EXPECT_EQ(scored->scores[0].step_scores.size(), 2u);
  EXPECT_GT(scored->scores[0].aggregate, 0.0);
  EXPECT_TRUE(scored->scores[1].over_context);
  EXPECT_TRUE(scored->scores[1].step_scores.empty());
  EXPECT_EQ(scored->scores[1].aggregate, 0.0);
  EXPECT_FALSE(scored->scores[2].over_context);
  EXPECT_EQ(scored->scores[2].step_scores.size(), 1u);

  // Inside a weighted verifier the flag is kept (the part scores 0, the others count).
  v1::VerifierConfig weighted;
  auto* prm_part = weighted.mutable_weighted()->add_parts();
  prm_part->mutable_verifier()->mutable_prm()->set_format(
      v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  prm_part->mutable_verifier()->mutable_prm()->set_model("short-prm");
  prm_part->set_weight(1);
  auto* checker_part = weighted.mutable_weighted()->add_parts();
  checker_part->mutable_verifier()->mutable_arithmetic();
  checker_part->set_weight(1);
  Models models;
  auto combined = verifiers::MakeVerifier(weighted, models);
  ASSERT_TRUE(combined.ok()) << combined.status();
  auto combined_scores = (*combined)->Score("What is 2 + 2?", solutions, {});
  ASSERT_TRUE(combined_scores.ok()) << combined_scores.status();
  EXPECT_FALSE(combined_scores->scores[0].over_context);
  EXPECT_TRUE(combined_scores->scores[1].over_context);

  // Through a search: particles that outgrow the PRM's context are weighted by reward 0.
  v1::StrategyConfig pf = Config("pf");
  pf.mutable_verifier()->mutable_prm()->set_model("short-prm");
  pf.mutable_verifier()->mutable_prm()->set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  pf.mutable_steps()->set_max_step_tokens(64);
  pf.mutable_steps()->set_delimiter("\n\n");  // rare in noise: long steps
  pf.mutable_sampling()->set_max_tokens(200);
  auto result = Solve(pf, 4, 3);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->diagnostics().contains("verifier_over_context"));
  EXPECT_GT(result->diagnostics().at("verifier_over_context"), 0);
  bool zero_reward = false;
  for (const auto& node : result->trace()) zero_reward |= node.has_reward() && node.reward() == 0.0;
  EXPECT_TRUE(zero_reward);
}

// Found by fuzzing the server: a step-level search whose partial solutions filled the policy's
// context asked the engine to extend them, and the engine refused the over-long prompt, failing
// the whole solve. A partial that fills the context is finished, as the engine stopped it.
TEST(StrategyIntegrationTest, StepSearchesStopPartialsThatFillTheContext) {
  static engine::LocalEngine* short_policy = RandomPolicy("samplers_short_policy", 40);
  for (const char* kind : {"beam", "dvts", "pf"}) {
    SCOPED_TRACE(kind);
    v1::StrategyConfig config = Config(kind);
    config.mutable_sampling()->set_max_tokens(200);
    config.mutable_steps()->set_max_steps(100);
    auto result = Solve(config, 4, 2, nullptr, short_policy);
    ASSERT_TRUE(result.ok()) << result.status();
    bool filled = false;
    for (const auto& candidate : result->candidates()) {
      EXPECT_LE(6 + candidate.num_tokens(), 40);  // the prompt is 6 tokens
      filled |= 6 + candidate.num_tokens() == 40;
    }
    EXPECT_TRUE(filled);
  }
}

TEST(StrategyIntegrationTest, CancellationStopsALongSearch) {
  v1::StrategyConfig config = Config("sc");
  config.mutable_sampling()->set_max_tokens(1000);  // 16 x 1000 tokens: far longer than the wait
  engine::CancellationToken cancel;
  absl::StatusOr<v1::SolveResult> result = absl::UnknownError("");
  std::thread solver([&] { result = Solve(config, 16, 1, &cancel); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  cancel.Cancel();
  solver.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Policy().Stats().kv_blocks_used, 0);
}

}  // namespace
}  // namespace ponder::samplers
