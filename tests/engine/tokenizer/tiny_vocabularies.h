// Small vocabularies built in code, for tests and fuzz targets that must not depend on
// ../shared: a byte-level BPE tokenizer.json and a SentencePiece GGUF vocabulary.
#ifndef PONDER_TESTS_ENGINE_TOKENIZER_TINY_VOCABULARIES_H_
#define PONDER_TESTS_ENGINE_TOKENIZER_TINY_VOCABULARIES_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/model/gguf_writer.h"
#include "engine/tokenizer/byte_level.h"

namespace ponder::engine::testing {

// Byte-level BPE over the 256 bytes (ids 0..255 in byte order) plus merges spelling "hello",
// " world" and "ll", the GPT-2 pre-tokenizer, and added tokens: "<|end|>" (special, 300),
// "<tag>" (non-special, lstrip + rstrip, 301).
inline nlohmann::json TinyByteLevelTokenizerJson() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) {
    vocab[ByteLevelEncode(std::string(1, static_cast<char>(byte)))] = byte;
  }
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"l", "l"}, {"h", "e"},   {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"},
      {"o", "r"}, {"Ġw", "or"}, {"l", "d"},   {"Ġwor", "ld"}};
  nlohmann::json merge_list = nlohmann::json::array();
  int next_id = 256;
  for (const auto& [left, right] : merges) {
    vocab[left + right] = next_id++;
    merge_list.push_back(left + " " + right);
  }
  return {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 300},
         {"content", "<|end|>"},
         {"special", true},
         {"lstrip", false},
         {"rstrip", false},
         {"normalized", false},
         {"single_word", false}},
        {{"id", 301},
         {"content", "<tag>"},
         {"special", false},
         {"lstrip", true},
         {"rstrip", true},
         {"normalized", false},
         {"single_word", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}},
  };
}

// The keys every GGUF vocabulary has: tokenizer.ggml.model ("llama" or "gpt2"), the tokens and
// their types.
inline GgufWriter VocabularyGguf(std::string_view model, const std::vector<std::string>& tokens,
                                 const std::vector<int32_t>& types) {
  GgufWriter writer;
  writer.SetString("general.architecture", "llama");
  writer.SetString("tokenizer.ggml.model", model);
  writer.SetStringArray("tokenizer.ggml.tokens", tokens);
  writer.SetInt32Array("tokenizer.ggml.token_type", types);
  return writer;
}

// A SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens <0x00>.. (ids 3..258), then
// scored pieces.
inline GgufWriter TinySentencePieceGguf() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int byte = 0; byte < 256; ++byte) {
    tokens.push_back(absl::StrFormat("<0x%02X>", byte));
    scores.push_back(0);
    types.push_back(6);
  }
  const std::vector<std::pair<std::string, float>> pieces = {
      {"▁", -1}, {"a", -2}, {"b", -3}, {"ab", -4}, {"▁a", -5}, {"▁ab", -6}, {"c", -7}, {"bc", -1}};
  for (const auto& [piece, score] : pieces) {
    tokens.push_back(piece);
    scores.push_back(score);
    types.push_back(1);
  }
  GgufWriter writer = VocabularyGguf("llama", tokens, types);
  writer.SetFloat32Array("tokenizer.ggml.scores", scores);
  return writer;
}

}  // namespace ponder::engine::testing

#endif  // PONDER_TESTS_ENGINE_TOKENIZER_TINY_VOCABULARIES_H_
