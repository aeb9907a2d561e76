// Behaviour of Tokenizer beyond the llama.cpp vectors: agreement with Hugging Face reference
// encodings, special tokens, decoding and streaming, metadata, and the GGUF and tokenizer.json
// readers' agreement with each other.
#include "engine/tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/model/gguf.h"
#include "engine/model/gguf_writer.h"
#include "engine/tokenizer/gguf_export.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tiny_vocabularies.h"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace ponder::engine {
namespace {

using testing::CachedTokenizer;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Not;
using testing::PathExists;
using testing::ReadLlamaCppVectors;
using testing::ReadWholeFile;
using testing::SharedPath;
using testing::TokenizerVector;

constexpr char kGpt2[] = "tokenizers/llama.cpp-vectors/ggml-vocab-gpt-2.gguf";
constexpr char kLlamaSpm[] = "tokenizers/llama.cpp-vectors/ggml-vocab-llama-spm.gguf";
constexpr char kPhi3[] = "tokenizers/llama.cpp-vectors/ggml-vocab-phi-3.gguf";
constexpr char kQwen3[] = "tokenizers/hf/qwen3/tokenizer.json";
constexpr char kLlama3[] = "tokenizers/hf/llama3/tokenizer.json";
constexpr const char* kAllVocabularies[] = {kGpt2, kLlamaSpm, kPhi3, kQwen3, kLlama3};

// Loads a tokenizer from ../shared or skips the test.
#define LOAD_OR_SKIP(variable, relative)                                                       \
  const std::string variable##_path = SharedPath(relative);                                    \
  if (!PathExists(variable##_path)) GTEST_SKIP() << "shared data absent: " << variable##_path; \
  const Tokenizer* variable = CachedTokenizer(variable##_path);                                \
  ASSERT_NE(variable, nullptr) << "cannot load " << variable##_path

// The texts of llama.cpp's vector file (the same for every vocabulary).
std::vector<std::string> VectorTexts() {
  std::vector<std::string> texts;
  for (const TokenizerVector& vector :
       ReadLlamaCppVectors(SharedPath("tokenizers/llama.cpp-vectors/ggml-vocab-gpt-2.gguf"))) {
    texts.push_back(vector.text);
  }
  return texts;
}

std::string StreamDecode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                         bool skip_special = false) {
  StreamingDecoder decoder(tokenizer, skip_special);
  std::string text;
  for (int32_t id : ids) text += decoder.Push(id);
  return text + decoder.Flush();
}

TEST(TokenizerTest, MatchesHuggingFaceReferenceEncodingsWithSpecialTokens) {
  const nlohmann::json golden = nlohmann::json::parse(ReadWholeFile(
      std::string(PONDER_SOURCE_DIR) + "/tests/engine/tokenizer/golden/hf_encodings.json"));
  for (const auto& [name, path] : {std::pair{"qwen3", kQwen3}, std::pair{"llama3", kLlama3}}) {
    LOAD_OR_SKIP(tokenizer, path);
    const auto& cases = golden["vocabularies"][name];
    ASSERT_FALSE(cases.empty());
    for (const auto& test_case : cases) {
      const std::string text = test_case["text"].get<std::string>();
      SCOPED_TRACE(::testing::Message() << name << ": '" << text << "'");
      // transformers.js always recognises special tokens in text.
      EXPECT_THAT(tokenizer->Encode(text, {.add_bos = false, .parse_special = true}),
                  ElementsAreArray(test_case["ids"].get<std::vector<int32_t>>()));
    }
  }
}

TEST(TokenizerTest, DecodeInvertsEncodeForByteLevelVocabularies) {
  for (const char* path : {kGpt2, kQwen3, kLlama3}) {
    LOAD_OR_SKIP(tokenizer, path);
    for (const std::string& text : VectorTexts()) {
      EXPECT_EQ(tokenizer->Decode(tokenizer->Encode(text)), text) << path;
    }
  }
}

TEST(TokenizerTest, DecodeInvertsEncodeUpToTheSentencePiecePrefixSpace) {
  for (const char* path : {kLlamaSpm, kPhi3}) {
    LOAD_OR_SKIP(tokenizer, path);
    ASSERT_TRUE(tokenizer->add_space_prefix());
    for (const std::string& text : VectorTexts()) {
      EXPECT_EQ(tokenizer->Decode(tokenizer->Encode(text)), text.empty() ? "" : " " + text) << path;
    }
  }
}

TEST(TokenizerTest, StreamingDecodeEqualsDecodeOfAllIds) {
  for (const char* path : kAllVocabularies) {
    LOAD_OR_SKIP(tokenizer, path);
    for (const std::string& text : VectorTexts()) {
      const std::vector<int32_t> ids =
          tokenizer->Encode(text, {.add_bos = true, .parse_special = false});
      EXPECT_EQ(StreamDecode(*tokenizer, ids), tokenizer->Decode(ids)) << path << ": " << text;
      EXPECT_EQ(StreamDecode(*tokenizer, ids, true), tokenizer->Decode(ids, true)) << path;
    }
  }
}

TEST(TokenizerTest, StreamingHoldsBackByteFallbackTokensUntilTheCharacterIsComplete) {
  LOAD_OR_SKIP(tokenizer, kLlamaSpm);
  // "🦙" is outside the Llama 2 vocabulary: it is spelled <0xF0><0x9F><0xA6><0x99>.
  const std::vector<int32_t> ids = tokenizer->Encode("🦙");
  std::vector<int32_t> bytes;
  for (const char* text : {"<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"}) {
    bytes.push_back(*tokenizer->FindToken(text));
  }
  ASSERT_THAT(ids, ElementsAre(*tokenizer->FindToken(" "), bytes[0], bytes[1], bytes[2], bytes[3]));
  StreamingDecoder decoder(*tokenizer);
  EXPECT_EQ(decoder.Push(ids[0]), " ");
  EXPECT_EQ(decoder.Push(bytes[0]), "");
  EXPECT_EQ(decoder.Push(bytes[1]), "");
  EXPECT_EQ(decoder.Push(bytes[2]), "");
  EXPECT_EQ(decoder.Push(bytes[3]), "🦙");
  EXPECT_EQ(decoder.Flush(), "");
}

TEST(TokenizerTest, StreamingHoldsBackPartialCharactersOfByteLevelTokens) {
  LOAD_OR_SKIP(tokenizer, kGpt2);
  // GPT-2 spells "🦙" with tokens that end in the middle of the character.
  const std::vector<int32_t> ids = tokenizer->Encode("🦙");
  ASSERT_GT(ids.size(), 1u);
  StreamingDecoder decoder(*tokenizer);
  for (size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(decoder.Push(ids[i]), "") << i;
  EXPECT_EQ(decoder.Push(ids.back()), "🦙");
}

TEST(TokenizerTest, BrokenByteSequencesDecodeToReplacementCharacters) {
  LOAD_OR_SKIP(tokenizer, kLlamaSpm);
  const int32_t e2 = *tokenizer->FindToken("<0xE2>");
  const int32_t a = *tokenizer->FindToken("A");
  const std::vector<int32_t> ids = {e2, a, e2};
  // The lead byte interrupted by "A" is one U+FFFD; the dangling one at the end another.
  EXPECT_EQ(tokenizer->Decode(ids), "\uFFFDA\uFFFD");
  EXPECT_EQ(StreamDecode(*tokenizer, ids), "\uFFFDA\uFFFD");
  StreamingDecoder decoder(*tokenizer);
  EXPECT_EQ(decoder.Push(e2), "");
  EXPECT_EQ(decoder.Push(a), "\uFFFDA");
}

TEST(TokenizerTest, IdsOutsideTheVocabularyDecodeToReplacementCharacters) {
  LOAD_OR_SKIP(tokenizer, kQwen3);
  const int32_t hello = tokenizer->Encode("Hello")[0];
  const std::vector<int32_t> ids = {-1, hello, tokenizer->vocab_size(), INT32_MAX};
  EXPECT_EQ(tokenizer->Decode(ids), "\uFFFDHello\uFFFD\uFFFD");
  EXPECT_EQ(StreamDecode(*tokenizer, ids), "\uFFFDHello\uFFFD\uFFFD");
  EXPECT_EQ(tokenizer->TokenText(-1), "");
  EXPECT_FALSE(tokenizer->IsControl(tokenizer->vocab_size()));
}

TEST(TokenizerTest, ControlTokensAreRecognisedOnlyWhenParsingSpecialTokens) {
  LOAD_OR_SKIP(tokenizer, kQwen3);
  const int32_t im_end = *tokenizer->FindToken("<|im_end|>");
  EXPECT_EQ(im_end, 151645);
  const std::string text = "hi<|im_end|>";
  EXPECT_THAT(tokenizer->Encode(text, {.parse_special = true}), Contains(im_end));
  const std::vector<int32_t> plain = tokenizer->Encode(text, {.parse_special = false});
  EXPECT_THAT(plain, Not(Contains(im_end)));
  EXPECT_EQ(tokenizer->Decode(plain), text);
}

TEST(TokenizerTest, NonSpecialAddedTokensAreAlwaysRecognised) {
  LOAD_OR_SKIP(tokenizer, kQwen3);
  const int32_t think = *tokenizer->FindToken("<think>");
  EXPECT_EQ(think, 151667);
  EXPECT_FALSE(tokenizer->IsControl(think));
  EXPECT_THAT(tokenizer->Encode("<think>\nok", {.parse_special = false}), Contains(think));
}

TEST(TokenizerTest, SentencePieceControlTokensKeepTheSpacePrefixRuleOfLlamaCpp) {
  LOAD_OR_SKIP(tokenizer, kLlamaSpm);
  // llama.cpp prefixes a space to text that follows a special token: "<s>Hello" = <s> ▁Hello.
  const std::vector<int32_t> hello = tokenizer->Encode("Hello");
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_THAT(tokenizer->Encode("<s>Hello", {.parse_special = true}), ElementsAre(1, hello[0]));
  EXPECT_THAT(tokenizer->Encode("Hello</s>", {.parse_special = true}), ElementsAre(hello[0], 2));
  EXPECT_THAT(tokenizer->Encode("<s>Hello", {.parse_special = false}), Not(Contains(1)));
  EXPECT_THAT(tokenizer->Encode("Hello", {.add_bos = true}), ElementsAre(1, hello[0]));
}

TEST(TokenizerTest, Phi3SpecialTokensSwallowTheWhitespaceAfterThem) {
  LOAD_OR_SKIP(tokenizer, kPhi3);
  const int32_t user = *tokenizer->FindToken("<|user|>");
  std::vector<int32_t> expected = {user};
  for (int32_t id : tokenizer->Encode("Hi")) expected.push_back(id);  // "▁Hi": the prefix space
  EXPECT_THAT(tokenizer->Encode("<|user|>\n Hi", {.parse_special = true}),
              ElementsAreArray(expected));
}

TEST(TokenizerTest, FindTokenLooksUpDecodedTextThenStoredText) {
  LOAD_OR_SKIP(qwen, kQwen3);
  const std::optional<int32_t> plus = qwen->FindToken("+");
  ASSERT_TRUE(plus.has_value());
  EXPECT_EQ(qwen->TokenPiece(*plus), "+");
  EXPECT_EQ(qwen->FindToken(" +"), qwen->FindToken("Ġ+"));  // decoded " +" is stored "Ġ+"
  EXPECT_EQ(qwen->FindToken("no such token anywhere"), std::nullopt);
  LOAD_OR_SKIP(llama, kLlamaSpm);
  EXPECT_EQ(llama->FindToken("<0x0A>"), 13);
  EXPECT_EQ(llama->TokenText(13), "<0x0A>");
  EXPECT_EQ(llama->TokenPiece(13), "\n");
  EXPECT_EQ(llama->FindToken("\n"), 13);  // the only token that decodes to a newline
  const std::optional<int32_t> hello = llama->FindToken(" Hello");
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(llama->TokenText(*hello), "▁Hello");
}

TEST(TokenizerTest, ReportsTheVocabularyMetadataLlamaCppReads) {
  {
    LOAD_OR_SKIP(tokenizer, kGpt2);
    EXPECT_EQ(tokenizer->vocab_size(), 50257);
    EXPECT_EQ(tokenizer->bos_id(), 50256);
    EXPECT_EQ(tokenizer->eos_id(), 50256);
    EXPECT_FALSE(tokenizer->add_bos_by_default());
    EXPECT_THAT(tokenizer->end_of_generation_ids(), ElementsAre(50256));
    EXPECT_EQ(tokenizer->algorithm(), Tokenizer::Algorithm::kByteLevelBpe);
  }
  {
    LOAD_OR_SKIP(tokenizer, kLlamaSpm);
    EXPECT_EQ(tokenizer->vocab_size(), 32000);
    EXPECT_EQ(tokenizer->bos_id(), 1);
    EXPECT_EQ(tokenizer->eos_id(), 2);
    EXPECT_TRUE(tokenizer->add_bos_by_default());
    EXPECT_THAT(tokenizer->end_of_generation_ids(), ElementsAre(2));
    EXPECT_TRUE(tokenizer->IsControl(1));
    EXPECT_FALSE(tokenizer->IsControl(13));
    EXPECT_EQ(tokenizer->algorithm(), Tokenizer::Algorithm::kSentencePieceBpe);
    EXPECT_EQ(tokenizer->chat_template().kind(), ChatTemplate::Kind::kRaw);
    EXPECT_FALSE(tokenizer->chat_template().recognized());
  }
  {
    LOAD_OR_SKIP(tokenizer, kPhi3);
    EXPECT_EQ(tokenizer->eos_id(), 32000);
    const int32_t end = *tokenizer->FindToken("<|end|>");
    EXPECT_TRUE(tokenizer->IsEndOfGeneration(end));
    EXPECT_TRUE(tokenizer->IsEndOfGeneration(32000));
    EXPECT_FALSE(tokenizer->chat_template().recognized());  // Phi-3's format is not formatted
  }
  {
    LOAD_OR_SKIP(tokenizer, kQwen3);
    EXPECT_EQ(tokenizer->vocab_size(), 151669);
    EXPECT_EQ(tokenizer->bos_id(), std::nullopt);
    EXPECT_EQ(tokenizer->eos_id(), 151645);
    EXPECT_FALSE(tokenizer->add_bos_by_default());
    // <|endoftext|>, <|im_end|>, and the FIM pad/repo/file-separator tokens (llama.cpp's rule).
    EXPECT_THAT(tokenizer->end_of_generation_ids(),
                ElementsAre(151643, 151645, 151662, 151663, 151664));
    EXPECT_EQ(tokenizer->chat_template().kind(), ChatTemplate::Kind::kChatML);
  }
  {
    LOAD_OR_SKIP(tokenizer, kLlama3);
    EXPECT_EQ(tokenizer->vocab_size(), 128256);
    EXPECT_EQ(tokenizer->bos_id(), 128000);
    EXPECT_EQ(tokenizer->eos_id(), 128001);
    EXPECT_TRUE(tokenizer->add_bos_by_default());       // llama.cpp's default for llama-bpe
    EXPECT_TRUE(tokenizer->IsEndOfGeneration(128009));  // <|eot_id|>
    EXPECT_TRUE(tokenizer->IsEndOfGeneration(128001));
    EXPECT_THAT(tokenizer->Encode("Hi", {.add_bos = true}), ElementsAre(128000, 13347));
    EXPECT_EQ(tokenizer->chat_template().kind(), ChatTemplate::Kind::kLlama3);
  }
}

TEST(TokenizerTest, ChatPromptsEncodeWithTheirSpecialTokens) {
  LOAD_OR_SKIP(tokenizer, kQwen3);
  const std::vector<ChatMessage> messages = {{"user", "2+2?"}};
  const absl::StatusOr<std::string> prompt = tokenizer->chat_template().Apply(messages, true);
  ASSERT_TRUE(prompt.ok());
  const std::vector<int32_t> ids = tokenizer->Encode(*prompt, {.parse_special = true});
  EXPECT_EQ(ids.front(), *tokenizer->FindToken("<|im_start|>"));
  EXPECT_EQ(tokenizer->Decode(ids), *prompt);
  EXPECT_EQ(tokenizer->Decode(ids, /*skip_special=*/true), "user\n2+2?\nassistant\n");
}

TEST(TokenizerTest, EncodesTheSameFromManyThreads) {
  LOAD_OR_SKIP(tokenizer, kQwen3);
  const std::vector<std::string> texts = VectorTexts();
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& text : texts) expected.push_back(tokenizer->Encode(text));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (tokenizer->Encode(texts[i]) != expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

// The GGUF vocabulary `ponder convert` writes for a tokenizer.json (engine/tokenizer/
// gguf_export.h, llama.cpp's conventions), so the GGUF reader can be checked against the
// tokenizer.json reader on the same vocabulary.
std::vector<uint8_t> GgufFromTokenizerJson(const std::string& path, std::string* pre) {
  const std::string folder = path.substr(0, path.rfind('/'));
  absl::StatusOr<GgufVocabulary> vocabulary = GgufVocabularyFromHuggingFace(folder);
  EXPECT_TRUE(vocabulary.ok()) << vocabulary.status();
  if (!vocabulary.ok()) return {};
  *pre = vocabulary->pre;
  GgufWriter writer;
  writer.SetString("general.architecture", "llama");
  vocabulary->WriteTo(writer);
  return writer.Serialize();
}

TEST(TokenizerTest, GgufAndTokenizerJsonOfTheSameVocabularyAgree) {
  struct Case {
    const char* json;
    const char* pre;  // the llama.cpp type the exporter must recognise
    const char* vectors;
  };
  for (const Case& c : {Case{kQwen3, "qwen2", "ggml-vocab-qwen2.gguf"},
                        Case{kLlama3, "llama-bpe", "ggml-vocab-llama-bpe.gguf"}}) {
    LOAD_OR_SKIP(from_json, c.json);
    std::string pre;
    const std::vector<uint8_t> bytes = GgufFromTokenizerJson(from_json_path, &pre);
    EXPECT_EQ(pre, c.pre);
    absl::StatusOr<std::unique_ptr<GgufFile>> gguf = GgufFile::Parse(bytes, "converted.gguf");
    ASSERT_TRUE(gguf.ok()) << gguf.status();
    absl::StatusOr<std::unique_ptr<Tokenizer>> from_gguf = Tokenizer::FromGguf(**gguf);
    ASSERT_TRUE(from_gguf.ok()) << from_gguf.status();
    EXPECT_EQ((*from_gguf)->vocab_size(), from_json->vocab_size());
    // (BOS may differ: without a bos id in the folder, llama.cpp's reader assumes id 11 for gpt2
    // vocabularies, which no prompt uses since add_bos is false then.)
    EXPECT_EQ((*from_gguf)->eos_id(), from_json->eos_id());
    EXPECT_EQ((*from_gguf)->add_bos_by_default(), from_json->add_bos_by_default());
    // llama.cpp's vectors through the GGUF path...
    for (const TokenizerVector& vector : ReadLlamaCppVectors(
             SharedPath(std::string("tokenizers/llama.cpp-vectors/") + c.vectors))) {
      EXPECT_THAT((*from_gguf)->Encode(vector.text), ElementsAreArray(vector.ids)) << vector.text;
    }
    // ...and both paths on more text, special tokens included.
    std::vector<std::string> texts = VectorTexts();
    texts.push_back("<|im_start|>user\nHi<|im_end|><|eot_id|><think>x</think>");
    const std::string gsm8k = SharedPath("datasets/gsm8k/test.jsonl");
    if (PathExists(gsm8k)) texts.push_back(ReadWholeFile(gsm8k).substr(0, 200000));
    for (const std::string& text : texts) {
      for (bool parse_special : {false, true}) {
        EXPECT_EQ((*from_gguf)->Encode(text, {.parse_special = parse_special}),
                  from_json->Encode(text, {.parse_special = parse_special}))
            << c.json << ": " << text.substr(0, 80);
      }
    }
  }
}

TEST(TokenizerTest, OpensAHuggingFaceFolderAndItsTokenizerJsonAlike) {
  LOAD_OR_SKIP(from_file, kQwen3);
  absl::StatusOr<std::unique_ptr<Tokenizer>> from_folder =
      Tokenizer::Open(SharedPath("tokenizers/hf/qwen3"));
  ASSERT_TRUE(from_folder.ok()) << from_folder.status();
  EXPECT_EQ((*from_folder)->vocab_size(), from_file->vocab_size());
  EXPECT_EQ((*from_folder)->eos_id(), from_file->eos_id());
  EXPECT_EQ((*from_folder)->Encode("Hello world"), from_file->Encode("Hello world"));
}

}  // namespace
}  // namespace ponder::engine
