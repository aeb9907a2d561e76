#include "engine/ops/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ponder::engine::ops {
namespace {

TEST(ThreadPoolTest, ChunkBoundsPartitionTheRangeOnGrainBoundaries) {
  for (int64_t n : {1, 2, 5, 63, 64, 65, 1000}) {
    for (int64_t grain : {1, 4, 7, 64}) {
      for (int64_t chunks : {1, 2, 3, 8}) {
        int64_t expected_begin = 0;
        for (int64_t c = 0; c < chunks; ++c) {
          int64_t begin, end;
          ThreadPool::ChunkBounds(n, grain, chunks, c, &begin, &end);
          EXPECT_EQ(begin, expected_begin) << n << " " << grain << " " << chunks << " " << c;
          EXPECT_LE(begin, end);
          if (end != n) {
            EXPECT_EQ(end % grain, 0) << n << " " << grain << " " << chunks;
          }
          expected_begin = end;
        }
        EXPECT_EQ(expected_begin, n) << n << " " << grain << " " << chunks;
      }
    }
  }
}

TEST(ThreadPoolTest, ParallelForVisitsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 3, 4, 17, 1000}) {
      for (int64_t grain : {1, 4, 100}) {
        std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
        std::atomic<int> calls{0};
        pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
          calls.fetch_add(1);
          for (int64_t i = begin; i < end; ++i) visits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(visits[i].load(), 1) << threads << " threads, n " << n << " grain " << grain;
        }
        EXPECT_LE(calls.load(), threads);
      }
    }
  }
}

TEST(ThreadPoolTest, ChunksRunConcurrentlyOnDifferentThreads) {
  // Each chunk waits until all three have started: this only finishes (well before the
  // deadline) if three threads run them at the same time.
  ThreadPool pool(3);
  std::atomic<int> started{0};
  std::vector<std::thread::id> ids(3);
  std::vector<int> met(3, 0);
  pool.ParallelFor(3, 1, [&](int64_t begin, int64_t end) {
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ids[begin] = std::this_thread::get_id();
    met[begin] = started.load() == 3;
  });
  EXPECT_TRUE(met[0] && met[1] && met[2]);
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[0], ids[2]);
  EXPECT_NE(ids[1], ids[2]);
}

TEST(ThreadPoolTest, NestedCallsRunInlineInsteadOfDeadlocking) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.ParallelFor(4, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      pool.ParallelFor(10, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
    }
  });
  EXPECT_EQ(total.load(), 40);
}

TEST(ThreadPoolTest, ConcurrentCallersAreSerializedAndAllComplete) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        pool.ParallelFor(100, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(total.load(), 4 * 200 * 100);
}

TEST(ThreadPoolTest, SleepingWorkersAndCallerAreWokenWithoutLosingJobs) {
  // No spinning: workers and the waiting caller sleep on futexes between and during jobs; a
  // lost wake-up would hang this test, a lost chunk would fail it.
  ThreadPool pool(3, /*spin_nanoseconds=*/0);
  int64_t total = 0;
  std::vector<int64_t> parts(3);
  for (int i = 0; i < 2000; ++i) {
    pool.ParallelFor(3, 1, [&](int64_t begin, int64_t end) { parts[begin] = end - begin; });
    total += parts[0] + parts[1] + parts[2];
    if (i % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(total, 2000 * 3);
}

TEST(ThreadPoolTest, CreateMakesThePoolAndRefusesMoreThanTheLimit) {
  absl::StatusOr<std::unique_ptr<ThreadPool>> pool = ThreadPool::Create(3);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->size(), 3);
  std::atomic<int64_t> sum{0};
  (*pool)->ParallelFor(100, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
  absl::StatusOr<std::unique_ptr<ThreadPool>> too_many =
      ThreadPool::Create(ThreadPool::kMaxThreads + 1);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("at most 1024"), std::string::npos)
      << too_many.status();
}

}  // namespace
}  // namespace ponder::engine::ops
