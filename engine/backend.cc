#include "engine/backend.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/ops/ops.h"
#include "engine/sampling/sampler.h"

#if PONDER_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#endif

namespace ponder::engine {
namespace {

// The CPU path: the Highway kernels of engine/ops through Transformer, blocks in host memory.
class CpuBackend final : public ForwardBackend {
 public:
  CpuBackend(const ModelWeights& weights, ops::ThreadPool& pool, const KvCacheShape& shape,
             int num_blocks)
      : transformer_(weights, pool), cache_(shape, num_blocks), pool_(pool) {}

  Device device() const override { return Device::kCpu; }
  std::string description() const override {
    return absl::StrCat("cpu (", AsAbsl(ops::SimdTargetName()), ", ", pool_.size(), " threads)");
  }
  KvBlockStore& kv() override { return cache_; }
  bool kv_allocated() const { return cache_.allocated(); }
  absl::Status Forward(std::span<const SequenceChunk> chunks, const ForwardOptions& options,
                       ForwardOutput& output) override {
    PONDER_RETURN_IF_ERROR(ValidateOutputRequests(transformer_.weights(), chunks, options));
    ForwardOptions inner = options;
    inner.logits = options.logits || !options.draws.empty();
    inner.hidden = options.hidden || !options.reward_rows.empty();
    if (absl::Status status = transformer_.Forward(chunks, cache_, inner, output); !status.ok()) {
      return status;
    }
    output.drawn_tokens.clear();
    output.drawn_logprobs.clear();
    if (!options.draws.empty()) {
      const int64_t vocab = transformer_.config().vocab_size;
      for (const TokenDraw& draw : options.draws) {
        SampledToken token =
            SampleToken(std::span<const float>(output.logits.data() + draw.row * vocab, vocab),
                        draw.sampling, draw.stream, draw.step, 0);
        output.drawn_tokens.push_back(token.token);
        output.drawn_logprobs.push_back(token.logprob);
      }
      if (!options.logits) output.logits.clear();
    }
    output.reward_logits.clear();
    if (!options.reward_rows.empty()) {
      const RewardHeadWeights& head = *transformer_.weights().reward_head();
      const int64_t H = transformer_.config().hidden_size;
      output.reward_logits.resize(options.reward_rows.size() * head.num_labels());
      for (size_t i = 0; i < options.reward_rows.size(); ++i) {
        RewardHeadLogits(head, output.hidden.data() + options.reward_rows[i] * H, H, pool_,
                         output.reward_logits.data() + i * head.num_labels());
      }
      if (!options.hidden) output.hidden.clear();
    }
    return absl::OkStatus();
  }

 private:
  Transformer transformer_;
  KvCache cache_;
  ops::ThreadPool& pool_;
};

// The memory this process may use, in bytes: the machine's physical memory, or less where a
// cgroup (v2: /sys/fs/cgroup/memory.max, as containers set it) limits it; 0 where it cannot be
// told.
int64_t UsableMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  int64_t memory = pages > 0 && page_size > 0 ? int64_t{pages} * page_size : 0;
  std::ifstream cgroup("/sys/fs/cgroup/memory.max");
  int64_t limit = 0;
  if (cgroup >> limit && limit > 0) memory = memory > 0 ? std::min(memory, limit) : limit;
  return memory;  // "max" (no limit) does not parse as a number
}

}  // namespace

absl::Status ValidateOutputRequests(const ModelWeights& weights,
                                    std::span<const SequenceChunk> chunks,
                                    const ForwardOptions& options) {
  int64_t rows = 0;
  for (const SequenceChunk& chunk : chunks) rows += static_cast<int64_t>(chunk.output_rows.size());
  const std::span<const TokenDraw> draws = options.draws;
  for (size_t d = 0; d < draws.size(); ++d) {
    if (draws[d].row < 0 || draws[d].row >= rows) {
      return absl::InvalidArgumentError(absl::StrCat("draw ", d, " reads output row ", draws[d].row,
                                                     " of a step with ", rows, " output rows"));
    }
    if (absl::Status status = draws[d].sampling.Validate(); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("draw ", d, ": ", status.message()));
    }
  }
  if (!options.reward_rows.empty() && !weights.reward_head().has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(weights.path(), " has no reward head to run at the reward rows"));
  }
  for (size_t i = 0; i < options.reward_rows.size(); ++i) {
    const int32_t row = options.reward_rows[i];
    if (row < 0 || row >= rows || (i > 0 && row <= options.reward_rows[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reward row ", i, " is ", row, "; rows must increase inside [0, ", rows, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<TokenDraw> GreedyDraws(int64_t rows) {
  std::vector<TokenDraw> draws(rows);
  for (int64_t r = 0; r < rows; ++r) {
    draws[r].row = static_cast<int32_t>(r);
    draws[r].sampling.temperature = 0.0;
  }
  return draws;
}

std::string_view DeviceName(Device device) {
  switch (device) {
    case Device::kAuto:
      return "auto";
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "unknown";
}

absl::StatusOr<Device> ParseDevice(std::string_view name) {
  if (name == "auto") return Device::kAuto;
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device \"", AsAbsl(name), "\"; expected auto, cpu or cuda"));
}

absl::Status CudaDeviceStatus() {
#if PONDER_HAVE_CUDA
  return cuda::DeviceStatus();
#else
  return absl::FailedPreconditionError(
      "this build has no CUDA backend (configure with -DPONDER_CUDA=ON)");
#endif
}

Device ResolveDevice(Device device) {
  if (device != Device::kAuto) return device;
  return CudaDeviceStatus().ok() ? Device::kCuda : Device::kCpu;
}

absl::StatusOr<std::unique_ptr<ForwardBackend>> CreateForwardBackend(
    const ModelWeights& weights, ops::ThreadPool& pool, const BackendOptions& options) {
  const ModelConfig& config = weights.config();
  if (options.block_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_size must be >= 1, got ", options.block_size));
  }
  const Device device = ResolveDevice(options.device);
  if (device == Device::kCuda) {
#if PONDER_HAVE_CUDA
    return cuda::CreateCudaBackend(weights, options);
#else
    return CudaDeviceStatus();
#endif
  }
  KvCacheShape shape{config.num_layers, config.num_kv_heads, config.head_dim, options.block_size};
  int64_t budget = options.kv_budget_bytes;
  if (budget <= 0) {
    budget = std::min<int64_t>(int64_t{2} << 30, 8 * (config.max_context / options.block_size + 1) *
                                                     static_cast<int64_t>(shape.bytes_per_block()));
  }
  // A budget the machine cannot hold would be allocated lazily and then touched until the
  // process is killed; refuse it while an error can still be reported.
  if (const int64_t memory = UsableMemoryBytes(); memory > 0 && budget > memory) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a KV cache budget of ", budget >> 20,
        " MiB is more than the memory this process may use (", memory >> 20, " MiB); ask for less",
        options.kv_budget_bytes > 0 ? ", or 0 for the default" : ""));
  }
  const int64_t blocks =
      std::min<int64_t>(budget / static_cast<int64_t>(shape.bytes_per_block()), int64_t{1} << 30);
  if (blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a KV budget of ", budget, " bytes holds no block of ", shape.bytes_per_block(), " bytes"));
  }
  auto backend = std::make_unique<CpuBackend>(weights, pool, shape, static_cast<int>(blocks));
  if (!backend->kv_allocated()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a KV cache of ", (blocks * shape.bytes_per_block()) >> 20,
                     " MiB (", blocks, " blocks) in host memory; ask for a smaller KV budget"));
  }
  return backend;
}

}  // namespace ponder::engine
