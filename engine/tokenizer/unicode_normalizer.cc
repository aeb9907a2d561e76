#include "engine/tokenizer/unicode_normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/utf8.h"

namespace ponder::engine {

struct UnicodeNormalizer::Forms {
  std::vector<const icu::Normalizer2*> normalizers;  // owned by ICU
};

UnicodeNormalizer::~UnicodeNormalizer() = default;

absl::StatusOr<std::unique_ptr<UnicodeNormalizer>> UnicodeNormalizer::Create(
    std::vector<NormalizationForm> forms) {
  auto normalizer = std::unique_ptr<UnicodeNormalizer>(new UnicodeNormalizer());
  normalizer->forms_ = std::make_unique<Forms>();
  for (NormalizationForm form : forms) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* instance = nullptr;
    switch (form) {
      case NormalizationForm::kNfc:
        instance = icu::Normalizer2::getNFCInstance(status);
        break;
      case NormalizationForm::kNfd:
        instance = icu::Normalizer2::getNFDInstance(status);
        break;
      case NormalizationForm::kNfkc:
        instance = icu::Normalizer2::getNFKCInstance(status);
        break;
      case NormalizationForm::kNfkd:
        instance = icu::Normalizer2::getNFKDInstance(status);
        break;
    }
    if (U_FAILURE(status) || instance == nullptr) {
      return absl::InternalError(
          absl::StrCat("ICU cannot provide a Unicode normalizer: ", u_errorName(status)));
    }
    normalizer->forms_->normalizers.push_back(instance);
  }
  return normalizer;
}

bool UnicodeNormalizer::Normalize(std::string_view text, std::string* out) const {
  bool ascii = true;
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii || forms_->normalizers.empty() || !IsValidUtf8(text)) return false;

  std::string current(text);
  bool changed = false;
  for (const icu::Normalizer2* normalizer : forms_->normalizers) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::StringPiece piece(current.data(), static_cast<int32_t>(current.size()));
    if (normalizer->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) continue;
    std::string normalized;
    icu::StringByteSink<std::string> sink(&normalized);
    status = U_ZERO_ERROR;
    normalizer->normalizeUTF8(0, piece, sink, nullptr, status);
    if (U_FAILURE(status)) break;  // keep what the earlier forms produced
    current = std::move(normalized);
    changed = true;
  }
  if (!changed) return false;
  *out = std::move(current);
  return true;
}

}  // namespace ponder::engine
