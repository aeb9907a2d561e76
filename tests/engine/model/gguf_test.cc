#include "engine/model/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "base/strings.h"
#include "engine/model/gguf_writer.h"
#include "engine/model/quantize.h"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> SmallFile() {
  GgufWriter writer;
  writer.SetString("general.architecture", "llama");
  writer.SetUint32("llama.block_count", 2);
  writer.SetFloat32("llama.rope.freq_base", 500000.0f);
  writer.SetBool("tokenizer.ggml.add_bos_token", true);
  std::vector<std::string> tokens = {"a", "b", "<s>"};
  writer.SetStringArray("tokenizer.ggml.tokens", tokens);
  std::vector<float> scores = {0.5f, -1.0f, 0.0f};
  writer.SetFloat32Array("tokenizer.ggml.scores", scores);
  std::vector<float> matrix(64 * 2);
  for (size_t i = 0; i < matrix.size(); ++i) matrix[i] = static_cast<float>(i) / 16;
  writer.AddTensor("weight_f32", DType::kF32, {64, 2}, EncodeAs(DType::kF32, matrix));
  writer.AddTensor("weight_q8", DType::kQ8_0, {64, 2}, EncodeAs(DType::kQ8_0, matrix));
  return writer.Serialize();
}

TEST(GgufTest, RoundTripsMetadataAndTensors) {
  std::vector<uint8_t> bytes = SmallFile();
  auto file = GgufFile::Parse(bytes, "small.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->version(), 3u);
  EXPECT_EQ(*(*file)->GetString("general.architecture"), "llama");
  EXPECT_EQ(*(*file)->GetUint("llama.block_count"), 2u);
  EXPECT_EQ(*(*file)->GetInt("llama.block_count"), 2);
  EXPECT_FLOAT_EQ(*(*file)->GetFloat("llama.rope.freq_base"), 500000.0);
  EXPECT_TRUE(*(*file)->GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_THAT(*(*file)->GetStringArray("tokenizer.ggml.tokens"),
              ::testing::ElementsAre("a", "b", "<s>"));
  EXPECT_THAT(*(*file)->GetFloatArray("tokenizer.ggml.scores"),
              ::testing::ElementsAre(0.5f, -1.0f, 0.0f));
  ASSERT_EQ((*file)->tensors().size(), 2u);
  const GgufTensorInfo* f32 = (*file)->FindTensor("weight_f32");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->dims, (std::vector<uint64_t>{64, 2}));
  ASSERT_EQ(f32->data.size(), 64u * 2 * 4);
  float last;
  std::memcpy(&last, f32->data.data() + f32->data.size() - 4, 4);
  EXPECT_EQ(last, 127.0f / 16);
  const GgufTensorInfo* q8 = (*file)->FindTensor("weight_q8");
  ASSERT_NE(q8, nullptr);
  EXPECT_EQ(q8->dtype, DType::kQ8_0);
  EXPECT_EQ(q8->data.size(), 4u * sizeof(BlockQ8_0));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q8->data.data()) % 32,
            reinterpret_cast<uintptr_t>(bytes.data()) % 32);
}

TEST(GgufTest, GettersNameTheKeyOnMissingOrMistypedValues) {
  std::vector<uint8_t> bytes = SmallFile();
  auto file = GgufFile::Parse(bytes, "small.gguf");
  ASSERT_TRUE(file.ok());
  absl::Status missing = (*file)->GetUint("llama.nope").status();
  EXPECT_THAT(std::string(missing.message()), HasSubstr("'llama.nope' is missing"));
  absl::Status mistyped = (*file)->GetString("llama.block_count").status();
  EXPECT_THAT(std::string(mistyped.message()), HasSubstr("uint32, expected string"));
  EXPECT_FALSE((*file)->GetBool("general.architecture").ok());
}

// Every truncation of a valid file is an error, never a crash or a read past the end. (Only the
// alignment padding after the last tensor may be cut without loss.)
TEST(GgufTest, EveryTruncationIsAnErrorNamingTheFile) {
  std::vector<uint8_t> bytes = SmallFile();
  auto whole = GgufFile::Parse(bytes, "whole.gguf");
  ASSERT_TRUE(whole.ok());
  const GgufTensorInfo& last = (*whole)->tensors().back();
  const size_t end_of_data =
      static_cast<size_t>(last.data.data() + last.data.size() - bytes.data());
  for (size_t size = 0; size < end_of_data; ++size) {
    // A copy of exactly `size` bytes, so ASan catches any read beyond it.
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    auto file = GgufFile::Parse(prefix, "cut.gguf");
    ASSERT_FALSE(file.ok()) << "prefix of " << size << " bytes parsed";
    EXPECT_THAT(std::string(file.status().message()), HasSubstr("cut.gguf"));
  }
}

// Offsets of fields in SmallFile(): header (24 bytes) then the first key "general.architecture".
constexpr size_t kVersionOffset = 4;
constexpr size_t kTensorCountOffset = 8;
constexpr size_t kFirstKeyLengthOffset = 24;

template <typename T>
void Poke(std::vector<uint8_t>& bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

size_t FindTensorInfo(const std::vector<uint8_t>& bytes, std::string_view name) {
  std::string needle(name);
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  return static_cast<size_t>(it - bytes.begin()) + needle.size();  // just after the name
}

TEST(GgufTest, RejectsCorruptHeaders) {
  std::vector<uint8_t> bytes = SmallFile();
  {
    std::vector<uint8_t> b = bytes;
    b[0] = 'X';
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()), HasSubstr("bad magic"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint32_t>(b, kVersionOffset, 7);
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()),
                HasSubstr("unsupported GGUF version 7"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint64_t>(b, kTensorCountOffset, uint64_t{1} << 40);
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()),
                HasSubstr("implausible tensor count"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint64_t>(b, kFirstKeyLengthOffset, ~uint64_t{0} - 3);
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()),
                HasSubstr("exceeds the remaining"));
  }
}

TEST(GgufTest, RejectsBadTensorInfosNamingTheTensor) {
  std::vector<uint8_t> bytes = SmallFile();
  const size_t info = FindTensorInfo(bytes, "weight_q8");  // n_dims, dims[2], type, offset
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint32_t>(b, info + 4 + 16, 12);  // q4_K
    std::string message(GgufFile::Parse(b, "f").status().message());
    EXPECT_THAT(message, HasSubstr("tensor 'weight_q8'"));
    EXPECT_THAT(message, HasSubstr("q4_K"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint64_t>(b, info + 4 + 16 + 4, 3);  // misaligned offset
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()), HasSubstr("not aligned"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint64_t>(b, info + 4 + 16 + 4, 1 << 20);  // beyond the end
    std::string message(GgufFile::Parse(b, "f").status().message());
    EXPECT_THAT(message, HasSubstr("tensor 'weight_q8'"));
    EXPECT_THAT(message, HasSubstr("beyond the end of the file"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint64_t>(b, info + 4, 33);  // row length not a multiple of the Q8_0 block
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()),
                HasSubstr("not a multiple of the q8_0 block size"));
  }
  {
    std::vector<uint8_t> b = bytes;
    Poke<uint64_t>(b, info + 4 + 8, uint64_t{1} << 62);  // element count overflow
    EXPECT_THAT(std::string(GgufFile::Parse(b, "f").status().message()), HasSubstr("overflows"));
  }
}

TEST(GgufTest, OpensVocabOnlyFileFromLlamaCpp) {
  std::string path =
      std::string(PONDER_SHARED_DIR) + "/tokenizers/llama.cpp-vectors/ggml-vocab-gpt-2.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared data absent: " << path;
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*(*file)->GetString("tokenizer.ggml.model"), "gpt2");
  auto tokens = (*file)->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 50257u);
  EXPECT_EQ((*tokens)[0], "!");
}

TEST(GgufTest, OpenReportsMissingFileByPath) {
  auto file = GgufFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("/nonexistent/model.gguf"));
}

}  // namespace
}  // namespace ponder::engine
