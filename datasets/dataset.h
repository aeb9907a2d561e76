// Benchmark datasets: loaders for GSM8K, MATH, MATH-500, HumanEval and MBPP, and the built-in
// arithmetic task, all behind one call, LoadDataset(name, options).
//
// The datasets part has four public headers:
//   datasets/dataset.h    this file: problems, loading, where data lives
//   datasets/arith_task.h the built-in arithmetic word-problem generator
//   datasets/prompt.h     prompts per dataset and model family (chat messages and raw text)
//   datasets/fetch.h      `ponder datasets fetch`: download with a checksum into a cache folder
//
// Promises of LoadDataset:
//  * Problems come in file order (MATH folders: subject, then problem number) with ids unique
//    in the dataset and stable across runs: a skipped line does not shift the ids of the others.
//  * A line (or JSON array element, or per-problem file) that does not parse or lacks a
//    required field is skipped; it costs one `skipped` and one warning naming the file and the
//    1-based line ("gsm8k/test.jsonl:17: missing field \"answer\""). A file that cannot be read
//    at all (missing, corrupt gzip, broken JSON array) is an error instead.
//  * A missing dataset is NotFound; the message lists the paths looked at and names
//    `--data-dir`, `PONDER_DATA_DIR` and `ponder datasets fetch`.
//  * Reads plain and gzip-compressed files alike (`.jsonl.gz`), whatever their names.
//  * Thread-safe (no shared mutable state); the `arith` dataset is generated, never read, and
//    is the same for the same options on every machine.
#ifndef PONDER_DATASETS_DATASET_H_
#define PONDER_DATASETS_DATASET_H_

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "verifiers/grading/grader.h"

namespace ponder::datasets {

// The parts of a code problem the sandboxed code verifier (verifiers/code) needs.
struct CodeTask {
  // HumanEval: the function signature and docstring the model completes. MBPP: the task text.
  std::string prompt;
  std::string entry_point;                // HumanEval: the function `test` checks
  std::string test;                       // HumanEval: the program defining check(candidate)
  std::string test_setup_code;            // MBPP: runs after the candidate's code
  std::vector<std::string> test_list;     // MBPP: one assert statement per test
  std::vector<std::string> test_imports;  // sanitized MBPP: imports the tests need
  std::string canonical_solution;         // HumanEval: the reference body; MBPP: the reference code
  // A problems file's code problem (`ponder bench --problems`): a block of test code instead of
  // test_list, and the tests its text shows the model (for the unit_tests verifier).
  std::string test_code;
  std::vector<std::string> example_tests;
};

struct Problem {
  std::string dataset;   // the name it was loaded under ("gsm8k", "math500", "arith", ...)
  std::string id;        // unique in the dataset, e.g. "test/12", "test/algebra/1.json"
  std::string question;  // what the model is asked
  // The gold final answer ("18", "\frac{1}{2}"), ready for verifiers::Grade. Empty for code.
  std::string reference_answer;
  std::string solution;  // the dataset's worked solution; may be empty
  // How answers are graded; nullopt for code problems, which are graded by running tests.
  std::optional<verifiers::AnswerFormat> answer_format;
  int level = 0;                 // MATH: 1..5 (0 when unknown); arith: the number of steps
  std::string subject;           // MATH: the subject ("Algebra", "Number Theory", ...)
  std::optional<CodeTask> code;  // set exactly for HumanEval and MBPP problems
};

// Parameters of the built-in arithmetic task (datasets/arith_task.h), used when the dataset
// is "arith".
struct ArithDatasetOptions {
  // Problems in the split (before offset/limit are applied); 0: 500, or offset + limit when
  // that is larger, so `--limit 2000` alone gives 2000 problems.
  int64_t count = 0;
  uint64_t seed = 0;   // problem i has seed `seed + i`
  int difficulty = 0;  // steps per problem, 2..5; 0: mixed (each problem draws 2..5)
};

struct DatasetOptions {
  // Where datasets live: <data_dir>/<dataset folder>/... Empty: ResolveDataDir("").
  std::string data_dir;
  // A file or folder to read instead of looking under data_dir (its format must be the
  // dataset's); for MATH a folder is one split's folder of <subject>/<n>.json files.
  std::string path;
  // Empty: the dataset's default split ("test" for all built-in datasets).
  std::string split;
  // Keep only these problem ids, in dataset order; an id the split lacks is NotFound.
  std::vector<std::string> ids;
  int64_t offset = 0;  // skip this many problems (after `ids`)
  int64_t limit = 0;   // then keep at most this many; 0: all
  ArithDatasetOptions arith;
  // Once requested, the load ends before its next record (or file) with Cancelled: a stopping
  // server does not wait for a large file to be read.
  std::stop_token stop;
};

struct LoadedDataset {
  std::vector<Problem> problems;
  int64_t skipped = 0;                // lines/entries/files that could not be read
  std::vector<std::string> warnings;  // one per skipped item: "<file>:<line>: <why>"
  std::vector<std::string> sources;   // the files or folders read
};

// What a load skipped, as lines for a log: the first `shown` warnings ("skipped <file>:<line>:
// <why>"), how many more there were, and the count. Empty when nothing was skipped.
std::vector<std::string> SkippedLines(const LoadedDataset& loaded, size_t shown = 10);

// Loads `name` (see ListDatasets). Errors: InvalidArgument for an unknown name or split or a
// negative offset/limit (the message lists the valid values), NotFound for missing files or
// unknown `ids`, DataLoss for a file that cannot be decoded as a whole.
absl::StatusOr<LoadedDataset> LoadDataset(std::string_view name, const DatasetOptions& options);

// A JSON Lines file of problems (`ponder bench --problems`, what `ponder datasets export`
// writes): one object per line, see internal::ParseProblemsFileRow for the fields; gzip and a
// byte order mark are read as for the datasets. A line that does not parse, or repeats an id, is
// counted in `skipped` with a "<path>:<line>: <why>" warning; NotFound/PermissionDenied name the
// path, and a directory is InvalidArgument "<path> is a directory, not a file".
absl::StatusOr<LoadedDataset> LoadProblemsFile(const std::string& path);

// What is known about a dataset without reading it.
struct DatasetInfo {
  std::string name;
  std::string description;  // one line, with the citation
  std::string license;
  std::vector<std::string> splits;  // the first is the default
  bool is_code = false;             // graded by unit tests rather than by answer
  bool generated = false;           // the built-in task: nothing to read or fetch
  bool fetchable = false;           // `ponder datasets fetch` can download it
  // Per split, the paths under the data dir that are tried, in order ("gsm8k/test.jsonl").
  // A path ending in '/' is a MATH-style folder of <subject>/<n>.json files.
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  std::string notes;  // split definitions, manual download instructions, ...
};

// Every dataset LoadDataset knows, in a fixed order: gsm8k, math, math500, humaneval, mbpp,
// mbpp-sanitized, arith.
const std::vector<DatasetInfo>& ListDatasets();
// The dataset called `name`, or nullptr.
const DatasetInfo* FindDataset(std::string_view name);

// The split of `info` that `split` names: the default (the first) for an empty one;
// InvalidArgument "dataset '<name>' has no split '<split>' (splits: ...)" for one it lacks.
absl::StatusOr<std::string> ResolveSplit(const DatasetInfo& info, std::string_view split);

// The data folder to use and why: `flag` when non-empty ("--data-dir"), else the environment
// variable PONDER_DATA_DIR when set and non-empty, else DefaultDataDir() ("default"). The
// folder is not checked for existence.
struct DataDir {
  std::string path;
  std::string origin;  // "--data-dir", "PONDER_DATA_DIR" or "default"
};
DataDir ResolveDataDir(std::string_view flag);

// $XDG_CACHE_HOME/ponder/datasets, else $HOME/.cache/ponder/datasets, else
// ./ponder-datasets: where `ponder datasets fetch` stores downloads by default, so a fetched
// dataset loads with no flag at all.
std::string DefaultDataDir();

// The file or folder LoadDataset would read for (name, split) under `data_dir`, or NotFound
// listing the candidates (the message names --data-dir, PONDER_DATA_DIR and the fetch command).
absl::StatusOr<std::string> LocateDatasetSource(std::string_view name, std::string_view split,
                                                std::string_view data_dir);

}  // namespace ponder::datasets

#endif  // PONDER_DATASETS_DATASET_H_
