#include "base/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace ponder {
namespace {

TEST(MappedFileTest, MapsContentsAndReportsMissingFileByPath) {
  std::string path = ::testing::TempDir() + "/mapped_file_test.bin";
  { std::ofstream(path, std::ios::binary) << "hello"; }
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->size(), 5u);
  EXPECT_EQ(std::string(file->bytes().begin(), file->bytes().end()), "hello");

  MappedFile moved = std::move(*file);
  EXPECT_EQ(moved.size(), 5u);
  std::filesystem::remove(path);

  absl::StatusOr<MappedFile> missing = MappedFile::Open(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(MappedFileTest, EmptyFileMapsToEmptySpan) {
  std::string path = ::testing::TempDir() + "/mapped_file_empty.bin";
  { std::ofstream out(path, std::ios::binary); }
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->bytes().empty());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ponder
