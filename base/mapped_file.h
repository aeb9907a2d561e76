// A read-only memory-mapped file. The mapping lives as long as the object; views into it
// (std::span) must not outlive it. Empty files map to an empty span.
#ifndef PONDER_BASE_MAPPED_FILE_H_
#define PONDER_BASE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace ponder {

class MappedFile {
 public:
  // Maps `path` read-only. Errors name the path and the failing system call.
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Opens `path` for reading, as a stream for readers that go line by line. Errors name the
// path: NotFound when it does not exist, PermissionDenied when it may not be read, and
// InvalidArgument "<path> is a directory, not a file" (a directory opens like a file; only its
// first read fails, and std::filebuf throws on that read).
absl::StatusOr<std::ifstream> OpenFileForReading(const std::string& path);

// Reads a whole (small) file into a string; errors as OpenFileForReading's, or a failed read.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace ponder

#endif  // PONDER_BASE_MAPPED_FILE_H_
