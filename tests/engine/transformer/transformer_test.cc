// The fast forward pass against the reference one, across architectures, formats and dtypes;
// and the properties the serving engine relies on (chunked prefill, batch invariance).
#include "engine/transformer/transformer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "base/strings.h"
#include "engine/testing/random_model.h"
#include "engine/transformer/reference_transformer.h"

namespace ponder::engine {
namespace {

using testing::RandomModelSpec;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

// A block table with blocks [first, first + n) — distinct sequences get disjoint ranges.
std::vector<int32_t> Blocks(int first, int n) {
  std::vector<int32_t> table(n);
  std::iota(table.begin(), table.end(), first);
  return table;
}

std::vector<int32_t> Tokens(int n, int vocab, int salt) {
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) tokens[i] = (i * 37 + salt * 101 + 11) % vocab;
  return tokens;
}

// All-position logits from the fast path, processing `tokens` in chunks of `chunk` tokens.
std::vector<std::vector<float>> FastLogits(Transformer& transformer, KvCache& cache,
                                           const std::vector<int32_t>& tokens, int chunk,
                                           int first_block = 0) {
  const int vocab = transformer.config().vocab_size;
  std::vector<int32_t> table = Blocks(first_block, 64);
  std::vector<std::vector<float>> logits;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    size_t n = std::min<size_t>(chunk, tokens.size() - start);
    std::vector<int32_t> rows(n);
    std::iota(rows.begin(), rows.end(), 0);
    SequenceChunk seq{std::span(tokens).subspan(start, n), static_cast<int64_t>(start), table,
                      rows};
    ForwardOutput out;
    EXPECT_TRUE(transformer.Forward({&seq, 1}, cache, {}, out).ok());
    for (size_t r = 0; r < n; ++r) {
      logits.emplace_back(out.logits.begin() + r * vocab, out.logits.begin() + (r + 1) * vocab);
    }
  }
  return logits;
}

double MaxAbsDiff(const std::vector<std::vector<float>>& a,
                  const std::vector<std::vector<float>>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    for (size_t j = 0; j < a[i].size(); ++j)
      worst = std::max(worst, std::fabs(double(a[i][j]) - b[i][j]));
  }
  return worst;
}

KvCache MakeCache(const ModelConfig& c, int blocks = 256) {
  return KvCache(KvCacheShape{c.num_layers, c.num_kv_heads, c.head_dim, 16}, blocks);
}

struct Case {
  Architecture architecture;
  bool gguf;
  DType dtype;
  double tolerance;  // max |logit difference| against the reference path
};

class TransformerMatchesReference : public ::testing::TestWithParam<Case> {};

TEST_P(TransformerMatchesReference, AtEveryPosition) {
  const Case& c = GetParam();
  RandomModelSpec spec;
  spec.architecture = c.architecture;
  spec.seed = 7;
  std::string path = TempPath(absl::StrCat("ref_", AsAbsl(ArchitectureName(c.architecture)), "_",
                                           c.gguf ? "gguf_" : "hf_", AsAbsl(DTypeName(c.dtype))));
  if (c.gguf) {
    path += ".gguf";
    ASSERT_TRUE(testing::WriteRandomGgufModel(spec, c.dtype, path).ok());
  } else {
    ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, c.dtype, path).ok());
  }
  auto weights = ModelWeights::Load(path);
  ASSERT_TRUE(weights.ok()) << weights.status();
  ops::ThreadPool pool(2);
  Transformer transformer(**weights, pool);
  KvCache cache = MakeCache((*weights)->config());
  std::vector<int32_t> tokens = Tokens(40, spec.vocab_size, 1);
  auto expected = ReferenceLogits(**weights, tokens);
  auto actual = FastLogits(transformer, cache, tokens, 40);
  EXPECT_LE(MaxAbsDiff(actual, expected), c.tolerance);
}

INSTANTIATE_TEST_SUITE_P(Models, TransformerMatchesReference,
                         ::testing::Values(Case{Architecture::kLlama, false, DType::kF32, 2e-4},
                                           Case{Architecture::kLlama, true, DType::kF32, 2e-4},
                                           Case{Architecture::kLlama, true, DType::kF16, 2e-4},
                                           Case{Architecture::kLlama, false, DType::kBF16, 2e-4},
                                           Case{Architecture::kLlama, true, DType::kQ8_0, 0.15},
                                           Case{Architecture::kLlama, true, DType::kQ4_0, 1.0},
                                           Case{Architecture::kQwen2, false, DType::kF32, 2e-4},
                                           Case{Architecture::kQwen2, true, DType::kF16, 2e-4},
                                           Case{Architecture::kQwen3, false, DType::kF32, 2e-4},
                                           Case{Architecture::kQwen3, true, DType::kF32, 2e-4}),
                         [](const auto& info) {
                           return absl::StrCat(AsAbsl(ArchitectureName(info.param.architecture)),
                                               "_", info.param.gguf ? "gguf_" : "hf_",
                                               AsAbsl(DTypeName(info.param.dtype)));
                         });

// The GGUF llama file stores Q/K permuted for interleaved RoPE (as llama.cpp's converter does);
// the Hugging Face folder stores them as trained, for rotate_half RoPE. Same weights, two
// layouts: the logits agree only if the loader picks the right RoPE style for each.
TEST(TransformerTest, GgufAndHuggingFaceFilesOfOneModelGiveTheSameLogits) {
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2, Architecture::kQwen3}) {
    RandomModelSpec spec;
    spec.architecture = arch;
    spec.seed = 3;
    std::string name = absl::StrCat("same_", AsAbsl(ArchitectureName(arch)));
    ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF32, TempPath(name + ".gguf")).ok());
    ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, TempPath(name)).ok());
    auto gguf = ModelWeights::Load(TempPath(name + ".gguf"));
    auto hf = ModelWeights::Load(TempPath(name));
    ASSERT_TRUE(gguf.ok()) << gguf.status();
    ASSERT_TRUE(hf.ok()) << hf.status();
    ops::ThreadPool pool(1);
    Transformer a(**gguf, pool), b(**hf, pool);
    KvCache cache_a = MakeCache((*gguf)->config()), cache_b = MakeCache((*hf)->config());
    std::vector<int32_t> tokens = Tokens(24, spec.vocab_size, 2);
    EXPECT_LE(MaxAbsDiff(FastLogits(a, cache_a, tokens, 24), FastLogits(b, cache_b, tokens, 24)),
              1e-4)
        << ArchitectureName(arch);
  }
}

TEST(TransformerTest, ChunkedPrefillEqualsOneShotPrefillBitForBit) {
  RandomModelSpec spec;
  std::string path = TempPath("chunked.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF16, path).ok());
  auto weights = ModelWeights::Load(path);
  ASSERT_TRUE(weights.ok());
  ops::ThreadPool pool(2);
  Transformer transformer(**weights, pool);
  KvCache cache = MakeCache((*weights)->config());
  std::vector<int32_t> tokens = Tokens(50, spec.vocab_size, 3);
  auto whole = FastLogits(transformer, cache, tokens, 50);
  for (int chunk : {1, 7, 16}) {
    EXPECT_EQ(FastLogits(transformer, cache, tokens, chunk), whole) << "chunk " << chunk;
  }
}

// A sequence's logits do not depend on the other sequences in the step.
TEST(TransformerTest, BatchedSequencesMatchSequencesRunAloneBitForBit) {
  RandomModelSpec spec;
  std::string path = TempPath("batched.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kQ8_0, path).ok());
  auto weights = ModelWeights::Load(path);
  ASSERT_TRUE(weights.ok());
  const int vocab = spec.vocab_size;
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < 5; ++s) prompts.push_back(Tokens(3 + 9 * s, vocab, s));

  std::vector<std::vector<float>> alone;
  for (int threads : {1, 2}) {
    ops::ThreadPool pool(threads);
    Transformer transformer(**weights, pool);
    KvCache cache = MakeCache((*weights)->config());
    for (int s = 0; s < 5; ++s) {
      auto logits = FastLogits(transformer, cache, prompts[s], 64, s * 8);
      if (threads == 1)
        alone.push_back(logits.back());
      else
        EXPECT_EQ(logits.back(), alone[s]) << "thread count changed sequence " << s;
    }
  }
  ops::ThreadPool pool(2);
  Transformer transformer(**weights, pool);
  KvCache cache = MakeCache((*weights)->config());
  std::vector<std::vector<int32_t>> tables, rows;
  std::vector<SequenceChunk> chunks;
  for (int s = 0; s < 5; ++s) {
    tables.push_back(Blocks(s * 8, 8));
    rows.push_back({static_cast<int32_t>(prompts[s].size()) - 1});
  }
  for (int s = 4; s >= 0; --s)
    chunks.push_back({prompts[s], 0, tables[s], rows[s]});  // reversed order
  ForwardOutput out;
  ASSERT_TRUE(transformer.Forward(chunks, cache, {}, out).ok());
  for (int i = 0; i < 5; ++i) {
    int s = 4 - i;
    std::vector<float> row(out.logits.begin() + i * vocab, out.logits.begin() + (i + 1) * vocab);
    EXPECT_EQ(row, alone[s]) << "sequence " << s;
  }
}

TEST(TransformerTest, InvalidInputsAreRejectedBeforeAnyWork) {
  RandomModelSpec spec;
  std::string path = TempPath("invalid.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF32, path).ok());
  auto weights = ModelWeights::Load(path);
  ASSERT_TRUE(weights.ok());
  ops::ThreadPool pool(1);
  Transformer transformer(**weights, pool);
  KvCache cache = MakeCache((*weights)->config(), 4);
  std::vector<int32_t> bad_token = {1, spec.vocab_size};
  std::vector<int32_t> table = {0, 1}, rows = {1};
  SequenceChunk chunk{bad_token, 0, table, rows};
  ForwardOutput out;
  EXPECT_EQ(transformer.Forward({&chunk, 1}, cache, {}, out).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> ok_tokens(40, 1), short_table = {0};
  SequenceChunk too_long{ok_tokens, 0, short_table, rows};
  EXPECT_EQ(transformer.Forward({&too_long, 1}, cache, {}, out).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> bad_block = {0, 9};
  SequenceChunk out_of_range{ok_tokens, 0, bad_block, rows};
  EXPECT_EQ(transformer.Forward({&out_of_range, 1}, cache, {}, out).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> two_tokens = {1, 2};
  SequenceChunk beyond{two_tokens, spec.max_context - 1, table, rows};
  EXPECT_EQ(transformer.Forward({&beyond, 1}, cache, {}, out).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ponder::engine
