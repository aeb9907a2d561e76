// Prompts for dataset problems, per dataset and model family, as the papers and the models'
// own evaluation code build them.
//
// BuildPrompt returns chat messages ({role, content}: an optional system message, few-shot
// user/assistant turns, then the problem as the last user message) and the same prompt as raw
// text for models used without a chat template. It does not apply a chat template or
// tokenize: the caller renders `messages` with the engine's tokenizer (its chat template,
// assistant turn opened), since only the engine knows the model.
//
// Math problems (GSM8K, MATH, MATH-500, arith):
//  * qwen-math (default): system "Please reason step by step, and put your final answer within
//    \boxed{}." and the problem as the user message: the chain-of-thought prompt of
//    Qwen2.5-Math's evaluation (QwenLM/Qwen2.5-Math, evaluation, prompt type "qwen25-math-cot"),
//    also used by the particle-filtering paper (Puri et al. 2025).
//  * llama: the step-by-step system prompt of Hugging Face's search-and-learn ("Solve the
//    following math problem efficiently and clearly: ..."), used with Llama 3.2 Instruct in
//    "Scaling test-time compute with open models" (Beeching, Tunstall & Rush 2024).
//  * deepseek-r1: no system message; the instruction "Please reason step by step, and put your
//    final answer within \boxed{}." follows the problem in the user message, as DeepSeek-R1's
//    usage recommendations say.
//  * plain: no system message, the problem alone (models trained without one, such as the
//    shipped arith model).
// Raw text: GSM8K and arith as "Q: <problem>\nA:" (Wei et al. 2022), MATH and MATH-500 as
// "Problem:\n<problem>\n\nSolution:" (Minerva, Lewkowycz et al. 2022, Appendix D.2); the system
// prompt, if any, comes first.
// Few-shot exemplars: GSM8K the 8 chain-of-thought exemplars of Wei et al. 2022 (Table 20),
// MATH and MATH-500 Minerva's 4, arith problems of its train split; callers may pass their own.
//
// Code problems: HumanEval's chat prompt asks for a self-contained script in a code block (the
// EvalPlus instruction prompt, Liu et al. 2023); its raw text is the function prompt itself,
// to be continued (Chen et al. 2021), with the Codex stop sequences. MBPP uses Austin et al.'s
// prompt ("You are an expert Python programmer, and here is your task: ... Your code should
// pass these tests:") with [BEGIN]/[DONE] around code in raw text. Code problems get no system
// message unless one is given.
#ifndef PONDER_DATASETS_PROMPT_H_
#define PONDER_DATASETS_PROMPT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/dataset.h"

namespace ponder::datasets {

enum class ModelFamily { kQwenMath, kLlama, kDeepSeekR1, kPlain };

// "qwen-math" (also "qwen", "qwen2.5-math"), "llama", "deepseek-r1", "plain"; InvalidArgument
// listing them otherwise.
absl::StatusOr<ModelFamily> ParseModelFamily(std::string_view name);
std::string_view ModelFamilyName(ModelFamily family);

// The system prompt a family uses for math problems ("" when it uses none).
std::string_view MathSystemPrompt(ModelFamily family);

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct PromptOptions {
  ModelFamily family = ModelFamily::kQwenMath;
  // Replaces the family's system prompt; "" means no system message.
  std::optional<std::string> system_prompt;
  // Number of worked examples before the problem; 0: zero-shot.
  int few_shot = 0;
  // Exemplars to use instead of the built-in ones (their question and solution are shown).
  std::vector<Problem> exemplars;
};

struct Prompt {
  std::vector<ChatMessage> messages;
  std::string raw_text;
  // Where a raw-text completion should stop (the start of a next exemplar); empty if none.
  std::vector<std::string> raw_stop;
};

// The prompt for `problem` (which dataset it is comes from problem.dataset). An exemplar with
// the same question as the problem is passed over. InvalidArgument for a negative few_shot or
// more exemplars than there are (the message says how many and where to get more).
absl::StatusOr<Prompt> BuildPrompt(const Problem& problem, const PromptOptions& options);

// The built-in exemplars for `dataset` (empty for datasets without any).
std::vector<Problem> BuiltinExemplars(std::string_view dataset);

}  // namespace ponder::datasets

#endif  // PONDER_DATASETS_PROMPT_H_
