// Helpers for the datasets tests: temporary folders, files and gzip.
#ifndef PONDER_TESTS_DATASETS_TEST_FILES_H_
#define PONDER_TESTS_DATASETS_TEST_FILES_H_

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ponder::datasets::testing {

// A fresh empty folder under the test's temporary directory, removed on destruction.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = ::testing::TempDir() + "ponder_datasets_XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view relative) const {
    return path_ + "/" + std::string(relative);
  }

 private:
  std::string path_;
};

// Writes `contents` to `path`, creating parent folders.
inline void WriteFile(const std::string& path, std::string_view contents) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// `text` as one gzip member (RFC 1952).
inline std::string Gzip(std::string_view text) {
  z_stream stream{};
  deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, text.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

inline std::string SharedDatasets() { return std::string(PONDER_SHARED_DIR) + "/datasets"; }

inline bool SharedFileExists(std::string_view relative) {
  return std::filesystem::is_regular_file(SharedDatasets() + "/" + std::string(relative));
}

}  // namespace ponder::datasets::testing

#endif  // PONDER_TESTS_DATASETS_TEST_FILES_H_
