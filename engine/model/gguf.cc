#include "engine/model/gguf.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::engine {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
// Bounds that no real file reaches; they stop a corrupted count from driving a huge allocation
// before the size check against the file catches it.
constexpr uint64_t kMaxTensors = 1 << 20;
constexpr uint64_t kMaxKeys = 1 << 20;
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 1;  // arrays of arrays are legal in GGUF but unused by models

// Bounds-checked little-endian reader over the file bytes. Every read checks the remaining size
// and reports the offset in its error.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", AsAbsl(what), " (at byte offset ",
                                                   offset_, " of ", bytes_.size(), ")"));
  }

  template <typename T>
  absl::StatusOr<T> Read(std::string_view what) {
    if (remaining() < sizeof(T)) {
      return Error(absl::StrCat("file truncated while reading ", AsAbsl(what)));
    }
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  absl::StatusOr<std::string_view> ReadString(std::string_view what) {
    PONDER_ASSIGN_OR_RETURN(uint64_t length, Read<uint64_t>(what));
    if (length > remaining()) {
      return Error(absl::StrCat(AsAbsl(what), ": string length ", length, " exceeds the remaining ",
                                remaining(), " bytes"));
    }
    std::string_view s(reinterpret_cast<const char*>(bytes_.data() + offset_), length);
    offset_ += length;
    return s;
  }

  absl::StatusOr<std::span<const uint8_t>> ReadBytes(uint64_t count, uint64_t element_size,
                                                     std::string_view what) {
    if (element_size != 0 && count > remaining() / element_size) {
      return Error(absl::StrCat(AsAbsl(what), ": ", count, " elements of ", element_size,
                                " bytes exceed the remaining ", remaining(), " bytes"));
    }
    std::span<const uint8_t> out = bytes_.subspan(offset_, count * element_size);
    offset_ += count * element_size;
    return out;
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& name_;
  size_t offset_ = 0;
};

int ScalarSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool IsKnownType(uint32_t type) { return type <= static_cast<uint32_t>(GgufValueType::kFloat64); }
bool IsSigned(GgufValueType t) {
  return t == GgufValueType::kInt8 || t == GgufValueType::kInt16 || t == GgufValueType::kInt32 ||
         t == GgufValueType::kInt64;
}
bool IsUnsigned(GgufValueType t) {
  return t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
         t == GgufValueType::kUint64 || t == GgufValueType::kBool;
}
bool IsFloat(GgufValueType t) {
  return t == GgufValueType::kFloat32 || t == GgufValueType::kFloat64;
}

// Decodes one little-endian scalar of `type` at `p` into the union slots.
void DecodeScalar(GgufValueType type, const uint8_t* p, GgufValue& value) {
  auto load = [p](auto sample) {
    decltype(sample) v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (type) {
    case GgufValueType::kUint8:
      value.scalar.u = load(uint8_t{});
      break;
    case GgufValueType::kBool:
      value.scalar.u = load(uint8_t{}) != 0;
      break;
    case GgufValueType::kInt8:
      value.scalar.i = load(int8_t{});
      break;
    case GgufValueType::kUint16:
      value.scalar.u = load(uint16_t{});
      break;
    case GgufValueType::kInt16:
      value.scalar.i = load(int16_t{});
      break;
    case GgufValueType::kUint32:
      value.scalar.u = load(uint32_t{});
      break;
    case GgufValueType::kInt32:
      value.scalar.i = load(int32_t{});
      break;
    case GgufValueType::kFloat32:
      value.scalar.f = load(float{});
      break;
    case GgufValueType::kUint64:
      value.scalar.u = load(uint64_t{});
      break;
    case GgufValueType::kInt64:
      value.scalar.i = load(int64_t{});
      break;
    case GgufValueType::kFloat64:
      value.scalar.f = load(double{});
      break;
    default:
      break;
  }
}

absl::StatusOr<GgufValue> ReadValue(Reader& reader, GgufValueType type, std::string_view key,
                                    int depth) {
  GgufValue value;
  value.type = type;
  if (type == GgufValueType::kString) {
    PONDER_ASSIGN_OR_RETURN(value.string,
                            reader.ReadString(absl::StrCat("value of '", AsAbsl(key), "'")));
    return value;
  }
  if (type != GgufValueType::kArray) {
    std::string what = absl::StrCat("value of '", AsAbsl(key), "'");
    PONDER_ASSIGN_OR_RETURN(auto bytes, reader.ReadBytes(1, ScalarSize(type), what));
    DecodeScalar(type, bytes.data(), value);
    return value;
  }
  if (depth >= kMaxArrayDepth) {
    return reader.Error(absl::StrCat("key '", AsAbsl(key), "': nested arrays are not supported"));
  }
  PONDER_ASSIGN_OR_RETURN(uint32_t element_type, reader.Read<uint32_t>("array element type"));
  if (!IsKnownType(element_type) || element_type == static_cast<uint32_t>(GgufValueType::kArray)) {
    return reader.Error(
        absl::StrCat("key '", AsAbsl(key), "': unsupported array element type ", element_type));
  }
  value.element_type = static_cast<GgufValueType>(element_type);
  PONDER_ASSIGN_OR_RETURN(value.count, reader.Read<uint64_t>("array length"));
  std::string what = absl::StrCat("array '", AsAbsl(key), "'");
  if (value.element_type == GgufValueType::kString) {
    // Each string takes at least its 8-byte length: a count beyond that is corrupt.
    if (value.count > reader.remaining() / 8) {
      return reader.Error(absl::StrCat(what, ": ", value.count,
                                       " strings cannot fit in the remaining ", reader.remaining(),
                                       " bytes"));
    }
    value.strings.reserve(value.count);
    for (uint64_t i = 0; i < value.count; ++i) {
      PONDER_ASSIGN_OR_RETURN(std::string_view s,
                              reader.ReadString(absl::StrCat(what, " element ", i)));
      value.strings.push_back(s);
    }
    return value;
  }
  PONDER_ASSIGN_OR_RETURN(value.array_bytes,
                          reader.ReadBytes(value.count, ScalarSize(value.element_type), what));
  return value;
}

// Checked a*b for uint64.
bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

std::string_view GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  PONDER_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::Open(path));
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->name_ = path;
  file->mapped_ = std::move(mapped);
  PONDER_RETURN_IF_ERROR(file->ParseAll(file->mapped_.bytes()));
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(std::span<const uint8_t> bytes,
                                                          std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->name_ = std::move(name);
  PONDER_RETURN_IF_ERROR(file->ParseAll(bytes));
  return file;
}

absl::Status GgufFile::ParseAll(std::span<const uint8_t> bytes) {
  Reader reader(bytes, name_);
  PONDER_ASSIGN_OR_RETURN(uint32_t magic, reader.Read<uint32_t>("magic"));
  if (magic != kGgufMagic) return reader.Error("not a GGUF file (bad magic)");
  PONDER_ASSIGN_OR_RETURN(version_, reader.Read<uint32_t>("version"));
  if (version_ != 2 && version_ != 3) {
    return reader.Error(absl::StrCat("unsupported GGUF version ", version_, " (need 2 or 3)"));
  }
  PONDER_ASSIGN_OR_RETURN(uint64_t tensor_count, reader.Read<uint64_t>("tensor count"));
  PONDER_ASSIGN_OR_RETURN(uint64_t key_count, reader.Read<uint64_t>("metadata count"));
  if (tensor_count > kMaxTensors) {
    return reader.Error(absl::StrCat("implausible tensor count ", tensor_count));
  }
  if (key_count > kMaxKeys) {
    return reader.Error(absl::StrCat("implausible metadata count ", key_count));
  }

  for (uint64_t k = 0; k < key_count; ++k) {
    PONDER_ASSIGN_OR_RETURN(std::string_view key,
                            reader.ReadString(absl::StrCat("metadata key #", k)));
    PONDER_ASSIGN_OR_RETURN(uint32_t type, reader.Read<uint32_t>("metadata value type"));
    if (!IsKnownType(type)) {
      return reader.Error(absl::StrCat("key '", AsAbsl(key), "': unknown value type ", type));
    }
    PONDER_ASSIGN_OR_RETURN(GgufValue value,
                            ReadValue(reader, static_cast<GgufValueType>(type), key, 0));
    auto [it, inserted] = metadata_.try_emplace(std::string(key), std::move(value));
    if (!inserted) return reader.Error(absl::StrCat("duplicate metadata key '", AsAbsl(key), "'"));
    key_order_.emplace_back(key);
  }

  if (const GgufValue* align = Find("general.alignment"); align != nullptr) {
    if (align->type != GgufValueType::kUint32 || align->scalar.u == 0 ||
        (align->scalar.u & (align->scalar.u - 1)) != 0 || align->scalar.u > (1u << 16)) {
      return reader.Error("general.alignment must be a uint32 power of two up to 65536");
    }
    alignment_ = align->scalar.u;
  }

  struct PendingTensor {
    uint64_t offset;
    uint64_t bytes;
  };
  std::vector<PendingTensor> pending;
  tensors_.reserve(tensor_count);
  for (uint64_t t = 0; t < tensor_count; ++t) {
    GgufTensorInfo info;
    PONDER_ASSIGN_OR_RETURN(std::string_view name,
                            reader.ReadString(absl::StrCat("name of tensor #", t)));
    info.name = std::string(name);
    auto tensor_error = [&](std::string_view problem) {
      return reader.Error(absl::StrCat("tensor '", info.name, "': ", AsAbsl(problem)));
    };
    PONDER_ASSIGN_OR_RETURN(uint32_t n_dims, reader.Read<uint32_t>("tensor dimension count"));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return tensor_error(absl::StrCat("has ", n_dims, " dimensions (1 to 4 allowed)"));
    }
    info.num_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      PONDER_ASSIGN_OR_RETURN(uint64_t dim, reader.Read<uint64_t>("tensor dimension"));
      if (dim == 0) return tensor_error(absl::StrCat("dimension ", d, " is zero"));
      if (MulOverflows(info.num_elements, dim, &info.num_elements) ||
          info.num_elements > (uint64_t{1} << 48)) {
        return tensor_error("element count overflows");
      }
      info.dims.push_back(dim);
    }
    PONDER_ASSIGN_OR_RETURN(uint32_t ggml_type, reader.Read<uint32_t>("tensor type"));
    std::optional<DType> dtype = DTypeFromGgml(ggml_type);
    if (!dtype.has_value()) {
      return tensor_error(
          absl::StrCat("type ", AsAbsl(GgmlTypeName(ggml_type)), " (", ggml_type,
                       ") is not supported; supported: f32, f16, bf16, q8_0, q4_0"));
    }
    info.dtype = *dtype;
    if (info.dims[0] % DTypeBlockValues(info.dtype) != 0) {
      return tensor_error(absl::StrCat("row length ", info.dims[0], " is not a multiple of the ",
                                       AsAbsl(DTypeName(info.dtype)), " block size ",
                                       DTypeBlockValues(info.dtype)));
    }
    PONDER_ASSIGN_OR_RETURN(uint64_t offset, reader.Read<uint64_t>("tensor data offset"));
    if (offset % alignment_ != 0) {
      return tensor_error(absl::StrCat("data offset ", offset, " is not aligned to ", alignment_));
    }
    pending.push_back({offset, DTypeBytes(info.dtype, info.num_elements)});
    if (tensor_index_.contains(info.name)) return tensor_error("duplicate tensor name");
    tensor_index_[info.name] = tensors_.size();
    tensors_.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment after the header.
  uint64_t data_start = (reader.offset() + alignment_ - 1) / alignment_ * alignment_;
  for (size_t t = 0; t < tensors_.size(); ++t) {
    GgufTensorInfo& info = tensors_[t];
    uint64_t begin, end;
    if (__builtin_add_overflow(data_start, pending[t].offset, &begin) ||
        __builtin_add_overflow(begin, pending[t].bytes, &end) || end > bytes.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name_, ": tensor '", info.name, "': data [", pending[t].offset, ", +", pending[t].bytes,
          ") lies beyond the end of the file (data section starts at ", data_start, ", file size ",
          bytes.size(), "); the file is truncated or corrupt"));
    }
    info.data = bytes.subspan(begin, pending[t].bytes);
  }
  return absl::OkStatus();
}

bool GgufFile::Has(std::string_view key) const { return Find(key) != nullptr; }

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_.find(AsAbsl(key));
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(AsAbsl(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::Status GgufFile::KeyError(std::string_view key, std::string_view problem) const {
  return absl::InvalidArgumentError(
      absl::StrCat(name_, ": metadata key '", AsAbsl(key), "' ", AsAbsl(problem)));
}

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (v->type != GgufValueType::kString) {
    return KeyError(key,
                    absl::StrCat("is ", AsAbsl(GgufValueTypeName(v->type)), ", expected string"));
  }
  return std::string(v->string);
}

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (IsUnsigned(v->type)) return v->scalar.u;
  if (IsSigned(v->type)) {
    if (v->scalar.i < 0) return KeyError(key, absl::StrCat("is negative (", v->scalar.i, ")"));
    return static_cast<uint64_t>(v->scalar.i);
  }
  return KeyError(key,
                  absl::StrCat("is ", AsAbsl(GgufValueTypeName(v->type)), ", expected an integer"));
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (IsSigned(v->type)) return v->scalar.i;
  if (IsUnsigned(v->type)) {
    if (v->scalar.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return KeyError(key, "is out of range");
    }
    return static_cast<int64_t>(v->scalar.u);
  }
  return KeyError(key,
                  absl::StrCat("is ", AsAbsl(GgufValueTypeName(v->type)), ", expected an integer"));
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (IsFloat(v->type)) return v->scalar.f;
  if (IsSigned(v->type)) return static_cast<double>(v->scalar.i);
  if (IsUnsigned(v->type)) return static_cast<double>(v->scalar.u);
  return KeyError(key,
                  absl::StrCat("is ", AsAbsl(GgufValueTypeName(v->type)), ", expected a number"));
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (v->type != GgufValueType::kBool) {
    return KeyError(key,
                    absl::StrCat("is ", AsAbsl(GgufValueTypeName(v->type)), ", expected bool"));
  }
  return v->scalar.u != 0;
}

absl::StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (v->type != GgufValueType::kArray || v->element_type != GgufValueType::kString) {
    return KeyError(key, "is not an array of strings");
  }
  return v->strings;
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (v->type != GgufValueType::kArray || v->element_type == GgufValueType::kString) {
    return KeyError(key, "is not an array of numbers");
  }
  std::vector<float> out(v->count);
  int size = ScalarSize(v->element_type);
  for (uint64_t i = 0; i < v->count; ++i) {
    GgufValue element;
    DecodeScalar(v->element_type, v->array_bytes.data() + i * size, element);
    out[i] = IsFloat(v->element_type)    ? static_cast<float>(element.scalar.f)
             : IsSigned(v->element_type) ? static_cast<float>(element.scalar.i)
                                         : static_cast<float>(element.scalar.u);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return KeyError(key, "is missing");
  if (v->type != GgufValueType::kArray ||
      !(IsSigned(v->element_type) || IsUnsigned(v->element_type))) {
    return KeyError(key, "is not an array of integers");
  }
  std::vector<int64_t> out(v->count);
  int size = ScalarSize(v->element_type);
  for (uint64_t i = 0; i < v->count; ++i) {
    GgufValue element;
    DecodeScalar(v->element_type, v->array_bytes.data() + i * size, element);
    out[i] = IsSigned(v->element_type) ? element.scalar.i : static_cast<int64_t>(element.scalar.u);
  }
  return out;
}

}  // namespace ponder::engine
