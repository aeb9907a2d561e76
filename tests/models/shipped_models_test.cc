// The models the project ships in models/ (trained by tools/train/train_all.sh): the Hugging
// Face folders and the GGUF files made from them load in the engine and are the same models, the
// tokenizer round-trips the built-in task's text, the policy answers test problems with
// well-formed solutions (through the engine and through `ponder generate --chat`), and the
// process reward model prefers correct solutions to corrupted ones. Every test skips when the
// model files are absent.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/mapped_file.h"
#include "datasets/arith_task.h"
#include "engine/local_engine.h"
#include "engine/transformer/reference_transformer.h"
#include "engine/transformer/weights.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "ponder/v1/strategy.pb.h"
#include "verifiers/arithmetic_step_checker.h"
#include "verifiers/reward_model_verifier.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// PONDER_MODELS_DIR overrides the folder (to check freshly trained models before replacing).
const std::string kModels = std::getenv("PONDER_MODELS_DIR") ? std::getenv("PONDER_MODELS_DIR")
                                                             : PONDER_SOURCE_DIR "/models";
const std::string kPolicyFolder = kModels + "/arith-policy";
const std::string kPolicyGguf = kModels + "/arith-policy.gguf";
const std::string kPrmFolder = kModels + "/arith-prm";
const std::string kPrmGguf = kModels + "/arith-prm.gguf";
// The system prompt of Qwen2.5-Math (and of the PRM's input); the policy was trained with and
// without it.
constexpr char kSystemPrompt[] =
    "Please reason step by step, and put your final answer within \\boxed{}.";

// Both files hold the same f16 values. The GGUF `llama` layout permutes the rows of the Q and K
// projections and pairs RoPE dimensions to match, which only reorders float sums: the logits
// agree to a few ulps of their magnitude (about 1e-6 here).
constexpr double kLogitTolerance = 1e-4;
constexpr double kRewardTolerance = 1e-5;
// Room for the longest solutions the policy was trained on (about 280 tokens: five steps, each
// split; tools/train/train.py SAMPLE_TOKENS).
constexpr int kMaxSolutionTokens = 320;

bool HaveFiles(std::initializer_list<std::string> paths) {
  return std::all_of(paths.begin(), paths.end(),
                     [](const std::string& p) { return fs::exists(p); });
}

#define SKIP_WITHOUT(...)                                                 \
  if (!HaveFiles({__VA_ARGS__})) {                                        \
    GTEST_SKIP() << "the shipped model files are absent from " << kModels \
                 << " (regenerate them with tools/train/train_all.sh)";   \
  }

std::unique_ptr<engine::LocalEngine> Engine(const std::string& path) {
  engine::LocalEngineOptions options;
  options.model_path = path;
  options.threads = 2;
  absl::StatusOr<std::unique_ptr<engine::LocalEngine>> engine =
      engine::LocalEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

std::unique_ptr<engine::ModelWeights> Weights(const std::string& path) {
  absl::StatusOr<std::unique_ptr<engine::ModelWeights>> weights = engine::ModelWeights::Load(path);
  EXPECT_TRUE(weights.ok()) << weights.status();
  return weights.ok() ? *std::move(weights) : nullptr;
}

// Held-out problems from the test split (the benchmark's problems start at seed 0).
std::vector<datasets::ArithProblem> TestProblems(int count) {
  absl::StatusOr<std::vector<datasets::ArithProblem>> problems =
      datasets::GenerateArithProblems(datasets::ArithSplit::kTest, 0, count, 0);
  EXPECT_TRUE(problems.ok()) << problems.status();
  return problems.ok() ? *std::move(problems) : std::vector<datasets::ArithProblem>();
}

std::string ChatPrompt(const engine::Engine& engine, const std::string& problem) {
  absl::StatusOr<std::string> prompt =
      engine.ApplyChatTemplate({{"system", kSystemPrompt}, {"user", problem}}, true);
  EXPECT_TRUE(prompt.ok()) << prompt.status();
  return prompt.value_or("");
}

// The chat prompt as tokens, without a second BOS (GenerateRequest::prompt_text would add the
// tokenizer's BOS where its family has one; the template writes its own).
std::vector<int32_t> ChatPromptTokens(const engine::Engine& engine, const std::string& problem) {
  absl::StatusOr<std::vector<int32_t>> tokens = engine.Tokenize(ChatPrompt(engine, problem), false);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.value_or(std::vector<int32_t>());
}

// The \boxed{...} content of the last "The answer is \boxed{N}." in `text`, or "".
std::string BoxedAnswer(const std::string& text) {
  const size_t at = text.rfind("\\boxed{");
  if (at == std::string::npos) return "";
  const size_t end = text.find('}', at);
  return end == std::string::npos ? "" : text.substr(at + 7, end - at - 7);
}

// A solution as the task writes it: paragraphs separated by a blank line, each with an
// equation, the last one ending with the boxed answer.
void ExpectWellFormed(const std::string& solution) {
  std::vector<std::string> steps = absl::StrSplit(solution, "\n\n", absl::SkipEmpty());
  ASSERT_FALSE(steps.empty()) << solution;
  // Up to 5 steps, each + or - step possibly written in two paragraphs and each * step in three
  // (tools/train/arith_data.py).
  ASSERT_LE(steps.size(), 15u) << solution;
  for (const std::string& step : steps) {
    EXPECT_FALSE(verifiers::CheckArithmetic(step).empty()) << "no equation in: " << step;
  }
  EXPECT_THAT(steps.back(), HasSubstr("The answer is \\boxed{")) << solution;
  EXPECT_FALSE(BoxedAnswer(solution).empty()) << solution;
}

TEST(ShippedModelsTest, PolicyFolderAndGgufGiveTheSameLogits) {
  SKIP_WITHOUT(kPolicyFolder, kPolicyGguf);
  auto folder = Weights(kPolicyFolder), gguf = Weights(kPolicyGguf);
  auto engine = Engine(kPolicyFolder);
  ASSERT_TRUE(folder && gguf && engine);
  EXPECT_EQ(folder->DTypeSummary(), "f16");
  EXPECT_EQ(gguf->DTypeSummary(), "f16");
  const datasets::ArithProblem problem = TestProblems(1).at(0);
  absl::StatusOr<std::vector<int32_t>> tokens =
      engine->Tokenize(ChatPrompt(*engine, problem.problem) + problem.solution, false);
  ASSERT_TRUE(tokens.ok());
  const auto a = engine::ReferenceLogits(*folder, *tokens);
  const auto b = engine::ReferenceLogits(*gguf, *tokens);
  ASSERT_EQ(a.size(), b.size());
  double max_difference = 0;
  int argmax_disagreements = 0;
  for (size_t position = 0; position < a.size(); ++position) {
    for (size_t v = 0; v < a[position].size(); ++v) {
      max_difference = std::max(max_difference, std::fabs(double(a[position][v]) - b[position][v]));
    }
    auto argmax = [](const std::vector<float>& row) {
      return std::max_element(row.begin(), row.end()) - row.begin();
    };
    argmax_disagreements += argmax(a[position]) != argmax(b[position]);
  }
  EXPECT_LE(max_difference, kLogitTolerance);
  EXPECT_EQ(argmax_disagreements, 0);
  std::printf("  %zu positions: max |logit difference| %.3g\n", a.size(), max_difference);
}

TEST(ShippedModelsTest, PolicyFolderAndGgufGenerateTheSameTokens) {
  SKIP_WITHOUT(kPolicyFolder, kPolicyGguf);
  auto folder = Engine(kPolicyFolder), gguf = Engine(kPolicyGguf);
  ASSERT_TRUE(folder && gguf);
  for (const datasets::ArithProblem& problem : TestProblems(4)) {
    engine::GenerateRequest request;
    request.prompt_tokens = ChatPromptTokens(*folder, problem.problem);
    EXPECT_EQ(request.prompt_tokens, ChatPromptTokens(*gguf, problem.problem));
    request.max_tokens = 200;
    request.n = 4;
    request.sampling.temperature = 0.8;
    request.sampling.seed = 11;
    auto a = folder->Generate(request), b = gguf->Generate(request);
    ASSERT_TRUE(a.ok() && b.ok());
    for (int i = 0; i < request.n; ++i) {
      EXPECT_EQ(a->completions[i].tokens, b->completions[i].tokens)
          << problem.id << " sample " << i;
    }
  }
}

TEST(ShippedModelsTest, TokenizerRoundTripsTheTaskText) {
  SKIP_WITHOUT(kPolicyFolder, kPolicyGguf, kPrmFolder);
  auto folder = Engine(kPolicyFolder), gguf = Engine(kPolicyGguf), prm = Engine(kPrmFolder);
  ASSERT_TRUE(folder && gguf && prm);
  for (const datasets::ArithProblem& problem : TestProblems(20)) {
    const std::string text = problem.problem + "\n\n" + problem.solution;
    absl::StatusOr<std::vector<int32_t>> ids = folder->Tokenize(text, false);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(folder->Detokenize(*ids), text);
    EXPECT_EQ(*gguf->Tokenize(text, false), *ids) << problem.id;
    EXPECT_EQ(*prm->Tokenize(text, false), *ids) << problem.id;
  }
  // Numbers are split into single digits (the Qwen2 pre-tokenizer), which the training relied on:
  // "8" "7" " -" " " "6" "9" " =" " " "1" "8" "2" "4".
  EXPECT_EQ(folder->Tokenize("87 - 69 = 1824", false)->size(), 2u + 1 + 1 + 2 + 1 + 1 + 4);
  for (const char* digit : {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}) {
    EXPECT_EQ(folder->Tokenize(absl::StrCat(digit, digit, digit), false)->size(), 3u) << digit;
  }
  for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"}) {
    EXPECT_TRUE(folder->TokenId(special).has_value()) << special;
    EXPECT_EQ(folder->TokenId(special), gguf->TokenId(special)) << special;
    EXPECT_EQ(folder->Tokenize(special, false)->size(), 1u) << special;
  }
}

TEST(ShippedModelsTest, PolicyAnswersTestProblemsWithWellFormedSolutions) {
  SKIP_WITHOUT(kPolicyGguf);
  auto engine = Engine(kPolicyGguf);
  ASSERT_TRUE(engine);
  const std::vector<datasets::ArithProblem> problems = TestProblems(16);
  int correct = 0;
  for (const datasets::ArithProblem& problem : problems) {
    engine::GenerateRequest request;
    request.prompt_tokens = ChatPromptTokens(*engine, problem.problem);
    request.max_tokens = kMaxSolutionTokens;
    request.sampling.temperature = 0;
    absl::StatusOr<engine::GenerateResult> result = engine->Generate(request);
    ASSERT_TRUE(result.ok()) << result.status();
    const engine::Completion& completion = result->completions[0];
    EXPECT_EQ(completion.finish_reason, engine::FinishReason::kEos) << completion.text;
    ExpectWellFormed(completion.text);
    correct += BoxedAnswer(completion.text) == absl::StrCat(problem.answer);
  }
  // Greedy accuracy on the test split is about 60% (models/training_log.json); a quarter is a
  // floor that a broken model or a broken loader does not reach.
  EXPECT_GE(correct, static_cast<int>(problems.size()) / 4);
  std::printf("  greedy: %d of %zu test problems correct\n", correct, problems.size());
}

TEST(ShippedModelsTest, GenerateCommandWritesAWellFormedSolution) {
  SKIP_WITHOUT(kPolicyFolder);
  const std::string ponder = std::string(PONDER_BINARY_DIR) + "/bin/ponder";
  if (!fs::exists(ponder)) GTEST_SKIP() << "the ponder binary is not built";
  const datasets::ArithProblem problem = TestProblems(1).at(0);
  const std::string log = ::testing::TempDir() + "/shipped_models_generate.jsonl";
  // Single quotes keep the problem one shell word ('\'' writes a quote inside them).
  const std::string quoted = "'" + absl::StrReplaceAll(problem.problem, {{"'", "'\\''"}}) + "'";
  const int status = std::system(
      (ponder + " generate --model " + kPolicyFolder + " --chat --temperature 0 --max-tokens " +
       std::to_string(kMaxSolutionTokens) + " --prompt " + quoted + " >" + log)
          .c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  absl::StatusOr<std::string> output = ReadFileToString(log);
  ASSERT_TRUE(output.ok());
  const nlohmann::json line = nlohmann::json::parse(output->substr(0, output->find('\n')));
  EXPECT_EQ(line.value("finish_reason", ""), "eos");
  ExpectWellFormed(line.value("text", ""));
}

TEST(ShippedModelsTest, PrmFolderAndGgufGiveTheSameRewards) {
  SKIP_WITHOUT(kPrmFolder, kPrmGguf);
  auto folder = Engine(kPrmFolder), gguf = Engine(kPrmGguf);
  ASSERT_TRUE(folder && gguf);
  EXPECT_TRUE(folder->Info().has_reward_head);
  EXPECT_TRUE(gguf->Info().has_reward_head);
  const datasets::ArithProblem problem = TestProblems(1).at(0);
  const std::string steps = absl::StrReplaceAll(problem.solution, {{"\n\n", "<extra_0>"}});
  absl::StatusOr<std::string> text = folder->ApplyChatTemplate(
      {{"system", kSystemPrompt}, {"user", problem.problem}, {"assistant", steps + "<extra_0>"}},
      false);
  ASSERT_TRUE(text.ok());
  engine::ScoreRequest request;
  request.prefix_tokens = *folder->Tokenize(*text, false);
  request.reward_token_ids = {*folder->TokenId("<extra_0>")};
  auto a = folder->Score(request), b = gguf->Score(request);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->rewards.size(), problem.steps.size());
  ASSERT_EQ(b->rewards.size(), a->rewards.size());
  for (size_t i = 0; i < a->rewards.size(); ++i) {
    ASSERT_EQ(a->rewards[i].logits.size(), 2u);
    for (size_t label = 0; label < 2; ++label) {
      EXPECT_NEAR(a->rewards[i].logits[label], b->rewards[i].logits[label], kRewardTolerance);
    }
  }
}

// `problem`'s reference solution with the result of step `k` replaced by `wrong` (and the
// boxed answer too when k is the last step): an arithmetic slip, not carried further.
std::string WithWrongResult(const datasets::ArithProblem& problem, size_t k, int64_t wrong) {
  std::vector<std::string> steps = absl::StrSplit(problem.solution, "\n\n");
  const datasets::ArithStep& step = problem.steps[k];
  const std::string equation =
      absl::StrCat(step.lhs, " ", std::string(1, step.op), " ", step.rhs, " = ");
  steps[k] = absl::StrReplaceAll(
      steps[k], {{equation + absl::StrCat(step.result), equation + absl::StrCat(wrong)}});
  if (k + 1 == steps.size()) {
    steps[k] = absl::StrReplaceAll(steps[k], {{absl::StrCat("\\boxed{", step.result, "}"),
                                               absl::StrCat("\\boxed{", wrong, "}")}});
  }
  return absl::StrJoin(steps, "\n\n");
}

// The shipped PRM's format, on `engine`.
absl::StatusOr<std::unique_ptr<verifiers::Verifier>> QwenPrm(engine::Engine& engine) {
  v1::ProcessRewardModel config;
  config.set_format(v1::ProcessRewardModel::FORMAT_QWEN_MATH_PRM);
  return verifiers::MakeProcessRewardModelVerifier(config, &engine);
}

// FORMAT_QWEN_MATH_PRM reads the reward head: the policy, which has none, failed at the first
// score with an error that named no field (QA of stop 35); it is refused naming the field.
TEST(ShippedModelsTest, AQwenPrmOnAModelWithoutARewardHeadIsRefusedNamingTheField) {
  SKIP_WITHOUT(kPolicyGguf);
  auto engine = Engine(kPolicyGguf);
  ASSERT_TRUE(engine);
  auto prm = QwenPrm(*engine);
  ASSERT_FALSE(prm.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(prm.status()));
  EXPECT_THAT(std::string(prm.status().message()), HasSubstr("verifier.prm.model: "));
  EXPECT_THAT(std::string(prm.status().message()), HasSubstr("has no reward head"));
}

TEST(ShippedModelsTest, PrmPrefersCorrectSolutionsToCorruptedOnes) {
  SKIP_WITHOUT(kPrmGguf);
  auto engine = Engine(kPrmGguf);
  ASSERT_TRUE(engine);
  auto prm = QwenPrm(*engine);
  ASSERT_TRUE(prm.ok()) << prm.status();
  // Two slips the arithmetic checker would also see, not carried into later steps: the last
  // result off by 10 (the boxed answer too), the first result off by 1.
  const std::vector<datasets::ArithProblem> problems = TestProblems(50);
  int preferred[2] = {0, 0};
  for (const datasets::ArithProblem& problem : problems) {
    const size_t last = problem.steps.size() - 1;
    std::vector<verifiers::Solution> solutions;
    for (const std::string& text :
         {problem.solution, WithWrongResult(problem, last, problem.steps[last].result + 10),
          WithWrongResult(problem, 0, problem.steps[0].result + 1)}) {
      solutions.push_back(verifiers::SplitSteps(text, "\n\n", true));
    }
    verifiers::VerifyOptions options;
    options.aggregation = v1::AGGREGATION_MIN;
    absl::StatusOr<verifiers::VerifyResult> result =
        (*prm)->Score(problem.problem, solutions, options);
    ASSERT_TRUE(result.ok()) << result.status();
    for (size_t corrupted = 1; corrupted < solutions.size(); ++corrupted) {
      preferred[corrupted - 1] += result->scores[0].aggregate > result->scores[corrupted].aggregate;
    }
  }
  std::printf(
      "  correct solution preferred to a wrong last step in %d of %zu problems, to a "
      "wrong first step in %d\n",
      preferred[0], problems.size(), preferred[1]);
  // The PRM is a small model that verifies arithmetic imperfectly (models/training_log.json:
  // step accuracy about 0.8 on held-out corrupted solutions). A PRM that cannot tell the
  // solutions apart prefers the correct one in at most half of the pairs (ties count against
  // it): 60 of 100 or more happens by chance with probability below 3%.
  EXPECT_GE(preferred[0] + preferred[1], 60);
}

}  // namespace
}  // namespace ponder
