// The forward pass on an NVIDIA GPU: the CUDA implementation of ForwardBackend
// (engine/backend.h), selected with Device::kCuda (`--device cuda`).
//
// Weights: matrices are uploaded once, in one 16-bit storage type: F16 when every layer matrix
// of the file is F16, otherwise BF16 (F32, BF16, Q8_0 and Q4_0 matrices are converted at load:
// the quantized ones are dequantized exactly, then rounded to BF16). Norm weights, biases and the
// RoPE frequencies stay f32. Q, K and V are fused into one [Q + 2 KV, hidden] matrix and gate and
// up into one [2 intermediate, hidden] matrix, so a layer is four matrix products.
//
// A step: steps of one token (PONDER_CUDA_SKINNY_TOKENS: up to 8) use the own matrix-vector
// kernels of kernels.h but for the output projection, with the RMSNorms fused into the QKV and
// gate/up products and SwiGLU into the gate/up product; larger steps use cuBLAS (f32 accumulation;
// f32 outputs where the residual is added as beta = 1, 16-bit gate/up outputs) and the tiled
// prefill attention. Decode steps (one token per sequence) are replayed from one CUDA graph per
// step shape (BackendOptions::cuda_graphs; GraphStats counts them), and on compute capability 9.0+
// every kernel after the first may start while its predecessor ends (programmatic dependent launch,
// kernels.h Launch; PONDER_CUDA_EARLY_START=0 turns that off, to compare). Neither changes a
// result: the tests check the bits against kernels launched one by one.
//
// KV cache: blocks in device memory, 16-bit (the storage type), same block ids and layout as
// engine/kv/kv_cache.h. With BackendOptions::kv_budget_bytes = 0 the budget is the free device
// memory after the weights and the step buffers, minus a margin of max(1 GiB, 5% of the device),
// capped at 64 sequences of the full context; a budget that does not fit is RESOURCE_EXHAUSTED.
//
// Outputs: logits (and hidden states when asked) are copied back to the host into ForwardOutput,
// as on the CPU. Draws (ForwardOptions::draws) are made on the GPU, so a step that only draws
// copies two numbers per draw to the host instead of its logits: greedy decoding takes the rows'
// argmaxes; other draws run the CPU sampler's definition (temperature, top-k, top-p, min-p, the
// inverse CDF in id order at the same Philox draw) in LaunchDrawTokens. Given the same logits
// the token is the CPU sampler's except where u or top_p falls next to a boundary between tokens
// (within the truncation of its masses, integers in units of 2^-48, or within the GPU's expf,
// up to 2 ulp from the host's: about 1e-7 of a probability); run to run it is the same. The
// reward head (ForwardOptions::reward_rows) runs on the GPU in f32 (cuBLAS, weights uploaded in
// f32) on the f32 final-norm rows, and only its label logits come back.
//
// Accuracy against the CPU path: 16-bit weights and activations at the inputs of matrix
// products, f32 everywhere else. Measured on an H200 (tests/engine/cuda, random models whose
// logits reach about 14): max |logit difference| 0.004 for F16 files, 0.035 for BF16, 0.05 for
// F32 (rounded to BF16), 0.125 for Q8_0; the tests allow 3% of the largest logit and 0.05 in a
// returned log-prob. Greedy tokens agree except at near ties (the CPU rates the GPU's choice
// within 0.05 of its own). Results are deterministic run to run on one GPU for the same sequence
// of steps; but one-token steps, steps of other widths and prefill steps run different kernels
// (cuBLAS picks its own by shape), so unlike the CPU path a token's log-probs may differ by about
// 1e-4 with what else is in the batch, or when a prefix-cache hit recomputes part of a prompt in
// a step of another shape, and a seeded draw that falls next to a boundary can change.
//
// Performance: docs/cuda_backend.md (bench/engine/engine_bench --device cuda).
#ifndef PONDER_ENGINE_CUDA_CUDA_BACKEND_H_
#define PONDER_ENGINE_CUDA_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/transformer/weights.h"

namespace ponder::engine::cuda {

// OK when a CUDA device is usable; otherwise FAILED_PRECONDITION with CUDA's reason (no driver,
// no device). The answer is computed once and cached.
absl::Status DeviceStatus();

// OK when every PONDER_CUDA_* environment variable set is one of the backend's settings (which
// choose kernel variants, to compare: docs/cuda_backend.md); else INVALID_ARGUMENT naming the
// first that is not (a misspelt or removed setting would otherwise be ignored without a word).
// CreateCudaBackend checks this before anything is uploaded.
absl::Status CheckSettingNames();

// Uploads `weights` to device 0 and allocates the KV cache. `weights` must outlive the backend
// (its configuration and the reward head's output bias are read from it on the host).
absl::StatusOr<std::unique_ptr<ForwardBackend>> CreateCudaBackend(const ModelWeights& weights,
                                                                  const BackendOptions& options);

// How decode steps ran from CUDA graphs (BackendOptions::cuda_graphs): graphs captured, steps
// launched from one, and captures that failed (those steps run with their kernels launched one
// by one; the first failure's reason is kept).
struct CudaGraphStats {
  int64_t captures = 0;
  int64_t launches = 0;
  int64_t fallbacks = 0;
  std::string first_fallback;
};
// `backend`'s counts; all zero for a backend that is not the CUDA one.
CudaGraphStats GraphStats(const ForwardBackend& backend);

// With PONDER_CUDA_STEP_TIMING=1 (read when the backend starts; off by default, since the two
// events a step records cost host time): decode steps (one token per sequence) timed on the
// stream, from an event recorded before the step's metadata is copied to the device to one after
// its outputs are copied back, and on the host, from that first record to the return of the last
// enqueue (the copies, the graph launch or the kernels' launches). The stream was idle before the
// step, so a step's wall time less its stream time is host time between steps (the caller's, the
// step's preparation, the wait for the outputs); the GPU may also wait for the host inside the
// stream time, for at most the enqueue time. The GPU's share of the host's cost thus lies between
// (wall - stream) and (wall - stream + enqueue).
struct CudaStepTiming {
  int64_t steps = 0;
  double stream_seconds = 0;
  double enqueue_seconds = 0;
};
// `backend`'s totals so far; all zero for a backend that is not the CUDA one or does not time.
CudaStepTiming StepTiming(const ForwardBackend& backend);

// The automatic choice for decode attention (PONDER_CUDA_SPLIT_ATTENTION unset): split over the
// positions when the step's `heads` (tokens x query heads) leave some of the `multiprocessors`
// idle, or keep at most two per multiprocessor busy over a mean context of 1 024 positions or more.
bool DecodeAttentionSplits(int64_t heads, int64_t mean_context, int multiprocessors);

// How a decode step's attention runs: a block of 8 warps per head, split over the positions
// (then merged), or a wide block of 16 warps per head (kernels.h kPerHeadWide).
enum class DecodeAttentionLayout { kPerHead, kSplit, kWide };

// Whether a decode step of `heads` (tokens x query heads) whose mean context is `mean_context`
// and whose attention would split takes the wide block per head instead: while the mean context
// is at most `wide_context` (PONDER_CUDA_WIDE_ATTENTION=N; 0: never), or, for
// kWideAttentionAuto (=auto), where the heads fill half the `multiprocessors` or more and the
// mean context is at most kWideAttentionAutoContext. On an H200 (stop 32, docs/cuda_backend.md)
// the wide block gained 7% at batch 8 (96 heads) and a context of 128 and 14% at batch 16 and
// 1 024, was even or lost up to 2% at batch 4 (48 heads) and lost 2 to 30% at batch 1 (12
// heads), where the split's blocks use more of the chip.
inline constexpr int64_t kWideAttentionAuto = -1;
inline constexpr int64_t kWideAttentionAutoContext = 2048;
bool DecodeAttentionGoesWide(int64_t heads, int64_t mean_context, int64_t wide_context,
                             int multiprocessors);

// The automatic choice for pipelining decode attention's loads (PONDER_CUDA_ATTENTION_PIPELINE
// unset; kernels.h LaunchPagedAttention): where the step's `heads` (tokens x query heads) leave
// multiprocessors idle, and, a block of 8 warps per head, up to two per multiprocessor; a wide
// block per head up to one per multiprocessor (its pipelined form takes 115 registers a thread
// for 512 threads, so one block per multiprocessor, where the plain one fits two). The pipelined
// kernels take more registers (113 a thread against 69 for 128-wide heads), so fewer blocks share
// a multiprocessor: on an H200 (stop 28, docs/cuda_backend.md) they gained 1.9% at batch 1
// (split, a context of 128) and 5% at batch 16 (a block per head), and lost 4.3% at batch 64 and
// 8% at batch 16 with a context of 1 024 (split).
bool DecodeAttentionPipelines(int64_t heads, DecodeAttentionLayout layout, int multiprocessors);

// The device-to-device copy bandwidth of device 0, in bytes moved per second (each byte read
// plus each byte written), over copies of `bytes`: the memory roofline the benchmarks compare
// decode steps with.
absl::StatusOr<double> MeasureCopyBandwidth(size_t bytes);

}  // namespace ponder::engine::cuda

#endif  // PONDER_ENGINE_CUDA_CUDA_BACKEND_H_
