// Shared helpers for the tokenizer tests: locating ../shared and reading llama.cpp's test vectors.
#ifndef PONDER_TESTS_ENGINE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
#define PONDER_TESTS_ENGINE_TOKENIZER_TOKENIZER_TEST_UTIL_H_

#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace ponder::engine::testing {

inline std::string SharedPath(const std::string& relative) {
  return std::string(PONDER_SHARED_DIR) + "/" + relative;
}

inline bool PathExists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// One text of a llama.cpp vector file and the ids it must encode to.
struct TokenizerVector {
  std::string text;
  std::vector<int32_t> ids;
};

// Reads `<name>.inp` / `<name>.out` as llama.cpp's tests/test-tokenizer-0.cpp does: the inputs
// are separated by "\n__ggml_vocab_test__\n" (the file ends with one), the outputs are one line
// of space-separated ids per input. Returns an empty list if the files disagree in count.
inline std::vector<TokenizerVector> ReadLlamaCppVectors(const std::string& base) {
  const std::string inputs = ReadWholeFile(base + ".inp");
  const std::string outputs = ReadWholeFile(base + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inputs.size();) {
    const size_t next = inputs.find(separator, pos);
    if (next == std::string::npos) {
      texts.push_back(inputs.substr(pos));
      break;
    }
    texts.push_back(inputs.substr(pos, next - pos));
    pos = next + separator.size();
  }
  std::vector<std::vector<int32_t>> id_lines;
  std::istringstream lines(outputs);
  for (std::string line; std::getline(lines, line);) {
    std::vector<int32_t> ids;
    std::istringstream numbers(line);
    for (int64_t id; numbers >> id;) ids.push_back(static_cast<int32_t>(id));
    id_lines.push_back(std::move(ids));
  }
  std::vector<TokenizerVector> vectors;
  if (texts.size() != id_lines.size()) return vectors;
  for (size_t i = 0; i < texts.size(); ++i) vectors.push_back({texts[i], id_lines[i]});
  return vectors;
}

// Tokenizers are slow-ish to load (a 9-11 MB tokenizer.json); tests share one per path.
inline const Tokenizer* CachedTokenizer(const std::string& path) {
  static auto* cache = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto it = cache->find(path);
  if (it != cache->end()) return it->second.get();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Open(path);
  if (!tokenizer.ok()) return nullptr;
  return cache->emplace(path, *std::move(tokenizer)).first->second.get();
}

}  // namespace ponder::engine::testing

#endif  // PONDER_TESTS_ENGINE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
