// `ponder datasets` end to end: runs the built binary.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/datasets/local_http_server.h"
#include "tests/datasets/test_files.h"
#include "tests/testing/run_command.h"

namespace ponder::datasets {
namespace {

using ::ponder::datasets::testing::ClosedLocalPort;
using ::ponder::datasets::testing::LocalHttpServer;
using ::ponder::datasets::testing::ReadFile;
using ::ponder::datasets::testing::SharedDatasets;
using ::ponder::datasets::testing::SharedFileExists;
using ::ponder::datasets::testing::TempFolder;
using ::ponder::datasets::testing::WriteFile;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream stream(out);
    for (std::string line; std::getline(stream, line);) result.push_back(line);
    return result;
  }
};

// Runs `ponder datasets <arguments>` with PONDER_DATA_DIR and XDG_CACHE_HOME pointing at an
// empty folder, so the user's own cache never leaks into a test.
RunResult Datasets(const std::string& arguments) {
  static TempFolder* home = new TempFolder;
  ponder::testutil::CommandOutput run = ponder::testutil::RunCommand(
      "env -u PONDER_DATA_DIR XDG_CACHE_HOME=" + *home / "cache" + " " +
      std::string(PONDER_BINARY_DIR) + "/bin/ponder datasets " + arguments);
  return {run.exit_code, run.out, run.err};
}

TEST(DatasetsCommand, ExportsTheBuiltInTaskAsJsonLines) {
  RunResult run = Datasets("export arith --split train --count 5 --seed 3 --difficulty 4");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<std::string> lines = run.lines();
  ASSERT_EQ(lines.size(), 5u);
  for (size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json record = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(record["id"], "train/d4/" + std::to_string(3 + i));
    EXPECT_EQ(record["difficulty"], 4);
    EXPECT_THAT(record["problem"].get<std::string>(), HasSubstr("How many"));
    EXPECT_THAT(
        record["solution"].get<std::string>(),
        ::testing::EndsWith("The answer is \\boxed{" + record["answer"].get<std::string>() + "}."));
  }
  // Deterministic, and the test split differs.
  EXPECT_EQ(Datasets("export arith --split train --count 5 --seed 3 --difficulty 4").out, run.out);
  EXPECT_NE(Datasets("export arith --split test --count 5 --seed 3 --difficulty 4").out, run.out);
}

TEST(DatasetsCommand, ExportWritesToAFileAndDefaultsTo500TestProblems) {
  TempFolder folder;
  RunResult run = Datasets("export arith --out " + folder / "arith.jsonl");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("wrote 500 problems"));
  std::string text = ReadFile(folder / "arith.jsonl");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 500);
  EXPECT_EQ(nlohmann::json::parse(text.substr(0, text.find('\n')))["id"], "test/0");
}

// --count N --offset K was N - K problems for arith (the count was the split's size) and N
// from K for the other datasets; now N from K for all. The problems are those of the whole set.
TEST(DatasetsCommand, ArithExportsCountProblemsFromTheOffset) {
  auto ids = [](const RunResult& run) {
    std::vector<std::string> out;
    for (const std::string& line : run.lines()) out.push_back(nlohmann::json::parse(line)["id"]);
    return out;
  };
  RunResult one = Datasets("export arith --count 1 --offset 5");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(ids(one), ::testing::ElementsAre("test/5"));
  const std::vector<std::string> first_six = Datasets("export arith --count 6").lines();
  ASSERT_EQ(first_six.size(), 6u);
  EXPECT_EQ(one.lines(), std::vector<std::string>{first_six[5]});
  RunResult across = Datasets("export arith --count 3 --offset 499");
  ASSERT_EQ(across.exit_code, 0) << across.err;
  EXPECT_THAT(ids(across), ::testing::ElementsAre("test/499", "test/500", "test/501"));
  EXPECT_EQ(ids(Datasets("export arith --offset 498")).size(), 2u);  // the rest of the 500

  // 2^31 problems were generated into memory, and ended in bad_alloc.
  RunResult huge = Datasets("export arith --count 2147483647");
  EXPECT_EQ(huge.exit_code, 2);
  EXPECT_THAT(huge.err, HasSubstr("arith: offset 0 + count 2147483647 is more than the 100000 "
                                  "problems generated at most"));
}

TEST(DatasetsCommand, BadArgumentsAreUsageErrors) {
  RunResult run = Datasets("export arith --difficulty 9");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("difficulty 9 is out of range"));
  EXPECT_EQ(Datasets("export arith --split dev").exit_code, 2);
  EXPECT_EQ(Datasets("frobnicate").exit_code, 2);
  EXPECT_EQ(Datasets("").exit_code, 2);
  EXPECT_EQ(Datasets("show").exit_code, 2);
  EXPECT_EQ(Datasets("--help").exit_code, 0);
}

TEST(DatasetsCommand, ShowReportsSkippedLinesByFileAndLine) {
  TempFolder data;
  WriteFile(data / "gsm8k/test.jsonl",
            "{\"question\": \"Q?\", \"answer\": \"#### 4\"}\nnot json\n{\"question\": \"x\"}\n");
  RunResult run = Datasets("show gsm8k --data-dir " + data.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr(data / "gsm8k/test.jsonl:2: not valid JSON"));
  EXPECT_THAT(run.err, HasSubstr(data / "gsm8k/test.jsonl:3: missing field \"answer\""));
  EXPECT_THAT(run.err, HasSubstr("skipped 2 malformed records"));
  EXPECT_THAT(run.out, HasSubstr("[test/0]\nQ?\nanswer: 4"));
}

// A warning quotes file names and bytes; they reached the terminal raw, so a file could forge a
// line of ponder's own or drive the terminal with an escape sequence (review of e82c643).
TEST(DatasetsCommand, SkippedRecordWarningsEscapeControlCharacters) {
  TempFolder data;
  WriteFile(data / "math/test/alg\x1b[31m\nponder: all good/1.json", "not json");
  RunResult run = Datasets("show math --data-dir " + data.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("alg\\x1b[31m\\nponder: all good/1.json:1: not valid JSON"));
  EXPECT_EQ(run.err.find('\x1b'), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("\nponder: all good"), std::string::npos) << run.err;
}

TEST(DatasetsCommand, ARecordWithANumberBeyondADoubleIsSkippedLikeOtherBadRecords) {
  TempFolder data;
  WriteFile(data / "gsm8k/test.jsonl",
            "{\"question\": \"Q?\", \"answer\": \"#### 4\"}\n"
            "{\"question\": \"R?\", \"answer\": \"#### 5\", \"n\": 1e999}\n");
  for (const std::string command : {"show", "export"}) {
    RunResult run = Datasets(command + " gsm8k --data-dir " + data.path());
    ASSERT_EQ(run.exit_code, 0) << command << ": " << run.err;
    EXPECT_THAT(run.err, HasSubstr(data / "gsm8k/test.jsonl:2: not valid JSON (column 45: the "
                                          "number 1e999 is out of the range of a double)"));
    EXPECT_THAT(run.out, HasSubstr("Q?"));
  }
}

TEST(DatasetsCommand, ShowPrintsAPromptForAModelFamily) {
  RunResult run = Datasets("show arith --count 1 --prompt --family qwen-math --few-shot 1");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("[system]\nPlease reason step by step"));
  EXPECT_THAT(run.out, HasSubstr("[assistant]\n"));
  EXPECT_THAT(run.out, HasSubstr("--- prompt: raw text"));
  EXPECT_EQ(Datasets("show arith --prompt --family gpt").exit_code, 2);
}

TEST(DatasetsCommand, AMissingDatasetNamesDataDir) {
  TempFolder data;
  RunResult run = Datasets("show math500 --data-dir " + data.path());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("missing (tried math500/test.jsonl"));
  EXPECT_THAT(run.err, HasSubstr("--data-dir"));
}

TEST(DatasetsCommand, ListShowsWhatIsPresent) {
  TempFolder data;
  WriteFile(data / "gsm8k/test.jsonl", "{}\n");
  RunResult run = Datasets("list --data-dir " + data.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("data dir: " + data.path() + " (--data-dir)"));
  EXPECT_THAT(run.out, ::testing::ContainsRegex("gsm8k +test,train +number +partly"));
  EXPECT_THAT(run.out, ::testing::ContainsRegex("math500 +test +latex +no"));
  EXPECT_THAT(run.out, ::testing::ContainsRegex("arith +test,train +number +generated"));
}

TEST(DatasetsCommand, FetchWithoutNetworkFailsNamingDataDir) {
  TempFolder cache;
  RunResult run = Datasets("fetch gsm8k --cache-dir " + cache / "c" +
                           " --mirror http://127.0.0.1:" + std::to_string(ClosedLocalPort()));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("cannot download"));
  EXPECT_THAT(run.err, HasSubstr("--data-dir"));
}

TEST(DatasetsCommand, FetchDownloadsFromAMirrorAndTheDatasetThenLoads) {
  if (!SharedFileExists("math500/test.jsonl")) GTEST_SKIP() << "no shared MATH-500";
  LocalHttpServer server;
  server.Serve("/math500/test.jsonl", ReadFile(SharedDatasets() + "/math500/test.jsonl"));
  TempFolder cache;
  RunResult run =
      Datasets("fetch math500 --cache-dir " + cache.path() + " --mirror " + server.url());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("downloaded " + cache / "math500/test.jsonl"));
  EXPECT_THAT(run.out, HasSubstr("use it with --data-dir " + cache.path()));
  RunResult show = Datasets("show math500 --count 0 --data-dir " + cache.path());
  EXPECT_THAT(show.out, HasSubstr(cache / "math500/test.jsonl"));
  RunResult again =
      Datasets("fetch math500 --cache-dir " + cache.path() + " --mirror " + server.url());
  EXPECT_THAT(again.out, HasSubstr("present"));
  EXPECT_EQ(server.requests(), 1);
}

}  // namespace
}  // namespace ponder::datasets
