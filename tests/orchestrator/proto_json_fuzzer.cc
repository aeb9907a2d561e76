// Fuzz target: FromJson, which reads every JSON input of the CLI and the store (--spec, --strategy,
// --verifier, experiments.config_json) as protobuf's JSON mapping does, but refuses trailing
// commas with a scan of its own. Checked: an accepted text round-trips (what ToJson writes is read
// back to the same message); a refused one is one line that starts with what was being read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrator/client.h"
#include "orchestrator/proto_json.h"
#include "ponder/v1/service.pb.h"

namespace {

template <typename Message>
void Check(std::string_view text) {
  Message message;
  const absl::Status status = ponder::orchestrator::FromJson(text, message, "fuzz");
  if (status.ok()) {
    Message again;
    if (!ponder::orchestrator::FromJson(ponder::orchestrator::ToJson(message), again, "again")
             .ok() ||
        again.SerializeAsString() != message.SerializeAsString()) {
      __builtin_trap();
    }
    return;
  }
  const std::string_view error(status.message().data(), status.message().size());
  if (!error.starts_with("fuzz") || error.find('\n') != std::string_view::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Check<ponder::v1::ExperimentSpec>(text);
  Check<ponder::v1::StrategyConfig>(text);
  (void)ponder::orchestrator::ParseStrategyArgument(text, "--strategy");
  return 0;
}
