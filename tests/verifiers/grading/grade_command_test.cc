// `ponder grade` end to end: runs the built binary on JSON Lines files.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/run_command.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::vector<std::string> stdout_lines;
  std::string stderr_text;
};

std::string WriteFile(const std::string& name, const std::string& contents) {
  std::string path = testing::TempDir() + name;
  std::ofstream(path) << contents;
  return path;
}

RunResult RunPonder(const std::string& arguments) {
  ponder::testutil::CommandOutput run =
      ponder::testutil::RunCommand(std::string(PONDER_BINARY_DIR) + "/bin/ponder " + arguments);
  return {run.exit_code, run.lines(), run.err};
}

TEST(GradingCommand, GradesEachLineAndReportsABadLineByNumber) {
  std::string input =
      WriteFile("grade_math.jsonl",
                R"({"response": "So the answer is $\\boxed{\\frac{1}{2}}$.", "reference": "0.5"})"
                "\n"
                R"({"response": "I give up.", "reference": "3"})"
                "\n"
                "this line is not json\n"
                "\n"
                R"json({"response": "\\boxed{(2,5)}", "reference": "[2,5)"})json"
                "\n"
                R"({"reference": "1"})"
                "\n");
  RunResult run = RunPonder("grade --dataset math --input " + input);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.stdout_lines,
              ElementsAre(R"({"extracted":"\\frac{1}{2}","correct":true})",
                          R"({"extracted":null,"correct":false})", HasSubstr(R"("error":)"),
                          R"json({"extracted":"(2,5)","correct":false})json",
                          HasSubstr(R"(missing field \"response\")")));
  EXPECT_THAT(run.stderr_text, HasSubstr("grade_math.jsonl:3: not valid JSON"));
  EXPECT_THAT(run.stderr_text, HasSubstr("grade_math.jsonl:6: missing field \"response\""));
}

TEST(GradingCommand, ExitsZeroWhenEveryLineIsReadAndHonoursNoExtract) {
  std::string input =
      WriteFile("grade_gsm8k.jsonl", R"({"response": "$1,234.00", "reference": "1234"})"
                                     "\n"
                                     R"({"response": "The answer is 7", "reference": "7"})"
                                     "\n");
  RunResult run = RunPonder("grade --dataset gsm8k --no-extract --input " + input);
  EXPECT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_THAT(run.stdout_lines, ElementsAre(R"({"extracted":"$1,234.00","correct":true})",
                                            R"({"extracted":"The answer is 7","correct":false})"));
  RunResult extracting = RunPonder("grade --dataset gsm8k --input " + input);
  EXPECT_EQ(extracting.exit_code, 0);
  EXPECT_THAT(extracting.stdout_lines, ElementsAre(R"({"extracted":"1234.00","correct":true})",
                                                   R"({"extracted":"7","correct":true})"));
}

TEST(GradingCommand, RejectsBadArguments) {
  RunResult unknown = RunPonder("grade --dataset math500 --input /dev/null");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.stderr_text, HasSubstr("'math500'"));
  RunResult missing = RunPonder("grade --dataset math");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.stderr_text, HasSubstr("--input"));
  RunResult absent = RunPonder("grade --dataset math --input /nonexistent/grade.jsonl");
  EXPECT_EQ(absent.exit_code, 1);
  EXPECT_THAT(absent.stderr_text, HasSubstr("/nonexistent/grade.jsonl"));
}

// A directory opens like a file and then reads as nothing: it must be an error, not an empty
// (and successful) grading.
TEST(GradingCommand, ADirectoryAsInputIsAnErrorNamingIt) {
  const std::string dir = testing::TempDir() + "grade_input_dir";
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  RunResult run = RunPonder("grade --dataset math --input " + dir);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.stdout_lines, ::testing::IsEmpty());
  EXPECT_THAT(run.stderr_text, HasSubstr("--input: " + dir + " is a directory"));
}

}  // namespace
