#include "base/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

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

// A FIFO given as a model file waited for a writer for ever (stop 29's QA).
TEST(MappedFileTest, AFifoIsRefusedWithoutWaitingForAWriter) {
  std::string path = ::testing::TempDir() + "/mapped_file_fifo";
  std::filesystem::remove(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find(path + ": not a regular file"), std::string::npos)
      << file.status();
  std::filesystem::remove(path);
}

TEST(MappedFileTest, EmptyFileMapsToEmptySpan) {
  std::string path = ::testing::TempDir() + "/mapped_file_empty.bin";
  { std::ofstream out(path, std::ios::binary); }
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->bytes().empty());
  std::filesystem::remove(path);
}

// Opening a directory for reading succeeds; only the first read fails (EISDIR). That must be an
// error naming the path, not an empty file (tokenize --file, --auth-token-file) or a crash.
TEST(ReadFileToStringTest, ADirectoryIsAnErrorNamingThePath) {
  const std::string dir = ::testing::TempDir() + "/read_file_to_string_dir";
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::string> text = ReadFileToString(dir);
  ASSERT_FALSE(text.ok()) << "read " << text->size() << " bytes from a directory";
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(), dir + " is a directory, not a file");
}

TEST(ReadFileToStringTest, ReadsAFileWholeAndAMissingOneIsNotFound) {
  const std::string path = ::testing::TempDir() + "/read_file_to_string.bin";
  const std::string contents = std::string("a\0b\n", 4) + std::string(100000, 'x');
  { std::ofstream(path, std::ios::binary) << contents; }
  absl::StatusOr<std::string> text = ReadFileToString(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, contents);
  std::filesystem::remove(path);
  absl::StatusOr<std::string> missing = ReadFileToString(path);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace ponder
