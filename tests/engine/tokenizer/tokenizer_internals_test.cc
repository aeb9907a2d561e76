// The tokenizer's building blocks: UTF-8 sanitizing, the byte-level alphabet, the PCRE2
// wrapper, pre-tokenizer split behaviours, the BPE merge loop and the added-token matcher.
#include <random>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "engine/tokenizer/added_tokens.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer_state.h"
#include "engine/tokenizer/unicode_regex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tokenizer_test_util.h"

namespace ponder::engine {
namespace {

using testing::CachedTokenizer;
using ::testing::ElementsAre;
using testing::PathExists;
using testing::ReadWholeFile;
using testing::SharedPath;

std::string Sanitize(std::string_view bytes) {
  std::string out;
  AppendSanitizedUtf8(bytes, /*at_end=*/true, &out);
  return out;
}

TEST(Utf8Test, ReplacesEachMaximalIllFormedSubpartLikePython) {
  // Expected strings are Python's bytes.decode("utf-8", errors="replace").
  EXPECT_EQ(Sanitize("plain ascii"), "plain ascii");
  EXPECT_EQ(Sanitize("\xE2\x82\xAC"), "€");
  EXPECT_EQ(Sanitize("a\x80"
                     "b"),
            "a\uFFFD"
            "b");
  EXPECT_EQ(Sanitize("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");            // a surrogate
  EXPECT_EQ(Sanitize("\xC0\xAF"), "\uFFFD\uFFFD");                      // an overlong form
  EXPECT_EQ(Sanitize("\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // above U+10FFFF
  EXPECT_EQ(Sanitize("\xE2\x28\xA1"), "\uFFFD(\uFFFD");
  EXPECT_EQ(Sanitize("\xF0\x9F\xA6"
                     "A"),
            "\uFFFD"
            "A");
  EXPECT_EQ(Sanitize("\xE2\x82"), "\uFFFD");  // truncated at the end
}

TEST(Utf8Test, HoldsBackAnIncompleteTailUntilTheEnd) {
  std::string out;
  EXPECT_EQ(AppendSanitizedUtf8("ok\xF0\x9F", /*at_end=*/false, &out), 2u);
  EXPECT_EQ(out, "ok");
  out.clear();
  EXPECT_EQ(AppendSanitizedUtf8("ok\xF0\x9F", /*at_end=*/true, &out), 4u);
  EXPECT_EQ(out, "ok\uFFFD");
  out.clear();
  // A tail that can no longer become valid is not held back.
  EXPECT_EQ(AppendSanitizedUtf8("\xF0"
                                "A",
                                /*at_end=*/false, &out),
            2u);
  EXPECT_EQ(out,
            "\uFFFD"
            "A");
}

TEST(Utf8Test, DecodesAndValidates) {
  char32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\xA6\x99", &cp), 4u);
  EXPECT_EQ(cp, U'\U0001F999');
  EXPECT_EQ(DecodeUtf8("\xC0\xAF", &cp), 0u);
  EXPECT_TRUE(IsValidUtf8("Grüße 🦙"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  std::string encoded;
  AppendUtf8(U'\u2581', &encoded);
  EXPECT_EQ(encoded, "▁");
}

TEST(ByteLevelTest, MapsBytesAsGpt2Does) {
  EXPECT_EQ(ByteLevelEncode(" "), "Ġ");
  EXPECT_EQ(ByteLevelEncode("\n"), "Ċ");
  EXPECT_EQ(ByteLevelEncode("\t"), "ĉ");
  EXPECT_EQ(ByteLevelEncode("a!~"), "a!~");
  EXPECT_EQ(ByteLevelCodePoint(0xAD), U'\u0143');  // the last of the 68 remapped bytes
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string round_trip;
  EXPECT_TRUE(ByteLevelDecode(ByteLevelEncode(all), &round_trip));
  EXPECT_EQ(round_trip, all);
}

TEST(ByteLevelTest, DecodeCopiesCharactersOutsideTheAlphabet) {
  std::string out;
  EXPECT_FALSE(ByteLevelDecode("Ġк", &out));
  EXPECT_EQ(out, " к");
}

TEST(UnicodeRegexTest, WidensWhitespaceClassesToUnicodeWhiteSpace) {
  EXPECT_EQ(WidenWhitespaceClasses(R"(\s+(?!\S))"), R"([\s\x{85}]+(?![^\s\x{85}]))");
  EXPECT_EQ(WidenWhitespaceClasses(R"([^\s\p{L}])"), R"([^\s\x{85}\p{L}])");
  EXPECT_EQ(WidenWhitespaceClasses(R"(\\s \Q\s\E [\]\s])"), R"(\\s \Q\s\E [\]\s\x{85}])");
}

std::vector<std::string> Matches(const UnicodeRegex& regex, std::string_view subject) {
  std::vector<std::string> matches;
  regex.ForEachMatch(subject, [&](size_t begin, size_t end) {
    matches.emplace_back(subject.substr(begin, end - begin));
  });
  return matches;
}

TEST(UnicodeRegexTest, MatchesUnicodePropertiesAndNextLineAsWhitespace) {
  auto letters = UnicodeRegex::Compile(R"(\p{L}+)");
  ASSERT_TRUE(letters.ok());
  EXPECT_THAT(Matches(**letters, "ab1 Grüße"), ElementsAre("ab", "Grüße"));
  auto space = UnicodeRegex::Compile(R"(\s)");
  ASSERT_TRUE(space.ok());
  EXPECT_THAT(Matches(**space, "a\u0085b\u3000c"), ElementsAre("\u0085", "\u3000"));
  auto non_space = UnicodeRegex::Compile(R"(\S+)");
  ASSERT_TRUE(non_space.ok());
  EXPECT_THAT(Matches(**non_space, "a\u0085b"), ElementsAre("a", "b"));
}

TEST(UnicodeRegexTest, IllFormedBytesNeverMatchAndEmptyMatchesMakeProgress) {
  auto letters = UnicodeRegex::Compile(R"(\p{L}+)");
  ASSERT_TRUE(letters.ok());
  EXPECT_THAT(Matches(**letters,
                      "ab\xFF"
                      "cd\xE2\x82"),
              ElementsAre("ab", "cd"));
  auto maybe = UnicodeRegex::Compile("x*");
  ASSERT_TRUE(maybe.ok());
  EXPECT_THAT(Matches(**maybe, "abxxc"), ElementsAre("xx"));
}

TEST(UnicodeRegexTest, CatastrophicBacktrackingStopsAtTheMatchLimit) {
  auto regex = UnicodeRegex::Compile("(a+)+$");
  ASSERT_TRUE(regex.ok());
  // 2^40 ways to split the a's: without a limit this would not finish.
  const std::string subject = "ok " + std::string(40, 'a') + "b";
  EXPECT_THAT(Matches(**regex, subject), ElementsAre());
}

TEST(UnicodeRegexTest, BadPatternsAreErrorsNamingThePattern) {
  auto regex = UnicodeRegex::Compile("(unclosed");
  ASSERT_FALSE(regex.ok());
  EXPECT_THAT(std::string(regex.status().message()), ::testing::HasSubstr("(unclosed"));
}

std::vector<std::string> Pieces(SplitBehavior behavior, std::string_view text,
                                bool invert = false) {
  PreTokenizer pre_tokenizer;
  pre_tokenizer.AddSplit(*UnicodeRegex::CompileLiteral("-"), behavior, invert);
  std::vector<std::string> pieces;
  pre_tokenizer.ForEachPiece(text, [&](std::string_view piece) { pieces.emplace_back(piece); });
  return pieces;
}

TEST(PreTokenizerTest, SplitBehavioursFollowHuggingFaceTokenizers) {
  // The examples of tokenizers' NormalizedString::split documentation (empty pieces dropped).
  EXPECT_THAT(Pieces(SplitBehavior::kRemoved, "the-final--countdown"),
              ElementsAre("the", "final", "countdown"));
  EXPECT_THAT(Pieces(SplitBehavior::kIsolated, "the-final--countdown"),
              ElementsAre("the", "-", "final", "-", "-", "countdown"));
  EXPECT_THAT(Pieces(SplitBehavior::kMergedWithPrevious, "the-final--countdown"),
              ElementsAre("the-", "final-", "-", "countdown"));
  EXPECT_THAT(Pieces(SplitBehavior::kMergedWithNext, "the-final--countdown"),
              ElementsAre("the", "-final", "-", "-countdown"));
  EXPECT_THAT(Pieces(SplitBehavior::kContiguous, "the-final--countdown"),
              ElementsAre("the", "-", "final", "--", "countdown"));
  EXPECT_THAT(Pieces(SplitBehavior::kRemoved, "the-final--countdown", /*invert=*/true),
              ElementsAre("-", "-", "-"));
}

TEST(PreTokenizerTest, PrefixSpaceStepAddsASpaceOnlyWhereMissing) {
  PreTokenizer pre_tokenizer;
  pre_tokenizer.AddPrefixSpace();
  std::vector<std::string> pieces;
  for (std::string_view text : {"hello", " world"}) {
    pre_tokenizer.ForEachPiece(text, [&](std::string_view piece) { pieces.emplace_back(piece); });
  }
  EXPECT_THAT(pieces, ElementsAre(" hello", " world"));
}

TEST(PreTokenizerTest, LlamaCppTypesUseTheirVocabularyExpressions) {
  bool ignore_merges = false;
  bool add_bos = false;
  auto llama3 = PreTokenizer::ForLlamaCppType("llama-bpe", &ignore_merges, &add_bos);
  ASSERT_TRUE(llama3.ok());
  EXPECT_TRUE(ignore_merges);
  EXPECT_TRUE(add_bos);
  EXPECT_THAT(llama3->Patterns(), ElementsAre(std::string(kLlama3Pattern)));
  std::vector<std::string> pieces;
  llama3->ForEachPiece("I'M 12345 ok\n\n", [&](std::string_view p) { pieces.emplace_back(p); });
  EXPECT_THAT(pieces, ElementsAre("I", "'M", " ", "123", "45", " ok", "\n\n"));
  auto qwen = PreTokenizer::ForLlamaCppType("qwen2", &ignore_merges, &add_bos);
  ASSERT_TRUE(qwen.ok());
  EXPECT_FALSE(ignore_merges);
  EXPECT_FALSE(add_bos);
  for (const char* name :
       {"default",   "gpt-2",  "llama3",           "llama-bpe", "falcon3",     "dbrx",
        "smaug-bpe", "qwen2",  "deepseek-r1-qwen", "stablelm2", "megrez",      "mpt",
        "olmo",      "jais",   "starcoder",        "refact",    "command-r",   "smollm",
        "codeshell", "exaone", "minerva-7b",       "falcon",    "chatglm-bpe", "tekken"}) {
    auto pre_tokenizer = PreTokenizer::ForLlamaCppType(name, &ignore_merges, &add_bos);
    EXPECT_TRUE(pre_tokenizer.ok()) << name << ": " << pre_tokenizer.status();
  }
  auto unknown = PreTokenizer::ForLlamaCppType("no-such-type", &ignore_merges, &add_bos);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("no-such-type"));
}

TEST(BytePairEncoderTest, PriorityQueueMergeEqualsTheNaiveLoop) {
  // Random pieces of real text and random bytes, through the Qwen and Llama 3 merge tables.
  std::vector<std::string> sources;
  for (const char* text : {"Hello, world! ", " the quick brown fox", "ааааааа", "1234567", "    ",
                           "llama 🦙 ñandú", "xxxxxxxxxxxxxxxxxxxxxxxx"}) {
    sources.emplace_back(text);
  }
  const std::string gsm8k = SharedPath("datasets/gsm8k/test.jsonl");
  if (PathExists(gsm8k)) sources.push_back(ReadWholeFile(gsm8k).substr(0, 20000));
  int compared = 0;
  for (const char* path :
       {"tokenizers/hf/qwen3/tokenizer.json", "tokenizers/hf/llama3/tokenizer.json"}) {
    if (!PathExists(SharedPath(path))) GTEST_SKIP() << "shared data absent: " << SharedPath(path);
    const Tokenizer* tokenizer = CachedTokenizer(SharedPath(path));
    ASSERT_NE(tokenizer, nullptr);
    const BytePairEncoder& encoder = *tokenizer->state().byte_pair_encoder;
    std::mt19937 rng(20240601);
    for (int i = 0; i < 3000; ++i) {
      std::string piece;
      if (i % 4 == 3) {
        for (int n = rng() % 24; n > 0; --n) piece.push_back(static_cast<char>(rng() % 256));
      } else {
        const std::string& source = sources[rng() % sources.size()];
        const size_t begin = rng() % source.size();
        piece = source.substr(begin, 1 + rng() % 40);
      }
      std::vector<int32_t> fast;
      std::vector<int32_t> naive;
      encoder.EncodePiece(piece, &fast);
      encoder.EncodePieceNaive(piece, &naive);
      ASSERT_EQ(fast, naive) << path << ": '" << piece << "'";
      ++compared;
    }
  }
  EXPECT_EQ(compared, 6000);
}

std::vector<std::string> Split(const AddedTokenMatcher& matcher, std::string_view text,
                               bool parse_special) {
  std::vector<AddedTokenMatcher::Fragment> fragments;
  matcher.Split(text, parse_special, &fragments);
  std::vector<std::string> out;
  for (const auto& fragment : fragments) {
    out.push_back(fragment.token >= 0 ? "#" + std::to_string(fragment.token)
                                      : std::string(fragment.text));
  }
  return out;
}

TEST(AddedTokenMatcherTest, TakesTheLeftmostLongestTokenAndHonoursStripFlags) {
  const AddedTokenMatcher matcher({
      {.text = "<|a", .id = 1, .special = true},
      {.text = "<|ab|>", .id = 2, .special = true},
      {.text = "ab", .id = 3},
      {.text = "bc", .id = 4},
      {.text = "<L>", .id = 5, .lstrip = true},
      {.text = "<R>", .id = 6, .rstrip = true},
  });
  EXPECT_THAT(Split(matcher, "x<|ab|>y", true), ElementsAre("x", "#2", "y"));
  EXPECT_THAT(Split(matcher, "x<|ay", true), ElementsAre("x", "#1", "y"));
  EXPECT_THAT(Split(matcher, "abc", true), ElementsAre("#3", "c"));
  EXPECT_THAT(Split(matcher, "x<|ab|>y", false), ElementsAre("x<|", "#3", "|>y"));
  EXPECT_THAT(Split(matcher, "a \t<L> b", false), ElementsAre("a", "#5", " b"));
  EXPECT_THAT(Split(matcher, "a <R> \n b", false), ElementsAre("a ", "#6", "b"));
  EXPECT_THAT(Split(matcher, "<R>  ", false), ElementsAre("#6"));
  EXPECT_THAT(Split(matcher, "", true), ElementsAre());
}

}  // namespace
}  // namespace ponder::engine
