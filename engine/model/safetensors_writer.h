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
#include "engine/model/dtype.h"

namespace ponder::engine {

class SafetensorsWriter {
 public:
  // `shape` in PyTorch order; `data` (copied) holds the values in `dtype` (F32, F16 or BF16).
  void AddTensor(std::string_view name, DType dtype, std::vector<int64_t> shape,
                 std::span<const uint8_t> data);
  void SetMetadata(std::string_view key, std::string_view value);
  std::vector<uint8_t> Serialize() const;
  // Writes through a temporary file renamed into place.
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes `bytes` to `path` through `path`.tmp and a rename, so readers never see a partial file.
absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_SAFETENSORS_WRITER_H_
