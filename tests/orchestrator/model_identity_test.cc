// ModelFingerprint: what it covers (orchestrator/model_identity.h), on real model files.
#include "orchestrator/model_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/mapped_file.h"
#include "engine/model/gguf.h"
#include "engine/model/safetensors.h"
#include "engine/testing/random_model.h"
#include "tests/orchestrator/test_util.h"

namespace ponder::orchestrator {
namespace {

using testing::TempPath;

// Large enough (about 14 MB in f32) that its files are sampled, not hashed whole.
engine::testing::RandomModelSpec MidSizeSpec() {
  engine::testing::RandomModelSpec spec;
  spec.num_layers = 4;
  spec.hidden_size = 256;
  spec.intermediate_size = 1024;
  spec.num_heads = 8;
  spec.num_kv_heads = 4;
  spec.head_dim = 32;
  spec.vocab_size = 4096;
  return spec;
}

void FlipByte(const std::string& path, size_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5a);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&byte, 1);
}

// Each tensor's first byte is changed in turn, in place: every change gives another
// fingerprint (a same-size edit of a norm weight is another model).
void ExpectEveryTensorsStartIsFingerprinted(const std::string& path,
                                            const std::vector<size_t>& offsets) {
  absl::StatusOr<std::string> original = ModelFingerprint(path);
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_GT(offsets.size(), 30u);
  for (size_t offset : offsets) {
    FlipByte(path, offset);
    EXPECT_NE(*ModelFingerprint(path), *original) << "a change at byte " << offset;
    FlipByte(path, offset);
  }
  EXPECT_EQ(*ModelFingerprint(path), *original);
}

std::vector<size_t> TensorOffsets(const std::string& path) {
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  EXPECT_TRUE(file.ok());
  std::vector<size_t> offsets;
  if (path.ends_with(".gguf")) {
    auto gguf = engine::GgufFile::Parse(file->bytes(), path);
    EXPECT_TRUE(gguf.ok()) << gguf.status();
    for (const auto& tensor : (*gguf)->tensors()) {
      offsets.push_back(static_cast<size_t>(tensor.data.data() - file->bytes().data()));
    }
  } else {
    auto safetensors = engine::SafetensorsFile::Parse(file->bytes(), path);
    EXPECT_TRUE(safetensors.ok()) << safetensors.status();
    for (const auto& tensor : (*safetensors)->tensors()) {
      offsets.push_back(static_cast<size_t>(tensor.data.data() - file->bytes().data()));
    }
  }
  return offsets;
}

TEST(ModelFingerprintTest, EveryGgufTensorsStartIsCovered) {
  const std::string path = TempPath("mid.gguf");
  ASSERT_TRUE(engine::testing::WriteRandomGgufModel(MidSizeSpec(), engine::DType::kF32, path).ok());
  ASSERT_GT(std::filesystem::file_size(path), size_t{10} << 20);
  ExpectEveryTensorsStartIsFingerprinted(path, TensorOffsets(path));
}

TEST(ModelFingerprintTest, EverySafetensorsTensorsStartIsCovered) {
  const std::string folder = TempPath("mid_hf");
  ASSERT_TRUE(
      engine::testing::WriteRandomHuggingFaceModel(MidSizeSpec(), engine::DType::kF32, folder)
          .ok());
  const std::string weights = folder + "/model.safetensors";
  ASSERT_GT(std::filesystem::file_size(weights), size_t{10} << 20);
  ExpectEveryTensorsStartIsFingerprinted(weights, TensorOffsets(weights));
}

// A folder's fingerprint covers exactly the files the engine reads: its chat templates count,
// a README or notes do not.
TEST(ModelFingerprintTest, AFoldersFingerprintCoversTheFilesTheLoaderReads) {
  const std::string folder = TempPath("hf");
  ASSERT_TRUE(engine::testing::WriteRandomHuggingFaceModel(engine::testing::RandomModelSpec(),
                                                           engine::DType::kF32, folder)
                  .ok());
  const std::string original = *ModelFingerprint(folder);
  EXPECT_THAT(original, ::testing::StartsWith("v2:"));

  std::ofstream(folder + "/README.txt") << "notes\n";
  std::ofstream(folder + "/trainer_state.json") << "{}\n";
  std::filesystem::create_directories(folder + "/extra");
  std::ofstream(folder + "/extra/more.json") << "{}\n";
  EXPECT_EQ(*ModelFingerprint(folder), original);

  std::string previous = original;
  for (const char* file : {"chat_template.jinja", "chat_template.json",
                           "additional_chat_templates/tool_use.jinja", "generation_config.json"}) {
    std::filesystem::create_directories(std::filesystem::path(folder + "/" + file).parent_path());
    std::ofstream(folder + "/" + file) << "{\"chat_template\": \"{{ messages }}\"}";
    const std::string changed = *ModelFingerprint(folder);
    EXPECT_NE(changed, previous) << file;
    previous = changed;
  }
}

// Before schema version 3 only the policy's path was recorded, as typed: the file it names is
// compared, so a relative path or a symbolic link to the model loaded here is the same model;
// another file is refused. The reward models, not recorded, cannot be compared: stderr says so.
TEST(ModelFingerprintTest, APathFromBeforeVersion3IsComparedAsTheFileItNames) {
  const std::string link = TempPath("link.gguf");
  std::filesystem::create_symlink(testing::TinyModelPath(), link);
  ExperimentModels here;
  here.policy = {testing::TinyModelPath(), *ModelFingerprint(testing::TinyModelPath())};
  ExperimentModels recorded;
  recorded.policy.path = link;
  EXPECT_TRUE(CheckSameModels(1, recorded, here).ok());
  recorded.policy.path =
      std::filesystem::relative(testing::TinyModelPath(), std::filesystem::current_path());
  EXPECT_TRUE(CheckSameModels(1, recorded, here).ok());
  recorded.policy.path = TempPath("elsewhere.gguf");
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckSameModels(1, recorded, here)));

  recorded.policy.path = link;
  here.reward_models["prm"] = {"/models/prm.gguf", "v2:1:0"};
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(CheckSameModels(1, recorded, here).ok());
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              ::testing::HasSubstr("(prm=/models/prm.gguf) is not checked"));
}

}  // namespace
}  // namespace ponder::orchestrator
