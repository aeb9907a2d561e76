// A fixed set of persistent worker threads for the data-parallel parts of a forward pass.
//
// A decode step of a small model makes ~170 matrix products of a few microseconds each, so the
// fork/join must cost well under a microsecond when the workers are awake: workers busy-wait for
// the next job for a short while (`spin_nanoseconds`) and only then sleep on a futex, and the
// caller wakes sleepers only when there are any. ops_bench measures the round trip.
//
// Work is split statically (ParallelFor), which is what the kernels need for reproducible
// results: which thread computes a chunk never changes *what* is computed.
#ifndef PONDER_ENGINE_OPS_THREAD_POOL_H_
#define PONDER_ENGINE_OPS_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ponder::engine::ops {

class ThreadPool {
 public:
  // How long an idle worker busy-waits for the next job before it sleeps. Long enough to bridge
  // the gaps between the kernels of one decode step, short enough not to burn a shared core
  // between requests.
  static constexpr int64_t kDefaultSpinNanoseconds = 200'000;

  // The most threads a pool may have: far more than the cores of the machines Ponder runs on
  // (more threads than cores only slows the static partition down). A fixed number rather than
  // a multiple of the core count, so that a command line valid on one machine is valid on every
  // other; what a machine cannot start is Create's RESOURCE_EXHAUSTED.
  static constexpr int kMaxThreads = 1024;

  // A pool of `num_threads` as the constructor makes it, for callers that can return an error:
  // InvalidArgument above kMaxThreads, and RESOURCE_EXHAUSTED naming the counts when the system
  // cannot start the worker threads (those started are stopped again).
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(
      int num_threads, int64_t spin_nanoseconds = kDefaultSpinNanoseconds);

  // `num_threads` counts the calling thread, so a pool of 1 starts no worker and runs everything
  // inline. Values below 1 are treated as 1. Aborts, saying why, when the system cannot start
  // the worker threads; Create reports that instead.
  explicit ThreadPool(int num_threads, int64_t spin_nanoseconds = kDefaultSpinNanoseconds);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(begin, end) over a static partition of [0, n) into at most size() contiguous chunks
  // whose boundaries are multiples of `grain` (the last chunk ends at n), and returns when every
  // chunk is done. The partition depends only on (n, grain, size()); which thread runs which
  // chunk does not matter to the result: the calling thread and the workers claim chunks in
  // turn, so a worker that the OS has descheduled delays nobody. Calls from several threads are
  // serialized. A call made from inside `fn` (nested) runs serially on the calling thread
  // instead of deadlocking. `fn` must not throw.
  void ParallelFor(int64_t n, int64_t grain, absl::FunctionRef<void(int64_t, int64_t)> fn);

  // The chunk [begin, end) that ParallelFor gives to `chunk` of `num_chunks`; exposed for tests.
  static void ChunkBounds(int64_t n, int64_t grain, int64_t num_chunks, int64_t chunk,
                          int64_t* begin, int64_t* end);

 private:
  // Starts `workers` worker threads; when the system cannot, stops the ones it started and
  // returns RESOURCE_EXHAUSTED.
  absl::Status StartWorkers(int workers);
  void StopWorkers();
  void WorkerLoop();
  // Claims and runs chunks of the current job until none is left.
  void RunChunks();

  std::vector<std::thread> workers_;
  const int64_t spin_nanoseconds_;
  absl::Mutex call_mutex_;  // serializes ParallelFor callers

  // The published job. Written by the caller before it publishes `claim_`, and read by a
  // participant only after it has claimed a chunk, which keeps the job alive until it is done.
  absl::FunctionRef<void(int64_t, int64_t)>* job_fn_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_grain_ = 1;
  std::atomic<uint32_t> job_chunks_{0};

  // Each on its own cache line: everybody claims through `claim_`, workers sleep on `epoch_`,
  // the caller waits on `done_chunks_`.
  alignas(64) std::atomic<uint64_t> claim_{0};  // (job number << 32) | next unclaimed chunk
  alignas(64) std::atomic<uint32_t> epoch_{0};  // job number; bumped after `claim_` is reset
  std::atomic<uint32_t> sleeping_workers_{0};
  alignas(64) std::atomic<uint32_t> done_chunks_{0};
  std::atomic<uint32_t> caller_sleeping_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace ponder::engine::ops

#endif  // PONDER_ENGINE_OPS_THREAD_POOL_H_
