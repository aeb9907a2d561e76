// `ponder tokenize`: prints the token ids of a text, space-separated on one line (or as a JSON
// array with --json). Scripts and checks depend on this output format.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/flags.h"
#include "base/mapped_file.h"
#include "base/status_macros.h"
#include "cli/command.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ponder::cli {
namespace {

absl::Status Tokenize(std::span<char* const> args) {
  std::string model, tokenizer_path, text, file;
  bool json = false, no_bos = false, parse_special = false;
  FlagParser flags(
      "ponder tokenize (--model PATH | --tokenizer PATH) (--text STR | --file F) [--json] "
      "[--no-bos] [--parse-special]");
  flags.AddString("model", &model, "a GGUF model file or a Hugging Face model folder");
  flags.AddString("tokenizer", &tokenizer_path, "a vocab-only GGUF file or a tokenizer.json");
  flags.AddString("text", &text, "the text to tokenize");
  flags.AddString("file", &file, "a file whose contents to tokenize, byte for byte");
  flags.AddBool("json", &json, "print a JSON array instead of space-separated ids");
  flags.AddBool("no-bos", &no_bos,
                "never prepend BOS (by default it is prepended iff the vocabulary asks for it)");
  flags.AddBool("parse-special", &parse_special,
                "recognise control tokens written in the text, such as <|im_end|>, as the "
                "engine does with every prompt (generate, solve, bench); without it they are "
                "tokenized as plain text");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (!flags.positional().empty()) {
    return flags.UsageError(absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (flags.WasSet("model") == flags.WasSet("tokenizer")) {
    return flags.UsageError("give exactly one of --model and --tokenizer");
  }
  if (flags.WasSet("text") == flags.WasSet("file")) {
    return flags.UsageError("give exactly one of --text and --file");
  }
  if (flags.WasSet("file")) {
    PONDER_ASSIGN_OR_RETURN(text, ReadFileToString(file));
  }
  // Open takes a tokenizer.json too, and called a README given as --model 'not valid JSON' (QA of
  // stop 35).
  std::error_code error;
  if (flags.WasSet("model") && !std::filesystem::is_directory(model, error) &&
      std::filesystem::exists(model, error) && !IsGgufFile(model)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model ", model,
                     ": neither a GGUF file (it does not start with GGUF) nor a Hugging Face model "
                     "folder; a tokenizer.json goes to --tokenizer"));
  }
  PONDER_ASSIGN_OR_RETURN(std::unique_ptr<engine::Tokenizer> tokenizer,
                          engine::Tokenizer::Open(flags.WasSet("model") ? model : tokenizer_path));
  const std::vector<int32_t> ids = tokenizer->Encode(
      text,
      {.add_bos = !no_bos && tokenizer->add_bos_by_default(), .parse_special = parse_special});
  const std::string line = json ? nlohmann::json(ids).dump() : absl::StrJoin(ids, " ");
  std::printf("%s\n", line.c_str());
  return absl::OkStatus();
}

int RunTokenize(std::span<char* const> args) { return ReportStatus("tokenize", Tokenize(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("tokenize", "print the token ids of a text", RunTokenize);

}  // namespace ponder::cli
