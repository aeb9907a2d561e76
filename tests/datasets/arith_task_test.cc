// The built-in arithmetic task: determinism, difficulty, bounds, train/test separation, variety,
// and agreement with the answer grader and the arithmetic step checker.
#include "datasets/arith_task.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifiers/arithmetic_step_checker.h"
#include "verifiers/grading/grader.h"

namespace ponder::datasets {
namespace {

using ::testing::HasSubstr;

std::vector<ArithProblem> Generate(ArithSplit split, uint64_t seed, int64_t count,
                                   int difficulty = 0) {
  absl::StatusOr<std::vector<ArithProblem>> problems =
      GenerateArithProblems(split, seed, count, difficulty);
  EXPECT_TRUE(problems.ok()) << problems.status();
  return problems.ok() ? *std::move(problems) : std::vector<ArithProblem>{};
}

std::vector<std::string> Paragraphs(const std::string& solution) {
  return absl::StrSplit(solution, "\n\n");
}

std::string Chain(const ArithProblem& problem) {
  std::string chain;
  for (const ArithStep& step : problem.steps) {
    absl::StrAppend(&chain, step.lhs, std::string(1, step.op), step.rhs, ";");
  }
  return chain;
}

// Pins the generator's output: the task's problems must not change under anyone's feet (a
// trained model and its reported accuracy refer to them). Change the expectation only with
// the generator, on purpose.
TEST(ArithTask, FirstTestProblemIsPinned) {
  absl::StatusOr<ArithProblem> problem = GenerateArithProblem(ArithSplit::kTest, 0, 0);
  ASSERT_TRUE(problem.ok());
  EXPECT_EQ(problem->id, "test/0");
  EXPECT_EQ(problem->problem,
            "Noah has 44 crayons. Then Noah gives 19 crayons to Dan. Eli has 3 times as many "
            "crayons as Noah has now. Hugo has 23 fewer crayons than Eli. How many crayons does "
            "Hugo have?");
  EXPECT_EQ(problem->solution,
            "After giving some to Dan, Noah has 44 - 19 = 25 crayons.\n\n"
            "Eli has 25 * 3 = 75 crayons.\n\n"
            "Hugo has 75 - 23 = 52 crayons. The answer is \\boxed{52}.");
  EXPECT_EQ(problem->answer, 52);
}

TEST(ArithTask, SameSeedSameProblemDifferentSeedsDiffer) {
  std::vector<ArithProblem> first = Generate(ArithSplit::kTrain, 1000, 50);
  std::vector<ArithProblem> again = Generate(ArithSplit::kTrain, 1000, 50);
  std::set<std::string> texts;
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].problem, again[i].problem);
    EXPECT_EQ(first[i].solution, again[i].solution);
    EXPECT_EQ(first[i].seed, 1000 + i);
    texts.insert(first[i].problem);
  }
  EXPECT_EQ(texts.size(), first.size());
  // A larger count extends a smaller one.
  std::vector<ArithProblem> longer = Generate(ArithSplit::kTrain, 1000, 60);
  EXPECT_EQ(longer[49].problem, first[49].problem);
}

TEST(ArithTask, DifficultyIsTheNumberOfStepsAndParagraphs) {
  for (int difficulty = kArithMinSteps; difficulty <= kArithMaxSteps; ++difficulty) {
    for (const ArithProblem& problem : Generate(ArithSplit::kTest, 7, 40, difficulty)) {
      EXPECT_EQ(problem.difficulty, difficulty);
      EXPECT_EQ(problem.steps.size(), static_cast<size_t>(difficulty)) << problem.problem;
      EXPECT_EQ(Paragraphs(problem.solution).size(), static_cast<size_t>(difficulty));
      EXPECT_EQ(problem.id, absl::StrCat("test/d", difficulty, "/", problem.seed));
    }
  }
  // Mixed difficulty covers 2..5 about evenly.
  std::map<int, int> counts;
  for (const ArithProblem& problem : Generate(ArithSplit::kTest, 0, 400)) {
    ++counts[problem.difficulty];
  }
  for (int difficulty = kArithMinSteps; difficulty <= kArithMaxSteps; ++difficulty) {
    EXPECT_GT(counts[difficulty], 60) << difficulty;
  }
  EXPECT_EQ(counts.size(), 4u);
}

TEST(ArithTask, RejectsBadArguments) {
  EXPECT_EQ(GenerateArithProblem(ArithSplit::kTest, 0, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateArithProblem(ArithSplit::kTest, 0, 6).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateArithProblems(ArithSplit::kTest, 0, -1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseArithSplit("dev").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseArithSplit("train"), ArithSplit::kTrain);
}

TEST(ArithTask, StepsAreDependentIntegerOperationsWithinBounds) {
  for (ArithSplit split : {ArithSplit::kTrain, ArithSplit::kTest}) {
    for (const ArithProblem& problem : Generate(split, 0, 300)) {
      for (size_t i = 0; i < problem.steps.size(); ++i) {
        const ArithStep& step = problem.steps[i];
        SCOPED_TRACE(problem.problem);
        // Each step works on the previous step's result.
        if (i > 0) {
          EXPECT_EQ(step.lhs, problem.steps[i - 1].result);
        }
        switch (step.op) {
          case '+':
            EXPECT_EQ(step.lhs + step.rhs, step.result);
            break;
          case '-':
            EXPECT_EQ(step.lhs - step.rhs, step.result);
            break;
          case '*':
            EXPECT_EQ(step.lhs * step.rhs, step.result);
            EXPECT_LE(step.lhs, 100);
            EXPECT_LE(step.rhs, 12);
            break;
          case '/':
            EXPECT_EQ(step.lhs % step.rhs, 0);
            EXPECT_EQ(step.lhs / step.rhs, step.result);
            EXPECT_LE(step.rhs, 12);
            break;
          default:
            ADD_FAILURE() << "operator " << step.op;
        }
        EXPECT_GE(step.rhs, 2);
        EXPECT_LE(step.rhs, 100);
        EXPECT_GE(step.result, 2);
        EXPECT_LE(step.result, 9999);
      }
      EXPECT_EQ(problem.answer, problem.steps.back().result);
    }
  }
}

// The acceptance: the answer grader and the arithmetic step checker apply unchanged.
TEST(ArithTask, SolutionsGradeCorrectAndEveryStepChecks) {
  for (ArithSplit split : {ArithSplit::kTrain, ArithSplit::kTest}) {
    for (const ArithProblem& problem : Generate(split, 100, 300)) {
      SCOPED_TRACE(problem.solution);
      const std::string answer = absl::StrCat(problem.answer);
      for (verifiers::AnswerFormat format :
           {verifiers::AnswerFormat::kGsm8k, verifiers::AnswerFormat::kMath}) {
        verifiers::GradeResult grade = verifiers::Grade(problem.solution, answer, format);
        EXPECT_TRUE(grade.correct);
        EXPECT_EQ(grade.extracted, answer);
        // And a wrong reference is not accepted.
        EXPECT_FALSE(
            verifiers::Grade(problem.solution, absl::StrCat(problem.answer + 1), format).correct);
      }
      EXPECT_TRUE(problem.solution.ends_with(absl::StrCat("The answer is \\boxed{", answer, "}.")));
      std::vector<std::string> paragraphs = Paragraphs(problem.solution);
      ASSERT_EQ(paragraphs.size(), problem.steps.size());
      for (size_t i = 0; i < paragraphs.size(); ++i) {
        EXPECT_FALSE(paragraphs[i].empty());
        EXPECT_EQ(paragraphs[i].find('\n'), std::string::npos);
        std::vector<verifiers::CheckedEquation> equations =
            verifiers::CheckArithmetic(paragraphs[i]);
        ASSERT_EQ(equations.size(), 1u) << paragraphs[i];
        EXPECT_TRUE(equations[0].holds) << paragraphs[i];
        EXPECT_EQ(equations[0].computed, static_cast<double>(problem.steps[i].result));
        EXPECT_EQ(equations[0].stated, static_cast<double>(problem.steps[i].result));
        EXPECT_EQ(equations[0].expression,
                  absl::StrCat(problem.steps[i].lhs, " ", std::string(1, problem.steps[i].op), " ",
                               problem.steps[i].rhs));
      }
    }
  }
}

TEST(ArithTask, AWrongStepFailsTheStepChecker) {
  absl::StatusOr<ArithProblem> problem = GenerateArithProblem(ArithSplit::kTest, 3, 3);
  ASSERT_TRUE(problem.ok());
  const ArithStep& step = problem->steps[1];
  std::string paragraph = Paragraphs(problem->solution)[1];
  std::string stated = absl::StrCat("= ", step.result);
  size_t at = paragraph.find(stated);
  ASSERT_NE(at, std::string::npos);
  paragraph.replace(at, stated.size(), absl::StrCat("= ", step.result + 1));
  std::vector<verifiers::CheckedEquation> equations = verifiers::CheckArithmetic(paragraph);
  ASSERT_EQ(equations.size(), 1u);
  EXPECT_FALSE(equations[0].holds);
}

TEST(ArithTask, TrainAndTestNeverShareAnArithmeticChain) {
  std::set<std::string> train_chains;
  std::set<std::string> train_texts;
  for (const ArithProblem& problem : Generate(ArithSplit::kTrain, 0, 4000)) {
    train_chains.insert(Chain(problem));
    train_texts.insert(problem.problem);
  }
  int checked = 0;
  for (int difficulty : {0, 2}) {
    for (const ArithProblem& problem : Generate(ArithSplit::kTest, 0, 1000, difficulty)) {
      EXPECT_FALSE(train_chains.contains(Chain(problem))) << problem.problem;
      EXPECT_FALSE(train_texts.contains(problem.problem)) << problem.problem;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2000);
  // Two-step chains are few enough that a test chain would show up in 4000 train problems if
  // the splits shared them; this makes the check above able to fail.
  std::set<std::string> test_chains;
  for (const ArithProblem& problem : Generate(ArithSplit::kTest, 0, 1000, 2)) {
    test_chains.insert(Chain(problem));
  }
  EXPECT_GT(test_chains.size(), 900u);
  // The same seed in the two splits gives unrelated problems.
  EXPECT_NE(GenerateArithProblem(ArithSplit::kTrain, 5, 3)->problem,
            GenerateArithProblem(ArithSplit::kTest, 5, 3)->problem);
}

TEST(ArithTask, PhrasingsAndOperationsAreVaried) {
  std::map<std::string, int> templates;
  std::map<char, int> operations;
  std::set<std::string> questions;
  std::set<std::string> openings;
  int steps = 0;
  for (const ArithProblem& problem : Generate(ArithSplit::kTrain, 0, 1000)) {
    for (const ArithStep& step : problem.steps) {
      ++templates[step.phrasing];
      ++operations[step.op];
      ++steps;
    }
    size_t question = problem.problem.rfind("How many");
    ASSERT_NE(question, std::string::npos) << problem.problem;
    // The question's shape, with the names and nouns in it cut out.
    std::vector<std::string> words = absl::StrSplit(problem.problem.substr(question), ' ');
    questions.insert(
        absl::StrCat(words[2], " ", words.size() > 4 ? words[4] : "", " ", words.back()));
    openings.insert(std::vector<std::string>(absl::StrSplit(problem.problem, ' '))[1]);
  }
  // Every template of arith_task.cc, the opening with a product included.
  for (const char* name :
       {"start.packs", "add.buy", "add.find", "add.gift", "add.earn", "compare.more", "sub.give",
        "sub.lose", "sub.sell", "sub.spend", "compare.fewer", "compare.times", "mul.grow",
        "mul.price", "compare.fraction", "div.halve", "div.groups", "div.share", "div.pack"}) {
    EXPECT_GT(templates[name], 0) << name;
  }
  // Operations are balanced: each is at least 15% of the steps.
  for (char op : std::string("+-*/")) EXPECT_GT(operations[op], steps * 15 / 100) << op;
  EXPECT_GE(questions.size(), 5u);
  EXPECT_GE(openings.size(), 4u);  // has, collects, starts, saves, buys
}

}  // namespace
}  // namespace ponder::datasets
