// The CUDA kernels of the forward pass, other than the matrix products (cuBLAS does those).
// Internal to engine/cuda; the per-kernel tests (tests/engine/cuda) call them directly.
//
// Every pointer is a device pointer. Each launcher enqueues its kernel on `stream` and returns
// the launch error (cudaGetLastError), if any. Activations that feed a matrix product are 16-bit
// (`type`: the model's storage type); the residual stream, q, and every reduction are f32.
//
// Layouts, for T tokens of a step:
//   x        [T][hidden] f32                    the residual stream
//   qkv      [T][Q + 2 KV] f32                  q, then k, then v (one fused product)
//   cache    per block b and layer l, at ((b * num_layers + l) * 2) * block_size * KV values:
//            K [block_size][num_kv_heads][head_dim], then V the same; 16-bit `type`
//   block tables: token t belongs to a sequence whose table starts at
//            block_tables[table_offsets[t]]; position p lives in block table[p / block_size],
//            slot p % block_size (as on the CPU: engine/kv/kv_cache.h).
#ifndef PONDER_ENGINE_CUDA_KERNELS_H_
#define PONDER_ENGINE_CUDA_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ponder::engine::cuda {

// The 16-bit storage type of the weights, the KV cache and the inputs of matrix products.
enum class StorageType { kBF16, kF16 };

struct AttentionShape {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // even, at most 256
  int num_layers = 0;
  int block_size = 0;
};

// Where a kernel is enqueued: `stream`, and with `early_start` (programmatic dependent launch,
// compute capability 9.0 and newer) the kernel may be scheduled while the previous kernel on the
// stream still runs. Every kernel here waits for its predecessor to finish (and its writes to be
// visible) before it touches activations, and lets its successor start as soon as it runs; the
// matrix-vector kernels fetch their first weights into L2 before they wait. Without early_start
// the stream orders kernels as usual. Converts from a stream (the tests pass nullptr).
struct Launch {
  Launch(cudaStream_t stream, bool early_start = false)  // NOLINT: implicit from a stream
      : stream(stream), early_start(early_start) {}
  cudaStream_t stream;
  bool early_start;
};

// x[t][:] = table[tokens[t]][:] as f32 (table: [vocab][hidden], 16-bit).
cudaError_t LaunchEmbeddingGather(StorageType type, const void* table, int hidden,
                                  const int32_t* tokens, int num_tokens, float* x, Launch launch);

// For r < num_rows, with i = rows ? rows[r] : r:
//   y = x[i] / sqrt(mean(x[i]^2) + eps) * weight   (as Hugging Face's LlamaRMSNorm)
//   out16[r] = y (16-bit), and out32[r] = y when out32 is not null.
cudaError_t LaunchRmsNorm(StorageType type, const float* x, int n, const int32_t* rows,
                          int num_rows, const float* weight, float eps, void* out16, float* out32,
                          Launch launch);

// Per token t: adds `bias` ([Q + 2 KV], or null) to qkv[t]; per head, RMSNorm of q and k with
// q_norm / k_norm ([head_dim], or null: Qwen3); RoPE at positions[t] with `inv_freq`
// ([head_dim / 2]; angle = float(pos) * inv_freq[i], cos/sin in double, as engine/ops),
// pairing (i, i + d/2) when `neox`, else (2i, 2i + 1). q is written back into qkv; k and v go to
// the token's slot in `cache` for `layer`.
struct QkvParams {
  const float* bias = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  float eps = 1e-6f;
  const float* inv_freq = nullptr;
  bool neox = true;
};
cudaError_t LaunchQkvRopeStore(StorageType type, float* qkv, int num_tokens,
                               const AttentionShape& shape, int layer, const QkvParams& params,
                               const int32_t* positions, const int32_t* table_offsets,
                               const int32_t* block_tables, void* cache, Launch launch);

// Causal attention of each token over its sequence's cached positions [0, positions[t]]:
//   out[t][h] = softmax(q[t][h] · K[0..pos][h / group] / sqrt(head_dim)) · V[0..pos][h / group]
// q is read from qkv (row stride Q + 2 KV); out is [T][Q], 16-bit. A thread block per (token,
// head), or per (token, KV head) with the query heads that share it (up to 8; each key read
// once for all of them); its warps split the positions and keep running (online) softmax
// statistics, merged at the end (Milakov & Gimelshein 2018, "Online normalizer calculation for
// softmax"). kAuto shares keys when there are blocks enough for the chip without (prefill).
// `pipelined`: the per-head kernel's warps load their next step of keys and values while they
// score the current one (the same sums). It costs registers: 113 a thread for 128-wide heads (69
// without), 190 for 256-wide (116), so fewer blocks per multiprocessor: on an H200 (stop 28) it
// gained up to 10% where a step has few heads and lost 4 to 8% where it has many (the backend's
// DecodeAttentionPipelines).
//
// kPerHeadWide: a block per (token, head) of kWideAttentionWarps warps instead of 8 (heads of
// at most kWideAttentionMaxDim values; else cudaErrorInvalidValue), for decode steps whose
// attention would split but whose heads fill half the multiprocessors or more, at contexts up to
// 2 048, where it takes the place of LaunchSplitAttention's two kernels: at a context of 128 the
// split runs 4 blocks of 8 warps per head and a merge kernel, this one block of 16 warps whose
// merge is in shared memory. Its warps divide the positions 16 ways, so its sums are grouped
// unlike either's (the same within rounding). On an H200 (stop 32) it gained 3 to 13% at batch
// 6 to 16 and lost 2 to 30% at batch 1, where its few blocks leave the chip idle (the backend's
// DecodeAttentionGoesWide).
inline constexpr int kWideAttentionWarps = 16;
inline constexpr int kWideAttentionMaxDim = 128;  // 512 threads: at most 128 registers a thread
enum class AttentionKernel { kAuto, kPerHead, kPerKvHead, kPerHeadWide };
cudaError_t LaunchPagedAttention(StorageType type, const float* qkv, int num_tokens,
                                 const AttentionShape& shape, int layer, const int32_t* positions,
                                 const int32_t* table_offsets, const int32_t* block_tables,
                                 const void* cache, void* out, Launch launch,
                                 AttentionKernel kernel = AttentionKernel::kAuto,
                                 bool pipelined = false);

// Decode attention split over the positions (flash-decoding: Dao, Haziza, Massa and Sizov 2023),
// LaunchPagedAttention's output from two passes: thread block (t, h, s) takes stretch s of the
// AttentionSplits(positions[t] + 1) stretches of token t's positions (at least
// kAttentionSplitKeys each, at most kAttentionMaxSplits stretches) and writes its partial softmax
// (maximum, denominator, weighted values) to `scratch` (SplitAttentionScratchBytes(num_tokens,
// shape) bytes); then a block per (token, head) merges them in stretch order (Milakov &
// Gimelshein 2018). A batch-1 step at a context of 160 thus runs 5 blocks per head where
// LaunchPagedAttention runs one. The split depends on a sequence's length only, never on the
// batch. The backend takes it for decode steps whose heads alone leave multiprocessors idle, and
// for long contexts with up to two heads per multiprocessor. kPerKvHead makes the first pass
// GroupedAttentionKernel's where KV heads are shared (a block per (token, KV head, stretch) reads
// each key once for the query heads that share it; without grouped-query attention the first
// pass is the per-head one); on an H200 it gained at batch 16 and a context of 2048 and lost at
// batch 1 (docs/cuda_backend.md), so the backend uses it only with
// PONDER_CUDA_SPLIT_ATTENTION=grouped.
//
// split_keys: the least keys a stretch takes (the stretches of AttentionSplits(n, split_keys));
// more make fewer, longer stretches at short contexts (a batch-1 step at a context of 160 runs 5
// blocks per head at 32, 3 at 64). From kAttentionMinSplitKeys (which keeps every stretch
// nonempty, StretchOf) to kAttentionMaxSplitKeys, else cudaErrorInvalidValue.
inline constexpr int kAttentionMaxSplits = 16;
inline constexpr int kAttentionSplitKeys = 32;
inline constexpr int kAttentionMinSplitKeys = kAttentionMaxSplits - 1;
inline constexpr int kAttentionMaxSplitKeys = 1 << 16;
__host__ __device__ constexpr int AttentionSplits(int keys, int split_keys = kAttentionSplitKeys) {
  const int splits = (keys + split_keys - 1) / split_keys;
  return splits < kAttentionMaxSplits ? splits : kAttentionMaxSplits;
}
// `pipelined` as for LaunchPagedAttention, for the per-head first pass (the per-KV-head one
// ignores it): a warp takes two steps or more only where stretches exceed 32 positions, at
// contexts beyond 512.
struct SplitAttentionPlan {
  AttentionKernel kernel = AttentionKernel::kPerHead;
  bool pipelined = false;
  int split_keys = kAttentionSplitKeys;
};
size_t SplitAttentionScratchBytes(int num_tokens, const AttentionShape& shape);
cudaError_t LaunchSplitAttention(StorageType type, const float* qkv, int num_tokens,
                                 const AttentionShape& shape, int layer, const int32_t* positions,
                                 const int32_t* table_offsets, const int32_t* block_tables,
                                 const void* cache, void* out, void* scratch, Launch launch,
                                 const SplitAttentionPlan& plan = {});

// Causal attention for prefill steps, the output of LaunchPagedAttention, tiled: `tiles` holds
// num_tiles pairs (first token, count), each up to kPrefillTileTokens consecutive tokens of one
// sequence (consecutive positions), every token of the step in exactly one tile. Keys and values
// are read once per tile rather than once per token. head_dim a multiple of 8, at most 128
// (PrefillAttentionSupports; wider heads take LaunchPagedAttention).
//
// kCudaCores: a warp per token, up to 4 query heads of a KV head per block, f32 arithmetic.
// kTensorCores: the tile's tokens x up to 8 query heads as rows of mma.sync products (16 x 8 x
// 16, f32 accumulation), q and the softmax weights split into two 16-bit parts each (16
// significant bits in BF16), so the results err far below the output's 16-bit rounding (about
// 1e-5 where kCudaCores errs by 1e-7); head_dim a multiple of 16. In F16 a scaled q beyond
// 65504 would overflow (the backend takes it for BF16 models only, by default).
inline constexpr int kPrefillTileTokens = 8;
enum class PrefillKernel { kCudaCores, kTensorCores };
bool PrefillAttentionSupports(const AttentionShape& shape,
                              PrefillKernel kernel = PrefillKernel::kCudaCores);
cudaError_t LaunchPrefillAttention(StorageType type, const float* qkv, const int32_t* tiles,
                                   int num_tiles, const AttentionShape& shape, int layer,
                                   const int32_t* positions, const int32_t* table_offsets,
                                   const int32_t* block_tables, const void* cache, void* out,
                                   Launch launch, PrefillKernel kernel = PrefillKernel::kCudaCores);

// out[t][i] = silu(gate_up[t][i]) * gate_up[t][inter + i], silu(g) = g / (1 + exp(-g)); out is
// [T][inter], 16-bit; gate_up is [T][2 inter], f32 when `f32_input`, else 16-bit `type`.
cudaError_t LaunchSiluMul(StorageType type, const void* gate_up, bool f32_input, int num_tokens,
                          int inter, void* out, Launch launch);

// out[t][r] = beta * out[t][r] + sum_c x[t][c] * w[r][c] for t < num_tokens <= kSkinnyMaxTokens
// (out row stride: rows): the matrix product of decode steps, where it is a matrix-vector
// product bound by reading w once. A row is read by 1 to 8 warps (split-K, chosen from the
// matrix shape so a short, wide matrix still fills the chip), 16-byte loads; cols % 8 == 0. w
// and x are 16-bit `type`; accumulation in f32, in an order that depends on the matrix shape
// only, never on num_tokens (a sequence's results do not depend on what it is batched with).
//
// With `norm`, x is not read: it is the RMSNorm of norm->x ([num_tokens][cols] f32) with
// norm->weight, the bits LaunchRmsNorm would write, computed by each thread block into shared
// memory (num_tokens * cols * 2 bytes, at most kSkinnyMaxNormBytes), which saves decode steps a
// kernel and a round trip per norm.
inline constexpr int kSkinnyMaxTokens = 8;
// Below the 48 KiB a block may use without opting in, with room for the kernel's own arrays.
inline constexpr size_t kSkinnyMaxNormBytes = 40 << 10;
struct SkinnyNorm {
  const float* x = nullptr;
  const float* weight = nullptr;
  float eps = 1e-6f;
};
// How a matrix-vector launch divides its work. The backend takes the defaults but for
// `gated_unroll` (2) and the one-token down product's `plain_unroll` (SkinnyPlainUnrollFor);
// benchmarks (bench/engine/skinny_bench) compare others. Split-K adds warps per row (1, 2, 4, 8)
// while the product has fewer than `target_warps` and each warp keeps at least 64 chunks of 8
// values; x goes through shared memory when `stage_x` and it fits (always with a norm); the
// persistent grid takes at most `blocks_per_processor` blocks per multiprocessor (0: as many as
// fit: two of 256 threads up to 128 registers a thread, three up to 80; the default one-token
// kernels take 96 to 124 on sm_90). Three blocks per multiprocessor by a register cap (80, some
// spilled) and two batches of weights loaded before the wait instead of one were slower on an H200
// in stop 28 (docs/cuda_backend.md) and removed.
//
// `gated_unroll` and `plain_unroll` (0: the default) set the chunks of 8 values a lane loads in
// one batch for one-token products (the QKV product with rope, and steps of more tokens, keep the
// default): gated 2, 3 or 4 (default 4), plain 8 or 9 (default 8); other values are refused.
// The order of every sum is the same (a lane adds its chunks in increasing order), so are the
// bits. Written in stop 29, measured on an H200 in stop 32: gated 2 fits three blocks a
// multiprocessor (69 to 76 registers on sm_80 and sm_90 against 105 to 118) and fills each of the
// three batches of a 192-chunk row (the default: one full batch and one half full), gated 3 two
// full batches; plain 9 reads a 1 120-chunk row split four ways (Qwen2.5-1.5B's down product) in
// one batch where 8 takes a full batch and one 9% full, a round trip each. Gated 2 took the
// one-token gate/up product from 17.5 to 16.3 us and is the backend's choice. Since x is read 16
// bytes a chunk (stop 36), the one-token down product runs here too, at the batch size
// SkinnyPlainUnrollFor picks, rather than on cuBLAS (docs/cuda_backend.md).
//
// `async_copies`: one-token products (not the QKV product with rope) stream their weights
// through a ring in shared memory by cp.async instead of registers (32 KB a block past the
// staged x: 8 chunks a lane, 6 or 7 in flight while one is added, across row and round ends,
// with no registers held for them); the same units, splits, grid rule (more blocks fit) and
// order of every sum, so the same bits; the batch sizes above do not apply. Written in stop 29;
// 2.7% slower end to end at batch 1 on an H200 in stop 32.
struct SkinnyPlan {
  int target_warps = 4096;
  bool stage_x = true;
  int blocks_per_processor = 0;
  int gated_unroll = 0;
  int plain_unroll = 0;
  bool async_copies = false;
};
// The chunks a lane loads in one batch in a launch of `num_tokens` tokens (gated or not, the
// QKV product with rope or not) under `plan`; 0 where the plan's batch sizes are refused.
int SkinnyUnrollFor(int num_tokens, bool gated, bool rope, const SkinnyPlan& plan);
// The plain one-token batch size (8 or 9) that loads a lane's share of each row of a [rows][cols]
// product under `plan` in the fewer batches, 8 where they tie: 9 for Qwen2.5-1.5B's down product
// (a lane's 9 chunks in one batch, not 8 and 1: 736 against 717 tokens/s at batch 1 on an H200,
// stop 36), 8 for Qwen2.5-7B's (37 chunks in five batches either way; 8 was 1.2 to 1.5% faster
// alone).
int SkinnyPlainUnrollFor(int rows, int cols, const SkinnyPlan& plan = {});
cudaError_t LaunchSkinnyMatMul(StorageType type, const void* w, int rows, int cols, const void* x,
                               int num_tokens, float* out, float beta, Launch launch,
                               const SkinnyNorm* norm = nullptr, const SkinnyPlan& plan = {});

// The gate and up products of a SwiGLU MLP and the activation in one pass, for decode steps:
// with gate_up = [w_gate; w_up] ([2 inter][cols]), out[t][i] = silu(g) * u (16-bit, [T][inter]),
// g = sum_c x[t][c] * w_gate[i][c] and u the same with w_up, each summed as LaunchSkinnyMatMul
// sums a row of an [inter][cols] matrix, and silu(g) * u computed as LaunchSiluMul does. `norm`
// as for LaunchSkinnyMatMul.
cudaError_t LaunchSkinnySwiGlu(StorageType type, const void* gate_up, int inter, int cols,
                               const void* x, int num_tokens, void* out, Launch launch,
                               const SkinnyNorm* norm = nullptr, const SkinnyPlan& plan = {});

// A one-token step's QKV product (w: [Q + 2 KV][cols], x or `norm` as for LaunchSkinnyMatMul)
// and then what LaunchQkvRopeStore does to its row, in one kernel: the bits of
// LaunchSkinnyMatMul (beta 0) followed by LaunchQkvRopeStore, without the second kernel. A rope
// pair's two sums come from warps of one thread block (the weight rows are taken in pair
// order), which add the bias, rotate, write q into qkv[0, Q) and k and v to the cache; qkv[Q,
// Q + 2 KV) is not written. The token's position and block table are read before the previous
// kernel has finished (the host writes them). For models without q/k norms (a norm needs the
// whole head) and shapes whose split-K leaves a block an even number of rows
// (SkinnyQkvRopeSupports; else cudaErrorInvalidValue). The backend's default for one-token steps
// since stop 28 (4% faster batch-1 decode on an H200).
bool SkinnyQkvRopeSupports(const AttentionShape& shape, int cols, const QkvParams& params,
                           const SkinnyPlan& plan = {});
cudaError_t LaunchSkinnyQkvRope(StorageType type, const void* w, int cols, const void* x,
                                float* qkv, const AttentionShape& shape, int layer,
                                const QkvParams& params, const int32_t* positions,
                                const int32_t* table_offsets, const int32_t* block_tables,
                                void* cache, Launch launch, const SkinnyNorm* norm = nullptr,
                                const SkinnyPlan& plan = {});

// The thread blocks LaunchSkinnyMatMul (gated: LaunchSkinnySwiGlu, `rows` = inter) would launch
// for this shape, with a norm or not, under `plan` (0 for a shape they refuse): tests check that
// the persistent grid fills the device.
int SkinnyGridBlocks(StorageType type, int rows, int cols, int num_tokens, bool gated, bool norm,
                     const SkinnyPlan& plan = {});

// x[r][i] = max(0, x[r][i] + bias[i]) for r < rows, i < n (bias may be null): the hidden layer
// of a reward head, in f32.
cudaError_t LaunchBiasRelu(float* x, const float* bias, int n, int rows, Launch launch);

// Per row r of logits [rows][vocab]: token[r] = argmax (the lowest id among equal maxima, as
// the CPU sampler) and logprob[r] = its log-softmax. Two passes: slices of every row in parallel,
// then one warp per row; `scratch` holds GreedyScratchBytes(rows, vocab) bytes between them.
size_t GreedyScratchBytes(int rows, int vocab);
cudaError_t LaunchGreedyLogprob(const float* logits, int rows, int vocab, int32_t* token,
                                float* logprob, void* scratch, Launch launch);

// One token to draw from a row of logits, as the CPU sampler draws it (SampleToken,
// engine/sampling/sampler.h): temperature, then top-k, top-p over the tempered distribution and
// min-p, lower ids first among equal values, then the inverse CDF over the remaining tokens in
// id order at u = u_bits / 2^53 (the sampler's Philox draw, computed on the host).
struct DrawParams {
  int32_t row = 0;
  float inv_temperature = 0.0f;  // float(1 / temperature); 0: greedy (the row's argmax)
  int32_t top_k = 0;             // 0, or at least the vocabulary: off
  float min_p = 0.0f;            // 0: off
  double top_p = 1.0;            // 1: off
  uint64_t u_bits = 0;
};
// Probabilities in the draw are summed as integers in units of 2^-48 (kDrawMassOne), so each sum
// is exact and independent of the order of the threads: the token drawn is the same run to run.
// It can differ from the CPU's (double sums in id order) only where u or top_p falls next to a
// boundary between tokens: within the masses' truncation (at most vocab * 2^-48 in all) or within
// the rounding of the GPU's expf, which may differ from the host's by up to 2 ulp (about 1e-7 of a
// probability).
inline constexpr double kDrawMassOne = 281474976710656.0;  // 2^48
// For draw d of draws[0..num_draws): token[d] and logprob[d] (log-softmax of the raw logits at
// the token). `argmax` and `argmax_logprob` ([rows]) are LaunchGreedyLogprob's outputs for
// `logits`. A thread block per draw; the filters are radix selections over the row (four 8-bit
// passes per filter) and the draw a prefix sum over it, so a row is read about 6 times without
// filters and 20 times with top-k and top-p. With `probabilities` ([num_draws][vocab] f32
// scratch) each draw's probabilities are computed once, into its row, and read back by the
// later passes, which otherwise compute each one again (an exp and a division in double); the
// values, and so the tokens, are the same. It pays while the rows stay in L2 (the backend's rule).
//
// With blocks_per_draw = kDrawClusterBlocks (where DrawClusters(); else cudaErrorInvalidValue)
// a draw is a thread block cluster of that many blocks, each taking a
// slice of the row, their histograms, sums and prefix sums combined through distributed shared
// memory in the order of the blocks: the same selections (integer masses), the softmax total
// summed in another order than one block's (so a token can differ from one block's where the
// draw falls within a rounding of a boundary, as from the CPU's). The backend's default where
// DrawClusters() since stop 28 (sampled decode on an H200: +36% at batch 1, +22% at 16).
inline constexpr int kDrawClusterBlocks = 8;
// Whether device 0 runs draws in clusters: compute capability 9.0 or newer, the kernel compiled
// for it, and room for a cluster of kDrawClusterBlocks blocks of 1 024 threads.
bool DrawClusters();
cudaError_t LaunchDrawTokens(const float* logits, int vocab, const int32_t* argmax,
                             const float* argmax_logprob, const DrawParams* draws, int num_draws,
                             int32_t* token, float* logprob, Launch launch,
                             float* probabilities = nullptr, int blocks_per_draw = 1);

}  // namespace ponder::engine::cuda

#endif  // PONDER_ENGINE_CUDA_KERNELS_H_
