#include "engine/ops/thread_pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "absl/strings/str_cat.h"

namespace ponder::engine::ops {
namespace {

// True while this thread runs inside some ParallelFor (as a worker, or as the caller running
// chunk 0): a nested ParallelFor then runs inline.
thread_local bool tls_inside_parallel_for = false;

// std::atomic<uint32_t> has the size and alignment of a futex word on Linux; the futex calls
// below operate on its storage, as libstdc++'s own atomic wait does.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected) {
  // Returns at once (EAGAIN) if *word != expected, so a wake between our check and this call is
  // never lost.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int64_t NowNanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Busy-waits up to `spin_nanoseconds` for `done()`; returns whether it became true.
template <typename Done>
bool SpinUntil(int64_t spin_nanoseconds, Done done) {
  if (done()) return true;
  const int64_t deadline = NowNanoseconds() + spin_nanoseconds;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (NowNanoseconds() >= deadline) return done();
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(int num_threads,
                                                               int64_t spin_nanoseconds) {
  if (num_threads > kMaxThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("a thread pool of ", num_threads, " threads: at most ", kMaxThreads));
  }
  // A pool of the calling thread alone, then its workers.
  auto pool = std::unique_ptr<ThreadPool>(new ThreadPool(1, spin_nanoseconds));
  if (absl::Status status = pool->StartWorkers(std::max(1, num_threads) - 1); !status.ok()) {
    return status;
  }
  return pool;
}

ThreadPool::ThreadPool(int num_threads, int64_t spin_nanoseconds)
    : spin_nanoseconds_(std::max<int64_t>(0, spin_nanoseconds)) {
  if (absl::Status status = StartWorkers(std::max(1, num_threads) - 1); !status.ok()) {
    std::fprintf(stderr, "ThreadPool: %s\n", std::string(status.message()).c_str());
    std::abort();
  }
}

ThreadPool::~ThreadPool() { StopWorkers(); }

absl::Status ThreadPool::StartWorkers(int workers) {
  // std::thread reports a thread the system cannot start (EAGAIN: out of memory for its stack,
  // or over a limit on processes) by throwing; that must not leave this part.
  try {
    workers_.reserve(workers);
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  } catch (const std::exception& error) {
    const size_t started = workers_.size();
    StopWorkers();
    return absl::ResourceExhaustedError(absl::StrCat(
        "could start only ", started, " of the ", workers, " worker threads of a pool of ",
        workers + 1, " threads (", error.what(), "); ask for fewer threads"));
  }
  return absl::OkStatus();
}

void ThreadPool::StopWorkers() {
  stop_.store(true);
  epoch_.fetch_add(1);
  FutexWakeAll(&epoch_);
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void ThreadPool::ChunkBounds(int64_t n, int64_t grain, int64_t num_chunks, int64_t chunk,
                             int64_t* begin, int64_t* end) {
  grain = std::max<int64_t>(1, grain);
  const int64_t units = (n + grain - 1) / grain;
  // Units are spread as evenly as possible; the first chunks get no more than the last ones.
  const int64_t unit_begin = units * chunk / num_chunks;
  const int64_t unit_end = units * (chunk + 1) / num_chunks;
  *begin = std::min(n, unit_begin * grain);
  *end = std::min(n, unit_end * grain);
}

void ThreadPool::RunChunks() {
  for (;;) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    uint32_t chunks;
    do {
      // If this reads the count of a newer job than `claim` names, the exchange below fails:
      // a newer job is only published after every chunk of the older one is done.
      chunks = job_chunks_.load(std::memory_order_relaxed);
      if (static_cast<uint32_t>(claim) >= chunks) return;
    } while (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel));
    // Chunk `claim` is ours; the job cannot change before we report it done.
    const int64_t chunk = static_cast<uint32_t>(claim);
    int64_t begin, end;
    ChunkBounds(job_n_, job_grain_, chunks, chunk, &begin, &end);
    if (begin < end) (*job_fn_)(begin, end);
    if (done_chunks_.fetch_add(1) + 1 == chunks && caller_sleeping_.load() != 0) {
      FutexWakeAll(&done_chunks_);
    }
  }
}

void ThreadPool::WorkerLoop() {
  tls_inside_parallel_for = true;
  uint32_t seen = 0;
  for (;;) {
    auto changed = [&] { return epoch_.load(std::memory_order_acquire) != seen; };
    if (!SpinUntil(spin_nanoseconds_, changed)) {
      // Announce the sleep before the last check; the caller bumps `epoch_` before it reads
      // `sleeping_workers_` (both sequentially consistent), so one of us sees the other.
      sleeping_workers_.fetch_add(1);
      while (epoch_.load() == seen) FutexWait(&epoch_, seen);
      sleeping_workers_.fetch_sub(1);
    }
    seen = epoch_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_relaxed)) return;
    RunChunks();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain || tls_inside_parallel_for) {
    fn(0, n);
    return;
  }
  absl::MutexLock lock(&call_mutex_);
  const auto chunks = static_cast<uint32_t>(std::min<int64_t>(size(), (n + grain - 1) / grain));
  job_fn_ = &fn;
  job_n_ = n;
  job_grain_ = grain;
  job_chunks_.store(chunks, std::memory_order_relaxed);
  done_chunks_.store(0, std::memory_order_relaxed);
  const uint32_t job = epoch_.load(std::memory_order_relaxed) + 1;
  claim_.store(uint64_t{job} << 32);  // publishes the job (sequentially consistent)
  epoch_.store(job);
  if (sleeping_workers_.load() != 0) FutexWakeAll(&epoch_);

  tls_inside_parallel_for = true;
  RunChunks();
  tls_inside_parallel_for = false;

  auto finished = [&] { return done_chunks_.load(std::memory_order_acquire) == chunks; };
  if (!SpinUntil(spin_nanoseconds_, finished)) {
    caller_sleeping_.store(1);
    for (uint32_t done = done_chunks_.load(); done != chunks; done = done_chunks_.load()) {
      FutexWait(&done_chunks_, done);
    }
    caller_sleeping_.store(0);
  }
  job_fn_ = nullptr;
}

}  // namespace ponder::engine::ops
