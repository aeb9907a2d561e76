// Verifiers backed by a model served by the engine (engine::Engine::Score).
//
//  - ProcessRewardModelVerifier: Qwen2.5-Math-PRM, RLHFlow and Math-Shepherd input formats, as
//    their model cards and evaluation code define them (see the .cc for each);
//  - OutcomeRewardModelVerifier: a classification head read at the last token;
//  - SelfEvaluationVerifier: the policy's own probability of "True" after a verification prompt.
#ifndef PONDER_VERIFIERS_REWARD_MODEL_VERIFIER_H_
#define PONDER_VERIFIERS_REWARD_MODEL_VERIFIER_H_

#include <memory>
#include <string>

#include "verifiers/verifier.h"

namespace ponder::verifiers {

absl::StatusOr<std::unique_ptr<Verifier>> MakeProcessRewardModelVerifier(
    const v1::ProcessRewardModel& config, engine::Engine* model);
absl::StatusOr<std::unique_ptr<Verifier>> MakeOutcomeRewardModelVerifier(
    const v1::OutcomeRewardModel& config, engine::Engine* model);
absl::StatusOr<std::unique_ptr<Verifier>> MakeSelfEvaluationVerifier(
    const v1::SelfEvaluation& config, engine::Engine* policy);

}  // namespace ponder::verifiers

#endif  // PONDER_VERIFIERS_REWARD_MODEL_VERIFIER_H_
