// What identifies the models an experiment runs with, so that resuming it (`ponder bench
// --resume`, ResumeExperiment, ponderd's start-up recovery) goes on with the same models and
// never mixes another model's answers into its results.
//
// A model is identified by its content, not its path: a file that was moved is the same model, a
// different file at the same path is not. The fingerprint, "v2:<bytes>:<16 hex digits>", is the
// size and a hash of, per file:
//  - a file of at most 5 MiB: all of it;
//  - a GGUF or safetensors file the engine's readers parse: everything before its first tensor
//    (GGUF: header, metadata, tensor directory and padding; safetensors: the length and the
//    JSON header) or the first MiB if that is more, the first 4 KiB of every tensor, and 64
//    blocks of 64 KiB spread evenly over the rest, the last of them ending the file;
//  - any other file: the first MiB and the 64 spread blocks.
// A Hugging Face folder's fingerprint covers exactly the files the engine reads from it, by
// name: config.json, model.safetensors (or model.safetensors.index.json and the shards it
// names), tokenizer.json, tokenizer_config.json, generation_config.json, chat_template.jinja,
// chat_template.json and additional_chat_templates/*.jinja; other files (a README, notes) do
// not count. So a changed template, tokenizer, configuration, tensor directory or quantisation,
// or a change to the start of any tensor, gives another fingerprint; a same-size edit of a
// tensor's bytes past its first 4 KiB that misses the spread blocks does not. For a 1.26 GB
// model with 219 tensors that reads about 9 MiB. "v2:" names this way of fingerprinting, so that
// a later one can tell the fingerprints it did not make.
#ifndef PONDER_ORCHESTRATOR_MODEL_IDENTITY_H_
#define PONDER_ORCHESTRATOR_MODEL_IDENTITY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/model_registry.h"
#include "orchestrator/store/experiment_store.h"
#include "ponder/v1/service.pb.h"

namespace ponder::orchestrator {

// "v2:<bytes>:<16 hex digits>" of a model file or folder; "" for an empty path (a model that is
// not a local file). Errors name the path that cannot be read.
absl::StatusOr<std::string> ModelFingerprint(const std::string& path);

// The models `spec` runs with here: the policy (recorded under `policy_path`, fingerprinted
// from the policy engine's file) and every reward model its strategies' verifiers name that
// `models` has loaded.
absl::StatusOr<ExperimentModels> IdentifyModels(const v1::ExperimentSpec& spec,
                                                ModelRegistry& models,
                                                const std::string& policy_path);

// OK when the models an experiment recorded are the ones `here` names: equal fingerprints, or the
// same path where the experiment recorded no fingerprint (databases from before schema version 3),
// compared as the file each path names now (std::filesystem::weakly_canonical: a relative
// path or a symbolic link to the same file is the same model, a copy is not). Such an
// experiment recorded no reward models, so those are not compared; stderr says so when `here`
// has any.
// FailedPrecondition naming both models and what to do otherwise.
absl::Status CheckSameModels(int64_t experiment_id, const ExperimentModels& recorded,
                             const ExperimentModels& here);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_MODEL_IDENTITY_H_
