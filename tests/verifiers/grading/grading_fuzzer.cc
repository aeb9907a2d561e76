// Fuzz target for the answer grader: any bytes as a response and a reference (split at the
// first NUL byte; without one the input is compared with itself). Checks that nothing crashes
// or hangs, and the key contract: equal non-empty keys mean equivalent answers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "verifiers/grading/grader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ponder::verifiers::AnswerFormat;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t split = input.find('\0');
  std::string_view response = split == std::string_view::npos ? input : input.substr(0, split);
  std::string_view reference = split == std::string_view::npos ? input : input.substr(split + 1);
  // Programs (kCode): ExtractProgram never returns a blank program, and one it returns is found
  // again in itself (a program without fences is its own program).
  // A fenced program (program-of-thought) is the program whenever there is one.
  if (std::optional<std::string> fenced =
          ponder::verifiers::ExtractProgram(response, /*whole_text_without_fence=*/false);
      fenced.has_value() && ponder::verifiers::ExtractProgram(response) != fenced) {
    std::abort();
  }
  if (std::optional<std::string> program = ponder::verifiers::ExtractProgram(response)) {
    if (program->find_first_not_of(" \t\r\n\f\v") == std::string::npos) std::abort();
    if (program->find("```") == std::string::npos &&
        ponder::verifiers::ExtractProgram(*program) != program) {
      std::abort();
    }
  }
  for (AnswerFormat format : {AnswerFormat::kGsm8k, AnswerFormat::kMath, AnswerFormat::kCode}) {
    ponder::verifiers::Grade(response, reference, format, /*extract=*/true);
    ponder::verifiers::Grade(response, reference, format, /*extract=*/false);
    ponder::verifiers::Gsm8kGoldAnswer(response);
    ponder::verifiers::MathGoldAnswer(response);
    std::string response_key = ponder::verifiers::CanonicalAnswerKey(response, format);
    std::string reference_key = ponder::verifiers::CanonicalAnswerKey(reference, format);
    bool equivalent = ponder::verifiers::AnswersEquivalent(response, reference, format);
    if (!response_key.empty() && response_key == reference_key && !equivalent) std::abort();
    if (!response_key.empty() &&
        !ponder::verifiers::AnswersEquivalent(response, response, format)) {
      std::abort();
    }
    if (response_key.empty() && equivalent) std::abort();  // no answer matches nothing
  }
  return 0;
}
