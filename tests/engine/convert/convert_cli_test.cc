// `ponder convert` run as a user runs it: both directions, the summary line, and usage errors
// with their exit codes.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "base/mapped_file.h"
#include "engine/model/gguf.h"
#include "engine/testing/random_model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ponder::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `ponder <arguments>` through the shell, its output collected in `log`.
CommandResult RunPonder(const std::string& arguments, const std::string& log) {
  const int status = std::system(
      (std::string(PONDER_BINARY_DIR) + "/bin/ponder " + arguments + " >" + log + " 2>&1").c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFileToString(log).value_or("")};
}

class ConvertCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(std::string(PONDER_BINARY_DIR) + "/bin/ponder")) {
      GTEST_SKIP() << "the ponder binary is not built";
    }
    // One folder per test: CTest runs the tests of this file in parallel.
    dir_ = ::testing::TempDir() + "/convert_cli_test_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    log_ = dir_ + ".log";
    fs::remove_all(dir_);
    testing::RandomModelSpec spec;
    spec.architecture = Architecture::kQwen2;
    ASSERT_TRUE(testing::WriteRandomHuggingFaceModel(spec, DType::kF32, dir_ + "/model").ok());
  }
  std::string dir_;
  std::string log_;
};

TEST_F(ConvertCommandTest, ConvertsBothWays) {
  CommandResult to_gguf = RunPonder(
      "convert --input " + dir_ + "/model --output " + dir_ + "/model.gguf --dtype q8_0", log_);
  ASSERT_EQ(to_gguf.exit_code, 0) << to_gguf.output;
  EXPECT_THAT(to_gguf.output, HasSubstr("wrote " + dir_ + "/model.gguf: 27 tensors"));
  EXPECT_THAT(to_gguf.output, HasSubstr("matrices q8_0"));
  auto gguf = GgufFile::Open(dir_ + "/model.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  EXPECT_EQ(*(*gguf)->GetString("general.name"), "model");

  CommandResult back =
      RunPonder("convert --input " + dir_ + "/model.gguf --output " + dir_ + "/back", log_);
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_THAT(back.output, HasSubstr("matrices f32"));
  for (const char* file :
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(dir_ + "/back/" + file)) << file;
  }
}

TEST_F(ConvertCommandTest, UsageErrorsExitWithTwo) {
  CommandResult bad_dtype = RunPonder(
      "convert --input " + dir_ + "/model --output " + dir_ + "/x.gguf --dtype q5_k", log_);
  EXPECT_EQ(bad_dtype.exit_code, 2);
  EXPECT_THAT(bad_dtype.output,
              HasSubstr("--dtype: 'q5_k' is not one of auto, f32, f16, bf16, q8_0, q4_0"));
  CommandResult missing = RunPonder("convert --input " + dir_ + "/model", log_);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("--input and --output are required"));
  CommandResult nothing = RunPonder("convert --input " + dir_ + "/absent --output x.gguf", log_);
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_THAT(nothing.output, HasSubstr(dir_ + "/absent: no such file or folder"));
  EXPECT_FALSE(fs::exists(dir_ + "/x.gguf"));
}

}  // namespace
}  // namespace ponder::engine
