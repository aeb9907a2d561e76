#include "orchestrator/problem_source.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"

namespace ponder::orchestrator {
namespace {

std::string SplitOf(const v1::DatasetSlice& slice) {
  return slice.split().empty() ? "test" : slice.split();
}

}  // namespace

void DatasetRegistry::Register(std::string name, Loader loader) {
  absl::MutexLock lock(&mu_);
  loaders_[std::move(name)] = std::move(loader);
}

std::vector<std::string> DatasetRegistry::names() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, loader] : loaders_) names.push_back(name);
  return names;
}

absl::Status DatasetRegistry::UnknownName(const v1::DatasetSlice& slice) const {
  std::vector<std::string> known;
  for (const auto& [name, unused] : loaders_) known.push_back(name);
  return absl::InvalidArgumentError(absl::StrCat(
      "dataset.name: unknown dataset '", Printable(slice.name(), 64), "' (this server knows: ",
      known.empty() ? "none; give the problems inline" : absl::StrJoin(known, ", "), ")"));
}

absl::Status DatasetRegistry::CheckName(const v1::DatasetSlice& slice) {
  absl::MutexLock lock(&mu_);
  return loaders_.contains(slice.name()) ? absl::OkStatus() : UnknownName(slice);
}

absl::StatusOr<std::vector<v1::Problem>> DatasetRegistry::Load(const v1::DatasetSlice& slice,
                                                               std::stop_token stop) {
  Loader loader;
  {
    absl::MutexLock lock(&mu_);
    auto it = loaders_.find(slice.name());
    if (it == loaders_.end()) return UnknownName(slice);
    loader = it->second;
  }
  auto stopped = [&slice] {
    return absl::UnavailableError(absl::StrCat("the server is shutting down: loading ",
                                               DescribeSlice(slice), " was stopped"));
  };
  if (stop.stop_requested()) return stopped();
  absl::StatusOr<std::vector<v1::Problem>> rows = loader(SplitOf(slice), stop);
  // Only a load the stop ended: a loaded split, or one that failed on its own, is reported as is.
  if (absl::IsCancelled(rows.status()) && stop.stop_requested()) return stopped();
  if (!rows.ok()) return rows.status();
  const int64_t size = static_cast<int64_t>(rows->size());
  if (slice.offset() > size || (slice.offset() == size && size > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("dataset.offset: ", slice.offset(),
                                                   " is past the end of ", slice.name(), ":",
                                                   SplitOf(slice), " (", size, " rows)"));
  }
  const int64_t end =
      slice.limit() == 0 ? size : std::min<int64_t>(size, int64_t{slice.offset()} + slice.limit());
  return std::vector<v1::Problem>(rows->begin() + slice.offset(), rows->begin() + end);
}

std::string DescribeSlice(const v1::DatasetSlice& slice) {
  return absl::StrCat(
      slice.name(), ":", SplitOf(slice), "[", slice.offset(), ":",
      slice.limit() == 0 ? std::string() : absl::StrCat(int64_t{slice.offset()} + slice.limit()),
      "]");
}

}  // namespace ponder::orchestrator
