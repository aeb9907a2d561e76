// tokenizer_bench: encode throughput (MB/s of input text) of a tokenizer on a large text, side by
// side with baselines measured in the same run on the same text:
//   pre-tokenize only     normalization + the pre-tokenizer's regular expressions, no merges: the
//                         floor any BPE encoder built on them pays;
//   naive merges          the textbook merge loop per piece (rescan every pair after each
//                         merge), no cache;
//   EncodePiece merges    the library's merge loop per piece, no cache;
//   Encode (cold, warm)   Tokenizer::Encode with its piece cache, first and later passes.
// SentencePiece vocabularies have no pre-tokenizer; only Encode is measured for them.
//
//   tokenizer_bench [--tokenizer PATH] [--file PATH] [--repeat N]
// Defaults: ../shared/tokenizers/hf/qwen3/tokenizer.json and ../shared/datasets/gsm8k/train.jsonl.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "base/mapped_file.h"
// The internal state gives the benchmark the pieces (pre-tokenizer, merge loops) to time alone.
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_state.h"

namespace ponder::engine {
namespace {

// Best of `repeat` runs, in seconds.
double BestSeconds(int64_t repeat, const std::function<void()>& run) {
  double best = 1e30;
  for (int64_t i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    best = std::min(best, elapsed.count());
  }
  return best;
}

void PrintRow(std::string_view name, double seconds, size_t bytes, size_t tokens) {
  absl::PrintF("  %-24s %9.1f MB/s %12.2f Mtok/s %9.3f s\n", name, bytes / seconds / 1e6,
               tokens / seconds / 1e6, seconds);
}

int Run(std::span<char* const> args) {
  std::string tokenizer_path =
      std::string(PONDER_SHARED_DIR) + "/tokenizers/hf/qwen3/tokenizer.json";
  std::string file = std::string(PONDER_SHARED_DIR) + "/datasets/gsm8k/train.jsonl";
  int64_t repeat = 3;
  FlagParser flags("tokenizer_bench [--tokenizer PATH] [--file PATH] [--repeat N]");
  flags.AddString("tokenizer", &tokenizer_path, "GGUF file, tokenizer.json or model folder");
  flags.AddString("file", &file, "the text to encode");
  flags.AddInt("repeat", &repeat, "runs per measurement (the best is reported)");
  if (absl::Status status = flags.Parse(args); !status.ok()) {
    return ExitCodeFor("tokenizer_bench", status);  // --help: 0; an error: its line, the usage
  }
  absl::StatusOr<std::string> text = ReadFileToString(file);
  if (!text.ok()) {
    absl::FPrintF(stderr, "tokenizer_bench: %s\n", text.status().message());
    return 1;
  }
  const auto load_start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<Tokenizer>> loaded = Tokenizer::Open(tokenizer_path);
  const std::chrono::duration<double> load_time = std::chrono::steady_clock::now() - load_start;
  if (!loaded.ok()) {
    absl::FPrintF(stderr, "tokenizer_bench: %s\n", loaded.status().message());
    return 1;
  }
  const Tokenizer& tokenizer = **loaded;
  const TokenizerState& state = tokenizer.state();
  // Encode line by line, as prompts arrive (and so no line's pieces cross into the next).
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text->size();) {
    const size_t end = std::min(text->find('\n', pos), text->size());
    lines.push_back(std::string_view(*text).substr(pos, end + 1 - pos));
    pos = end + 1;
  }
  absl::PrintF("tokenizer %s (vocabulary %d, loaded in %.2f s)\ntext %s: %.2f MB, %d lines\n",
               tokenizer_path, tokenizer.vocab_size(), load_time.count(), file, text->size() / 1e6,
               lines.size());

  size_t tokens = 0;
  for (std::string_view line : lines) tokens += tokenizer.Encode(line).size();
  absl::PrintF("%d tokens (%.2f bytes/token), best of %d runs:\n", tokens,
               static_cast<double>(text->size()) / tokens, repeat);

  if (state.algorithm == Tokenizer::Algorithm::kByteLevelBpe) {
    auto for_each_piece = [&](const std::function<void(std::string_view)>& sink) {
      std::string normalized;
      for (std::string_view line : lines) {
        std::string_view input = line;
        if (state.normalizer != nullptr && state.normalizer->Normalize(line, &normalized)) {
          input = normalized;
        }
        state.pre_tokenizer.ForEachPiece(input, sink);
      }
    };
    size_t pieces = 0;
    const double split_seconds = BestSeconds(repeat, [&] {
      pieces = 0;
      for_each_piece([&](std::string_view) { ++pieces; });
    });
    PrintRow("pre-tokenize only", split_seconds, text->size(), tokens);
    std::vector<int32_t> ids;
    const double naive_seconds = BestSeconds(repeat, [&] {
      ids.clear();
      for_each_piece(
          [&](std::string_view piece) { state.byte_pair_encoder->EncodePieceNaive(piece, &ids); });
    });
    PrintRow("naive merges", naive_seconds, text->size(), ids.size());
    const double merge_seconds = BestSeconds(repeat, [&] {
      ids.clear();
      for_each_piece(
          [&](std::string_view piece) { state.byte_pair_encoder->EncodePiece(piece, &ids); });
    });
    PrintRow("EncodePiece merges", merge_seconds, text->size(), ids.size());
    absl::PrintF("  (%d pieces, %.2f bytes/piece)\n", pieces,
                 static_cast<double>(text->size()) / pieces);
  }
  // A fresh tokenizer for the cold pass, so its piece cache starts empty.
  absl::StatusOr<std::unique_ptr<Tokenizer>> fresh = Tokenizer::Open(tokenizer_path);
  if (!fresh.ok()) return 1;
  PrintRow("Encode, cold cache",
           BestSeconds(1,
                       [&] {
                         for (std::string_view line : lines) (void)(*fresh)->Encode(line);
                       }),
           text->size(), tokens);
  PrintRow("Encode, warm cache",
           BestSeconds(repeat,
                       [&] {
                         for (std::string_view line : lines) (void)tokenizer.Encode(line);
                       }),
           text->size(), tokens);
  std::vector<std::vector<int32_t>> encoded;
  for (std::string_view line : lines) encoded.push_back(tokenizer.Encode(line));
  PrintRow("Decode",
           BestSeconds(repeat,
                       [&] {
                         for (const auto& ids : encoded) (void)tokenizer.Decode(ids);
                       }),
           text->size(), tokens);
  return 0;
}

}  // namespace
}  // namespace ponder::engine

int main(int argc, char** argv) {
  return ponder::engine::Run({argv + 1, static_cast<size_t>(argc - 1)});
}
