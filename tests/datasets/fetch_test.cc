// `fetch`: downloads from a local HTTP server on 127.0.0.1, checksum and size checks, nothing
// left behind on failure, and a message naming --data-dir when there is no network.
#include "datasets/fetch.h"

#include <filesystem>
#include <string>

#include "datasets/dataset.h"
#include "datasets/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/datasets/local_http_server.h"
#include "tests/datasets/test_files.h"

namespace ponder::datasets {
namespace {

namespace fs = std::filesystem;
using ::ponder::datasets::testing::ClosedLocalPort;
using ::ponder::datasets::testing::LocalHttpServer;
using ::ponder::datasets::testing::ReadFile;
using ::ponder::datasets::testing::SharedDatasets;
using ::ponder::datasets::testing::SharedFileExists;
using ::ponder::datasets::testing::TempFolder;
using ::ponder::datasets::testing::WriteFile;
using ::testing::HasSubstr;

// Every regular file under `folder`.
std::vector<std::string> FilesUnder(const std::string& folder) {
  std::vector<std::string> files;
  std::error_code error;
  if (!fs::exists(folder, error)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  return files;
}

FetchOptions Mirror(const LocalHttpServer& server, const std::string& cache_dir) {
  FetchOptions options;
  options.cache_dir = cache_dir;
  options.mirror = server.url();
  options.connect_timeout_seconds = 5;
  options.stall_timeout_seconds = 5;
  return options;
}

TEST(DownloadVerified, WritesAFileWhoseChecksumMatches) {
  LocalHttpServer server;
  ASSERT_NE(server.port(), 0);
  const std::string body = "{\"question\": \"Q\", \"answer\": \"#### 1\"}\n";
  server.Serve("/data.jsonl", body);
  TempFolder folder;
  absl::Status status = DownloadVerified(server.url() + "/data.jsonl", folder / "data.jsonl",
                                         internal::Sha256Hex(body), body.size(), {});
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(ReadFile(folder / "data.jsonl"), body);
  EXPECT_EQ(FilesUnder(folder.path()).size(), 1u);  // no temporary file left beside it
}

TEST(DownloadVerified, AChecksumMismatchLeavesNothing) {
  LocalHttpServer server;
  server.Serve("/data.jsonl", "tampered");
  TempFolder folder;
  absl::Status status = DownloadVerified(server.url() + "/data.jsonl", folder / "data.jsonl",
                                         internal::Sha256Hex("original"), 8, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("checksum mismatch"));
  EXPECT_THAT(status.message(), HasSubstr(internal::Sha256Hex("tampered")));
  EXPECT_TRUE(FilesUnder(folder.path()).empty());
}

TEST(DownloadVerified, StopsAnOversizedDownloadEarly) {
  LocalHttpServer server;
  server.Serve("/big", std::string(4 << 20, 'x'));
  TempFolder folder;
  absl::Status status =
      DownloadVerified(server.url() + "/big", folder / "big", internal::Sha256Hex("x"), 1000, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("larger than the expected 1000 bytes"));
  EXPECT_TRUE(FilesUnder(folder.path()).empty());
}

TEST(FetchDataset, AChecksumMismatchLeavesNothingInTheCache) {
  LocalHttpServer server;
  server.Serve("/gsm8k/test.jsonl", "{\"question\": \"not the real file\"}\n");
  TempFolder folder;
  const std::string cache = folder / "cache";  // does not exist yet
  absl::StatusOr<std::vector<FetchedFile>> fetched = FetchDataset("gsm8k", Mirror(server, cache));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(fetched.status().message(), HasSubstr("checksum mismatch"));
  EXPECT_THAT(fetched.status().message(), HasSubstr("--data-dir"));
  // Neither the file nor the folders the fetch created remain.
  EXPECT_FALSE(fs::exists(cache));
  EXPECT_EQ(server.requests(), 1);
}

TEST(FetchDataset, WithoutNetworkTheMessageNamesDataDir) {
  TempFolder folder;
  FetchOptions options;
  options.cache_dir = folder / "cache";
  options.mirror = "http://127.0.0.1:" + std::to_string(ClosedLocalPort());
  options.connect_timeout_seconds = 5;
  absl::StatusOr<std::vector<FetchedFile>> fetched = FetchDataset("humaneval", options);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable);
  std::string message(fetched.status().message());
  EXPECT_THAT(message,
              HasSubstr("cannot download " + options.mirror + "/humaneval/HumanEval.jsonl.gz"));
  EXPECT_THAT(message, HasSubstr("--data-dir"));
  EXPECT_THAT(message, HasSubstr("PONDER_DATA_DIR"));
  EXPECT_THAT(message,
              HasSubstr("b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"));
  EXPECT_FALSE(fs::exists(options.cache_dir));
}

TEST(FetchDataset, AnHttpErrorIsReported) {
  LocalHttpServer server;  // serves nothing: every path is 404
  TempFolder folder;
  absl::StatusOr<std::vector<FetchedFile>> fetched =
      FetchDataset("math500", Mirror(server, folder / "cache"));
  ASSERT_FALSE(fetched.ok());
  EXPECT_THAT(fetched.status().message(), HasSubstr("404"));
  EXPECT_THAT(fetched.status().message(), HasSubstr("--data-dir"));
}

TEST(FetchDataset, DatasetsWithoutASourceSayWhatToDoInstead) {
  absl::Status math = FetchDataset("math", {}).status();
  EXPECT_EQ(math.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(math.message(), HasSubstr("MATH.tar"));
  EXPECT_THAT(math.message(), HasSubstr("--data-dir"));
  absl::Status arith = FetchDataset("arith", {}).status();
  EXPECT_EQ(arith.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(arith.message(), HasSubstr("generated"));
  EXPECT_EQ(FetchDataset("nope", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FetchDataset, FetchesAServedCopyThatThenLoads) {
  if (!SharedFileExists("gsm8k/test.jsonl") || !SharedFileExists("gsm8k/train.jsonl")) {
    GTEST_SKIP() << SharedDatasets() << "/gsm8k is absent; skipping";
  }
  LocalHttpServer server;
  server.Serve("/gsm8k/test.jsonl", ReadFile(SharedDatasets() + "/gsm8k/test.jsonl"));
  server.Serve("/gsm8k/train.jsonl", ReadFile(SharedDatasets() + "/gsm8k/train.jsonl"));
  TempFolder folder;
  const std::string cache = folder / "cache";
  absl::StatusOr<std::vector<FetchedFile>> fetched = FetchDataset("gsm8k", Mirror(server, cache));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_EQ(fetched->size(), 2u);
  EXPECT_TRUE((*fetched)[0].downloaded);
  EXPECT_EQ((*fetched)[0].path, cache + "/gsm8k/test.jsonl");
  EXPECT_EQ((*fetched)[1].bytes, 4166206);
  EXPECT_EQ(FilesUnder(cache).size(), 2u);

  absl::StatusOr<LoadedDataset> loaded = LoadDataset("gsm8k", {.data_dir = cache});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->problems.size(), 1319u);

  // Verified copies are not downloaded again; a damaged one is replaced.
  WriteFile(cache + "/gsm8k/train.jsonl", "damaged");
  fetched = FetchDataset("gsm8k", Mirror(server, cache));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_FALSE((*fetched)[0].downloaded);
  EXPECT_TRUE((*fetched)[1].downloaded);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(fs::file_size(cache + "/gsm8k/train.jsonl"), 4166206u);
}

TEST(FetchSources, PinsEveryUrlToACommitWithAChecksum) {
  for (const DatasetInfo& info : ListDatasets()) {
    absl::StatusOr<std::vector<RemoteFile>> files = FetchSources(info.name);
    EXPECT_EQ(files.ok(), info.fetchable) << info.name;
    if (!files.ok()) continue;
    for (const RemoteFile& file : *files) {
      EXPECT_THAT(file.url, ::testing::StartsWith("https://")) << file.url;
      EXPECT_THAT(file.url, ::testing::ContainsRegex("/[0-9a-f]{40}/")) << file.url;
      EXPECT_EQ(file.sha256.size(), 64u);
      EXPECT_GT(file.size, 0);
      // The file lands where LoadDataset looks.
      bool looked_for = false;
      for (const auto& [split, candidates] : info.files) {
        looked_for |=
            std::find(candidates.begin(), candidates.end(), file.path) != candidates.end();
      }
      EXPECT_TRUE(looked_for) << file.path;
    }
  }
}

}  // namespace
}  // namespace ponder::datasets
