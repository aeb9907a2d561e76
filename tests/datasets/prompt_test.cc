// Prompts per dataset and model family: system prompts, few-shot turns, raw text, code styles.
#include "datasets/prompt.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ponder::datasets {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Problem MathWordProblem(std::string dataset = "gsm8k") {
  Problem problem;
  problem.dataset = dataset;
  problem.id = "test/0";
  problem.question = "Tom has 3 apples and buys 4 more. How many apples does he have?";
  problem.reference_answer = "7";
  problem.answer_format = dataset == "gsm8k" || dataset == "arith" ? verifiers::AnswerFormat::kGsm8k
                                                                   : verifiers::AnswerFormat::kMath;
  return problem;
}

Prompt Build(const Problem& problem, const PromptOptions& options) {
  absl::StatusOr<Prompt> prompt = BuildPrompt(problem, options);
  EXPECT_TRUE(prompt.ok()) << prompt.status();
  return prompt.ok() ? *std::move(prompt) : Prompt{};
}

TEST(BuildPrompt, QwenMathUsesItsChainOfThoughtSystemPrompt) {
  Prompt prompt = Build(MathWordProblem(), {});
  ASSERT_EQ(prompt.messages.size(), 2u);
  EXPECT_EQ(prompt.messages[0].role, "system");
  EXPECT_EQ(prompt.messages[0].content,
            "Please reason step by step, and put your final answer within \\boxed{}.");
  EXPECT_EQ(prompt.messages[1].role, "user");
  EXPECT_EQ(prompt.messages[1].content, MathWordProblem().question);
  EXPECT_EQ(prompt.raw_text,
            "Please reason step by step, and put your final answer within \\boxed{}.\n\n"
            "Q: Tom has 3 apples and buys 4 more. How many apples does he have?\nA:");
  EXPECT_THAT(prompt.raw_stop, ElementsAre("\nQ:"));
}

TEST(BuildPrompt, DeepSeekR1PutsTheDirectiveAfterTheProblemAndHasNoSystemMessage) {
  Prompt prompt = Build(MathWordProblem("math500"), {.family = ModelFamily::kDeepSeekR1});
  ASSERT_EQ(prompt.messages.size(), 1u);
  EXPECT_EQ(prompt.messages[0].content,
            MathWordProblem().question +
                "\nPlease reason step by step, and put your final answer within \\boxed{}.");
  EXPECT_THAT(prompt.raw_text, StartsWith("Problem:\nTom has"));
  EXPECT_THAT(prompt.raw_text, ::testing::EndsWith("\\boxed{}.\n\nSolution:"));
}

TEST(BuildPrompt, LlamaUsesSearchAndLearnsStepFormat) {
  Prompt prompt = Build(MathWordProblem("math"), {.family = ModelFamily::kLlama});
  ASSERT_EQ(prompt.messages.size(), 2u);
  EXPECT_THAT(prompt.messages[0].content,
              StartsWith("Solve the following math problem efficiently and clearly:\n\n"));
  EXPECT_THAT(
      prompt.messages[0].content,
      HasSubstr("Therefore, the final answer is: $\\boxed{answer}$. I hope it is correct."));
}

TEST(BuildPrompt, PlainAndAnEmptySystemPromptMeanNoSystemMessage) {
  EXPECT_EQ(Build(MathWordProblem("arith"), {.family = ModelFamily::kPlain}).messages.size(), 1u);
  Prompt prompt = Build(MathWordProblem(), {.system_prompt = ""});
  ASSERT_EQ(prompt.messages.size(), 1u);
  EXPECT_EQ(prompt.raw_text, "Q: " + MathWordProblem().question + "\nA:");
  Prompt custom = Build(MathWordProblem(), {.system_prompt = "Be brief."});
  EXPECT_EQ(custom.messages[0].content, "Be brief.");
}

TEST(BuildPrompt, Gsm8kFewShotUsesWeiEtAlExemplarsAsTurns) {
  Prompt prompt = Build(MathWordProblem(), {.few_shot = 8});
  ASSERT_EQ(prompt.messages.size(), 1u + 2 * 8 + 1);
  EXPECT_THAT(prompt.messages[1].content, StartsWith("There are 15 trees in the grove."));
  EXPECT_EQ(prompt.messages[2].role, "assistant");
  EXPECT_THAT(prompt.messages[2].content, ::testing::EndsWith("The answer is 6."));
  EXPECT_THAT(prompt.messages[16].content, ::testing::EndsWith("The answer is 8."));
  EXPECT_EQ(prompt.messages.back().content, MathWordProblem().question);
  EXPECT_THAT(prompt.raw_text, HasSubstr("\n\nQ: There are 15 trees in the grove."));
  EXPECT_THAT(prompt.raw_text, HasSubstr("The answer is 6.\n\nQ: If there are 3 cars"));
  EXPECT_THAT(prompt.raw_text,
              ::testing::EndsWith("The answer is 8.\n\nQ: " + MathWordProblem().question + "\nA:"));
}

TEST(BuildPrompt, MathFewShotUsesMinervasExemplars) {
  Prompt prompt = Build(MathWordProblem("math500"), {.few_shot = 4});
  ASSERT_EQ(prompt.messages.size(), 1u + 2 * 4 + 1);
  EXPECT_THAT(prompt.messages[1].content, StartsWith("Find the domain of the expression"));
  EXPECT_THAT(
      prompt.messages[2].content,
      ::testing::EndsWith("Final Answer: The final answer is $[2,5)$. I hope it is correct."));
  EXPECT_THAT(prompt.raw_text, HasSubstr("Problem:\nFind the domain"));
  EXPECT_THAT(prompt.raw_text, HasSubstr("I hope it is correct.\n\nProblem:\nIf $\\det"));
  EXPECT_THAT(prompt.raw_stop, ElementsAre("\n\nProblem:"));
}

TEST(BuildPrompt, TooManyOrNegativeShotsAreInvalidArguments) {
  absl::Status status = BuildPrompt(MathWordProblem("math"), {.few_shot = 5}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("only 4 are available"));
  EXPECT_EQ(BuildPrompt(MathWordProblem(), {.few_shot = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BuildPrompt, ArithExemplarsComeFromTheTrainSplitAndNeverRepeatTheProblem) {
  std::vector<Problem> exemplars = BuiltinExemplars("arith");
  ASSERT_GE(exemplars.size(), 3u);
  EXPECT_EQ(exemplars[0].id, "train/0");
  Problem problem = MathWordProblem("arith");
  problem.question = exemplars[0].question;  // the problem is itself the first exemplar
  Prompt prompt = Build(problem, {.family = ModelFamily::kPlain, .few_shot = 2});
  ASSERT_EQ(prompt.messages.size(), 5u);
  EXPECT_EQ(prompt.messages[0].content, exemplars[1].question);
  EXPECT_EQ(prompt.messages[1].content, exemplars[1].solution);
  EXPECT_EQ(prompt.messages[2].content, exemplars[2].question);
}

TEST(BuildPrompt, CallerExemplarsReplaceTheBuiltInOnes) {
  Problem exemplar = MathWordProblem();
  exemplar.question = "What is 1 + 1?";
  exemplar.solution = "1 + 1 = 2. The answer is 2.";
  Prompt prompt = Build(MathWordProblem(), {.few_shot = 1, .exemplars = {exemplar}});
  ASSERT_EQ(prompt.messages.size(), 4u);
  EXPECT_EQ(prompt.messages[1].content, "What is 1 + 1?");
  EXPECT_EQ(prompt.messages[2].content, "1 + 1 = 2. The answer is 2.");
}

Problem HumanEvalProblem() {
  Problem problem;
  problem.dataset = "humaneval";
  problem.id = "HumanEval/0";
  problem.code = CodeTask{.prompt = "def add(a, b):\n    \"\"\"Add.\"\"\"\n",
                          .entry_point = "add",
                          .test = "def check(candidate):\n    assert candidate(1, 2) == 3\n",
                          .canonical_solution = "    return a + b\n"};
  problem.question = problem.code->prompt;
  return problem;
}

TEST(BuildPrompt, HumanEvalChatAsksForAScriptAndRawTextIsTheFunctionPrompt) {
  Prompt prompt = Build(HumanEvalProblem(), {});
  ASSERT_EQ(prompt.messages.size(), 1u);  // no math system prompt for code
  EXPECT_THAT(prompt.messages[0].content,
              StartsWith("Please provide a self-contained Python script that solves the "
                         "following problem in a markdown code block:\n```\ndef add(a, b):"));
  EXPECT_EQ(prompt.raw_text, HumanEvalProblem().question);
  EXPECT_THAT(prompt.raw_stop, ElementsAre("\nclass", "\ndef", "\n#", "\nif", "\nprint"));
}

Problem MbppProblem(int task_id, std::string text) {
  Problem problem;
  problem.dataset = "mbpp";
  problem.id = "MBPP/" + std::to_string(task_id);
  problem.question = text;
  problem.code = CodeTask{.prompt = text,
                          .test_list = {"assert f(1) == 2", "assert f(2) == 3"},
                          .canonical_solution = "def f(x):\n    return x + 1"};
  return problem;
}

TEST(BuildPrompt, MbppUsesAustinEtAlsPromptAndNeedsExemplarsForFewShot) {
  Problem problem = MbppProblem(11, "Write a function to add one.");
  Prompt prompt = Build(problem, {});
  ASSERT_EQ(prompt.messages.size(), 1u);
  EXPECT_EQ(prompt.messages[0].content,
            "You are an expert Python programmer, and here is your task: Write a function to add "
            "one. Your code should pass these tests:\n\nassert f(1) == 2\nassert f(2) == 3");
  EXPECT_THAT(prompt.raw_text, ::testing::EndsWith("assert f(2) == 3\n[BEGIN]\n"));
  EXPECT_THAT(prompt.raw_stop, ElementsAre("[DONE]"));

  absl::Status status = BuildPrompt(problem, {.few_shot = 1}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("'prompt' split"));

  Prompt shot = Build(problem, {.few_shot = 1, .exemplars = {MbppProblem(2, "Write g.")}});
  ASSERT_EQ(shot.messages.size(), 3u);
  EXPECT_EQ(shot.messages[1].content, "def f(x):\n    return x + 1");
  EXPECT_THAT(shot.raw_text, HasSubstr("[BEGIN]\ndef f(x):\n    return x + 1\n[DONE]\n\nYou are"));
}

TEST(ModelFamily, ParsesKnownNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseModelFamily("qwen2.5-math"), ModelFamily::kQwenMath);
  EXPECT_EQ(*ParseModelFamily("llama"), ModelFamily::kLlama);
  EXPECT_EQ(ModelFamilyName(*ParseModelFamily("deepseek-r1")), "deepseek-r1");
  absl::Status status = ParseModelFamily("gpt").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("qwen-math, llama, deepseek-r1 or plain"));
}

}  // namespace
}  // namespace ponder::datasets
