#include "engine/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace ponder::engine {
namespace {

// llama.cpp's own expressions for types whose tokenizer.json it does not quote; these run
// before or after the GPT-2 expression (without its final `|\s+`, which llama.cpp leaves out
// and whose matches a gap reproduces).
constexpr std::string_view kGpt2PatternLlamaCpp =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Mistral's Tekken (Mistral-Nemo) expression, from its tokenizer.json.
constexpr std::string_view kTekkenPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool IsOneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view candidate : names) {
    if (name == candidate) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::ForLlamaCppType(std::string_view name,
                                                           bool* ignore_merges, bool* add_bos) {
  *ignore_merges = false;
  *add_bos = false;
  std::vector<std::string_view> patterns;
  if (IsOneOf(name, {"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe"})) {
    patterns = {kLlama3Pattern};
    *ignore_merges = IsOneOf(name, {"llama3", "llama-v3", "llama-bpe", "falcon3"});
    *add_bos = *ignore_merges;
  } else if (IsOneOf(name, {"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"})) {
    patterns = {kQwen2Pattern};
  } else if (IsOneOf(name, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en",
                            "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt",
                            "olmo", "jais"})) {
    patterns = {kGpt2Pattern};
  } else if (IsOneOf(name, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone",
                            "minerva-7b"})) {
    patterns = {R"(\p{N})", kGpt2PatternLlamaCpp};
  } else if (name == "falcon") {
    patterns = {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2PatternLlamaCpp, "[0-9][0-9][0-9]"};
  } else if (name == "chatglm-bpe") {
    patterns = {kLlama3Pattern};
  } else if (name == "tekken") {
    patterns = {kTekkenPattern};
    *ignore_merges = true;
    *add_bos = true;
  } else if (name == "default") {
    patterns = {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2PatternLlamaCpp, R"(\p{N}+)", "[0-9][0-9][0-9]"};
  } else {
    return absl::UnimplementedError(absl::StrCat(
        "pre-tokenizer type '", AsAbsl(name),
        "' is not supported (supported: default, gpt-2 and its aliases, llama-bpe/llama3, qwen2, "
        "deepseek-r1-qwen, starcoder and its aliases, falcon, chatglm-bpe, tekken)"));
  }
  PreTokenizer pre_tokenizer;
  for (std::string_view pattern : patterns) {
    PONDER_ASSIGN_OR_RETURN(std::unique_ptr<UnicodeRegex> regex, UnicodeRegex::Compile(pattern));
    pre_tokenizer.AddSplit(std::move(regex), SplitBehavior::kIsolated, /*invert=*/false);
  }
  return pre_tokenizer;
}

void PreTokenizer::AddSplit(std::unique_ptr<UnicodeRegex> regex, SplitBehavior behavior,
                            bool invert) {
  steps_.push_back(Step{std::shared_ptr<const UnicodeRegex>(std::move(regex)), behavior, invert});
}

void PreTokenizer::AddPrefixSpace() { steps_.push_back(Step{}); }

std::vector<std::string> PreTokenizer::Patterns() const {
  std::vector<std::string> patterns;
  for (const Step& step : steps_) {
    if (step.regex != nullptr) patterns.push_back(step.regex->pattern());
  }
  return patterns;
}

void PreTokenizer::ForEachPiece(std::string_view text,
                                absl::FunctionRef<void(std::string_view)> sink) const {
  Apply(0, text, sink);
}

void PreTokenizer::Apply(size_t step_index, std::string_view piece,
                         absl::FunctionRef<void(std::string_view)> sink) const {
  if (piece.empty()) return;
  if (step_index == steps_.size()) {
    sink(piece);
    return;
  }
  const Step& step = steps_[step_index];
  if (step.regex == nullptr) {
    if (piece.front() == ' ') {
      Apply(step_index + 1, piece, sink);
    } else {
      const std::string prefixed = absl::StrCat(" ", AsAbsl(piece));
      Apply(step_index + 1, prefixed, sink);
    }
    return;
  }

  // The common case (every GGUF type, and Split in tokenizer.json of Llama 3 and Qwen): matches
  // and gaps pass straight on, with no intermediate list.
  if (step.behavior == SplitBehavior::kIsolated && !step.invert) {
    size_t previous_end = 0;
    step.regex->ForEachMatch(piece, [&](size_t begin, size_t end) {
      if (begin > previous_end)
        Apply(step_index + 1, piece.substr(previous_end, begin - previous_end), sink);
      Apply(step_index + 1, piece.substr(begin, end - begin), sink);
      previous_end = end;
    });
    if (previous_end < piece.size()) Apply(step_index + 1, piece.substr(previous_end), sink);
    return;
  }

  // General case, following tokenizers' NormalizedString::split: list the spans (matches and
  // the gaps between them, flipped when inverted), then group them by the behaviour.
  struct Span {
    size_t begin;
    size_t end;
    bool is_match;
  };
  std::vector<Span> spans;
  size_t previous_end = 0;
  step.regex->ForEachMatch(piece, [&](size_t begin, size_t end) {
    if (begin > previous_end) spans.push_back({previous_end, begin, step.invert});
    spans.push_back({begin, end, !step.invert});
    previous_end = end;
  });
  if (previous_end < piece.size()) spans.push_back({previous_end, piece.size(), step.invert});

  std::vector<Span> grouped;
  switch (step.behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& span : spans) {
        if (!span.is_match) grouped.push_back(span);
      }
      break;
    case SplitBehavior::kIsolated:
      grouped = spans;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_was_match = false;
      for (const Span& span : spans) {
        if (span.is_match && !previous_was_match && !grouped.empty()) {
          grouped.back().end = span.end;
        } else {
          grouped.push_back(span);
        }
        previous_was_match = span.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_was_match = false;  // scanning right to left: the span after this one
      for (size_t i = spans.size(); i-- > 0;) {
        const Span& span = spans[i];
        if (span.is_match && !previous_was_match && !grouped.empty()) {
          grouped.back().begin = span.begin;
        } else {
          grouped.push_back(span);
        }
        previous_was_match = span.is_match;
      }
      std::reverse(grouped.begin(), grouped.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_was_match = false;
      for (const Span& span : spans) {
        if (span.is_match && previous_was_match && !grouped.empty()) {
          grouped.back().end = span.end;
        } else {
          grouped.push_back(span);
        }
        previous_was_match = span.is_match;
      }
      break;
    }
  }
  for (const Span& span : grouped) {
    Apply(step_index + 1, piece.substr(span.begin, span.end - span.begin), sink);
  }
}

}  // namespace ponder::engine
