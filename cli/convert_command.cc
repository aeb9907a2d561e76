// `ponder convert`: a Hugging Face model folder to a GGUF file (that llama.cpp loads too), or a
// GGUF file back to a Hugging Face folder; the direction follows from the input. See
// engine/convert/convert.h for what is converted and how.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/flags.h"
#include "base/status_macros.h"
#include "cli/command.h"
#include "engine/convert/convert.h"

namespace ponder::cli {
namespace {

// What may be replaced at --output without --force: nothing there yet; for a GGUF file, a
// regular file (a rename would replace a symbolic link, a FIFO or a device with the file); for a
// folder, an empty one or one holding only a previous conversion's files (anything else is
// likely a Hugging Face folder whose files would be overwritten). A GGUF file never replaces a
// folder, --force or not.
absl::Status CheckOutput(const std::string& output, bool to_folder, bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(output, ec);
  if (ec || !fs::exists(link)) return absl::OkStatus();
  if (!to_folder && fs::is_directory(link)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--output ", output,
                     ": is a folder, and a Hugging Face folder converts to one GGUF file; give the "
                     "file's path (e.g. ",
                     (fs::path(output) / "model.gguf").string(), ")"));
  }
  if (force) return absl::OkStatus();
  constexpr char kRemedy[] = "; give a new path, or --force to replace it";
  if (!to_folder) {
    if (fs::is_regular_file(link)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("--output ", output, ": is ",
                     fs::is_symlink(link) ? "a symbolic link (the link itself would be replaced)"
                                          : "not a regular file (a FIFO, socket or device)",
                     kRemedy));
  }
  if (!fs::is_directory(output, ec)) return absl::OkStatus();  // convert names what it is
  for (const fs::directory_entry& entry : fs::directory_iterator(output, ec)) {
    const std::string file = entry.path().filename().string();
    if (absl::c_find(engine::kConvertedFolderFiles, file) ==
        std::end(engine::kConvertedFolderFiles)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output ", output, ": the folder holds '", file,
          "', so it is not an earlier conversion's output; converting into it would overwrite "
          "its config.json, model.safetensors and tokenizer files",
          kRemedy));
    }
  }
  return absl::OkStatus();
}

absl::Status Convert(std::span<char* const> args) {
  std::string input, output, dtype_name = "auto", name, pre_tokenizer;
  bool force = false;
  FlagParser flags(
      "ponder convert --input (HF_FOLDER | MODEL.gguf) --output (OUT.gguf | OUT_FOLDER) "
      "[--dtype auto|f32|f16|bf16|q8_0|q4_0] [--name NAME] [--pre-tokenizer TYPE] [--force]");
  flags.AddString("input", &input,
                  "a Hugging Face model folder (converted to GGUF) or a GGUF file (converted to a "
                  "Hugging Face folder)");
  flags.AddString("output", &output, "the GGUF file or the folder to write");
  flags.AddString("dtype", &dtype_name,
                  "type of the weight matrices: auto (keep the source's float type), f32, f16, "
                  "bf16, and for GGUF output q8_0 or q4_0");
  flags.AddString("name", &name, "GGUF general.name (default: the input folder's name)");
  flags.AddString("pre-tokenizer", &pre_tokenizer,
                  "llama.cpp pre-tokenizer type (tokenizer.ggml.pre) to write when the "
                  "tokenizer.json's is not recognised");
  flags.AddBool("force", &force,
                "replace --output even when it is not a regular file, or is a folder with "
                "other files than a conversion writes (its tokenizer files are removed when the "
                "GGUF file has no tokenizer: they would not match the weights; chat template "
                "files always: they would override the converted template)");
  PONDER_RETURN_IF_ERROR(flags.Parse(args));
  if (!flags.positional().empty()) {
    return flags.UsageError(absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (input.empty() || output.empty()) {
    return flags.UsageError("--input and --output are required");
  }
  engine::ConvertOptions options;
  options.name = name;
  options.pre_tokenizer = pre_tokenizer;
  if (dtype_name != "auto") {
    options.dtype = engine::ParseDType(dtype_name);
    if (!options.dtype.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dtype: '", dtype_name, "' is not one of auto, f32, f16, bf16, q8_0, q4_0"));
    }
  }

  std::error_code ec;
  absl::StatusOr<engine::ConvertReport> report;
  if (std::filesystem::is_directory(input, ec)) {
    PONDER_RETURN_IF_ERROR(CheckOutput(output, /*to_folder=*/false, force));
    report = engine::ConvertHuggingFaceToGguf(input, output, options);
  } else if (IsGgufFile(input)) {
    PONDER_RETURN_IF_ERROR(CheckOutput(output, /*to_folder=*/true, force));
    report = engine::ConvertGgufToHuggingFace(input, output, options);
    if (report.ok() && absl::EndsWithIgnoreCase(output, ".gguf")) {
      PrintToStderr("ponder convert",
                    absl::StrCat("warning: --output ", output,
                                 " ends in .gguf, but a GGUF input converts to a Hugging Face "
                                 "folder: that is what it is"));
    }
  } else if (!std::filesystem::exists(input, ec)) {
    return absl::NotFoundError(absl::StrCat(input, ": no such file or folder"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(input, ": neither a folder nor a GGUF file (it does not start with GGUF)"));
  }
  if (!report.ok()) return report.status();
  std::printf("wrote %s: %lld tensors, %s, matrices %s", report->output.c_str(),
              static_cast<long long>(report->tensors),
              absl::StrFormat("%.1f MiB", report->bytes / 1048576.0).c_str(),
              std::string(engine::DTypeName(report->dtype)).c_str());
  if (!report->other_dtype_tensors.empty()) {
    std::printf(" (kept f16: %s)", absl::StrJoin(report->other_dtype_tensors, ", ").c_str());
  }
  std::printf("\n");
  for (const std::string& note : report->notes) PrintToStderr("note", note);
  return absl::OkStatus();
}

int RunConvert(std::span<char* const> args) { return ReportStatus("convert", Convert(args)); }

}  // namespace

PONDER_REGISTER_COMMAND("convert", "convert a Hugging Face folder to GGUF, or GGUF to a folder",
                        RunConvert);

}  // namespace ponder::cli
