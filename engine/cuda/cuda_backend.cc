#include "engine/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/cuda/cuda_util.h"
#include "engine/cuda/kernels.h"
#include "engine/model/dtype.h"
#include "engine/ops/ops.h"

extern "C" char** environ;  // POSIX: the process's environment

namespace ponder::engine::cuda {
namespace {

// Every setting the backend reads (docs/cuda_backend.md's table).
constexpr std::string_view kSettings[] = {
    "PONDER_CUDA_ATTENTION_PIPELINE", "PONDER_CUDA_DRAW_CACHE",     "PONDER_CUDA_DRAW_CLUSTER",
    "PONDER_CUDA_EARLY_START",        "PONDER_CUDA_GATE_UP_UNROLL", "PONDER_CUDA_PREFILL_ATTENTION",
    "PONDER_CUDA_QKV_ROPE",           "PONDER_CUDA_SKINNY_ASYNC",   "PONDER_CUDA_SKINNY_DOWN",
    "PONDER_CUDA_SKINNY_TOKENS",      "PONDER_CUDA_SKINNY_WARPS",   "PONDER_CUDA_SPLIT_ATTENTION",
    "PONDER_CUDA_SPLIT_KEYS",         "PONDER_CUDA_STEP_TIMING",    "PONDER_CUDA_WIDE_ATTENTION"};

// The environment variable `name` (one of kSettings), or "" when it is not set.
std::string_view Setting(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// Setting(name) when it is one of `allowed` (which should include "", unset), else an error that
// names the variable and what it takes.
absl::StatusOr<std::string_view> Choice(const char* name,
                                        std::initializer_list<std::string_view> allowed) {
  const std::string_view value = Setting(name);
  std::string expected;
  for (std::string_view choice : allowed) {
    if (choice == value) return value;
    if (choice.empty()) continue;
    if (!expected.empty()) expected += ", ";
    expected += std::string(choice);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, "='", std::string(value), "': expected one of ", expected));
}

// Whether the setting `name`, on by default, is on ("0": off; "" or "1": on; else an error).
absl::StatusOr<bool> NotSwitchedOff(const char* name) {
  PONDER_ASSIGN_OR_RETURN(const std::string_view value, Choice(name, {"", "0", "1"}));
  return value != "0";
}

// The setting `name` as a count from `low` to `high`, or `fallback` when it is not set.
absl::StatusOr<int> Count(const char* name, int low, int high, int fallback) {
  const std::string value(Setting(name));
  if (value.empty()) return fallback;
  int count = 0;
  if (!absl::SimpleAtoi(value, &count) || count < low || count > high) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "='", value, "': expected a count from ", low, " to ", high));
  }
  return count;
}

constexpr size_t kValueBytes = 2;  // 16-bit storage: weights, KV cache, matrix-product inputs

// A [rows][cols] 16-bit matrix in device memory (row-major, as in the model file).
struct DeviceMatrix {
  const void* data = nullptr;  // into `buffer`, or another matrix's buffer (tied embeddings)
  int64_t rows = 0;
  int64_t cols = 0;
  DeviceBuffer buffer;
};

struct DeviceLayer {
  DeviceMatrix qkv;      // [Q + 2 KV][hidden]: wq, wk, wv stacked
  DeviceMatrix wo;       // [hidden][Q]
  DeviceMatrix gate_up;  // [2 intermediate][hidden]: w_gate, w_up stacked
  DeviceMatrix down;     // [hidden][intermediate]
  DeviceBuffer attention_norm, ffn_norm, qkv_bias, q_norm, k_norm;  // f32 vectors
};

StorageType ChooseStorage(const ModelWeights& weights) {
  for (const LayerWeights& layer : weights.layers()) {
    for (const ops::WeightMatrix* w :
         {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.w_gate, &layer.w_up, &layer.w_down}) {
      if (w->dtype != DType::kF16) return StorageType::kBF16;
    }
  }
  return StorageType::kF16;
}

cudaDataType_t CudaType(StorageType type) {
  return type == StorageType::kBF16 ? CUDA_R_16BF : CUDA_R_16F;
}

// Copies rows of `w` into device memory at `dst` as 16-bit `type`: stored bytes as they are when
// the dtype matches, otherwise dequantized (exact) and rounded to nearest even.
absl::Status UploadRows(const ops::WeightMatrix& w, StorageType type, void* dst) {
  const bool same = (type == StorageType::kBF16 && w.dtype == DType::kBF16) ||
                    (type == StorageType::kF16 && w.dtype == DType::kF16);
  if (same) {
    PONDER_CUDA_RETURN_IF_ERROR(cudaMemcpy(dst, w.data, static_cast<size_t>(w.rows) * w.row_bytes(),
                                           cudaMemcpyHostToDevice));
    return absl::OkStatus();
  }
  // Converted in slices of about 16 MiB so the host copy stays small.
  const int64_t rows_per_slice =
      std::max<int64_t>(1, (int64_t{8} << 20) / std::max<int64_t>(1, w.cols));
  std::vector<float> row(w.cols);
  std::vector<uint16_t> slice;
  for (int64_t begin = 0; begin < w.rows; begin += rows_per_slice) {
    const int64_t end = std::min(w.rows, begin + rows_per_slice);
    slice.resize(static_cast<size_t>(end - begin) * w.cols);
    for (int64_t r = begin; r < end; ++r) {
      ops::DequantizeRow(w, r, row.data());
      uint16_t* out = slice.data() + (r - begin) * w.cols;
      for (int64_t c = 0; c < w.cols; ++c) {
        out[c] = type == StorageType::kBF16 ? FloatToBFloat16(row[c]) : FloatToHalf(row[c]);
      }
    }
    PONDER_CUDA_RETURN_IF_ERROR(cudaMemcpy(static_cast<char*>(dst) + begin * w.cols * kValueBytes,
                                           slice.data(), slice.size() * kValueBytes,
                                           cudaMemcpyHostToDevice));
  }
  return absl::OkStatus();
}

// Uploads the matrices `parts` stacked by rows (all with the same number of columns).
absl::StatusOr<DeviceMatrix> UploadStacked(std::initializer_list<const ops::WeightMatrix*> parts,
                                           StorageType type, std::string_view what) {
  DeviceMatrix m;
  m.cols = (*parts.begin())->cols;
  for (const ops::WeightMatrix* w : parts) m.rows += w->rows;
  PONDER_ASSIGN_OR_RETURN(
      m.buffer, DeviceBuffer::Allocate(static_cast<size_t>(m.rows * m.cols) * kValueBytes, what));
  int64_t row = 0;
  for (const ops::WeightMatrix* w : parts) {
    PONDER_RETURN_IF_ERROR(UploadRows(*w, type, m.buffer.as<char>() + row * m.cols * kValueBytes));
    row += w->rows;
  }
  m.data = m.buffer.data();
  return m;
}

absl::StatusOr<DeviceBuffer> UploadFloats(std::initializer_list<const std::vector<float>*> parts,
                                          std::string_view what) {
  std::vector<float> all;
  for (const std::vector<float>* part : parts) all.insert(all.end(), part->begin(), part->end());
  PONDER_ASSIGN_OR_RETURN(DeviceBuffer buffer,
                          DeviceBuffer::Allocate(all.size() * sizeof(float), what));
  if (!all.empty()) {
    PONDER_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(buffer.data(), all.data(), all.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  return buffer;
}

// `w` dequantized to f32, uploaded.
absl::StatusOr<DeviceBuffer> UploadMatrixF32(const ops::WeightMatrix& w, std::string_view what) {
  std::vector<float> all(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) ops::DequantizeRow(w, r, all.data() + r * w.cols);
  return UploadFloats({&all}, what);
}

// KV blocks in device memory. CopyBlock is enqueued on the backend's stream, so it is ordered
// before the next forward step; an error is kept and returned by that step.
class DeviceKvCache final : public KvBlockStore {
 public:
  DeviceKvCache(const KvCacheShape& shape, int num_blocks, DeviceBuffer data, cudaStream_t stream)
      : shape_(shape), num_blocks_(num_blocks), data_(std::move(data)), stream_(stream) {}

  const KvCacheShape& shape() const override { return shape_; }
  int num_blocks() const override { return num_blocks_; }
  void CopyBlock(int from, int to) override {
    const size_t bytes = shape_.bytes_per_block();  // a block's layers are contiguous
    absl::Status status =
        CudaStatus(cudaMemcpyAsync(data_.as<char>() + to * bytes, data_.as<char>() + from * bytes,
                                   bytes, cudaMemcpyDeviceToDevice, stream_),
                   "cudaMemcpyAsync(copy-on-write of a KV block)");
    if (!status.ok() && error_.ok()) error_ = status;
  }

  void* data() const { return data_.data(); }
  absl::Status TakeError() { return std::exchange(error_, absl::OkStatus()); }

 private:
  KvCacheShape shape_;
  int num_blocks_;
  DeviceBuffer data_;
  cudaStream_t stream_;
  absl::Status error_;
};

class CudaBackend final : public ForwardBackend {
 public:
  explicit CudaBackend(const ModelWeights& weights) : weights_(weights) {}
  ~CudaBackend() override {
    graphs_.clear();
    kv_.reset();
    if (blas_ != nullptr) cublasDestroy(blas_);
    for (cudaEvent_t event : step_events_) {
      if (event != nullptr) cudaEventDestroy(event);
    }
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  absl::Status Initialize(const BackendOptions& options);

  Device device() const override { return Device::kCuda; }
  std::string description() const override { return description_; }
  KvBlockStore& kv() override { return *kv_; }
  absl::Status Forward(std::span<const SequenceChunk> chunks, const ForwardOptions& options,
                       ForwardOutput& output) override;
  const CudaGraphStats& graph_stats() const { return graph_stats_; }
  const CudaStepTiming& step_timing() const { return step_timing_; }

 private:
  // What a step's kernels depend on besides the step metadata in device memory: its shape and
  // outputs. Decode steps of one shape are replayed from one CUDA graph.
  struct StepKey {
    int64_t tokens = 0, rows = 0;
    int64_t tiles = 0;          // prefill attention tiles (0: decode-shaped, none)
    int64_t table_entries = 0;  // where the tiles start in the metadata; not part of the key
    int64_t draws = 0;          // tokens drawn (ForwardOptions::draws)
    bool sample = false;  // by LaunchDrawTokens; false: the draws are the rows' argmaxes, in order
    bool head = false, hidden = false;
    bool rewards = false;          // the reward head on every row (the caller picks its rows)
    bool split_attention = false;  // decode attention split over the positions
    bool wide_attention = false;   // decode attention a wide block per head (kPerHeadWide)
    bool operator<(const StepKey& other) const {  // graphs are kept for decode shapes only
      return std::tie(tokens, rows, draws, sample, head, hidden, rewards, split_attention,
                      wide_attention) <
             std::tie(other.tokens, other.rows, other.draws, other.sample, other.head, other.hidden,
                      other.rewards, other.split_attention, other.wide_attention);
    }
  };
  // The device (and pinned) buffers a captured step reads and writes: a graph is captured again
  // when one of them has been reallocated since.
  using BufferSignature = std::array<const void*, 16>;
  struct StepGraph {
    int uses = 0;             // the first use runs eagerly (kernels load), the second captures
    bool eager_only = false;  // capture failed: always eager
    BufferSignature signature{};
    std::unique_ptr<CUgraphExec_st, void (*)(cudaGraphExec_t)> exec{nullptr, nullptr};
  };

  // Enqueues every kernel of a step (embedding to the drawn tokens copied to host_drawn_) on
  // stream_, reading the metadata and draw parameters already copied to the device.
  absl::Status EnqueueStep(const StepKey& key);
  // EnqueueStep, from a CUDA graph where one is (or can be) captured for `key`.
  absl::Status EnqueueStepGraphed(const StepKey& key);
  BufferSignature Signature() const;
  // How EnqueueStep's kernels after the first are launched (kernels.h Launch).
  Launch Next() const { return {stream_, early_start_}; }
  absl::Status Reserve(int64_t tokens, int64_t rows, int64_t draws);
  // out[t][r] = beta * out[t][r] + sum_c x[t][c] * w[r][c], for t < tokens (out row stride:
  // w.rows): the matrix-vector kernel for steps of at most skinny_tokens_ tokens (under `plan`,
  // else skinny_plan_), else cuBLAS.
  absl::Status MatMul(const DeviceMatrix& w, const void* x, int64_t tokens, float* out, float beta,
                      const SkinnyPlan* plan = nullptr);
  // out = x · Wᵀ as 16-bit `storage_` values (f32 accumulation), through cuBLAS.
  absl::Status MatMul16(const DeviceMatrix& w, const void* x, int64_t tokens, void* out);
  // The cuBLAS product both take: out (`out_type`) = beta * out + x · Wᵀ, f32 accumulation.
  // cuBLAS is column-major: this is outᵀ = W · xᵀ with W read transposed.
  absl::Status Gemm(const DeviceMatrix& w, const void* x, int64_t tokens, void* out,
                    cudaDataType_t out_type, float beta);
  // out = x · Wᵀ with W, x and out f32 ([rows][cols], [tokens][cols], [tokens][rows]).
  absl::Status GemmF32(const DeviceBuffer& w, int64_t rows, int64_t cols, const float* x,
                       int64_t tokens, float* out);
  // The general product behind Gemm and GemmF32: W and x of `in_type`.
  absl::Status GemmEx(const void* w, int64_t rows, int64_t cols, cudaDataType_t in_type,
                      const void* x, int64_t tokens, void* out, cudaDataType_t out_type,
                      float beta);

  const ModelWeights& weights_;
  StorageType storage_ = StorageType::kBF16;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::string description_;

  DeviceMatrix embedding_, output_;
  DeviceBuffer output_norm_, inv_freq_;
  // The reward head, when the model has one, in f32 as on the CPU (it is small): the hidden layer
  // [H][H] and its bias (absent for a single-layer head), the output layer [labels][H]. Its
  // output bias is added on the host.
  DeviceBuffer head_hidden_, head_hidden_bias_, head_output_;
  int head_labels_ = 0;
  std::vector<DeviceLayer> layers_;
  std::unique_ptr<DeviceKvCache> kv_;

  // Step buffers, grown as needed.
  int64_t token_capacity_ = 0, row_capacity_ = 0;
  DeviceBuffer x_;               // [T][H] f32 residual stream
  DeviceBuffer wide_;            // [T][max(Q + 2 KV, 2 I)] f32: qkv, then gate_up
  DeviceBuffer narrow_;          // [T][max(H, Q, I)] 16-bit: inputs of the matrix products
  DeviceBuffer rows16_;          // [R][H] 16-bit: final-norm rows
  DeviceBuffer hidden_;          // [R][H] f32
  DeviceBuffer logits_;          // [R][V] f32
  DeviceBuffer reward_hidden_;   // [R][H] f32: the reward head's hidden layer
  DeviceBuffer reward_logits_;   // [R][labels] f32, without the output bias
  DeviceBuffer greedy_;          // [R] int32 argmax tokens, then [R] f32 log-probs
  DeviceBuffer greedy_scratch_;  // LaunchGreedyLogprob's partial results
  DeviceBuffer draw_params_;     // [D] DrawParams
  PinnedBuffer host_draw_params_;
  DeviceBuffer drawn_;  // [D] int32 tokens, then [D] f32 log-probs
  PinnedBuffer host_drawn_;
  int64_t draw_capacity_ = 0;
  // [D][vocab] f32: each draw's probabilities, computed once (LaunchDrawTokens), for steps whose
  // D * vocab * 4 bytes are at most draw_cache_bytes_; empty when it could not be allocated (the
  // draws then compute them again).
  DeviceBuffer draw_probabilities_;
  size_t draw_cache_bytes_ = 0;
  // The bytes of a step's probability rows for `draws` draws, when they are to be cached.
  std::optional<size_t> CachedDrawBytes(int64_t draws) const {
    const size_t bytes = static_cast<size_t>(draws * weights_.config().vocab_size) * sizeof(float);
    return bytes <= draw_cache_bytes_ ? std::optional(bytes) : std::nullopt;
  }
  int draw_blocks_ = 1;  // thread blocks per sampled draw (LaunchDrawTokens' blocks_per_draw)
  std::vector<float> reward_rows_;  // every row's reward_logits_, on the host
  DeviceBuffer metadata_;           // int32: tokens, positions, table offsets, output rows, tables
  PinnedBuffer host_metadata_;
  DeviceBuffer blas_workspace_;  // set explicitly, so cuBLAS calls can be captured in graphs
  DeviceBuffer split_scratch_;   // LaunchSplitAttention's partial softmaxes, when split

  bool use_graphs_ = true;
  bool early_start_ = false;  // programmatic dependent launch (compute capability >= 9.0)
  // Decode attention (steps of one token per sequence): a block per head (LaunchPagedAttention)
  // or split over the positions (flash-decoding, LaunchSplitAttention; kSplitGrouped with a
  // block per KV head and stretch); kAuto splits the steps whose heads alone leave
  // multiprocessors idle, or whose long contexts keep up to two heads per multiprocessor busy
  // (SplitsDecodeAttention).
  enum class DecodeAttention { kAuto, kPerHead, kSplit, kSplitGrouped };
  DecodeAttention decode_attention_ = DecodeAttention::kAuto;
  // Decode steps that would split their attention take a block of kWideAttentionWarps warps per
  // head instead (kernels.h kPerHeadWide): kWideAttentionAuto by DecodeAttentionGoesWide's rule,
  // else while their mean context is at most this (PONDER_CUDA_WIDE_ATTENTION=N; 0: never).
  int64_t wide_attention_context_ = kWideAttentionAuto;
  // The least keys a stretch of split attention takes (kernels.h LaunchSplitAttention;
  // PONDER_CUDA_SPLIT_KEYS).
  int split_keys_ = kAttentionSplitKeys;
  PrefillKernel prefill_kernel_ = PrefillKernel::kCudaCores;
  // Steps of at most this many tokens run their products on the matrix-vector kernels
  // (LaunchSkinnyMatMul, fused norms and SwiGLU) but for the output projection (and the down
  // product of steps of more than one token); more, through cuBLAS. 0: cuBLAS for every product.
  int skinny_tokens_ = 1;
  // Decode attention's loads pipelined (kernels.h): kAuto where DecodeAttentionPipelines says.
  enum class Pipeline { kAuto, kOff, kOn };
  Pipeline attention_pipeline_ = Pipeline::kAuto;
  bool PipelinesDecodeAttention(int64_t tokens, DecodeAttentionLayout layout) const;
  bool qkv_rope_ = true;    // one-token steps' rope and KV store in the QKV product (kernels.h)
  SkinnyPlan skinny_plan_;  // how decode steps' matrix-vector products divide their work
  // One-token steps' down product goes to the matrix-vector kernel too, its lanes loading
  // down_unroll_ chunks a batch (SkinnyPlan::plain_unroll), rather than to cuBLAS
  // (PONDER_CUDA_SKINNY_DOWN=0).
  bool skinny_down_ = true;
  int down_unroll_ = 0;
  int multiprocessors_ = 1;
  // Whether a decode step of `tokens` sequences whose contexts (positions, the new token's
  // included) add up to `contexts` splits its attention over the positions.
  bool SplitsDecodeAttention(int64_t tokens, int64_t contexts) const;

  std::map<StepKey, StepGraph> graphs_;
  CudaGraphStats graph_stats_;
  // PONDER_CUDA_STEP_TIMING=1: events before and after each decode step (CudaStepTiming).
  std::array<cudaEvent_t, 2> step_events_{};
  CudaStepTiming step_timing_;
};

// Graphs kept at most; decode shapes are few (one to three per batch size: attention split, a
// block per head, or a wide one), so this is only a bound.
constexpr size_t kMaxGraphs = 256;
// Steps of at most this many tokens, each of a different sequence, run from graphs.
constexpr int64_t kMaxGraphTokens = 1024;

absl::Status CudaBackend::Initialize(const BackendOptions& options) {
  const ModelConfig& c = weights_.config();
  if (c.head_dim > 256 || c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(weights_.path(), ": head_dim ", c.head_dim,
                                                   " is not supported on CUDA (even, <= 256)"));
  }
  PONDER_CUDA_RETURN_IF_ERROR(cudaSetDevice(0));
  cudaDeviceProp properties;
  PONDER_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&properties, 0));
  if (properties.major < 8) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda:0 ", properties.name, " has compute capability ", properties.major, ".",
                     properties.minor, "; the CUDA backend needs 8.0 or newer (BF16)"));
  }
  PONDER_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  PONDER_CUBLAS_RETURN_IF_ERROR(cublasCreate(&blas_));
  PONDER_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas_, stream_));
  // cuBLAS' recommended workspace on Hopper; its own would be allocated inside a graph capture.
  constexpr size_t kBlasWorkspace = size_t{32} << 20;
  PONDER_ASSIGN_OR_RETURN(blas_workspace_,
                          DeviceBuffer::Allocate(kBlasWorkspace, "cuBLAS workspace"));
  PONDER_CUBLAS_RETURN_IF_ERROR(
      cublasSetWorkspace(blas_, blas_workspace_.data(), blas_workspace_.bytes()));
  use_graphs_ = options.cuda_graphs;
  // The PONDER_CUDA_* settings (docs/cuda_backend.md), each checked: a typo is an error, not a
  // silent default. PONDER_CUDA_EARLY_START=0 turns early starts off, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view early,
                          Choice("PONDER_CUDA_EARLY_START", {"", "0", "1"}));
  early_start_ = properties.major >= 9 && early != "0";
  PONDER_ASSIGN_OR_RETURN(const std::string_view step_timing,
                          Choice("PONDER_CUDA_STEP_TIMING", {"", "0", "1"}));
  if (step_timing == "1") {
    for (cudaEvent_t& event : step_events_) {
      PONDER_CUDA_RETURN_IF_ERROR(cudaEventCreate(&event));
    }
  }
  multiprocessors_ = properties.multiProcessorCount;
  // Token draws keep each probability in a row of scratch memory (kernels.h LaunchDrawTokens)
  // while the rows fit in half the L2 cache, where the passes that read them back find them: on an
  // H200 (docs/cuda_backend.md) that took sampled decode steps 6% less time at batch 1 and 5% at
  // batch 16, and 3 to 7% more at batch 64 (two calls), whose 39 MB of rows spill to DRAM. The
  // same tokens either way. PONDER_CUDA_DRAW_CACHE=0 never keeps them, =1 always, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view draw_cache,
                          Choice("PONDER_CUDA_DRAW_CACHE", {"", "auto", "0", "1"}));
  draw_cache_bytes_ = draw_cache == "0"   ? 0
                      : draw_cache == "1" ? std::numeric_limits<size_t>::max()
                                          : static_cast<size_t>(properties.l2CacheSize) / 2;
  // Each sampled draw a cluster of kDrawClusterBlocks thread blocks where the device runs them
  // (kernels.h LaunchDrawTokens, DrawClusters: Hopper and newer), else one block. On an H200
  // (stop 28, docs/cuda_backend.md) clusters took sampled decode (temperature 0.8, top-p 0.95)
  // from 438 to 586 tokens/s at batch 1, 5 915 to 7 136 at 16 and 18 067 to 18 646 at 64 (with
  // top-k 50 too: 392 to 565 at batch 1, even at 64). PONDER_CUDA_DRAW_CLUSTER=1 takes one block,
  // =8 clusters or an error, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view draw_cluster,
                          Choice("PONDER_CUDA_DRAW_CLUSTER", {"", "auto", "1", "8"}));
  if (draw_cluster != "1" && DrawClusters()) draw_blocks_ = kDrawClusterBlocks;
  if (draw_cluster == "8") {
    if (!DrawClusters()) {
      return absl::InvalidArgumentError(
          absl::StrCat("PONDER_CUDA_DRAW_CLUSTER=8: cuda:0 ", properties.name,
                       " cannot run thread block clusters of ", kDrawClusterBlocks,
                       " blocks (compute capability 9.0 and a build for it needed)"));
    }
    draw_blocks_ = kDrawClusterBlocks;
  }
  // PONDER_CUDA_SKINNY_TOKENS=N (0 to kSkinnyMaxTokens): the most tokens a step may have for its
  // products to run on the matrix-vector kernels, to compare (default 1, see skinny_tokens_).
  PONDER_ASSIGN_OR_RETURN(skinny_tokens_,
                          Count("PONDER_CUDA_SKINNY_TOKENS", 0, kSkinnyMaxTokens, skinny_tokens_));
  // PONDER_CUDA_SKINNY_WARPS=N: the matrix-vector kernels' split-K target (kernels.h
  // SkinnyPlan::target_warps; 16384 gives gate/up two warps a row pair, so its groups are half
  // as large and its grid fills the multiprocessors more evenly), to compare (stop 28, not yet
  // run end to end).
  PONDER_ASSIGN_OR_RETURN(skinny_plan_.target_warps,
                          Count("PONDER_CUDA_SKINNY_WARPS", 1, 1 << 20, skinny_plan_.target_warps));
  // The one-token gate/up product's lanes load 2 chunks a batch (kernels.h
  // SkinnyPlan::gated_unroll; three blocks a multiprocessor, three full batches a row pair of
  // Qwen2.5-1.5B's shape) instead of the kernel's default 4: on an H200 (stop 32) 16.3 us
  // against 17.5 alone and 1 to 2% more batch-1 decode throughput in three comparisons.
  // PONDER_CUDA_GATE_UP_UNROLL=3|4, to compare.
  PONDER_ASSIGN_OR_RETURN(skinny_plan_.gated_unroll, Count("PONDER_CUDA_GATE_UP_UNROLL", 2, 4, 2));
  // PONDER_CUDA_SKINNY_ASYNC=1: one-token products but the QKV product stream their weights
  // through shared memory by cp.async (kernels.h SkinnyPlan::async_copies; the same bits), to
  // compare (stop 29; 2.7% slower at batch 1 on an H200 in stop 32, and the attention output
  // product alone by cp.async, 3.7 us against 5.0 on its own, no faster end to end).
  PONDER_ASSIGN_OR_RETURN(const std::string_view async_copies,
                          Choice("PONDER_CUDA_SKINNY_ASYNC", {"", "0", "1"}));
  skinny_plan_.async_copies = async_copies == "1";  // the backend needs 8.0 or newer
  // The one-token down product runs on the matrix-vector kernel (no split-K reduction kernel,
  // unlike cuBLAS's), its lanes loading 8 or 9 chunks a batch, whichever reads their share of a
  // row in fewer batches (kernels.h SkinnyPlainUnrollFor). On an H200 in stop 36, once x was read
  // 16 bytes a chunk: 736 tokens/s at batch 1 (9 chunks) against 717 at 8 and 708 for cuBLAS's
  // (which won by 3.5% before, stop 32). PONDER_CUDA_SKINNY_DOWN=8|9 fixes the batch size, =0
  // takes cuBLAS, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view down,
                          Choice("PONDER_CUDA_SKINNY_DOWN", {"", "0", "8", "9"}));
  skinny_down_ = down != "0";
  down_unroll_ = down == "9" ? 9
                 : down == "8"
                     ? 8
                     : SkinnyPlainUnrollFor(static_cast<int>(c.hidden_size),
                                            static_cast<int>(c.intermediate_size), skinny_plan_);
  // Decode attention's warps load their next keys while they score the current ones where
  // DecodeAttentionPipelines says (kernels.h LaunchPagedAttention; the same sums).
  // PONDER_CUDA_ATTENTION_PIPELINE=0 never, =1 always, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view pipeline,
                          Choice("PONDER_CUDA_ATTENTION_PIPELINE", {"", "auto", "0", "1"}));
  attention_pipeline_ = pipeline == "0"   ? Pipeline::kOff
                        : pipeline == "1" ? Pipeline::kOn
                                          : Pipeline::kAuto;
  // One-token steps rotate q and k and store k and v in the QKV product's last step, without the
  // rope kernel (kernels.h LaunchSkinnyQkvRope; the same bits). On an H200 (stop 28) it took
  // batch-1 decode of Qwen2.5-1.5B's shape from 640 to 667 tokens/s. PONDER_CUDA_QKV_ROPE=0
  // keeps the rope kernel, to compare.
  PONDER_ASSIGN_OR_RETURN(qkv_rope_, NotSwitchedOff("PONDER_CUDA_QKV_ROPE"));
  // PONDER_CUDA_SPLIT_ATTENTION=1 splits every decode step's attention over the positions
  // (kernels.h LaunchSplitAttention), =grouped the same with a block per KV head and stretch,
  // =0 none, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view split,
                          Choice("PONDER_CUDA_SPLIT_ATTENTION", {"", "auto", "0", "1", "grouped"}));
  // Decode steps that would split their attention take a wide block per head instead where
  // DecodeAttentionGoesWide's rule says (heads of at most kWideAttentionMaxDim values).
  // PONDER_CUDA_WIDE_ATTENTION=N: while their mean context is at most N positions, whatever
  // their heads (0: never), to compare.
  const std::string_view wide_setting = Setting("PONDER_CUDA_WIDE_ATTENTION");
  if (wide_setting.empty() || wide_setting == "auto") {
    wide_attention_context_ = kWideAttentionAuto;
  } else {
    PONDER_ASSIGN_OR_RETURN(wide_attention_context_,
                            Count("PONDER_CUDA_WIDE_ATTENTION", 0, 1 << 20, 0));
  }
  if (c.head_dim > kWideAttentionMaxDim) wide_attention_context_ = 0;
  decode_attention_ = split == "1"         ? DecodeAttention::kSplit
                      : split == "grouped" ? DecodeAttention::kSplitGrouped
                      : split == "0"       ? DecodeAttention::kPerHead
                                           : DecodeAttention::kAuto;
  // PONDER_CUDA_SPLIT_KEYS=N: split attention's stretches take at least N keys (32 by default:
  // fewer, longer stretches at short contexts), to compare (stop 33; 64 and 128 lost 3 and 6% at
  // batch 1 on an H200 in stop 36).
  PONDER_ASSIGN_OR_RETURN(split_keys_, Count("PONDER_CUDA_SPLIT_KEYS", kAttentionMinSplitKeys,
                                             kAttentionMaxSplitKeys, kAttentionSplitKeys));

  storage_ = ChooseStorage(weights_);
  // Prefill attention on the tensor cores (kernels.h LaunchPrefillAttention) for BF16 models,
  // whose q cannot overflow the 16-bit type, with heads it takes; else the CUDA-core kernel. On an
  // H200 (docs/cuda_backend.md) it took prefill of Qwen2.5-1.5B's shape from 164 800 to 181 500
  // tokens/s at 64 prompts of 128 and from 76 100 to 132 800 at 16 of 1024.
  // PONDER_CUDA_PREFILL_ATTENTION=cuda_cores keeps the CUDA-core kernel, to compare.
  PONDER_ASSIGN_OR_RETURN(const std::string_view prefill,
                          Choice("PONDER_CUDA_PREFILL_ATTENTION", {"", "mma", "cuda_cores"}));
  const AttentionShape heads{c.num_heads, c.num_kv_heads, c.head_dim};
  if (prefill != "cuda_cores" && storage_ == StorageType::kBF16 &&
      PrefillAttentionSupports(heads, PrefillKernel::kTensorCores)) {
    prefill_kernel_ = PrefillKernel::kTensorCores;
  }
  PONDER_ASSIGN_OR_RETURN(
      embedding_, UploadStacked({&weights_.token_embedding()}, storage_, "token embedding"));
  if (weights_.output().data == weights_.token_embedding().data) {
    output_.data = embedding_.data;  // tied: one copy
    output_.rows = embedding_.rows;
    output_.cols = embedding_.cols;
  } else {
    PONDER_ASSIGN_OR_RETURN(output_,
                            UploadStacked({&weights_.output()}, storage_, "output projection"));
  }
  PONDER_ASSIGN_OR_RETURN(output_norm_, UploadFloats({&weights_.output_norm()}, "output norm"));
  PONDER_ASSIGN_OR_RETURN(inv_freq_,
                          UploadFloats({&weights_.rope_inverse_frequencies()}, "rope frequencies"));
  if (const std::optional<RewardHeadWeights>& head = weights_.reward_head(); head.has_value()) {
    if (head->hidden.has_value()) {
      PONDER_ASSIGN_OR_RETURN(head_hidden_, UploadMatrixF32(*head->hidden, "reward head"));
      if (!head->hidden_bias.empty()) {
        PONDER_ASSIGN_OR_RETURN(head_hidden_bias_,
                                UploadFloats({&head->hidden_bias}, "reward head"));
      }
    }
    PONDER_ASSIGN_OR_RETURN(head_output_, UploadMatrixF32(head->output, "reward head"));
    head_labels_ = head->num_labels();
  }
  layers_.resize(c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = weights_.layers()[l];
    DeviceLayer& d = layers_[l];
    const std::string what = absl::StrCat("layer ", l, " weights");
    PONDER_ASSIGN_OR_RETURN(d.qkv, UploadStacked({&w.wq, &w.wk, &w.wv}, storage_, what));
    PONDER_ASSIGN_OR_RETURN(d.wo, UploadStacked({&w.wo}, storage_, what));
    PONDER_ASSIGN_OR_RETURN(d.gate_up, UploadStacked({&w.w_gate, &w.w_up}, storage_, what));
    PONDER_ASSIGN_OR_RETURN(d.down, UploadStacked({&w.w_down}, storage_, what));
    PONDER_ASSIGN_OR_RETURN(d.attention_norm, UploadFloats({&w.attention_norm}, what));
    PONDER_ASSIGN_OR_RETURN(d.ffn_norm, UploadFloats({&w.ffn_norm}, what));
    if (c.attention_bias) {
      PONDER_ASSIGN_OR_RETURN(d.qkv_bias, UploadFloats({&w.bq, &w.bk, &w.bv}, what));
    }
    if (c.qk_norm) {
      PONDER_ASSIGN_OR_RETURN(d.q_norm, UploadFloats({&w.q_norm}, what));
      PONDER_ASSIGN_OR_RETURN(d.k_norm, UploadFloats({&w.k_norm}, what));
    }
  }
  // Step buffers for the largest step the engine plans, before measuring what is left.
  PONDER_RETURN_IF_ERROR(
      Reserve(options.max_batch_tokens, options.max_batch_tokens, options.max_batch_tokens));

  KvCacheShape shape{c.num_layers, c.num_kv_heads, c.head_dim, options.block_size,
                     static_cast<int>(kValueBytes)};
  const int64_t block_bytes = static_cast<int64_t>(shape.bytes_per_block());
  size_t free_bytes = 0, total_bytes = 0;
  PONDER_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
  const int64_t margin =
      std::max<int64_t>(int64_t{1} << 30, static_cast<int64_t>(total_bytes / 20));
  const int64_t available = static_cast<int64_t>(free_bytes) - margin;
  int64_t budget = options.kv_budget_bytes;
  if (budget > 0) {
    if (budget > available) {
      return absl::ResourceExhaustedError(
          absl::StrCat("a KV budget of ", budget, " bytes does not fit on cuda:0: ", free_bytes,
                       " bytes are free after the weights, and ", margin, " are kept as a margin"));
    }
  } else {
    const int64_t useful = 64 * (c.max_context / options.block_size + 1) * block_bytes;
    budget = std::min(available, useful);
  }
  const int64_t blocks = std::min<int64_t>(budget / block_bytes, int64_t{1} << 30);
  if (blocks < 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no KV block of ", block_bytes, " bytes fits on cuda:0: ", free_bytes,
                     " bytes are free after the weights, and ", margin, " are kept as a margin"));
  }
  PONDER_ASSIGN_OR_RETURN(
      DeviceBuffer kv_data,
      DeviceBuffer::Allocate(static_cast<size_t>(blocks * block_bytes), "KV cache"));
  // Zeroed as the CPU cache is (calloc), so no step ever reads uninitialized memory.
  PONDER_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(kv_data.data(), 0, kv_data.bytes(), stream_));
  PONDER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  kv_ =
      std::make_unique<DeviceKvCache>(shape, static_cast<int>(blocks), std::move(kv_data), stream_);
  description_ = absl::StrCat("cuda:0 ", properties.name, ", ",
                              storage_ == StorageType::kBF16 ? "bf16" : "f16", ", ", blocks,
                              " KV blocks (", blocks * block_bytes >> 20, " MiB)");
  return absl::OkStatus();
}

namespace {

// The attention kernels' view of the model and its KV cache.
AttentionShape AttentionShapeOf(const ModelConfig& c, const DeviceKvCache& kv) {
  return {c.num_heads, c.num_kv_heads, c.head_dim, c.num_layers, kv.shape().block_size};
}
}  // namespace

absl::Status CudaBackend::Reserve(int64_t tokens, int64_t rows, int64_t draws) {
  const ModelConfig& c = weights_.config();
  const int64_t H = c.hidden_size, Q = c.q_size(), KV = c.kv_size(), I = c.intermediate_size;
  // A group's capacity is zero while it grows: a buffer that failed to grow has been freed, and
  // the next step must not take the old capacity for granted (it grows again, or fails again).
  if (tokens > token_capacity_) {
    token_capacity_ = 0;
    PONDER_RETURN_IF_ERROR(x_.Reserve(tokens * H * sizeof(float), "step activations"));
    PONDER_RETURN_IF_ERROR(
        wide_.Reserve(tokens * std::max(Q + 2 * KV, 2 * I) * sizeof(float), "step activations"));
    PONDER_RETURN_IF_ERROR(
        narrow_.Reserve(tokens * std::max({H, Q, I}) * kValueBytes, "step activations"));
    token_capacity_ = tokens;
  }
  if (rows > row_capacity_) {
    row_capacity_ = 0;
    PONDER_RETURN_IF_ERROR(rows16_.Reserve(rows * H * kValueBytes, "output rows"));
    PONDER_RETURN_IF_ERROR(hidden_.Reserve(rows * H * sizeof(float), "output rows"));
    PONDER_RETURN_IF_ERROR(logits_.Reserve(rows * c.vocab_size * sizeof(float), "logits"));
    if (head_labels_ > 0) {
      PONDER_RETURN_IF_ERROR(reward_hidden_.Reserve(rows * H * sizeof(float), "reward head"));
      PONDER_RETURN_IF_ERROR(
          reward_logits_.Reserve(rows * head_labels_ * sizeof(float), "reward head"));
    }
    PONDER_RETURN_IF_ERROR(greedy_.Reserve(rows * 2 * sizeof(float), "greedy tokens"));
    PONDER_RETURN_IF_ERROR(greedy_scratch_.Reserve(
        GreedyScratchBytes(static_cast<int>(rows), c.vocab_size), "greedy tokens"));
    row_capacity_ = rows;
  }
  if (draws > draw_capacity_) {
    draw_capacity_ = 0;
    PONDER_RETURN_IF_ERROR(draw_params_.Reserve(draws * sizeof(DrawParams), "token draws"));
    PONDER_RETURN_IF_ERROR(host_draw_params_.Reserve(draws * sizeof(DrawParams), "token draws"));
    PONDER_RETURN_IF_ERROR(drawn_.Reserve(draws * 2 * sizeof(float), "token draws"));
    PONDER_RETURN_IF_ERROR(host_drawn_.Reserve(draws * 2 * sizeof(float), "token draws"));
    draw_capacity_ = draws;
  }
  if (const std::optional<size_t> bytes = CachedDrawBytes(draws);
      bytes && *bytes > draw_probabilities_.bytes()) {
    // A speed-up, never a reason for the step to fail: without the memory the draws compute
    // each probability again (the buffer is freed when it cannot grow), and steps of as many
    // draws or more no longer ask for it.
    if (!draw_probabilities_.Reserve(*bytes, "token draws").ok()) draw_cache_bytes_ = *bytes - 1;
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::MatMul(const DeviceMatrix& w, const void* x, int64_t tokens, float* out,
                                 float beta, const SkinnyPlan* plan) {
  if (tokens <= skinny_tokens_ && w.cols % 8 == 0) {
    // Reading the weights once is the whole cost: at one token cuBLAS does worse on the attention
    // and MLP products (docs/cuda_backend.md); at two or more the matrix-vector kernels do.
    PONDER_CUDA_RETURN_IF_ERROR(
        LaunchSkinnyMatMul(storage_, w.data, static_cast<int>(w.rows), static_cast<int>(w.cols), x,
                           static_cast<int>(tokens), out, beta, Next(), nullptr,
                           plan != nullptr ? *plan : skinny_plan_));
    return absl::OkStatus();
  }
  return Gemm(w, x, tokens, out, CUDA_R_32F, beta);
}

absl::Status CudaBackend::GemmF32(const DeviceBuffer& w, int64_t rows, int64_t cols, const float* x,
                                  int64_t tokens, float* out) {
  return GemmEx(w.data(), rows, cols, CUDA_R_32F, x, tokens, out, CUDA_R_32F, 0.0f);
}

absl::Status CudaBackend::MatMul16(const DeviceMatrix& w, const void* x, int64_t tokens,
                                   void* out) {
  return Gemm(w, x, tokens, out, CudaType(storage_), 0.0f);
}

absl::Status CudaBackend::Gemm(const DeviceMatrix& w, const void* x, int64_t tokens, void* out,
                               cudaDataType_t out_type, float beta) {
  return GemmEx(w.data, w.rows, w.cols, CudaType(storage_), x, tokens, out, out_type, beta);
}

absl::Status CudaBackend::GemmEx(const void* w, int64_t rows, int64_t cols, cudaDataType_t in_type,
                                 const void* x, int64_t tokens, void* out, cudaDataType_t out_type,
                                 float beta) {
  const float alpha = 1.0f;
  PONDER_CUBLAS_RETURN_IF_ERROR(
      cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                   static_cast<int>(tokens), static_cast<int>(cols), &alpha, w, in_type,
                   static_cast<int>(cols), x, in_type, static_cast<int>(cols), &beta, out, out_type,
                   static_cast<int>(rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

absl::Status CudaBackend::Forward(std::span<const SequenceChunk> chunks,
                                  const ForwardOptions& options, ForwardOutput& output) {
  PONDER_RETURN_IF_ERROR(kv_->TakeError());
  const ModelConfig& c = weights_.config();
  PONDER_RETURN_IF_ERROR(ValidateChunks(c, *kv_, chunks));
  PONDER_RETURN_IF_ERROR(ValidateOutputRequests(weights_, chunks, options));
  const int64_t H = c.hidden_size, V = c.vocab_size;
  const int block_size = kv_->shape().block_size;

  // Step metadata, packed into one host-to-device copy:
  //   tokens [T] | positions [T] | table offsets [T] | output rows [R] | block tables |
  //   prefill attention tiles [2 tiles] (first token, count)
  int64_t T = 0, R = 0, table_entries = 0, tiles = 0, contexts = 0;
  bool one_token_each = true;
  for (const SequenceChunk& chunk : chunks) {
    const int64_t n = static_cast<int64_t>(chunk.tokens.size());
    one_token_each &= n == 1;
    T += n;
    contexts += chunk.start_position + n;
    R += static_cast<int64_t>(chunk.output_rows.size());
    table_entries += (chunk.start_position + n + block_size - 1) / block_size;
    tiles += (n + kPrefillTileTokens - 1) / kPrefillTileTokens;
  }
  // Decode steps (one token per sequence) have few shapes and run from graphs; other steps
  // have many, are launched directly, and take the tiled prefill attention.
  if (one_token_each) tiles = 0;
  output.num_rows = R;
  if (T == 0) {
    output.logits.clear();
    output.hidden.clear();
    output.drawn_tokens.clear();
    output.drawn_logprobs.clear();
    output.reward_logits.clear();
    return absl::OkStatus();
  }
  const int64_t meta_count = 3 * T + R + table_entries + 2 * tiles;
  const size_t meta_bytes = meta_count * sizeof(int32_t);
  if (meta_bytes > std::min(host_metadata_.bytes(), metadata_.bytes())) {
    // Twice the need: block tables grow a block at a time, and a moved buffer means the decode
    // graphs are captured again.
    PONDER_RETURN_IF_ERROR(host_metadata_.Reserve(2 * meta_bytes, "step metadata"));
    PONDER_RETURN_IF_ERROR(metadata_.Reserve(2 * meta_bytes, "step metadata"));
  }
  const int64_t D = static_cast<int64_t>(options.draws.size());
  PONDER_RETURN_IF_ERROR(Reserve(T, R, D));
  bool split_attention = one_token_each && SplitsDecodeAttention(T, contexts);
  const bool wide_attention =
      split_attention && DecodeAttentionGoesWide(T * c.num_heads, contexts / T,
                                                 wide_attention_context_, multiprocessors_);
  if (wide_attention) split_attention = false;
  if (split_attention) {
    PONDER_RETURN_IF_ERROR(split_scratch_.Reserve(
        SplitAttentionScratchBytes(static_cast<int>(T), AttentionShapeOf(c, *kv_)),
        "split attention"));
  }
  int32_t* host = host_metadata_.as<int32_t>();
  int32_t *tokens = host, *positions = host + T, *offsets = host + 2 * T, *rows = host + 3 * T;
  int32_t* tables = rows + R;
  int32_t* tile_list = tables + table_entries;
  int64_t t = 0, r = 0, table_at = 0, tile_at = 0;
  for (const SequenceChunk& chunk : chunks) {
    const int64_t n = static_cast<int64_t>(chunk.tokens.size());
    for (int64_t i = 0; tiles > 0 && i < n; i += kPrefillTileTokens, ++tile_at) {
      tile_list[2 * tile_at] = static_cast<int32_t>(t + i);
      tile_list[2 * tile_at + 1] =
          static_cast<int32_t>(std::min<int64_t>(kPrefillTileTokens, n - i));
    }
    for (int64_t i = 0; i < n; ++i, ++t) {
      tokens[t] = chunk.tokens[i];
      positions[t] = static_cast<int32_t>(chunk.start_position + i);
      offsets[t] = static_cast<int32_t>(table_at);
    }
    for (int32_t row : chunk.output_rows) rows[r++] = static_cast<int32_t>(t - n + row);
    const int64_t blocks = (chunk.start_position + n + block_size - 1) / block_size;
    std::memcpy(tables + table_at, chunk.block_table.data(), blocks * sizeof(int32_t));
    table_at += blocks;
  }
  // From the first copy on, the stream has work that reads the pinned buffers: a step that fails
  // after it waits for that work, as the next step rewrites them.
  const bool timed = one_token_each && step_events_[0] != nullptr;
  std::chrono::steady_clock::time_point enqueue_start;
  auto enqueue_and_collect = [&]() -> absl::Status {
    if (timed) {
      enqueue_start = std::chrono::steady_clock::now();
      PONDER_CUDA_RETURN_IF_ERROR(cudaEventRecord(step_events_[0], stream_));
    }
    PONDER_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        metadata_.data(), host, meta_count * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    // The draws: the rows' argmaxes when every draw is greedy and draw r reads row r (greedy
    // decoding), else LaunchDrawTokens with each draw's parameters and Philox draw.
    bool sample = D > 0 && D != R;
    for (int64_t d = 0; d < D; ++d) {
      const TokenDraw& draw = options.draws[d];
      sample |= !draw.sampling.greedy() || draw.row != d;
    }
    if (sample) {
      DrawParams* params = host_draw_params_.as<DrawParams>();
      for (int64_t d = 0; d < D; ++d) params[d] = DrawParamsOf(options.draws[d]);
      PONDER_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
          draw_params_.data(), params, D * sizeof(DrawParams), cudaMemcpyHostToDevice, stream_));
    }

    const StepKey key{.tokens = T,
                      .rows = R,
                      .tiles = tiles,
                      .table_entries = table_entries,
                      .draws = D,
                      .sample = sample,
                      .head = (options.logits || D > 0) && R > 0,
                      .hidden = options.hidden && R > 0,
                      .rewards = !options.reward_rows.empty(),
                      .split_attention = split_attention,
                      .wide_attention = wide_attention};
    const bool graphed = use_graphs_ && one_token_each && T <= kMaxGraphTokens;
    PONDER_RETURN_IF_ERROR(graphed ? EnqueueStepGraphed(key) : EnqueueStep(key));

    // Rows the caller asked for, to the host (the logits of a step that only draws stay here).
    auto copy_back = [&](bool wanted, const DeviceBuffer& from, int64_t count,
                         std::vector<float>& to) -> absl::Status {
      if (!wanted || R == 0) {
        to.clear();
        return absl::OkStatus();
      }
      to.resize(count);
      return CudaStatus(cudaMemcpyAsync(to.data(), from.data(), count * sizeof(float),
                                        cudaMemcpyDeviceToHost, stream_),
                        "cudaMemcpyAsync(outputs to the host)");
    };
    PONDER_RETURN_IF_ERROR(copy_back(options.logits, logits_, R * V, output.logits));
    PONDER_RETURN_IF_ERROR(copy_back(options.hidden, hidden_, R * H, output.hidden));
    PONDER_RETURN_IF_ERROR(copy_back(key.rewards, reward_logits_, R * head_labels_, reward_rows_));
    double enqueue_seconds = 0;
    if (timed) {
      PONDER_CUDA_RETURN_IF_ERROR(cudaEventRecord(step_events_[1], stream_));
      enqueue_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - enqueue_start).count();
    }
    // Also keeps host_metadata_ and host_draw_params_ untouched until their copies are done.
    PONDER_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    if (timed) {
      float milliseconds = 0;
      PONDER_CUDA_RETURN_IF_ERROR(
          cudaEventElapsedTime(&milliseconds, step_events_[0], step_events_[1]));
      ++step_timing_.steps;
      step_timing_.stream_seconds += milliseconds * 1e-3;
      step_timing_.enqueue_seconds += enqueue_seconds;
    }
    output.drawn_tokens.assign(host_drawn_.as<int32_t>(), host_drawn_.as<int32_t>() + D);
    output.drawn_logprobs.assign(host_drawn_.as<float>() + D, host_drawn_.as<float>() + 2 * D);
    // The reward rows' label logits, with the output bias (as RewardHeadLogits adds it).
    output.reward_logits.clear();
    for (int32_t row : options.reward_rows) {
      for (int k = 0; k < head_labels_; ++k) {
        const std::vector<float>& bias = weights_.reward_head()->output_bias;
        output.reward_logits.push_back(reward_rows_[row * head_labels_ + k] +
                                       (bias.empty() ? 0.0f : bias[k]));
      }
    }
    return absl::OkStatus();
  };
  absl::Status status = enqueue_and_collect();
  if (!status.ok()) cudaStreamSynchronize(stream_);  // the step's own error is the one to report
  return status;
}

absl::Status CudaBackend::EnqueueStep(const StepKey& key) {
  const ModelConfig& c = weights_.config();
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t T = key.tokens, R = key.rows;
  const int32_t* d_tokens = metadata_.as<int32_t>();
  const int32_t *d_positions = d_tokens + T, *d_offsets = d_tokens + 2 * T;
  const int32_t *d_rows = d_tokens + 3 * T, *d_tables = d_rows + R;

  float* x = x_.as<float>();
  float* wide = wide_.as<float>();
  void* narrow = narrow_.data();
  void* cache = kv_->data();
  const AttentionShape shape = AttentionShapeOf(c, *kv_);
  const int nt = static_cast<int>(T);
  // Decode-sized steps compute the gate and up products and SwiGLU in one pass, into `wide`
  // (free again once attention has read q from it) as 16-bit values, and, where the normed rows
  // fit in shared memory, the RMSNorms inside the products that read them.
  const bool fused_mlp = T <= skinny_tokens_ && H % 8 == 0;
  const bool fused_norm =
      fused_mlp && static_cast<size_t>(T * H) * kValueBytes <= kSkinnyMaxNormBytes;

  PONDER_CUDA_RETURN_IF_ERROR(LaunchEmbeddingGather(storage_, embedding_.data, static_cast<int>(H),
                                                    d_tokens, nt, x, stream_));
  for (int l = 0; l < c.num_layers; ++l) {
    const DeviceLayer& layer = layers_[l];
    const SkinnyNorm attention_norm{x, layer.attention_norm.as<float>(), c.rms_norm_eps};
    const SkinnyNorm ffn_norm{x, layer.ffn_norm.as<float>(), c.rms_norm_eps};
    const QkvParams params{.bias = c.attention_bias ? layer.qkv_bias.as<float>() : nullptr,
                           .q_norm = c.qk_norm ? layer.q_norm.as<float>() : nullptr,
                           .k_norm = c.qk_norm ? layer.k_norm.as<float>() : nullptr,
                           .eps = c.rms_norm_eps,
                           .inv_freq = inv_freq_.as<float>(),
                           .neox = c.rope_style == RopeStyle::kNeox};
    const bool fused_rope = qkv_rope_ && fused_norm && T == 1 &&
                            SkinnyQkvRopeSupports(shape, static_cast<int>(H), params, skinny_plan_);
    if (fused_rope) {
      PONDER_CUDA_RETURN_IF_ERROR(LaunchSkinnyQkvRope(
          storage_, layer.qkv.data, static_cast<int>(H), nullptr, wide, shape, l, params,
          d_positions, d_offsets, d_tables, cache, Next(), &attention_norm, skinny_plan_));
    } else if (fused_norm) {
      PONDER_CUDA_RETURN_IF_ERROR(LaunchSkinnyMatMul(
          storage_, layer.qkv.data, static_cast<int>(layer.qkv.rows), static_cast<int>(H), nullptr,
          nt, wide, 0.0f, Next(), &attention_norm, skinny_plan_));
    } else {
      PONDER_CUDA_RETURN_IF_ERROR(LaunchRmsNorm(storage_, x, static_cast<int>(H), nullptr, nt,
                                                attention_norm.weight, c.rms_norm_eps, narrow,
                                                nullptr, Next()));
      PONDER_RETURN_IF_ERROR(MatMul(layer.qkv, narrow, T, wide, 0.0f));
    }
    if (!fused_rope) {
      PONDER_CUDA_RETURN_IF_ERROR(LaunchQkvRopeStore(
          storage_, wide, nt, shape, l, params, d_positions, d_offsets, d_tables, cache, Next()));
    }
    if (key.tiles > 0 && PrefillAttentionSupports(shape)) {
      PONDER_CUDA_RETURN_IF_ERROR(LaunchPrefillAttention(
          storage_, wide, d_tables + key.table_entries, static_cast<int>(key.tiles), shape, l,
          d_positions, d_offsets, d_tables, cache, narrow, Next(), prefill_kernel_));
    } else if (key.split_attention) {
      const SplitAttentionPlan plan{
          .kernel = decode_attention_ == DecodeAttention::kSplitGrouped
                        ? AttentionKernel::kPerKvHead
                        : AttentionKernel::kPerHead,
          .pipelined = PipelinesDecodeAttention(T, DecodeAttentionLayout::kSplit),
          .split_keys = split_keys_};
      PONDER_CUDA_RETURN_IF_ERROR(LaunchSplitAttention(storage_, wide, nt, shape, l, d_positions,
                                                       d_offsets, d_tables, cache, narrow,
                                                       split_scratch_.data(), Next(), plan));
    } else {
      // Decode steps a block per head (a wide one where key.wide_attention); prefill steps whose
      // heads the tiled kernels do not take.
      PONDER_CUDA_RETURN_IF_ERROR(LaunchPagedAttention(
          storage_, wide, nt, shape, l, d_positions, d_offsets, d_tables, cache, narrow, Next(),
          key.wide_attention ? AttentionKernel::kPerHeadWide : AttentionKernel::kAuto,
          key.tiles == 0 &&
              PipelinesDecodeAttention(T, key.wide_attention ? DecodeAttentionLayout::kWide
                                                             : DecodeAttentionLayout::kPerHead)));
    }
    PONDER_RETURN_IF_ERROR(MatMul(layer.wo, narrow, T, x, 1.0f));  // x += attention · Wo
    if (!fused_norm) {
      PONDER_CUDA_RETURN_IF_ERROR(LaunchRmsNorm(storage_, x, static_cast<int>(H), nullptr, nt,
                                                ffn_norm.weight, c.rms_norm_eps, narrow, nullptr,
                                                Next()));
    }
    if (fused_mlp) {
      PONDER_CUDA_RETURN_IF_ERROR(
          LaunchSkinnySwiGlu(storage_, layer.gate_up.data, static_cast<int>(I), static_cast<int>(H),
                             fused_norm ? nullptr : narrow, nt, wide, Next(),
                             fused_norm ? &ffn_norm : nullptr, skinny_plan_));
      // x += mlp: at one token on the matrix-vector kernel (skinny_down_), else through cuBLAS.
      if (skinny_down_ && T == 1) {
        SkinnyPlan down_plan = skinny_plan_;
        down_plan.plain_unroll = down_unroll_;
        PONDER_RETURN_IF_ERROR(MatMul(layer.down, wide, T, x, 1.0f, &down_plan));
      } else {
        PONDER_RETURN_IF_ERROR(Gemm(layer.down, wide, T, x, CUDA_R_32F, 1.0f));
      }
    } else {
      // 16-bit products (as the model's own dtype would give): the widest activation of a
      // prefill step, written and read once each.
      PONDER_RETURN_IF_ERROR(MatMul16(layer.gate_up, narrow, T, wide));
      PONDER_CUDA_RETURN_IF_ERROR(LaunchSiluMul(storage_, wide, /*f32_input=*/false, nt,
                                                static_cast<int>(I), narrow, Next()));
      PONDER_RETURN_IF_ERROR(Gemm(layer.down, narrow, T, x, CUDA_R_32F, 1.0f));  // x += mlp
    }
  }

  // Final norm of the requested rows, then the output projection.
  if (R > 0) {
    PONDER_CUDA_RETURN_IF_ERROR(
        LaunchRmsNorm(storage_, x, static_cast<int>(H), d_rows, static_cast<int>(R),
                      output_norm_.as<float>(), c.rms_norm_eps, rows16_.data(),
                      key.hidden || key.rewards ? hidden_.as<float>() : nullptr, Next()));
  }
  if (key.head) {  // through cuBLAS, faster than the matrix-vector kernel at any batch
    PONDER_RETURN_IF_ERROR(Gemm(output_, rows16_.data(), R, logits_.as<float>(), CUDA_R_32F, 0.0f));
  }
  if (key.rewards) {  // in f32 through cuBLAS: [Linear(H,H) -> ReLU ->] Linear(H,k)
    const float* in = hidden_.as<float>();
    if (head_hidden_.data() != nullptr) {
      PONDER_RETURN_IF_ERROR(GemmF32(head_hidden_, H, H, in, R, reward_hidden_.as<float>()));
      PONDER_CUDA_RETURN_IF_ERROR(LaunchBiasRelu(reward_hidden_.as<float>(),
                                                 head_hidden_bias_.as<float>(), static_cast<int>(H),
                                                 static_cast<int>(R), Next()));
      in = reward_hidden_.as<float>();
    }
    PONDER_RETURN_IF_ERROR(
        GemmF32(head_output_, head_labels_, H, in, R, reward_logits_.as<float>()));
  }
  if (key.draws > 0) {
    const int32_t* argmax = greedy_.as<int32_t>();
    const float* argmax_logprob = greedy_.as<float>() + R;
    PONDER_CUDA_RETURN_IF_ERROR(LaunchGreedyLogprob(
        logits_.as<float>(), static_cast<int>(R), static_cast<int>(V), greedy_.as<int32_t>(),
        greedy_.as<float>() + R, greedy_scratch_.data(), Next()));
    const int64_t D = key.draws;
    if (key.sample) {
      const std::optional<size_t> bytes = CachedDrawBytes(D);
      float* probabilities = bytes && draw_probabilities_.bytes() >= *bytes
                                 ? draw_probabilities_.as<float>()
                                 : nullptr;
      PONDER_CUDA_RETURN_IF_ERROR(
          LaunchDrawTokens(logits_.as<float>(), static_cast<int>(V), argmax, argmax_logprob,
                           draw_params_.as<DrawParams>(), static_cast<int>(D), drawn_.as<int32_t>(),
                           drawn_.as<float>() + D, Next(), probabilities, draw_blocks_));
    }
    // [D] tokens then [D] log-probs either way (without sampling D = R).
    PONDER_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_drawn_.data(), key.sample ? drawn_.data() : greedy_.data(),
                        D * 2 * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  }
  return absl::OkStatus();
}

bool CudaBackend::PipelinesDecodeAttention(int64_t tokens, DecodeAttentionLayout layout) const {
  switch (attention_pipeline_) {
    case Pipeline::kOff:
      return false;
    case Pipeline::kOn:
      return true;
    case Pipeline::kAuto:
      return DecodeAttentionPipelines(tokens * weights_.config().num_heads, layout,
                                      multiprocessors_);
  }
  return false;
}

bool CudaBackend::SplitsDecodeAttention(int64_t tokens, int64_t contexts) const {
  switch (decode_attention_) {
    case DecodeAttention::kPerHead:
      return false;
    case DecodeAttention::kSplit:
    case DecodeAttention::kSplitGrouped:
      return true;
    case DecodeAttention::kAuto:
      // A block per head leaves multiprocessors idle, each walking the whole context. On an
      // H200 (docs/cuda_backend.md) splitting took a batch-1 step of Qwen2.5-1.5B's shape (12
      // heads) at a context of about 160 from 1.89 to 1.65 ms and at 1 100 from 3.94 to 1.85 ms,
      // and cost 1% of decode throughput at batch 16 and 20% at batch 64, whose heads fill the
      // 132 multiprocessors without it. With up to two heads per multiprocessor the steps of long
      // contexts still split (stop 25): at batch 16 (192 heads) and a context of 1 024, 4 324
      // tokens/s split against 3 921 a block per head; at 2 048, 3 273 against 2 531; at 512, 5 674
      // against 5 748; at batch 32 (384 heads) and 2 048 splitting lost 12%.
      return DecodeAttentionSplits(tokens * weights_.config().num_heads, contexts / tokens,
                                   multiprocessors_);
  }
  return false;
}

CudaBackend::BufferSignature CudaBackend::Signature() const {
  return {
      x_.data(),          wide_.data(),          narrow_.data(),        rows16_.data(),
      hidden_.data(),     logits_.data(),        greedy_.data(),        greedy_scratch_.data(),
      metadata_.data(),   split_scratch_.data(), draw_params_.data(),   drawn_.data(),
      host_drawn_.data(), reward_hidden_.data(), reward_logits_.data(), draw_probabilities_.data()};
}

absl::Status CudaBackend::EnqueueStepGraphed(const StepKey& key) {
  if (graphs_.size() >= kMaxGraphs && !graphs_.contains(key)) graphs_.clear();
  StepGraph& graph = graphs_[key];
  if (graph.eager_only || graph.uses++ == 0) return EnqueueStep(key);
  if (graph.exec == nullptr || graph.signature != Signature()) {
    graph.exec.reset();
    // Relaxed: nothing else runs on this thread meanwhile, and no call is refused for being
    // "unsafe" during a capture.
    PONDER_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    const absl::Status enqueued = EnqueueStep(key);
    cudaGraph_t captured = nullptr;
    cudaError_t error = cudaStreamEndCapture(stream_, &captured);
    cudaGraphExec_t exec = nullptr;
    if (enqueued.ok() && error == cudaSuccess) error = cudaGraphInstantiate(&exec, captured, 0);
    if (captured != nullptr) cudaGraphDestroy(captured);
    if (!enqueued.ok() || error != cudaSuccess) {
      // The step still runs, launched directly; an error that is not the capture's own shows
      // again there.
      (void)cudaGetLastError();
      graph.eager_only = true;
      ++graph_stats_.fallbacks;
      if (graph_stats_.first_fallback.empty()) {
        graph_stats_.first_fallback =
            !enqueued.ok() ? std::string(enqueued.message())
                           : absl::StrCat(cudaGetErrorName(error), ": ", cudaGetErrorString(error));
      }
      return EnqueueStep(key);
    }
    graph.exec = {exec, [](cudaGraphExec_t e) { cudaGraphExecDestroy(e); }};
    graph.signature = Signature();
    ++graph_stats_.captures;
  }
  PONDER_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(graph.exec.get(), stream_));
  ++graph_stats_.launches;
  return absl::OkStatus();
}

}  // namespace

absl::Status DeviceStatus() {
  static const absl::Status* const status = new absl::Status([]() -> absl::Status {
    int count = 0;
    cudaError_t error = cudaGetDeviceCount(&count);
    if (error != cudaSuccess) {
      (void)cudaGetLastError();
      return absl::FailedPreconditionError(absl::StrCat(
          "no usable CUDA device: cudaGetDeviceCount failed: ", cudaGetErrorName(error), " (",
          cudaGetErrorString(error), ")"));
    }
    if (count == 0) return absl::FailedPreconditionError("no CUDA device is present");
    return absl::OkStatus();
  }());
  return *status;
}

absl::StatusOr<double> MeasureCopyBandwidth(size_t bytes) {
  PONDER_RETURN_IF_ERROR(DeviceStatus());
  PONDER_ASSIGN_OR_RETURN(DeviceBuffer source, DeviceBuffer::Allocate(bytes, "copy source"));
  PONDER_ASSIGN_OR_RETURN(DeviceBuffer target, DeviceBuffer::Allocate(bytes, "copy target"));
  PONDER_CUDA_RETURN_IF_ERROR(cudaMemset(source.data(), 1, bytes));
  PONDER_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(target.data(), source.data(), bytes, cudaMemcpyDeviceToDevice));
  cudaEvent_t start, stop;
  PONDER_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  PONDER_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  constexpr int kCopies = 20;
  PONDER_CUDA_RETURN_IF_ERROR(cudaEventRecord(start));
  for (int i = 0; i < kCopies; ++i) {
    PONDER_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(target.data(), source.data(), bytes, cudaMemcpyDeviceToDevice));
  }
  PONDER_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop));
  PONDER_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
  float milliseconds = 0;
  PONDER_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&milliseconds, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 2.0 * static_cast<double>(bytes) * kCopies / (milliseconds * 1e-3);
}

bool DecodeAttentionSplits(int64_t heads, int64_t mean_context, int multiprocessors) {
  return heads < multiprocessors || (heads <= 2 * int64_t{multiprocessors} && mean_context >= 1024);
}

bool DecodeAttentionGoesWide(int64_t heads, int64_t mean_context, int64_t wide_context,
                             int multiprocessors) {
  if (wide_context == kWideAttentionAuto) {
    return 2 * heads >= multiprocessors && mean_context <= kWideAttentionAutoContext;
  }
  return mean_context <= wide_context;
}

bool DecodeAttentionPipelines(int64_t heads, DecodeAttentionLayout layout, int multiprocessors) {
  switch (layout) {
    case DecodeAttentionLayout::kSplit:
      return heads < multiprocessors;
    case DecodeAttentionLayout::kPerHead:
      return heads <= 2 * int64_t{multiprocessors};
    case DecodeAttentionLayout::kWide:
      return heads <= multiprocessors;
  }
  return false;
}

CudaGraphStats GraphStats(const ForwardBackend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  return cuda != nullptr ? cuda->graph_stats() : CudaGraphStats{};
}

CudaStepTiming StepTiming(const ForwardBackend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  return cuda != nullptr ? cuda->step_timing() : CudaStepTiming{};
}

absl::Status CheckSettingNames() {
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    const std::string_view name = variable.substr(0, variable.find('='));
    if (!name.starts_with("PONDER_CUDA_") ||
        std::find(std::begin(kSettings), std::end(kSettings), name) != std::end(kSettings)) {
      continue;
    }
    std::string settings;
    for (std::string_view setting : kSettings) {
      absl::StrAppend(&settings, settings.empty() ? "" : ", ", AsAbsl(setting));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(name), " is not a setting of the CUDA backend; unset it (the settings, ",
        "in docs/cuda_backend.md: ", settings, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ForwardBackend>> CreateCudaBackend(const ModelWeights& weights,
                                                                  const BackendOptions& options) {
  PONDER_RETURN_IF_ERROR(DeviceStatus());
  PONDER_RETURN_IF_ERROR(CheckSettingNames());
  auto backend = std::make_unique<CudaBackend>(weights);
  PONDER_RETURN_IF_ERROR(backend->Initialize(options));
  return backend;
}

}  // namespace ponder::engine::cuda
