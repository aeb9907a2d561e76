// Fuzz target: the verdict channel reader and the judging of its result. The channel carries
// whatever a hostile program manages to write to it, so no input may crash or hang us.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "verifiers/code/verdict_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ponder::verifiers;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sandbox::VerdictReader reader("0123456789abcdef0123456789abcdef");
  // Feed in two uneven pieces, as a pipe may deliver them.
  size_t split = size / 3;
  reader.OnData(bytes.substr(0, split));
  reader.OnData(bytes.substr(split));
  sandbox::LaunchOutcome outcome;
  outcome.child_started = true;
  outcome.exit_code = static_cast<int>(size % 300);
  for (CodeTestKind kind :
       {CodeTestKind::kTestCode, CodeTestKind::kIoCases, CodeTestKind::kProgramOfThought}) {
    CodeRunRequest request;
    request.kind = kind;
    request.io_cases = {{"1", "1"}, {"2", "2"}};
    request.expected_answer = "42";
    CodeRunResult result = sandbox::JudgeRun(request, outcome, reader);
    if (result.tests_passed < 0 || result.tests_passed > result.tests_total + 2) __builtin_trap();
  }
  return 0;
}
