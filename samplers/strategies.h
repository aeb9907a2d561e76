// Constructors of the individual strategies (internal to samplers/; use MakeStrategy).
#ifndef PONDER_SAMPLERS_STRATEGIES_H_
#define PONDER_SAMPLERS_STRATEGIES_H_

#include <memory>

#include "samplers/strategy.h"

namespace ponder::samplers::internal {

std::unique_ptr<Strategy> MakeBestOfN();
std::unique_ptr<Strategy> MakeWeightedBestOfN();
std::unique_ptr<Strategy> MakeSelfConsistency();
std::unique_ptr<Strategy> MakeAdaptiveSelfConsistency(const v1::AdaptiveSelfConsistency& config);
std::unique_ptr<Strategy> MakePerplexity();
std::unique_ptr<Strategy> MakeRpc(const v1::Rpc& config);
std::unique_ptr<Strategy> MakeBeamSearch(const v1::BeamSearch& config);
std::unique_ptr<Strategy> MakeDvts(const v1::Dvts& config);
std::unique_ptr<Strategy> MakeParticleFilter(const v1::ParticleFilter& config);

}  // namespace ponder::samplers::internal

#endif  // PONDER_SAMPLERS_STRATEGIES_H_
