// Fuzz target: arbitrary bytes as a dataset file, through gzip detection, the JSON Lines and
// JSON array readers and every row parser. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "datasets/doctest_examples.h"
#include "datasets/records.h"
#include "datasets/row_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ponder::datasets::internal;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> text = DecodeMaybeGzip(bytes, "fuzz");
  if (!text.ok()) return 0;
  constexpr RowParser kParsers[] = {ParseGsm8kRow, ParseMathRow, ParseHumanEvalRow, ParseMbppRow,
                                    ParseProblemsFileRow};
  auto visit = [&](const JsonRecord& record) {
    for (RowParser parser : kParsers) {
      absl::StatusOr<ponder::datasets::Problem> problem =
          parser(record.value, {"fuzz", "test", record.index, {}});
      if (problem.ok() && parser == ParseMbppRow) (void)MbppTaskId(*problem);
      // A HumanEval prompt's docstring examples (datasets/doctest_examples.h).
      if (problem.ok() && problem->code.has_value()) {
        (void)ponder::datasets::ExampleAsserts(problem->code->prompt, problem->code->entry_point);
      }
    }
  };
  // The whole text as a prompt, with and without a function's name.
  (void)ponder::datasets::ExampleAsserts(*text);
  (void)ponder::datasets::ExampleAsserts(*text, "f");
  SkipLog log;
  (void)ForEachJsonLine(*text, "fuzz", log, visit);
  (void)ForEachJsonArrayElement(*text, "fuzz", log, visit);
  return 0;
}
