// Pre-tokenization for byte-level BPE (internal to engine/tokenizer/): cuts text into the pieces
// ("words") that BPE merges within, never across.
//
// A PreTokenizer is a list of steps applied in order, each to every piece the previous step
// produced, as Hugging Face tokenizers' `Sequence` pre-tokenizer does and as llama.cpp applies
// its list of expressions for a `tokenizer.ggml.pre` type (unicode_regex_split): a step either
// splits a piece by a regular expression or (ByteLevel `add_prefix_space`) prefixes it with a
// space.
#ifndef PONDER_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
#define PONDER_ENGINE_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/unicode_regex.h"

namespace ponder::engine {

// What becomes of the matches of a Split step (Hugging Face SplitDelimiterBehavior).
enum class SplitBehavior {
  kRemoved,             // matches are dropped
  kIsolated,            // matches and the gaps between them are separate pieces
  kMergedWithPrevious,  // a match joins the gap before it
  kMergedWithNext,      // a match joins the gap after it
  kContiguous,          // consecutive matches form one piece
};

// The expression GPT-2 (and Hugging Face's ByteLevel pre-tokenizer with use_regex) splits by.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3's expression (tokenizer.json of Meta-Llama-3): numbers in runs of up to three digits.
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2's expression (tokenizer.json of Qwen2/2.5/3): as Llama 3's, but one digit per piece.
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  PreTokenizer() = default;
  PreTokenizer(PreTokenizer&&) = default;
  PreTokenizer& operator=(PreTokenizer&&) = default;

  // The steps llama.cpp applies for GGUF `tokenizer.ggml.pre` = `name` (llama-vocab.cpp,
  // llm_tokenizer_bpe), written with the original tokenizer.json expressions. Sets
  // `*ignore_merges` and `*add_bos` to llama.cpp's defaults for that type.
  static absl::StatusOr<PreTokenizer> ForLlamaCppType(std::string_view name, bool* ignore_merges,
                                                      bool* add_bos);

  void AddSplit(std::unique_ptr<UnicodeRegex> regex, SplitBehavior behavior, bool invert);
  // Hugging Face ByteLevel `add_prefix_space`: a piece that does not start with a space gets one.
  void AddPrefixSpace();

  // Calls `sink` with each non-empty piece of `text`, in order. Pieces are views into `text` or
  // into temporaries that live for the duration of the call.
  void ForEachPiece(std::string_view text, absl::FunctionRef<void(std::string_view)> sink) const;

  bool empty() const { return steps_.empty(); }
  // The expressions of the Split steps, in order (used to recognise well-known vocabularies).
  std::vector<std::string> Patterns() const;

 private:
  struct Step {
    std::shared_ptr<const UnicodeRegex> regex;  // null for the prefix-space step
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
  };
  void Apply(size_t step_index, std::string_view piece,
             absl::FunctionRef<void(std::string_view)> sink) const;

  std::vector<Step> steps_;
};

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_TOKENIZER_PRE_TOKENIZER_H_
