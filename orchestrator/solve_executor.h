// SolveExecutor: a bounded pool of worker threads. The service's solves run on one (and its
// experiment calls and watch writes on two more, server.cc). gRPC's callback threads must not
// block, so a Solve handler hands its work here; when every worker is busy and the queue is
// full, TrySubmit refuses at once and the handler answers RESOURCE_EXHAUSTED with RetryHint(),
// which keeps memory bounded however many clients call.
#ifndef PONDER_ORCHESTRATOR_SOLVE_EXECUTOR_H_
#define PONDER_ORCHESTRATOR_SOLVE_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ponder::orchestrator {

class SolveExecutor {
 public:
  // `parallelism`: how many of the workers' tasks make progress at once, for RetryHint (0: all
  // of them; fewer for tasks that share fewer connections or cores, such as the store's calls).
  SolveExecutor(int workers, int max_queued, int parallelism = 0);
  // Runs the queued tasks, then joins the workers.
  ~SolveExecutor();

  // Queues `task` for a worker, or returns false at once when `workers` tasks are running and
  // `max_queued` more are waiting.
  bool TrySubmit(std::function<void()> task);

  // When a refused caller should try again: the recent mean task time, scaled by how many tasks
  // are ahead of it per parallel worker, between 100 ms and 60 s.
  absl::Duration RetryHint();

 private:
  void Work();

  const int workers_;
  const int max_queued_;
  const int parallelism_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  double mean_task_seconds_ ABSL_GUARDED_BY(mu_) = 1.0;  // exponential moving average
  std::vector<std::thread> threads_;
};

}  // namespace ponder::orchestrator

#endif  // PONDER_ORCHESTRATOR_SOLVE_EXECUTOR_H_
