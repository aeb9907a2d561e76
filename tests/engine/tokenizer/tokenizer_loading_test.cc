// Loading tokenizers from small vocabularies built in the test: the tokenizer.json features
// the shared vocabularies do not exercise, the files a folder's chat template comes from, and
// clear errors for malformed files.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model/gguf.h"
#include "engine/model/gguf_writer.h"
#include "engine/tokenizer/gguf_export.h"
#include "engine/tokenizer/hf_chat_template_files.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tiny_vocabularies.h"

namespace ponder::engine {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TinyByteLevelTokenizerJson;
using testing::TinySentencePieceGguf;

absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(const nlohmann::json& json,
                                                    const nlohmann::json& config = nullptr) {
  return Tokenizer::FromHuggingFaceJson(json.dump(), config.is_null() ? "" : config.dump(),
                                        "tiny/tokenizer.json");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> FromGgufWriter(const GgufWriter& writer) {
  static std::vector<std::vector<uint8_t>> keep_alive;  // GgufFile views the bytes
  keep_alive.push_back(writer.Serialize());
  absl::StatusOr<std::unique_ptr<GgufFile>> gguf = GgufFile::Parse(keep_alive.back(), "tiny.gguf");
  if (!gguf.ok()) return gguf.status();
  return Tokenizer::FromGguf(**gguf);
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// The load failed with a message that holds each of `parts`.
void ExpectError(const absl::StatusOr<std::unique_ptr<Tokenizer>>& result,
                 const std::vector<std::string>& parts) {
  ASSERT_FALSE(result.ok()) << "expected an error mentioning " << parts[0];
  for (const std::string& part : parts) {
    EXPECT_THAT(Message(result.status()), HasSubstr(part));
  }
}

TEST(TinyTokenizerTest, MergesByRankAndRoundTripsArbitraryBytes) {
  auto tokenizer = FromJson(TinyByteLevelTokenizerJson());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_THAT((*tokenizer)->Encode("hello world"), ElementsAre(259, 264));
  const std::string bytes("\x00\xFF\xC3(hello\x80", 10);
  EXPECT_EQ((*tokenizer)->Encode(bytes).size(), 6u);  // 0, FF, C3, (, hello, 80
  EXPECT_EQ((*tokenizer)->Decode((*tokenizer)->Encode(bytes)),
            std::string(1, '\0') + "\uFFFD\uFFFD(hello\uFFFD")
      << "ill-formed input bytes encode losslessly and decode as U+FFFD";
}

TEST(TinyTokenizerTest, AddedTokensSwallowWhitespaceAsConfigured) {
  auto tokenizer = FromJson(TinyByteLevelTokenizerJson());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // "<tag>" strips on both sides; "<|end|>" is special, so only matched with parse_special.
  EXPECT_THAT((*tokenizer)->Encode("hello  <tag>\n hello"), ElementsAre(259, 301, 259));
  EXPECT_THAT((*tokenizer)->Encode("hello<|end|>", {.parse_special = true}), ElementsAre(259, 300));
  EXPECT_THAT((*tokenizer)->Encode("<|end|>", {.parse_special = false}),
              ::testing::Not(::testing::Contains(300)));
  EXPECT_TRUE((*tokenizer)->IsControl(300));
  EXPECT_FALSE((*tokenizer)->IsControl(301));
}

TEST(TinyTokenizerTest, AppliesNormalizersAndPreTokenizerSequences) {
  nlohmann::json json = TinyByteLevelTokenizerJson();
  json["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}}}};
  json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Digits"}, {"individual_digits", true}},
        {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}}}}};
  auto tokenizer = FromJson(json);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // NFD splits "é" into "e" + U+0301; Digits isolates each digit; each piece gets a space.
  EXPECT_THAT((*tokenizer)->Encode("é"), ElementsAre(' ', 'e', 0xCC, 0x81));
  EXPECT_THAT((*tokenizer)->Encode("12"), ElementsAre(' ', '1', ' ', '2'));
}

TEST(TinyTokenizerTest, ReadsSpecialTokensAndBosSettingFromTheConfig) {
  auto tokenizer =
      FromJson(TinyByteLevelTokenizerJson(),
               {{"bos_token", {{"content", "<|end|>"}}},
                {"eos_token", "<|end|>"},
                {"add_bos_token", true},
                {"chat_template", {{{"name", "default"}, {"template", "<|im_start|>"}}}}});
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->bos_id(), 300);
  EXPECT_EQ((*tokenizer)->eos_id(), 300);
  EXPECT_TRUE((*tokenizer)->add_bos_by_default());
  EXPECT_THAT((*tokenizer)->end_of_generation_ids(), ElementsAre(300));
  EXPECT_EQ((*tokenizer)->chat_template().kind(), ChatTemplate::Kind::kChatML);
}

TEST(TinyTokenizerTest, SentencePieceMergesByScoreWithByteFallback) {
  auto tokenizer = FromGgufWriter(TinySentencePieceGguf());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const int32_t first_piece = 3 + 256;  // "▁"
  // "abc": "bc" outscores "ab", so ▁ a bc -> then "▁a" (score -5) merges: ▁a bc.
  EXPECT_THAT((*tokenizer)->Encode("abc"), ElementsAre(first_piece + 4, first_piece + 7));
  // "é" is not a piece: byte fallback <0xC3><0xA9>.
  EXPECT_THAT((*tokenizer)->Encode("é"), ElementsAre(first_piece, 3 + 0xC3, 3 + 0xA9));
  EXPECT_EQ((*tokenizer)->Decode((*tokenizer)->Encode("ab é")), " ab é");
  EXPECT_TRUE((*tokenizer)->add_bos_by_default());
  EXPECT_EQ((*tokenizer)->bos_id(), 1);
}

TEST(TokenizerJsonErrorsTest, NameTheFileAndTheProblem) {
  ExpectError(Tokenizer::FromHuggingFaceJson("{\"model\": ", "", "tiny/tokenizer.json"),
              {"tiny/tokenizer.json", "not valid JSON"});
  // nlohmann throws out_of_range, not parse_error, for a number beyond a double.
  ExpectError(Tokenizer::FromHuggingFaceJson("{\"model\": 1e400}", "", "tiny/tokenizer.json"),
              {"tiny/tokenizer.json: not valid JSON (line 1, column 11: the number 1e400"});
  nlohmann::json json = TinyByteLevelTokenizerJson();
  json.erase("model");
  ExpectError(FromJson(json), {"tiny/tokenizer.json", "model"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["type"] = "WordPiece";
  ExpectError(FromJson(json), {"model.type", "WordPiece"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["byte_fallback"] = true;
  ExpectError(FromJson(json), {"model.byte_fallback", "GGUF"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["merges"].push_back("hello zzz");
  ExpectError(FromJson(json), {"model.merges[9]", "zzz", "not in model.vocab"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["merges"][0] = "one two three";
  ExpectError(FromJson(json), {"model.merges[0]", "one two three"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["vocab"]["zz"] = "seven";
  ExpectError(FromJson(json), {"model.vocab[\"zz\"]", "not an integer"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["vocab"]["zz"] = 1000000000;  // would need a billion-entry table
  ExpectError(FromJson(json), {"model.vocab[\"zz\"]", "1000000000 is not a token id"});

  json = TinyByteLevelTokenizerJson();
  json["model"]["vocab"]["zz"] = 5;
  ExpectError(FromJson(json), {"model.vocab", "id 5"});

  json = TinyByteLevelTokenizerJson();
  json["pre_tokenizer"] = {{"type", "Metaspace"}};
  ExpectError(FromJson(json), {"pre_tokenizer", "Metaspace"});

  json = TinyByteLevelTokenizerJson();
  json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", "(["}}}, {"behavior", "Isolated"}},
        {{"type", "ByteLevel"}}}}};
  ExpectError(FromJson(json), {"pre_tokenizer.pretokenizers[0].pattern", "(["});

  json = TinyByteLevelTokenizerJson();
  json["pre_tokenizer"] = nullptr;
  ExpectError(FromJson(json), {"pre_tokenizer", "ByteLevel"});

  json = TinyByteLevelTokenizerJson();
  json["normalizer"] = {{"type", "Lowercase"}};
  ExpectError(FromJson(json), {"normalizer", "Lowercase"});

  json = TinyByteLevelTokenizerJson();
  json["added_tokens"][0].erase("content");
  ExpectError(FromJson(json), {"added_tokens[0]"});

  ExpectError(FromJson(TinyByteLevelTokenizerJson(), {{"bos_token", "<missing>"}}),
              {"tokenizer_config.json", "bos_token", "<missing>"});
}

// Found by fuzzing: members of the wrong JSON type, and deep nesting, are errors that name the
// member, not aborts (nlohmann's value() throws on a type mismatch) or stack overflows.
TEST(TokenizerJsonErrorsTest, MembersOfTheWrongTypeAndDeepNestingAreErrors) {
  nlohmann::json json = TinyByteLevelTokenizerJson();
  json["model"]["type"] = 5;
  ExpectError(FromJson(json), {"tiny/tokenizer.json", "model.type", "not a string"});

  json = TinyByteLevelTokenizerJson();
  json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", "ByteLevel"}};
  ExpectError(FromJson(json), {"pre_tokenizer.pretokenizers", "not an array"});

  // A post-processor is read for the BOS default when the config does not say add_bos_token.
  const nlohmann::json bos_config = {{"bos_token", "<|end|>"}};
  ASSERT_TRUE(FromJson(TinyByteLevelTokenizerJson(), bos_config).ok());
  json = TinyByteLevelTokenizerJson();
  json["post_processor"] = {{"type", 5}};
  ExpectError(FromJson(json, bos_config), {"post_processor.type", "not a string"});
  json["post_processor"] = {{"type", "Sequence"}, {"processors", {{{"type", 5}}}}};
  ExpectError(FromJson(json, bos_config), {"post_processor.processors[0].type"});
  json["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single", {{{"SpecialToken", {{"id", 5}}}}}}};
  EXPECT_TRUE(FromJson(json, bos_config).ok());  // a template that does not start with BOS

  // Named chat templates whose names are not strings: the first template serves.
  const nlohmann::json named = {
      {"chat_template",
       {{{"template", "a"}, {"name", 5}}, {{"template", "b"}, {"name", nullptr}}}}};
  EXPECT_TRUE(FromJson(TinyByteLevelTokenizerJson(), named).ok());

  // Sequences nested 200000 deep (about 6 MB): refused at the 16th level, quickly.
  for (const auto& [section, members] :
       {std::pair{"pre_tokenizer", "pretokenizers"}, std::pair{"normalizer", "normalizers"},
        std::pair{"post_processor", "processors"}}) {
    const bool pre_tokenizer = std::string(section) == "pre_tokenizer";
    std::string deep;
    for (int i = 0; i < 200000; ++i)
      absl::StrAppend(&deep, R"({"type":"Sequence",")", members, "\":[");
    deep += pre_tokenizer ? R"({"type":"ByteLevel"})" : R"({"type":"NFC"})";
    for (int i = 0; i < 200000; ++i) deep += "]}";
    json = TinyByteLevelTokenizerJson();
    json[section] = "@deep@";
    std::string text = json.dump();
    text.replace(text.find("\"@deep@\""), 8, deep);
    absl::StatusOr<std::unique_ptr<Tokenizer>> result = Tokenizer::FromHuggingFaceJson(
        text, pre_tokenizer ? "" : bos_config.dump(), "tiny/tokenizer.json");
    ASSERT_FALSE(result.ok()) << section;
    EXPECT_THAT(Message(result.status()), HasSubstr("more than 16 deep")) << section;
    EXPECT_THAT(Message(result.status()), HasSubstr(section));
  }
}

TEST(TokenizerFileErrorsTest, MissingFilesAndFoldersAreNotFound) {
  auto missing = Tokenizer::Open("/nonexistent/ponder/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("/nonexistent/ponder/model.gguf"));
  auto folder = Tokenizer::FromHuggingFace(std::string(PONDER_SOURCE_DIR) + "/tests");
  ASSERT_FALSE(folder.ok());
  EXPECT_THAT(Message(folder.status()), HasSubstr("no tokenizer.json"));
}

TEST(GgufVocabularyErrorsTest, NameTheFileKeyAndProblem) {
  auto expect_error = [](const GgufWriter& writer, std::vector<std::string> parts) {
    auto result = FromGgufWriter(writer);
    ASSERT_FALSE(result.ok()) << "expected an error mentioning " << parts[0];
    EXPECT_THAT(Message(result.status()), HasSubstr("tiny.gguf"));
    for (const std::string& part : parts) {
      EXPECT_THAT(Message(result.status()), HasSubstr(part));
    }
  };
  GgufWriter no_model;
  no_model.SetString("general.architecture", "llama");
  expect_error(no_model, {"tokenizer.ggml.model", "missing"});

  GgufWriter bert = TinySentencePieceGguf();
  bert.SetString("tokenizer.ggml.model", "bert");
  expect_error(bert, {"'bert'", "not supported"});

  GgufWriter no_tokens;
  no_tokens.SetString("tokenizer.ggml.model", "llama");
  expect_error(no_tokens, {"tokenizer.ggml.tokens", "missing"});

  GgufWriter short_scores = TinySentencePieceGguf();
  short_scores.SetFloat32Array("tokenizer.ggml.scores", std::vector<float>{0.0f, 1.0f});
  expect_error(short_scores, {"tokenizer.ggml.scores", "has 2 entries"});

  GgufWriter bad_byte = TinySentencePieceGguf();
  std::vector<std::string> tokens = {"<unk>", "<0xZZ>"};
  bad_byte.SetStringArray("tokenizer.ggml.tokens", tokens);
  bad_byte.SetFloat32Array("tokenizer.ggml.scores", std::vector<float>{0, 0});
  bad_byte.SetInt32Array("tokenizer.ggml.token_type", std::vector<int32_t>{2, 6});
  expect_error(bad_byte, {"entry 1", "<0xZZ>"});

  GgufWriter tokens_of_wrong_type;
  tokens_of_wrong_type.SetString("tokenizer.ggml.model", "llama");
  tokens_of_wrong_type.SetInt32Array("tokenizer.ggml.tokens", std::vector<int32_t>{1, 2});
  expect_error(tokens_of_wrong_type, {"tokenizer.ggml.tokens"});

  GgufWriter gpt2;
  gpt2.SetString("tokenizer.ggml.model", "gpt2");
  std::vector<std::string> gpt2_tokens = {"a", "b", "ab"};
  gpt2.SetStringArray("tokenizer.ggml.tokens", gpt2_tokens);
  expect_error(gpt2, {"tokenizer.ggml.merges", "missing"});
  std::vector<std::string> merges = {"ab"};
  gpt2.SetStringArray("tokenizer.ggml.merges", merges);
  expect_error(gpt2, {"tokenizer.ggml.merges", "entry 0", "'ab'"});
  merges = {"a b"};
  gpt2.SetStringArray("tokenizer.ggml.merges", merges);
  gpt2.SetString("tokenizer.ggml.pre", "no-such-pre");
  expect_error(gpt2, {"tokenizer.ggml.pre", "no-such-pre"});
  gpt2.SetString("tokenizer.ggml.pre", "gpt-2");
  auto loaded = FromGgufWriter(gpt2);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT((*loaded)->Encode("ab"), ElementsAre(2));

  // A special token past the vocabulary is an error (it fell back to the type's default, a
  // comma in Qwen's vocabulary for the end token); a negative one means none.
  gpt2.SetUint32("tokenizer.ggml.eos_token_id", 3);
  expect_error(gpt2, {"tokenizer.ggml.eos_token_id", "3 is past the vocabulary of 3 tokens"});
  // Other special tokens past it are read as llama.cpp reads them: none (the file still loads).
  gpt2.SetUint32("tokenizer.ggml.eos_token_id", 2);
  gpt2.SetUint32("tokenizer.ggml.eot_token_id", 7);
  gpt2.SetUint32("tokenizer.ggml.unknown_token_id", 9);
  auto other_ids_past = FromGgufWriter(gpt2);
  ASSERT_TRUE(other_ids_past.ok()) << other_ids_past.status();
  EXPECT_EQ((*other_ids_past)->eos_id(), 2);
  for (bool as_unsigned : {false, true}) {  // -1, or 0xFFFFFFFF as real files store it
    if (as_unsigned) {
      gpt2.SetUint32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);
    } else {
      gpt2.SetInt32("tokenizer.ggml.eos_token_id", -1);
    }
    auto without_eos = FromGgufWriter(gpt2);
    ASSERT_TRUE(without_eos.ok()) << without_eos.status();
    EXPECT_EQ((*without_eos)->eos_id(), std::nullopt);
  }
}

// A model without a chat template (a base model) is prompted in the raw format; encoded as every
// rendering is (no BOS added, special tokens parsed), it starts with BOS exactly where a plain
// prompt does. solve and bench used to send it without BOS while generate --prompt added one.
TEST(TinyTokenizerTest, RawChatPromptStartsWithBosWhereAPlainPromptDoes) {
  for (bool add_bos : {true, false}) {
    SCOPED_TRACE(add_bos);
    auto tokenizer = FromJson(TinyByteLevelTokenizerJson(),
                              {{"bos_token", "<|end|>"}, {"add_bos_token", add_bos}});
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    ASSERT_FALSE((*tokenizer)->chat_template().recognized());
    const std::vector<ChatMessage> messages = {{"user", "hello world"}};
    const absl::StatusOr<std::string> prompt = (*tokenizer)->chat_template().Apply(messages, true);
    ASSERT_TRUE(prompt.ok()) << prompt.status();
    EXPECT_EQ((*tokenizer)->Encode(*prompt, {.add_bos = false, .parse_special = true}),
              (*tokenizer)->Encode("hello world", {.add_bos = add_bos}));
  }
}

// A Hugging Face folder as transformers' save_pretrained writes it since 4.47: the template in
// chat_template.jinja (others in additional_chat_templates/), none in tokenizer_config.json. It
// used to be ignored, and the model prompted in the raw format without a word.
class FolderChatTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = ::testing::TempDir() + "/chat_template_files_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_ + "/additional_chat_templates");
    Write("tokenizer.json", TinyByteLevelTokenizerJson().dump());
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(folder_ + "/" + name, std::ios::trunc) << text;
  }
  ChatTemplate::Kind KindRead() {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromHuggingFace(folder_);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    return tokenizer.ok() ? (*tokenizer)->chat_template().kind() : ChatTemplate::Kind::kRaw;
  }

  // Sources that hold only the markers FromJinja recognises.
  static constexpr char kChatMl[] = "{{ '<|im_start|>' + message['role'] }}";
  static constexpr char kLlama3[] = "{{ '<|start_header_id|>' + message['role'] }}";
  std::string folder_;
};

TEST_F(FolderChatTemplateTest, ChatTemplateJinjaIsReadAndWinsOverTokenizerConfig) {
  Write("chat_template.jinja", kChatMl);  // no tokenizer_config.json at all
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kChatML);
  Write("tokenizer_config.json", nlohmann::json({{"chat_template", kLlama3}}).dump());
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kChatML);  // as transformers' from_pretrained

  // Conversion to GGUF reads the same files: the named ones become tokenizer.chat_template.NAME.
  Write("additional_chat_templates/tool_use.jinja", "{{ tools }}");
  absl::StatusOr<GgufVocabulary> vocabulary = GgufVocabularyFromHuggingFace(folder_);
  ASSERT_TRUE(vocabulary.ok()) << vocabulary.status();
  EXPECT_EQ(vocabulary->chat_template, kChatMl);
  EXPECT_THAT(vocabulary->named_chat_templates,
              ElementsAre(std::make_pair(std::string("tool_use"), std::string("{{ tools }}"))));
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kChatML);  // the default one
}

// transformers reads additional_chat_templates/ without chat_template.jinja too, and those
// templates replace tokenizer_config.json's: the default is then default.jinja there, or none (a
// named template is not used unless asked for by name). They were ignored, and tokenizer_config's
// template used.
TEST_F(FolderChatTemplateTest, AdditionalTemplatesAloneReplaceTokenizerConfigs) {
  Write("tokenizer_config.json", nlohmann::json({{"chat_template", kLlama3}}).dump());
  Write("additional_chat_templates/tool_use.jinja", kChatMl);
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kRaw);
  absl::StatusOr<GgufVocabulary> vocabulary = GgufVocabularyFromHuggingFace(folder_);
  ASSERT_TRUE(vocabulary.ok()) << vocabulary.status();
  EXPECT_EQ(vocabulary->chat_template, "");

  Write("additional_chat_templates/default.jinja", kChatMl);
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kChatML);
  // With chat_template.jinja too, default.jinja replaces it, as in transformers' dict.
  Write("chat_template.jinja", kLlama3);
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kChatML);
}

TEST_F(FolderChatTemplateTest, ProcessorChatTemplateJsonIsReadWhenNothingElseHasOne) {
  Write("chat_template.json", nlohmann::json({{"chat_template", kChatMl}}).dump());
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kChatML);
  absl::StatusOr<GgufVocabulary> vocabulary = GgufVocabularyFromHuggingFace(folder_);
  ASSERT_TRUE(vocabulary.ok()) << vocabulary.status();
  EXPECT_EQ(vocabulary->chat_template, kChatMl);

  Write("tokenizer_config.json", nlohmann::json({{"chat_template", kLlama3}}).dump());
  EXPECT_EQ(KindRead(), ChatTemplate::Kind::kLlama3);

  Write("tokenizer_config.json", "{}");
  Write("chat_template.json", "{\"template\": \"x\"}");
  ExpectError(Tokenizer::FromHuggingFace(folder_), {"chat_template.json", "chat_template"});
}

// A template file that is not UTF-8 cannot go into tokenizer_config's JSON; it aborted the process
// (an uncaught exception from the JSON writer) in tokenize, generate, ponderd and convert.
TEST_F(FolderChatTemplateTest, TemplateFileThatIsNotUtf8IsAnErrorNamingIt) {
  Write("chat_template.jinja", absl::StrCat("\xE9", kChatMl));
  ExpectError(Tokenizer::FromHuggingFace(folder_), {"chat_template.jinja", "UTF-8"});
  const absl::StatusOr<GgufVocabulary> vocabulary = GgufVocabularyFromHuggingFace(folder_);
  ASSERT_FALSE(vocabulary.ok());
  EXPECT_THAT(Message(vocabulary.status()), HasSubstr("chat_template.jinja"));  // convert's path
  Write("chat_template.jinja", kChatMl);
  Write("additional_chat_templates/tool_use.jinja", "\xE9");
  ExpectError(Tokenizer::FromHuggingFace(folder_), {"tool_use.jinja", "UTF-8"});
}

// convert removes the template files that would override the template it writes into
// tokenizer_config.json; one it could not remove was left there without a word.
TEST_F(FolderChatTemplateTest, TemplateFileThatCannotBeRemovedIsAnErrorNamingIt) {
  Write("additional_chat_templates/tool_use.jinja", kChatMl);
  const std::filesystem::path additional = folder_ + "/additional_chat_templates";
  std::filesystem::permissions(
      additional, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  const absl::StatusOr<std::vector<std::string>> removed = RemoveFolderChatTemplates(folder_);
  const bool left = std::filesystem::exists(additional / "tool_use.jinja");
  std::error_code ec;  // the folder is gone where the removal succeeded
  std::filesystem::permissions(additional, std::filesystem::perms::owner_all, ec);
  if (!left) GTEST_SKIP() << "this user may remove files from a read-only folder (root)";
  ASSERT_FALSE(removed.ok()) << "tool_use.jinja is still there";
  EXPECT_THAT(Message(removed.status()), HasSubstr("additional_chat_templates"));
  EXPECT_THAT(Message(removed.status()), HasSubstr("tokenizer_config.json"));
}

TEST(FuzzCorpusTest, SeedVocabulariesLoadAndTokenize) {
  const std::string corpus = std::string(PONDER_SOURCE_DIR) + "/tests/engine/tokenizer/corpus";
  auto json = Tokenizer::Open(corpus + "/json/tiny_tokenizer.json");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT((*json)->Encode("hello world"), ElementsAre(259, 264));
  auto gpt2 = Tokenizer::Open(corpus + "/gguf/gpt2_vocab.gguf");
  ASSERT_TRUE(gpt2.ok()) << gpt2.status();
  EXPECT_THAT((*gpt2)->Encode("hello world"), ElementsAre(259, 264));
  EXPECT_TRUE((*gpt2)->IsEndOfGeneration(265));  // <|endoftext|>
  auto spm = Tokenizer::Open(corpus + "/gguf/spm_vocab.gguf");
  ASSERT_TRUE(spm.ok()) << spm.status();
  // Named like Phi-3, so its control tokens swallow the whitespace after them.
  const int32_t user = *(*spm)->FindToken("<|user|>");
  EXPECT_THAT((*spm)->Encode("<|user|>\n abc", {.parse_special = true}),
              ElementsAre(user, 259 + 4, 259 + 7));
  EXPECT_EQ((*spm)->chat_template().kind(), ChatTemplate::Kind::kChatML);
}

}  // namespace
}  // namespace ponder::engine
