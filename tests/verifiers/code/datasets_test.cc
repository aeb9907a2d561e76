// Real problems through the pool: every HumanEval canonical solution passes and a corrupted one
// fails; a sample of MBPP problems passes with their reference code. Reads ../shared/datasets
// (PONDER_SHARED_DIR) and skips when it is absent.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/verifiers/code/sandbox_test_util.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers {
namespace {

using ::ponder::verifiers::testing::Describe;

const std::string kHumanEvalPath =
    std::string(PONDER_SHARED_DIR) + "/datasets/humaneval/HumanEval.jsonl.gz";
const std::string kMbppPath = std::string(PONDER_SHARED_DIR) + "/datasets/mbpp/mbpp.jsonl";

// The decompressed text of a gzip file, or nullopt when it cannot be read.
std::optional<std::string> ReadGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return std::nullopt;
  std::string text;
  char buffer[65536];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0)
    text.append(buffer, static_cast<size_t>(n));
  bool ok = n == 0;
  gzclose(file);
  if (!ok) return std::nullopt;
  return text;
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> rows;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) rows.push_back(nlohmann::json::parse(text.substr(start, end - start)));
    start = end + 1;
  }
  return rows;
}

HumanEvalProblem ToHumanEval(const nlohmann::json& row) {
  HumanEvalProblem problem;
  problem.task_id = row.at("task_id").get<std::string>();
  problem.prompt = row.at("prompt").get<std::string>();
  problem.canonical_solution = row.at("canonical_solution").get<std::string>();
  problem.test = row.at("test").get<std::string>();
  problem.entry_point = row.at("entry_point").get<std::string>();
  return problem;
}

using DatasetsTest = ::ponder::verifiers::testing::SandboxFixture<61400, 8>;

TEST_F(DatasetsTest, EveryHumanEvalCanonicalSolutionPasses) {
  std::optional<std::string> text = ReadGzip(kHumanEvalPath);
  if (!text) GTEST_SKIP() << "HumanEval not found at " << kHumanEvalPath;
  std::vector<HumanEvalProblem> problems;
  std::vector<CodeRunRequest> requests;
  SandboxLimits limits;
  limits.timeout_seconds = 20;  // generous: two cores shared with the rest of the test run
  for (const nlohmann::json& row : JsonLines(*text)) {
    problems.push_back(ToHumanEval(row));
    requests.push_back(
        HumanEvalRequest(problems.back(), problems.back().canonical_solution, limits));
  }
  ASSERT_EQ(problems.size(), 164u);
  CodeVerifierPool pool(sandbox_.get());
  std::vector<CodeRunResult> results = pool.RunAll(requests);
  int passed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].status, CodeRunStatus::kPassed)
        << problems[i].task_id << ": " << Describe(results[i]);
    passed += results[i].status == CodeRunStatus::kPassed;
  }
  EXPECT_EQ(passed, 164);
  CodeVerifierPool::Stats stats = pool.stats();
  std::printf(
      "HumanEval: %d/164 canonical solutions passed; %d workers; %.2f s wall and %.2f s "
      "CPU summed over runs; largest resident set %.1f MiB\n",
      passed, pool.parallelism(), stats.wall_seconds, stats.cpu_seconds,
      stats.peak_rss_bytes / 1048576.0);
}

TEST_F(DatasetsTest, CorruptedHumanEvalSolutionsFail) {
  std::optional<std::string> text = ReadGzip(kHumanEvalPath);
  if (!text) GTEST_SKIP() << "HumanEval not found at " << kHumanEvalPath;
  std::vector<nlohmann::json> rows = JsonLines(*text);
  ASSERT_FALSE(rows.empty());
  HumanEvalProblem first = ToHumanEval(rows[0]);  // has_close_elements
  CodeVerifier verifier(sandbox_.get());
  // Off by one in the comparison: still runs, gives wrong answers.
  std::string off_by_one = first.canonical_solution;
  size_t pos = off_by_one.find("distance < threshold");
  ASSERT_NE(pos, std::string::npos);
  off_by_one.replace(pos, 20, "distance <= threshold * 10");
  CodeRunResult wrong = verifier.VerifyHumanEval(first, off_by_one);
  EXPECT_EQ(wrong.status, CodeRunStatus::kFailed) << Describe(wrong);
  EXPECT_EQ(wrong.tests_passed, 0);
  EXPECT_EQ(wrong.tests_total, 1);
  EXPECT_NE(wrong.detail.find("AssertionError"), std::string::npos) << wrong.detail;
  // A truncated solution does not even compile.
  CodeRunResult truncated = verifier.VerifyHumanEval(first, first.canonical_solution.substr(0, 30));
  EXPECT_EQ(truncated.status, CodeRunStatus::kFailed) << Describe(truncated);
  EXPECT_EQ(verifier.VerifyHumanEval(first, first.canonical_solution).status,
            CodeRunStatus::kPassed);
}

TEST_F(DatasetsTest, MbppReferenceSolutionsPass) {
  std::ifstream file(kMbppPath);
  if (!file) GTEST_SKIP() << "MBPP not found at " << kMbppPath;
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<MbppProblem> problems;
  std::vector<CodeRunRequest> requests;
  SandboxLimits limits;
  limits.timeout_seconds = 20;
  std::vector<nlohmann::json> rows = JsonLines(text);
  ASSERT_EQ(rows.size(), 974u);
  // Every 12th problem: a sample across the test, validation and train splits.
  for (size_t i = 0; i < rows.size(); i += 12) {
    MbppProblem problem;
    problem.task_id = rows[i].at("task_id").get<int>();
    problem.text = rows[i].at("text").get<std::string>();
    problem.code = rows[i].at("code").get<std::string>();
    problem.test_setup_code = rows[i].at("test_setup_code").get<std::string>();
    problem.test_list = rows[i].at("test_list").get<std::vector<std::string>>();
    problems.push_back(problem);
    requests.push_back(MbppRequest(problem, problem.code, limits));
  }
  CodeVerifierPool pool(sandbox_.get());
  std::vector<CodeRunResult> results = pool.RunAll(requests);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].status, CodeRunStatus::kPassed)
        << "MBPP task " << problems[i].task_id << ": " << Describe(results[i]);
    EXPECT_EQ(results[i].tests_total, static_cast<int>(problems[i].test_list.size()));
  }
  // And a wrong program fails the same tests.
  CodeRunResult wrong = CodeVerifier(sandbox_.get())
                            .VerifyMbpp(problems[0], "def min_cost(cost, m, n):\n    return 0\n");
  EXPECT_EQ(wrong.status, CodeRunStatus::kFailed) << Describe(wrong);
}

}  // namespace
}  // namespace ponder::verifiers
