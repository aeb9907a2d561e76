#include "orchestrator/model_identity.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "engine/model/gguf.h"
#include "engine/model/safetensors.h"
#include "nlohmann/json.hpp"

namespace ponder::orchestrator {
namespace {

constexpr size_t kHeadBytes = size_t{1} << 20;
constexpr size_t kSampleBytes = size_t{64} << 10;
constexpr size_t kSamples = 64;
constexpr size_t kTensorStartBytes = size_t{4} << 10;
constexpr char kFingerprintVersion[] = "v2:";

// FNV-1a, 64 bits (Fowler, Noll & Vo): stable across platforms and builds, which std::hash and
// absl::Hash are not, and ample to tell model files apart (nobody forges these collisions).
class Fnv1a64 {
 public:
  void Update(std::span<const uint8_t> bytes) {
    for (uint8_t byte : bytes) hash_ = (hash_ ^ byte) * 0x100000001B3ull;
  }
  void Update(std::string_view text) {
    Update(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  uint64_t hash() const { return hash_; }

 private:
  uint64_t hash_ = 0xCBF29CE484222325ull;
};

// Where a GGUF or safetensors file's tensors start, in file order, and where its first tensor
// starts (the end of its header, metadata and tensor directory, alignment padding included);
// nothing when `bytes` is not a model file the engine's readers parse.
struct TensorLayout {
  size_t data_start = 0;
  std::vector<std::pair<size_t, size_t>> tensors;  // offset, size
};

std::optional<TensorLayout> LayoutOf(std::span<const uint8_t> bytes, const std::string& path) {
  std::vector<std::span<const uint8_t>> data;
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) {
    absl::StatusOr<std::unique_ptr<engine::GgufFile>> gguf = engine::GgufFile::Parse(bytes, path);
    if (!gguf.ok()) return std::nullopt;
    for (const engine::GgufTensorInfo& tensor : (*gguf)->tensors()) data.push_back(tensor.data);
  } else if (std::filesystem::path(path).extension() == ".safetensors") {
    absl::StatusOr<std::unique_ptr<engine::SafetensorsFile>> file =
        engine::SafetensorsFile::Parse(bytes, path);
    if (!file.ok()) return std::nullopt;
    for (const engine::SafetensorsTensor& tensor : (*file)->tensors()) data.push_back(tensor.data);
  } else {
    return std::nullopt;
  }
  TensorLayout layout;
  layout.data_start = bytes.size();
  for (std::span<const uint8_t> tensor : data) {
    const size_t offset = static_cast<size_t>(tensor.data() - bytes.data());
    layout.tensors.emplace_back(offset, tensor.size());
    layout.data_start = std::min(layout.data_start, offset);
  }
  std::sort(layout.tensors.begin(), layout.tensors.end());
  return layout;
}

// The size, and the file's fingerprinted bytes (model_identity.h) into `hash`.
absl::StatusOr<uint64_t> HashFile(const std::string& path, Fnv1a64& hash) {
  PONDER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const std::span<const uint8_t> bytes = file.bytes();
  hash.Update(absl::StrCat(bytes.size(), ";"));
  if (bytes.size() <= kHeadBytes + kSamples * kSampleBytes) {
    hash.Update(bytes);
    return bytes.size();
  }
  size_t head = kHeadBytes;
  if (std::optional<TensorLayout> layout = LayoutOf(bytes, path); layout.has_value()) {
    head = std::max(head, layout->data_start);
    for (const auto& [offset, size] : layout->tensors) {
      hash.Update(bytes.subspan(offset, std::min(size, kTensorStartBytes)));
    }
  }
  hash.Update(bytes.first(head));
  if (head + kSampleBytes >= bytes.size()) {
    hash.Update(bytes.subspan(head));
    return bytes.size();
  }
  // kSamples blocks spread evenly over the rest, the last one ending the file.
  const size_t last = bytes.size() - kSampleBytes;
  for (size_t i = 1; i <= kSamples; ++i) {
    const size_t offset = head + (last - head) * i / kSamples;
    hash.Update(bytes.subspan(offset, kSampleBytes));
  }
  return bytes.size();
}

// The files of a Hugging Face folder the engine reads, those present, by their names in the
// folder: ModelWeights::Load (config.json), SafetensorsCheckpoint::Open (the index and the
// shards its weight_map names, else model.safetensors), Tokenizer::FromHuggingFace
// (tokenizer.json, tokenizer_config.json, generation_config.json) and WithFolderChatTemplates
// (engine/tokenizer/hf_chat_template_files.h). Keep it in step with them.
absl::StatusOr<std::vector<std::string>> FilesTheLoaderReads(const std::filesystem::path& folder) {
  auto present = [&](const std::string& name) {
    std::error_code absent;
    return std::filesystem::is_regular_file(folder / name, absent);
  };
  std::set<std::string> files;
  for (const char* name : {"config.json", "tokenizer.json", "tokenizer_config.json",
                           "generation_config.json", "chat_template.jinja", "chat_template.json"}) {
    if (present(name)) files.insert(name);
  }
  if (present("model.safetensors.index.json")) {
    files.insert("model.safetensors.index.json");
    PONDER_ASSIGN_OR_RETURN(std::string text,
                            ReadFileToString((folder / "model.safetensors.index.json").string()));
    // One the loader refuses is hashed as it is; its shards are whatever it names.
    const nlohmann::json index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (index.is_object() && index.contains("weight_map") && index["weight_map"].is_object()) {
      for (const auto& [tensor, shard] : index["weight_map"].items()) {
        if (shard.is_string() && shard.get<std::string>().find('/') == std::string::npos &&
            present(shard.get<std::string>())) {
          files.insert(shard.get<std::string>());
        }
      }
    }
  } else if (present("model.safetensors")) {
    files.insert("model.safetensors");
  }
  const std::filesystem::path templates = folder / "additional_chat_templates";
  std::error_code error;
  if (std::error_code absent; std::filesystem::is_directory(templates, absent)) {
    for (const auto& entry : std::filesystem::directory_iterator(templates, error)) {
      if (entry.path().extension() == ".jinja" && entry.is_regular_file(error)) {
        files.insert(absl::StrCat("additional_chat_templates/", entry.path().filename().string()));
      }
    }
  }
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot list the model folder '", folder.string(), "': ", error.message()));
  }
  return std::vector<std::string>(files.begin(), files.end());
}

// The reward models a verifier names (ProcessRewardModel.model, OutcomeRewardModel.model).
void AddRewardModelNames(const v1::VerifierConfig& verifier, std::set<std::string>& names) {
  switch (verifier.kind_case()) {
    case v1::VerifierConfig::kPrm:
      names.insert(verifier.prm().model());
      break;
    case v1::VerifierConfig::kOrm:
      names.insert(verifier.orm().model());
      break;
    case v1::VerifierConfig::kWeighted:
      for (const auto& part : verifier.weighted().parts()) {
        AddRewardModelNames(part.verifier(), names);
      }
      break;
    default:
      break;
  }
}

std::string Describe(const ModelIdentity& model) {
  return model.fingerprint.empty()
             ? absl::StrCat("'", model.path, "'")
             : absl::StrCat("'", model.path, "' (fingerprint ", model.fingerprint, ")");
}

absl::StatusOr<bool> Same(const ModelIdentity& recorded, const ModelIdentity& here) {
  if (!recorded.fingerprint.empty() && !here.fingerprint.empty()) {
    return recorded.fingerprint == here.fingerprint;
  }
  // Before schema version 3 only the path was recorded, as typed: compared as the file it
  // names now, so a relative path or a symbolic link to it is the same model (a copy is not).
  std::error_code recorded_error, here_error;
  const std::filesystem::path recorded_file =
      std::filesystem::weakly_canonical(recorded.path, recorded_error);
  const std::filesystem::path here_file = std::filesystem::weakly_canonical(here.path, here_error);
  if (recorded_error || here_error) return recorded.path == here.path;
  return recorded_file == here_file;
}

}  // namespace

absl::StatusOr<std::string> ModelFingerprint(const std::string& path) {
  if (path.empty()) return std::string();
  Fnv1a64 hash;
  uint64_t size = 0;
  std::error_code error;
  if (!std::filesystem::is_directory(path, error)) {
    PONDER_ASSIGN_OR_RETURN(size, HashFile(path, hash));
  } else {
    PONDER_ASSIGN_OR_RETURN(std::vector<std::string> files, FilesTheLoaderReads(path));
    for (const std::string& file : files) {
      hash.Update(absl::StrCat(file, ";"));
      PONDER_ASSIGN_OR_RETURN(uint64_t file_size,
                              HashFile((std::filesystem::path(path) / file).string(), hash));
      size += file_size;
    }
  }
  return absl::StrFormat("%s%d:%016x", kFingerprintVersion, size, hash.hash());
}

absl::StatusOr<ExperimentModels> IdentifyModels(const v1::ExperimentSpec& spec,
                                                ModelRegistry& models,
                                                const std::string& policy_path) {
  ExperimentModels identities;
  identities.policy.path = policy_path;
  PONDER_ASSIGN_OR_RETURN(identities.policy.fingerprint,
                          ModelFingerprint(models.policy()->Info().path));
  std::set<std::string> names;
  for (const v1::NamedStrategy& strategy : spec.strategies()) {
    AddRewardModelNames(strategy.config().verifier(), names);
  }
  for (const std::string& name : names) {
    auto it = models.reward_models().find(name);
    if (it == models.reward_models().end()) continue;  // validation names the missing model
    ModelIdentity& identity = identities.reward_models[name];
    identity.path = it->second->Info().path;
    PONDER_ASSIGN_OR_RETURN(identity.fingerprint, ModelFingerprint(identity.path));
  }
  return identities;
}

absl::Status CheckSameModels(int64_t experiment_id, const ExperimentModels& recorded,
                             const ExperimentModels& here) {
  PONDER_ASSIGN_OR_RETURN(bool same_policy, Same(recorded.policy, here.policy));
  if (!same_policy) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " was run with the policy model ", Describe(recorded.policy),
        "; where it is being resumed (this ponder bench, or the server) the policy model is ",
        Describe(here.policy), ": resume it where that model is loaded (--model ",
        recorded.policy.path, ")"));
  }
  if (recorded.policy.fingerprint.empty() && !here.reward_models.empty()) {
    // Before schema version 3 the reward models were not recorded: nothing to compare.
    std::string names;
    for (const auto& [name, model] : here.reward_models) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", name, "=", model.path);
    }
    std::fprintf(stderr, "%s\n",
                 TerminalSafe(absl::StrCat("experiment ", experiment_id,
                                           " was recorded before schema version 3, which did not "
                                           "record its reward models: that they are the ones "
                                           "loaded here (",
                                           names, ") is not checked"))
                     .c_str());
  }
  for (const auto& [name, model] : recorded.reward_models) {
    auto it = here.reward_models.find(name);
    if (it == here.reward_models.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", experiment_id, " was run with the reward model '", name,
                       "' = ", Describe(model),
                       ", which is not loaded where it is being resumed (this ponder bench, or "
                       "the server): resume it where that model is loaded (--prm ",
                       name, "=", model.path, ")"));
    }
    PONDER_ASSIGN_OR_RETURN(bool same, Same(model, it->second));
    if (!same) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", experiment_id, " was run with the reward model '", name, "' = ",
          Describe(model), "; where it is being resumed (this ponder bench, or the server) it is ",
          Describe(it->second), ": resume it where that model is loaded (--prm ", name, "=",
          model.path, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ponder::orchestrator
