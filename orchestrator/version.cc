#include "orchestrator/version.h"

#include "code_version.h"  // generated at build time: cmake/code_version.cmake

namespace ponder::orchestrator {

std::string_view CodeVersion() { return PONDER_CODE_VERSION; }

}  // namespace ponder::orchestrator
