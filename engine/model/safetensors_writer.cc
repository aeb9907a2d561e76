#include "engine/model/safetensors_writer.h"

#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {

void SafetensorsWriter::AddTensor(std::string_view name, DType dtype, std::vector<int64_t> shape,
                                  std::span<const uint8_t> data) {
  tensors_.push_back({std::string(name), dtype, std::move(shape), {data.begin(), data.end()}});
}

void SafetensorsWriter::SetMetadata(std::string_view key, std::string_view value) {
  metadata_[std::string(key)] = std::string(value);
}

std::vector<uint8_t> SafetensorsWriter::Serialize() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Tensor& tensor : tensors_) {
    const char* dtype = tensor.dtype == DType::kF32   ? "F32"
                        : tensor.dtype == DType::kF16 ? "F16"
                                                      : "BF16";
    header[tensor.name] = {{"dtype", dtype},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.data.size()}}};
    offset += tensor.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the spec allows
  std::vector<uint8_t> out(8 + text.size() + offset);
  uint64_t header_size = text.size();
  std::memcpy(out.data(), &header_size, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  size_t at = 8 + text.size();
  for (const Tensor& tensor : tensors_) {
    std::memcpy(out.data() + at, tensor.data.data(), tensor.data.size());
    at += tensor.data.size();
  }
  return out;
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path) const {
  return WriteFileAtomically(path, Serialize());
}

absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes) {
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(temp.c_str());
      return absl::UnavailableError(absl::StrCat(temp, ": write failed"));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::UnavailableError(absl::StrCat(path, ": rename from ", temp, " failed"));
  }
  return absl::OkStatus();
}

}  // namespace ponder::engine
