// Writes a safetensors file (see safetensors.h for the format), tensors in insertion order.
#ifndef PONDER_ENGINE_MODEL_SAFETENSORS_WRITER_H_
#define PONDER_ENGINE_MODEL_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/atomic_file.h"
#include "engine/model/dtype.h"

namespace ponder::engine {

class SafetensorsWriter {
 public:
  // `shape` in PyTorch order; `data` (copied) holds the values in `dtype` (F32, F16 or BF16).
  void AddTensor(std::string_view name, DType dtype, std::vector<int64_t> shape,
                 std::span<const uint8_t> data);
  // Declares a tensor whose bytes the producer passed to WriteFile delivers (see GgufWriter).
  void DeclareTensor(std::string_view name, DType dtype, std::vector<int64_t> shape);
  void SetMetadata(std::string_view key, std::string_view value);
  // The whole file in memory; every tensor must have been added with its bytes.
  std::vector<uint8_t> Serialize() const;
  // Writes through a temporary file renamed into place. Declared tensors are an error.
  absl::Status WriteFile(const std::string& path) const;
  // The same, asking `produce` for the bytes of each declared tensor, in order.
  absl::Status WriteFile(const std::string& path, TensorProducer produce) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;  // empty for a declared tensor
    bool declared = false;
    uint64_t byte_size = 0;
  };
  // The 8-byte length and the JSON header, padded so the data starts 8-byte aligned.
  std::vector<uint8_t> SerializeHeader() const;

  std::vector<Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_SAFETENSORS_WRITER_H_
