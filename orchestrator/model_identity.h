// What identifies the models an experiment runs with, so that resuming it (`ponder bench
// --resume`, ResumeExperiment, ponderd's start-up recovery) goes on with the same models and
// never mixes another model's answers into its results.
//
// A model is identified by its content, not its path: a file that was moved is the same model, a
// different file at the same path is not. The fingerprint is the size and a hash of the first
// MiB (a GGUF file's header, metadata and tensor directory), 64 blocks of 64 KiB spread evenly
// over the rest and the last block; small files are hashed whole. A Hugging Face folder's
// fingerprint covers its model, configuration and tokenizer files (.json, .safetensors, .model,
// .txt, .tiktoken, .gguf) by name. Reading about 5 MiB per file keeps it cheap for models of
// any size while any retrained, converted or re-quantised model differs in the samples.
#ifndef PONDER_ORCHESTRATOR_MODEL_IDENTITY_H_
#define PONDER_ORCHESTRATOR_MODEL_IDENTITY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/store/experiment_store.h"
#include "ponder/v1/service.pb.h"

namespace ponder::orchestrator {

// "<bytes>:<16 hex digits>" of a model file or folder; "" for an empty path (a model that is
// not a local file). Errors name the path that cannot be read.
absl::StatusOr<std::string> ModelFingerprint(const std::string& path);

// The models `spec` runs with here: the policy (recorded under `policy_path`, fingerprinted
// from the policy engine's file) and every reward model its strategies' verifiers name that
// `models` has loaded.
absl::StatusOr<ExperimentModels> IdentifyModels(const v1::ExperimentSpec& spec,
                                                ModelRegistry& models,
                                                const std::string& policy_path);

// OK when the models an experiment recorded are the ones `here` names: equal fingerprints, or
// the same path where the experiment recorded no fingerprint (databases from before schema
// version 3). FailedPrecondition naming both models and what to do otherwise.
absl::Status CheckSameModels(int64_t experiment_id, const ExperimentModels& recorded,
                             const ExperimentModels& here);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_MODEL_IDENTITY_H_
