// Unicode normalization forms for tokenizer.json `normalizer` sections (internal to
// engine/tokenizer/). Qwen2/2.5/3 vocabularies normalize input to NFC before pre-tokenization,
// so "e" + U+0301 and "é" give the same tokens.
#ifndef PONDER_ENGINE_TOKENIZER_UNICODE_NORMALIZER_H_
#define PONDER_ENGINE_TOKENIZER_UNICODE_NORMALIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ponder::engine {

enum class NormalizationForm { kNfc, kNfd, kNfkc, kNfkd };

class UnicodeNormalizer {
 public:
  // Applies the forms in order (a tokenizer.json `Sequence` of them). Fails only if ICU cannot
  // provide a form.
  static absl::StatusOr<std::unique_ptr<UnicodeNormalizer>> Create(
      std::vector<NormalizationForm> forms);
  ~UnicodeNormalizer();

  // Returns true and sets `*out` to the normalized text when normalization changes `text`;
  // returns false (and leaves `*out` alone) when `text` is already normalized — ASCII always is —
  // or is not valid UTF-8 (ill-formed bytes are passed through untouched).
  bool Normalize(std::string_view text, std::string* out) const;

 private:
  UnicodeNormalizer() = default;
  struct Forms;
  std::unique_ptr<Forms> forms_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_UNICODE_NORMALIZER_H_
