// Fuzz target: arbitrary bytes as a dataset file, through gzip detection, the JSON Lines and
// JSON array readers and every row parser. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "datasets/records.h"
#include "datasets/row_parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ponder::datasets::internal;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> text = DecodeMaybeGzip(bytes, "fuzz");
  if (!text.ok()) return 0;
  constexpr RowParser kParsers[] = {ParseGsm8kRow, ParseMathRow, ParseHumanEvalRow, ParseMbppRow};
  auto visit = [&](const JsonRecord& record) {
    for (RowParser parser : kParsers) {
      absl::StatusOr<ponder::datasets::Problem> problem =
          parser(record.value, {"fuzz", "test", record.index, {}});
      if (problem.ok() && parser == ParseMbppRow) (void)MbppTaskId(*problem);
    }
  };
  SkipLog log;
  ForEachJsonLine(*text, "fuzz", log, visit);
  (void)ForEachJsonArrayElement(*text, "fuzz", log, visit);
  return 0;
}
