// `ponder verify-code`, run as a user would: the built binary through popen.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/testing/run_command.h"
#include "tests/verifiers/code/sandbox_test_util.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::vector<std::string> lines;
};

CommandResult RunPonder(const std::string& arguments) {
  ponder::testutil::CommandOutput run = ponder::testutil::RunCommand(
      std::string(PONDER_BINARY_DIR) + "/bin/ponder verify-code " + arguments);
  return {run.exit_code, run.lines()};
}

class VerifyCodeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The command uses the default slot range; check that the sandbox works with it here.
    CodeSandbox sandbox;
    PONDER_REQUIRE_SANDBOX(sandbox);
    char pattern[] = "/tmp/ponder-verify-code-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(VerifyCodeCliTest, OneResultLinePerInputLineInOrder) {
  const std::string input = Write(
      "input.jsonl",
      R"jsonl({"language": "python", "program": "def f(x):\n    return x + 1\n", "tests": "assert f(1) == 2\nassert f(2) == 3\n", "timeout_s": 5}
{"language": "python", "program": "def f(x):\n    return x\n", "tests": "assert f(1) == 2\nassert f(2) == 2\n"}
this is not json
{"language": "python", "program": "print(sum(map(int, input().split())))", "test_cases": [{"input": "1 2", "expected_output": "3"}, {"input": "5 5\n", "expected_output": "10\n"}]}
{"language": "python", "program": "while True: pass", "tests": "assert True", "timeout_s": 1}
{"language": "cobol", "program": "x", "tests": "assert True"}
{"program": "x = 1", "tests": "assert x == 1", "test_cases": []}
{"program": "print('all tests passed')\nimport os\nos._exit(0)", "tests": "assert False"}
)jsonl");
  CommandResult result = RunPonder("--input " + input);
  ASSERT_EQ(result.lines.size(), 8u);
  std::vector<nlohmann::json> out;
  for (const std::string& line : result.lines) {
    out.push_back(nlohmann::json::parse(line));
    EXPECT_EQ(out.back().size(), 4u) << line;  // exactly the four documented fields
  }
  EXPECT_EQ(out[0]["status"], "passed");
  EXPECT_EQ(out[0]["tests_passed"], 2);
  EXPECT_EQ(out[0]["tests_total"], 2);
  EXPECT_EQ(out[1]["status"], "failed");
  EXPECT_EQ(out[1]["tests_passed"], 1);
  EXPECT_EQ(out[2]["status"], "error");
  EXPECT_EQ(out[2]["detail"], "line 3: not valid JSON");
  EXPECT_EQ(out[3]["status"], "passed");
  EXPECT_EQ(out[3]["tests_total"], 2);
  EXPECT_EQ(out[4]["status"], "timeout");
  EXPECT_EQ(out[5]["status"], "error");
  EXPECT_NE(out[5]["detail"].get<std::string>().find("line 6: field 'language'"),
            std::string::npos);
  EXPECT_NE(out[6]["detail"].get<std::string>().find("line 7: give exactly one of"),
            std::string::npos);
  EXPECT_EQ(out[7]["status"], "error");  // a printed "all tests passed" is not a verdict
  EXPECT_EQ(result.exit_code, 1);        // lines 3, 6 and 7 could not be read
}

TEST_F(VerifyCodeCliTest, CleanInputExitsZero) {
  const std::string input = Write("clean.jsonl", R"({"program": "x = 2", "tests": "assert x == 2"})"
                                                 "\n");
  CommandResult result = RunPonder("--input " + input + " --parallel 1");
  ASSERT_EQ(result.lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(result.lines[0])["status"], "passed");
  EXPECT_EQ(result.exit_code, 0);
}

TEST(VerifyCodeCliUsageTest, MissingOrUnreadableInputIsAnError) {
  EXPECT_EQ(RunPonder("").exit_code, 2);
  EXPECT_EQ(RunPonder("--input /nonexistent/ponder.jsonl").exit_code, 1);
}

// Needs no sandbox: the input is refused before any program runs.
TEST(VerifyCodeCliUsageTest, ADirectoryAsInputIsAnErrorNamingIt) {
  const std::string dir = ::testing::TempDir() + "verify_code_input_dir";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  ponder::testutil::CommandOutput run = ponder::testutil::RunCommand(
      std::string(PONDER_BINARY_DIR) + "/bin/ponder verify-code --input " + dir);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("--input: " + dir + " is a directory"), std::string::npos) << run.err;
}

// Needs no sandbox: --parallel 0 (or negative) was silently one per core.
TEST(VerifyCodeCliUsageTest, AParallelismBelowOneIsAnErrorNamingTheFlag) {
  for (const std::string parallel : {"0", "-2"}) {
    ponder::testutil::CommandOutput run = ponder::testutil::RunCommand(
        std::string(PONDER_BINARY_DIR) + "/bin/ponder verify-code --input /dev/null --parallel " +
        parallel);
    EXPECT_EQ(run.exit_code, 2) << parallel;
    EXPECT_NE(run.err.find("--parallel must be >= 1, got " + parallel +
                           " (leave it out for one per core)"),
              std::string::npos)
        << run.err;
  }
}

// Needs no sandbox: a --parallel above one per core was lowered silently.
TEST(VerifyCodeCliUsageTest, AParallelismAboveTheCoresIsLoweredWithANote) {
  ponder::testutil::CommandOutput run =
      ponder::testutil::RunCommand(std::string(PONDER_BINARY_DIR) +
                                   "/bin/ponder verify-code --input /dev/null --parallel 100000");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("--parallel 100000 is more than this host runs at once"),
            std::string::npos)
      << run.err;
}

TEST(CodeRunRequestFromJsonTest, ReadsBothKindsAndNamesBadFields) {
  absl::StatusOr<CodeRunRequest> tests = CodeRunRequestFromJson(
      R"({"language": "python", "program": "p", "tests": "assert 1", "timeout_s": 2.5})");
  ASSERT_TRUE(tests.ok()) << tests.status();
  EXPECT_EQ(tests->kind, CodeTestKind::kTestCode);
  EXPECT_EQ(tests->test_code, "assert 1");
  EXPECT_DOUBLE_EQ(tests->limits.timeout_seconds, 2.5);
  absl::StatusOr<CodeRunRequest> cases = CodeRunRequestFromJson(
      R"({"program": "p", "test_cases": [{"input": "1", "expected_output": "2"}]})");
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_EQ(cases->kind, CodeTestKind::kIoCases);
  ASSERT_EQ(cases->io_cases.size(), 1u);
  EXPECT_EQ(cases->io_cases[0].expected_output, "2");
  EXPECT_DOUBLE_EQ(cases->limits.timeout_seconds, 5);
  struct {
    const char* line;
    const char* message;
  } const bad[] = {
      {R"({"program": "p"})", "exactly one of"},
      {R"({"tests": "assert 1"})", "'program'"},
      {R"({"program": "p", "tests": "t", "timeout_s": -1})", "'timeout_s'"},
      {R"({"program": "p", "tests": "t", "timeout_s": "5"})", "'timeout_s'"},
      {R"({"program": "p", "tests": "t", "test": "x"})", "unknown field 'test'"},
      {R"({"program": "p", "test_cases": [{"input": 1, "expected_output": "2"}]})",
       "test_cases[0]"},
      {R"([1, 2])", "JSON object"},
  };
  for (const auto& [line, message] : bad) {
    absl::StatusOr<CodeRunRequest> request = CodeRunRequestFromJson(line);
    ASSERT_FALSE(request.ok()) << line;
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(request.status().message()).find(message), std::string::npos)
        << request.status();
  }
}

TEST(CodeRunResultToJsonTest, WritesTheFourFieldsAndSurvivesInvalidUtf8) {
  CodeRunResult result;
  result.status = CodeRunStatus::kFailed;
  result.tests_passed = 1;
  result.tests_total = 2;
  result.detail = "got \xff\xfe";
  const std::string text = CodeRunResultToJson(result);
  EXPECT_EQ(text.rfind(R"({"status":"failed","tests_passed":1,"tests_total":2,"detail":"got )", 0),
            0u)
      << text;  // the documented field order
  nlohmann::json line = nlohmann::json::parse(text);
  EXPECT_EQ(line["status"], "failed");
  EXPECT_EQ(line["tests_passed"], 1);
  EXPECT_EQ(line["tests_total"], 2);
  EXPECT_EQ(line.size(), 4u);
}

}  // namespace
}  // namespace ponder::verifiers
