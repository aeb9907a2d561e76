#include "engine/model/safetensors_writer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {

void SafetensorsWriter::AddTensor(std::string_view name, DType dtype, std::vector<int64_t> shape,
                                  std::span<const uint8_t> data) {
  tensors_.push_back(
      {std::string(name), dtype, std::move(shape), {data.begin(), data.end()}, false, data.size()});
}

void SafetensorsWriter::DeclareTensor(std::string_view name, DType dtype,
                                      std::vector<int64_t> shape) {
  uint64_t elements = 1;
  for (int64_t d : shape) elements *= static_cast<uint64_t>(d);
  const uint64_t bytes = DTypeBytes(dtype, elements);
  tensors_.push_back({std::string(name), dtype, std::move(shape), {}, true, bytes});
}

void SafetensorsWriter::SetMetadata(std::string_view key, std::string_view value) {
  metadata_[std::string(key)] = std::string(value);
}

std::vector<uint8_t> SafetensorsWriter::SerializeHeader() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Tensor& tensor : tensors_) {
    const char* dtype = tensor.dtype == DType::kF32   ? "F32"
                        : tensor.dtype == DType::kF16 ? "F16"
                                                      : "BF16";
    header[tensor.name] = {{"dtype", dtype},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.byte_size}}};
    offset += tensor.byte_size;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the spec allows
  std::vector<uint8_t> out(8 + text.size());
  uint64_t header_size = text.size();
  std::memcpy(out.data(), &header_size, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  return out;
}

std::vector<uint8_t> SafetensorsWriter::Serialize() const {
  std::vector<uint8_t> out = SerializeHeader();
  for (const Tensor& tensor : tensors_)
    out.insert(out.end(), tensor.data.begin(), tensor.data.end());
  return out;
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path) const {
  return WriteFile(
      path, [&](size_t index, ByteSink) { return NoProducerError(path, tensors_[index].name); });
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path, TensorProducer produce) const {
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out, AtomicFileWriter::Create(path));
  PONDER_RETURN_IF_ERROR(out->Write(SerializeHeader()));
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const Tensor& tensor = tensors_[t];
    PONDER_RETURN_IF_ERROR(WriteTensorData(*out, tensor.declared ? nullptr : &tensor.data, produce,
                                           t, tensor.name, tensor.byte_size));
  }
  return out->Commit();
}

}  // namespace ponder::engine
