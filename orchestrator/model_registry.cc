#include "orchestrator/model_registry.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::orchestrator {

void ModelRegistry::AddRewardModel(std::string name, engine::Engine& engine) {
  reward_models_[std::move(name)] = &engine;
}

absl::StatusOr<engine::Engine*> ModelRegistry::RewardModel(std::string_view name) {
  auto it = reward_models_.find(name);
  if (it != reward_models_.end()) return it->second;
  std::vector<std::string> loaded;
  for (const auto& [loaded_name, unused] : reward_models_) loaded.push_back(loaded_name);
  const std::string shown = Printable(name, 64);  // a client's string: cut, escaped
  return absl::InvalidArgumentError(absl::StrCat(
      "reward model '", shown,
      "' is not loaded (loaded: ", loaded.empty() ? "none" : absl::StrJoin(loaded, ", "),
      "); name a loaded one, or load it with --prm ", shown, "=PATH"));
}

std::string PathFromRoot(const std::string& path) {
  std::error_code error;
  // A path that names nothing is left as typed, for the error that names it (a Hugging Face repo
  // name read as '/cwd/Qwen/...' misled: review of stop 35).
  if (path.empty() || !std::filesystem::exists(path, error)) return path;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.string();
}

absl::StatusOr<std::unique_ptr<LoadedModels>> LoadedModels::Load(
    const std::string& policy_path, const std::vector<std::string>& prm_flags,
    const engine::LocalEngineOptions& options) {
  // Every --prm is checked before any model is loaded. Two of one name would leave the first
  // loaded but unreachable.
  std::vector<std::pair<std::string, std::string>> prms;
  for (const std::string& flag : prm_flags) {
    PONDER_ASSIGN_OR_RETURN(auto named, ParseNamedModel(flag));
    for (const auto& [name, path] : prms) {
      if (name == named.first) {
        return absl::InvalidArgumentError(absl::StrCat("--prm: two reward models are named '", name,
                                                       "' (", path, " and ", named.second,
                                                       "); give each its own name with NAME=PATH"));
      }
    }
    prms.push_back(std::move(named));
  }
  engine::LocalEngineOptions model_options = options;
  model_options.model_path = PathFromRoot(policy_path);
  PONDER_ASSIGN_OR_RETURN(auto policy, engine::LocalEngine::Create(model_options));
  std::unique_ptr<LoadedModels> models(new LoadedModels(std::move(policy)));
  for (auto& named : prms) {
    model_options.model_path = PathFromRoot(named.second);
    PONDER_ASSIGN_OR_RETURN(auto engine, engine::LocalEngine::Create(model_options));
    models->registry_.AddRewardModel(named.first, *engine);
    models->reward_models_.push_back(std::move(engine));
  }
  return models;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseNamedModel(std::string_view flag_value) {
  std::string name, path;
  if (size_t equals = flag_value.find('='); equals != std::string_view::npos) {
    name = std::string(flag_value.substr(0, equals));
    path = std::string(flag_value.substr(equals + 1));
  } else {
    path = std::string(flag_value);
    std::filesystem::path p(path);
    if (!p.has_filename()) p = p.parent_path();  // a folder given with a trailing slash
    // "prm.gguf" -> "prm"; a folder keeps its whole name ("Qwen2.5-Math-PRM-7B").
    name = p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
  }
  if (name.empty() || path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--prm: '", AsAbsl(flag_value), "' needs a model path and a name (NAME=PATH or PATH)"));
  }
  return std::make_pair(std::move(name), std::move(path));
}

}  // namespace ponder::orchestrator
