#include "datasets/prompt.h"

#include <span>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "datasets/arith_task.h"
#include "datasets/few_shot_exemplars.h"

namespace ponder::datasets {
namespace {

// Qwen2.5-Math's chain-of-thought system prompt (evaluation/utils.py, "qwen25-math-cot").
constexpr std::string_view kQwenMathSystem =
    "Please reason step by step, and put your final answer within \\boxed{}.";

// search-and-learn's system prompt for Llama 3.2 Instruct (recipes/*.yaml, system_prompt).
constexpr std::string_view kLlamaSystem =
    "Solve the following math problem efficiently and clearly:\n\n"
    "- For simple problems (2 steps or fewer):\n"
    "Provide a concise solution with minimal explanation.\n\n"
    "- For complex problems (3 steps or more):\n"
    "Use this step-by-step format:\n\n"
    "## Step 1: [Concise description]\n"
    "[Brief explanation and calculations]\n\n"
    "## Step 2: [Concise description]\n"
    "[Brief explanation and calculations]\n\n"
    "...\n\n"
    "Regardless of the approach, always conclude with:\n\n"
    "Therefore, the final answer is: $\\boxed{answer}$. I hope it is correct.\n\n"
    "Where [answer] is just the final number or expression that solves the problem.";

// DeepSeek-R1's usage recommendation: no system prompt; this directive after the problem.
constexpr std::string_view kDeepSeekDirective =
    "\nPlease reason step by step, and put your final answer within \\boxed{}.";

// EvalPlus's instruction prompt for chat models (Liu et al. 2023, evalplus/codegen.py).
constexpr std::string_view kEvalPlusInstruction =
    "Please provide a self-contained Python script that solves the following problem in a "
    "markdown code block:";

// Codex's stop sequences for HumanEval completions (Chen et al. 2021, Section 3.3).
const std::vector<std::string>& HumanEvalStops() {
  static const auto* const stops =
      new std::vector<std::string>{"\nclass", "\ndef", "\n#", "\nif", "\nprint"};
  return *stops;
}

enum class Style { kQuestionAnswer, kMinerva, kHumanEval, kMbpp };

Style StyleOf(const Problem& problem) {
  if (problem.code.has_value()) {
    return problem.dataset == "humaneval" ? Style::kHumanEval : Style::kMbpp;
  }
  if (problem.answer_format == verifiers::AnswerFormat::kMath) return Style::kMinerva;
  return Style::kQuestionAnswer;
}

Problem FromExemplar(const internal::Exemplar& exemplar, std::string_view dataset) {
  Problem problem;
  problem.dataset = std::string(dataset);
  problem.question = std::string(exemplar.question);
  problem.solution = std::string(exemplar.solution);
  problem.reference_answer = std::string(exemplar.answer);
  return problem;
}

// The user message for a problem (exemplars get the same form as the problem).
std::string UserContent(const Problem& problem, Style style, ModelFamily family) {
  switch (style) {
    case Style::kHumanEval:
      // EvalPlus strips the prompt, so the fence closes right after it.
      return absl::StrCat(AsAbsl(kEvalPlusInstruction), "\n```\n",
                          absl::StripAsciiWhitespace(problem.question), "\n```\n");
    case Style::kMbpp: {
      // Austin et al. 2021, Section 2.1: the task, then its tests, one per line.
      std::vector<std::string> tests;
      if (problem.code.has_value()) {
        tests = problem.code->test_imports;
        tests.insert(tests.end(), problem.code->test_list.begin(), problem.code->test_list.end());
      }
      return absl::StrCat(
          "You are an expert Python programmer, and here is your task: ", problem.question,
          " Your code should pass these tests:\n\n", absl::StrJoin(tests, "\n"));
    }
    case Style::kQuestionAnswer:
    case Style::kMinerva:
      if (family == ModelFamily::kDeepSeekR1) {
        return absl::StrCat(problem.question, AsAbsl(kDeepSeekDirective));
      }
      return problem.question;
  }
  return problem.question;
}

// What the assistant says in a worked example.
std::string ExemplarAnswer(const Problem& exemplar, Style style) {
  if (style == Style::kMbpp || style == Style::kHumanEval) {
    return exemplar.code.has_value() ? exemplar.code->canonical_solution : exemplar.solution;
  }
  return exemplar.solution;
}

// Raw text: the opening of one problem, and a whole worked example.
std::string RawQuestion(const Problem& problem, Style style, ModelFamily family) {
  switch (style) {
    case Style::kQuestionAnswer:
      return absl::StrCat("Q: ", UserContent(problem, style, family), "\nA:");
    case Style::kMinerva:
      return absl::StrCat("Problem:\n", UserContent(problem, style, family), "\n\nSolution:");
    case Style::kHumanEval:
      return problem.question;
    case Style::kMbpp:
      return absl::StrCat(UserContent(problem, style, family), "\n[BEGIN]\n");
  }
  return problem.question;
}

std::string RawExample(const Problem& exemplar, Style style, ModelFamily family) {
  std::string answer = ExemplarAnswer(exemplar, style);
  switch (style) {
    case Style::kQuestionAnswer:
      return absl::StrCat(RawQuestion(exemplar, style, family), " ", answer, "\n\n");
    case Style::kMinerva:
      return absl::StrCat(RawQuestion(exemplar, style, family), "\n", answer, "\n\n");
    case Style::kHumanEval:
      return absl::StrCat(exemplar.question, answer, "\n\n");
    case Style::kMbpp:
      return absl::StrCat(RawQuestion(exemplar, style, family), answer, "\n[DONE]\n\n");
  }
  return "";
}

std::vector<std::string> RawStops(Style style) {
  switch (style) {
    case Style::kQuestionAnswer:
      return {"\nQ:"};
    case Style::kMinerva:
      return {"\n\nProblem:"};
    case Style::kHumanEval:
      return HumanEvalStops();
    case Style::kMbpp:
      return {"[DONE]"};
  }
  return {};
}

std::string_view WhereToGetExemplars(std::string_view dataset) {
  if (dataset == "mbpp" || dataset == "mbpp-sanitized") {
    return "load the 'prompt' split and pass tasks MBPP/2, MBPP/3 and MBPP/4 (the paper's "
           "3-shot prompt) as exemplars";
  }
  return "pass exemplars of your own";
}

}  // namespace

absl::StatusOr<ModelFamily> ParseModelFamily(std::string_view name) {
  if (name == "qwen-math" || name == "qwen" || name == "qwen2.5-math")
    return ModelFamily::kQwenMath;
  if (name == "llama") return ModelFamily::kLlama;
  if (name == "deepseek-r1") return ModelFamily::kDeepSeekR1;
  if (name == "plain") return ModelFamily::kPlain;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model family '", AsAbsl(name),
                   "' (expected qwen-math, llama, deepseek-r1 or plain)"));
}

std::string_view ModelFamilyName(ModelFamily family) {
  switch (family) {
    case ModelFamily::kQwenMath:
      return "qwen-math";
    case ModelFamily::kLlama:
      return "llama";
    case ModelFamily::kDeepSeekR1:
      return "deepseek-r1";
    case ModelFamily::kPlain:
      return "plain";
  }
  return "qwen-math";
}

std::string_view MathSystemPrompt(ModelFamily family) {
  switch (family) {
    case ModelFamily::kQwenMath:
      return kQwenMathSystem;
    case ModelFamily::kLlama:
      return kLlamaSystem;
    case ModelFamily::kDeepSeekR1:
    case ModelFamily::kPlain:
      return "";
  }
  return "";
}

std::vector<Problem> BuiltinExemplars(std::string_view dataset) {
  std::vector<Problem> exemplars;
  if (dataset == "gsm8k") {
    for (const internal::Exemplar& exemplar : internal::kGsm8kChainOfThought) {
      exemplars.push_back(FromExemplar(exemplar, dataset));
    }
  } else if (dataset == "math" || dataset == "math500") {
    for (const internal::Exemplar& exemplar : internal::kMathMinerva) {
      exemplars.push_back(FromExemplar(exemplar, dataset));
    }
  } else if (dataset == "arith") {
    // Train-split problems, so they never share an arithmetic chain with a test problem.
    constexpr int kCount = 8;
    absl::StatusOr<std::vector<ArithProblem>> generated =
        GenerateArithProblems(ArithSplit::kTrain, /*seed=*/0, kCount, /*difficulty=*/0);
    if (generated.ok()) {
      for (ArithProblem& arith : *generated) {
        Problem problem;
        problem.dataset = "arith";
        problem.id = arith.id;
        problem.question = std::move(arith.problem);
        problem.solution = std::move(arith.solution);
        problem.reference_answer = absl::StrCat(arith.answer);
        problem.answer_format = verifiers::AnswerFormat::kGsm8k;
        exemplars.push_back(std::move(problem));
      }
    }
  }
  return exemplars;
}

absl::StatusOr<Prompt> BuildPrompt(const Problem& problem, const PromptOptions& options) {
  if (options.few_shot < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("few-shot count ", options.few_shot, " is negative"));
  }
  const Style style = StyleOf(problem);
  const bool is_code = style == Style::kHumanEval || style == Style::kMbpp;
  std::string system = options.system_prompt.has_value()
                           ? *options.system_prompt
                           : std::string(is_code ? "" : MathSystemPrompt(options.family));

  std::vector<Problem> shots;
  if (options.few_shot > 0) {
    std::vector<Problem> pool =
        options.exemplars.empty() ? BuiltinExemplars(problem.dataset) : options.exemplars;
    for (Problem& exemplar : pool) {
      if (static_cast<int>(shots.size()) == options.few_shot) break;
      if (exemplar.question == problem.question) continue;  // never show the answer itself
      shots.push_back(std::move(exemplar));
    }
    if (static_cast<int>(shots.size()) < options.few_shot) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.few_shot, "-shot prompt for ", problem.dataset, " needs ",
                       options.few_shot, " exemplars, but only ", shots.size(), " are available; ",
                       AsAbsl(WhereToGetExemplars(problem.dataset))));
    }
  }

  Prompt prompt;
  if (!system.empty()) prompt.messages.push_back({"system", system});
  for (const Problem& shot : shots) {
    prompt.messages.push_back({"user", UserContent(shot, style, options.family)});
    prompt.messages.push_back({"assistant", ExemplarAnswer(shot, style)});
  }
  prompt.messages.push_back({"user", UserContent(problem, style, options.family)});

  if (!system.empty()) prompt.raw_text = absl::StrCat(system, "\n\n");
  for (const Problem& shot : shots) {
    absl::StrAppend(&prompt.raw_text, RawExample(shot, style, options.family));
  }
  absl::StrAppend(&prompt.raw_text, RawQuestion(problem, style, options.family));
  prompt.raw_stop = RawStops(style);
  return prompt;
}

}  // namespace ponder::datasets
