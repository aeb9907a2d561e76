// `ponder tokenize`, run as a user runs it: the output format scripts depend on, the BOS
// default, and usage errors.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tiny_vocabularies.h"
#include "tests/engine/tokenizer/tokenizer_test_util.h"
#include "tests/testing/run_command.h"

namespace ponder::engine {
namespace {

using ::testing::HasSubstr;
using testing::PathExists;
using testing::SharedPath;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout, or stdout + stderr with `merge_stderr`
};

std::string Quote(const std::string& argument) {
  std::string quoted = "'";
  for (char c : argument) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

CommandResult RunPonder(const std::vector<std::string>& args, bool merge_stderr = false) {
  std::string command = Quote(std::string(PONDER_BINARY_DIR) + "/bin/ponder");
  for (const std::string& arg : args) command += " " + Quote(arg);
  command += merge_stderr ? " 2>&1" : " 2>/dev/null";
  ponder::testutil::CommandOutput run = ponder::testutil::RunCommand(command);
  return {run.exit_code, run.out};
}

class TokenizeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PathExists(std::string(PONDER_BINARY_DIR) + "/bin/ponder")) {
      GTEST_SKIP() << "the ponder binary is not built";
    }
    dir_ = ::testing::TempDir() + "/tokenize_cli_test";
    std::string make_dir = "mkdir -p " + Quote(dir_);
    ASSERT_EQ(std::system(make_dir.c_str()), 0);
    tiny_json_ = dir_ + "/tokenizer.json";
    std::ofstream(tiny_json_) << testing::TinyByteLevelTokenizerJson().dump();
  }
  std::string dir_;
  std::string tiny_json_;
};

TEST_F(TokenizeCommandTest, PrintsIdsSpaceSeparatedOrAsJson) {
  CommandResult run = RunPonder({"tokenize", "--tokenizer", tiny_json_, "--text", "hello world"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, "259 264\n");
  run = RunPonder({"tokenize", "--tokenizer", tiny_json_, "--text", "hello world", "--json"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, "[259,264]\n");
  run = RunPonder({"tokenize", "--tokenizer", tiny_json_, "--text", "", "--json"});
  EXPECT_EQ(run.output, "[]\n");
}

TEST_F(TokenizeCommandTest, ReadsTheTextFromAFileByteForByte) {
  const std::string file = dir_ + "/input.txt";
  std::ofstream(file) << "hello\n";
  const CommandResult run = RunPonder({"tokenize", "--tokenizer", tiny_json_, "--file", file});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, "259 10\n");
}

TEST_F(TokenizeCommandTest, ParsesSpecialTokensOnlyWhenAsked) {
  CommandResult run =
      RunPonder({"tokenize", "--tokenizer", tiny_json_, "--text", "<|end|>", "--parse-special"});
  EXPECT_EQ(run.output, "300\n");
  run = RunPonder({"tokenize", "--tokenizer", tiny_json_, "--text", "<|end|>"});
  EXPECT_THAT(run.output, ::testing::Not(HasSubstr("300")));
}

TEST_F(TokenizeCommandTest, AddsBosWhenTheVocabularyAsksUnlessNoBos) {
  const std::string path = SharedPath("tokenizers/llama.cpp-vectors/ggml-vocab-llama-spm.gguf");
  if (!PathExists(path)) GTEST_SKIP() << "shared data absent: " << path;
  CommandResult run = RunPonder({"tokenize", "--tokenizer", path, "--text", "Hello world"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, "1 15043 3186\n");
  run = RunPonder({"tokenize", "--tokenizer", path, "--text", "Hello world", "--no-bos"});
  EXPECT_EQ(run.output, "15043 3186\n");
  const std::string gpt2 = SharedPath("tokenizers/llama.cpp-vectors/ggml-vocab-gpt-2.gguf");
  run = RunPonder({"tokenize", "--tokenizer", gpt2, "--text", "Hello world"});
  EXPECT_EQ(run.output, "15496 995\n");  // GPT-2 does not ask for BOS
}

TEST_F(TokenizeCommandTest, TakesAHuggingFaceModelFolder) {
  const std::string folder = SharedPath("tokenizers/hf/qwen3");
  if (!PathExists(folder)) GTEST_SKIP() << "shared data absent: " << folder;
  const CommandResult run =
      RunPonder({"tokenize", "--model", folder, "--text", "<|im_start|>user\n", "--parse-special"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.output, "151644 872 198\n");
}

TEST_F(TokenizeCommandTest, UsageErrorsExitWithTwoAndSayWhatIsWrong) {
  CommandResult run = RunPonder({"tokenize", "--text", "hi"}, /*merge_stderr=*/true);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("exactly one of --model and --tokenizer"));
  run = RunPonder({"tokenize", "--tokenizer", tiny_json_, "--text", "a", "--file", "b"}, true);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("exactly one of --text and --file"));
  run = RunPonder({"tokenize", "--help"}, true);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("--parse-special"));
}

TEST_F(TokenizeCommandTest, MissingOrMalformedTokenizersAreErrorsNamingTheFile) {
  CommandResult run =
      RunPonder({"tokenize", "--tokenizer", dir_ + "/missing.json", "--text", "hi"}, true);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr(dir_ + "/missing.json"));
  const std::string broken = dir_ + "/broken.json";
  std::ofstream(broken) << "{\"model\": {\"type\": \"BPE\"";
  run = RunPonder({"tokenize", "--tokenizer", broken, "--text", "hi"}, true);
  EXPECT_EQ(run.exit_code, 2);  // a malformed file is an invalid argument
  EXPECT_THAT(run.output, HasSubstr("broken.json"));
  EXPECT_THAT(run.output, HasSubstr("not valid JSON"));
}

// --model takes a GGUF file or a model folder; a README given there was called 'not valid JSON'
// (QA of stop 35), as --model fell through to the tokenizer.json reader.
TEST_F(TokenizeCommandTest, AModelThatIsNeitherGgufNorAFolderIsNamedAsSuch) {
  const std::string readme = dir_ + "/README.md";
  std::ofstream(readme) << "# a model card\n";
  CommandResult run = RunPonder({"tokenize", "--model", readme, "--text", "hi"}, true);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("--model " + readme +
                                    ": neither a GGUF file (it does not start with GGUF) nor a "
                                    "Hugging Face model folder; a tokenizer.json goes to "
                                    "--tokenizer"));
  run = RunPonder({"tokenize", "--model", tiny_json_, "--text", "hi"}, true);
  EXPECT_EQ(run.exit_code, 2);
}

}  // namespace
}  // namespace ponder::engine
