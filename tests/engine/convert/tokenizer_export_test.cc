// The tokenizer through conversion (engine/tokenizer/gguf_export.h): the GGUF metadata follows
// llama.cpp's converter, and the GGUF file, the original folder and the folder converted back
// give the same token ids.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/mapped_file.h"
#include "engine/convert/convert.h"
#include "engine/model/gguf.h"
#include "engine/testing/random_model.h"
#include "engine/tokenizer/gguf_export.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tests/engine/tokenizer/tiny_vocabularies.h"

namespace ponder::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

GgufVocabulary Export(const nlohmann::json& tokenizer, const nlohmann::json& tokenizer_config,
                      const nlohmann::json& config = nullptr, GgufVocabularyOptions options = {}) {
  absl::StatusOr<GgufVocabulary> vocabulary = GgufVocabularyFromHuggingFaceJson(
      tokenizer.dump(), tokenizer_config.is_null() ? "" : tokenizer_config.dump(),
      config.is_null() ? "" : config.dump(), "tiny/tokenizer.json", options);
  EXPECT_TRUE(vocabulary.ok()) << vocabulary.status();
  return vocabulary.ok() ? *std::move(vocabulary) : GgufVocabulary();
}

TEST(TokenizerExportTest, TypesPaddingAndMergesFollowLlamaCpp) {
  nlohmann::json tokenizer = testing::TinyByteLevelTokenizerJson();
  tokenizer["added_tokens"].push_back(
      {{"id", 302}, {"content", "<|looks_special|>"}, {"special", false}, {"normalized", false}});
  // The newer [left, right] form of merges, with a space inside a part.
  tokenizer["model"]["merges"] = nlohmann::json::array(
      {nlohmann::json::array({"h", "e"}), nlohmann::json::array({"a b", "c"})});
  tokenizer["model"]["vocab"]["a b"] = 298;
  tokenizer["model"]["vocab"]["a bc"] = 299;
  GgufVocabularyOptions options;
  options.vocab_size = 310;
  const GgufVocabulary vocabulary = Export(tokenizer, nullptr, nullptr, options);
  EXPECT_EQ(vocabulary.model, "gpt2");
  EXPECT_EQ(vocabulary.pre, "gpt-2");
  ASSERT_EQ(vocabulary.tokens.size(), 310u);
  ASSERT_EQ(vocabulary.token_types.size(), 310u);
  EXPECT_EQ(vocabulary.tokens[256], "ll");
  EXPECT_EQ(vocabulary.token_types[256], 1);  // normal
  EXPECT_EQ(vocabulary.tokens[300], "<|end|>");
  EXPECT_EQ(vocabulary.token_types[300], 3);  // special: control
  EXPECT_EQ(vocabulary.tokens[301], "<tag>");
  EXPECT_EQ(vocabulary.token_types[301], 4);  // not special: user-defined
  EXPECT_EQ(vocabulary.token_types[302], 3) << "looks special (<|...|>): control";
  EXPECT_EQ(vocabulary.tokens[305], "[PAD305]");
  EXPECT_EQ(vocabulary.token_types[305], 5);  // unused
  EXPECT_EQ(vocabulary.tokens[280], "[PAD280]") << "holes in the ids are padded too";
  EXPECT_THAT(vocabulary.merges, ElementsAre("h e",
                                             "a\xC4\xA0"
                                             "b c"));
}

TEST(TokenizerExportTest, SpecialTokensComeFromTokenizerConfigThenConfigJson) {
  const nlohmann::json tokenizer = testing::TinyByteLevelTokenizerJson();
  const nlohmann::json tokenizer_config = {
      {"eos_token", {{"content", "<|end|>"}, {"special", true}}},
      {"pad_token", "<tag>"},
      {"bos_token", nullptr},
      {"add_eos_token", false},
      {"chat_template",
       {{{"name", "default"}, {"template", "{{ messages }}"}},
        {{"name", "tool use"}, {"template", "{{ tools }}"}}}}};
  const nlohmann::json config = {{"bos_token_id", 300}, {"eos_token_id", 1}, {"unk_token_id", 999}};
  const GgufVocabulary vocabulary = Export(tokenizer, tokenizer_config, config);
  EXPECT_EQ(vocabulary.bos_id, 300) << "from config.json";
  EXPECT_EQ(vocabulary.eos_id, 300) << "tokenizer_config.json wins over config.json";
  EXPECT_EQ(vocabulary.padding_id, 301);
  EXPECT_EQ(vocabulary.unknown_id, std::nullopt) << "out of range ids are skipped";
  EXPECT_FALSE(vocabulary.add_bos);
  EXPECT_EQ(vocabulary.add_eos, false);
  EXPECT_EQ(vocabulary.chat_template, "{{ messages }}");
  EXPECT_THAT(vocabulary.named_chat_templates,
              ElementsAre(std::pair<std::string, std::string>{"tool_use", "{{ tools }}"}));

  GgufWriter writer;
  vocabulary.WriteTo(writer);
  const std::vector<uint8_t> bytes = writer.Serialize();
  auto gguf = GgufFile::Parse(bytes, "exported.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  EXPECT_EQ(*(*gguf)->GetUint("tokenizer.ggml.bos_token_id"), 300u);
  EXPECT_EQ(*(*gguf)->GetUint("tokenizer.ggml.padding_token_id"), 301u);
  EXPECT_FALSE((*gguf)->Has("tokenizer.ggml.unknown_token_id"));
  EXPECT_EQ(*(*gguf)->GetString("tokenizer.chat_template.tool_use"), "{{ tools }}");
  auto from_gguf = Tokenizer::FromGguf(**gguf);
  ASSERT_TRUE(from_gguf.ok()) << from_gguf.status();
  EXPECT_EQ((*from_gguf)->eos_id(), 300);
}

TEST(TokenizerExportTest, RecognisesPreTokenizersByTheirExpressions) {
  auto with_split = [](const std::string& expression, bool ignore_merges) {
    nlohmann::json tokenizer = testing::TinyByteLevelTokenizerJson();
    tokenizer["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", expression}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    tokenizer["model"]["ignore_merges"] = ignore_merges;
    return tokenizer;
  };
  const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  EXPECT_EQ(Export(with_split(llama3, true), nullptr).pre, "llama-bpe");
  EXPECT_EQ(Export(with_split(llama3, false), nullptr).pre, "smaug-bpe");
  EXPECT_EQ(Export(with_split(qwen2, false), nullptr).pre, "qwen2");
  auto unknown = GgufVocabularyFromHuggingFaceJson(with_split(R"(\p{N}+)", false).dump(), "", "",
                                                   "tiny/tokenizer.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(Message(unknown.status()), HasSubstr("tiny/tokenizer.json: pre_tokenizer"));
  EXPECT_THAT(Message(unknown.status()), HasSubstr("\\\\p{N}+"));
}

TEST(TokenizerExportTest, TokenizerOutsideTheModelVocabularyIsAnError) {
  GgufVocabularyOptions options;
  options.vocab_size = 300;  // <|end|> is 300, <tag> 301
  auto result = GgufVocabularyFromHuggingFaceJson(testing::TinyByteLevelTokenizerJson().dump(), "",
                                                  "", "tiny/tokenizer.json", options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(Message(result.status()),
              HasSubstr("tiny/tokenizer.json: token '<|end|>' has id 300, outside the requested "
                        "vocabulary size (300)"));
}

// Real vocabularies with a small random model's weights, through the converter: Qwen3's (151,669
// tokens in a 151,936-row embedding; NFC normalizer; <think> not special) and Llama 3's (BOS
// added by default; ignore_merges), in a qwen3 and a llama model.
struct RealVocabulary {
  const char* name;
  Architecture architecture;
  int vocab_size;                              // config.json vocab_size
  int32_t bos, eos;                            // config.json bos_token_id / eos_token_id
  const char* pre;                             // the llama.cpp type the converter must name
  std::vector<std::pair<int32_t, int>> types;  // token id -> GGUF token type
};

class RealVocabularyTest : public ::testing::TestWithParam<RealVocabulary> {};

TEST_P(RealVocabularyTest, IsIntactThroughConversion) {
  const RealVocabulary& c = GetParam();
  const std::string shared = std::string(PONDER_SHARED_DIR) + "/tokenizers/hf/" + c.name;
  if (!fs::exists(shared + "/tokenizer.json")) {
    GTEST_SKIP() << "shared data absent: " << shared;
  }
  testing::RandomModelSpec spec;
  spec.architecture = c.architecture;
  spec.vocab_size = c.vocab_size;
  spec.hidden_size = 32;
  spec.num_heads = 2;
  spec.num_kv_heads = 1;
  spec.intermediate_size = 32;
  spec.num_layers = 1;
  spec.tied_embeddings = true;
  const std::string folder = ::testing::TempDir() + "/convert_real_" + c.name;
  fs::remove_all(folder);
  ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kBF16, folder).ok());
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(shared + "/" + file, folder + "/" + file, fs::copy_options::overwrite_existing);
  }
  nlohmann::json config = nlohmann::json::parse(*ReadFileToString(folder + "/config.json"));
  config["bos_token_id"] = c.bos;  // as the model's own config.json
  config["eos_token_id"] = c.eos;
  std::ofstream(folder + "/config.json", std::ios::trunc) << config.dump();

  absl::StatusOr<ConvertReport> report = ConvertHuggingFaceToGguf(folder, folder + ".gguf");
  ASSERT_TRUE(report.ok()) << report.status();
  auto gguf = GgufFile::Open(folder + ".gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  EXPECT_EQ(*(*gguf)->GetString("tokenizer.ggml.pre"), c.pre);
  EXPECT_EQ(*(*gguf)->GetUint("tokenizer.ggml.bos_token_id"), uint64_t(c.bos));
  const std::vector<int64_t> types = *(*gguf)->GetIntArray("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), size_t(c.vocab_size));
  for (const auto& [id, type] : c.types) EXPECT_EQ(types[id], type) << "token " << id;

  auto from_folder = Tokenizer::Open(folder);
  auto from_gguf = Tokenizer::FromGguf(**gguf);
  ASSERT_TRUE(from_folder.ok() && from_gguf.ok()) << from_gguf.status();
  // ... and back: the folder written from the GGUF file.
  auto files = HuggingFaceTokenizerFromGguf(**gguf);
  ASSERT_TRUE(files.ok()) << files.status();
  auto from_back = Tokenizer::FromHuggingFaceJson(files->tokenizer_json,
                                                  files->tokenizer_config_json, "back.json");
  ASSERT_TRUE(from_back.ok()) << from_back.status();
  const std::vector<std::string> texts = {
      "Hello world! 1234567 + 89 = 1234656.",
      "Janet’s ducks lay 16 eggs per day.\n\n  She eats three\tfor breakfast…",
      "def f(x):\n    return x ** 2  # 平方\n",
      "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nok</think>4",
      "Ünïcödé ñ 😀 🦙 Привет мир — ¿qué? 日本語のテキスト",
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  };
  for (const std::string& text : texts) {
    for (bool parse_special : {false, true}) {
      const std::vector<int32_t> expected =
          (*from_folder)->Encode(text, {.parse_special = parse_special});
      EXPECT_EQ((*from_gguf)->Encode(text, {.parse_special = parse_special}), expected) << text;
      EXPECT_EQ((*from_back)->Encode(text, {.parse_special = parse_special}), expected) << text;
    }
    // With BOS where the folder's tokenizer has one (Qwen's names none in tokenizer_config.json;
    // the GGUF file takes config.json's bos_token_id, as llama.cpp's converter does).
    if ((*from_folder)->bos_id().has_value()) {
      const std::vector<int32_t> with_bos = (*from_folder)->Encode(text, {.add_bos = true});
      EXPECT_EQ((*from_gguf)->Encode(text, {.add_bos = true}), with_bos) << text;
      EXPECT_EQ((*from_back)->Encode(text, {.add_bos = true}), with_bos) << text;
    }
  }
  EXPECT_EQ((*from_gguf)->eos_id(), (*from_folder)->eos_id());
  EXPECT_EQ((*from_gguf)->add_bos_by_default(), (*from_folder)->add_bos_by_default());
  EXPECT_EQ((*from_gguf)->end_of_generation_ids(), (*from_back)->end_of_generation_ids());
  const nlohmann::json tokenizer_config =
      nlohmann::json::parse(*ReadFileToString(folder + "/tokenizer_config.json"));
  EXPECT_EQ(*(*gguf)->GetString("tokenizer.chat_template"), tokenizer_config["chat_template"]);
  const std::vector<ChatMessage> chat = {{"system", "Be brief."}, {"user", "2+2?"}};
  auto rendered = (*from_folder)->chat_template().Apply(chat, true);
  ASSERT_TRUE(rendered.ok());
  EXPECT_EQ(*(*from_gguf)->chat_template().Apply(chat, true), *rendered);
  EXPECT_EQ(*(*from_back)->chat_template().Apply(chat, true), *rendered);
}

INSTANTIATE_TEST_SUITE_P(
    SharedTokenizers, RealVocabularyTest,
    ::testing::Values(RealVocabulary{"qwen3",
                                     Architecture::kQwen3,
                                     151936,
                                     151643,
                                     151645,
                                     "qwen2",
                                     {{151644, 3} /* <|im_start|> */,
                                      {151667, 4} /* <think>: not special, user-defined */,
                                      {151700, 5} /* a padding row */}},
                      RealVocabulary{
                          "llama3",
                          Architecture::kLlama,
                          128256,
                          128000,
                          128001,
                          "llama-bpe",
                          {{128000, 3} /* <|begin_of_text|> */, {128009, 3} /* <|eot_id|> */}}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ponder::engine
