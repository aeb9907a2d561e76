#include "orchestrator/builtin_datasets.h"

#include "absl/strings/str_cat.h"
#include "datasets/dataset.h"

namespace ponder::orchestrator {

v1::Problem ProblemProto(const datasets::Problem& row) {
  v1::Problem problem;
  problem.set_id(row.id);
  problem.set_text(row.question);
  if (!row.reference_answer.empty()) problem.set_reference_answer(row.reference_answer);
  problem.set_answer_format(row.answer_format == verifiers::AnswerFormat::kGsm8k
                                ? v1::ANSWER_FORMAT_GSM8K
                                : v1::ANSWER_FORMAT_MATH);
  return problem;
}

int RegisterBuiltinDatasets(DatasetRegistry& registry, const std::string& data_dir,
                            std::function<void(const std::string& line)> report) {
  int registered = 0;
  for (const datasets::DatasetInfo& info : datasets::ListDatasets()) {
    if (info.is_code) continue;  // graded by running tests, which the solve pipeline does not do
    const std::string name = info.name;
    registry.Register(name,
                      [name, data_dir, report](
                          const std::string& split) -> absl::StatusOr<std::vector<v1::Problem>> {
                        datasets::DatasetOptions options;
                        options.data_dir = datasets::ResolveDataDir(data_dir).path;
                        options.split = split;
                        absl::StatusOr<datasets::LoadedDataset> loaded =
                            datasets::LoadDataset(name, options);
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
