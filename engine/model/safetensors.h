// Reader for Hugging Face safetensors files and sharded checkpoints.
// Format: https://github.com/huggingface/safetensors — an 8-byte little-endian header length N,
// N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {}},
// then the data, offsets relative to its start.
//
// Every header entry is validated against the file: dtype known, shape × element size equal to
// the byte range, ranges inside the data section and not overlapping. Errors name the file and
// the tensor. Data is memory-mapped, not copied.
#ifndef PONDER_ENGINE_MODEL_SAFETENSORS_H_
#define PONDER_ENGINE_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <map>
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

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // PyTorch order: shape.back() is contiguous
  std::span<const uint8_t> data;
};

class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Parses caller-owned bytes (which must outlive the result); `name` is used in errors.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Parse(std::span<const uint8_t> bytes,
                                                                std::string name);

  const std::string& name() const { return name_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* Find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  absl::Status ParseAll(std::span<const uint8_t> bytes);

  std::string name_;
  MappedFile mapped_;
  std::vector<SafetensorsTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint folder: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` (weight_map). A tensor listed in the index but missing from its
// shard is an error naming both.
class SafetensorsCheckpoint {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> Open(const std::string& folder);

  const SafetensorsTensor* Find(std::string_view name) const;
  std::vector<std::string> TensorNames() const;
  const std::string& folder() const { return folder_; }

 private:
  std::string folder_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  absl::flat_hash_map<std::string, const SafetensorsTensor*> index_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_SAFETENSORS_H_
