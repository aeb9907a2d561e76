#include "engine/model/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/model/gguf.h"
#include "engine/model/gguf_writer.h"
#include "nlohmann/json.hpp"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

TEST(ModelConfigTest, ReadsQwen2ConfigJson) {
  // The shape of Qwen2.5-0.5B's config.json.
  nlohmann::json json = {{"model_type", "qwen2"},      {"hidden_size", 896},
                         {"intermediate_size", 4864},  {"num_hidden_layers", 24},
                         {"num_attention_heads", 14},  {"num_key_value_heads", 2},
                         {"vocab_size", 151936},       {"max_position_embeddings", 32768},
                         {"rms_norm_eps", 1e-6},       {"rope_theta", 1000000.0},
                         {"tie_word_embeddings", true}};
  auto config = ModelConfigFromHuggingFace(json, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, Architecture::kQwen2);
  EXPECT_EQ(config->head_dim, 64);
  EXPECT_TRUE(config->attention_bias);
  EXPECT_TRUE(config->tied_embeddings);
  EXPECT_EQ(config->rope_style, RopeStyle::kNeox);
  EXPECT_TRUE(config->Validate("config.json").ok());
}

TEST(ModelConfigTest, GgufLlamaUsesInterleavedRopeAndQwenNeox) {
  for (auto [arch, style] :
       {std::pair{"llama", RopeStyle::kInterleaved}, std::pair{"qwen2", RopeStyle::kNeox},
        std::pair{"qwen3", RopeStyle::kNeox}}) {
    GgufWriter writer;
    std::string a = arch;
    writer.SetString("general.architecture", a);
    writer.SetUint32(a + ".block_count", 2);
    writer.SetUint32(a + ".embedding_length", 64);
    writer.SetUint32(a + ".feed_forward_length", 128);
    writer.SetUint32(a + ".attention.head_count", 4);
    std::vector<uint8_t> bytes = writer.Serialize();
    auto gguf = GgufFile::Parse(bytes, "m.gguf");
    ASSERT_TRUE(gguf.ok());
    auto config = ModelConfigFromGguf(**gguf);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->rope_style, style) << arch;
    EXPECT_EQ(config->num_kv_heads, 4);
    EXPECT_EQ(config->head_dim, 16);
    EXPECT_EQ(config->qk_norm, a == "qwen3");
  }
}

TEST(ModelConfigTest, RejectsUnknownArchitectureAndBadHeadCounts) {
  nlohmann::json json = {{"model_type", "gpt2"}};
  EXPECT_THAT(std::string(ModelConfigFromHuggingFace(json, "c.json").status().message()),
              HasSubstr("model_type 'gpt2' is not supported"));
  ModelConfig config;
  config.num_layers = 1;
  config.hidden_size = 64;
  config.intermediate_size = 64;
  config.num_heads = 4;
  config.num_kv_heads = 3;
  config.head_dim = 16;
  config.vocab_size = 10;
  EXPECT_THAT(std::string(config.Validate("m").message()), HasSubstr("does not divide"));
}

// Found by fuzzing: members of the wrong JSON type aborted (nlohmann's value() throws), sizes of
// 2^31 wrapped to negative numbers, and settings the transformer does not implement were ignored.
TEST(ModelConfigTest, ConfigJsonErrorsNameTheMember) {
  const nlohmann::json good = {{"model_type", "qwen2"},    {"hidden_size", 64},
                               {"intermediate_size", 128}, {"num_hidden_layers", 2},
                               {"num_attention_heads", 4}, {"vocab_size", 100},
                               {"hidden_act", "silu"},     {"mlp_bias", false}};
  ASSERT_TRUE(ModelConfigFromHuggingFace(good, "c.json").ok());
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* message;
  };
  const Case cases[] = {
      {"model_type", 5, "\"model_type\" is not a string"},
      {"rope_scaling", 5, "rope_scaling is not an object"},
      {"rope_scaling", "x", "rope_scaling is not an object"},
      {"rope_scaling", nlohmann::json::array(), "rope_scaling is not an object"},
      {"rope_scaling", {{"rope_type", 5}}, "\"rope_type\" is not a string"},
      {"head_dim", int64_t{1} << 31, "\"head_dim\" = 2147483648 is out of range"},
      {"vocab_size", int64_t{1} << 31, "\"vocab_size\" = 2147483648 is out of range"},
      {"hidden_act", "gelu", "hidden_act 'gelu' is not supported"},
      {"hidden_act", 5, "\"hidden_act\" is not a string"},
      {"mlp_bias", true, "mlp_bias true is not supported"},
      {"mlp_bias", "yes", "\"mlp_bias\" is not a boolean"},
      {"tie_word_embeddings", "false", "\"tie_word_embeddings\" is not a boolean"},
      {"attention_bias", 0, "\"attention_bias\" is not a boolean"},
      {"num_attention_heads", 5, "num_attention_heads 5 does not divide hidden_size 64"},
  };
  for (const Case& c : cases) {
    nlohmann::json json = good;
    json[c.key] = c.value;
    const absl::Status status = ModelConfigFromHuggingFace(json, "c.json").status();
    EXPECT_FALSE(status.ok()) << c.key << " = " << c.value.dump();
    EXPECT_THAT(std::string(status.message()), HasSubstr("c.json")) << c.key;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.key;
  }
  // A head_dim of null is no head size given (as for every member read here).
  nlohmann::json null_head_dim = good;
  null_head_dim["num_attention_heads"] = 5;
  null_head_dim["head_dim"] = nullptr;
  EXPECT_THAT(std::string(ModelConfigFromHuggingFace(null_head_dim, "c.json").status().message()),
              HasSubstr("num_attention_heads 5 does not divide hidden_size 64"));
  // 1e308 is a double but not a float: rope_theta would be infinite.
  nlohmann::json json = good;
  json["rope_theta"] = 1e308;
  absl::StatusOr<ModelConfig> config = ModelConfigFromHuggingFace(json, "c.json");
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(std::string(config->Validate("c.json").message()),
              HasSubstr("must be positive and finite"));
}

// transformers' _compute_llama3_parameters for Llama 3.1 (factor 8, low 1, high 4, original
// 8192, theta 500000, head_dim 128): high frequencies are untouched, low ones divided by 8.
TEST(ModelConfigTest, Llama3RopeScalingMatchesTransformers) {
  nlohmann::json json = {{"model_type", "llama"},
                         {"hidden_size", 4096},
                         {"intermediate_size", 14336},
                         {"num_hidden_layers", 32},
                         {"num_attention_heads", 32},
                         {"num_key_value_heads", 8},
                         {"vocab_size", 128256},
                         {"rope_theta", 500000.0},
                         {"rope_scaling",
                          {{"rope_type", "llama3"},
                           {"factor", 8.0},
                           {"low_freq_factor", 1.0},
                           {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", 8192}}}};
  auto config = ModelConfigFromHuggingFace(json, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->rope_freq_factors.size(), 64u);
  EXPECT_FLOAT_EQ(config->rope_freq_factors[0], 1.0f);
  EXPECT_FLOAT_EQ(config->rope_freq_factors[63], 8.0f);
  std::vector<float> inv_freq = config->RopeInverseFrequencies();
  // Hand-computed from the transformers formula for i = 32 (wavelength between the bounds):
  double freq = std::pow(500000.0, -64.0 / 128), wavelen = 2 * M_PI / freq;
  double smooth = (8192 / wavelen - 1) / (4 - 1);
  double expected = (1 - smooth) * freq / 8 + smooth * freq;
  ASSERT_GT(wavelen, 8192.0 / 4);
  ASSERT_LT(wavelen, 8192.0 / 1);
  EXPECT_NEAR(inv_freq[32], expected, 1e-6 * expected);
}

// QA in stop 32: a head_dim of 2^31 - 2 with llama3 rope scaling allocated its factors before
// the head dimension was checked (std::bad_alloc); a factor of 1e-50 became 0 as a float; rope
// frequency factors of 0, NaN or below 0 and a context of 0 were accepted.
TEST(ModelConfigTest, RopeScalingAndContextAreCheckedBeforeUse) {
  nlohmann::json json = {{"model_type", "llama"},
                         {"hidden_size", 64},
                         {"intermediate_size", 128},
                         {"num_hidden_layers", 2},
                         {"num_attention_heads", 4},
                         {"vocab_size", 100},
                         {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}}};
  ASSERT_TRUE(ModelConfigFromHuggingFace(json, "c.json").ok());
  nlohmann::json huge = json;
  huge["head_dim"] = 2147483646;
  EXPECT_THAT(std::string(ModelConfigFromHuggingFace(huge, "c.json").status().message()),
              HasSubstr("bad head dimension 2147483646"));
  for (double factor : {1e-50, -1.0, 0.0}) {
    nlohmann::json scaled = json;
    scaled["rope_scaling"]["factor"] = factor;
    EXPECT_THAT(std::string(ModelConfigFromHuggingFace(scaled, "c.json").status().message()),
                HasSubstr("invalid llama3 rope_scaling"))
        << factor;
  }
  auto config = ModelConfigFromHuggingFace(json, "c.json");
  ASSERT_TRUE(config.ok());
  for (float factor : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN()}) {
    ModelConfig broken = *config;
    broken.rope_freq_factors[3] = factor;
    EXPECT_THAT(std::string(broken.Validate("c.json").message()),
                HasSubstr("rope frequency factor 3 is"))
        << factor;
  }
  ModelConfig no_context = *config;
  no_context.max_context = 0;
  EXPECT_THAT(std::string(no_context.Validate("c.json").message()),
              HasSubstr("bad context length 0"));
}

}  // namespace
}  // namespace ponder::engine
