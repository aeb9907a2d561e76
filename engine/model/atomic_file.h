// Writing a file so that readers only ever see the old file or the complete new one: the bytes
// go to a temporary file beside the target, which is renamed over it once everything is
// written and flushed. A writer that is destroyed before Commit (an error, an early return)
// removes its temporary file, so a failed conversion or save leaves nothing half-written behind.
#ifndef PONDER_ENGINE_MODEL_ATOMIC_FILE_H_
#define PONDER_ENGINE_MODEL_ATOMIC_FILE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ponder::engine {

class AtomicFileWriter {
 public:
  // Opens `path`.tmp.<pid> for writing. Errors name the file and the system's reason.
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Create(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  absl::Status Write(std::span<const uint8_t> bytes);
  absl::Status WriteZeros(uint64_t count);
  uint64_t bytes_written() const { return bytes_written_; }
  // Flushes to disk and renames the temporary file to the target path. Nothing may be written
  // after a Commit, successful or not.
  absl::Status Commit();

  const std::string& path() const { return path_; }

 private:
  AtomicFileWriter(std::string path, std::string temp_path, std::FILE* file)
      : path_(std::move(path)), temp_path_(std::move(temp_path)), file_(file) {}
  absl::Status Error(const std::string& what) const;

  std::string path_;
  std::string temp_path_;
  std::FILE* file_;
  uint64_t bytes_written_ = 0;
};

// Streaming tensor data into a file writer (GgufWriter, SafetensorsWriter): a producer hands a
// tensor's bytes to a sink in as many pieces as it likes, so only a piece is in memory at once.
using ByteSink = absl::FunctionRef<absl::Status(std::span<const uint8_t> bytes)>;
using TensorProducer = absl::FunctionRef<absl::Status(size_t tensor_index, ByteSink sink)>;

// Writes tensor `index` into `out`: `in_memory` when the writer holds its bytes, else what
// `produce` delivers, which must be exactly `expected` bytes; errors name the tensor and the
// file.
absl::Status WriteTensorData(AtomicFileWriter& out, const std::vector<uint8_t>* in_memory,
                             TensorProducer produce, size_t index, const std::string& tensor_name,
                             uint64_t expected);

// The error for a tensor that was declared but that no producer was given for (the writers'
// WriteFile without a producer).
absl::Status NoProducerError(const std::string& path, const std::string& tensor_name);

// Writes `bytes` to `path` through an AtomicFileWriter.
absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_ATOMIC_FILE_H_
