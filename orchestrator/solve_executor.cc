#include "orchestrator/solve_executor.h"

#include <algorithm>

namespace ponder::orchestrator {
namespace {

// Weight of the newest task in the moving average of task times.
constexpr double kAverageWeight = 0.2;

}  // namespace

SolveExecutor::SolveExecutor(int workers, int max_queued, int parallelism)
    : workers_(std::max(1, workers)),
      max_queued_(std::max(0, max_queued)),
      parallelism_(parallelism > 0 ? std::min(parallelism, workers_) : workers_) {
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { Work(); });
}

SolveExecutor::~SolveExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

bool SolveExecutor::TrySubmit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  if (running_ + static_cast<int>(queue_.size()) >= workers_ + max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

absl::Duration SolveExecutor::RetryHint() {
  absl::MutexLock lock(&mu_);
  const double ahead = static_cast<double>(running_ + static_cast<int>(queue_.size()) + 1);
  const double seconds = mean_task_seconds_ * ahead / static_cast<double>(parallelism_);
  return absl::Seconds(std::clamp(seconds, 0.1, 60.0));
}

void SolveExecutor::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping with nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    const absl::Time start = absl::Now();
    task();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    absl::MutexLock lock(&mu_);
    --running_;
    mean_task_seconds_ = (1 - kAverageWeight) * mean_task_seconds_ + kAverageWeight * seconds;
  }
}

}  // namespace ponder::orchestrator
