// RunWriter: records finished runs on a thread of its own, batching whatever has queued up
// into one transaction (group commit), so solver threads never wait for the disk and a busy
// experiment pays one commit per batch rather than per run.
//
// A batch that fails as a whole (e.g. one run violates a constraint) is retried run by run, so
// one bad record fails alone. A run is durable once its batch commits; runs still queued when
// the process dies are simply not recorded, and a resumed experiment does them again.
#ifndef PONDER_ORCHESTRATOR_STORE_RUN_WRITER_H_
#define PONDER_ORCHESTRATOR_STORE_RUN_WRITER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "orchestrator/store/experiment_store.h"

namespace ponder::orchestrator {

class RunWriter {
 public:
  // Called on the writer thread after each batch: the experiment id and outcome of every
  // record in it.
  struct Outcome {
    int64_t experiment_id;
    absl::Status status;
  };
  using OnBatch = std::function<void(const std::vector<Outcome>&)>;

  // At most `max_batch` records per transaction.
  RunWriter(ExperimentStore& store, OnBatch on_batch, int max_batch = 1024);
  // Records everything queued, then stops.
  ~RunWriter();

  void Enqueue(RunRecord record);
  // Returns once every record enqueued before the call has been written (or failed).
  void Flush();

 private:
  void Loop();

  ExperimentStore& store_;
  const OnBatch on_batch_;
  const int max_batch_;
  absl::Mutex mu_;
  std::deque<RunRecord> queue_ ABSL_GUARDED_BY(mu_);
  int64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_STORE_RUN_WRITER_H_
