// Writes GGUF v3 files: metadata in insertion order, then tensors, aligned to 32 bytes.
// Used by `ponder convert` (engine/convert/), and by tests to build small files.
//
// Tensors are either added with their bytes (AddTensor: small files) or declared by layout and
// streamed while the file is written (DeclareTensor + WriteFile with a producer), so that a
// converter holds a piece of one tensor in memory, never the model.
#ifndef PONDER_ENGINE_MODEL_GGUF_WRITER_H_
#define PONDER_ENGINE_MODEL_GGUF_WRITER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/atomic_file.h"
#include "engine/model/dtype.h"
#include "engine/model/gguf.h"

namespace ponder::engine {

class GgufWriter {
 public:
  void SetString(std::string_view key, std::string_view value);
  void SetUint32(std::string_view key, uint32_t value);
  void SetInt32(std::string_view key, int32_t value);
  void SetUint64(std::string_view key, uint64_t value);
  void SetFloat32(std::string_view key, float value);
  void SetBool(std::string_view key, bool value);
  void SetStringArray(std::string_view key, std::span<const std::string> values);
  void SetFloat32Array(std::string_view key, std::span<const float> values);
  void SetInt32Array(std::string_view key, std::span<const int32_t> values);

  // `dims` in GGUF order (innermost first); `data` holds DTypeBytes(dtype, product) bytes and is
  // copied.
  void AddTensor(std::string_view name, DType dtype, std::vector<uint64_t> dims,
                 std::span<const uint8_t> data);

  // Declares a tensor whose DTypeBytes(dtype, product of dims) bytes the producer passed to
  // WriteFile delivers.
  void DeclareTensor(std::string_view name, DType dtype, std::vector<uint64_t> dims);

  // The whole file in memory; every tensor must have been added with its bytes.
  std::vector<uint8_t> Serialize() const;
  // Writes to `path` through a temporary file renamed into place (engine/model/atomic_file.h),
  // so a failed write never leaves a half-written model behind. Declared tensors are an error.
  absl::Status WriteFile(const std::string& path) const;
  // The same, asking `produce` for the bytes of each declared tensor, in tensor order. A
  // producer error, or a byte count other than the declared one, aborts the write.
  absl::Status WriteFile(const std::string& path, TensorProducer produce) const;

 private:
  struct Entry {
    std::string key;
    GgufValueType type;
    GgufValueType element_type;
    std::vector<uint8_t> payload;  // encoded value (for arrays: count + elements)
  };
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;  // empty for a declared tensor
    bool declared = false;
    uint64_t byte_size = 0;
  };
  void Set(std::string_view key, GgufValueType type, GgufValueType element_type,
           std::vector<uint8_t> payload);

  // Metadata and tensor infos, padded to the alignment; `offsets` receives each tensor's offset
  // in the data section.
  std::vector<uint8_t> SerializeHeader(std::vector<uint64_t>* offsets) const;

  std::vector<Entry> entries_;
  std::vector<Tensor> tensors_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_GGUF_WRITER_H_
