#include "engine/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/model/quantize.h"
#include "engine/model/safetensors_writer.h"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> WithHeader(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string ParseError(const std::vector<uint8_t>& bytes) {
  auto file = SafetensorsFile::Parse(bytes, "model.safetensors");
  EXPECT_FALSE(file.ok());
  return std::string(file.status().message());
}

TEST(SafetensorsTest, RoundTripsTensorsAndMetadata) {
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  writer.AddTensor("a", DType::kF32, {2, 3}, EncodeAs(DType::kF32, a));
  writer.AddTensor("b", DType::kBF16, {6}, EncodeAs(DType::kBF16, a));
  std::vector<uint8_t> bytes = writer.Serialize();
  auto file = SafetensorsFile::Parse(bytes, "x");
  ASSERT_TRUE(file.ok()) << file.status();
  const SafetensorsTensor* t = (*file)->Find("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  float v;
  std::memcpy(&v, t->data.data() + 5 * 4, 4);
  EXPECT_EQ(v, 6.0f);
  EXPECT_EQ((*file)->Find("b")->dtype, DType::kBF16);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

TEST(SafetensorsTest, RejectsBrokenHeadersWithTheReason) {
  EXPECT_THAT(ParseError({1, 2, 3}), HasSubstr("shorter than the 8-byte header length"));
  std::vector<uint8_t> huge = WithHeader("{}", 0);
  uint64_t n = uint64_t{1} << 40;
  std::memcpy(huge.data(), &n, 8);
  EXPECT_THAT(ParseError(huge), HasSubstr("exceeds the 100 MiB limit"));
  std::vector<uint8_t> long_header = WithHeader("{}", 0);
  n = 100;
  std::memcpy(long_header.data(), &n, 8);
  EXPECT_THAT(ParseError(long_header), HasSubstr("file truncated"));
  EXPECT_THAT(ParseError(WithHeader("{not json", 0)), HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseError(WithHeader("[1]", 0)), HasSubstr("not a JSON object"));
}

TEST(SafetensorsTest, RejectsBadTensorEntriesNamingTheTensor) {
  EXPECT_THAT(
      ParseError(WithHeader(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8)),
      HasSubstr("tensor 'w': dtype I64 is not supported"));
  EXPECT_THAT(
      ParseError(WithHeader(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
      HasSubstr("tensor 'w': shape needs 12 bytes"));
  EXPECT_THAT(
      ParseError(WithHeader(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)),
      HasSubstr("outside the data section"));
  EXPECT_THAT(
      ParseError(WithHeader(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 8)),
      HasSubstr("non-negative integers"));
  EXPECT_THAT(ParseError(WithHeader(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    12)),
              HasSubstr("overlap"));
  EXPECT_THAT(ParseError(WithHeader(R"({"w":{"dtype":"F32","shape":[2]}})", 8)),
              HasSubstr("data_offsets"));
}

TEST(SafetensorsTest, EveryTruncationIsAnError) {
  SafetensorsWriter writer;
  std::vector<float> a(16, 1.0f);
  writer.AddTensor("a", DType::kF16, {4, 4}, EncodeAs(DType::kF16, a));
  std::vector<uint8_t> bytes = writer.Serialize();
  for (size_t size = 0; size < bytes.size(); ++size) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    EXPECT_FALSE(SafetensorsFile::Parse(prefix, "cut").ok()) << size;
  }
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / "ponder_checkpoint_test";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WriteShard(const std::string& name, const std::string& tensor) {
    SafetensorsWriter writer;
    std::vector<float> values = {1, 2};
    writer.AddTensor(tensor, DType::kF32, {2}, EncodeAs(DType::kF32, values));
    ASSERT_TRUE(writer.WriteFile((dir_ / name).string()).ok());
  }
  void WriteIndex(const std::string& json) {
    std::ofstream(dir_ / "model.safetensors.index.json") << json;
  }
  std::filesystem::path dir_;
};

TEST_F(CheckpointTest, OpensShardsThroughTheIndex) {
  WriteShard("model-00001-of-00002.safetensors", "x");
  WriteShard("model-00002-of-00002.safetensors", "y");
  WriteIndex(R"({"weight_map": {"x": "model-00001-of-00002.safetensors",
                                "y": "model-00002-of-00002.safetensors"}})");
  auto checkpoint = SafetensorsCheckpoint::Open(dir_.string());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_NE((*checkpoint)->Find("x"), nullptr);
  EXPECT_NE((*checkpoint)->Find("y"), nullptr);
  EXPECT_EQ((*checkpoint)->TensorNames(), (std::vector<std::string>{"x", "y"}));
}

TEST_F(CheckpointTest, IndexEntryMissingFromItsShardIsAnError) {
  WriteShard("model-00001-of-00001.safetensors", "x");
  WriteIndex(R"({"weight_map": {"z": "model-00001-of-00001.safetensors"}})");
  auto checkpoint = SafetensorsCheckpoint::Open(dir_.string());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_THAT(std::string(checkpoint.status().message()),
              HasSubstr("tensor 'z' is listed in model-00001-of-00001.safetensors"));
}

TEST_F(CheckpointTest, IndexCannotPointOutsideTheFolder) {
  WriteIndex(R"({"weight_map": {"z": "../../etc/passwd"}})");
  auto checkpoint = SafetensorsCheckpoint::Open(dir_.string());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_THAT(std::string(checkpoint.status().message()),
              HasSubstr("not a file in the checkpoint folder"));
}

TEST_F(CheckpointTest, EmptyFolderSaysWhatIsMissing) {
  auto checkpoint = SafetensorsCheckpoint::Open(dir_.string());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_THAT(std::string(checkpoint.status().message()), HasSubstr("no model.safetensors"));
}

}  // namespace
}  // namespace ponder::engine
