// LoadDataset: each format, malformed records (file:line, counts), .jsonl.gz, the MATH folder
// layout, selection, data-dir resolution, and the real files in ../shared/datasets.
#include <cstdlib>
#include <map>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/datasets/test_files.h"
#include "tests/testing/scoped_env.h"
#include "verifiers/grading/grader.h"

namespace ponder::datasets {
namespace {

using ::ponder::datasets::testing::Gzip;
using ::ponder::datasets::testing::SharedDatasets;
using ::ponder::datasets::testing::SharedFileExists;
using ::ponder::datasets::testing::TempFolder;
using ::ponder::datasets::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Ids(const LoadedDataset& loaded) {
  std::vector<std::string> ids;
  for (const Problem& problem : loaded.problems) ids.push_back(problem.id);
  return ids;
}

LoadedDataset LoadOrDie(std::string_view name, const DatasetOptions& options) {
  absl::StatusOr<LoadedDataset> loaded = LoadDataset(name, options);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *std::move(loaded) : LoadedDataset{};
}

using testutil::ScopedEnv;

constexpr char kGsm8kWithBadLines[] =
    R"({"question": "Q0?", "answer": "2 + 2 = 4\n#### 4"})"
    "\n"
    "{\"question\": \"broken\n"
    R"({"question": "Q2?"})"
    "\n"
    R"({"question": "Q3?", "answer": "no final answer line"})"
    "\n"
    "\n"
    R"({"question": "Q5?", "answer": "1,000 + 234 = 1,234\n#### 1,234"})"
    "\n"
    R"(["not", "an", "object"])"
    "\n";

TEST(LoadDataset, SkipsMalformedGsm8kLinesNamingFileAndLine) {
  TempFolder data;
  WriteFile(data / "gsm8k/test.jsonl", kGsm8kWithBadLines);
  LoadedDataset loaded = LoadOrDie("gsm8k", {.data_dir = data.path()});
  // Ids are positions among records, bad ones included, so they do not shift.
  EXPECT_THAT(Ids(loaded), ElementsAre("test/0", "test/4"));
  EXPECT_EQ(loaded.problems[0].reference_answer, "4");
  EXPECT_EQ(loaded.problems[1].reference_answer, "1234");
  EXPECT_EQ(loaded.problems[1].answer_format, verifiers::AnswerFormat::kGsm8k);
  EXPECT_EQ(loaded.problems[1].dataset, "gsm8k");
  EXPECT_EQ(loaded.skipped, 4);
  const std::string file = data / "gsm8k/test.jsonl";
  EXPECT_THAT(
      loaded.warnings,
      ElementsAre(HasSubstr(file + ":2: not valid JSON"), file + ":3: missing field \"answer\"",
                  file + ":4: field \"answer\" has no final \"#### N\" line",
                  file + ":7: expected a JSON object"));
  EXPECT_THAT(loaded.sources, ElementsAre(file));
}

// The loader and the service's dataset registry checked the split each with a copy of the
// rule; both use ResolveSplit now, so they cannot drift apart.
TEST(ResolveSplit, GivesTheDefaultOrAKnownSplitAndRefusesOthersListingThem) {
  const DatasetInfo* gsm8k = FindDataset("gsm8k");
  ASSERT_NE(gsm8k, nullptr);
  EXPECT_EQ(ResolveSplit(*gsm8k, "").value(), gsm8k->splits.front());
  EXPECT_EQ(ResolveSplit(*gsm8k, "train").value(), "train");
  absl::StatusOr<std::string> unknown = ResolveSplit(*gsm8k, "val\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status()));
  EXPECT_EQ(unknown.status().message(),
            "dataset 'gsm8k' has no split 'val\\n' (splits: test, train)");
  // The loader gives the same error.
  absl::StatusOr<LoadedDataset> loaded = LoadDataset("gsm8k", {.split = "val\n"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status(), unknown.status());
}

TEST(LoadDataset, ReadsGzipCompressedJsonLines) {
  TempFolder data;
  WriteFile(data / "math500/test.jsonl.gz",
            Gzip(R"({"problem": "1+1?", "solution": "$\\boxed{2}$", "answer": "2", )"
                 R"("subject": "Algebra", "level": 1, "unique_id": "test/algebra/9.json"})"
                 "\n"));
  LoadedDataset loaded = LoadOrDie("math500", {.data_dir = data.path()});
  ASSERT_EQ(loaded.problems.size(), 1u);
  const Problem& problem = loaded.problems[0];
  EXPECT_EQ(problem.id, "test/algebra/9.json");
  EXPECT_EQ(problem.reference_answer, "2");
  EXPECT_EQ(problem.level, 1);
  EXPECT_EQ(problem.subject, "Algebra");
  EXPECT_EQ(problem.answer_format, verifiers::AnswerFormat::kMath);
}

TEST(LoadDataset, MathGoldAnswerIsTheLastBoxedOfTheSolution) {
  TempFolder data;
  WriteFile(data / "math/test.jsonl",
            R"({"problem": "P", "solution": "First $\\boxed{1}$, then $\\boxed{\\frac{1}{2}}$.", )"
            R"("level": "Level 4", "type": "Number Theory"})"
            "\n"
            R"({"problem": "P2", "solution": "no box here", "level": "Level ?"})"
            "\n");
  LoadedDataset loaded = LoadOrDie("math", {.data_dir = data.path()});
  ASSERT_EQ(loaded.problems.size(), 1u);
  EXPECT_EQ(loaded.problems[0].reference_answer, "\\frac{1}{2}");
  EXPECT_EQ(loaded.problems[0].level, 4);
  EXPECT_EQ(loaded.problems[0].subject, "Number Theory");
  EXPECT_EQ(loaded.problems[0].id, "test/0");
  EXPECT_THAT(loaded.warnings,
              ElementsAre(HasSubstr("test.jsonl:2: the solution has no \\boxed{}")));
}

TEST(LoadDataset, ReadsTheOriginalMathFolderLayoutInSubjectAndNumberOrder) {
  TempFolder data;
  auto problem = [](std::string_view answer, std::string_view level) {
    return "{\n  \"problem\": \"What is it?\",\n  \"level\": \"" + std::string(level) +
           "\",\n  \"type\": \"Algebra\",\n  \"solution\": \"It is $\\\\boxed{" +
           std::string(answer) + "}$.\"\n}\n";
  };
  WriteFile(data / "MATH/test/algebra/10.json", problem("10", "Level 5"));
  WriteFile(data / "MATH/test/algebra/2.json", problem("2", "Level 2"));
  WriteFile(data / "MATH/test/algebra/1.json", problem("1", "Level 1"));
  WriteFile(data / "MATH/test/number_theory/5.json", problem("5", "Level 3"));
  WriteFile(data / "MATH/test/number_theory/6.json", "{\n  \"problem\": \"x\",\n  oops\n}\n");
  WriteFile(data / "MATH/test/number_theory/7.json", "{\"problem\": \"no solution\"}");
  WriteFile(data / "MATH/test/number_theory/notes.txt", "not a problem");
  LoadedDataset loaded = LoadOrDie("math", {.data_dir = data.path()});
  EXPECT_THAT(Ids(loaded), ElementsAre("test/algebra/1.json", "test/algebra/2.json",
                                       "test/algebra/10.json", "test/number_theory/5.json"));
  EXPECT_EQ(loaded.problems[2].reference_answer, "10");
  EXPECT_EQ(loaded.problems[2].level, 5);
  EXPECT_EQ(loaded.skipped, 2);
  EXPECT_THAT(loaded.warnings,
              ElementsAre(HasSubstr("number_theory/6.json:3: not valid JSON"),
                          HasSubstr("number_theory/7.json:1: missing field \"answer\"")));
  EXPECT_THAT(loaded.sources, ElementsAre(data / "MATH/test"));

  // The same folder given directly as the path.
  LoadedDataset direct = LoadOrDie("math", {.path = data / "MATH/test"});
  EXPECT_EQ(Ids(direct), Ids(loaded));
}

TEST(LoadDataset, PrefersJsonLinesOverTheFolderLayout) {
  TempFolder data;
  WriteFile(data / "math/test/algebra/1.json",
            R"({"problem": "folder", "solution": "\\boxed{1}"})");
  WriteFile(data / "math/test.jsonl.gz", Gzip(R"({"problem": "jsonl", "solution": "\\boxed{1}"})"
                                              "\n"));
  LoadedDataset loaded = LoadOrDie("math", {.data_dir = data.path()});
  ASSERT_EQ(loaded.problems.size(), 1u);
  EXPECT_EQ(loaded.problems[0].question, "jsonl");
}

TEST(LoadDataset, DuplicateIdsAreSkipped) {
  TempFolder data;
  WriteFile(data / "math500/test.jsonl", R"({"problem": "a", "answer": "1", "unique_id": "x"})"
                                         "\n"
                                         R"({"problem": "b", "answer": "2", "unique_id": "x"})"
                                         "\n");
  LoadedDataset loaded = LoadOrDie("math500", {.data_dir = data.path()});
  ASSERT_EQ(loaded.problems.size(), 1u);
  EXPECT_EQ(loaded.problems[0].question, "a");
  EXPECT_THAT(loaded.warnings, ElementsAre(HasSubstr(":2: duplicate id \"x\" (first on line 1)")));
}

TEST(LoadDataset, MbppSplitsAreTaskIdRanges) {
  TempFolder data;
  std::string lines;
  for (int task : {5, 11, 510, 511, 600, 601, 974}) {
    lines += "{\"task_id\": " + std::to_string(task) +
             R"(, "text": "Write f.", "code": "def f():\n    return 1", "test_setup_code": "", )"
             R"("test_list": ["assert f() == 1"], "challenge_test_list": []})"
             "\n";
  }
  WriteFile(data / "mbpp/mbpp.jsonl", lines);
  auto ids = [&](std::string split) {
    return Ids(LoadOrDie("mbpp", {.data_dir = data.path(), .split = split}));
  };
  EXPECT_THAT(ids("test"), ElementsAre("MBPP/11", "MBPP/510"));
  EXPECT_THAT(ids(""), ElementsAre("MBPP/11", "MBPP/510"));
  EXPECT_THAT(ids("validation"), ElementsAre("MBPP/511", "MBPP/600"));
  EXPECT_THAT(ids("train"), ElementsAre("MBPP/601", "MBPP/974"));
  EXPECT_THAT(ids("prompt"), ElementsAre("MBPP/5"));
  EXPECT_EQ(ids("full").size(), 7u);
  LoadedDataset test = LoadOrDie("mbpp", {.data_dir = data.path()});
  ASSERT_TRUE(test.problems[0].code.has_value());
  EXPECT_FALSE(test.problems[0].answer_format.has_value());
  EXPECT_THAT(test.problems[0].code->test_list, ElementsAre("assert f() == 1"));
  EXPECT_EQ(test.problems[0].code->canonical_solution, "def f():\n    return 1");
}

TEST(LoadDataset, SanitizedMbppIsAJsonArrayWithElementLines) {
  TempFolder data;
  WriteFile(data / "mbpp/sanitized-mbpp.json",
            "[\n"
            "    {\n"
            "        \"task_id\": 12,\n"
            "        \"prompt\": \"Write g.\",\n"
            "        \"code\": \"def g(): return 2\",\n"
            "        \"test_imports\": [\"import math\"],\n"
            "        \"test_list\": [\"assert g() == 2\"]\n"
            "    },\n"
            "    {\n"
            "        \"task_id\": 13,\n"
            "        \"prompt\": \"Write h.\"\n"
            "    }\n"
            "]\n");
  LoadedDataset loaded = LoadOrDie("mbpp-sanitized", {.data_dir = data.path()});
  ASSERT_EQ(loaded.problems.size(), 1u);
  EXPECT_EQ(loaded.problems[0].question, "Write g.");
  EXPECT_THAT(loaded.problems[0].code->test_imports, ElementsAre("import math"));
  EXPECT_THAT(loaded.warnings,
              ElementsAre(HasSubstr("sanitized-mbpp.json:9: missing field \"code\"")));
}

TEST(LoadDataset, MissingDatasetSaysWhereItLookedAndHowToFixIt) {
  TempFolder data;
  absl::StatusOr<LoadedDataset> loaded = LoadDataset("gsm8k", {.data_dir = data.path()});
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  std::string message(loaded.status().message());
  EXPECT_THAT(message, HasSubstr(data / "gsm8k/test.jsonl"));
  EXPECT_THAT(message, HasSubstr(data / "gsm8k/test.jsonl.gz"));
  EXPECT_THAT(message, HasSubstr("--data-dir"));
  EXPECT_THAT(message, HasSubstr("PONDER_DATA_DIR"));
  EXPECT_THAT(message, HasSubstr("ponder datasets fetch gsm8k"));
  // MATH cannot be fetched: the message points at `show` instead.
  EXPECT_THAT(LoadDataset("math", {.data_dir = data.path()}).status().message(),
              HasSubstr("ponder datasets show math"));
}

TEST(LoadDataset, UnknownNamesSplitsAndNegativeSlicesAreInvalidArguments) {
  absl::Status status = LoadDataset("gsm9k", {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("gsm8k, math, math500, humaneval, mbpp"));
  status = LoadDataset("gsm8k", {.split = "dev"}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("splits: test, train"));
  EXPECT_EQ(LoadDataset("arith", {.limit = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadDataset("arith", {.arith = {.difficulty = 7}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoadDataset, SelectsIdsThenOffsetThenLimit) {
  TempFolder data;
  std::string lines;
  for (int i = 0; i < 6; ++i) {
    lines += R"({"question": "Q", "answer": "#### )" + std::to_string(i) + "\"}\n";
  }
  WriteFile(data / "gsm8k/train.jsonl", lines);
  DatasetOptions options{.data_dir = data.path(), .split = "train"};
  options.offset = 2;
  options.limit = 3;
  EXPECT_THAT(Ids(LoadOrDie("gsm8k", options)), ElementsAre("train/2", "train/3", "train/4"));
  options.ids = {"train/5", "train/1", "train/3"};
  options.offset = 1;
  options.limit = 0;
  EXPECT_THAT(Ids(LoadOrDie("gsm8k", options)), ElementsAre("train/3", "train/5"));
  options.ids = {"train/1", "train/9"};
  absl::Status status = LoadDataset("gsm8k", options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("no problem with id \"train/9\""));
}

// A stopping server's loads end with Cancelled rather than read the file to its end; the
// MATH folder layout stops before its next file.
TEST(LoadDataset, EndsCancelledOnceAStopIsRequested) {
  TempFolder data;
  WriteFile(data / "gsm8k/test.jsonl", R"({"question": "Q", "answer": "#### 1"})"
                                       "\n");
  WriteFile(data / "MATH/test/algebra/1.json", R"({"problem": "x", "solution": "\\boxed{1}"})");
  std::stop_source stop;
  DatasetOptions options{.data_dir = data.path()};
  ASSERT_TRUE(LoadDataset("gsm8k", options).ok());
  ASSERT_TRUE(LoadDataset("math", options).ok());
  stop.request_stop();
  options.stop = stop.get_token();
  absl::Status status = LoadDataset("gsm8k", options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("gsm8k/test.jsonl stopped at line 1"));
  status = LoadDataset("math", options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("algebra/1.json stopped (asked to stop)"));
}

TEST(LoadDataset, ReadsTheFileGivenAsPath) {
  TempFolder data;
  WriteFile(data / "elsewhere.data", R"({"question": "Q", "answer": "#### 7"})");
  LoadedDataset loaded = LoadOrDie("gsm8k", {.path = data / "elsewhere.data"});
  ASSERT_EQ(loaded.problems.size(), 1u);
  EXPECT_EQ(loaded.problems[0].reference_answer, "7");
}

// `ponder bench --problems DIR` read a directory as a file and aborted.
TEST(LoadProblemsFile, ADirectoryIsAnErrorNamingIt) {
  TempFolder data;
  absl::StatusOr<LoadedDataset> loaded = LoadProblemsFile(data.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr(data.path() + " is a directory"));
}

// Code problems of one's own: graded by their tests, as HumanEval and MBPP are.
TEST(LoadProblemsFile, CodeProblemsCarryTheirTests) {
  TempFolder data;
  const std::string path = data / "code.jsonl";
  WriteFile(
      path,
      R"({"id":"add","problem":"Write add(a, b).","answer_format":"code",)"
      R"("tests":["assert add(1, 2) == 3"],"setup":"import math","example_tests":["assert add(0, 0) == 0"]})"
      "\n"
      R"({"problem":"Write neg(x).","answer_format":"code","test_code":"assert neg(1) == -1"})"
      "\n"
      R"({"problem":"Both.","answer_format":"code","tests":["assert 1"],"test_code":"assert 1"})"
      "\n"
      R"({"problem":"Neither.","answer_format":"code"})"
      "\n"
      R"({"problem":"An answer.","answer_format":"code","answer":"4","tests":["assert 1"]})"
      "\n"
      R"({"problem":"Not a list.","answer_format":"code","tests":"assert 1"})"
      "\n"
      R"({"problem":"Other format.","answer_format":"lean"})"
      "\n"
      R"({"problem":"Tests on math.","tests":["assert 1"]})"
      "\n"
      R"({"problem":"Blank.","answer_format":"code","tests":["assert 1"," "]})"
      "\n");
  absl::StatusOr<LoadedDataset> loaded = LoadProblemsFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->problems.size(), 2u);
  const Problem& add = loaded->problems[0];
  ASSERT_TRUE(add.code.has_value());
  EXPECT_FALSE(add.answer_format.has_value());
  EXPECT_EQ(add.question, "Write add(a, b).");
  EXPECT_THAT(add.code->test_list, ElementsAre("assert add(1, 2) == 3"));
  EXPECT_EQ(add.code->test_setup_code, "import math");
  EXPECT_THAT(add.code->example_tests, ElementsAre("assert add(0, 0) == 0"));
  EXPECT_EQ(loaded->problems[1].code->test_code, "assert neg(1) == -1");
  EXPECT_EQ(loaded->skipped, 7);
  EXPECT_THAT(loaded->warnings[0], HasSubstr(":3: a code problem needs exactly one of"));
  EXPECT_THAT(loaded->warnings[1], HasSubstr(":4: a code problem needs exactly one of"));
  EXPECT_THAT(loaded->warnings[2], HasSubstr("not an \"answer\""));
  EXPECT_THAT(loaded->warnings[3], HasSubstr("\"tests\" is not a list of strings"));
  EXPECT_THAT(loaded->warnings[4], HasSubstr("\"math\", \"gsm8k\" or \"code\", got \"lean\""));
  EXPECT_THAT(loaded->warnings[5], HasSubstr(":8: \"tests\" is for code problems"));
  EXPECT_THAT(loaded->warnings[6], HasSubstr(":9: \"tests\"[1] is blank"));
}

// An empty id was stored as "0" (stop 29's QA); left out, a problem's id is "line N".
TEST(LoadProblemsFile, AnEmptyIdIsAnErrorAndAMissingOneIsTheLine) {
  TempFolder data;
  const std::string path = data / "ids.jsonl";
  WriteFile(path, R"({"id":"","problem":"1 + 1?","answer":2})"
                  "\n"
                  R"({"problem":"2 + 2?","answer":4})"
                  "\n");
  absl::StatusOr<LoadedDataset> loaded = LoadProblemsFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->problems.size(), 1u);
  EXPECT_EQ(loaded->problems[0].id, "line 2");
  ASSERT_EQ(loaded->warnings.size(), 1u);
  EXPECT_THAT(loaded->warnings[0], HasSubstr(":1: \"id\" is empty"));
}

// An id is a row of results tables: one holding a newline or a NUL broke them (an inline
// problem's id was already held to this, QA F10). Such a record is skipped like any bad one.
TEST(LoadProblemsFile, AnIdWithAControlCharacterIsSkippedNamingFileAndLine) {
  TempFolder data;
  const std::string path = data / "ids.jsonl";
  WriteFile(path, R"({"id":"a\nb","problem":"1 + 1?","answer":2})"
                  "\n"
                  R"({"id":"c\u0000d","problem":"2 + 2?","answer":4})"
                  "\n"
                  R"({"id":"e f","problem":"3 + 3?","answer":6})"
                  "\n");
  absl::StatusOr<LoadedDataset> loaded = LoadProblemsFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(Ids(*loaded), ElementsAre("e f"));
  EXPECT_EQ(loaded->skipped, 2);
  EXPECT_THAT(
      loaded->warnings,
      ElementsAre(path + ":1: id 'a\\nb' holds a control character (a NUL, a newline...)",
                  path + ":2: id 'c\\x00d' holds a control character (a NUL, a newline...)"));
  // The same for a dataset's records, MATH's one-problem files among them.
  WriteFile(data / "math/test/algebra/1.json",
            R"({"problem":"x?","solution":"\\boxed{1}","unique_id":"x\ty"})");
  LoadedDataset math = LoadOrDie("math", {.data_dir = data.path()});
  EXPECT_EQ(math.problems.size(), 0u);
  EXPECT_THAT(math.warnings, ElementsAre(HasSubstr("1.json:1: id 'x\\ty' holds a control")));
}

TEST(LoadDataset, ArithIsGeneratedWithTheGsm8kAnswerFormat) {
  LoadedDataset loaded =
      LoadOrDie("arith", {.split = "train", .limit = 3, .arith = {.seed = 40, .difficulty = 3}});
  EXPECT_THAT(Ids(loaded), ElementsAre("train/d3/40", "train/d3/41", "train/d3/42"));
  for (const Problem& problem : loaded.problems) {
    EXPECT_EQ(problem.dataset, "arith");
    EXPECT_EQ(problem.level, 3);
    EXPECT_EQ(problem.answer_format, verifiers::AnswerFormat::kGsm8k);
    EXPECT_TRUE(verifiers::Grade(problem.solution, problem.reference_answer,
                                 verifiers::AnswerFormat::kGsm8k)
                    .correct);
  }
  // The default split is test, with 500 problems; a larger limit extends it.
  EXPECT_EQ(LoadOrDie("arith", {}).problems.size(), 500u);
  EXPECT_EQ(LoadOrDie("arith", {.limit = 700}).problems.size(), 700u);
  EXPECT_EQ(LoadOrDie("arith", {.arith = {.count = 20}}).problems.size(), 20u);
  EXPECT_EQ(LoadOrDie("arith", {}).problems[0].id, "test/0");
}

TEST(ResolveDataDir, FlagThenEnvironmentThenCache) {
  ScopedEnv data_dir("PONDER_DATA_DIR", "/from/env");
  ScopedEnv cache("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(ResolveDataDir("/from/flag").path, "/from/flag");
  EXPECT_EQ(ResolveDataDir("/from/flag").origin, "--data-dir");
  EXPECT_EQ(ResolveDataDir("").path, "/from/env");
  EXPECT_EQ(ResolveDataDir("").origin, "PONDER_DATA_DIR");
  {
    ScopedEnv unset("PONDER_DATA_DIR", nullptr);
    EXPECT_EQ(ResolveDataDir("").path, "/xdg/ponder/datasets");
    EXPECT_EQ(ResolveDataDir("").origin, "default");
    ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(DefaultDataDir(), "/home/someone/.cache/ponder/datasets");
  }
}

TEST(ResolveDataDir, LoadDatasetUsesTheEnvironmentWhenNoFolderIsGiven) {
  TempFolder data;
  WriteFile(data / "gsm8k/test.jsonl", R"({"question": "Q", "answer": "#### 3"})");
  ScopedEnv env("PONDER_DATA_DIR", data.path().c_str());
  EXPECT_EQ(LoadOrDie("gsm8k", {}).problems.size(), 1u);
}

TEST(ListDatasets, KnowsEveryDatasetWithItsDefaultSplitFirst) {
  std::vector<std::string> names;
  for (const DatasetInfo& info : ListDatasets()) {
    names.push_back(info.name);
    EXPECT_EQ(info.splits.front(), "test") << info.name;
    EXPECT_FALSE(info.description.empty());
  }
  EXPECT_THAT(names, ElementsAre("gsm8k", "math", "math500", "humaneval", "mbpp", "mbpp-sanitized",
                                 "arith"));
  EXPECT_EQ(FindDataset("nope"), nullptr);
  EXPECT_TRUE(FindDataset("humaneval")->is_code);
}

// ---------------------------------------------------------------------------------------------
// The real files.

#define SKIP_UNLESS_SHARED(relative)                                               \
  if (!SharedFileExists(relative)) {                                               \
    GTEST_SKIP() << SharedDatasets() << "/" << relative << " is absent; skipping"; \
  }

TEST(RealDatasetFiles, Gsm8kLoadsEveryRowWithAnAnswer) {
  SKIP_UNLESS_SHARED("gsm8k/test.jsonl");
  LoadedDataset test = LoadOrDie("gsm8k", {.data_dir = SharedDatasets()});
  EXPECT_EQ(test.problems.size(), 1319u);
  EXPECT_EQ(test.skipped, 0);
  EXPECT_EQ(test.problems[0].reference_answer, "18");  // Janet's ducks
  for (const Problem& problem : test.problems) {
    EXPECT_EQ(problem.reference_answer.find(','), std::string::npos) << problem.id;
  }
  LoadedDataset train = LoadOrDie("gsm8k", {.data_dir = SharedDatasets(), .split = "train"});
  EXPECT_EQ(train.problems.size(), 7473u);
  EXPECT_EQ(train.skipped, 0);
}

TEST(RealDatasetFiles, MathTestHas5000ProblemsInSevenSubjects) {
  SKIP_UNLESS_SHARED("math/test.jsonl.gz");
  LoadedDataset loaded = LoadOrDie("math", {.data_dir = SharedDatasets()});
  EXPECT_EQ(loaded.problems.size(), 5000u);
  EXPECT_EQ(loaded.skipped, 0);
  std::map<std::string, int> subjects;
  std::map<int, int> levels;
  for (const Problem& problem : loaded.problems) {
    ++subjects[problem.subject];
    ++levels[problem.level];
  }
  EXPECT_EQ(subjects.size(), 7u);
  EXPECT_EQ(subjects["Algebra"], 1187);
  EXPECT_EQ(subjects["Precalculus"], 546);
  // SOURCE.md: levels 1..5 have 437/894/1131/1214/1324 problems.
  EXPECT_EQ(levels[1], 437);
  EXPECT_EQ(levels[5], 1324);
}

TEST(RealDatasetFiles, Math500AgreesWithMathOnEveryProblemAndAnswer) {
  SKIP_UNLESS_SHARED("math500/test.jsonl");
  SKIP_UNLESS_SHARED("math/test.jsonl.gz");
  LoadedDataset math500 = LoadOrDie("math500", {.data_dir = SharedDatasets()});
  ASSERT_EQ(math500.problems.size(), 500u);
  EXPECT_EQ(math500.skipped, 0);
  std::vector<std::string> ids = Ids(math500);
  LoadedDataset math = LoadOrDie("math", {.data_dir = SharedDatasets(), .ids = ids});
  ASSERT_EQ(math.problems.size(), 500u);
  std::map<std::string, const Problem*> by_id;
  for (const Problem& problem : math.problems) by_id[problem.id] = &problem;
  for (const Problem& problem : math500.problems) {
    const Problem& full = *by_id.at(problem.id);
    EXPECT_EQ(problem.question, full.question) << problem.id;
    EXPECT_EQ(problem.reference_answer, full.reference_answer) << problem.id;
    EXPECT_EQ(verifiers::MathGoldAnswer(problem.solution), problem.reference_answer) << problem.id;
  }
}

TEST(RealDatasetFiles, HumanEvalHas164CodeProblems) {
  SKIP_UNLESS_SHARED("humaneval/HumanEval.jsonl.gz");
  LoadedDataset loaded = LoadOrDie("humaneval", {.data_dir = SharedDatasets()});
  ASSERT_EQ(loaded.problems.size(), 164u);
  EXPECT_EQ(loaded.skipped, 0);
  EXPECT_EQ(loaded.problems[0].id, "HumanEval/0");
  EXPECT_EQ(loaded.problems[0].code->entry_point, "has_close_elements");
  for (const Problem& problem : loaded.problems) {
    ASSERT_TRUE(problem.code.has_value());
    EXPECT_THAT(problem.code->test, HasSubstr("def check(candidate)")) << problem.id;
  }
}

TEST(RealDatasetFiles, MbppSplitsHaveTheDocumentedSizes) {
  SKIP_UNLESS_SHARED("mbpp/mbpp.jsonl");
  SKIP_UNLESS_SHARED("mbpp/sanitized-mbpp.json");
  std::map<std::string, size_t> sizes = {
      {"test", 500}, {"train", 374}, {"validation", 90}, {"prompt", 10}, {"full", 974}};
  for (const auto& [split, size] : sizes) {
    LoadedDataset loaded = LoadOrDie("mbpp", {.data_dir = SharedDatasets(), .split = split});
    EXPECT_EQ(loaded.problems.size(), size) << split;
    EXPECT_EQ(loaded.skipped, 0) << split;
  }
  LoadedDataset sanitized =
      LoadOrDie("mbpp-sanitized", {.data_dir = SharedDatasets(), .split = "full"});
  EXPECT_EQ(sanitized.problems.size(), 427u);
  EXPECT_EQ(sanitized.skipped, 0);
  EXPECT_EQ(LoadOrDie("mbpp-sanitized", {.data_dir = SharedDatasets()}).problems.size(), 257u);
}

}  // namespace
}  // namespace ponder::datasets
