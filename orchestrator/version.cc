#include "orchestrator/version.h"

namespace ponder::orchestrator {

std::string_view CodeVersion() { return PONDER_CODE_VERSION; }

}  // namespace ponder::orchestrator
