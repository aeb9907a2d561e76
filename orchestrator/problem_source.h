// Where an experiment's problems come from when its spec names a dataset (ExperimentSpec.dataset)
// rather than listing them inline.
//
// The orchestrator knows datasets only through this interface; the datasets library (datasets/)
// registers a loader per dataset name with a DatasetRegistry.
#ifndef PONDER_ORCHESTRATOR_PROBLEM_SOURCE_H_
#define PONDER_ORCHESTRATOR_PROBLEM_SOURCE_H_

#include <functional>
#include <map>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ponder/v1/service.pb.h"

namespace ponder::orchestrator {

class ProblemSource {
 public:
  virtual ~ProblemSource() = default;
  // The problems of `slice`, in dataset order, each with an id unique in the dataset, its
  // reference answer and answer format. InvalidArgument naming the `dataset.*` field for an
  // unknown dataset or split or a slice past the end. Once `stop` is requested (a stopping
  // server) the load may end early: Unavailable.
  virtual absl::StatusOr<std::vector<v1::Problem>> Load(const v1::DatasetSlice& slice,
                                                        std::stop_token stop) = 0;
  // Whether `slice` names a dataset this source has, without loading it: Load's error for an
  // unknown one, else OK (the split and the bounds are checked by Load).
  virtual absl::Status CheckName(const v1::DatasetSlice& slice) { return absl::OkStatus(); }
};

// Datasets by name. Each loader returns a whole split; the registry cuts the slice.
class DatasetRegistry : public ProblemSource {
 public:
  // All rows of `split` ("test" when the slice names none). Errors name the file and line. Once
  // `stop` is requested the loader may end early with Cancelled (Load reports Unavailable).
  using Loader = std::function<absl::StatusOr<std::vector<v1::Problem>>(const std::string& split,
                                                                        std::stop_token stop)>;

  // Replaces any loader already registered under `name`.
  void Register(std::string name, Loader loader);
  std::vector<std::string> names() const;

  absl::StatusOr<std::vector<v1::Problem>> Load(const v1::DatasetSlice& slice,
                                                std::stop_token stop) override;
  absl::Status CheckName(const v1::DatasetSlice& slice) override;

 private:
  absl::Status UnknownName(const v1::DatasetSlice& slice) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Loader> loaders_ ABSL_GUARDED_BY(mu_);
};

// "gsm8k:test[10:20]" / "gsm8k:test[10:]": how the store's experiments.dataset describes a slice.
std::string DescribeSlice(const v1::DatasetSlice& slice);

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_PROBLEM_SOURCE_H_
