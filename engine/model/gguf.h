// GGUF (v2/v3) file reader: the llama.cpp model container. A file holds typed metadata
// key/values and a table of tensors whose data follows, aligned, after the header.
// Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
//
// GgufFile validates everything while parsing: every length, count, offset, dimension and type
// is checked against the file size before use, so a truncated or corrupted file gives an error
// naming the file, the key or tensor, and the problem — never a crash or an out-of-bounds read.
// Tensor data is not copied: tensors point into the (memory-mapped) bytes.
#ifndef PONDER_ENGINE_MODEL_GGUF_H_
#define PONDER_ENGINE_MODEL_GGUF_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "base/mapped_file.h"
#include "engine/model/dtype.h"

namespace ponder::engine {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view GgufValueTypeName(GgufValueType type);

// One metadata value. Scalars are decoded; strings point into the file; arrays keep their
// element type and, for strings, every element (validated at parse time).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  GgufValueType element_type = GgufValueType::kUint8;  // arrays only
  uint64_t count = 0;                                  // arrays only
  union {
    uint64_t u;
    int64_t i;
    double f;
  } scalar = {0};
  std::string_view string;                // kString
  std::span<const uint8_t> array_bytes;   // arrays of numbers/bools: the raw elements
  std::vector<std::string_view> strings;  // arrays of strings
};

struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  // Dimensions in GGUF order: dims[0] is the innermost (contiguous) one, so a PyTorch weight
  // [out, in] appears as {in, out}.
  std::vector<uint64_t> dims;
  uint64_t num_elements = 0;
  std::span<const uint8_t> data;  // exactly ByteSize(dtype, num_elements) bytes
};

class GgufFile {
 public:
  // Memory-maps and parses `path`.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses bytes owned by the caller (which must outlive the result); `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(std::span<const uint8_t> bytes,
                                                         std::string name);

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }

  // Metadata. Typed getters accept any integer width for integer requests (range-checked) and
  // fail with a message naming the key when it is missing or of another type.
  bool Has(std::string_view key) const;
  const GgufValue* Find(std::string_view key) const;
  const std::vector<std::string>& keys() const { return key_order_; }
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::vector<std::string_view>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  // Tensors, in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  absl::Status ParseAll(std::span<const uint8_t> bytes);
  absl::Status KeyError(std::string_view key, std::string_view problem) const;

  std::string name_;
  MappedFile mapped_;  // empty when parsing caller-owned bytes
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  absl::flat_hash_map<std::string, GgufValue> metadata_;
  std::vector<std::string> key_order_;
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_GGUF_H_
