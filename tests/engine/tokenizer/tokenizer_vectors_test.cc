// Conformance with llama.cpp's tokenizer test vectors (../shared/tokenizers/llama.cpp-vectors/):
// every text must encode to exactly the reference ids, without BOS and without parsing special
// tokens, as llama.cpp's tests/test-tokenizer-0.cpp runs them.
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace ponder::engine {
namespace {

using testing::CachedTokenizer;
using testing::PathExists;
using testing::ReadLlamaCppVectors;
using testing::SharedPath;
using testing::TokenizerVector;

struct VectorCase {
  std::string name;       // the vector files' base name
  std::string tokenizer;  // relative to ../shared
};

void PrintTo(const VectorCase& c, std::ostream* out) { *out << c.name << " via " << c.tokenizer; }

class LlamaCppVectorTest : public ::testing::TestWithParam<VectorCase> {};

TEST_P(LlamaCppVectorTest, EncodesEveryTextToTheReferenceIds) {
  const std::string base = SharedPath("tokenizers/llama.cpp-vectors/" + GetParam().name);
  const std::string tokenizer_path = SharedPath(GetParam().tokenizer);
  if (!PathExists(base + ".inp") || !PathExists(tokenizer_path)) {
    GTEST_SKIP() << "shared data absent: " << base << ".inp or " << tokenizer_path;
  }
  const std::vector<TokenizerVector> vectors = ReadLlamaCppVectors(base);
  ASSERT_FALSE(vectors.empty()) << base << ".inp/.out do not pair up";
  const Tokenizer* tokenizer = CachedTokenizer(tokenizer_path);
  ASSERT_NE(tokenizer, nullptr) << "cannot load " << tokenizer_path;
  for (size_t i = 0; i < vectors.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "text " << i << ": '" << vectors[i].text << "'");
    EXPECT_THAT(tokenizer->Encode(vectors[i].text, {.add_bos = false, .parse_special = false}),
                ::testing::ElementsAreArray(vectors[i].ids));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Vocabularies, LlamaCppVectorTest,
    ::testing::Values(
        VectorCase{"ggml-vocab-gpt-2.gguf", "tokenizers/llama.cpp-vectors/ggml-vocab-gpt-2.gguf"},
        VectorCase{"ggml-vocab-llama-spm.gguf",
                   "tokenizers/llama.cpp-vectors/ggml-vocab-llama-spm.gguf"},
        VectorCase{"ggml-vocab-phi-3.gguf", "tokenizers/llama.cpp-vectors/ggml-vocab-phi-3.gguf"},
        VectorCase{"ggml-vocab-qwen2.gguf", "tokenizers/hf/qwen3/tokenizer.json"},
        VectorCase{"ggml-vocab-deepseek-r1-qwen.gguf", "tokenizers/hf/qwen3/tokenizer.json"},
        VectorCase{"ggml-vocab-llama-bpe.gguf", "tokenizers/hf/llama3/tokenizer.json"}),
    [](const ::testing::TestParamInfo<VectorCase>& info) {
      std::string name = info.param.name.substr(std::string("ggml-vocab-").size());
      name = name.substr(0, name.find(".gguf"));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace ponder::engine
