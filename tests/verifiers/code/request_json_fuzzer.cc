// Fuzz target: the `ponder verify-code` input line parser (user-supplied JSON lines).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "verifiers/code/code_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ponder::verifiers::CodeRunRequest> request =
      ponder::verifiers::CodeRunRequestFromJson(line);
  if (request.ok() && request->program.size() > size) __builtin_trap();
  return 0;
}
