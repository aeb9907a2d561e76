#include "engine/model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {
namespace {

using Json = nlohmann::json;

// Headers of real checkpoints are well under this; it stops a corrupt length from driving a
// huge allocation (the reference implementation uses the same bound).
constexpr uint64_t kMaxHeaderBytes = 100 << 20;

std::optional<DType> ParseDType(const std::string& name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  PONDER_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::Open(path));
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->name_ = path;
  file->mapped_ = std::move(mapped);
  PONDER_RETURN_IF_ERROR(file->ParseAll(file->mapped_.bytes()));
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Parse(
    std::span<const uint8_t> bytes, std::string name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->name_ = std::move(name);
  PONDER_RETURN_IF_ERROR(file->ParseAll(bytes));
  return file;
}

absl::Status SafetensorsFile::ParseAll(std::span<const uint8_t> bytes) {
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", what));
  };
  if (bytes.size() < 8) return error("file truncated: shorter than the 8-byte header length");
  uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  if (header_size > kMaxHeaderBytes) {
    return error(absl::StrCat("header length ", header_size, " exceeds the 100 MiB limit"));
  }
  if (header_size > bytes.size() - 8) {
    return error(absl::StrCat("file truncated: header length ", header_size, " but only ",
                              bytes.size() - 8, " bytes follow"));
  }
  std::span<const uint8_t> header = bytes.subspan(8, header_size);
  std::span<const uint8_t> data = bytes.subspan(8 + header_size);
  Json json = Json::parse(header.begin(), header.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return error("header is not valid JSON");
  if (!json.is_object()) return error("header is not a JSON object");

  struct Range {
    uint64_t begin, end;
    size_t tensor;
  };
  std::vector<Range> ranges;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    const Json& entry = it.value();
    if (key == "__metadata__") {
      if (!entry.is_object()) return error("__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return error(absl::StrCat("__metadata__['", m.key(), "'] is not a string"));
        }
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto tensor_error = [&](const std::string& what) {
      return error(absl::StrCat("tensor '", key, "': ", what));
    };
    if (!entry.is_object()) return tensor_error("entry is not an object");
    auto dtype_it = entry.find("dtype");
    auto shape_it = entry.find("shape");
    auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string()) return tensor_error("missing dtype");
    if (shape_it == entry.end() || !shape_it->is_array()) return tensor_error("missing shape");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
      return tensor_error("data_offsets must be [begin, end] of non-negative integers");
    }
    std::string dtype_name = dtype_it->get<std::string>();
    std::optional<DType> dtype = ParseDType(dtype_name);
    if (!dtype.has_value()) {
      return tensor_error(
          absl::StrCat("dtype ", dtype_name, " is not supported (supported: F32, F16, BF16)"));
    }
    SafetensorsTensor tensor;
    tensor.name = key;
    tensor.dtype = *dtype;
    uint64_t count = 1;
    for (const Json& dim : *shape_it) {
      if (!dim.is_number_unsigned())
        return tensor_error("shape entries must be non-negative integers");
      uint64_t d = dim.get<uint64_t>();
      if (__builtin_mul_overflow(count, d, &count) || count > (uint64_t{1} << 48)) {
        return tensor_error("element count overflows");
      }
      tensor.shape.push_back(static_cast<int64_t>(d));
    }
    uint64_t begin = (*offsets_it)[0].get<uint64_t>();
    uint64_t end = (*offsets_it)[1].get<uint64_t>();
    if (begin > end || end > data.size()) {
      return tensor_error(absl::StrCat("data_offsets [", begin, ", ", end,
                                       ") lie outside the data section of ", data.size(),
                                       " bytes; the file is truncated or corrupt"));
    }
    uint64_t expected = count * DTypeBlockBytes(tensor.dtype);
    if (end - begin != expected) {
      return tensor_error(absl::StrCat("shape needs ", expected, " bytes of ", dtype_name,
                                       " but data_offsets span ", end - begin));
    }
    tensor.data = data.subspan(begin, end - begin);
    ranges.push_back({begin, end, tensors_.size()});
    index_[key] = tensors_.size();
    tensors_.push_back(std::move(tensor));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      return error(absl::StrCat("tensors '", tensors_[ranges[i - 1].tensor].name, "' and '",
                                tensors_[ranges[i].tensor].name, "' overlap"));
    }
  }
  return absl::OkStatus();
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::Open(
    const std::string& folder) {
  namespace fs = std::filesystem;
  auto checkpoint = std::make_unique<SafetensorsCheckpoint>();
  checkpoint->folder_ = folder;
  fs::path index_path = fs::path(folder) / "model.safetensors.index.json";
  fs::path single_path = fs::path(folder) / "model.safetensors";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    PONDER_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path.string()));
    Json index = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path.string(), ": not a JSON object with a \"weight_map\" object"));
    }
    absl::flat_hash_map<std::string, size_t> shard_of_file;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path.string(), ": weight_map['", it.key(), "'] is not a file name"));
      }
      std::string shard_name = it.value().get<std::string>();
      if (shard_name.find('/') != std::string::npos || shard_name == ".." || shard_name.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path.string(), ": weight_map['", it.key(), "'] names '", shard_name,
                         "', which is not a file in the checkpoint folder"));
      }
      auto [shard_it, inserted] = shard_of_file.try_emplace(shard_name, checkpoint->shards_.size());
      if (inserted) {
        PONDER_ASSIGN_OR_RETURN(auto shard,
                                SafetensorsFile::Open((fs::path(folder) / shard_name).string()));
        checkpoint->shards_.push_back(std::move(shard));
      }
      const SafetensorsFile& shard = *checkpoint->shards_[shard_it->second];
      const SafetensorsTensor* tensor = shard.Find(it.key());
      if (tensor == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": tensor '", it.key(),
                                                       "' is listed in ", shard_name,
                                                       " but that shard does not contain it"));
      }
      checkpoint->index_[it.key()] = tensor;
    }
  } else if (fs::exists(single_path, ec)) {
    PONDER_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path.string()));
    for (const SafetensorsTensor& tensor : file->tensors())
      checkpoint->index_[tensor.name] = &tensor;
    checkpoint->shards_.push_back(std::move(file));
  } else {
    return absl::NotFoundError(
        absl::StrCat(folder, ": no model.safetensors or model.safetensors.index.json"));
  }
  return checkpoint;
}

const SafetensorsTensor* SafetensorsCheckpoint::Find(std::string_view name) const {
  auto it = index_.find(AsAbsl(name));
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> SafetensorsCheckpoint::TensorNames() const {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : index_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace ponder::engine
