// What the tokenizer fuzz targets do with a tokenizer they managed to build: every public
// operation on inputs derived from the fuzz data. Aborts (so the driver reports a crash) when a
// promise of tokenizer.h is broken: streaming decode must equal Decode, and Decode must return
// valid UTF-8.
#ifndef PONDER_TESTS_ENGINE_TOKENIZER_FUZZ_EXERCISE_H_
#define PONDER_TESTS_ENGINE_TOKENIZER_FUZZ_EXERCISE_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace ponder::engine::testing {

inline bool IsValidUtf8Text(std::string_view text) {
  // A structural check (lead bytes and continuation bytes), independent of the library's own.
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

inline void CheckDecoding(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  for (bool skip_special : {false, true}) {
    const std::string text = tokenizer.Decode(ids, skip_special);
    StreamingDecoder decoder(tokenizer, skip_special);
    std::string streamed;
    for (int32_t id : ids) streamed += decoder.Push(id);
    streamed += decoder.Flush();
    if (streamed != text || !IsValidUtf8Text(text)) std::abort();
  }
}

inline void ExerciseTokenizer(const Tokenizer& tokenizer, std::string_view sample) {
  for (bool parse_special : {false, true}) {
    const std::vector<int32_t> ids =
        tokenizer.Encode(sample, {.add_bos = parse_special, .parse_special = parse_special});
    for (int32_t id : ids) {
      if (id < 0 || id >= tokenizer.vocab_size()) std::abort();
    }
    CheckDecoding(tokenizer, ids);
  }
  // Arbitrary ids, valid or not, taken from the sample's bytes.
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 4 <= sample.size() && ids.size() < 64; i += 4) {
    int32_t id;
    std::memcpy(&id, sample.data() + i, sizeof(id));
    ids.push_back(i % 8 == 0 ? id : static_cast<int32_t>(static_cast<uint32_t>(id) % 512));
  }
  CheckDecoding(tokenizer, ids);
  (void)tokenizer.FindToken(sample.substr(0, 8));
  (void)tokenizer.TokenText(static_cast<int32_t>(sample.size()));
  const std::vector<ChatMessage> messages = {{"system", std::string(sample.substr(0, 16))},
                                             {"user", std::string(sample)}};
  (void)tokenizer.chat_template().Apply(messages, true);
}

}  // namespace ponder::engine::testing

#endif  // PONDER_TESTS_ENGINE_TOKENIZER_FUZZ_EXERCISE_H_
