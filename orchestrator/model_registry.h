// The models a server (or an in-process solve) has loaded: the policy and reward models by
// name. Verifier configurations name reward models (ProcessRewardModel.model); this is where
// those names resolve.
#ifndef PONDER_ORCHESTRATOR_MODEL_REGISTRY_H_
#define PONDER_ORCHESTRATOR_MODEL_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/local_engine.h"
#include "verifiers/verifier.h"

namespace ponder::orchestrator {

class ModelRegistry : public verifiers::VerifierModels {
 public:
  explicit ModelRegistry(engine::Engine& policy) : policy_(&policy) {}

  // `engine` must outlive the registry. Replaces a model of the same name.
  void AddRewardModel(std::string name, engine::Engine& engine);

  engine::Engine* policy() override { return policy_; }
  // InvalidArgument naming the unknown model and the loaded ones.
  absl::StatusOr<engine::Engine*> RewardModel(std::string_view name) override;

  const std::map<std::string, engine::Engine*, std::less<>>& reward_models() const {
    return reward_models_;
  }

 private:
  engine::Engine* policy_;
  std::map<std::string, engine::Engine*, std::less<>> reward_models_;
};

// The policy and the reward models of `--prm` flags, loaded in this process (LocalEngine), with
// the registry that names them: what ponderd and `ponder solve --model` serve from.
class LoadedModels {
 public:
  // `options` applies to every model (threads, KV budget); its model_path is ignored. Errors
  // name the flag or file that is wrong; two --prm of one name are InvalidArgument, before any
  // model is loaded.
  static absl::StatusOr<std::unique_ptr<LoadedModels>> Load(
      const std::string& policy_path, const std::vector<std::string>& prm_flags,
      const engine::LocalEngineOptions& options);

  ModelRegistry& registry() { return registry_; }

 private:
  explicit LoadedModels(std::unique_ptr<engine::LocalEngine> policy)
      : policy_(std::move(policy)), registry_(*policy_) {}

  std::unique_ptr<engine::LocalEngine> policy_;
  std::vector<std::unique_ptr<engine::LocalEngine>> reward_models_;
  ModelRegistry registry_;
};

// `path` from the root (as typed when it is already): experiments record their models' paths,
// which are read from other working directories (a resume hint's --model, a later server's log),
// where a relative path names nothing (QA of stop 35). `path` itself when it names nothing here
// or the working directory cannot be read.
std::string PathFromRoot(const std::string& path);

// Parses a `--prm` flag value: "NAME=PATH", or "PATH" (the name is the folder's name, or the
// file's without ".gguf"). InvalidArgument naming the flag for an empty name or path.
absl::StatusOr<std::pair<std::string, std::string>> ParseNamedModel(std::string_view flag_value);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_MODEL_REGISTRY_H_
