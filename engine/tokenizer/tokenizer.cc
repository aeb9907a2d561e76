#include "engine/tokenizer/tokenizer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "base/utf8.h"
#include "engine/tokenizer/tokenizer_state.h"

namespace ponder::engine {
namespace {

// Token texts llama.cpp treats as end-of-generation (llama-vocab.cpp: the EOT/EOM texts, and
// the FIM pad/repo/separator texts, all of which end a generation there).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>",   "<|im_end|>",    "<|end|>",     "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>",   "<EOT>",         "<|fim_pad|>", "<fim-pad>",     "<PAD>",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",  "<REPO>",        "<|file_sep|>",
};

// Replaces every space with U+2581 (SentencePiece's escaped whitespace, llama.cpp
// llama_escape_whitespace).
std::string EscapeSpaces(std::string_view text, bool add_prefix) {
  std::string out;
  out.reserve(text.size() + 8);
  if (add_prefix) out.append("\xE2\x96\x81");
  for (char c : text) {
    if (c == ' ') {
      out.append("\xE2\x96\x81");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

bool PieceCache::Lookup(std::string_view piece, std::vector<int32_t>* out) const {
  absl::ReaderMutexLock lock(&mutex_);
  auto it = entries_.find(AsAbsl(piece));
  if (it == entries_.end()) return false;
  out->insert(out->end(), it->second.begin(), it->second.end());
  return true;
}

void PieceCache::Insert(std::string_view piece, std::span<const int32_t> ids) const {
  absl::MutexLock lock(&mutex_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_.try_emplace(std::string(piece), ids.begin(), ids.end());
}

void CollectEndOfGenerationTokens(std::span<const int32_t> extra, TokenizerState* state) {
  std::vector<int32_t>& ids = state->end_of_generation_ids;
  for (std::string_view text : kEndOfGenerationTexts) {
    if (std::optional<int32_t> id = state->vocabulary.FindText(text); id.has_value()) {
      ids.push_back(*id);
    }
  }
  for (int32_t id : extra) {
    if (state->vocabulary.IsValid(id)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // llama.cpp overrides the type of such tokens to control whatever the file says.
  for (int32_t id : ids) state->vocabulary.AddAttrs(id, kTokenControl);
}

void BuildAddedTokenMatcher(TokenizerState* state) {
  const Vocabulary& vocabulary = state->vocabulary;
  std::vector<AddedToken> tokens;
  for (int32_t id = 0; id < vocabulary.size(); ++id) {
    if (!vocabulary.Has(id, kTokenControl | kTokenUserDefined | kTokenUnknown)) continue;
    AddedToken token;
    token.text = std::string(vocabulary.Text(id));
    token.id = id;
    token.special = vocabulary.Has(id, kTokenControl | kTokenUnknown);
    token.lstrip = vocabulary.Has(id, kTokenLstrip);
    token.rstrip = vocabulary.Has(id, kTokenRstrip);
    tokens.push_back(std::move(token));
  }
  state->added_tokens = AddedTokenMatcher(tokens);
}

Tokenizer::Tokenizer(std::unique_ptr<TokenizerState> state) : state_(std::move(state)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Open(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
  }
  if (S_ISDIR(info.st_mode)) return FromHuggingFace(path);
  char magic[4] = {0, 0, 0, 0};
  if (std::FILE* file = std::fopen(path.c_str(), "rb"); file != nullptr) {
    const size_t read = std::fread(magic, 1, sizeof(magic), file);
    std::fclose(file);
    if (read == sizeof(magic) && std::string_view(magic, 4) == "GGUF") {
      PONDER_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> gguf, GgufFile::Open(path));
      return FromGguf(*gguf);
    }
  } else {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open for reading"));
  }
  return FromHuggingFace(path);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, EncodeOptions options) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (options.add_bos && state_->bos_id.has_value()) ids.push_back(*state_->bos_id);
  if (state_->added_tokens.empty()) {
    EncodeText(text, /*follows_special=*/true, &ids);
    return ids;
  }
  std::vector<AddedTokenMatcher::Fragment> fragments;
  state_->added_tokens.Split(text, options.parse_special, &fragments);
  bool follows_special = true;  // the start of the text counts as following a special token
  for (const AddedTokenMatcher::Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      ids.push_back(fragment.token);
      follows_special = true;
    } else {
      EncodeText(fragment.text, follows_special, &ids);
      follows_special = false;
    }
  }
  return ids;
}

void Tokenizer::EncodeText(std::string_view text, bool follows_special,
                           std::vector<int32_t>* out) const {
  if (text.empty()) return;
  const TokenizerState& state = *state_;
  if (state.algorithm == Algorithm::kSentencePieceBpe) {
    // llama.cpp adds the space prefix to every text fragment that starts the input or follows
    // a special token (tokenize_impl, is_prev_special).
    const std::string escaped = EscapeSpaces(text, state.add_space_prefix && follows_special);
    state.sentencepiece->Encode(escaped, out);
    return;
  }
  std::string normalized;
  if (state.normalizer != nullptr && state.normalizer->Normalize(text, &normalized)) {
    text = normalized;
  }
  std::vector<int32_t> piece_ids;
  state.pre_tokenizer.ForEachPiece(text, [&](std::string_view piece) {
    if (piece.size() < PieceCache::kMinPieceBytes || piece.size() > PieceCache::kMaxPieceBytes) {
      state.byte_pair_encoder->EncodePiece(piece, out);
      return;
    }
    if (state.piece_cache.Lookup(piece, out)) return;
    piece_ids.clear();
    state.byte_pair_encoder->EncodePiece(piece, &piece_ids);
    state.piece_cache.Insert(piece, piece_ids);
    out->insert(out->end(), piece_ids.begin(), piece_ids.end());
  });
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special && state_->vocabulary.IsValid(id) &&
        state_->vocabulary.Has(id, kTokenControl | kTokenUnknown)) {
      continue;
    }
    bytes.append(TokenPiece(id));
  }
  std::string text;
  text.reserve(bytes.size());
  AppendSanitizedUtf8(bytes, /*at_end=*/true, &text);
  return text;
}

std::string_view Tokenizer::TokenText(int32_t id) const {
  return state_->vocabulary.IsValid(id) ? state_->vocabulary.Text(id) : std::string_view();
}

std::string_view Tokenizer::TokenPiece(int32_t id) const {
  return state_->vocabulary.IsValid(id) ? state_->vocabulary.Piece(id) : kReplacementCharacter;
}

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const {
  if (std::optional<int32_t> id = state_->vocabulary.FindPiece(text); id.has_value()) return id;
  return state_->vocabulary.FindText(text);
}

int32_t Tokenizer::vocab_size() const { return state_->vocabulary.size(); }
std::optional<int32_t> Tokenizer::bos_id() const { return state_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return state_->eos_id; }
bool Tokenizer::add_bos_by_default() const { return state_->add_bos_by_default; }
bool Tokenizer::add_space_prefix() const { return state_->add_space_prefix; }

const std::vector<int32_t>& Tokenizer::end_of_generation_ids() const {
  return state_->end_of_generation_ids;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(state_->end_of_generation_ids.begin(),
                            state_->end_of_generation_ids.end(), id);
}

bool Tokenizer::IsControl(int32_t id) const {
  return state_->vocabulary.IsValid(id) && state_->vocabulary.Has(id, kTokenControl);
}

const ChatTemplate& Tokenizer::chat_template() const { return state_->chat_template; }
Tokenizer::Algorithm Tokenizer::algorithm() const { return state_->algorithm; }
const std::string& Tokenizer::source() const { return state_->source; }

std::string StreamingDecoder::Push(int32_t id) {
  const TokenizerState& state = tokenizer_.state();
  if (skip_special_ && state.vocabulary.IsValid(id) &&
      state.vocabulary.Has(id, kTokenControl | kTokenUnknown)) {
    return std::string();
  }
  pending_.append(tokenizer_.TokenPiece(id));
  std::string text;
  const size_t consumed = AppendSanitizedUtf8(pending_, /*at_end=*/false, &text);
  pending_.erase(0, consumed);
  return text;
}

std::string StreamingDecoder::Flush() {
  std::string text;
  AppendSanitizedUtf8(pending_, /*at_end=*/true, &text);
  pending_.clear();
  return text;
}

}  // namespace ponder::engine
