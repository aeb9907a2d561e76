// Fuzz target: tokenizer.json parsing (model, added tokens, normalizer, pre-tokenizer, regular
// expressions), then every tokenizer operation on whatever loads, and its export as GGUF
// tokenizer metadata (`ponder convert`).
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "engine/tokenizer/gguf_export.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine/tokenizer/fuzz_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tokenizer =
      ponder::engine::Tokenizer::FromHuggingFaceJson(text, text.substr(0, 64), "fuzz.json");
  if (!tokenizer.ok()) return 0;
  ponder::engine::testing::ExerciseTokenizer(**tokenizer, text.substr(0, 512));
  auto vocabulary =
      ponder::engine::GgufVocabularyFromHuggingFaceJson(text, text.substr(0, 64), "", "fuzz.json");
  if (vocabulary.ok()) {
    ponder::engine::GgufWriter writer;
    vocabulary->WriteTo(writer);
    const std::vector<uint8_t> bytes = writer.Serialize();
    if (!ponder::engine::GgufFile::Parse(bytes, "exported.gguf").ok()) std::abort();
  }
  return 0;
}
