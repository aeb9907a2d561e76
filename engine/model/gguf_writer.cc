#include "engine/model/gguf_writer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace ponder::engine {
namespace {

constexpr size_t kAlignment = 32;

template <typename T>
void Append(std::vector<uint8_t>& out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

void AppendString(std::vector<uint8_t>& out, std::string_view s) {
  Append<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t PaddedSize(uint64_t size) { return (size + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

void GgufWriter::Set(std::string_view key, GgufValueType type, GgufValueType element_type,
                     std::vector<uint8_t> payload) {
  for (Entry& entry : entries_) {
    if (entry.key == key) {
      entry = {std::string(key), type, element_type, std::move(payload)};
      return;
    }
  }
  entries_.push_back({std::string(key), type, element_type, std::move(payload)});
}

void GgufWriter::SetString(std::string_view key, std::string_view value) {
  std::vector<uint8_t> p;
  AppendString(p, value);
  Set(key, GgufValueType::kString, GgufValueType::kUint8, std::move(p));
}
void GgufWriter::SetUint32(std::string_view key, uint32_t value) {
  std::vector<uint8_t> p;
  Append(p, value);
  Set(key, GgufValueType::kUint32, GgufValueType::kUint8, std::move(p));
}
void GgufWriter::SetInt32(std::string_view key, int32_t value) {
  std::vector<uint8_t> p;
  Append(p, value);
  Set(key, GgufValueType::kInt32, GgufValueType::kUint8, std::move(p));
}
void GgufWriter::SetUint64(std::string_view key, uint64_t value) {
  std::vector<uint8_t> p;
  Append(p, value);
  Set(key, GgufValueType::kUint64, GgufValueType::kUint8, std::move(p));
}
void GgufWriter::SetFloat32(std::string_view key, float value) {
  std::vector<uint8_t> p;
  Append(p, value);
  Set(key, GgufValueType::kFloat32, GgufValueType::kUint8, std::move(p));
}
void GgufWriter::SetBool(std::string_view key, bool value) {
  std::vector<uint8_t> p;
  Append<uint8_t>(p, value ? 1 : 0);
  Set(key, GgufValueType::kBool, GgufValueType::kUint8, std::move(p));
}
void GgufWriter::SetStringArray(std::string_view key, std::span<const std::string> values) {
  std::vector<uint8_t> p;
  Append<uint64_t>(p, values.size());
  for (const std::string& v : values) AppendString(p, v);
  Set(key, GgufValueType::kArray, GgufValueType::kString, std::move(p));
}
void GgufWriter::SetFloat32Array(std::string_view key, std::span<const float> values) {
  std::vector<uint8_t> p;
  Append<uint64_t>(p, values.size());
  for (float v : values) Append(p, v);
  Set(key, GgufValueType::kArray, GgufValueType::kFloat32, std::move(p));
}
void GgufWriter::SetInt32Array(std::string_view key, std::span<const int32_t> values) {
  std::vector<uint8_t> p;
  Append<uint64_t>(p, values.size());
  for (int32_t v : values) Append(p, v);
  Set(key, GgufValueType::kArray, GgufValueType::kInt32, std::move(p));
}

void GgufWriter::AddTensor(std::string_view name, DType dtype, std::vector<uint64_t> dims,
                           std::span<const uint8_t> data) {
  tensors_.push_back(
      {std::string(name), dtype, std::move(dims), {data.begin(), data.end()}, false, data.size()});
}

void GgufWriter::DeclareTensor(std::string_view name, DType dtype, std::vector<uint64_t> dims) {
  uint64_t elements = 1;
  for (uint64_t d : dims) elements *= d;
  const uint64_t bytes = DTypeBytes(dtype, elements);
  tensors_.push_back({std::string(name), dtype, std::move(dims), {}, true, bytes});
}

std::vector<uint8_t> GgufWriter::SerializeHeader(std::vector<uint64_t>* offsets) const {
  std::vector<uint8_t> out;
  Append<uint32_t>(out, 0x46554747);  // "GGUF"
  Append<uint32_t>(out, 3);
  Append<uint64_t>(out, tensors_.size());
  Append<uint64_t>(out, entries_.size());
  for (const Entry& entry : entries_) {
    AppendString(out, entry.key);
    Append<uint32_t>(out, static_cast<uint32_t>(entry.type));
    if (entry.type == GgufValueType::kArray) {
      Append<uint32_t>(out, static_cast<uint32_t>(entry.element_type));
    }
    out.insert(out.end(), entry.payload.begin(), entry.payload.end());
  }
  uint64_t offset = 0;
  for (const Tensor& tensor : tensors_) {
    AppendString(out, tensor.name);
    Append<uint32_t>(out, static_cast<uint32_t>(tensor.dims.size()));
    for (uint64_t d : tensor.dims) Append<uint64_t>(out, d);
    Append<uint32_t>(out, DTypeToGgml(tensor.dtype));
    Append<uint64_t>(out, offset);
    offsets->push_back(offset);
    offset += PaddedSize(tensor.byte_size);
  }
  out.resize(PaddedSize(out.size()), 0);
  return out;
}

std::vector<uint8_t> GgufWriter::Serialize() const {
  std::vector<uint64_t> offsets;
  std::vector<uint8_t> out = SerializeHeader(&offsets);
  const size_t data_start = out.size();
  for (size_t t = 0; t < tensors_.size(); ++t) {
    out.resize(data_start + offsets[t], 0);
    out.insert(out.end(), tensors_[t].data.begin(), tensors_[t].data.end());
  }
  out.resize(PaddedSize(out.size()), 0);
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  return WriteFile(
      path, [&](size_t index, ByteSink) { return NoProducerError(path, tensors_[index].name); });
}

absl::Status GgufWriter::WriteFile(const std::string& path, TensorProducer produce) const {
  std::vector<uint64_t> offsets;
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out, AtomicFileWriter::Create(path));
  PONDER_RETURN_IF_ERROR(out->Write(SerializeHeader(&offsets)));
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const Tensor& tensor = tensors_[t];
    PONDER_RETURN_IF_ERROR(WriteTensorData(*out, tensor.declared ? nullptr : &tensor.data, produce,
                                           t, tensor.name, tensor.byte_size));
    PONDER_RETURN_IF_ERROR(out->WriteZeros(PaddedSize(tensor.byte_size) - tensor.byte_size));
  }
  return out->Commit();
}

}  // namespace ponder::engine
