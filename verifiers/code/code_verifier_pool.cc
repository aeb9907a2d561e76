// CodeVerifierPool: a fixed set of worker threads over one queue of runs.
#include <algorithm>
#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "verifiers/code/code_verifier.h"

namespace ponder::verifiers {

class CodeVerifierPool::Impl {
 public:
  Impl(const CodeSandbox* sandbox, int parallelism) : sandbox_(sandbox) {
    const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    parallelism_ = parallelism <= 0 ? cores : std::min(parallelism, cores);
    parallelism_ = std::max(1, std::min(parallelism_, sandbox->config().slot_count));
    for (int i = 0; i < parallelism_; ++i) workers_.emplace_back([this] { Work(); });
  }

  ~Impl() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& worker : workers_) worker.join();
  }

  std::vector<CodeRunResult> RunAll(std::span<const CodeRunRequest> requests) {
    Batch batch;
    batch.results.resize(requests.size());
    batch.remaining = requests.size();
    {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < requests.size(); ++i) queue_.push_back({&batch, &requests[i], i});
    }
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Batch* b) { return b->remaining == 0; }, &batch));
    return std::move(batch.results);
  }

  int parallelism() const { return parallelism_; }

  Stats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  struct Batch {
    std::vector<CodeRunResult> results;
    size_t remaining = 0;  // guarded by mu_
  };
  struct Job {
    Batch* batch;
    const CodeRunRequest* request;
    size_t index;
  };

  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  void Work() {
    while (true) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &Impl::HasWorkOrStopping));
        if (queue_.empty()) return;  // stopping, and nothing left to do
        job = queue_.front();
        queue_.pop_front();
      }
      // Each job writes only its own slot of the batch's results.
      CodeRunResult result = sandbox_->Run(*job.request);
      absl::MutexLock lock(&mu_);
      ++stats_.runs;
      ++stats_.runs_by_status[static_cast<size_t>(result.status)];
      stats_.wall_seconds += result.cost.wall_seconds;
      stats_.cpu_seconds += result.cost.cpu_seconds;
      stats_.peak_rss_bytes = std::max(stats_.peak_rss_bytes, result.cost.peak_rss_bytes);
      job.batch->results[job.index] = std::move(result);
      --job.batch->remaining;
    }
  }

  const CodeSandbox* sandbox_;
  int parallelism_ = 1;
  mutable absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

CodeVerifierPool::CodeVerifierPool(const CodeSandbox* sandbox, int parallelism)
    : impl_(std::make_unique<Impl>(sandbox, parallelism)) {}
CodeVerifierPool::~CodeVerifierPool() = default;

std::vector<CodeRunResult> CodeVerifierPool::RunAll(std::span<const CodeRunRequest> requests) {
  return impl_->RunAll(requests);
}
int CodeVerifierPool::parallelism() const { return impl_->parallelism(); }
CodeVerifierPool::Stats CodeVerifierPool::stats() const { return impl_->stats(); }

}  // namespace ponder::verifiers
