// Fuzz target: reading a tokenizer from GGUF metadata (SentencePiece and byte-level
// vocabularies), then every tokenizer operation on whatever loads, and its export as
// tokenizer.json (`ponder convert` from GGUF), read back.
#include <cstdint>
#include <span>
#include <string_view>

#include "engine/model/gguf.h"
#include "engine/tokenizer/gguf_export.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine/tokenizer/fuzz_exercise.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto gguf = ponder::engine::GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!gguf.ok()) return 0;
  auto tokenizer = ponder::engine::Tokenizer::FromGguf(**gguf);
  if (!tokenizer.ok()) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ponder::engine::testing::ExerciseTokenizer(**tokenizer, bytes.substr(size / 2, 256));
  auto files = ponder::engine::HuggingFaceTokenizerFromGguf(**gguf);
  if (files.ok()) {
    auto back = ponder::engine::Tokenizer::FromHuggingFaceJson(
        files->tokenizer_json, files->tokenizer_config_json, "exported.json");
    if (back.ok()) ponder::engine::testing::ExerciseTokenizer(**back, bytes.substr(0, 128));
  }
  return 0;
}
