#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ponder {
namespace {

absl::Status ErrnoError(const std::string& path, const char* call) {
  int err = errno;
  std::string message = absl::StrCat(path, ": ", call, " failed: ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  if (err == EACCES) return absl::PermissionDeniedError(message);
  if (err == ENAMETOOLONG || err == ELOOP) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

}  // namespace

absl::StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  // Non-blocking: a FIFO would otherwise wait for a writer before fstat could refuse it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoError(path, "open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = ErrnoError(path, "fstat");
    ::close(fd);
    return status;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return MappedFile(path, nullptr, 0);
  }
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data == MAP_FAILED) {
    absl::Status status = ErrnoError(path, "mmap");
    ::close(fd);
    return status;
  }
  ::close(fd);  // The mapping keeps the file referenced.
  return MappedFile(path, static_cast<const uint8_t*>(data), size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

absl::StatusOr<std::ifstream> OpenFileForReading(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(path, "open");
  return in;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  PONDER_ASSIGN_OR_RETURN(std::ifstream in, OpenFileForReading(path));
  std::string contents;
  char buffer[1 << 16];
  // istream::read turns an exception from the stream buffer (a failed read) into badbit; the
  // last, partial read sets failbit but still counts its characters.
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    contents.append(buffer, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return ErrnoError(path, "read");
  return contents;
}

}  // namespace ponder
