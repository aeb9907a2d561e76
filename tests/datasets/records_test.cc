// Reading dataset files: gzip detection, JSON Lines and JSON arrays with line numbers, fields.
#include "datasets/records.h"

#include <stop_token>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/datasets/test_files.h"

namespace ponder::datasets::internal {
namespace {

using ::ponder::datasets::testing::Gzip;
using ::ponder::datasets::testing::TempFolder;
using ::ponder::datasets::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DecodeMaybeGzip, PassesPlainTextThrough) {
  absl::StatusOr<std::string> text = DecodeMaybeGzip("{\"a\": 1}\n", "x.jsonl");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "{\"a\": 1}\n");
}

TEST(DecodeMaybeGzip, InflatesGzipWhateverTheName) {
  absl::StatusOr<std::string> text = DecodeMaybeGzip(Gzip("line one\nline two\n"), "x.jsonl");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "line one\nline two\n");
}

TEST(DecodeMaybeGzip, ConcatenatedMembersDecodeToTheirConcatenation) {
  absl::StatusOr<std::string> text = DecodeMaybeGzip(Gzip("first\n") + Gzip("second\n"), "x.gz");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "first\nsecond\n");
}

TEST(DecodeMaybeGzip, TruncatedGzipIsDataLossNamingTheFile) {
  std::string gzip = Gzip(std::string(5000, 'x') + "tail");
  absl::StatusOr<std::string> text = DecodeMaybeGzip(gzip.substr(0, gzip.size() / 2), "cut.gz");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(text.status().message(), HasSubstr("cut.gz"));
  EXPECT_THAT(text.status().message(), HasSubstr("truncated"));
}

TEST(DecodeMaybeGzip, CorruptGzipIsDataLoss) {
  std::string gzip = Gzip("some text that compresses into a few bytes of deflate data");
  gzip[gzip.size() / 2] ^= 0x5a;
  gzip[gzip.size() / 2 + 1] ^= 0xa5;
  absl::StatusOr<std::string> text = DecodeMaybeGzip(gzip, "bad.gz");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kDataLoss);
}

TEST(DecodeMaybeGzip, DropsAByteOrderMark) {
  absl::StatusOr<std::string> text = DecodeMaybeGzip("\xEF\xBB\xBF{}\n", "bom.jsonl");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "{}\n");
}

TEST(ReadDatasetFile, MissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<std::string> text = ReadDatasetFile("/nonexistent/ponder/test.jsonl");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(text.status().message(), HasSubstr("/nonexistent/ponder/test.jsonl"));
}

// A stopping server does not wait for a large gzip file to be decoded.
TEST(ReadDatasetFile, AGzipFileIsNotDecodedOnceAStopIsRequested) {
  TempFolder folder;
  const std::string path = folder / "test.jsonl.gz";
  WriteFile(path, Gzip("{\"a\": 1}\n"));
  std::stop_source stop;
  ASSERT_TRUE(ReadDatasetFile(path, stop.get_token()).ok());
  stop.request_stop();
  absl::StatusOr<std::string> text = ReadDatasetFile(path, stop.get_token());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(text.status().message(), HasSubstr("reading " + path + " stopped (asked to stop)"));
}

TEST(ReadDatasetFile, ADirectoryIsInvalidArgumentNamingThePath) {
  ::ponder::datasets::testing::TempFolder folder;
  absl::StatusOr<std::string> text = ReadDatasetFile(folder.path());
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(text.status().message(), HasSubstr(folder.path() + " is a directory"));
}

TEST(ForEachJsonLine, ReportsBadLinesByNumberAndSkipsBlankOnes) {
  SkipLog log;
  std::vector<std::pair<int64_t, int64_t>> seen;  // (line, index)
  EXPECT_TRUE(ForEachJsonLine(
                  "{\"a\": 1}\n\n{\"a\": 2\n   \n[3]\r\n{\"a\": 4}", "data.jsonl", log,
                  [&](const JsonRecord& record) { seen.emplace_back(record.line, record.index); })
                  .ok());
  // Line 3 is broken; blank lines 2 and 4 are neither records nor errors.
  EXPECT_THAT(seen,
              ElementsAre(std::pair<int64_t, int64_t>{1, 0}, std::pair<int64_t, int64_t>{5, 2},
                          std::pair<int64_t, int64_t>{6, 3}));
  EXPECT_EQ(log.skipped, 1);
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_THAT(log.warnings[0], HasSubstr("data.jsonl:3: not valid JSON (column"));
}

// nlohmann throws out_of_range, not parse_error, for a number beyond a double: such a record
// was an abort instead of a skipped line.
TEST(ForEachJsonLine, SkipsARecordWithANumberBeyondADouble) {
  SkipLog log;
  std::vector<int64_t> lines;
  EXPECT_TRUE(ForEachJsonLine("{\"a\": 1}\n{\"a\": 1e999}\n{\"a\": 3}\n", "data.jsonl", log,
                              [&](const JsonRecord& record) { lines.push_back(record.line); })
                  .ok());
  EXPECT_THAT(lines, ElementsAre(1, 3));
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_THAT(log.warnings[0],
              HasSubstr("data.jsonl:2: not valid JSON (column 7: the number 1e999 is out of the "
                        "range of a double)"));
}

// A stopping server must not wait for a large file: the scan ends before the next record once
// a stop is requested, naming where it stopped.
TEST(ForEachJsonLine, EndsBeforeTheNextRecordOnceAStopIsRequested) {
  SkipLog log;
  std::stop_source stop;
  std::vector<int64_t> lines;
  absl::Status status = ForEachJsonLine(
      "{\"a\": 1}\n\n{\"a\": 2}\n{\"a\": 3}\n", "data.jsonl", log,
      [&](const JsonRecord& record) {
        lines.push_back(record.line);
        if (record.line == 3) stop.request_stop();
      },
      stop.get_token());
  EXPECT_THAT(lines, ElementsAre(1, 3));
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("reading data.jsonl stopped at line 4"));

  lines.clear();
  std::stop_source array_stop;
  status = ForEachJsonArrayElement(
      "[\n{\"a\": 1},\n{\"a\": 2}\n]", "array.json", log,
      [&](const JsonRecord& record) {
        lines.push_back(record.line);
        array_stop.request_stop();
      },
      array_stop.get_token());
  EXPECT_THAT(lines, ElementsAre(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("reading array.json stopped at line 3"));
}

TEST(ForEachJsonArrayElement, GivesEachElementItsLine) {
  SkipLog log;
  std::vector<int64_t> lines;
  std::vector<std::string> names;
  absl::Status status = ForEachJsonArrayElement(
      "[\n  {\"name\": \"a, [b]\"},\n  {\"name\": \"c\\\"}\"},\n\n  {\"name\": \"d\"}\n]\n",
      "array.json", log, [&](const JsonRecord& record) {
        lines.push_back(record.line);
        names.push_back(record.value["name"].get<std::string>());
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(lines, ElementsAre(2, 3, 5));
  EXPECT_THAT(names, ElementsAre("a, [b]", "c\"}", "d"));
  EXPECT_EQ(log.skipped, 0);
}

TEST(ForEachJsonArrayElement, SkipsABadElementAndKeepsTheRest) {
  SkipLog log;
  int count = 0;
  absl::Status status =
      ForEachJsonArrayElement("[\n{\"a\": 1},\n{\"a\":\n  tru},\n{\"a\": 3}\n]", "array.json", log,
                              [&](const JsonRecord&) { ++count; });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(count, 2);
  ASSERT_EQ(log.warnings.size(), 1u);
  // The error is on the element's second line, line 4 of the file.
  EXPECT_THAT(log.warnings[0], HasSubstr("array.json:4: array element 1 is not valid JSON"));
}

TEST(ForEachJsonArrayElement, ADocumentThatIsNotAnArrayIsAnError) {
  SkipLog log;
  auto ignore = [](const JsonRecord&) {};
  absl::Status status = ForEachJsonArrayElement("{\"a\": 1}", "object.json", log, ignore);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("object.json:1"));
  status = ForEachJsonArrayElement("[{\"a\": 1},\n{\"a\": [2}\n", "open.json", log, ignore);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("open.json:2"));
  status = ForEachJsonArrayElement("[1] 2", "trailing.json", log, ignore);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // A stray closing brace ends the scan with an error (the fuzz target once found a loop here).
  status = ForEachJsonArrayElement("[\n }", "brace.json", log, ignore);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("brace.json:2: unbalanced '}'"));
}

TEST(RecordFields, ReadStringsIntegersAndListsAndNameTheFieldOnError) {
  nlohmann::json row = nlohmann::json::parse(
      R"({"s": "text", "i": 7, "f": 3.0, "d": "12", "l": ["a", "b"], "bad": [1]})");
  EXPECT_EQ(*StringField(row, "s"), "text");
  EXPECT_EQ(*IntegerField(row, "i"), 7);
  EXPECT_EQ(*IntegerField(row, "f"), 3);
  EXPECT_EQ(*IntegerField(row, "d"), 12);
  EXPECT_THAT(*StringListField(row, "l"), ElementsAre("a", "b"));
  EXPECT_TRUE(StringListField(row, "absent")->empty());
  EXPECT_EQ(StringField(row, "missing").status().message(), "missing field \"missing\"");
  EXPECT_EQ(StringField(row, "i").status().message(), "field \"i\" is not a string");
  EXPECT_EQ(IntegerField(row, "s").status().message(), "field \"s\" is not an integer");
  EXPECT_EQ(StringListField(row, "bad").status().message(),
            "field \"bad\" is not a list of strings");
}

}  // namespace
}  // namespace ponder::datasets::internal
