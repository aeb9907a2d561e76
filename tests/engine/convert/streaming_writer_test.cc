// The streaming write path of GgufWriter and SafetensorsWriter (tensors produced while the file
// is written) and the atomic file underneath: the same bytes as the in-memory path, and nothing
// left behind when a producer fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "base/mapped_file.h"
#include "engine/model/atomic_file.h"
#include "engine/model/gguf_writer.h"
#include "engine/model/quantize.h"
#include "engine/model/safetensors_writer.h"

namespace ponder::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return (fs::path(::testing::TempDir()) / ("streaming_" + name)).string();
}

std::vector<float> Ramp(size_t n) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = 0.25f * static_cast<float>(i) - 3.0f;
  return values;
}

// Files in `dir` whose name starts with `prefix` (temporary files left behind).
int FilesStartingWith(const std::string& dir, const std::string& prefix) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    count += entry.path().filename().string().starts_with(prefix);
  }
  return count;
}

TEST(StreamingWriterTest, GgufStreamedEqualsSerializedInMemory) {
  const std::vector<uint8_t> q8 = EncodeAs(DType::kQ8_0, Ramp(96));
  const std::vector<uint8_t> f32 = EncodeAs(DType::kF32, Ramp(5));  // 20 bytes: padded
  GgufWriter in_memory, streamed;
  for (GgufWriter* writer : {&in_memory, &streamed}) writer->SetString("general.name", "x");
  in_memory.AddTensor("a", DType::kQ8_0, {32, 3}, q8);
  in_memory.AddTensor("b", DType::kF32, {5}, f32);
  streamed.DeclareTensor("a", DType::kQ8_0, {32, 3});
  streamed.AddTensor("b", DType::kF32, {5}, f32);  // in-memory and declared tensors mix
  const std::string path = TempPath("model.gguf");
  ASSERT_TRUE(streamed
                  .WriteFile(path,
                             [&](size_t index, ByteSink sink) -> absl::Status {
                               EXPECT_EQ(index, 0u);
                               // Row by row, as the converter delivers blocks.
                               for (size_t row = 0; row < 3; ++row) {
                                 absl::Status status = sink(std::span(q8).subspan(row * 34, 34));
                                 if (!status.ok()) return status;
                               }
                               return absl::OkStatus();
                             })
                  .ok());
  const std::vector<uint8_t> expected = in_memory.Serialize();
  EXPECT_EQ(*ReadFileToString(path), std::string(expected.begin(), expected.end()));
}

TEST(StreamingWriterTest, SafetensorsStreamedEqualsSerializedInMemory) {
  const std::vector<uint8_t> bf16 = EncodeAs(DType::kBF16, Ramp(6));
  SafetensorsWriter in_memory, streamed;
  in_memory.AddTensor("w", DType::kBF16, {2, 3}, bf16);
  streamed.DeclareTensor("w", DType::kBF16, {2, 3});
  const std::string path = TempPath("model.safetensors");
  ASSERT_TRUE(streamed.WriteFile(path, [&](size_t, ByteSink sink) { return sink(bf16); }).ok());
  const std::vector<uint8_t> expected = in_memory.Serialize();
  EXPECT_EQ(*ReadFileToString(path), std::string(expected.begin(), expected.end()));
}

TEST(StreamingWriterTest, AFailedProducerLeavesNoFile) {
  const std::string dir = TempPath("failing");
  fs::create_directories(dir);
  GgufWriter writer;
  writer.DeclareTensor("first", DType::kF32, {4});
  writer.DeclareTensor("second", DType::kF32, {4});
  const std::vector<uint8_t> values = EncodeAs(DType::kF32, Ramp(4));
  const absl::Status failed =
      writer.WriteFile(dir + "/out.gguf", [&](size_t index, ByteSink sink) -> absl::Status {
        if (index == 1) return absl::DataLossError("source tensor unreadable");
        return sink(values);
      });
  EXPECT_EQ(failed.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FilesStartingWith(dir, "out.gguf"), 0) << "neither the file nor its temporary";

  // A producer that delivers the wrong amount is caught, naming the tensor.
  const absl::Status short_tensor = writer.WriteFile(
      dir + "/out.gguf", [&](size_t, ByteSink sink) { return sink(std::span(values).first(8)); });
  EXPECT_THAT(std::string(short_tensor.message()),
              HasSubstr("tensor 'first' produced 8 bytes, expected 16"));
  EXPECT_EQ(FilesStartingWith(dir, "out.gguf"), 0);
  // Declared tensors need a producer.
  EXPECT_THAT(std::string(writer.WriteFile(dir + "/out.gguf").message()),
              HasSubstr("tensor 'first' was declared but no producer was given"));
}

TEST(StreamingWriterTest, ReplacesAnExistingFileOnlyOnCommit) {
  const std::string path = TempPath("replace.bin");
  ASSERT_TRUE(WriteFileAtomically(path, std::vector<uint8_t>{1, 2, 3}).ok());
  {
    auto writer = AtomicFileWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(std::vector<uint8_t>{9, 9}).ok());
    EXPECT_EQ(*ReadFileToString(path), "\x01\x02\x03") << "the old file stands until Commit";
  }  // abandoned: no commit
  EXPECT_EQ(*ReadFileToString(path), "\x01\x02\x03");
  auto writer = AtomicFileWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->WriteZeros(3).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(*ReadFileToString(path), std::string(3, '\0'));
  EXPECT_FALSE(AtomicFileWriter::Create("/nonexistent/dir/file").ok());
}

}  // namespace
}  // namespace ponder::engine
