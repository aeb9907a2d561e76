// Evidence over the real datasets in ../shared/datasets (skipped when absent): the MATH-500
// references agree with themselves and with the boxed answers of the full MATH solutions, the
// MATH gold helper reproduces every `answer`, and GSM8K gold answers round-trip.
#include <zlib.h>

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifiers/grading/grader.h"
#include "verifiers/grading/latex_normalization.h"
#include "verifiers/grading/math_answer.h"
#include "verifiers/grading/plain_number.h"

namespace ponder::verifiers {
namespace {

using grading_internal::MathAnswer;

// Reads a JSON Lines file, gzip-compressed or not (zlib reads plain files transparently).
// nullopt when the file cannot be opened.
std::optional<std::vector<nlohmann::json>> ReadJsonLines(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return std::nullopt;
  std::string contents;
  char buffer[1 << 16];
  int read = 0;
  while ((read = gzread(file, buffer, sizeof(buffer))) > 0) contents.append(buffer, read);
  gzclose(file);
  std::vector<nlohmann::json> rows;
  size_t start = 0;
  while (start < contents.size()) {
    size_t end = contents.find('\n', start);
    if (end == std::string::npos) end = contents.size();
    if (end > start) rows.push_back(nlohmann::json::parse(contents.substr(start, end - start)));
    start = end + 1;
  }
  return rows;
}

std::string SharedPath(const char* relative) {
  return std::string(PONDER_SHARED_DIR) + "/datasets/" + relative;
}

std::string NotFound(const char* relative) { return "dataset not found: " + SharedPath(relative); }

TEST(GradingMath500, EveryReferenceIsEquivalentToItselfAndItsWrappedForms) {
  std::optional<std::vector<nlohmann::json>> rows = ReadJsonLines(SharedPath("math500/test.jsonl"));
  if (!rows) GTEST_SKIP() << NotFound("math500/test.jsonl");
  ASSERT_EQ(rows->size(), 500u);
  for (const nlohmann::json& row : *rows) {
    std::string answer = row["answer"].get<std::string>();
    EXPECT_TRUE(AnswersEquivalent(answer, answer, AnswerFormat::kMath)) << answer;
    EXPECT_FALSE(CanonicalAnswerKey(answer, AnswerFormat::kMath).empty()) << answer;
    for (const std::string& variant :
         {"$" + answer + "$", "\\boxed{" + answer + "}", " " + answer + " .", "{" + answer + "}"}) {
      EXPECT_TRUE(AnswersEquivalent(variant, answer, AnswerFormat::kMath))
          << "'" << variant << "' vs '" << answer << "'";
    }
  }
}

TEST(GradingMath500, ReferencesAgreeWithBoxedAnswersOfFullMathSolutions) {
  std::optional<std::vector<nlohmann::json>> subset =
      ReadJsonLines(SharedPath("math500/test.jsonl"));
  if (!subset) GTEST_SKIP() << NotFound("math500/test.jsonl");
  std::optional<std::vector<nlohmann::json>> full = ReadJsonLines(SharedPath("math/test.jsonl.gz"));
  if (!full) GTEST_SKIP() << NotFound("math/test.jsonl.gz");
  std::map<std::string, std::string> solutions;
  for (const nlohmann::json& row : *full) {
    solutions[row["unique_id"].get<std::string>()] = row["solution"].get<std::string>();
  }
  int agreed = 0;
  for (const nlohmann::json& row : *subset) {
    std::string id = row["unique_id"].get<std::string>();
    std::string answer = row["answer"].get<std::string>();
    auto solution = solutions.find(id);
    ASSERT_NE(solution, solutions.end()) << id << " missing from the full MATH test set";
    GradeResult result = Grade(solution->second, answer, AnswerFormat::kMath);
    EXPECT_TRUE(result.correct) << id << ": extracted '" << result.extracted.value_or("<none>")
                                << "' vs reference '" << answer << "'";
    agreed += result.correct;
  }
  EXPECT_EQ(agreed, 500);
}

TEST(GradingMath, GoldHelperReproducesEveryDatasetAnswerAndGradesItCorrect) {
  std::optional<std::vector<nlohmann::json>> rows = ReadJsonLines(SharedPath("math/test.jsonl.gz"));
  if (!rows) GTEST_SKIP() << NotFound("math/test.jsonl.gz");
  ASSERT_EQ(rows->size(), 5000u);
  for (const nlohmann::json& row : *rows) {
    std::string solution = row["solution"].get<std::string>();
    std::string answer = row["answer"].get<std::string>();
    EXPECT_EQ(MathGoldAnswer(solution), answer) << row["unique_id"];
    EXPECT_TRUE(Grade(solution, answer, AnswerFormat::kMath).correct) << row["unique_id"];
    // Minerva-style response sentences extract the same answer.
    std::string sentence =
        "Final Answer: The final answer is $" + answer + "$. I hope it is correct.";
    EXPECT_TRUE(Grade(sentence, answer, AnswerFormat::kMath).correct) << answer;
  }
}

TEST(GradingMath, NormalizationIsIdempotentOnEveryDatasetAnswer) {
  std::optional<std::vector<nlohmann::json>> rows = ReadJsonLines(SharedPath("math/test.jsonl.gz"));
  if (!rows) GTEST_SKIP() << NotFound("math/test.jsonl.gz");
  for (const nlohmann::json& row : *rows) {
    std::string once = grading_internal::NormalizeMathAnswer(row["answer"].get<std::string>());
    EXPECT_EQ(grading_internal::NormalizeMathAnswer(once), once) << row["answer"];
  }
}

// Guards against a parser that silently turns answers into uncomparable text, and against one
// that calls everything equal.
TEST(GradingMath, DatasetAnswersParseIntoStructureAndRejectPerturbations) {
  std::optional<std::vector<nlohmann::json>> rows = ReadJsonLines(SharedPath("math/test.jsonl.gz"));
  if (!rows) GTEST_SKIP() << NotFound("math/test.jsonl.gz");
  int text_only = 0;
  int perturbed = 0;
  for (const nlohmann::json& row : *rows) {
    std::string answer = row["answer"].get<std::string>();
    MathAnswer parsed =
        grading_internal::ParseMathAnswer(grading_internal::NormalizeMathAnswer(answer));
    if (parsed.kind == MathAnswer::Kind::kText) ++text_only;
    std::string key = CanonicalAnswerKey(answer, AnswerFormat::kMath);
    bool number = (key.rfind("q:", 0) == 0 || key.rfind("r:", 0) == 0) &&
                  key.find('%') == std::string::npos && key != "q:0";
    if (number) {
      ++perturbed;
      EXPECT_FALSE(AnswersEquivalent("(" + answer + ")+1", answer, AnswerFormat::kMath)) << answer;
      EXPECT_FALSE(AnswersEquivalent("(" + answer + ")\\cdot 1.01", answer, AnswerFormat::kMath))
          << answer;
    }
  }
  // Multiple-choice letters, words, base-b numerals, ratios, times and numbers too large for a
  // double stay text: 104 of the 5000 answers when this was written.
  EXPECT_LE(text_only, 120);
  EXPECT_GE(perturbed, 4000);
}

TEST(GradingGsm8k, GoldAnswersRoundTrip) {
  int checked = 0;
  for (const char* split : {"gsm8k/test.jsonl", "gsm8k/train.jsonl"}) {
    std::optional<std::vector<nlohmann::json>> rows = ReadJsonLines(SharedPath(split));
    if (!rows) GTEST_SKIP() << NotFound(split);
    for (const nlohmann::json& row : *rows) {
      std::string solution = row["answer"].get<std::string>();
      std::optional<std::string> gold = Gsm8kGoldAnswer(solution);
      ASSERT_TRUE(gold.has_value()) << solution;
      std::optional<grading_internal::PlainNumber> number =
          grading_internal::ParsePlainNumber(*gold);
      ASSERT_TRUE(number.has_value()) << *gold;
      ASSERT_TRUE(number->value.exact.has_value() && number->value.exact->IsInteger()) << *gold;
      GradeResult from_solution = Grade(solution, *gold, AnswerFormat::kGsm8k);
      EXPECT_EQ(from_solution.extracted, *gold) << solution;
      EXPECT_TRUE(from_solution.correct) << solution;
      // The raw "#### 1,234" text, a sentence and a box all grade correct; one more does not.
      std::string raw = solution.substr(solution.rfind("####") + 4);
      EXPECT_TRUE(Grade(raw, *gold, AnswerFormat::kGsm8k, /*extract=*/false).correct) << raw;
      EXPECT_TRUE(Grade("So the answer is " + *gold + ".", solution, AnswerFormat::kGsm8k).correct);
      EXPECT_TRUE(Grade("\\boxed{" + *gold + "}", *gold, AnswerFormat::kGsm8k).correct);
      long long wrong = number->value.exact->num + 1;
      EXPECT_FALSE(
          Grade("The answer is " + std::to_string(wrong), *gold, AnswerFormat::kGsm8k).correct);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 1319 + 7473);
}

}  // namespace
}  // namespace ponder::verifiers
