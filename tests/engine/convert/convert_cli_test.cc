// `ponder convert` run as a user runs it: both directions, the summary line, and usage errors
// with their exit codes.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

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

// A conversion to a folder that fails part-way (here a write past the shell's file size limit)
// leaves no folder it created behind, nested ones included (QA of stop 32: an empty folder
// stayed), and keeps a folder that was there.
TEST_F(ConvertCommandTest, AFailedConversionRemovesTheFoldersItCreated) {
  ASSERT_EQ(RunPonder("convert --input " + dir_ + "/model --output " + dir_ + "/model.gguf", log_)
                .exit_code,
            0);
  // SIGXFSZ ignored, so the write fails with EFBIG instead of killing the process; 40 blocks
  // are at most 40 KiB, less than the weights.
  const std::string limited = "trap '' XFSZ; ulimit -f 40; exec " + std::string(PONDER_BINARY_DIR) +
                              "/bin/ponder convert --input " + dir_ + "/model.gguf --output ";
  for (const std::string& output : {dir_ + "/back", dir_ + "/new/deeper/back"}) {
    const int status = std::system((limited + output + " >" + log_ + " 2>&1").c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
        << status << ": " << ReadFileToString(log_).value_or("");
    EXPECT_FALSE(fs::exists(output)) << output;
  }
  EXPECT_FALSE(fs::exists(dir_ + "/new"));
  fs::create_directories(dir_ + "/kept");
  const int status = std::system((limited + dir_ + "/kept >" + log_ + " 2>&1").c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_TRUE(fs::is_directory(dir_ + "/kept"));
}

// The output was replaced by a rename whatever it was (a FIFO, a symbolic link, a device), and
// a Hugging Face folder given as the output had its files overwritten; now only with --force.
TEST_F(ConvertCommandTest, AnOutputThatIsNotARegularFileOrAConversionIsKeptWithoutForce) {
  ASSERT_EQ(RunPonder("convert --input " + dir_ + "/model --output " + dir_ + "/model.gguf", log_)
                .exit_code,
            0);
  const std::string fifo = dir_ + "/fifo.gguf";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string target = dir_ + "/target.txt";
  std::ofstream(target) << "keep me";
  const std::string link = dir_ + "/link.gguf";
  fs::create_symlink(target, link);
  for (const auto& [output, what] : std::vector<std::pair<std::string, std::string>>{
           {fifo, "not a regular file"}, {link, "a symbolic link"}}) {
    CommandResult refused =
        RunPonder("convert --input " + dir_ + "/model --output " + output, log_);
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_THAT(refused.output, HasSubstr("--output " + output + ": is " + what));
    EXPECT_THAT(refused.output, HasSubstr("--force"));
  }
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_EQ(ReadFileToString(target).value_or(""), "keep me");
  // A regular file is replaced as before; --force replaces the link too.
  EXPECT_EQ(RunPonder("convert --input " + dir_ + "/model --output " + dir_ + "/model.gguf", log_)
                .exit_code,
            0);
  EXPECT_EQ(
      RunPonder("convert --input " + dir_ + "/model --output " + link + " --force", log_).exit_code,
      0);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(link)));
  EXPECT_EQ(ReadFileToString(target).value_or(""), "keep me");

  // A folder of other files (here the Hugging Face model itself) is not overwritten; an earlier
  // conversion's folder is.
  const std::string into_model =
      "convert --input " + dir_ + "/model.gguf --output " + dir_ + "/model";
  std::ofstream(dir_ + "/model/README.md") << "a model card";
  const std::string config_before = ReadFileToString(dir_ + "/model/config.json").value_or("");
  CommandResult folder = RunPonder(into_model, log_);
  EXPECT_EQ(folder.exit_code, 2) << folder.output;
  EXPECT_THAT(folder.output,
              HasSubstr("--output " + dir_ + "/model: the folder holds 'README.md'"));
  EXPECT_EQ(ReadFileToString(dir_ + "/model/config.json").value_or(""), config_before);
  const std::string again = "convert --input " + dir_ + "/model.gguf --output " + dir_ + "/back";
  EXPECT_EQ(RunPonder(again, log_).exit_code, 0);
  EXPECT_EQ(RunPonder(again, log_).exit_code, 0);
  EXPECT_EQ(RunPonder(into_model + " --force", log_).exit_code, 0);
}

// A folder given as a GGUF file's output: the message suggested --force, which then failed with
// "rename ... failed (Is a directory)", and it spoke of a GGUF input where the input was a
// Hugging Face folder (QA of stop 35). A GGUF input's output named *.gguf becomes a folder, with
// a warning.
TEST_F(ConvertCommandTest, AFolderIsNeverAGgufFilesOutputAndAFolderNamedGgufIsWarnedOf) {
  const std::string folder = dir_ + "/victim";
  fs::create_directories(folder);
  std::ofstream(folder + "/notes.txt") << "important";
  for (const std::string force : {"", " --force"}) {
    CommandResult refused =
        RunPonder("convert --input " + dir_ + "/model --output " + folder + force, log_);
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_THAT(refused.output,
                HasSubstr("--output " + folder +
                          ": is a folder, and a Hugging Face folder converts to one GGUF file; "
                          "give the file's path (e.g. " +
                          folder + "/model.gguf)"));
  }
  EXPECT_EQ(ReadFileToString(folder + "/notes.txt").value_or(""), "important");

  ASSERT_EQ(RunPonder("convert --input " + dir_ + "/model --output " + dir_ + "/model.gguf", log_)
                .exit_code,
            0);
  CommandResult named =
      RunPonder("convert --input " + dir_ + "/model.gguf --output " + dir_ + "/copy.gguf", log_);
  EXPECT_EQ(named.exit_code, 0) << named.output;
  EXPECT_THAT(named.output, HasSubstr("warning: --output " + dir_ +
                                      "/copy.gguf ends in .gguf, but a GGUF input converts to a "
                                      "Hugging Face folder: that is what it is"));
  EXPECT_TRUE(fs::is_directory(dir_ + "/copy.gguf"));
}

// An argument error prints its line, then the usage with its line breaks (they were escaped
// into one line of '\n's: QA of stop 35).
TEST_F(ConvertCommandTest, AnUnknownFlagPrintsTheUsageOnLinesOfItsOwn) {
  CommandResult unknown = RunPonder("convert --inptu x", log_);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output,
              HasSubstr("ponder convert: unknown flag --inptu\nusage: ponder convert"));
  EXPECT_THAT(unknown.output, HasSubstr("\n  --input "));
  EXPECT_EQ(unknown.output.find("\\n"), std::string::npos);
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
