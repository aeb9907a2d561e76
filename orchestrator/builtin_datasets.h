// The datasets of datasets/ (library ponder_datasets) as problem sources for experiments.
#ifndef PONDER_ORCHESTRATOR_BUILTIN_DATASETS_H_
#define PONDER_ORCHESTRATOR_BUILTIN_DATASETS_H_

#include <functional>
#include <string>

#include "datasets/dataset.h"
#include "orchestrator/problem_source.h"

namespace ponder::orchestrator {

// A problem of datasets/ as the service's message (id, text, reference when set, format). A
// code problem (HumanEval, MBPP) becomes an ANSWER_FORMAT_CODE problem whose text is the
// dataset's prompt (datasets/prompt.h) and whose code_tests are the dataset's tests.
v1::Problem ProblemProto(const datasets::Problem& row);

// Registers every dataset of datasets::ListDatasets (gsm8k, math, math500, humaneval, mbpp,
// mbpp-sanitized, arith) with `registry`, read from `data_dir` ("": datasets::ResolveDataDir's
// default: PONDER_DATA_DIR, then the fetch cache). Records a loader skips (a line that does not
// parse) are told to `report`, a line at a time ("gsm8k test: skipped <file>:<line>: <why>"), so
// that an experiment on fewer problems than the file holds never goes unsaid. Returns how many were
// registered: 0 in a build without ponder_datasets.
int RegisterBuiltinDatasets(DatasetRegistry& registry, const std::string& data_dir,
                            std::function<void(const std::string& line)> report);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_BUILTIN_DATASETS_H_
