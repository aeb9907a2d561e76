#include "orchestrator/store/run_writer.h"

#include <utility>

namespace ponder::orchestrator {

RunWriter::RunWriter(ExperimentStore& store, OnBatch on_batch, int max_batch)
    : store_(store), on_batch_(std::move(on_batch)), max_batch_(max_batch) {
  thread_ = std::thread([this] { Loop(); });
}

RunWriter::~RunWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void RunWriter::Enqueue(RunRecord record) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(record));
  ++enqueued_;
}

void RunWriter::Flush() {
  absl::MutexLock lock(&mu_);
  const int64_t target = enqueued_;
  auto written = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return written_ >= target; };
  mu_.Await(absl::Condition(&written));
}

void RunWriter::Loop() {
  while (true) {
    std::vector<RunRecord> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and everything is written
      while (!queue_.empty() && static_cast<int>(batch.size()) < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Outcome> outcomes;
    outcomes.reserve(batch.size());
    if (store_.InsertRuns(batch).ok()) {
      for (const RunRecord& record : batch) outcomes.push_back({record.experiment_id, {}});
    } else {
      for (const RunRecord& record : batch) {
        outcomes.push_back(
            {record.experiment_id, store_.InsertRuns(std::span<const RunRecord>(&record, 1))});
      }
    }
    if (on_batch_) on_batch_(outcomes);
    absl::MutexLock lock(&mu_);
    written_ += static_cast<int64_t>(batch.size());
  }
}

}  // namespace ponder::orchestrator
