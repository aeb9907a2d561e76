#include "engine/model/atomic_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ponder::engine {

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path) {
  std::string temp_path = absl::StrCat(path, ".tmp.", getpid());
  std::FILE* file = std::fopen(temp_path.c_str(), "wb");
  if (file == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(temp_path, ": cannot create (", std::strerror(errno), ")"));
  }
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(path, std::move(temp_path), file));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

absl::Status AtomicFileWriter::Error(const std::string& what) const {
  return absl::UnavailableError(
      absl::StrCat(temp_path_, ": ", what, " (", std::strerror(errno), ")"));
}

absl::Status AtomicFileWriter::Write(std::span<const uint8_t> bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError(path_ + ": already committed");
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return Error("write failed");
  }
  bytes_written_ += bytes.size();
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::WriteZeros(uint64_t count) {
  static constexpr uint8_t kZeros[256] = {};
  while (count > 0) {
    const uint64_t n = std::min<uint64_t>(count, sizeof(kZeros));
    PONDER_RETURN_IF_ERROR(Write({kZeros, n}));
    count -= n;
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError(path_ + ": already committed");
  std::FILE* file = file_;
  file_ = nullptr;
  const bool flushed = std::fflush(file) == 0 && fsync(fileno(file)) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (!flushed || !closed) {
    errno = flushed ? errno : flush_errno;
    absl::Status status = Error("write failed");
    std::remove(temp_path_.c_str());
    return status;
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat(path_, ": rename from ", temp_path_, " failed (", std::strerror(errno), ")"));
    std::remove(temp_path_.c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::Status WriteTensorData(AtomicFileWriter& out, const std::vector<uint8_t>* in_memory,
                             TensorProducer produce, size_t index, const std::string& tensor_name,
                             uint64_t expected) {
  if (in_memory != nullptr) return out.Write(*in_memory);
  uint64_t delivered = 0;
  PONDER_RETURN_IF_ERROR(produce(index, [&](std::span<const uint8_t> bytes) -> absl::Status {
    delivered += bytes.size();
    if (delivered > expected) return absl::OkStatus();  // reported below, once
    return out.Write(bytes);
  }));
  if (delivered != expected) {
    return absl::InternalError(absl::StrCat(out.path(), ": tensor '", tensor_name, "' produced ",
                                            delivered, " bytes, expected ", expected));
  }
  return absl::OkStatus();
}

absl::Status NoProducerError(const std::string& path, const std::string& tensor_name) {
  return absl::FailedPreconditionError(
      absl::StrCat(path, ": tensor '", tensor_name, "' was declared but no producer was given"));
}

absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes) {
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer, AtomicFileWriter::Create(path));
  PONDER_RETURN_IF_ERROR(writer->Write(bytes));
  return writer->Commit();
}

}  // namespace ponder::engine
