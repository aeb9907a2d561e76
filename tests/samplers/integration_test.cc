// Every strategy end to end on the real engine with a small random model: it runs, respects
// its budget, is reproducible with a seed, and stops cleanly when cancelled. (Random models
// write noise, so answers are mostly absent; the logic is tested in strategies_test.cc.)
#include <gtest/gtest.h>

#include <thread>

#include "engine/local_engine.h"
#include "engine/testing/random_model.h"
#include "samplers/strategy.h"
#include "verifiers/verifier.h"

namespace ponder::samplers {
namespace {

engine::LocalEngine& Policy() {
  static engine::LocalEngine* engine = [] {
    std::string path = ::testing::TempDir() + "/samplers_policy.gguf";
    engine::testing::RandomModelSpec spec;
    spec.seed = 5;
    EXPECT_TRUE(engine::testing::WriteRandomGgufModel(spec, engine::DType::kF16, path).ok());
    engine::LocalEngineOptions options;
    options.model_path = path;
    options.threads = 2;
    return engine::LocalEngine::Create(options)->release();
  }();
  return *engine;
}

class Models : public verifiers::VerifierModels {
 public:
  engine::Engine* policy() override { return &Policy(); }
  absl::StatusOr<engine::Engine*> RewardModel(std::string_view) override {
    static engine::LocalEngine* prm = [] {
      std::string folder = ::testing::TempDir() + "/samplers_prm";
      engine::testing::RandomModelSpec spec;
      spec.reward_labels = 2;
      EXPECT_TRUE(
          engine::testing::WriteRandomHuggingFaceModel(spec, engine::DType::kF32, folder).ok());
      engine::LocalEngineOptions options;
      options.model_path = folder;
      options.threads = 2;
      return engine::LocalEngine::Create(options)->release();
    }();
    return prm;
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
                                      const engine::CancellationToken* cancel = nullptr) {
  Models models;
  SolveContext context;
  context.policy = &Policy();
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
