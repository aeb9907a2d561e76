// The forward pass behind one interface, so the serving engine runs the same way on the CPU
// (engine/transformer, engine/ops) and on a CUDA GPU (engine/cuda), chosen at run time.
//
// A backend owns the storage of the KV cache blocks (host memory on the CPU, device memory on
// a GPU). The block manager, the prefix cache and the scheduler see that storage only as a
// KvBlockStore: block ids, block tables and copy-on-write are the same on every device.
//
// Promises of every backend:
//  - Forward validates token ids, positions and block tables exactly as Transformer::Forward
//    does, and the draws and reward rows with ValidateOutputRequests (nothing computed), and
//    writes ForwardOutput in the same layout.
//  - Draws (ForwardOptions::draws) give the tokens SampleToken gives on the rows' logits: on
//    the CPU exactly; elsewhere from the backend's own logits, by the same definition (see the
//    backend's documentation for where they may differ); reward rows give RewardHeadLogits of
//    the rows' final hidden states, within the backend's tolerance.
//  - Results agree with the CPU reference within the tolerance the backend documents; the CPU
//    backend is bit-identical to Transformer (it is a Transformer).
//  - Device failures come back as absl::Status naming the failing call; running out of device
//    memory is RESOURCE_EXHAUSTED, never an abort.
#ifndef PONDER_ENGINE_BACKEND_H_
#define PONDER_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv/kv_cache.h"
#include "engine/ops/thread_pool.h"
#include "engine/transformer/transformer.h"
#include "engine/transformer/weights.h"

namespace ponder::engine {

// kAuto: CUDA when this build has the CUDA backend and a device is usable, else the CPU.
enum class Device { kAuto, kCpu, kCuda };
std::string_view DeviceName(Device device);  // "auto", "cpu", "cuda"
// Parses "auto", "cpu" or "cuda"; the error names the value and the accepted ones.
absl::StatusOr<Device> ParseDevice(std::string_view name);

// OK when this build has the CUDA backend (PONDER_CUDA) and a CUDA device is usable; otherwise
// FAILED_PRECONDITION saying why (built without CUDA, no driver, no device).
absl::Status CudaDeviceStatus();
// kCpu or kCuda: what kAuto resolves to on this machine.
Device ResolveDevice(Device device);

struct BackendOptions {
  Device device = Device::kAuto;
  int block_size = 8;  // tokens per KV block
  // Bytes of KV storage; 0 picks the backend's default: on the CPU enough for 8 sequences of the
  // full context, capped at 2 GiB; on a GPU the free device memory after the weights and the
  // step buffers, minus a margin (see engine/cuda/cuda_backend.h). On the CPU a budget (the
  // default too) above the memory the process may use (physical memory, or a cgroup's limit), or
  // one that cannot be allocated, is RESOURCE_EXHAUSTED.
  int64_t kv_budget_bytes = 0;
  int max_batch_tokens = 512;  // the largest step the engine plans (GPU buffers are sized for it)
  // CUDA: replay decode steps (one token per sequence) from a CUDA graph per step shape, so the
  // GPU does not wait on the CPU launching kernels one by one. Off only to compare or debug.
  bool cuda_graphs = true;
};

// OK when every draw of `options` reads an output row of `chunks` and has valid sampling
// parameters, and the reward rows are output rows in increasing order: otherwise
// InvalidArgument naming the draw or row. Reward rows of a model without a reward head are
// FailedPrecondition.
absl::Status ValidateOutputRequests(const ModelWeights& weights,
                                    std::span<const SequenceChunk> chunks,
                                    const ForwardOptions& options);

// One greedy draw per output row, in row order: what greedy decoding asks of a step.
std::vector<TokenDraw> GreedyDraws(int64_t rows);

class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;

  virtual Device device() const = 0;  // kCpu or kCuda
  // For logs and `ponder generate`: e.g. "cpu (AVX2)" or "cuda:0 NVIDIA H100 80GB HBM3, bf16".
  virtual std::string description() const = 0;
  virtual KvBlockStore& kv() = 0;

  // Runs `chunks` (see SequenceChunk), writing their keys/values into the backend's blocks.
  virtual absl::Status Forward(std::span<const SequenceChunk> chunks, const ForwardOptions& options,
                               ForwardOutput& output) = 0;
};

// The backend `options.device` names for `weights` (which must outlive it). `pool` runs the CPU
// kernels. Asking for kCuda where CudaDeviceStatus() is not OK is that error.
absl::StatusOr<std::unique_ptr<ForwardBackend>> CreateForwardBackend(const ModelWeights& weights,
                                                                     ops::ThreadPool& pool,
                                                                     const BackendOptions& options);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_BACKEND_H_
