#include "engine/transformer/weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/model/gguf.h"
#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "engine/testing/random_model.h"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

TEST(ModelWeightsTest, LoadsBothFormatsWithTheSameConfig) {
  testing::RandomModelSpec spec;
  spec.architecture = Architecture::kQwen2;
  spec.tied_embeddings = true;
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kQ8_0, TempPath("w.gguf")).ok());
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kBF16, TempPath("w_hf")).ok());
  auto gguf = ModelWeights::Load(TempPath("w.gguf"));
  auto hf = ModelWeights::Load(TempPath("w_hf"));
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  ASSERT_TRUE(hf.ok()) << hf.status();
  for (const ModelWeights* w : {gguf->get(), hf->get()}) {
    EXPECT_EQ(w->config().architecture, Architecture::kQwen2);
    EXPECT_EQ(w->config().vocab_size, spec.vocab_size);
    EXPECT_TRUE(w->config().attention_bias);
    EXPECT_TRUE(w->config().tied_embeddings);
    EXPECT_EQ(w->output().data, w->token_embedding().data);
  }
  EXPECT_EQ((*gguf)->DTypeSummary(), "q8_0");
  EXPECT_EQ((*hf)->DTypeSummary(), "bf16");
  EXPECT_NE((*gguf)->gguf(), nullptr);
}

// A folder without lm_head.weight ties its embeddings unless its config says they are not tied
// (QA in stop 29: that was tied silently).
TEST(ModelWeightsTest, AnUntiedFolderWithoutItsOutputLayerIsAnError) {
  testing::RandomModelSpec spec;
  spec.tied_embeddings = true;  // no lm_head.weight
  const std::string folder = TempPath("untied_hf");
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  std::ifstream in(folder + "/config.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const std::string tied = "\"tie_word_embeddings\": true";
  const size_t at = text.find(tied);
  ASSERT_NE(at, std::string::npos);
  for (const std::string& replacement : {std::string("\"tie_word_embeddings\": false"),
                                         std::string("\"tie_word_embeddings_unsaid\": 0")}) {
    std::string edited = text;
    edited.replace(at, tied.size(), replacement);
    std::ofstream(folder + "/config.json") << edited;
    auto weights = ModelWeights::Load(folder);
    if (replacement.find("false") != std::string::npos) {
      ASSERT_FALSE(weights.ok());
      EXPECT_THAT(std::string(weights.status().message()),
                  HasSubstr("missing tensor 'lm_head.weight'"));
    } else {
      ASSERT_TRUE(weights.ok()) << weights.status();
      EXPECT_TRUE((*weights)->config().tied_embeddings);
      EXPECT_EQ((*weights)->output().data, (*weights)->token_embedding().data);
    }
  }
}

// A reward model has a score head instead of lm_head and keeps its base model's
// tie_word_embeddings false (Qwen2.5-Math-PRM, Skywork-Reward): it loads, its embeddings tied.
TEST(ModelWeightsTest, ARewardModelWithoutItsOutputLayerLoadsWhateverItsTieSetting) {
  testing::RandomModelSpec spec;
  spec.tied_embeddings = true;  // no lm_head.weight
  spec.reward_labels = 2;
  const std::string folder = TempPath("untied_prm_hf");
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  std::ifstream in(folder + "/config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const std::string tied = "\"tie_word_embeddings\": true";
  const size_t at = text.find(tied);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, tied.size(), "\"tie_word_embeddings\": false");
  std::ofstream(folder + "/config.json") << text;
  auto weights = ModelWeights::Load(folder);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_TRUE((*weights)->reward_head().has_value());
  EXPECT_EQ((*weights)->output().data, (*weights)->token_embedding().data);
}

TEST(ModelWeightsTest, ReadsTheRewardHead) {
  testing::RandomModelSpec spec;
  spec.reward_labels = 2;
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, TempPath("prm_hf")).ok());
  auto hf = ModelWeights::Load(TempPath("prm_hf"));
  ASSERT_TRUE(hf.ok()) << hf.status();
  ASSERT_TRUE((*hf)->reward_head().has_value());
  EXPECT_EQ((*hf)->reward_head()->num_labels(), 2);
  EXPECT_TRUE((*hf)->reward_head()->hidden.has_value());
}

TEST(ModelWeightsTest, MissingTensorIsNamed) {
  testing::RandomModelSpec spec;
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, TempPath("broken_hf")).ok());
  // A config that promises one more layer than the file holds.
  std::ifstream in(TempPath("broken_hf") + "/config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  size_t at = text.find("\"num_hidden_layers\": 2");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 22, "\"num_hidden_layers\": 3");
  std::ofstream(TempPath("broken_hf") + "/config.json") << text;
  auto weights = ModelWeights::Load(TempPath("broken_hf"));
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()),
              HasSubstr("missing tensor 'model.layers.2.input_layernorm.weight'"));
}

// The folder's model.safetensors rewritten with `extra` added (name, shape in F32, zeros).
void AddTensorToFolder(const std::string& folder, const std::string& name,
                       const std::vector<int64_t>& shape) {
  SafetensorsWriter writer;
  {
    auto checkpoint = SafetensorsCheckpoint::Open(folder);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    for (const std::string& existing : (*checkpoint)->TensorNames()) {
      const SafetensorsTensor* t = (*checkpoint)->Find(existing);
      writer.AddTensor(existing, t->dtype, t->shape, t->data);
    }
  }
  int64_t values = 1;
  for (int64_t d : shape) values *= d;
  const std::vector<uint8_t> zeros(values * sizeof(float), 0);
  writer.AddTensor(name, DType::kF32, shape, zeros);
  ASSERT_TRUE(writer.WriteFile(folder + "/model.safetensors").ok());
}

// A tensor the configuration does not use (a layer past its count, a bias it turns off, a stray
// tensor) is an error, as it is for `ponder convert`: it was dropped silently, and another model
// ran than the file holds (QA in stop 32).
TEST(ModelWeightsTest, ATensorTheConfigurationDoesNotUseIsAnError) {
  testing::RandomModelSpec spec;
  const std::string folder = TempPath("unused_hf");
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  std::ifstream in(folder + "/config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = text.find("\"num_hidden_layers\": 2");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 22, "\"num_hidden_layers\": 1");
  std::ofstream(folder + "/config.json") << text;
  auto fewer_layers = ModelWeights::Load(folder);
  ASSERT_FALSE(fewer_layers.ok());
  EXPECT_THAT(std::string(fewer_layers.status().message()), HasSubstr("tensor 'model.layers.1."));
  EXPECT_THAT(std::string(fewer_layers.status().message()), HasSubstr("refusing to ignore it"));

  const std::string stray = TempPath("stray_hf");
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, stray).ok());
  AddTensorToFolder(stray, "model.layers.7.self_attn.q_proj.weight", {64, 64});
  auto with_stray = ModelWeights::Load(stray);
  ASSERT_FALSE(with_stray.ok());
  EXPECT_THAT(std::string(with_stray.status().message()),
              HasSubstr("tensor 'model.layers.7.self_attn.q_proj.weight' is not part of"));
  // The file as written loads.
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, stray).ok());
  EXPECT_TRUE(ModelWeights::Load(stray).ok());
}

// A reward head of no labels loaded, and an outcome reward model's read-out then indexed past
// its probabilities (QA in stop 32: a segfault).
TEST(ModelWeightsTest, ARewardHeadWithoutLabelsIsAnError) {
  testing::RandomModelSpec spec;
  const std::string folder = TempPath("no_labels_hf");
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, folder).ok());
  AddTensorToFolder(folder, "score.weight", {0, spec.hidden_size});
  auto weights = ModelWeights::Load(folder);
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("reward head"));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("0 rows"));
}

TEST(ModelWeightsTest, TruncatedGgufIsAnErrorNamingTheTensor) {
  testing::RandomModelSpec spec;
  std::string path = TempPath("truncated.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF16, path).ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  auto weights = ModelWeights::Load(path);
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("tensor 'output.weight'"));
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("truncated"));
}

TEST(ModelWeightsTest, WrongShapeIsNamed) {
  testing::RandomModelSpec spec;
  std::string path = TempPath("shape.gguf");
  ASSERT_TRUE(testing::WriteRandomGgufModel(spec, DType::kF32, path).ok());
  // Claim a larger feed-forward width than the tensors have.
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::string key = "llama.feed_forward_length";
  size_t at = data.find(key);
  ASSERT_NE(at, std::string::npos);
  uint32_t wrong = 256;
  std::memcpy(&data[at + key.size() + 4], &wrong, 4);  // after the value type
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  auto weights = ModelWeights::Load(path);
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()),
              HasSubstr("tensor 'blk.0.ffn_gate.weight' has shape [128, 64], expected [256, 64]"));
}

}  // namespace
}  // namespace ponder::engine
