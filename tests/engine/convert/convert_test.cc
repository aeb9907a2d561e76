// `ponder convert`'s library: a Hugging Face folder and the GGUF file made from it are the same
// model (logits, greedy tokens, reward read-outs, token ids), the GGUF layout is llama.cpp's
// (Q/K permutation, quantization bytes, metadata keys), the way back restores the folder, and
// broken inputs give errors that name the file and the tensor or key.
#include "engine/convert/convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/mapped_file.h"
#include "base/strings.h"
#include "engine/local_engine.h"
#include "engine/model/gguf.h"
#include "engine/model/quantize.h"
#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "engine/model/tensor_names.h"
#include "engine/testing/random_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/transformer/reference_transformer.h"
#include "engine/transformer/weights.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RandomModelSpec;

std::string TempPath(const std::string& name) {
  return (fs::path(::testing::TempDir()) / ("convert_" + name)).string();
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// The error message of a conversion; "OK" when it succeeded.
std::string ErrorOf(const absl::StatusOr<ConvertReport>& result) {
  return result.ok() ? "OK" : Message(result.status());
}

// A random Hugging Face folder of `spec` in `dtype`.
std::string RandomFolder(const RandomModelSpec& spec, DType dtype, const std::string& name) {
  const std::string folder = TempPath(name);
  fs::remove_all(folder);
  EXPECT_TRUE(testing::WriteRandomHuggingFaceModel(spec, dtype, folder).ok());
  return folder;
}

std::unique_ptr<ModelWeights> Load(const std::string& path) {
  absl::StatusOr<std::unique_ptr<ModelWeights>> weights = ModelWeights::Load(path);
  EXPECT_TRUE(weights.ok()) << weights.status();
  return weights.ok() ? *std::move(weights) : nullptr;
}

std::vector<int32_t> SomeTokens(int n, int vocab) {
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) tokens[i] = (i * 37 + 11) % vocab;
  return tokens;
}

struct LogitComparison {
  double max_difference = 0;
  int argmax_disagreements = 0;
};

// Logits of both models at every position of the same tokens (the reference forward pass).
LogitComparison CompareLogits(const ModelWeights& a, const ModelWeights& b) {
  const std::vector<int32_t> tokens = SomeTokens(24, a.config().vocab_size);
  const auto la = ReferenceLogits(a, tokens), lb = ReferenceLogits(b, tokens);
  LogitComparison result;
  for (size_t position = 0; position < la.size(); ++position) {
    for (size_t v = 0; v < la[position].size(); ++v) {
      result.max_difference =
          std::max(result.max_difference, std::fabs(double(la[position][v]) - lb[position][v]));
    }
    auto argmax = [](const std::vector<float>& row) {
      return std::max_element(row.begin(), row.end()) - row.begin();
    };
    if (argmax(la[position]) != argmax(lb[position])) ++result.argmax_disagreements;
  }
  return result;
}

struct Case {
  Architecture architecture;
  DType folder_dtype;  // what the Hugging Face folder stores
  std::optional<DType> gguf_dtype;
  // Max |logit difference| between the folder and the GGUF file. Exact where both hold the
  // same values and RoPE pairs the same dimensions; `llama` files pair them after the Q/K
  // permutation, which reorders sums (a few float ulps).
  double tolerance;
};

std::string CaseName(const Case& c) {
  return absl::StrCat(AsAbsl(ArchitectureName(c.architecture)), "_",
                      AsAbsl(DTypeName(c.folder_dtype)), "_to_",
                      c.gguf_dtype ? AsAbsl(DTypeName(*c.gguf_dtype)) : "auto");
}

class ConvertedModelTest : public ::testing::TestWithParam<Case> {};

TEST_P(ConvertedModelTest, GivesTheFolderLogits) {
  const Case& c = GetParam();
  RandomModelSpec spec;
  spec.architecture = c.architecture;
  spec.seed = 5;
  const std::string folder = RandomFolder(spec, c.folder_dtype, CaseName(c));
  ConvertOptions options;
  options.dtype = c.gguf_dtype;
  absl::StatusOr<ConvertReport> report =
      ConvertHuggingFaceToGguf(folder, folder + ".gguf", options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->dtype, c.gguf_dtype.value_or(c.folder_dtype));
  EXPECT_TRUE(report->other_dtype_tensors.empty());
  auto hf = Load(folder), gguf = Load(folder + ".gguf");
  ASSERT_TRUE(hf && gguf);
  EXPECT_EQ(gguf->DTypeSummary(), DTypeName(report->dtype));
  EXPECT_EQ(gguf->config().rope_style,
            c.architecture == Architecture::kLlama ? RopeStyle::kInterleaved : RopeStyle::kNeox);
  const LogitComparison comparison = CompareLogits(*hf, *gguf);
  EXPECT_LE(comparison.max_difference, c.tolerance);
  // Quantization noise may flip the top token of these tiny random models; the file formats
  // alone must not.
  if (c.tolerance < 1e-3) {
    EXPECT_EQ(comparison.argmax_disagreements, 0);
  }
  std::printf("  max |logit difference| %.3g, argmax disagreements %d of 24 positions\n",
              comparison.max_difference, comparison.argmax_disagreements);
}

INSTANTIATE_TEST_SUITE_P(
    ArchitecturesAndDtypes, ConvertedModelTest,
    ::testing::Values(Case{Architecture::kLlama, DType::kF32, DType::kF32, 1e-5},
                      Case{Architecture::kQwen2, DType::kF32, DType::kF32, 0},
                      Case{Architecture::kQwen3, DType::kF32, DType::kF32, 0},
                      // auto keeps the folder's type; the GGUF holds the very same values.
                      Case{Architecture::kLlama, DType::kF16, std::nullopt, 1e-5},
                      Case{Architecture::kQwen2, DType::kBF16, std::nullopt, 0},
                      Case{Architecture::kQwen3, DType::kF16, std::nullopt, 0},
                      // Quantized: 8-bit and 4-bit weights against the f32 folder; bounds about
                      // twice the measured differences (0.11 and 2.4).
                      Case{Architecture::kLlama, DType::kF32, DType::kQ8_0, 0.25},
                      Case{Architecture::kQwen3, DType::kF32, DType::kQ4_0, 5.0}),
    [](const auto& info) { return CaseName(info.param); });

// The converter rounds f32 to bf16 exactly as a folder stored in bf16 holds it (vectors stay
// f32 in GGUF, so the comparison is of the matrices' bytes).
TEST(ConvertTest, RoundsToBf16ExactlyAsAFolderStoredInBf16) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  const std::string f32_folder = RandomFolder(spec, DType::kF32, "bf16_source");
  const std::string bf16_folder = RandomFolder(spec, DType::kBF16, "bf16_reference");
  ConvertOptions options;
  options.dtype = DType::kBF16;
  ASSERT_TRUE(ConvertHuggingFaceToGguf(f32_folder, f32_folder + ".gguf", options).ok());
  auto gguf = GgufFile::Open(f32_folder + ".gguf");
  auto reference = SafetensorsCheckpoint::Open(bf16_folder);
  ASSERT_TRUE(gguf.ok() && reference.ok());
  for (const auto& [gguf_name, hf_name] :
       {std::pair{"token_embd.weight", "model.embed_tokens.weight"},
        std::pair{"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight"},
        std::pair{"blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"}}) {
    const GgufTensorInfo* converted = (*gguf)->FindTensor(gguf_name);
    const SafetensorsTensor* expected = (*reference)->Find(hf_name);
    ASSERT_TRUE(converted != nullptr && expected != nullptr);
    EXPECT_EQ(converted->dtype, DType::kBF16);
    EXPECT_TRUE(std::equal(converted->data.begin(), converted->data.end(), expected->data.begin(),
                           expected->data.end()))
        << gguf_name;
  }
}

// The permutation, written as convert_hf_to_gguf.py states it: view the rows as
// [heads, 2, head_dim / 2] and swap the last two axes.
TEST(ConvertTest, PermutesLlamaQueryAndKeyRowsAsLlamaCppDoes) {
  RandomModelSpec spec;  // llama, 4 heads, 2 key/value heads, head_dim 16
  const std::string folder = RandomFolder(spec, DType::kF32, "permutation");
  ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf").ok());
  auto hf = SafetensorsCheckpoint::Open(folder);
  auto gguf = GgufFile::Open(folder + ".gguf");
  ASSERT_TRUE(hf.ok() && gguf.ok());
  for (const auto& [hf_name, gguf_name, heads] :
       {std::tuple{"model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", 4},
        std::tuple{"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", 2},
        std::tuple{"model.layers.1.self_attn.v_proj.weight", "blk.1.attn_v.weight", 0}}) {
    const SafetensorsTensor* source = (*hf)->Find(hf_name);
    const GgufTensorInfo* converted = (*gguf)->FindTensor(gguf_name);
    ASSERT_TRUE(source != nullptr && converted != nullptr);
    const int64_t rows = source->shape[0], cols = source->shape[1];
    ASSERT_EQ(converted->dims, (std::vector<uint64_t>{uint64_t(cols), uint64_t(rows)}));
    const float* in = reinterpret_cast<const float*>(source->data.data());
    const float* out = reinterpret_cast<const float*>(converted->data.data());
    int mismatches = 0;
    for (int64_t row = 0; row < rows; ++row) {
      int64_t from = row;  // V is not permuted
      if (heads > 0) {
        const int64_t half = rows / heads / 2;
        const int64_t head = row / (2 * half), i = (row % (2 * half)) / 2, j = row % 2;
        from = (head * 2 + j) * half + i;  // index of [head][j][i] in the [heads, 2, half] view
      }
      for (int64_t col = 0; col < cols; ++col)
        mismatches += out[row * cols + col] != in[from * cols + col];
    }
    EXPECT_EQ(mismatches, 0) << gguf_name;
  }
}

TEST(ConvertTest, QuantizesLikeGgmlAndFallsBackToF16ForOddRows) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen3;
  spec.intermediate_size = 80;  // ffn_down rows hold 80 values: not a multiple of 32
  const std::string folder = RandomFolder(spec, DType::kF32, "fallback");
  ConvertOptions options;
  options.dtype = DType::kQ4_0;
  absl::StatusOr<ConvertReport> report =
      ConvertHuggingFaceToGguf(folder, folder + ".gguf", options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->other_dtype_tensors,
            (std::vector<std::string>{"blk.0.ffn_down.weight", "blk.1.ffn_down.weight"}));
  auto hf = SafetensorsCheckpoint::Open(folder);
  auto gguf = GgufFile::Open(folder + ".gguf");
  ASSERT_TRUE(hf.ok() && gguf.ok());
  auto values_of = [&](const char* name) {
    const SafetensorsTensor* t = (*hf)->Find(name);
    const float* begin = reinterpret_cast<const float*>(t->data.data());
    return std::vector<float>(begin, begin + t->data.size() / sizeof(float));
  };
  const GgufTensorInfo* up = (*gguf)->FindTensor("blk.0.ffn_up.weight");
  EXPECT_EQ(up->dtype, DType::kQ4_0);
  const std::vector<uint8_t> expected_up =
      EncodeAs(DType::kQ4_0, values_of("model.layers.0.mlp.up_proj.weight"));
  EXPECT_TRUE(std::equal(up->data.begin(), up->data.end(), expected_up.begin(), expected_up.end()));
  const GgufTensorInfo* down = (*gguf)->FindTensor("blk.0.ffn_down.weight");
  EXPECT_EQ(down->dtype, DType::kF16);
  const std::vector<uint8_t> expected_down =
      EncodeAs(DType::kF16, values_of("model.layers.0.mlp.down_proj.weight"));
  EXPECT_TRUE(
      std::equal(down->data.begin(), down->data.end(), expected_down.begin(), expected_down.end()));
  EXPECT_EQ((*gguf)->FindTensor("blk.0.attn_norm.weight")->dtype, DType::kF32);
  EXPECT_EQ((*gguf)->FindTensor("blk.0.attn_q_norm.weight")->dtype, DType::kF32);
  auto loaded = Load(folder + ".gguf");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->DTypeSummary(), "mixed(f16,q4_0)");
}

TEST(ConvertTest, WritesLlamaCppMetadata) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen3;
  spec.head_dim = 32;  // 4 heads x 32 != hidden 64: key/value lengths must be stated
  spec.tied_embeddings = true;
  const std::string folder = RandomFolder(spec, DType::kBF16, "metadata");
  ConvertOptions options;
  options.dtype = DType::kQ8_0;
  ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf", options).ok());
  auto gguf = GgufFile::Open(folder + ".gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  const GgufFile& file = **gguf;
  EXPECT_EQ(*file.GetString("general.architecture"), "qwen3");
  EXPECT_EQ(*file.GetString("general.name"), "convert_metadata");
  EXPECT_EQ(*file.GetUint("general.file_type"), 7u);  // MOSTLY_Q8_0
  EXPECT_EQ(*file.GetUint("qwen3.block_count"), 2u);
  EXPECT_EQ(*file.GetUint("qwen3.context_length"), 1024u);
  EXPECT_EQ(*file.GetUint("qwen3.embedding_length"), 64u);
  EXPECT_EQ(*file.GetUint("qwen3.feed_forward_length"), 128u);
  EXPECT_EQ(*file.GetUint("qwen3.attention.head_count"), 4u);
  EXPECT_EQ(*file.GetUint("qwen3.attention.head_count_kv"), 2u);
  EXPECT_EQ(*file.GetUint("qwen3.attention.key_length"), 32u);
  EXPECT_EQ(*file.GetUint("qwen3.attention.value_length"), 32u);
  EXPECT_FLOAT_EQ(*file.GetFloat("qwen3.attention.layer_norm_rms_epsilon"), 1e-6f);
  EXPECT_FLOAT_EQ(*file.GetFloat("qwen3.rope.freq_base"), 10000.0f);
  EXPECT_EQ(file.FindTensor("output.weight"), nullptr) << "tied: no separate output matrix";
  EXPECT_EQ(*file.GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*file.GetString("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(*file.GetUint("tokenizer.ggml.eos_token_id"), uint64_t(spec.vocab_size - 2));
  EXPECT_FALSE(*file.GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_THAT(*file.GetString("tokenizer.chat_template"), HasSubstr("<|im_start|>"));
}

// Llama 3.1 rope scaling travels as rope_freqs.weight, which the GGUF loader turns back into
// the same per-frequency factors the folder's config gives.
TEST(ConvertTest, WritesLlama3RopeScalingAsRopeFreqs) {
  RandomModelSpec spec;
  const std::string folder = RandomFolder(spec, DType::kF32, "rope_freqs");
  const std::string config_path = folder + "/config.json";
  nlohmann::json config = nlohmann::json::parse(*ReadFileToString(config_path));
  config["rope_scaling"] = {{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 64}};
  std::ofstream(config_path) << config.dump();
  ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf").ok());
  auto hf = Load(folder), gguf = Load(folder + ".gguf");
  ASSERT_TRUE(hf && gguf);
  ASSERT_FALSE(hf->config().rope_freq_factors.empty());
  EXPECT_EQ(gguf->config().rope_freq_factors, hf->config().rope_freq_factors);
  EXPECT_LE(CompareLogits(*hf, *gguf).max_difference, 1e-5);
  // ... and the way back refuses what config.json cannot state.
  EXPECT_THAT(ErrorOf(ConvertGgufToHuggingFace(folder + ".gguf", folder + "_back")),
              HasSubstr("rope_freqs.weight"));
}

// The serving engine on both files: same greedy tokens, same reward read-outs.
TEST(ConvertTest, EngineGivesTheSameTokensAndRewardsFromBothFiles) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  spec.reward_labels = 2;
  const std::string folder = RandomFolder(spec, DType::kF32, "prm");
  ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf").ok());
  std::vector<std::unique_ptr<LocalEngine>> engines;
  for (const std::string& path : {folder, folder + ".gguf"}) {
    LocalEngineOptions options;
    options.model_path = path;
    options.threads = 1;
    absl::StatusOr<std::unique_ptr<LocalEngine>> engine = LocalEngine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engines.push_back(*std::move(engine));
  }
  GenerateRequest generate;
  generate.prompt_text = "Janet has 16 eggs. Step 1:";
  generate.max_tokens = 16;
  generate.sampling.temperature = 0;
  generate.ignore_eos = true;
  auto from_folder = engines[0]->Generate(generate), from_gguf = engines[1]->Generate(generate);
  ASSERT_TRUE(from_folder.ok() && from_gguf.ok());
  EXPECT_EQ(from_folder->completions[0].tokens, from_gguf->completions[0].tokens);
  EXPECT_EQ(from_folder->completions[0].text, from_gguf->completions[0].text);

  const std::optional<int32_t> tag = engines[1]->TokenId("<extra_0>");
  ASSERT_TRUE(tag.has_value());
  EXPECT_EQ(engines[0]->TokenId("<extra_0>"), tag);
  ScoreRequest score;
  score.prefix_tokens = *engines[1]->Tokenize("Step 1: 16 - 3 = 13.", false);
  score.continuation_tokens = {*tag, 50, 51, 52, *tag};
  score.reward_token_ids = {*tag};
  auto rewards_folder = engines[0]->Score(score), rewards_gguf = engines[1]->Score(score);
  ASSERT_TRUE(rewards_folder.ok() && rewards_gguf.ok());
  ASSERT_EQ(rewards_gguf->rewards.size(), 2u);
  ASSERT_EQ(rewards_folder->rewards.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rewards_gguf->rewards[i].position, rewards_folder->rewards[i].position);
    for (size_t label = 0; label < 2; ++label) {
      EXPECT_NEAR(rewards_gguf->rewards[i].probabilities[label],
                  rewards_folder->rewards[i].probabilities[label], 1e-6);
    }
  }
}

// A folder whose weights are rewritten: `edit` may drop, rename or replace tensors.
void RewriteWeights(const std::string& folder,
                    const std::function<void(const SafetensorsTensor&, SafetensorsWriter&)>& edit) {
  const std::string path = folder + "/model.safetensors";
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  ASSERT_TRUE(bytes.ok());
  auto file = SafetensorsFile::Parse(
      {reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}, path);
  ASSERT_TRUE(file.ok());
  SafetensorsWriter writer;
  for (const SafetensorsTensor& tensor : (*file)->tensors()) edit(tensor, writer);
  ASSERT_TRUE(writer.WriteFile(path).ok());
}

TEST(ConvertTest, SingleLayerScoreHeadBecomesCls) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  spec.reward_labels = 3;
  const std::string folder = RandomFolder(spec, DType::kF32, "orm");
  RewriteWeights(folder, [](const SafetensorsTensor& t, SafetensorsWriter& writer) {
    if (t.name.starts_with("score.0.")) return;
    const std::string name = t.name.starts_with("score.2.") ? "score." + t.name.substr(8) : t.name;
    writer.AddTensor(name, t.dtype, t.shape, t.data);
  });
  ConvertOptions options;
  options.dtype = DType::kQ8_0;
  absl::StatusOr<ConvertReport> report =
      ConvertHuggingFaceToGguf(folder, folder + ".gguf", options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->other_dtype_tensors, std::vector<std::string>{"cls.weight"})
      << "the head stays f16 under a quantized request";
  auto gguf = Load(folder + ".gguf");
  ASSERT_TRUE(gguf);
  ASSERT_TRUE(gguf->reward_head().has_value());
  EXPECT_FALSE(gguf->reward_head()->hidden.has_value());
  EXPECT_EQ(gguf->reward_head()->num_labels(), 3);
  EXPECT_EQ(gguf->reward_head()->output_bias.size(), 3u);
}

// Folder -> GGUF -> folder restores every tensor bit for bit (Q/K un-permuted), the config and
// the tokenizer.
TEST(ConvertTest, ConvertingBackRestoresTheFolder) {
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    RandomModelSpec spec;
    spec.architecture = arch;
    spec.reward_labels = arch == Architecture::kQwen2 ? 2 : 0;
    const std::string name = absl::StrCat("back_", AsAbsl(ArchitectureName(arch)));
    const std::string folder = RandomFolder(spec, DType::kBF16, name);
    ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf").ok());
    const std::string back = TempPath(name + "_restored");
    absl::StatusOr<ConvertReport> report = ConvertGgufToHuggingFace(folder + ".gguf", back);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->dtype, DType::kBF16);
    EXPECT_TRUE(report->notes.empty());
    auto original = SafetensorsCheckpoint::Open(folder),
         restored = SafetensorsCheckpoint::Open(back);
    ASSERT_TRUE(original.ok() && restored.ok());
    EXPECT_EQ((*restored)->TensorNames(), (*original)->TensorNames());
    for (const std::string& tensor : (*original)->TensorNames()) {
      const SafetensorsTensor* a = (*original)->Find(tensor);
      const SafetensorsTensor* b = (*restored)->Find(tensor);
      ASSERT_NE(b, nullptr) << tensor;
      EXPECT_EQ(a->shape, b->shape) << tensor;
      EXPECT_EQ(a->dtype, b->dtype) << tensor;
      EXPECT_TRUE(std::equal(a->data.begin(), a->data.end(), b->data.begin(), b->data.end()))
          << tensor;
    }
    auto weights_original = Load(folder), weights_restored = Load(back);
    ASSERT_TRUE(weights_original && weights_restored);
    EXPECT_EQ(weights_restored->config().architecture, arch);
    EXPECT_EQ(weights_restored->reward_head().has_value(), spec.reward_labels > 0);
    auto tokenizer_original = Tokenizer::Open(folder), tokenizer_restored = Tokenizer::Open(back);
    ASSERT_TRUE(tokenizer_original.ok() && tokenizer_restored.ok()) << tokenizer_restored.status();
    for (const char* text :
         {"The answer is \\boxed{26}.\n\nStep 2:", "<|im_start|>user\nHi<|im_end|>"}) {
      EXPECT_EQ((*tokenizer_restored)->Encode(text, {.parse_special = true}),
                (*tokenizer_original)->Encode(text, {.parse_special = true}));
    }
    EXPECT_EQ((*tokenizer_restored)->eos_id(), (*tokenizer_original)->eos_id());
  }
}

// Template files in the output folder (a checkpoint replaced with --force) would override the
// template the conversion writes into tokenizer_config.json: they are removed, with a note.
TEST(ConvertTest, ConvertingBackRemovesTemplateFilesThatWouldOverrideItsTemplate) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  const std::string folder = RandomFolder(spec, DType::kBF16, "stale_template");
  ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf").ok());
  const std::string back = TempPath("stale_template_restored");
  std::filesystem::create_directories(back + "/additional_chat_templates");
  const std::string stale = "{{ 'stale template' }}";
  std::ofstream(back + "/chat_template.jinja") << stale;
  std::ofstream(back + "/additional_chat_templates/tool_use.jinja") << stale;
  absl::StatusOr<ConvertReport> report = ConvertGgufToHuggingFace(folder + ".gguf", back);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(std::filesystem::exists(back + "/chat_template.jinja"));
  EXPECT_FALSE(std::filesystem::exists(back + "/additional_chat_templates"));
  EXPECT_THAT(absl::StrJoin(report->notes, "\n"), HasSubstr("removed chat_template.jinja"));
  auto original = Tokenizer::Open(folder), restored = Tokenizer::Open(back);
  ASSERT_TRUE(original.ok() && restored.ok()) << restored.status();
  EXPECT_EQ((*restored)->chat_template().kind(), (*original)->chat_template().kind());
  EXPECT_EQ((*restored)->chat_template().recognized(), (*original)->chat_template().recognized());
}

// A quantized GGUF comes back dequantized: the folder computes what the file computes.
TEST(ConvertTest, QuantizedGgufComesBackDequantized) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen3;
  const std::string path = TempPath("quantized.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kQ8_0, path).ok());
  const std::string back = TempPath("quantized_back");
  absl::StatusOr<ConvertReport> report = ConvertGgufToHuggingFace(path, back);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->dtype, DType::kF32);
  auto gguf = Load(path), folder = Load(back);
  ASSERT_TRUE(gguf && folder);
  EXPECT_EQ(folder->DTypeSummary(), "f32");
  // The reference forward pass dequantizes weights the same way: identical results.
  EXPECT_EQ(CompareLogits(*gguf, *folder).max_difference, 0);
  ConvertOptions options;
  options.dtype = DType::kQ8_0;
  EXPECT_THAT(ErrorOf(ConvertGgufToHuggingFace(path, back, options)),
              HasSubstr("f32, f16 or bf16"));
}

// The random GGUF models of engine/testing are the converter's output for the same folder.
TEST(ConvertTest, RandomGgufModelsAreConvertedFolders) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kLlama;
  spec.seed = 9;
  const std::string folder = RandomFolder(spec, DType::kF32, "random_model");
  ConvertOptions options;
  options.dtype = DType::kQ8_0;
  options.name = "ponder-random-test-model";
  ASSERT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf", options).ok());
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kQ8_0, folder + "_direct.gguf").ok());
  EXPECT_EQ(*ReadFileToString(folder + ".gguf"), *ReadFileToString(folder + "_direct.gguf"));
}

TEST(TensorNamesTest, TranslateBothWaysAndOnlyKnownNames) {
  EXPECT_EQ(GgufTensorName("model.layers.12.mlp.up_proj.weight"), "blk.12.ffn_up.weight");
  EXPECT_EQ(GgufTensorName("score.2.bias"), "cls.output.bias");
  EXPECT_EQ(GgufTensorName("lm_head.weight"), "output.weight");
  for (const char* unknown :
       {"model.layers.x.mlp.up_proj.weight", "model.layers..mlp.up_proj.weight",
        "model.layers.3.mlp.experts.0.weight", "rotary_emb.inv_freq", ""}) {
    EXPECT_EQ(GgufTensorName(unknown), std::nullopt) << unknown;
  }
  EXPECT_EQ(HuggingFaceTensorName("blk.0.attn_k_norm.weight"),
            "model.layers.0.self_attn.k_norm.weight");
  EXPECT_EQ(HuggingFaceTensorName("rope_freqs.weight"), "rope_freqs.weight")
      << "unknown: unchanged";
}

// ---------------------------------------------------------------------------------------------
// Broken inputs.

absl::Status ConvertFolder(const std::string& folder) {
  return ConvertHuggingFaceToGguf(folder, folder + ".gguf").status();
}

TEST(ConvertErrorsTest, MissingTensorIsNamed) {
  const std::string folder = RandomFolder(RandomModelSpec(), DType::kF32, "missing");
  RewriteWeights(folder, [](const SafetensorsTensor& t, SafetensorsWriter& writer) {
    if (t.name != "model.layers.1.mlp.up_proj.weight")
      writer.AddTensor(t.name, t.dtype, t.shape, t.data);
  });
  const absl::Status status = ConvertFolder(folder);
  EXPECT_THAT(Message(status), HasSubstr(folder));
  EXPECT_THAT(Message(status), HasSubstr("missing tensor 'model.layers.1.mlp.up_proj.weight'"));
  EXPECT_FALSE(fs::exists(folder + ".gguf")) << "nothing is written for a broken input";
}

TEST(ConvertErrorsTest, WrongShapeIsNamed) {
  const std::string folder = RandomFolder(RandomModelSpec(), DType::kF32, "shape");
  RewriteWeights(folder, [](const SafetensorsTensor& t, SafetensorsWriter& writer) {
    std::vector<int64_t> shape = t.shape;
    if (t.name == "model.layers.0.self_attn.k_proj.weight") shape = {16, 128};
    writer.AddTensor(t.name, t.dtype, shape, t.data);
  });
  EXPECT_THAT(Message(ConvertFolder(folder)),
              HasSubstr("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [16, 128], "
                        "expected [32, 64]"));
}

TEST(ConvertErrorsTest, UnknownTensorIsNamedRatherThanDropped) {
  const std::string folder = RandomFolder(RandomModelSpec(), DType::kF32, "unknown");
  RewriteWeights(folder, [](const SafetensorsTensor& t, SafetensorsWriter& writer) {
    writer.AddTensor(t.name, t.dtype, t.shape, t.data);
    if (t.name == "model.norm.weight")
      writer.AddTensor("model.extra_norm.weight", t.dtype, t.shape, t.data);
  });
  EXPECT_THAT(Message(ConvertFolder(folder)), HasSubstr("tensor 'model.extra_norm.weight'"));
}

TEST(ConvertErrorsTest, BadConfigIsNamed) {
  const std::string folder = RandomFolder(RandomModelSpec(), DType::kF32, "config");
  const std::string config_path = folder + "/config.json";
  const std::string good = *ReadFileToString(config_path);
  auto with_config = [&](const std::string& text) {
    std::ofstream(config_path, std::ios::trunc) << text;
    return Message(ConvertFolder(folder));
  };
  EXPECT_THAT(with_config("{\"model_type\": \"llama\","),
              HasSubstr(config_path + ": not valid JSON"));
  nlohmann::json config = nlohmann::json::parse(good);
  config.erase("hidden_size");
  EXPECT_THAT(with_config(config.dump()), HasSubstr("missing \"hidden_size\""));
  config = nlohmann::json::parse(good);
  config["model_type"] = "gpt_neox";
  EXPECT_THAT(with_config(config.dump()), HasSubstr("model_type 'gpt_neox' is not supported"));
  config = nlohmann::json::parse(good);
  config["vocab_size"] = 500;  // the embedding has 384 rows
  EXPECT_THAT(
      with_config(config.dump()),
      HasSubstr("tensor 'model.embed_tokens.weight' has shape [384, 64], expected [500, 64]"));
  fs::remove(config_path);
  EXPECT_THAT(Message(ConvertFolder(folder)), HasSubstr(config_path));
}

TEST(ConvertErrorsTest, TokenizerProblemsAreNamed) {
  const std::string folder = RandomFolder(RandomModelSpec(), DType::kF32, "tokenizer");
  const std::string tokenizer_path = folder + "/tokenizer.json";
  nlohmann::json tokenizer = nlohmann::json::parse(*ReadFileToString(tokenizer_path));
  tokenizer["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}};
  std::ofstream(tokenizer_path, std::ios::trunc) << tokenizer.dump();
  EXPECT_THAT(Message(ConvertFolder(folder)), HasSubstr(tokenizer_path + ": pre_tokenizer"));
  // Naming the type explicitly is the way out.
  ConvertOptions options;
  options.pre_tokenizer = "gpt-2";
  EXPECT_TRUE(ConvertHuggingFaceToGguf(folder, folder + ".gguf", options).ok());
  options.pre_tokenizer = "no-such-type";
  EXPECT_THAT(ErrorOf(ConvertHuggingFaceToGguf(folder, folder + ".gguf", options)),
              HasSubstr("'no-such-type' is not supported"));
  fs::remove(tokenizer_path);
  EXPECT_THAT(Message(ConvertFolder(folder)), HasSubstr(tokenizer_path + ": not found"));
}

TEST(ConvertErrorsTest, GgufMissingTensorIsNamedInGgufTerms) {
  const std::string path = TempPath("three_layers.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(RandomModelSpec(), DType::kF16, path).ok());
  // Claim a third layer (the value follows the key and its 4-byte type).
  std::string bytes = *ReadFileToString(path);
  const std::string key = "llama.block_count";
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  bytes[at + key.size() + 4] = 3;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_THAT(ErrorOf(ConvertGgufToHuggingFace(path, TempPath("three_layers"))),
              HasSubstr(path + ": missing tensor 'blk.2.attn_norm.weight'"));
}

TEST(ConvertErrorsTest, InputsThatAreNotModelsAreNamed) {
  EXPECT_THAT(ErrorOf(ConvertHuggingFaceToGguf("/nonexistent/model", TempPath("x.gguf"))),
              HasSubstr("/nonexistent/model: not a folder"));
  const std::string not_gguf = TempPath("not.gguf");
  std::ofstream(not_gguf) << "plain text";
  EXPECT_THAT(ErrorOf(ConvertGgufToHuggingFace(not_gguf, TempPath("y"))), HasSubstr(not_gguf));
}

// An --output that names one of the input folder's files is refused and the file kept (before,
// `--output FOLDER/model.safetensors` replaced the checkpoint with the GGUF file); a GGUF file
// converts to a folder, so a file as its output is refused with why.
TEST(ConvertErrorsTest, TheOutputNeverReplacesTheInput) {
  RandomModelSpec spec;
  const std::string folder = RandomFolder(spec, DType::kF32, "self_output");
  for (const char* file : {"model.safetensors", "config.json", "tokenizer.json"}) {
    const std::string path = (fs::path(folder) / file).string();
    const std::string before = *ReadFileToString(path);
    EXPECT_THAT(ErrorOf(ConvertHuggingFaceToGguf(folder, path)),
                HasSubstr(absl::StrCat("is the input folder's ", file)));
    // The same file through another spelling of its path.
    const std::string dotted = (fs::path(folder) / "." / file).string();
    EXPECT_THAT(ErrorOf(ConvertHuggingFaceToGguf(folder, dotted)), HasSubstr("input folder's"));
    EXPECT_TRUE(*ReadFileToString(path) == before) << path << " changed";
  }
  // A GGUF file beside the checkpoint is an ordinary output, and converting again replaces it.
  const std::string gguf = (fs::path(folder) / "model.gguf").string();
  ASSERT_EQ(ErrorOf(ConvertHuggingFaceToGguf(folder, gguf)), "OK");
  ASSERT_EQ(ErrorOf(ConvertHuggingFaceToGguf(folder, gguf)), "OK");
  EXPECT_THAT(ErrorOf(ConvertGgufToHuggingFace(gguf, gguf)),
              HasSubstr("is a file; a GGUF file converts to a Hugging Face folder"));
  EXPECT_TRUE(ModelWeights::Load(gguf).ok());
}

// A GGUF whose tokenizer does not convert is an error before anything is written: it used to
// give a folder of weights without a tokenizer, which nothing can run, and exit 0 (QA in stop 32).
TEST(ConvertTest, AGgufWhoseTokenizerDoesNotConvertWritesNothing) {
  RandomModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  const std::string path = TempPath("bad_tokenizer.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF32, path).ok());
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  // The first merge, "left right", loses its space: the key, its array type, the element type,
  // the count, then the first string's length and bytes.
  const std::string key = "tokenizer.ggml.merges";
  const size_t at = data.find(key);
  ASSERT_NE(at, std::string::npos);
  size_t first = at + key.size() + 4 + 4 + 8;
  uint64_t length = 0;
  std::memcpy(&length, &data[first], sizeof(length));
  first += sizeof(length);
  const size_t space = data.substr(first, length).find(' ');
  ASSERT_NE(space, std::string::npos);
  data[first + space] = 'X';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;

  const std::string out = TempPath("bad_tokenizer_hf");
  fs::remove_all(out);
  absl::StatusOr<ConvertReport> report = ConvertGgufToHuggingFace(path, out);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(Message(report.status()), HasSubstr("its tokenizer does not convert"));
  EXPECT_THAT(Message(report.status()), HasSubstr("nothing written"));
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
}

}  // namespace
// A checkpoint without lm_head whose config says untied has lost its output layer, unless it is
// a reward model (its score head takes lm_head's place; Qwen2.5-Math-PRM keeps its base model's
// tie_word_embeddings false).
TEST(ConvertTest, AnUntiedCheckpointWithoutLmHeadConvertsOnlyAsARewardModel) {
  for (int labels : {0, 2}) {
    SCOPED_TRACE(labels);
    RandomModelSpec spec;
    spec.tied_embeddings = true;  // no lm_head.weight
    spec.reward_labels = labels;
    const std::string folder =
        RandomFolder(spec, DType::kF32, absl::StrCat("untied_without_lm_head_", labels));
    const std::string config_path = folder + "/config.json";
    nlohmann::json config = nlohmann::json::parse(*ReadFileToString(config_path));
    config["tie_word_embeddings"] = false;
    std::ofstream(config_path, std::ios::trunc) << config.dump();
    absl::StatusOr<ConvertReport> report = ConvertHuggingFaceToGguf(folder, folder + ".gguf");
    if (labels == 0) {
      ASSERT_FALSE(report.ok());
      EXPECT_THAT(Message(report.status()), HasSubstr("missing tensor 'lm_head.weight'"));
    } else {
      EXPECT_TRUE(report.ok()) << report.status();
    }
  }
}

}  // namespace ponder::engine
