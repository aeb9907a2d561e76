// Fuzz target: encoding arbitrary bytes (ill-formed UTF-8, control tokens, whitespace runs)
// with fixed small vocabularies. Byte-level BPE is lossless, so decoding must give back the
// input exactly, up to U+FFFD for ill-formed bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/model/gguf.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine/tokenizer/fuzz_exercise.h"
#include "tests/engine/tokenizer/tiny_vocabularies.h"

namespace {

using ponder::engine::Tokenizer;

const Tokenizer& ByteLevelTokenizer(bool nfc) {
  static const auto* tokenizers = [] {
    auto* built = new std::unique_ptr<Tokenizer>[2];
    for (int nfc = 0; nfc < 2; ++nfc) {
      nlohmann::json json = ponder::engine::testing::TinyByteLevelTokenizerJson();
      json["added_tokens"][1]["lstrip"] = false;  // no whitespace swallowing: round trips exactly
      json["added_tokens"][1]["rstrip"] = false;
      if (nfc) json["normalizer"] = {{"type", "NFC"}};
      built[nfc] = *Tokenizer::FromHuggingFaceJson(json.dump(), "", "tiny");
    }
    return built;
  }();
  return *tokenizers[nfc ? 1 : 0];
}

const Tokenizer& SentencePieceTokenizer() {
  static const Tokenizer* tokenizer = [] {
    static const std::vector<uint8_t> bytes =
        ponder::engine::testing::TinySentencePieceGguf().Serialize();
    static const auto gguf = *ponder::engine::GgufFile::Parse(bytes, "tiny.gguf");
    return Tokenizer::FromGguf(*gguf)->release();
  }();
  return *tokenizer;
}

std::string Sanitized(std::string_view bytes, const Tokenizer& tokenizer) {
  // Decode of the byte tokens themselves gives the reference sanitizing.
  std::vector<int32_t> ids;
  for (char c : bytes) ids.push_back(static_cast<uint8_t>(c));
  return tokenizer.Decode(ids);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Tokenizer& byte_level = ByteLevelTokenizer(false);
  for (bool parse_special : {false, true}) {
    const std::vector<int32_t> ids = byte_level.Encode(text, {.parse_special = parse_special});
    if (byte_level.Decode(ids) != Sanitized(text, byte_level)) std::abort();
  }
  ponder::engine::testing::ExerciseTokenizer(byte_level, text);
  ponder::engine::testing::ExerciseTokenizer(ByteLevelTokenizer(true), text);
  ponder::engine::testing::ExerciseTokenizer(SentencePieceTokenizer(), text);
  return 0;
}
