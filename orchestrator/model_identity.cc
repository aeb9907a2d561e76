#include "orchestrator/model_identity.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"

namespace ponder::orchestrator {
namespace {

constexpr size_t kHeadBytes = size_t{1} << 20;
constexpr size_t kSampleBytes = size_t{64} << 10;
constexpr size_t kSamples = 64;

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

// The size, and the file's sampled bytes into `hash`.
absl::StatusOr<uint64_t> HashFile(const std::string& path, Fnv1a64& hash) {
  PONDER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const std::span<const uint8_t> bytes = file.bytes();
  hash.Update(absl::StrCat(bytes.size(), ";"));
  if (bytes.size() <= kHeadBytes + (kSamples + 1) * kSampleBytes) {
    hash.Update(bytes);
    return bytes.size();
  }
  hash.Update(bytes.first(kHeadBytes));
  const size_t last = bytes.size() - kSampleBytes;
  for (size_t i = 1; i <= kSamples; ++i) {
    const size_t offset = kHeadBytes + (last - kHeadBytes) * i / kSamples;
    hash.Update(bytes.subspan(offset, kSampleBytes));
  }
  return bytes.size();
}

bool IsModelFolderFile(const std::filesystem::path& path) {
  static const std::set<std::string> kExtensions = {".json", ".safetensors", ".model",
                                                    ".txt",  ".tiktoken",    ".gguf"};
  return kExtensions.count(path.extension().string()) > 0;
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

bool Same(const ModelIdentity& recorded, const ModelIdentity& here) {
  if (!recorded.fingerprint.empty() && !here.fingerprint.empty()) {
    return recorded.fingerprint == here.fingerprint;
  }
  return recorded.path == here.path;
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
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      if (entry.is_regular_file(error) && IsModelFolderFile(entry.path())) {
        files.push_back(entry.path());
      }
    }
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot list the model folder '", path, "': ", error.message()));
    }
    std::sort(files.begin(), files.end());
    for (const std::filesystem::path& file : files) {
      hash.Update(absl::StrCat(file.filename().string(), ";"));
      PONDER_ASSIGN_OR_RETURN(uint64_t file_size, HashFile(file.string(), hash));
      size += file_size;
    }
  }
  return absl::StrFormat("%d:%016x", size, hash.hash());
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
  if (!Same(recorded.policy, here.policy)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " was run with the policy model ", Describe(recorded.policy),
        "; this process has ", Describe(here.policy),
        ": resume it where that model is loaded (--model ", recorded.policy.path, ")"));
  }
  for (const auto& [name, model] : recorded.reward_models) {
    auto it = here.reward_models.find(name);
    if (it == here.reward_models.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", experiment_id, " was run with the reward model '", name,
                       "' = ", Describe(model),
                       ", which this process has not loaded: resume it where that model is "
                       "loaded (--prm ",
                       name, "=", model.path, ")"));
    }
    if (!Same(model, it->second)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", experiment_id, " was run with the reward model '", name,
          "' = ", Describe(model), "; this process has ", Describe(it->second),
          ": resume it where that model is loaded (--prm ", name, "=", model.path, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ponder::orchestrator
