// SHA-256 against the FIPS 180-4 example vectors, and the fetch catalog against the shared copies.
#include "datasets/sha256.h"

#include <string>

#include "datasets/fetch.h"
#include "gtest/gtest.h"
#include "tests/datasets/test_files.h"

namespace ponder::datasets::internal {
namespace {

TEST(Sha256, MatchesTheStandardsExamples) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesGiveTheSameDigestAsOneUpdate) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  // Chunk sizes around the 64-byte block and the 56-byte padding boundary.
  for (size_t chunk : {1u, 55u, 56u, 63u, 64u, 65u, 119u, 999u}) {
    Sha256 hash;
    for (size_t at = 0; at < data.size(); at += chunk) {
      hash.Update(std::string_view(data).substr(at, chunk));
    }
    EXPECT_EQ(hash.HexDigest(), Sha256Hex(data)) << chunk;
  }
}

TEST(FetchCatalog, ChecksumsMatchTheSharedCopies) {
  int checked = 0;
  for (const char* name : {"gsm8k", "math500", "humaneval", "mbpp", "mbpp-sanitized"}) {
    absl::StatusOr<std::vector<RemoteFile>> files = FetchSources(name);
    ASSERT_TRUE(files.ok()) << files.status();
    for (const RemoteFile& file : *files) {
      if (!testing::SharedFileExists(file.path)) continue;
      std::string bytes = testing::ReadFile(testing::SharedDatasets() + "/" + file.path);
      EXPECT_EQ(static_cast<int64_t>(bytes.size()), file.size) << file.path;
      EXPECT_EQ(Sha256Hex(bytes), file.sha256) << file.path;
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << testing::SharedDatasets() << " is absent";
  EXPECT_EQ(checked, 6);  // gsm8k test+train, math500, humaneval, mbpp, sanitized mbpp
}

}  // namespace
}  // namespace ponder::datasets::internal
