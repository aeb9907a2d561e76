// ops_bench: throughput of the engine's CPU kernels (engine/ops/ops.h), beside baselines
// measured in the same run.
//
//   ops_bench [--threads 2] [--min_seconds 0.25] [--working_set_mb 256] [--quick]
//             [--skip_matmul] [--clock wall|cpu]
//
// On a machine shared with other jobs, wall-clock figures measure the other jobs; --clock cpu
// times the calling thread's CPU time instead (see g_cpu_clock). It cannot hide contention for
// memory bandwidth, and a preempted worker shows as a smaller speed-up from threads.
//
// Sections:
//  1. Ceilings: streaming read (a SIMD dot of a buffer with itself) and memcpy over a working
//     set far larger than the last-level cache, on 1..threads threads.
//  2. Thread pool fork/join round trip, with spinning workers and with sleeping ones.
//  3. MatMul per dtype x shape (Qwen2.5-0.5B's: q/o 896x896, k/v 128x896, gate/up 4864x896,
//     down 896x4864, lm head 151936x896) x num_tokens x threads: time per call, GB/s of weight
//     bytes streamed and GFLOP/s. Weights are cycled through enough copies to exceed the
//     working set, so every call streams its weights from DRAM as a decode step does.
//  4. One decode step's worth of matrix products of that model (24 layers + lm head, distinct
//     weights): ms per step at batch 1/4/16, i.e. the matmul-bound ceiling on tokens/s.
//  5. The reference path (reference_ops.h) on 896x896, the slow baseline.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/flags.h"
#include "base/strings.h"
#include "engine/model/dtype.h"
#include "engine/ops/ops.h"
#include "engine/ops/reference_ops.h"
#include "engine/ops/thread_pool.h"

namespace ponder::engine::ops {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// --clock=cpu: on a machine shared with other jobs, wall time counts the time the OS gives to
// others. The calling thread's CPU time does not, and it spans the whole call: the caller runs
// chunks and then spins until every chunk is done (the pools of this mode spin for a second
// before sleeping, so it never sleeps), and it takes over the chunks of a preempted worker.
bool g_cpu_clock = false;

double CallerCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs `fn` repeatedly for at least `min_seconds` (and at least 3 times) after one warm-up
// call; returns the mean seconds per call, by the clock --clock selects.
template <typename Fn>
double TimePerCall(double min_seconds, Fn fn) {
  fn();
  int64_t calls = 0;
  const auto start = Clock::now();
  const double cpu_start = CallerCpuSeconds();
  double elapsed = 0.0;
  do {
    fn();
    ++calls;
    elapsed = g_cpu_clock ? CallerCpuSeconds() - cpu_start : Seconds(start);
  } while (elapsed < min_seconds || calls < 3);
  return elapsed / static_cast<double>(calls);
}

uint64_t NextRandom(uint64_t& state) {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

// Valid, finite, non-denormal values of each type (no NaN/denormal slow paths).
void FillWeights(DType dtype, uint8_t* data, size_t bytes, uint64_t seed) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  switch (dtype) {
    case DType::kF32:
      for (size_t i = 0; i + 4 <= bytes; i += 4) {
        const uint32_t r = static_cast<uint32_t>(NextRandom(state));
        const uint32_t bits = (r & 0x807FFFFFu) | (static_cast<uint32_t>(120 + r % 6) << 23);
        std::memcpy(data + i, &bits, 4);
      }
      break;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i + 2 <= bytes; i += 2) {
        const uint16_t r = static_cast<uint16_t>(NextRandom(state));
        const uint16_t bits = dtype == DType::kF16
                                  ? static_cast<uint16_t>((r & 0x83FF) | ((10 + r % 5) << 10))
                                  : static_cast<uint16_t>((r & 0x807F) | ((120 + r % 6) << 7));
        std::memcpy(data + i, &bits, 2);
      }
      break;
    case DType::kQ8_0:
    case DType::kQ4_0: {
      const size_t block_bytes = static_cast<size_t>(DTypeBlockBytes(dtype));
      const uint16_t scale = FloatToHalf(0.01f);
      for (size_t b = 0; b + block_bytes <= bytes; b += block_bytes) {
        std::memcpy(data + b, &scale, 2);
        for (size_t j = 2; j < block_bytes; j += 8) {
          const uint64_t r = NextRandom(state);
          std::memcpy(data + b + j, &r, std::min<size_t>(8, block_bytes - j));
        }
      }
      break;
    }
  }
}

std::vector<float> RandomActivations(int64_t n, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(n));
  uint64_t state = seed + 7;
  for (float& v : x)
    v = static_cast<float>(static_cast<int64_t>(NextRandom(state) % 2001) - 1000) / 500.0f;
  return x;
}

// Enough copies of one weight matrix to cover `working_set` bytes, used round-robin.
struct WeightCopies {
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<WeightMatrix> matrices;
  size_t next = 0;
  const WeightMatrix& Next() {
    const WeightMatrix& w = matrices[next];
    next = (next + 1) % matrices.size();
    return w;
  }
};

WeightCopies MakeCopies(DType dtype, int64_t rows, int64_t cols, size_t working_set) {
  WeightCopies copies;
  const size_t bytes = DTypeBytes(dtype, static_cast<uint64_t>(rows * cols));
  const size_t count = std::max<size_t>(1, (working_set + bytes - 1) / bytes);
  copies.buffers.resize(count);
  for (size_t i = 0; i < count; ++i) {
    copies.buffers[i].resize(bytes);
    FillWeights(dtype, copies.buffers[i].data(), bytes, i + 1);
    copies.matrices.push_back(WeightMatrix{dtype, rows, cols, copies.buffers[i].data()});
  }
  return copies;
}

struct Shape {
  const char* name;
  int64_t rows, cols;
};
constexpr Shape kQwenShapes[] = {{"q/o", 896, 896},
                                 {"k/v", 128, 896},
                                 {"gate/up", 4864, 896},
                                 {"down", 896, 4864},
                                 {"lm_head", 151936, 896}};
constexpr DType kAllTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};

void BenchCeilings(std::vector<ThreadPool*>& pools, size_t working_set, double min_seconds) {
  std::printf("\n== Bandwidth ceilings over %zu MiB (baseline for the GB/s below)\n",
              working_set >> 20);
  const int64_t n = static_cast<int64_t>(working_set / sizeof(float));
  std::vector<float> a(static_cast<size_t>(n), 1.0f), b(static_cast<size_t>(n), 0.0f);
  for (ThreadPool* pool : pools) {
    volatile float sink = 0.0f;
    const double read = TimePerCall(min_seconds, [&] {
      pool->ParallelFor(n, 4096, [&](int64_t begin, int64_t end) {
        sink = sink + Dot(a.data() + begin, a.data() + begin, end - begin);
      });
    });
    const double copy = TimePerCall(min_seconds, [&] {
      pool->ParallelFor(n, 4096, [&](int64_t begin, int64_t end) {
        std::memcpy(b.data() + begin, a.data() + begin, (end - begin) * sizeof(float));
      });
    });
    std::printf("threads %d: stream read %6.1f GB/s   memcpy %6.1f GB/s (bytes copied)\n",
                pool->size(), working_set / read / 1e9, working_set / copy / 1e9);
  }
}

void BenchPool(int threads) {
  std::printf("\n== ThreadPool fork/join round trip (ParallelFor over %d chunks, empty body)\n",
              threads);
  for (int64_t spin : {ThreadPool::kDefaultSpinNanoseconds, int64_t{0}}) {
    ThreadPool pool(threads, spin);
    volatile int64_t sink = 0;
    constexpr int kCallsPerRound = 1000;
    const double seconds = TimePerCall(0.2, [&] {
      for (int i = 0; i < kCallsPerRound; ++i) {
        pool.ParallelFor(threads, 1, [&](int64_t begin, int64_t) { sink = sink + begin; });
      }
    });
    std::printf("%-40s %8.3f us per call\n",
                spin > 0 ? "workers spinning (back-to-back calls)" : "workers asleep (no spin)",
                seconds / kCallsPerRound * 1e6);
  }
}

void BenchMatMul(std::vector<ThreadPool*>& pools, size_t working_set, double min_seconds,
                 bool quick) {
  std::printf("\n== MatMul (target %s): weights streamed from a %zu MiB working set\n",
              std::string(SimdTargetName()).c_str(), working_set >> 20);
  std::printf("%-6s %-8s %-13s %6s %4s %11s %9s %9s\n", "dtype", "matrix", "shape", "tokens", "thr",
              "us/call", "GB/s", "GFLOP/s");
  const std::vector<int64_t> token_counts =
      quick ? std::vector<int64_t>{1, 16} : std::vector<int64_t>{1, 4, 16, 64, 512};
  for (DType dtype : kAllTypes) {
    for (const Shape& shape : kQwenShapes) {
      const bool lm_head = shape.rows > 100000;
      if (quick && lm_head && dtype != DType::kQ8_0 && dtype != DType::kF16) continue;
      WeightCopies copies = MakeCopies(dtype, shape.rows, shape.cols, working_set);
      const double weight_bytes =
          static_cast<double>(DTypeBytes(dtype, static_cast<uint64_t>(shape.rows * shape.cols)));
      for (int64_t tokens : token_counts) {
        if (lm_head && tokens > 16) continue;  // prefill computes logits for the last token only
        const auto x = RandomActivations(tokens * shape.cols, 1);
        std::vector<float> out(static_cast<size_t>(tokens * shape.rows));
        for (ThreadPool* pool : pools) {
          const double seconds = TimePerCall(min_seconds, [&] {
            MatMul(copies.Next(), x.data(), shape.cols, tokens, out.data(), shape.rows, *pool);
          });
          const double flops = 2.0 * shape.rows * shape.cols * tokens;
          std::printf("%-6s %-8s %6" PRId64 "x%-6" PRId64 " %6" PRId64 " %4d %11.1f %9.1f %9.1f\n",
                      std::string(DTypeName(dtype)).c_str(), shape.name, shape.rows, shape.cols,
                      tokens, pool->size(), seconds * 1e6, weight_bytes / seconds / 1e9,
                      flops / seconds / 1e9);
          std::fflush(stdout);
        }
      }
    }
  }
}

void BenchDecodeStep(std::vector<ThreadPool*>& pools, double min_seconds) {
  constexpr int kLayers = 24;
  constexpr int64_t kDim = 896, kKv = 128, kFf = 4864, kVocab = 151936;
  std::printf(
      "\n== One decode step of Qwen2.5-0.5B's matrix products (24 layers x 7 + lm head "
      "= 169 MatMul calls, distinct weights)\n");
  std::printf("%-6s %9s %6s %4s %10s %9s %12s\n", "dtype", "MB", "batch", "thr", "ms/step", "GB/s",
              "steps/s");
  for (DType dtype : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    const Shape layer_shapes[] = {{"q", kDim, kDim},  {"k", kKv, kDim},    {"v", kKv, kDim},
                                  {"o", kDim, kDim},  {"gate", kFf, kDim}, {"up", kFf, kDim},
                                  {"down", kDim, kFf}};
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<WeightMatrix> matrices;
    auto add = [&](int64_t rows, int64_t cols) {
      buffers.emplace_back(DTypeBytes(dtype, static_cast<uint64_t>(rows * cols)));
      FillWeights(dtype, buffers.back().data(), buffers.back().size(), buffers.size());
      matrices.push_back(WeightMatrix{dtype, rows, cols, buffers.back().data()});
    };
    for (int layer = 0; layer < kLayers; ++layer) {
      for (const Shape& s : layer_shapes) add(s.rows, s.cols);
    }
    add(kVocab, kDim);
    double total_bytes = 0.0;
    for (const auto& b : buffers) total_bytes += static_cast<double>(b.size());
    for (int64_t batch : {1, 4, 16}) {
      const auto x = RandomActivations(batch * kFf, 3);
      std::vector<float> out(static_cast<size_t>(batch * kVocab));
      for (ThreadPool* pool : pools) {
        const double seconds = TimePerCall(min_seconds, [&] {
          for (const WeightMatrix& w : matrices) {
            MatMul(w, x.data(), w.cols, batch, out.data(), w.rows, *pool);
          }
        });
        std::printf("%-6s %9.1f %6" PRId64 " %4d %10.3f %9.1f %12.1f\n",
                    std::string(DTypeName(dtype)).c_str(), total_bytes / 1e6, batch, pool->size(),
                    seconds * 1e3, total_bytes / seconds / 1e9, 1.0 / seconds);
        std::fflush(stdout);
      }
    }
  }
}

void BenchReference(double min_seconds) {
  std::printf(
      "\n== Reference path (reference_ops.h: dequantize, then double dot), 896x896, 1 "
      "token, 1 thread\n");
  for (DType dtype : kAllTypes) {
    std::vector<uint8_t> bytes(DTypeBytes(dtype, 896 * 896));
    FillWeights(dtype, bytes.data(), bytes.size(), 5);
    const WeightMatrix w{dtype, 896, 896, bytes.data()};
    const auto x = RandomActivations(896, 2);
    std::vector<float> out(896);
    const double seconds =
        TimePerCall(min_seconds, [&] { reference::MatMul(w, x.data(), 896, 1, out.data(), 896); });
    std::printf("%-6s %11.1f us/call %9.2f GB/s %9.2f GFLOP/s\n",
                std::string(DTypeName(dtype)).c_str(), seconds * 1e6, bytes.size() / seconds / 1e9,
                2.0 * 896 * 896 / seconds / 1e9);
  }
}

int Run(std::span<char* const> args) {
  int64_t threads = 2;
  double min_seconds = 0.25;
  int64_t working_set_mb = 256;
  bool quick = false;
  bool skip_matmul = false;
  std::string clock = "wall";
  FlagParser flags(
      "ops_bench [--threads N] [--min_seconds S] [--working_set_mb M] [--quick] [--skip_matmul] "
      "[--clock wall|cpu]");
  flags.AddInt("threads", &threads, "largest thread count measured (every count from 1 up)");
  flags.AddDouble("min_seconds", &min_seconds, "minimum measuring time per figure");
  flags.AddInt("working_set_mb", &working_set_mb,
               "bytes of weights cycled through per figure (keep above the last-level cache)");
  flags.AddBool("quick", &quick, "fewer token counts and lm-head figures");
  flags.AddBool("skip_matmul", &skip_matmul, "skip the per-shape MatMul table");
  flags.AddString("clock", &clock,
                  "wall, or cpu: the calling thread's CPU time, for a machine shared with other "
                  "jobs");
  if (absl::Status status = flags.Parse(args); !status.ok()) {
    return ExitCodeFor("ops_bench", status);  // --help: 0; an error: its line, then the usage
  }
  if (clock != "wall" && clock != "cpu") {
    std::fprintf(stderr, "--clock must be wall or cpu, not %s\n", clock.c_str());
    return 2;
  }
  g_cpu_clock = clock == "cpu";
  std::vector<std::unique_ptr<ThreadPool>> owned;
  std::vector<ThreadPool*> pools;
  for (int t = 1; t <= threads; ++t) {
    owned.push_back(std::make_unique<ThreadPool>(
        t, g_cpu_clock ? int64_t{1'000'000'000} : ThreadPool::kDefaultSpinNanoseconds));
    pools.push_back(owned.back().get());
  }
  const size_t working_set = static_cast<size_t>(working_set_mb) << 20;
  std::printf("ops_bench: SIMD target %s, threads 1..%" PRId64 ", %s clock\n",
              std::string(SimdTargetName()).c_str(), threads, clock.c_str());
  BenchCeilings(pools, working_set, min_seconds);
  BenchPool(static_cast<int>(threads));
  if (!skip_matmul) BenchMatMul(pools, working_set, min_seconds, quick);
  BenchDecodeStep(pools, min_seconds);
  BenchReference(min_seconds);
  return 0;
}

}  // namespace
}  // namespace ponder::engine::ops

int main(int argc, char** argv) {
  return ponder::engine::ops::Run(std::span<char* const>(argv + 1, argc - 1));
}
