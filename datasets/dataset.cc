#include "datasets/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "datasets/arith_task.h"
#include "datasets/records.h"
#include "datasets/row_parsers.h"

namespace ponder::datasets {
namespace {

namespace fs = std::filesystem;
using internal::RowParser;

enum class FileKind { kJsonLines, kJsonArray };

struct TaskIdRange {
  int64_t first = 0;
  int64_t last = 0;
};

// What LoadDataset needs beyond the public DatasetInfo.
struct DatasetSpec {
  DatasetInfo info;
  RowParser parser = nullptr;
  FileKind file_kind = FileKind::kJsonLines;
  // MBPP's splits are task-id ranges of one file (its README): split -> range.
  std::map<std::string, TaskIdRange, std::less<>> task_ids;
};

// "<dir>/<split>.jsonl" and "<dir>/<split>.jsonl.gz" for each split.
std::vector<std::pair<std::string, std::vector<std::string>>> JsonLinesPerSplit(
    std::string_view dir, const std::vector<std::string>& splits) {
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  for (const std::string& split : splits) {
    std::string base = absl::StrCat(AsAbsl(dir), "/", split, ".jsonl");
    files.push_back({split, {base, base + ".gz"}});
  }
  return files;
}

std::vector<std::pair<std::string, std::vector<std::string>>> SameFilesPerSplit(
    const std::vector<std::string>& splits, const std::vector<std::string>& paths) {
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  for (const std::string& split : splits) files.push_back({split, paths});
  return files;
}

const std::map<std::string, TaskIdRange, std::less<>>& MbppSplits() {
  // From MBPP's README (google-research/mbpp): task ids 1-10 are for few-shot prompting,
  // 11-510 test, 511-600 validation, 601-974 training.
  static const auto* const splits = new std::map<std::string, TaskIdRange, std::less<>>{
      {"test", {11, 510}},
      {"train", {601, 974}},
      {"validation", {511, 600}},
      {"prompt", {1, 10}},
      {"full", {1, std::numeric_limits<int64_t>::max()}},
  };
  return *splits;
}

std::vector<std::pair<std::string, std::vector<std::string>>> MathFiles() {
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  for (std::string split : {"test", "train"}) {
    files.push_back({split,
                     {"math/" + split + ".jsonl", "math/" + split + ".jsonl.gz",
                      "math/" + split + "/", "MATH/" + split + "/"}});
  }
  return files;
}

// The datasets, as a table.
std::vector<DatasetSpec> BuildSpecs() {
  const std::vector<std::string> mbpp_splits = {"test", "train", "validation", "prompt", "full"};
  const std::string mbpp_notes =
      "Splits are task-id ranges, as in the dataset's README: prompt 1-10 (few-shot "
      "exemplars; the paper's 3-shot prompt uses 2, 3 and 4), test 11-510, validation 511-600, "
      "train 601-974; full is every task.";
  std::vector<DatasetSpec> specs;
  specs.push_back(
      {.info = {.name = "gsm8k",
                .description = "GSM8K: grade-school math word problems; the gold answer follows "
                               "\"####\" (Cobbe et al. 2021, arXiv:2110.14168)",
                .license = "MIT",
                .splits = {"test", "train"},
                .fetchable = true,
                .files = JsonLinesPerSplit("gsm8k", {"test", "train"})},
       .parser = internal::ParseGsm8kRow});
  specs.push_back(
      {.info = {.name = "math",
                .description = "MATH: competition problems in 7 subjects and 5 levels; the gold "
                               "answer is the last \\boxed{} of the solution (Hendrycks et al. "
                               "2021, arXiv:2103.03874)",
                .license = "MIT",
                .splits = {"test", "train"},
                .files = MathFiles(),
                .notes = "No download with a known checksum exists, so `fetch` cannot get it: "
                         "download MATH.tar from the authors "
                         "(https://people.eecs.berkeley.edu/~hendrycks/MATH.tar) and extract it "
                         "in the data folder (MATH/test/<subject>/<n>.json), or put a JSON Lines "
                         "copy ({\"problem\", \"solution\", \"level\", \"type\"} per line) at "
                         "math/test.jsonl[.gz]."},
       .parser = internal::ParseMathRow});
  specs.push_back(
      {.info = {.name = "math500",
                .description = "MATH-500: the 500 MATH test problems of \"Let's Verify Step by "
                               "Step\" (Lightman et al. 2023), from openai/prm800k",
                .license = "MIT",
                .splits = {"test"},
                .fetchable = true,
                .files = JsonLinesPerSplit("math500", {"test"})},
       .parser = internal::ParseMathRow});
  specs.push_back(
      {.info = {.name = "humaneval",
                .description = "HumanEval: 164 Python functions to complete, checked by unit "
                               "tests (Chen et al. 2021, arXiv:2107.03374)",
                .license = "MIT",
                .splits = {"test"},
                .is_code = true,
                .fetchable = true,
                .files = SameFilesPerSplit(
                    {"test"}, {"humaneval/HumanEval.jsonl.gz", "humaneval/HumanEval.jsonl"})},
       .parser = internal::ParseHumanEvalRow});
  specs.push_back(
      {.info = {.name = "mbpp",
                .description = "MBPP: 974 basic Python tasks, each with 3 assert tests (Austin "
                               "et al. 2021, arXiv:2108.07732)",
                .license = "CC BY 4.0",
                .splits = mbpp_splits,
                .is_code = true,
                .fetchable = true,
                .files = SameFilesPerSplit(mbpp_splits, {"mbpp/mbpp.jsonl", "mbpp/mbpp.jsonl.gz"}),
                .notes = mbpp_notes},
       .parser = internal::ParseMbppRow,
       .task_ids = MbppSplits()});
  specs.push_back(
      {.info = {.name = "mbpp-sanitized",
                .description = "MBPP sanitized: the 427 hand-verified MBPP tasks with reworded "
                               "prompts (Austin et al. 2021)",
                .license = "CC BY 4.0",
                .splits = mbpp_splits,
                .is_code = true,
                .fetchable = true,
                .files = SameFilesPerSplit(mbpp_splits, {"mbpp/sanitized-mbpp.json"}),
                .notes = mbpp_notes},
       .parser = internal::ParseMbppRow,
       .file_kind = FileKind::kJsonArray,
       .task_ids = MbppSplits()});
  specs.push_back(
      {.info = {.name = "arith",
                .description = "arith: Ponder's built-in arithmetic word problems, 2 to 5 steps, "
                               "generated from a seed (datasets/arith_task.h)",
                .license = "part of Ponder",
                .splits = {"test", "train"},
                .generated = true,
                .notes = "Generated, never read: options count (default 500), seed (default 0; "
                         "problem i has seed + i), difficulty (2 to 5 steps, 0 = mixed). Train "
                         "and test never share an arithmetic chain."}});
  return specs;
}

const std::vector<DatasetSpec>& Specs() {
  static const auto* const specs = new std::vector<DatasetSpec>(BuildSpecs());
  return *specs;
}

const DatasetSpec* FindSpec(std::string_view name) {
  for (const DatasetSpec& spec : Specs()) {
    if (spec.info.name == name) return &spec;
  }
  return nullptr;
}

std::string KnownNames() {
  std::vector<std::string> names;
  for (const DatasetSpec& spec : Specs()) names.push_back(spec.info.name);
  return absl::StrJoin(names, ", ");
}

// Numbered files sort by number ("2.json" before "10.json"), as MATH's problems are numbered.
bool NumericNameLess(const fs::path& a, const fs::path& b) {
  int64_t number_a = 0;
  int64_t number_b = 0;
  bool numeric_a = absl::SimpleAtoi(a.stem().string(), &number_a);
  bool numeric_b = absl::SimpleAtoi(b.stem().string(), &number_b);
  if (numeric_a != numeric_b) return numeric_a;
  if (numeric_a && number_a != number_b) return number_a < number_b;
  return a.filename() < b.filename();
}

// The sub-folders (or the regular files) of `folder`; std::filesystem's error-code overloads
// throughout, as nothing may throw out of this part.
std::vector<fs::path> ListFolder(const fs::path& folder, bool want_folders,
                                 std::error_code& error) {
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(folder, error); !error && it != fs::directory_iterator();
       it.increment(error)) {
    std::error_code type_error;
    bool wanted = want_folders ? it->is_directory(type_error) : it->is_regular_file(type_error);
    if (wanted && !type_error) entries.push_back(it->path());
  }
  return entries;
}

// `problem`, or why its record is skipped: its id is a row of results tables, and is held to the
// rule an inline problem's id is (orchestrator/validation.cc).
absl::StatusOr<Problem> WithPrintableId(absl::StatusOr<Problem> problem) {
  if (!problem.ok()) return problem;
  if (absl::Status line = CheckNoControlCharacters(problem->id); !line.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("id ", line.message()));
  }
  return problem;
}

// The original MATH layout: <folder>/<subject>/<n>.json, one problem per file.
absl::Status ReadMathFolder(const fs::path& folder, std::string_view dataset,
                            std::string_view split, std::vector<Problem>& problems,
                            internal::SkipLog& log, std::stop_token stop) {
  std::error_code error;
  std::vector<fs::path> subjects = ListFolder(folder, /*want_folders=*/true, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot list ", folder.string(), ": ", error.message()));
  }
  std::sort(subjects.begin(), subjects.end());
  int64_t index = 0;
  for (const fs::path& subject : subjects) {
    std::vector<fs::path> files;
    for (fs::path& file : ListFolder(subject, /*want_folders=*/false, error)) {
      if (file.extension() == ".json") files.push_back(std::move(file));
    }
    if (error) {
      return absl::NotFoundError(
          absl::StrCat("cannot list ", subject.string(), ": ", error.message()));
    }
    std::sort(files.begin(), files.end(), NumericNameLess);
    for (const fs::path& file : files) {
      const std::string path = file.string();
      if (stop.stop_requested()) return internal::ReadingStopped(path, 0);
      const std::string id = absl::StrCat(AsAbsl(split), "/", subject.filename().string(), "/",
                                          file.filename().string());
      const int64_t position = index++;
      absl::StatusOr<std::string> text = internal::ReadDatasetFile(path, stop);
      if (!text.ok()) {
        log.Skip(path, 0, AsStd(text.status().message()));
        continue;
      }
      int64_t error_line = 1;
      absl::StatusOr<nlohmann::json> row = internal::ParseJson(*text, &error_line);
      if (!row.ok()) {
        log.Skip(path, error_line, absl::StrCat("not valid JSON (", row.status().message(), ")"));
        continue;
      }
      absl::StatusOr<Problem> problem =
          WithPrintableId(internal::ParseMathRow(*row, {dataset, split, position, id}));
      if (!problem.ok()) {
        log.Skip(path, 1, AsStd(problem.status().message()));
        continue;
      }
      problems.push_back(std::move(*problem));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadRecords(const DatasetSpec& spec, const std::string& path, std::string_view split,
                         std::vector<Problem>& problems, internal::SkipLog& log,
                         std::stop_token stop = {}) {
  absl::StatusOr<std::string> text = internal::ReadDatasetFile(path, stop);
  if (!text.ok()) return text.status();
  std::map<std::string, int64_t, std::less<>> first_line;  // id -> line it first appeared on
  auto visit = [&](const internal::JsonRecord& record) {
    absl::StatusOr<Problem> problem = WithPrintableId(
        spec.parser(record.value, {spec.info.name, split, record.index, {}, record.line}));
    if (!problem.ok()) {
      log.Skip(path, record.line, AsStd(problem.status().message()));
      return;
    }
    auto [it, inserted] = first_line.emplace(problem->id, record.line);
    if (!inserted) {
      log.Skip(path, record.line,
               absl::StrCat("duplicate id \"", problem->id, "\" (first on line ", it->second, ")"));
      return;
    }
    problems.push_back(std::move(*problem));
  };
  if (spec.file_kind == FileKind::kJsonArray) {
    return internal::ForEachJsonArrayElement(*text, path, log, visit, stop);
  }
  return internal::ForEachJsonLine(*text, path, log, visit, stop);
}

absl::Status LoadArith(std::string_view split_name, const DatasetOptions& options,
                       LoadedDataset& loaded) {
  absl::StatusOr<ArithSplit> split = ParseArithSplit(split_name);
  if (!split.ok()) return split.status();
  // The problems are generated into memory; 2^31 of them ended in bad_alloc. GSM8K's train
  // split, the largest real one, has 7473.
  constexpr int64_t kMaxArithProblems = 100'000;
  const bool too_many =
      options.arith.count > 0
          ? options.arith.count > kMaxArithProblems
          : options.limit > kMaxArithProblems || options.offset > kMaxArithProblems - options.limit;
  if (too_many) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arith: offset ", options.offset, " + count ",
        options.arith.count > 0 ? options.arith.count : options.limit, " is more than the ",
        kMaxArithProblems, " problems generated at most; ask for fewer"));
  }
  int64_t count = options.arith.count;
  if (count == 0) count = std::max<int64_t>(500, options.offset + options.limit);
  absl::StatusOr<std::vector<ArithProblem>> generated =
      GenerateArithProblems(*split, options.arith.seed, count, options.arith.difficulty);
  if (!generated.ok()) return generated.status();
  for (ArithProblem& arith : *generated) {
    Problem problem;
    problem.dataset = "arith";
    problem.id = std::move(arith.id);
    problem.question = std::move(arith.problem);
    problem.reference_answer = absl::StrCat(arith.answer);
    problem.solution = std::move(arith.solution);
    problem.answer_format = verifiers::AnswerFormat::kGsm8k;
    problem.level = arith.difficulty;
    loaded.problems.push_back(std::move(problem));
  }
  loaded.sources.push_back(
      absl::StrCat("generated: arith split=", AsAbsl(split_name), " seed=", options.arith.seed,
                   " count=", count, " difficulty=",
                   options.arith.difficulty == 0 ? std::string("mixed")
                                                 : absl::StrCat(options.arith.difficulty)));
  return absl::OkStatus();
}

// Applies DatasetOptions::ids, offset and limit, in that order.
absl::Status Select(const DatasetOptions& options, std::string_view name, std::string_view split,
                    std::vector<Problem>& problems) {
  if (!options.ids.empty()) {
    std::set<std::string, std::less<>> wanted(options.ids.begin(), options.ids.end());
    std::vector<Problem> kept;
    for (Problem& problem : problems) {
      if (wanted.erase(problem.id) > 0) kept.push_back(std::move(problem));
    }
    if (!wanted.empty()) {
      return absl::NotFoundError(absl::StrCat(
          AsAbsl(name), " (split ", AsAbsl(split), ") has no problem with id \"", *wanted.begin(),
          "\"",
          wanted.size() > 1 ? absl::StrCat(" (and ", wanted.size() - 1, " more unknown ids)") : "",
          problems.empty() ? ""
                           : absl::StrCat("; its ids look like \"", problems.front().id, "\"")));
    }
    problems = std::move(kept);
  }
  int64_t size = static_cast<int64_t>(problems.size());
  int64_t begin = std::min(options.offset, size);
  int64_t end = options.limit > 0 ? std::min(size, begin + options.limit) : size;
  problems = std::vector<Problem>(std::make_move_iterator(problems.begin() + begin),
                                  std::make_move_iterator(problems.begin() + end));
  return absl::OkStatus();
}

}  // namespace

const std::vector<DatasetInfo>& ListDatasets() {
  static const auto* const infos = [] {
    auto* list = new std::vector<DatasetInfo>;
    for (const DatasetSpec& spec : Specs()) list->push_back(spec.info);
    return list;
  }();
  return *infos;
}

const DatasetInfo* FindDataset(std::string_view name) {
  for (const DatasetInfo& info : ListDatasets()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

std::string DefaultDataDir() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  if (cache != nullptr && cache[0] != '\0') return absl::StrCat(cache, "/ponder/datasets");
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return absl::StrCat(home, "/.cache/ponder/datasets");
  return "ponder-datasets";
}

DataDir ResolveDataDir(std::string_view flag) {
  if (!flag.empty()) return {std::string(flag), "--data-dir"};
  const char* env = std::getenv("PONDER_DATA_DIR");
  if (env != nullptr && env[0] != '\0') return {env, "PONDER_DATA_DIR"};
  return {DefaultDataDir(), "default"};
}

absl::StatusOr<std::string> ResolveSplit(const DatasetInfo& info, std::string_view split) {
  const std::vector<std::string>& splits = info.splits;
  if (splits.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("dataset '", info.name, "' lists no splits"));
  }
  if (split.empty()) return splits.front();
  if (std::find(splits.begin(), splits.end(), split) == splits.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", info.name, "' has no split '", Printable(split, 64),
                     "' (splits: ", absl::StrJoin(splits, ", "), ")"));
  }
  return std::string(split);
}

absl::StatusOr<std::string> LocateDatasetSource(std::string_view name, std::string_view split,
                                                std::string_view data_dir) {
  const DatasetInfo* info = FindDataset(name);
  if (info == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown dataset '", AsAbsl(name), "' (known: ", KnownNames(), ")"));
  }
  std::vector<std::string> tried;
  for (const auto& [file_split, candidates] : info->files) {
    if (file_split != split) continue;
    for (const std::string& candidate : candidates) {
      std::string path = absl::StrCat(AsAbsl(data_dir), "/", candidate);
      std::error_code error;
      bool folder = candidate.back() == '/';
      if (folder ? fs::is_directory(path, error) : fs::is_regular_file(path, error)) {
        if (folder) path.pop_back();
        return path;
      }
      tried.push_back(path);
    }
  }
  if (tried.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset '", AsAbsl(name), "' has no files for split '", AsAbsl(split), "'"));
  }
  std::string remedy =
      info->fetchable
          ? absl::StrCat("or download it with `ponder datasets fetch ", info->name, "`")
          : absl::StrCat("see `ponder datasets show ", info->name, "` for where to get it");
  return absl::NotFoundError(absl::StrCat(
      info->name, " (split ", AsAbsl(split), ") not found in ", AsAbsl(data_dir), ": looked for ",
      absl::StrJoin(tried, ", "),
      ". Pass --data-dir DIR (or set PONDER_DATA_DIR) to the folder that holds it, ", remedy, "."));
}

std::vector<std::string> SkippedLines(const LoadedDataset& loaded, size_t shown) {
  std::vector<std::string> lines;
  if (loaded.skipped == 0) return lines;
  for (size_t i = 0; i < loaded.warnings.size() && i < shown; ++i) {
    lines.push_back(absl::StrCat("skipped ", loaded.warnings[i]));
  }
  if (loaded.warnings.size() > shown) {
    lines.push_back(absl::StrCat("... and ", loaded.warnings.size() - shown, " more"));
  }
  lines.push_back(absl::StrCat("skipped ", loaded.skipped, " malformed record",
                               loaded.skipped == 1 ? "" : "s"));
  return lines;
}

absl::StatusOr<LoadedDataset> LoadDataset(std::string_view name, const DatasetOptions& options) {
  const DatasetSpec* spec = FindSpec(name);
  if (spec == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown dataset '", AsAbsl(name), "' (known: ", KnownNames(), ")"));
  }
  if (options.offset < 0 || options.limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat("offset (", options.offset, ") and limit (",
                                                   options.limit, ") must not be negative"));
  }
  absl::StatusOr<std::string> resolved = ResolveSplit(spec->info, options.split);
  if (!resolved.ok()) return resolved.status();
  const std::string split = *std::move(resolved);
  LoadedDataset loaded;
  if (spec->info.generated) {
    if (absl::Status status = LoadArith(split, options, loaded); !status.ok()) return status;
  } else {
    std::string source = options.path;
    if (source.empty()) {
      std::string data_dir = options.data_dir.empty() ? ResolveDataDir("").path : options.data_dir;
      absl::StatusOr<std::string> located = LocateDatasetSource(name, split, data_dir);
      if (!located.ok()) return located.status();
      source = std::move(*located);
    }
    internal::SkipLog log;
    std::error_code error;
    absl::Status status;
    if (fs::is_directory(source, error)) {
      if (spec->parser != internal::ParseMathRow) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, " is a folder; ", spec->info.name, " is read from a file"));
      }
      status = ReadMathFolder(source, spec->info.name, split, loaded.problems, log, options.stop);
    } else {
      status = ReadRecords(*spec, source, split, loaded.problems, log, options.stop);
    }
    if (!status.ok()) return status;
    if (auto range = spec->task_ids.find(split); range != spec->task_ids.end()) {
      std::erase_if(loaded.problems, [&](const Problem& problem) {
        int64_t task_id = internal::MbppTaskId(problem);
        return task_id < range->second.first || task_id > range->second.last;
      });
    }
    loaded.skipped = log.skipped;
    loaded.warnings = std::move(log.warnings);
    loaded.sources.push_back(source);
  }
  if (absl::Status status = Select(options, spec->info.name, split, loaded.problems);
      !status.ok()) {
    return status;
  }
  return loaded;
}

absl::StatusOr<LoadedDataset> LoadProblemsFile(const std::string& path) {
  DatasetSpec spec{.info = {.name = "problems file"}, .parser = internal::ParseProblemsFileRow};
  LoadedDataset loaded;
  internal::SkipLog log;
  PONDER_RETURN_IF_ERROR(ReadRecords(spec, path, "", loaded.problems, log));
  loaded.skipped = log.skipped;
  loaded.warnings = std::move(log.warnings);
  loaded.sources.push_back(path);
  return loaded;
}

}  // namespace ponder::datasets
