// The code version recorded with every experiment and reported by GetEngineInfo.
#ifndef PONDER_ORCHESTRATOR_VERSION_H_
#define PONDER_ORCHESTRATOR_VERSION_H_

#include <string_view>

namespace ponder::orchestrator {

// "<project version>+<git describe --always --dirty>" as of the build (just the project
// version outside a git checkout).
std::string_view CodeVersion();

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_VERSION_H_
