// `ponder datasets list|show|export|fetch`: what datasets Ponder knows, where they are, what
// their problems and prompts look like, the built-in task as JSON Lines, and downloads
// (datasets/dataset.h, datasets/fetch.h, datasets/prompt.h).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/flags.h"
#include "base/strings.h"
#include "cli/command.h"
#include "datasets/dataset.h"
#include "datasets/fetch.h"
#include "datasets/prompt.h"
#include "nlohmann/json.hpp"
#include "orchestrator/builtin_datasets.h"

namespace ponder::cli {
namespace {

constexpr char kCommand[] = "datasets";
constexpr char kUsage[] =
    "ponder datasets list [--data-dir DIR]\n"
    "       ponder datasets show NAME [--split S] [--data-dir DIR] [--path FILE] [--count K]\n"
    "                                 [--prompt] [--family F] [--few-shot K] [--system TEXT]\n"
    "       ponder datasets export NAME [--split S] [--count N] [--seed S] [--difficulty D]\n"
    "                                   [--data-dir DIR] [--path FILE] [--offset K] [--out FILE]\n"
    "       ponder datasets fetch NAME [--cache-dir DIR] [--mirror URL] [--force]\n"
    "\n"
    "Datasets: gsm8k, math, math500, humaneval, mbpp, mbpp-sanitized (read from files) and\n"
    "arith (the built-in arithmetic task, generated from --seed). Files are looked for under\n"
    "--data-dir DIR, else $PONDER_DATA_DIR, else ~/.cache/ponder/datasets (where `fetch` puts\n"
    "them); `show NAME` lists the paths tried.\n"
    "\n"
    "list    every dataset, its splits and whether it is present\n"
    "show    a dataset's description, files and first --count problems (default 1); --prompt\n"
    "        also prints the prompt of the first one for --family (qwen-math, llama,\n"
    "        deepseek-r1, plain) with --few-shot K exemplars\n"
    "export  JSON Lines on stdout (or --out FILE), one {\"id\", \"problem\", \"solution\",\n"
    "        \"answer\"} per problem; code datasets as problems-file code rows (\"problem\",\n"
    "        \"answer_format\": \"code\", \"tests\" or \"test_code\", \"setup\",\n"
    "        \"example_tests\"), so `ponder bench --problems` on the file benchmarks the same\n"
    "        problems as --dataset. --count N exports N problems from --offset K on (default:\n"
    "        the rest of the split). For arith: --split train|test (500 problems each unless\n"
    "        --count asks for more), --seed S (problem i has seed S+i), --difficulty 2..5\n"
    "        steps (0 = mixed, the default).\n"
    "fetch   downloads a dataset from its canonical location, checks its SHA-256 and stores\n"
    "        it under --cache-dir (default: the data dir above); --mirror URL fetches\n"
    "        <URL>/<dataset>/<file> instead (a local copy served over HTTP).\n"
    "\n"
    "Lines that cannot be read are reported on stderr as FILE:LINE and skipped; the count of\n"
    "skipped lines is printed.";

int UsageError(std::string message) {
  return ReportStatus(kCommand, absl::InvalidArgumentError(std::move(message)));
}

// Prints the warnings of a load (at most 10) and the count, on stderr.
void ReportSkipped(const datasets::LoadedDataset& loaded) {
  for (const std::string& line : datasets::SkippedLines(loaded)) {
    PrintToStderr("ponder datasets", line);
  }
}

// Flags shared by show and export: which problems to load.
struct LoadFlags {
  std::string split;
  std::string data_dir;
  std::string path;
  int64_t count = -1;
  int64_t offset = 0;
  int64_t seed = 0;
  int difficulty = 0;

  void Add(FlagParser& flags) {
    flags.AddString("split", &split, "the split (default: the dataset's first, usually test)");
    flags.AddString("data-dir", &data_dir, "folder holding the datasets");
    flags.AddString("path", &path, "read this file (or MATH folder) instead");
    flags.AddInt("offset", &offset, "skip this many problems first");
    flags.AddInt("seed", &seed, "arith: seed of the first problem");
    flags.AddInt("difficulty", &difficulty, "arith: steps per problem, 2..5 (0: mixed)");
  }
  datasets::DatasetOptions Options() const {
    datasets::DatasetOptions options;
    options.data_dir = datasets::ResolveDataDir(data_dir).path;
    options.path = path;
    options.split = split;
    options.offset = offset;
    options.arith.seed = static_cast<uint64_t>(seed);
    options.arith.difficulty = difficulty;
    // --count N is N problems from --offset on, for every dataset; arith generates as many as
    // that takes (problem i is the same whatever the count).
    if (count >= 0) options.limit = count;
    return options;
  }
};

std::string Kind(const datasets::DatasetInfo& info) {
  if (info.is_code) return "code";
  return info.name == "gsm8k" || info.name == "arith" ? "number" : "latex";
}

int RunList(std::span<char* const> args) {
  std::string data_dir_flag;
  FlagParser flags("ponder datasets list [--data-dir DIR]");
  flags.AddString("data-dir", &data_dir_flag, "folder holding the datasets");
  if (absl::Status status = flags.Parse(args); !status.ok()) return ReportStatus(kCommand, status);
  if (!flags.positional().empty()) {
    return UsageError(absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  datasets::DataDir data_dir = datasets::ResolveDataDir(data_dir_flag);
  absl::PrintF("data dir: %s (%s)\n\n", data_dir.path, data_dir.origin);
  absl::PrintF("%-15s %-36s %-7s %-10s %s\n", "NAME", "SPLITS", "ANSWER", "PRESENT", "ABOUT");
  for (const datasets::DatasetInfo& info : datasets::ListDatasets()) {
    std::string present = "generated";
    if (!info.generated) {
      std::vector<std::string> found;
      for (const std::string& split : info.splits) {
        if (datasets::LocateDatasetSource(info.name, split, data_dir.path).ok()) {
          found.push_back(split);
        }
      }
      present = found.empty() ? "no" : found.size() == info.splits.size() ? "yes" : "partly";
    }
    absl::PrintF("%-15s %-36s %-7s %-10s %s\n", info.name, absl::StrJoin(info.splits, ","),
                 Kind(info), present, info.description);
  }
  return 0;
}

void PrintPrompt(const datasets::Prompt& prompt) {
  absl::PrintF("\n--- prompt: chat messages ---\n");
  for (const datasets::ChatMessage& message : prompt.messages) {
    absl::PrintF("[%s]\n%s\n", message.role, message.content);
  }
  absl::PrintF("\n--- prompt: raw text (stop at %s) ---\n%s\n",
               prompt.raw_stop.empty() ? std::string("end of sequence")
                                       : nlohmann::json(prompt.raw_stop).dump(),
               prompt.raw_text);
}

int RunShow(std::span<char* const> args) {
  LoadFlags load;
  load.count = 1;
  bool show_prompt = false;
  std::string family_name = "qwen-math";
  int few_shot = 0;
  std::string system;
  FlagParser flags("ponder datasets show NAME [flags]");
  load.Add(flags);
  flags.AddInt("count", &load.count, "problems to print (default 1; 0: none)");
  flags.AddBool("prompt", &show_prompt, "print the prompt of the first problem");
  flags.AddString("family", &family_name, "model family for --prompt");
  flags.AddInt("few-shot", &few_shot, "exemplars in the --prompt");
  flags.AddString("system", &system, "system prompt for --prompt (replaces the family's)");
  if (absl::Status status = flags.Parse(args); !status.ok()) return ReportStatus(kCommand, status);
  if (flags.positional().size() != 1) return UsageError("show needs one dataset NAME");
  const std::string& name = flags.positional()[0];
  const datasets::DatasetInfo* info = datasets::FindDataset(name);
  if (info == nullptr) {
    return ReportStatus(kCommand, datasets::LoadDataset(name, {}).status());
  }
  absl::StatusOr<datasets::ModelFamily> family = datasets::ParseModelFamily(family_name);
  if (!family.ok()) {
    return UsageError(absl::StrCat("--family: ", family.status().message()));
  }
  datasets::DataDir data_dir = datasets::ResolveDataDir(load.data_dir);
  absl::PrintF("dataset: %s\n%s\n", info->name, info->description);
  absl::PrintF("license: %s\n", info->license);
  absl::PrintF("splits: %s (the first is the default)\n", absl::StrJoin(info->splits, ", "));
  absl::PrintF("graded by: %s\n", info->is_code ? "unit tests (code verifier)"
                                                : absl::StrCat("answer, ", Kind(*info)));
  if (!info->generated) {
    absl::PrintF("data dir: %s (%s)\n", data_dir.path, data_dir.origin);
    for (const auto& [split, candidates] : info->files) {
      absl::StatusOr<std::string> found =
          datasets::LocateDatasetSource(info->name, split, data_dir.path);
      absl::PrintF("  %-10s %s\n", split,
                   found.ok() ? *found
                              : absl::StrCat("missing (tried ", absl::StrJoin(candidates, ", "),
                                             " under the data dir)"));
    }
    absl::StatusOr<std::vector<datasets::RemoteFile>> sources = datasets::FetchSources(name);
    if (sources.ok()) {
      absl::PrintF("fetch sources:\n");
      for (const datasets::RemoteFile& file : *sources) {
        absl::PrintF("  %s <- %s\n     %d bytes, sha256 %s; %s\n", file.path, file.url, file.size,
                     file.sha256, file.origin);
      }
    }
  }
  if (!info->notes.empty()) absl::PrintF("notes: %s\n", info->notes);
  if (load.count <= 0 && !show_prompt) return 0;

  const int64_t shown = load.count;
  load.count = -1;  // load the whole split to report its size
  absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadDataset(name, load.Options());
  if (!loaded.ok()) return ReportStatus(kCommand, loaded.status());
  ReportSkipped(*loaded);
  absl::PrintF("\nread %s: %d problems (from offset %d), %d records skipped\n",
               absl::StrJoin(loaded->sources, ", "), loaded->problems.size(), load.offset,
               loaded->skipped);
  if (static_cast<int64_t>(loaded->problems.size()) > shown) {
    loaded->problems.resize(static_cast<size_t>(std::max<int64_t>(shown, show_prompt ? 1 : 0)));
  }
  for (const datasets::Problem& problem : loaded->problems) {
    absl::PrintF("\n[%s]%s%s\n%s\n", problem.id,
                 problem.level > 0 ? absl::StrCat(" level ", problem.level) : "",
                 problem.subject.empty() ? "" : absl::StrCat(" ", problem.subject),
                 problem.question);
    if (problem.code.has_value()) {
      absl::PrintF("tests: %d%s\n", problem.code->test_list.size(),
                   problem.code->entry_point.empty()
                       ? ""
                       : absl::StrCat(" (check ", problem.code->entry_point, ")"));
    } else {
      absl::PrintF("answer: %s\n", problem.reference_answer);
    }
  }
  if (show_prompt && !loaded->problems.empty()) {
    datasets::PromptOptions options;
    options.family = *family;
    options.few_shot = few_shot;
    if (flags.WasSet("system")) options.system_prompt = system;
    absl::StatusOr<datasets::Prompt> prompt = datasets::BuildPrompt(loaded->problems[0], options);
    if (!prompt.ok()) return ReportStatus(kCommand, prompt.status());
    PrintPrompt(*prompt);
  }
  return 0;
}

nlohmann::ordered_json ExportRecord(const datasets::Problem& problem) {
  nlohmann::ordered_json record;
  record["id"] = problem.id;
  if (problem.code.has_value()) {
    // A problems-file code row (datasets/row_parsers.h) holding what a benchmark of the dataset
    // gives the problem (orchestrator::ProblemProto): the harness's prompt as its text, the
    // dataset's tests as they are run, the examples the unit_tests verifier checks (after the
    // same setup). `ponder bench --problems` on the export benchmarks the same problems; the
    // dataset's entry point and reference solution come along (the parser ignores them).
    const v1::Problem proto = orchestrator::ProblemProto(problem);
    const v1::CodeTests& tests = proto.code_tests();
    record["problem"] = proto.text();
    record["answer_format"] = "code";
    if (!tests.setup().empty()) record["setup"] = tests.setup();
    if (tests.tests_size() > 0) {
      record["tests"] = std::vector<std::string>(tests.tests().begin(), tests.tests().end());
    } else {
      record["test_code"] = tests.test_code();
    }
    const v1::CodeTests& examples = proto.example_tests();
    if (examples.tests_size() > 0) {
      record["example_tests"] =
          std::vector<std::string>(examples.tests().begin(), examples.tests().end());
    }
    if (!problem.code->entry_point.empty()) record["entry_point"] = problem.code->entry_point;
    record["canonical_solution"] = problem.code->canonical_solution;
    return record;
  }
  record["problem"] = problem.question;
  record["solution"] = problem.solution;
  record["answer"] = problem.reference_answer;
  if (problem.dataset == "arith") {
    record["difficulty"] = problem.level;
  } else if (problem.level > 0 || !problem.subject.empty()) {
    record["level"] = problem.level;
    record["subject"] = problem.subject;
  }
  return record;
}

int RunExport(std::span<char* const> args) {
  LoadFlags load;
  std::string out_path;
  FlagParser flags("ponder datasets export NAME [flags]");
  load.Add(flags);
  flags.AddInt("count", &load.count, "problems to export from --offset on (default: the rest)");
  flags.AddString("out", &out_path, "write here instead of stdout");
  if (absl::Status status = flags.Parse(args); !status.ok()) return ReportStatus(kCommand, status);
  if (flags.positional().size() != 1) return UsageError("export needs one dataset NAME");
  const std::string& name = flags.positional()[0];
  if (load.count < -1 || (flags.WasSet("count") && load.count < 0)) {
    return UsageError(absl::StrCat("--count must not be negative, got ", load.count));
  }
  if (name == "arith" && flags.WasSet("count") && load.count == 0) {
    return UsageError("--count 0: nothing to export");
  }
  if (load.seed < 0)
    return UsageError(absl::StrCat("--seed must not be negative, got ", load.seed));
  absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadDataset(name, load.Options());
  if (!loaded.ok()) return ReportStatus(kCommand, loaded.status());
  ReportSkipped(*loaded);

  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path, std::ios::binary | std::ios::trunc);
    if (!file) {
      return ReportStatus(
          kCommand, absl::PermissionDeniedError(absl::StrCat("cannot write --out ", out_path)));
    }
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  for (const datasets::Problem& problem : loaded->problems) {
    out << ExportRecord(problem).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << '\n';
  }
  out.flush();
  if (!out) {
    return ReportStatus(
        kCommand, absl::DataLossError(
                      absl::StrCat("writing ", out_path.empty() ? "stdout" : out_path, " failed")));
  }
  if (!out_path.empty()) {
    absl::FPrintF(stderr, "ponder datasets: wrote %d problems to %s\n", loaded->problems.size(),
                  out_path);
  }
  return 0;
}

int RunFetch(std::span<char* const> args) {
  datasets::FetchOptions options;
  FlagParser flags("ponder datasets fetch NAME [--cache-dir DIR] [--mirror URL] [--force]");
  flags.AddString("cache-dir", &options.cache_dir,
                  "where to store it (default: $PONDER_DATA_DIR or ~/.cache/ponder/datasets)");
  flags.AddString("mirror", &options.mirror, "fetch <URL>/<dataset>/<file> instead");
  flags.AddBool("force", &options.force, "download even if a verified copy is present");
  if (absl::Status status = flags.Parse(args); !status.ok()) return ReportStatus(kCommand, status);
  if (flags.positional().size() != 1) return UsageError("fetch needs one dataset NAME");
  options.cache_dir = datasets::ResolveDataDir(options.cache_dir).path;
  absl::StatusOr<std::vector<datasets::FetchedFile>> fetched =
      datasets::FetchDataset(flags.positional()[0], options);
  if (!fetched.ok()) return ReportStatus(kCommand, fetched.status());
  for (const datasets::FetchedFile& file : *fetched) {
    absl::PrintF("%s %s (%d bytes, checksum verified)\n",
                 file.downloaded ? "downloaded" : "present   ", file.path, file.bytes);
  }
  absl::PrintF("use it with --data-dir %s\n", options.cache_dir);
  return 0;
}

int RunDatasets(std::span<char* const> args) {
  if (args.empty()) {
    absl::FPrintF(stderr, "ponder datasets: missing subcommand\n\n%s\n", kUsage);
    return 2;
  }
  std::string_view sub = args[0];
  std::span<char* const> rest = args.subspan(1);
  if (sub == "--help" || sub == "help" || sub == "-h") {
    absl::PrintF("%s\n", kUsage);
    return 0;
  }
  if (sub == "list") return RunList(rest);
  if (sub == "show") return RunShow(rest);
  if (sub == "export") return RunExport(rest);
  if (sub == "fetch") return RunFetch(rest);
  return UsageError(absl::StrCat("unknown subcommand '", AsAbsl(sub),
                                 "' (expected list, show, export or fetch)"));
}

}  // namespace

PONDER_REGISTER_COMMAND("datasets", "list, show, export (built-in task) and fetch datasets",
                        RunDatasets);

}  // namespace ponder::cli
