#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>

#include "engine/cuda/kernels.h"

namespace ponder::engine::cuda {
namespace {

__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}

template <typename T>
__device__ __forceinline__ T WarpSum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// SwiGLU's activation: silu(g) * u, silu(g) = g / (1 + exp(-g)). The one definition, so the
// fused decode product and SiluMulKernel give the same bits.
__device__ __forceinline__ float SwiGlu(float g, float u) { return g / (1.0f + expf(-g)) * u; }

// Eight 16-bit values (16 bytes) as floats.
template <typename T>
__device__ __forceinline__ void Unpack8(const uint4& packed, float (&out)[8]) {
  const T* v = reinterpret_cast<const T*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = ToFloat(v[i]);
}

// The start of every kernel (see Launch): wait until the previous kernel on the stream has
// finished and its writes are visible (at once when it was not launched early), then let the
// next kernel be scheduled.
__device__ __forceinline__ void AwaitPreviousKernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// Enqueues kernel<<<grid, block, shared, launch.stream>>>(args...) in thread block clusters of
// `cluster` blocks (1 x 1 x 1: none), allowed to start early when launch.early_start.
template <typename... Params, typename... Args>
void StartClusters(dim3 cluster, void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared,
                   Launch launch, Args... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = launch.stream;
  cudaLaunchAttribute attributes[2] = {};
  unsigned count = 0;
  if (launch.early_start) {
    attributes[count].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attributes[count++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster.x * cluster.y * cluster.z > 1) {
    attributes[count].id = cudaLaunchAttributeClusterDimension;
    attributes[count++].val.clusterDim = {cluster.x, cluster.y, cluster.z};
  }
  config.attrs = attributes;
  config.numAttrs = count;
  (void)cudaLaunchKernelEx(&config, kernel, args...);  // an error is read by cudaGetLastError
}

// The same without clusters: kernel<<<grid, block, shared, launch.stream>>>(args...).
template <typename... Params, typename... Args>
void Start(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, Launch launch,
           Args... args) {
  StartClusters(dim3(1, 1, 1), kernel, grid, block, shared, launch, args...);
}

// Sum over the thread block (blockDim.x a multiple of 32, at most 1024), in an order fixed by
// the block's shape (deterministic for floating point too); every thread gets it.
template <typename T>
__device__ T BlockSum(T v) {
  __shared__ T partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpSum(v);
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  T total = 0;
  for (int w = 0; w < warps; ++w) total += partial[w];
  return total;
}

template <typename T>
__global__ void EmbeddingGatherKernel(const T* table, int hidden, const int32_t* tokens, float* x) {
  const int t = blockIdx.x;
  const T* row = table + static_cast<size_t>(tokens[t]) * hidden;  // the host wrote the token
  AwaitPreviousKernel();
  float* out = x + static_cast<size_t>(t) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) out[i] = ToFloat(row[i]);
}

// One row by the whole block: out16 (and out32 when not null) = in / sqrt(mean(in^2) + eps) *
// weight, as Hugging Face's LlamaRMSNorm. The one implementation of the norm, so the norm fused
// into the decode products gives the bits RmsNormKernel gives.
template <typename T>
__device__ void NormRow(const float* in, int n, const float* weight, float eps, T* out16,
                        float* out32) {
  // The first kHeld values of each thread (all of a row of up to 2048 for 256 threads) are read
  // once, with their weights, in one batch of loads.
  constexpr int kHeld = 8;
  float held[kHeld], held_weight[kHeld];
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    held[k] = c < n ? in[c] : 0.0f;
    held_weight[k] = c < n ? weight[c] : 0.0f;
  }
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    if (threadIdx.x + k * blockDim.x < n) sum += held[k] * held[k];
  }
  for (int c = threadIdx.x + kHeld * blockDim.x; c < n; c += blockDim.x) sum += in[c] * in[c];
  sum = BlockSum(sum);
  const float scale = rsqrtf(sum / static_cast<float>(n) + eps);
  auto write = [&](int c, float value, float w) {
    const float y = (value * scale) * w;
    out16[c] = FromFloat<T>(y);
    if (out32 != nullptr) out32[c] = y;
  };
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c < n) write(c, held[k], held_weight[k]);
  }
  for (int c = threadIdx.x + kHeld * blockDim.x; c < n; c += blockDim.x) write(c, in[c], weight[c]);
}

template <typename T>
__global__ void RmsNormKernel(const float* x, int n, const int32_t* rows, const float* weight,
                              float eps, T* out16, float* out32) {
  AwaitPreviousKernel();
  const int r = blockIdx.x;
  const int i = rows != nullptr ? rows[r] : r;
  NormRow<T>(x + static_cast<size_t>(i) * n, n, weight, eps, out16 + static_cast<size_t>(r) * n,
             out32 != nullptr ? out32 + static_cast<size_t>(r) * n : nullptr);
}

constexpr int kMaxHeadDim = 256;
constexpr int kQkvWarps = 8;

// The rotation of position `pos`, the same for every head of a token: cos_table[i] and
// sin_table[i] for i < half, written by the block's threads (the caller synchronises). As
// engine/ops RopeCosSin: a float32 angle, its cosine and sine in double.
__device__ __forceinline__ void RopeTables(int pos, const float* inv_freq, int half,
                                           float* cos_table, float* sin_table) {
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float angle = static_cast<float>(pos) * inv_freq[i];
    double s, c;
    sincos(static_cast<double>(angle), &s, &c);
    cos_table[i] = static_cast<float>(c);
    sin_table[i] = static_cast<float>(s);
  }
}

// The rotation of one pair (a, b) by the angle whose cosine and sine are c and s:
// (a c - b s, b c + a s), rounded as the CPU's engine/ops ApplyRopeCosSin rounds it in its vector
// loop where the host has fused multiply-add (Highway's NegMulAdd(b, s, a c) and MulAdd(a, s,
// b c); its scalar tail, for half-heads that are not a multiple of the vector, rounds twice); the
// intrinsics keep the compiler from contracting it another way in each kernel that inlines it,
// so the rope kernel and the QKV product's epilogue give the same bits.
__device__ __forceinline__ void RotatePair(float& a, float& b, float c, float s) {
  const float first = __fmaf_rn(-b, s, __fmul_rn(a, c));
  const float second = __fmaf_rn(a, s, __fmul_rn(b, c));
  a = first;
  b = second;
}

// One warp: the head at `offset` of a token's qkv row, plus its bias, into buffer[0, D); a q or
// k head (`rotate`) then RMS-normed with `norm` (when not null) and rotated by the tables,
// pairing (i, i + D/2) when params.neox, else (2i, 2i + 1).
__device__ __forceinline__ void PrepareHead(const float* row, int offset, int D, bool rotate,
                                            const float* norm, const QkvParams& params,
                                            const float* cos_table, const float* sin_table,
                                            float* buffer) {
  const int lane = threadIdx.x & 31, half = D / 2;
  float sum = 0.0f;
  for (int d = lane; d < D; d += 32) {
    float v = row[offset + d];
    if (params.bias != nullptr) v += params.bias[offset + d];
    buffer[d] = v;
    sum += v * v;
  }
  __syncwarp();
  if (!rotate) return;
  sum = WarpSum(sum);
  if (norm != nullptr) {
    const float scale = rsqrtf(sum / static_cast<float>(D) + params.eps);
    for (int d = lane; d < D; d += 32) buffer[d] = (buffer[d] * scale) * norm[d];
    __syncwarp();
  }
  for (int i = lane; i < half; i += 32) {
    const int ia = params.neox ? i : 2 * i, ib = params.neox ? i + half : 2 * i + 1;
    RotatePair(buffer[ia], buffer[ib], cos_table[i], sin_table[i]);
  }
  __syncwarp();
}

// Where token t's key (and, kv_values further, its value) go in the cache for `layer`.
template <typename T>
__device__ __forceinline__ T* KeySlot(T* cache, const AttentionShape& shape, int layer,
                                      const int32_t* table, int pos) {
  const int KV = shape.num_kv_heads * shape.head_dim;
  const size_t kv_values = static_cast<size_t>(shape.block_size) * KV;
  const int block = table[pos / shape.block_size];
  return cache + (static_cast<size_t>(block) * shape.num_layers + layer) * 2 * kv_values +
         static_cast<size_t>(pos % shape.block_size) * KV;
}

// One thread block per token; each warp takes whole heads (q heads, then k, then v). The
// rotation angles are the same for every head of the token: computed once, into shared memory.
template <typename T>
__global__ void QkvRopeStoreKernel(float* qkv, AttentionShape shape, int layer, QkvParams params,
                                   const int32_t* positions, const int32_t* table_offsets,
                                   const int32_t* block_tables, T* cache) {
  __shared__ float head_buffer[kQkvWarps][kMaxHeadDim];
  __shared__ float cos_table[kMaxHeadDim / 2], sin_table[kMaxHeadDim / 2];
  AwaitPreviousKernel();
  const int t = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = shape.head_dim;
  const int Q = shape.num_heads * D, KV = shape.num_kv_heads * D;
  float* row = qkv + static_cast<size_t>(t) * (Q + 2 * KV);
  const int pos = positions[t];
  T* key_slot = KeySlot(cache, shape, layer, block_tables + table_offsets[t], pos);
  T* value_slot = key_slot + static_cast<size_t>(shape.block_size) * KV;
  float* buffer = head_buffer[warp];
  RopeTables(pos, params.inv_freq, D / 2, cos_table, sin_table);
  __syncthreads();

  for (int head = warp; head < shape.num_heads + 2 * shape.num_kv_heads; head += kQkvWarps) {
    const int offset = head * D;  // into the row: q heads, then k heads, then v heads
    const bool is_q = head < shape.num_heads;
    const bool is_v = offset >= Q + KV;
    PrepareHead(row, offset, D, !is_v, is_q ? params.q_norm : params.k_norm, params, cos_table,
                sin_table, buffer);
    for (int d = lane; d < D; d += 32) {
      if (is_q) {
        row[offset + d] = buffer[d];
      } else if (is_v) {
        value_slot[offset - Q - KV + d] = FromFloat<T>(buffer[d]);
      } else {
        key_slot[offset - Q + d] = FromFloat<T>(buffer[d]);
      }
    }
    __syncwarp();  // the buffer is reused by this warp's next head
  }
}

constexpr int kAttentionWarps = 8;
constexpr int kKeysPerStep = 4;  // keys a warp has in flight at once

// Loads values [lane * kPerLane, lane * kPerLane + kPerLane) of a head as floats; zero beyond
// head_dim. A full head (head_dim == 32 * kPerLane) is read with one vector load per lane.
template <typename T, int kPerLane>
__device__ __forceinline__ void LoadHead(const T* head, int lane, int head_dim, bool full,
                                         float (&out)[kPerLane]) {
  if constexpr (kPerLane >= 2) {
    if (full) {
      struct alignas(sizeof(T) * kPerLane) Vector {
        T v[kPerLane];
      };
      const Vector loaded = *reinterpret_cast<const Vector*>(head + lane * kPerLane);
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) out[i] = ToFloat(loaded.v[i]);
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane * kPerLane + i;
    out[i] = d < head_dim ? ToFloat(head[d]) : 0.0f;
  }
}

// The query heads thread block (., y) takes when blocks take `per_block` heads of one KV head g
// at a time: heads [first, first + count) of g's group.
struct HeadChunk {
  int g, first, count;
};
__device__ __forceinline__ HeadChunk HeadsOfBlock(const AttentionShape& shape, int per_block) {
  const int group = shape.num_heads / shape.num_kv_heads;
  const int blocks_per_group = (group + per_block - 1) / per_block;
  const int g = blockIdx.y / blocks_per_group;
  const int first = g * group + (blockIdx.y % blocks_per_group) * per_block;
  return {g, first, min(per_block, (g + 1) * group - first)};
}

// Keys and values [first, first + kKeysPerStep) of KV head g at `layer` (zeros past `pos`), lane
// `lane`'s part of each.
template <typename T, int kPerLane>
__device__ __forceinline__ void LoadKeyStep(const T* cache, const int32_t* table,
                                            const AttentionShape& shape, int layer, int g,
                                            int first, int pos, int lane, bool full,
                                            float (&keys)[kKeysPerStep][kPerLane],
                                            float (&values)[kKeysPerStep][kPerLane]) {
  const size_t kv_values =
      static_cast<size_t>(shape.block_size) * shape.num_kv_heads * shape.head_dim;
#pragma unroll
  for (int k = 0; k < kKeysPerStep; ++k) {
    const int j = first + k;
    if (j <= pos) {
      const T* key = KeySlot(cache, shape, layer, table, j) + g * shape.head_dim;
      LoadHead<T, kPerLane>(key, lane, shape.head_dim, full, keys[k]);
      LoadHead<T, kPerLane>(key + kv_values, lane, shape.head_dim, full, values[k]);
    } else {
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) keys[k][i] = values[k][i] = 0.0f;
    }
  }
}

// One warp's online-softmax update of a query head with a step of keys and values (Milakov &
// Gimelshein 2018): scores q . key (past `pos`: -inf), then the running maximum, sum and
// value accumulator rescaled and extended.
template <int kPerLane>
__device__ __forceinline__ void AttendStep(const float (&q)[kPerLane],
                                           const float (&keys)[kKeysPerStep][kPerLane],
                                           const float (&values)[kKeysPerStep][kPerLane], int first,
                                           int pos, float& running_max, float& running_sum,
                                           float (&acc)[kPerLane]) {
  float scores[kKeysPerStep], step_max = -INFINITY;
#pragma unroll
  for (int k = 0; k < kKeysPerStep; ++k) {
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) dot += q[i] * keys[k][i];
    dot = WarpSum(dot);
    scores[k] = first + k <= pos ? dot : -INFINITY;
    step_max = fmaxf(step_max, scores[k]);
  }
  const float new_max = fmaxf(running_max, step_max);  // finite: key `first` is valid
  const float correction = expf(running_max - new_max);
  running_sum *= correction;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) acc[i] *= correction;
#pragma unroll
  for (int k = 0; k < kKeysPerStep; ++k) {
    const float p = expf(scores[k] - new_max);
    running_sum += p;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) acc[i] += p * values[k][i];
  }
  running_max = new_max;
}

// Query head h of token t in the qkv rows (row stride Q + 2 KV).
__device__ __forceinline__ const float* QRow(const float* qkv, const AttentionShape& shape, int t,
                                             int h) {
  const int D = shape.head_dim;
  const int Q = shape.num_heads * D, KV = shape.num_kv_heads * D;
  return qkv + static_cast<size_t>(t) * (Q + 2 * KV) + h * D;
}

// Query head h (q_row: its q in the token's qkv row) attending to positions [begin, last] of its
// sequence (block table `table`), by the whole block: each warp takes steps of kKeysPerStep
// positions (4 keys in flight per warp; 8 was slower on an H200: 7.5 us against 5.0 per layer)
// and keeps running softmax statistics, and the warps' are merged. emit(d, numerator,
// denominator, maximum) is then called for every d < head_dim, spread over the block's threads:
// the head's output is numerator / denominator, the denominator a sum of exp(score - maximum).
// begin <= last. kPipelined: each warp loads its next step's keys and values before it scores the
// current ones (two register buffers), so the next step's loads are in flight while the current
// step is scored instead of being issued only after its arithmetic; the same arithmetic in the
// same order. (Each key's block-table entry is still loaded just before its key.) kWarps: the
// block's warps (kAttentionWarps, or kWideAttentionWarps for LaunchPagedAttention's wide kernel).
template <typename T, int kPerLane, bool kPipelined, int kWarps = kAttentionWarps, typename Emit>
__device__ __forceinline__ void AttendHead(const float* q_row, const T* cache, const int32_t* table,
                                           const AttentionShape& shape, int layer, int h, int begin,
                                           int last, Emit&& emit) {
  __shared__ float warp_max[kWarps], warp_sum[kWarps];
  __shared__ float warp_acc[kWarps][32 * kPerLane];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = shape.head_dim;
  const int g = h / (shape.num_heads / shape.num_kv_heads);
  const bool full = D == 32 * kPerLane;
  const float scale = rsqrtf(static_cast<float>(D));

  float q[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane * kPerLane + i;
    q[i] = d < D ? q_row[d] * scale : 0.0f;
  }
  float running_max = -INFINITY, running_sum = 0.0f, acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) acc[i] = 0.0f;

  constexpr int kStride = kWarps * kKeysPerStep;
  if constexpr (kPipelined) {
    float keys[kKeysPerStep][kPerLane], values[kKeysPerStep][kPerLane];
    float next_keys[kKeysPerStep][kPerLane], next_values[kKeysPerStep][kPerLane];
    int first = begin + warp * kKeysPerStep;
    if (first <= last) {
      LoadKeyStep<T, kPerLane>(cache, table, shape, layer, g, first, last, lane, full, keys,
                               values);
    }
    for (; first <= last; first += kStride) {
      if (first + kStride <= last) {
        LoadKeyStep<T, kPerLane>(cache, table, shape, layer, g, first + kStride, last, lane, full,
                                 next_keys, next_values);
      }
      AttendStep<kPerLane>(q, keys, values, first, last, running_max, running_sum, acc);
#pragma unroll
      for (int k = 0; k < kKeysPerStep; ++k) {
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
          keys[k][i] = next_keys[k][i];
          values[k][i] = next_values[k][i];
        }
      }
    }
  } else {
    for (int first = begin + warp * kKeysPerStep; first <= last; first += kStride) {
      float keys[kKeysPerStep][kPerLane], values[kKeysPerStep][kPerLane];
      LoadKeyStep<T, kPerLane>(cache, table, shape, layer, g, first, last, lane, full, keys,
                               values);
      AttendStep<kPerLane>(q, keys, values, first, last, running_max, running_sum, acc);
    }
  }

  // Merge the warps' partial softmaxes.
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum[warp] = running_sum;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) warp_acc[warp][lane * kPerLane + i] = acc[i];
  __syncthreads();
  float global_max = -INFINITY;
  for (int w = 0; w < kWarps; ++w) global_max = fmaxf(global_max, warp_max[w]);
  float denominator = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    denominator += warp_sum[w] * expf(warp_max[w] - global_max);  // exp(-inf) = 0: idle warp
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float numerator = 0.0f;
    for (int w = 0; w < kWarps; ++w) numerator += warp_acc[w][d] * expf(warp_max[w] - global_max);
    emit(d, numerator, denominator, global_max);
  }
}

template <typename T, int kPerLane, bool kPipelined, int kWarps = kAttentionWarps>
__global__ void __launch_bounds__(kWarps * 32)
    PagedAttentionKernel(const float* qkv, AttentionShape shape, int layer,
                         const int32_t* positions, const int32_t* table_offsets,
                         const int32_t* block_tables, const T* cache, T* out) {
  const int t = blockIdx.x, h = blockIdx.y, D = shape.head_dim;
  // The token's position and block table come from the host: read while the previous kernel
  // ends (stop 32), so only the keys and q wait for it.
  const int32_t* table = block_tables + table_offsets[t];
  const int last = positions[t];
  AwaitPreviousKernel();
  T* out_head = out + (static_cast<size_t>(t) * shape.num_heads + h) * D;
  AttendHead<T, kPerLane, kPipelined, kWarps>(
      QRow(qkv, shape, t, h), cache, table, shape, layer, h, 0, last,
      [&](int d, float numerator, float denominator, float) {
        out_head[d] = FromFloat<T>(numerator / denominator);
      });
}

// Stretch s of the AttentionSplits(n, split_keys) stretches of equal length (the last may be
// shorter) into which flash-decoding cuts a sequence's n positions: [begin, last], or false when
// there is no stretch s.
struct Stretch {
  int begin, last;
};
__device__ __forceinline__ bool StretchOf(int n, int s, int split_keys, Stretch& stretch) {
  const int splits = AttentionSplits(n, split_keys);
  if (s >= splits) return false;
  // No stretch is empty: with k = splits, n > split_keys (k - 1) >= (k - 1)^2 (split_keys >=
  // kAttentionMinSplitKeys = kAttentionMaxSplits - 1 >= k - 1, the launcher's check), so the
  // first k - 1 take (k - 1) ceil(n / k) <= (k - 1)(n + k - 1) / k < n.
  static_assert(kAttentionMinSplitKeys >= kAttentionMaxSplits - 1);
  const int length = (n + splits - 1) / splits;
  stretch.begin = s * length;
  stretch.last = min(n, stretch.begin + length) - 1;
  return true;
}

// The partial softmaxes of token t's head h: kAttentionMaxSplits slots of head_dim + 2 floats
// (maximum, denominator, then head_dim numerators), one per stretch.
template <typename F>  // float or const float
__device__ __forceinline__ F* HeadPartials(F* partials, const AttentionShape& shape, int t, int h) {
  return partials + (static_cast<size_t>(t) * shape.num_heads + h) * kAttentionMaxSplits *
                        (shape.head_dim + 2);
}

// Writes value d of a partial softmax (AttendHead's emit arguments) into its slot.
__device__ __forceinline__ void WritePartial(float* partial, int d, float numerator,
                                             float denominator, float maximum) {
  if (d == 0) {
    partial[0] = maximum;
    partial[1] = denominator;
  }
  partial[2 + d] = numerator;
}

// Flash-decoding's first pass: block (t, h, s) takes stretch s of token t's positions (StretchOf)
// and writes its partial softmax to partials[t][h][s] (HeadPartials). Blocks past the token's
// stretches exit.
template <typename T, int kPerLane, bool kPipelined>
__global__ void __launch_bounds__(kAttentionWarps * 32)
    SplitAttentionKernel(const float* qkv, AttentionShape shape, int layer, int split_keys,
                         const int32_t* positions, const int32_t* table_offsets,
                         const int32_t* block_tables, const T* cache, float* partials) {
  const int t = blockIdx.x, h = blockIdx.y, s = blockIdx.z;
  // The host's position and block table read before the wait, as PagedAttentionKernel does.
  Stretch stretch;
  const bool has_stretch = StretchOf(positions[t] + 1, s, split_keys, stretch);
  const int32_t* table = block_tables + table_offsets[t];
  AwaitPreviousKernel();
  if (!has_stretch) return;
  float* partial = HeadPartials(partials, shape, t, h) + s * (shape.head_dim + 2);
  AttendHead<T, kPerLane, kPipelined>(
      QRow(qkv, shape, t, h), cache, table, shape, layer, h, stretch.begin, stretch.last,
      [&](int d, float numerator, float denominator, float maximum) {
        WritePartial(partial, d, numerator, denominator, maximum);
      });
}

// Merges a head's partial softmaxes (WritePartial's layout; partial_of(s) the one of stretch s <
// splits), in the order of the stretches, into out_head[0..D) (16-bit), spread over the block's
// threads.
template <typename T, typename PartialOf>
__device__ __forceinline__ void MergeStretches(int D, int splits, PartialOf&& partial_of,
                                               T* out_head) {
  float maximum = -INFINITY;
  for (int s = 0; s < splits; ++s) maximum = fmaxf(maximum, partial_of(s)[0]);
  float denominator = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float* partial = partial_of(s);
    denominator += partial[1] * expf(partial[0] - maximum);
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float numerator = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float* partial = partial_of(s);
      numerator += partial[2 + d] * expf(partial[0] - maximum);
    }
    out_head[d] = FromFloat<T>(numerator / denominator);
  }
}

// Flash-decoding's second pass: block (t, h) merges token t's partial softmaxes for head h, in
// the order of the stretches, into out[t][h] (16-bit).
template <typename T>
__global__ void SplitAttentionMergeKernel(AttentionShape shape, int split_keys,
                                          const int32_t* positions, const float* partials, T* out) {
  const int t = blockIdx.x, h = blockIdx.y, D = shape.head_dim;
  // The host's, read before the wait.
  const int splits = AttentionSplits(positions[t] + 1, split_keys);
  AwaitPreviousKernel();
  const float* partial = HeadPartials(partials, shape, t, h);
  MergeStretches(
      D, splits, [&](int s) { return partial + s * (D + 2); },
      out + static_cast<size_t>(t) * shape.num_heads * D + h * D);
}

// As PagedAttentionKernel, for the `heads` (<= kHeads) query heads of one KV head that a block
// takes: each key and value is read once for all of them (grouped-query attention shares them),
// which pays for large decode batches (many blocks already); 4 keys in flight per warp. With
// `partials`, block (t, y, s) takes stretch s of the positions and writes its heads' partial
// softmaxes as SplitAttentionKernel does (flash-decoding's first pass), else the whole context
// and the output.
template <typename T, int kPerLane, int kHeads>
__global__ void __launch_bounds__(kAttentionWarps * 32)
    GroupedAttentionKernel(const float* qkv, AttentionShape shape, int layer, int heads_per_block,
                           int split_keys, const int32_t* positions, const int32_t* table_offsets,
                           const int32_t* block_tables, const T* cache, T* out, float* partials) {
  __shared__ float warp_max[kAttentionWarps][kHeads], warp_sum[kAttentionWarps][kHeads];
  __shared__ float warp_acc[kAttentionWarps][32 * kPerLane];
  AwaitPreviousKernel();
  const int t = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = shape.head_dim;
  const int Q = shape.num_heads * D;
  const auto [g, first_head, heads] = HeadsOfBlock(shape, heads_per_block);
  const bool full = D == 32 * kPerLane;
  const float scale = rsqrtf(static_cast<float>(D));
  const int pos = positions[t], s = blockIdx.z;
  const int32_t* table = block_tables + table_offsets[t];
  Stretch stretch{0, pos};
  if (partials != nullptr && !StretchOf(pos + 1, s, split_keys, stretch)) return;
  const int begin = stretch.begin, last = stretch.last;

  float q[kHeads][kPerLane], acc[kHeads][kPerLane], running_max[kHeads], running_sum[kHeads];
  const float* q_row = QRow(qkv, shape, t, first_head);
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane * kPerLane + i;
      q[h][i] = h < heads && d < D ? q_row[h * D + d] * scale : 0.0f;
      acc[h][i] = 0.0f;
    }
    running_max[h] = -INFINITY;
    running_sum[h] = 0.0f;
  }

  for (int first = begin + warp * kKeysPerStep; first <= last;
       first += kAttentionWarps * kKeysPerStep) {
    float keys[kKeysPerStep][kPerLane], values[kKeysPerStep][kPerLane];
    LoadKeyStep<T, kPerLane>(cache, table, shape, layer, g, first, last, lane, full, keys, values);
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      if (h >= heads) break;  // the same for the whole block
      AttendStep<kPerLane>(q[h], keys, values, first, last, running_max[h], running_sum[h], acc[h]);
    }
  }

  // Merge the warps' partial softmaxes, one head at a time.
  if (lane == 0) {
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      warp_max[warp][h] = running_max[h];
      warp_sum[warp][h] = running_sum[h];
    }
  }
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    if (h >= heads) break;  // the same for the whole block
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) warp_acc[warp][lane * kPerLane + i] = acc[h][i];
    __syncthreads();
    float global_max = -INFINITY;
    for (int w = 0; w < kAttentionWarps; ++w) global_max = fmaxf(global_max, warp_max[w][h]);
    float denominator = 0.0f;
    for (int w = 0; w < kAttentionWarps; ++w) {
      denominator += warp_sum[w][h] * expf(warp_max[w][h] - global_max);  // idle warp: 0
    }
    T* out_head = out + static_cast<size_t>(t) * Q + (first_head + h) * D;
    float* partial = partials == nullptr
                         ? nullptr
                         : HeadPartials(partials, shape, t, first_head + h) + s * (D + 2);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
      float numerator = 0.0f;
      for (int w = 0; w < kAttentionWarps; ++w)
        numerator += warp_acc[w][d] * expf(warp_max[w][h] - global_max);
      if (partial == nullptr) {
        out_head[d] = FromFloat<T>(numerator / denominator);
      } else {
        WritePartial(partial, d, numerator, denominator, global_max);
      }
    }
    __syncthreads();  // warp_acc is written again for the next head
  }
}

constexpr int kTileKeys = 32;        // keys per shared-memory tile of PrefillAttentionKernel
constexpr int kPrefillMaxDim = 128;  // head_dim it handles (wider heads: the grouped kernel)
constexpr int kPrefillHeads = 4;     // query heads per block

// Keys and values of positions [key0, key0 + kTileKeys) of KV head g at `layer` into the
// block's shared-memory tiles (row k: position key0 + k; zeros past last_pos), 16 bytes per
// thread at a time. D % 8 == 0, D <= kPrefillMaxDim.
template <typename T>
__device__ __forceinline__ void LoadKvTile(const T* cache, const AttentionShape& shape, int layer,
                                           const int32_t* table, int g, int key0, int last_pos,
                                           T (*keys)[kPrefillMaxDim + 8],
                                           T (*values)[kPrefillMaxDim + 8]) {
  const int D = shape.head_dim, KV = shape.num_kv_heads * D;
  const size_t kv_values = static_cast<size_t>(shape.block_size) * KV;
  const int chunks_per_key = D / 8;  // 16-byte pieces of a head
  for (int piece = threadIdx.x; piece < kTileKeys * chunks_per_key; piece += blockDim.x) {
    const int k = piece % kTileKeys, d0 = (piece / kTileKeys) * 8, j = key0 + k;
    uint4 key{}, value{};
    if (j <= last_pos) {
      const T* slot =
          cache +
          (static_cast<size_t>(table[j / shape.block_size]) * shape.num_layers + layer) * 2 *
              kv_values +
          static_cast<size_t>(j % shape.block_size) * KV + g * D + d0;
      key = *reinterpret_cast<const uint4*>(slot);
      value = *reinterpret_cast<const uint4*>(slot + kv_values);
    }
    *reinterpret_cast<uint4*>(&keys[k][d0]) = key;
    *reinterpret_cast<uint4*>(&values[k][d0]) = value;
  }
}

// Prefill attention: block (tile, head chunk) takes the (up to 8) consecutive tokens of one
// sequence in tiles[tile], a warp each, and `heads` (<= kPrefillHeads) query heads of one KV
// head. Keys and values come in tiles of 32 through shared memory, read once for the whole
// block; per tile a lane scores one key for its warp's token, the warp keeps the running
// (online) softmax statistics per head, and a lane accumulates kPerLane dimensions of the
// output (Milakov & Gimelshein 2018; the tiling of FlashAttention, Dao et al. 2022). Four blocks
// per multiprocessor (at most 64 registers), the allocation measured in stops 15 to 23: since the
// tile load became LoadKvTile ptxas would otherwise take 80 registers on sm_90 (three blocks).
template <typename T, int kPerLane>
__global__ void __launch_bounds__(kAttentionWarps * 32, 4)
    PrefillAttentionKernel(const float* qkv, AttentionShape shape, int layer, const int32_t* tiles,
                           const int32_t* positions, const int32_t* table_offsets,
                           const int32_t* block_tables, const T* cache, T* out) {
  __shared__ __align__(16) float queries[kAttentionWarps][kPrefillHeads][kPrefillMaxDim];
  // Rows padded by 16 bytes: a warp's 16-byte accesses to 32 rows are free of bank conflicts.
  __shared__ __align__(16) T keys[kTileKeys][kPrefillMaxDim + 8];
  __shared__ __align__(16) T values[kTileKeys][kPrefillMaxDim + 8];
  __shared__ __align__(16) float probs[kAttentionWarps][kPrefillHeads][kTileKeys];
  AwaitPreviousKernel();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = shape.head_dim;
  const int Q = shape.num_heads * D;
  const auto [g, first_head, heads] = HeadsOfBlock(shape, kPrefillHeads);
  const int first = tiles[2 * blockIdx.x], count = tiles[2 * blockIdx.x + 1];
  const bool has_token = warp < count;
  const int t = first + (has_token ? warp : 0);
  const int pos = positions[t];
  const int last_pos = positions[first + count - 1];  // the tile's tokens are consecutive
  const int32_t* table = block_tables + table_offsets[first];
  const float scale = rsqrtf(static_cast<float>(D));

  const float* q_row = QRow(qkv, shape, t, first_head);
  for (int h = 0; h < heads; ++h) {
    for (int d = lane; d < D; d += 32) queries[warp][h][d] = q_row[h * D + d] * scale;
  }
  float running_max[kPrefillHeads], running_sum[kPrefillHeads], acc[kPrefillHeads][kPerLane];
#pragma unroll
  for (int h = 0; h < kPrefillHeads; ++h) {
    running_max[h] = -INFINITY;
    running_sum[h] = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) acc[h][i] = 0.0f;
  }

  for (int key0 = 0; key0 <= last_pos; key0 += kTileKeys) {
    __syncthreads();  // the previous tile is consumed (and `queries` written, the first time)
    LoadKvTile(cache, shape, layer, table, g, key0, last_pos, keys, values);
    __syncthreads();
    if (!has_token || key0 > pos) continue;  // no key of this tile is visible to the token
    const int visible = min(kTileKeys, pos - key0 + 1);
    // Lane k scores key key0 + k for every head: its key row read once, 8 values at a time.
    float scores[kPrefillHeads];
#pragma unroll
    for (int h = 0; h < kPrefillHeads; ++h) scores[h] = 0.0f;
    for (int d0 = 0; d0 < D; d0 += 8) {
      float k8[8];
      Unpack8<T>(*reinterpret_cast<const uint4*>(&keys[lane][d0]), k8);
#pragma unroll
      for (int h = 0; h < kPrefillHeads; ++h) {
        if (h < heads) {
          const float4 qa = *reinterpret_cast<const float4*>(&queries[warp][h][d0]);
          const float4 qb = *reinterpret_cast<const float4*>(&queries[warp][h][d0 + 4]);
          scores[h] += qa.x * k8[0] + qa.y * k8[1] + qa.z * k8[2] + qa.w * k8[3] + qb.x * k8[4] +
                       qb.y * k8[5] + qb.z * k8[6] + qb.w * k8[7];
        }
      }
    }
#pragma unroll
    for (int h = 0; h < kPrefillHeads; ++h) {
      if (h >= heads) break;
      float score = scores[h];
      if (lane >= visible) score = -INFINITY;
      float tile_max = score;
#pragma unroll
      for (int offset = 16; offset > 0; offset >>= 1)
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
      const float new_max = fmaxf(running_max[h], tile_max);  // finite: key key0 is visible
      const float correction = expf(running_max[h] - new_max);
      const float p = expf(score - new_max);  // 0 for the keys the token does not see
      running_sum[h] = running_sum[h] * correction + WarpSum(p);
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) acc[h][i] *= correction;
      probs[warp][h][lane] = p;
      running_max[h] = new_max;
    }
    __syncwarp();
    // Lane l adds p_k * V[k][l * kPerLane + i] over the tile's keys for every head: each value
    // row read once (a key the token does not see has p = 0 and a zero or finite value).
#pragma unroll
    for (int k0 = 0; k0 < kTileKeys; k0 += 4) {
      float4 p4[kPrefillHeads];
#pragma unroll
      for (int h = 0; h < kPrefillHeads; ++h) {
        p4[h] = h < heads ? *reinterpret_cast<const float4*>(&probs[warp][h][k0])
                          : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      }
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        float v[kPerLane];
        const T* row = &values[k0 + kk][lane * kPerLane];
        if constexpr (kPerLane == 4) {
          const uint2 packed = *reinterpret_cast<const uint2*>(row);
          const T* four = reinterpret_cast<const T*>(&packed);
#pragma unroll
          for (int i = 0; i < 4; ++i) v[i] = ToFloat(four[i]);
        } else {
#pragma unroll
          for (int i = 0; i < kPerLane; ++i) v[i] = ToFloat(row[i]);
        }
#pragma unroll
        for (int h = 0; h < kPrefillHeads; ++h) {
          const float pk = kk == 0 ? p4[h].x : kk == 1 ? p4[h].y : kk == 2 ? p4[h].z : p4[h].w;
#pragma unroll
          for (int i = 0; i < kPerLane; ++i) acc[h][i] += pk * v[i];
        }
      }
    }
    __syncwarp();  // `probs` is written again for the next tile
  }
  if (!has_token) return;
#pragma unroll
  for (int h = 0; h < kPrefillHeads; ++h) {
    if (h >= heads) break;
    T* out_head = out + static_cast<size_t>(t) * Q + (first_head + h) * D;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane * kPerLane + i;
      if (d < D) out_head[d] = FromFloat<T>(acc[h][i] / running_sum[h]);
    }
  }
}

constexpr int kMmaHeads = 8;  // query heads per block of PrefillMmaAttentionKernel
constexpr int kMmaWarps = kPrefillTileTokens * kMmaHeads / 16;  // 16 rows (token, head) each

// The bits of a 16-bit value, and two of them in one 32-bit register (`low` in the low half), as
// mma.sync takes its operands.
__device__ __forceinline__ uint32_t Bits16(__nv_bfloat16 v) { return __bfloat16_as_ushort(v); }
__device__ __forceinline__ uint32_t Bits16(__half v) { return __half_as_ushort(v); }
template <typename T>
__device__ __forceinline__ uint32_t Pack16(T low, T high) {
  return Bits16(low) | (Bits16(high) << 16);
}

// x = hi + lo with hi = x rounded to T and lo the rest rounded to T: a product with a 16-bit
// value as hi * v + lo * v (each exact in f32) keeps 16 bits of x's significand in BF16 (22 in
// F16) instead of 8 (11), so the tensor-core kernel's scores and weighted sums err by about 2^-16
// of their terms in BF16: some 10^-5 where the CUDA-core kernel's f32 errs by 10^-7, and over 100
// times below the 16-bit rounding of the output (the split-bf16 scheme of Henry, Tang and
// Heinecke 2019, "Leveraging the bfloat16 artificial intelligence datatype for higher-precision
// computations").
template <typename T>
__device__ __forceinline__ void SplitPair(float x0, float x1, uint32_t& hi, uint32_t& lo) {
  const T h0 = FromFloat<T>(x0), h1 = FromFloat<T>(x1);
  hi = Pack16(h0, h1);
  lo = Pack16(FromFloat<T>(x0 - ToFloat(h0)), FromFloat<T>(x1 - ToFloat(h1)));
}

// d += a b for one 16 x 8 x 16 tile on the tensor cores (sm_80+), f32 accumulation. Fragments
// as the PTX ISA defines them for mma.m16n8k16 with 16-bit inputs, for lane = 4 r + c:
//   a[0] (row r, cols 2c, 2c+1), a[1] (row r+8, same cols), a[2] (row r, cols 2c+8, 2c+9),
//   a[3] (row r+8, cols 2c+8, 2c+9); b[0] (rows 2c, 2c+1 of col r), b[1] (rows 2c+8, 2c+9);
//   d[0], d[1] (row r, cols 2c, 2c+1), d[2], d[3] (row r+8, same cols).
template <typename T>
__device__ __forceinline__ void Mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#elif defined(__CUDA_ARCH__)
  __trap();      // no mma.sync before sm_80 (the backend refuses such devices)
#endif
}

// Prefill attention on the tensor cores (FlashAttention-2's loop: Dao 2023): block (tile, head
// chunk) takes the tile's (up to 8) consecutive tokens and up to kMmaHeads query heads of one KV
// head as rows (token i, head h) -> i * heads + h, 16 rows per warp. Keys and values come in
// tiles of kTileKeys through shared memory (LoadKvTile, as PrefillAttentionKernel); per tile a
// warp computes its rows' scores S = Q K^T with mma.sync, masks the positions each row's token
// does not see, keeps each row's running maximum and denominator (online softmax, Milakov and
// Gimelshein 2018), and adds P V with mma.sync, the score fragments reused as P's operand. Q and
// P go in as split pairs (SplitPair): the results are the CUDA-core kernel's but for errors far
// below the output's 16-bit rounding. head_dim a multiple of 16, at most 128. Written in stop 24
// without a GPU; its tests passed on an H200 in stop 25, where it became the default for BF16.
template <typename T>
__global__ void __launch_bounds__(kMmaWarps * 32)
    PrefillMmaAttentionKernel(const float* qkv, AttentionShape shape, int layer,
                              const int32_t* tiles, const int32_t* positions,
                              const int32_t* table_offsets, const int32_t* block_tables,
                              const T* cache, T* out) {
  constexpr int kDimTiles = kPrefillMaxDim / 16;  // k-steps of Q K^T
  constexpr int kKeyTiles = kTileKeys / 8;        // n-tiles of S
  __shared__ __align__(16) T keys[kTileKeys][kPrefillMaxDim + 8];
  __shared__ __align__(16) T values[kTileKeys][kPrefillMaxDim + 8];
  AwaitPreviousKernel();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r = lane >> 2, c = lane & 3;  // the fragments' row and column group
  const int D = shape.head_dim, Q = shape.num_heads * D;
  const auto [g, first_head, heads] = HeadsOfBlock(shape, kMmaHeads);
  const int first = tiles[2 * blockIdx.x], count = tiles[2 * blockIdx.x + 1];
  const int rows = count * heads;
  const int last_pos = positions[first + count - 1];  // the tile's tokens are consecutive
  const int32_t* table = block_tables + table_offsets[first];
  const float scale = rsqrtf(static_cast<float>(D));

  // This lane's two rows, warp * 16 + r and + 8; a row past the block's takes the last row's
  // token and head (finite, never written).
  int token[2], head[2], pos[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = min(warp * 16 + r + 8 * half, rows - 1);
    token[half] = first + row / heads;
    head[half] = first_head + row % heads;
    pos[half] = positions[token[half]];
  }
  const bool active = warp * 16 < rows;
  // The warp's last visible position: rows are in token order.
  const int warp_last = positions[first + (min(warp * 16 + 15, rows - 1)) / heads];

  // Q's fragments, scaled, as split pairs.
  uint32_t q_hi[kDimTiles][4], q_lo[kDimTiles][4];
#pragma unroll
  for (int kk = 0; kk < kDimTiles; ++kk) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int half = i & 1, d = kk * 16 + 2 * c + (i >> 1) * 8;
      float2 q = make_float2(0.0f, 0.0f);
      if (d < D) {
        q = *reinterpret_cast<const float2*>(QRow(qkv, shape, token[half], head[half]) + d);
      }
      SplitPair<T>(q.x * scale, q.y * scale, q_hi[kk][i], q_lo[kk][i]);
    }
  }
  float acc[kPrefillMaxDim / 8][4];
#pragma unroll
  for (int n = 0; n < kPrefillMaxDim / 8; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[n][i] = 0.0f;
  }
  float running_max[2] = {-INFINITY, -INFINITY}, running_sum[2] = {0.0f, 0.0f};

  for (int key0 = 0; key0 <= last_pos; key0 += kTileKeys) {
    __syncthreads();  // the previous tile is consumed
    LoadKvTile(cache, shape, layer, table, g, key0, last_pos, keys, values);
    __syncthreads();
    if (!active || key0 > warp_last) continue;  // no key of this tile is visible to the warp
    float score[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) score[n][i] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kDimTiles; ++kk) {
        if (kk * 16 < D) {
          const T* key = &keys[n * 8 + r][kk * 16 + 2 * c];
          const uint32_t b0 = *reinterpret_cast<const uint32_t*>(key);
          const uint32_t b1 = *reinterpret_cast<const uint32_t*>(key + 8);
          Mma16816<T>(score[n], q_hi[kk], b0, b1);
          Mma16816<T>(score[n], q_lo[kk], b0, b1);
        }
      }
    }
    // Mask, then the online softmax per row; the four lanes of a row group share its rows.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int half = i >> 1, j = key0 + n * 8 + 2 * c + (i & 1);
        if (j > pos[half]) score[n][i] = -INFINITY;
        tile_max[half] = fmaxf(tile_max[half], score[n][i]);
      }
    }
    float correction[2], tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      tile_max[half] = fmaxf(tile_max[half], __shfl_xor_sync(0xffffffffu, tile_max[half], 1));
      tile_max[half] = fmaxf(tile_max[half], __shfl_xor_sync(0xffffffffu, tile_max[half], 2));
      // Finite: position 0 is visible to every row and lies in the first tile.
      const float new_max = fmaxf(running_max[half], tile_max[half]);
      correction[half] = expf(running_max[half] - new_max);
      running_max[half] = new_max;
    }
    uint32_t p_hi[kKeyTiles / 2][4], p_lo[kKeyTiles / 2][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; i += 2) {
        const int half = i >> 1;
        const float p0 = expf(score[n][i] - running_max[half]);  // 0 where masked
        const float p1 = expf(score[n][i + 1] - running_max[half]);
        tile_sum[half] += p0 + p1;
        // S's fragment of n-tile n is P's A fragment of k-step n / 2: registers 0, 1 for even
        // n, 2, 3 for odd.
        SplitPair<T>(p0, p1, p_hi[n / 2][(n & 1) * 2 + half], p_lo[n / 2][(n & 1) * 2 + half]);
      }
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      tile_sum[half] += __shfl_xor_sync(0xffffffffu, tile_sum[half], 1);
      tile_sum[half] += __shfl_xor_sync(0xffffffffu, tile_sum[half], 2);
      running_sum[half] = running_sum[half] * correction[half] + tile_sum[half];
    }
#pragma unroll
    for (int n = 0; n < kPrefillMaxDim / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[n][i] *= correction[i >> 1];
    }
    // acc += P V: B fragment (rows = keys 16 ks + 2c, +1 and + 8, + 9; col = dim 8 n + r).
#pragma unroll
    for (int ks = 0; ks < kKeyTiles / 2; ++ks) {
      const int k = ks * 16 + 2 * c;
#pragma unroll
      for (int n = 0; n < kPrefillMaxDim / 8; ++n) {
        if (n * 8 < D) {
          const int d = n * 8 + r;
          const uint32_t b0 = Pack16(values[k][d], values[k + 1][d]);
          const uint32_t b1 = Pack16(values[k + 8][d], values[k + 9][d]);
          Mma16816<T>(acc[n], p_hi[ks], b0, b1);
          Mma16816<T>(acc[n], p_lo[ks], b0, b1);
        }
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    if (warp * 16 + r + 8 * half >= rows) continue;
    T* out_row = out + static_cast<size_t>(token[half]) * Q + head[half] * D;
#pragma unroll
    for (int n = 0; n < kPrefillMaxDim / 8; ++n) {
      const int d = n * 8 + 2 * c;
      if (d < D) {
        *reinterpret_cast<uint32_t*>(out_row + d) =
            Pack16(FromFloat<T>(acc[n][2 * half] / running_sum[half]),
                   FromFloat<T>(acc[n][2 * half + 1] / running_sum[half]));
      }
    }
  }
}

// In: float, or T (the 16-bit products of prefill steps). Token blockIdx.y (and every
// gridDim.y-th after it); a thread takes 8 consecutive values, with 16-byte accesses where
// inter allows.
template <typename T, typename In>
__global__ void SiluMulKernel(const In* gate_up, int num_tokens, int inter, T* out) {
  AwaitPreviousKernel();
  const int i = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
  if (i >= inter) return;
  for (int t = blockIdx.y; t < num_tokens; t += gridDim.y) {
    const In* gate = gate_up + static_cast<size_t>(t) * 2 * inter;
    const In* up = gate + inter;
    T* o = out + static_cast<size_t>(t) * inter;
    if constexpr (sizeof(In) == 2) {
      if (inter % 8 == 0) {
        float g[8], u[8];
        Unpack8<In>(*reinterpret_cast<const uint4*>(gate + i), g);
        Unpack8<In>(*reinterpret_cast<const uint4*>(up + i), u);
        uint4 packed;
        T* values = reinterpret_cast<T*>(&packed);
#pragma unroll
        for (int k = 0; k < 8; ++k) values[k] = FromFloat<T>(SwiGlu(g[k], u[k]));
        *reinterpret_cast<uint4*>(o + i) = packed;
        continue;
      }
    }
    for (int k = i; k < min(i + 8, inter); ++k) {
      const float g = static_cast<float>(gate[k]), u = static_cast<float>(up[k]);
      o[k] = FromFloat<T>(SwiGlu(g, u));
    }
  }
}

__global__ void BiasReluKernel(float* x, const float* bias, int n) {
  AwaitPreviousKernel();
  float* row = x + static_cast<size_t>(blockIdx.x) * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float v = row[i];
    if (bias != nullptr) v += bias[i];
    row[i] = fmaxf(0.0f, v);
  }
}

constexpr int kGreedySlice = 2048;  // logits per block of the first pass
constexpr int kGreedyThreads = 256;

struct GreedyPartial {
  float max;  // of the slice
  int index;  // the lowest id holding it
  float sum;  // sum of exp(logit - max) over the slice
};

// The maximum of `value` over the warp and the lowest `index` holding it, in every lane.
__device__ __forceinline__ void WarpArgMax(float& value, int& index) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other_value = __shfl_xor_sync(0xffffffffu, value, offset);
    const int other_index = __shfl_xor_sync(0xffffffffu, index, offset);
    if (other_value > value || (other_value == value && other_index < index)) {
      value = other_value;
      index = other_index;
    }
  }
}

// First pass: block (r, s) reduces slice s of row r to a GreedyPartial.
__global__ void GreedyPartialKernel(const float* logits, int vocab, GreedyPartial* partials) {
  __shared__ float best_value[kGreedyThreads / 32];
  __shared__ int best_index[kGreedyThreads / 32];
  AwaitPreviousKernel();
  const int r = blockIdx.x, slice = blockIdx.y;
  const int begin = slice * kGreedySlice, end = min(vocab, begin + kGreedySlice);
  const float* row = logits + static_cast<size_t>(r) * vocab;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float value = -INFINITY;
  int index = 0x7fffffff;
  for (int i = begin + threadIdx.x; i < end; i += blockDim.x) {
    if (row[i] > value) {  // i increases, so the first maximum of this thread is kept
      value = row[i];
      index = i;
    }
  }
  WarpArgMax(value, index);
  if (lane == 0) {
    best_value[warp] = value;
    best_index[warp] = index;
  }
  __syncthreads();
  value = best_value[0];
  index = best_index[0];
  for (int w = 1; w < kGreedyThreads / 32; ++w) {
    if (best_value[w] > value || (best_value[w] == value && best_index[w] < index)) {
      value = best_value[w];
      index = best_index[w];
    }
  }
  float sum = 0.0f;
  if (value != -INFINITY) {
    for (int i = begin + threadIdx.x; i < end; i += blockDim.x) sum += expf(row[i] - value);
  }
  sum = BlockSum(sum);
  if (threadIdx.x == 0) partials[static_cast<size_t>(r) * gridDim.y + slice] = {value, index, sum};
}

// Second pass: one warp per row merges the slices (log-sum-exp with rescaling).
__global__ void GreedyCombineKernel(const GreedyPartial* partials, int slices, int32_t* token,
                                    float* logprob) {
  AwaitPreviousKernel();
  const int r = blockIdx.x, lane = threadIdx.x;
  const GreedyPartial* row = partials + static_cast<size_t>(r) * slices;
  float value = -INFINITY;
  int index = 0x7fffffff;
  for (int s = lane; s < slices; s += 32) {
    if (row[s].max > value || (row[s].max == value && row[s].index < index)) {
      value = row[s].max;
      index = row[s].index;
    }
  }
  WarpArgMax(value, index);
  float total = 0.0f;
  for (int s = lane; s < slices; s += 32) total += row[s].sum * expf(row[s].max - value);
  total = WarpSum(total);
  if (lane == 0) {
    token[r] = index == 0x7fffffff ? 0 : index;  // a row without a number above -inf: 0, as the CPU
    logprob[r] = -logf(total);  // log-softmax at the maximum: max - (max + log sum exp(x - max))
  }
}

// ---- Token draws (LaunchDrawTokens) ----

constexpr int kDrawThreads = 1024;
constexpr int kRadixBits = 8;
constexpr int kRadixBins = 1 << kRadixBits;

// A key whose unsigned order is the float's order (-inf lowest), for radix selection. -0 and +0
// get one key, as they compare equal on the CPU (ties among them then go by id).
__device__ __forceinline__ uint32_t OrderKey(float v) {
  const uint32_t bits = v == 0.0f ? 0u : __float_as_uint(v);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}
__device__ __forceinline__ float FromOrderKey(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) != 0 ? key & 0x7fffffffu : ~key);
}

// A probability in units of 2^-48 (kDrawMassOne), truncated.
__device__ __forceinline__ uint64_t FixedMass(float p) {
  return static_cast<uint64_t>(static_cast<double>(p) * kDrawMassOne);
}

// The sum of `v` over the threads before this one (exclusive prefix sum over the block), and in
// *total over all of them.
__device__ uint64_t BlockExclusiveSum(uint64_t v, uint64_t* total) {
  __shared__ uint64_t warp_total[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint64_t inclusive = v;
#pragma unroll
  for (int offset = 1; offset < 32; offset <<= 1) {
    const uint64_t other = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  __syncthreads();
  if (lane == 31) warp_total[warp] = inclusive;
  __syncthreads();
  uint64_t before = inclusive - v;
  for (int w = 0; w < warp; ++w) before += warp_total[w];
  *total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) *total += warp_total[w];
  return before;
}

// The thread blocks that make one draw (LaunchDrawTokens): one block, or on Hopper a thread
// block cluster of kBlocks, block `rank` taking the rank-th slice [begin, end) of the row. What
// the blocks combine goes through distributed shared memory and is added in the order of the
// ranks, so every block of the draw gets the same bits, run to run.
template <int kBlocks>
struct DrawGroup {
  int rank = 0, begin = 0, end = 0;

  __device__ explicit DrawGroup(int vocab) {
    if constexpr (kBlocks > 1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      rank = static_cast<int>(cooperative_groups::this_cluster().block_rank());
#endif
    }
    const int per = (vocab + kBlocks - 1) / kBlocks;
    begin = min(vocab, rank * per);
    end = min(vocab, begin + per);
  }
  __device__ int draw() const { return static_cast<int>(blockIdx.x / kBlocks); }
  // A barrier for every thread of the group; shared memory written before it is visible to all
  // of the group's blocks after it.
  __device__ void Sync() const {
    if constexpr (kBlocks == 1) {
      __syncthreads();
    } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      cooperative_groups::this_cluster().sync();
#else
      __trap();  // clusters need compute capability 9.0 (the launcher refuses them below)
#endif
    }
  }
  // `p` in the shared memory of the group's block `r`.
  template <typename P>
  __device__ P* In(P* p, int r) const {
    if constexpr (kBlocks == 1) {
      return p;
    } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      return cooperative_groups::this_cluster().map_shared_rank(p, r);
#else
      __trap();
      return p;
#endif
    }
  }
  // The sum over the group's blocks of `v` (each block's own, the same in all its threads), in
  // the order of the ranks; *lower gets the sum over the blocks of lower rank. All threads call it.
  template <typename V>
  __device__ V Sum(V v, V* lower = nullptr) const {
    if constexpr (kBlocks == 1) {
      if (lower != nullptr) *lower = V{};
      return v;
    } else {
      __shared__ V slot;
      if (threadIdx.x == 0) slot = v;
      Sync();
      V total{}, below{};
      for (int r = 0; r < kBlocks; ++r) {
        const V x = *In(&slot, r);
        if (r < rank) below += x;
        total += x;
      }
      Sync();  // every block has read this one's slot before it is written again
      if (lower != nullptr) *lower = below;
      return total;
    }
  }
};

// The first id i of the row at which weight(0) + ... + weight(i) exceeds `target`, or -1. Each
// thread sums a contiguous stretch of its block's slice; integer sums, so exact in any order.
template <int kBlocks, typename Weight>
__device__ int FirstCrossing(const DrawGroup<kBlocks>& group, Weight weight, uint64_t target) {
  __shared__ int found;
  if (threadIdx.x == 0) found = -1;
  const int length = group.end - group.begin;
  const int per = (length + blockDim.x - 1) / blockDim.x;
  const int begin = group.begin + min(length, static_cast<int>(threadIdx.x) * per);
  const int end = min(group.end, begin + per);
  uint64_t sum = 0;
  for (int i = begin; i < end; ++i) sum += weight(i);
  uint64_t block_total = 0, lower = 0;
  uint64_t run = BlockExclusiveSum(sum, &block_total);  // synchronizes: `found` is initialized
  group.Sum(block_total, &lower);
  run += lower;
  if (run <= target && target < run + sum) {  // the one thread whose stretch crosses
    for (int i = begin; i < end; ++i) {
      run += weight(i);
      if (run > target) {
        found = i;
        break;
      }
    }
  }
  __syncthreads();
  // At most one block found it: the sum of (found + 1) over the group is it, plus one.
  const int result = group.Sum(found + 1) - 1;
  __syncthreads();  // before a later call resets `found`
  return result;
}

// Adds each lane's weight (below 2^49) to bins[bin]; lanes with bin == kRadixBins add nothing.
// The lanes of one bin add their sum in one atomic: the keys of a row crowd into few bins (a
// probability's exponent is its key's top bits), where lane-by-lane atomics would serialise.
// Sums in two parts of 24 and 25 bits, each exact in 32 bits over 32 lanes. All lanes call it.
__device__ __forceinline__ void AddToBin(unsigned long long* bins, int bin, uint64_t weight) {
  const unsigned peers = __match_any_sync(0xffffffffu, bin);
  const unsigned low = __reduce_add_sync(peers, static_cast<unsigned>(weight & 0xffffffu));
  const unsigned high = __reduce_add_sync(peers, static_cast<unsigned>(weight >> 24));
  if (bin < kRadixBins && static_cast<int>(threadIdx.x & 31) == __ffs(peers) - 1) {
    atomicAdd(&bins[bin], (static_cast<unsigned long long>(high) << 24) + low);
  }
}

// The boundary of a selection: over the ids where member(i) holds, in order of key(value(i))
// from the highest, the key of the element at which the running sum of weight(value(i)) first
// reaches `target` and the weight of all the elements with a higher key (less than target).
// `reached` is false when the whole sum stays below target. Four passes of 8 bits, from the top
// bits; value(i), the costly part (a probability), is computed once per element and pass.
struct RadixBoundary {
  uint32_t key;
  uint64_t above;
  bool reached;
};
template <int kBlocks, typename Member, typename Value, typename Key, typename Weight>
__device__ RadixBoundary RadixSelect(const DrawGroup<kBlocks>& group, Member member, Value value,
                                     Key key, Weight weight, uint64_t target) {
  __shared__ unsigned long long bins[kRadixBins];  // atomicAdd's 64-bit type
  __shared__ RadixBoundary chosen;
  uint32_t prefix = 0, mask = 0;
  uint64_t above = 0;
  for (int shift = 32 - kRadixBits; shift >= 0; shift -= kRadixBits) {
    for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x) bins[b] = 0;
    __syncthreads();
    // Whole warps go round together (blockDim is a multiple of 32), as AddToBin needs.
    for (int base = group.begin; base < group.end; base += blockDim.x) {
      const int i = base + static_cast<int>(threadIdx.x);
      int bin = kRadixBins;
      uint64_t w = 0;
      if (i < group.end && member(i)) {
        const auto v = value(i);
        const uint32_t k = key(v);
        if ((k & mask) == prefix) {
          bin = static_cast<int>((k >> shift) & (kRadixBins - 1));
          w = weight(v);
        }
      }
      AddToBin(bins, bin, w);
    }
    group.Sync();  // every block's histogram of its slice is complete
    if (threadIdx.x < 32) {
      // Lane l holds the bins 255 - 8l down to 248 - 8l: lanes in order of decreasing keys, each
      // bin the sum of the group's blocks' (integers: the same in any order).
      constexpr int kPerLane = kRadixBins / 32;
      const int lane = threadIdx.x, top = kRadixBins - 1 - kPerLane * lane;
      uint64_t count[kPerLane] = {}, local = 0;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) {
        for (int r = 0; r < kBlocks; ++r) count[j] += group.In(bins, r)[top - j];
        local += count[j];
      }
      uint64_t inclusive = local;
#pragma unroll
      for (int offset = 1; offset < 32; offset <<= 1) {
        const uint64_t other = __shfl_up_sync(0xffffffffu, inclusive, offset);
        if (lane >= offset) inclusive += other;
      }
      const unsigned reaching = __ballot_sync(0xffffffffu, above + inclusive >= target);
      if (reaching == 0) {
        if (lane == 0) chosen = {prefix, above, false};
      } else if (lane == __ffs(reaching) - 1) {
        uint64_t run = above + inclusive - local;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const uint32_t bin = top - j;
          if (run + count[j] >= target) {
            chosen = {prefix | bin << shift, run, true};
            break;
          }
          run += count[j];
        }
      }
    }
    group.Sync();  // `chosen` is written, and every block has read this one's bins
    const RadixBoundary result = chosen;
    __syncthreads();  // every thread has read `chosen` and `bins` before they are rewritten
    if (!result.reached) return result;
    prefix = result.key;
    above = result.above;
    mask |= static_cast<uint32_t>(kRadixBins - 1) << shift;
  }
  return {prefix, above, true};
}

// kBlocks blocks per draw (see DrawParams and DrawGroup). The CPU sampler's steps, each over the
// whole row: tempered logits x * inv_t; the top-k boundary (key, then the cut among equal keys by
// id); the softmax over the top-k with its total in double; the top-p boundary by mass; min-p;
// the draw. A block reads and writes its slice of the row; what it needs of the others' comes
// through the group's sums.
template <int kBlocks>
__global__ void __launch_bounds__(kDrawThreads)
    DrawTokensKernel(const float* logits, int vocab, const int32_t* argmax,
                     const float* argmax_logprob, const DrawParams* draws, int32_t* token,
                     float* logprob, float* probabilities) {
  AwaitPreviousKernel();
  const DrawGroup<kBlocks> group(vocab);
  const int draw = group.draw();
  const DrawParams d = draws[draw];
  const float* x = logits + static_cast<size_t>(d.row) * vocab;
  const int best = argmax[d.row];
  const float best_logprob = argmax_logprob[d.row];
  auto finish = [&](int chosen) {
    if (group.rank == 0 && threadIdx.x == 0) {
      token[draw] = chosen;
      logprob[draw] = best_logprob + (x[chosen] - x[best]);
    }
  };
  if (d.inv_temperature == 0.0f) {  // the same for every block of the group
    finish(best);
    return;
  }
  // Tempered logits rounded to float before anything else (no fused multiply-add), as the CPU.
  const float inv_t = d.inv_temperature;
  auto tempered = [&](int i) { return __fmul_rn(x[i], inv_t); };
  const float top = tempered(best);  // the tempered maximum (inv_t > 0 keeps the order)
  auto tempered_key = [&](int i) { return OrderKey(tempered(i)); };
  auto everything = [](int) { return true; };

  // Top-k: the k highest tempered logits, lower ids first among equals.
  uint32_t k_key = 0;
  int k_cut = vocab;
  if (d.top_k > 0 && d.top_k < vocab) {
    const RadixBoundary b = RadixSelect(
        group, everything, tempered, [](float v) { return OrderKey(v); },
        [](float) { return uint64_t{1}; }, d.top_k);
    k_key = b.key;
    k_cut = FirstCrossing(
        group, [&](int i) { return uint64_t{tempered_key(i) == k_key}; }, d.top_k - b.above - 1);
  }
  auto in_top_k = [&](int i) {
    const uint32_t k = tempered_key(i);
    return k > k_key || (k == k_key && i <= k_cut);
  };

  // Softmax of the tempered logits over the top-k (CPU: float exp, summed in double). With a
  // row of `probabilities`, each exponential is kept there (each block its slice), then divided
  // once by the total.
  float* cached =
      probabilities == nullptr ? nullptr : probabilities + static_cast<size_t>(draw) * vocab;
  double total = 0.0;
  for (int i = group.begin + threadIdx.x; i < group.end; i += blockDim.x) {
    const float e = expf(tempered(i) - top);
    if (cached != nullptr) cached[i] = e;
    if (in_top_k(i)) total += static_cast<double>(e);
  }
  total = group.Sum(BlockSum(total));
  auto divided = [&](float e) { return static_cast<float>(static_cast<double>(e) / total); };
  if (cached != nullptr) {
    // Each thread divides the elements it wrote; the barrier then shows the block's slice to
    // every thread of the block, the only ones that read it.
    for (int i = group.begin + threadIdx.x; i < group.end; i += blockDim.x) {
      cached[i] = divided(cached[i]);
    }
    __syncthreads();
  }
  auto probability = [&](int i) {
    return cached != nullptr ? cached[i] : divided(expf(tempered(i) - top));
  };

  // Top-p: the smallest most-likely-first prefix whose mass reaches top_p (all of the top-k
  // when their mass stays below it).
  bool nucleus_all = true;
  uint32_t p_key = 0;
  int p_cut = vocab;
  if (d.top_p < 1.0) {
    const uint64_t target = static_cast<uint64_t>(ceil(d.top_p * kDrawMassOne));
    const RadixBoundary b = RadixSelect(
        group, in_top_k, probability, [](float p) { return OrderKey(p); },
        [](float p) { return FixedMass(p); }, target);
    if (b.reached) {
      nucleus_all = false;
      p_key = b.key;
      // Equal keys are equal probabilities: as many of them, by id, as reach the target.
      const uint64_t each = FixedMass(FromOrderKey(p_key));
      const uint64_t needed = each == 0 ? 1 : (target - b.above + each - 1) / each;
      p_cut = FirstCrossing(
          group, [&](int i) { return uint64_t{in_top_k(i) && OrderKey(probability(i)) == p_key}; },
          needed - 1);
    }
  }
  // Min-p, relative to the most likely token (always kept): its probability computed here, the
  // bits a cached row holds, as `best` may lie in another block's slice.
  const float threshold = d.min_p * divided(expf(tempered(best) - top));
  auto kept_mass = [&](int i) -> uint64_t {
    if (!in_top_k(i)) return 0;
    const float p = probability(i);
    if (!nucleus_all) {
      const uint32_t k = OrderKey(p);
      if (k < p_key || (k == p_key && i > p_cut)) return 0;
    }
    return p < threshold ? 0 : FixedMass(p);
  };

  // The draw: the first id whose running mass exceeds floor(u * mass).
  uint64_t mass = 0;
  for (int i = group.begin + threadIdx.x; i < group.end; i += blockDim.x) mass += kept_mass(i);
  mass = group.Sum(BlockSum(mass));
  const uint64_t target = __umul64hi(d.u_bits << 11, mass);  // u_bits * mass / 2^53
  const int chosen = FirstCrossing(group, kept_mass, target);
  finish(chosen >= 0 ? chosen : best);
}

constexpr int kSkinnyWarps = 8;

// Warps that share one output unit (split-K), from the matrix shape (and the plan) alone, so
// that the order of every sum never depends on the number of tokens: enough warps to fill the
// chip (a 1536 x 8960 down projection alone gives 1536), but at least 64 chunks of 8 values per
// warp. (A cost model of rounds x batches of loads, tried on an H200, was no faster.)
int SkinnySplits(int units, int cols, int target_warps) {
  const int chunks = cols / 8;
  int splits = 1;
  while (splits < kSkinnyWarps && units * splits < target_warps && chunks / (2 * splits) >= 64) {
    splits *= 2;
  }
  return splits;
}

struct SkinnyArgs {
  const void* w;  // [units][cols], or [2 units][cols] when gated (gate rows, then up rows)
  int units;
  int cols;
  int splits;     // warps per unit: 1, 2, 4 or 8
  int groups;     // units / (kSkinnyWarps / splits), rounded up: a block takes one at a time
  const void* x;  // [num_tokens][cols], 16-bit
  bool stage_x;   // copy x to shared memory first (always with a norm)
  int num_tokens;
  float* out;  // plain: [num_tokens][units] f32, out = beta * out + w·x
  float beta;
  void* out16;  // gated: [num_tokens][units] 16-bit, silu(gate·x) * (up·x)
  // With a norm, x is RMSNorm(norm_x) (f32 [num_tokens][cols]) with norm_weight, computed by
  // every block into shared memory.
  const float* norm_x;
  const float* norm_weight;
  float eps;
};

// The QKV product's epilogue (LaunchSkinnyQkvRope): what QkvRopeStoreKernel does to a one-token
// row, done by the product's own threads as they finish each unit.
struct SkinnyRopeArgs {
  AttentionShape shape;
  int layer;
  const float* bias;  // [Q + 2 KV], or null
  const float* inv_freq;
  bool neox;
  const int32_t* positions;      // the token's position, table offset and block table: from the
  const int32_t* table_offsets;  // host, so read before the previous kernel has finished
  const int32_t* block_tables;
  void* cache;
};

// The rows of [Q + 2 KV] a rope product's units take: unit pairs (2i, 2i + 1) of a q or k head
// are the pair its rotation mixes, (i, i + D/2) of the head when neox, else (2i, 2i + 1); v rows
// in order. So the two sums a rotation needs come from warps of one thread block.
__host__ __device__ __forceinline__ int RopeRow(int unit, int head_dim, int rotated, bool neox) {
  if (!neox || unit >= rotated) return unit;
  const int j = unit % head_dim;
  return unit - j + j / 2 + (j & 1) * (head_dim / 2);
}

// What a rope product keeps in shared memory: the token's rotation (as QkvRopeStoreKernel's
// tables) and where its key goes in the cache (its value a block's keys further).
struct SkinnyRopeShared {
  float cos_table[kMaxHeadDim / 2], sin_table[kMaxHeadDim / 2];
  void* key_slot;
};

// Unit `unit`'s part of the token's q, k and v (`sum` its product, `partner_sum` its pair's):
// the bias added, q and k rotated, q written to out, k and v to the token's cache slots.
template <typename T>
__device__ __forceinline__ void SkinnyRopeWrite(const SkinnyRopeArgs& rope, float* out, int unit,
                                                float sum, float partner_sum,
                                                const SkinnyRopeShared& shared) {
  T* key_slot = static_cast<T*>(shared.key_slot);
  const int D = rope.shape.head_dim;
  const int Q = rope.shape.num_heads * D, KV = rope.shape.num_kv_heads * D;
  const int row = RopeRow(unit, D, Q + KV, rope.neox);
  float value = sum;
  if (rope.bias != nullptr) value += rope.bias[row];
  if (row >= Q + KV) {
    key_slot[static_cast<size_t>(rope.shape.block_size) * KV + (row - Q - KV)] =
        FromFloat<T>(value);
    return;
  }
  float other = partner_sum;
  if (rope.bias != nullptr) other += rope.bias[RopeRow(unit ^ 1, D, Q + KV, rope.neox)];
  const int i = (unit % D) / 2;
  const bool second = unit & 1;
  float a = second ? other : value, b = second ? value : other;
  RotatePair(a, b, shared.cos_table[i], shared.sin_table[i]);
  if (row < Q) {
    out[row] = second ? b : a;
  } else {
    key_slot[row - Q] = FromFloat<T>(second ? b : a);
  }
}

// Chunks (16 bytes) of a row per lane in one batch of loads of the matrix-vector kernels for
// up to `max_tokens` tokens, by default. One-token products may take others
// (SkinnyPlan::gated_unroll, plain_unroll; each value a kernel of its own, SkinnyUnrollFor).
__host__ __device__ constexpr int SkinnyDefaultUnroll(int max_tokens, bool gated) {
  return (max_tokens <= 2 ? 8 : 4) / (gated ? 2 : 1);
}

// The matrix-vector kernel's x: staged into shared memory (as RMSNorm(norm_x) with a norm, else
// a copy) or read from global memory. Call after AwaitPreviousKernel; syncs the block when it
// stages. (SkinnyArgs' fields come by value: with the struct by reference ptxas allocates the
// gated 1- and 2-token SkinnyMatMulKernels differently from the inline code measured in stops
// 15 to 23, 94 registers instead of 109; by value it gives the same allocation.)
template <typename T, bool kNorm>
__device__ __forceinline__ const uint4* SkinnyX(bool stage_x, const void* x_in, const float* norm_x,
                                                const float* norm_weight, float eps, int cols,
                                                int num_tokens, uint4* staged_x) {
  const int chunks = cols / 8;
  const bool staged = kNorm || stage_x;
  if (staged) {
    T* xs = reinterpret_cast<T*>(staged_x);
    if constexpr (kNorm) {
      for (int t = 0; t < num_tokens; ++t) {
        NormRow<T>(norm_x + static_cast<size_t>(t) * cols, cols, norm_weight, eps,
                   xs + static_cast<size_t>(t) * cols, nullptr);
      }
    } else {
      const uint4* x = static_cast<const uint4*>(x_in);
      for (int i = threadIdx.x; i < num_tokens * chunks; i += blockDim.x) staged_x[i] = x[i];
    }
    __syncthreads();
  }
  return staged ? staged_x : static_cast<const uint4*>(x_in);
}

// acc[r][t] += w_r[c] · x_t[c] for chunk c of the row(s) (8 values), in one fixed order. The
// chunk of x is copied to registers first: one 16-byte load, where unpacking it in place compiles
// to eight 2-byte loads (stop 36 on an H200: the down product alone 11.6 us against 14.1, batch-1
// decode 3 to 3.4% faster at a context of 128).
template <typename T, int kMaxTokens, int kRows>
__device__ __forceinline__ void SkinnyAddChunk(float (&acc)[kRows][kMaxTokens],
                                               const uint4 (&w)[kRows], const uint4* x, int c,
                                               int chunks, int num_tokens) {
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t) {
    if (t < num_tokens) {
      float xf[8];
      const uint4 x_chunk = x[static_cast<size_t>(t) * chunks + c];
      Unpack8<T>(x_chunk, xf);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float wf[8];
        Unpack8<T>(w[r], wf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r][t] += wf[i] * xf[i];
      }
    }
  }
}

// Writes unit `unit`'s sums: silu(gate) * up as 16 bits when gated, else beta * out + sum.
template <typename T, int kMaxTokens, bool kGated>
__device__ __forceinline__ void SkinnyWrite(const SkinnyArgs& args, int unit,
                                            const float (&acc)[kGated ? 2 : 1][kMaxTokens]) {
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t) {
    if (t >= args.num_tokens) break;
    const size_t at = static_cast<size_t>(t) * args.units + unit;
    if constexpr (kGated) {
      static_cast<T*>(args.out16)[at] = FromFloat<T>(SwiGlu(acc[0][t], acc[1][t]));
    } else {
      float* o = args.out + at;
      *o = args.beta == 0.0f ? acc[0][t] : args.beta * *o + acc[0][t];
    }
  }
}

// The split-K sum of a round of the matrix-vector kernels, called by the whole block: the first
// lane of a unit's first warp gets in acc the sums (over their lanes) of the unit's `splits`
// warps, added in the warps' order through `sums`. Two such buffers, by round parity: a warp
// may write round + 1's sums while part 0 of a unit still reads this round's.
template <int kRows, int kMaxTokens>
__device__ __forceinline__ void SkinnyAddSplits(float (&acc)[kRows][kMaxTokens],
                                                float (&sums)[kSkinnyWarps][kRows][kMaxTokens],
                                                int splits, int warp, int part, int lane) {
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int t = 0; t < kMaxTokens; ++t) sums[warp][r][t] = acc[r][t];
    }
  }
  __syncthreads();
  if (part == 0 && lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int t = 0; t < kMaxTokens; ++t) {
        float sum = sums[warp][r][t];
        for (int p = 1; p < splits; ++p) sum += sums[warp + p][r][t];
        acc[r][t] = sum;
      }
    }
  }
}

// A persistent matrix-vector kernel: block b takes groups b, b + gridDim.x, ... of
// kSkinnyWarps / splits units, `splits` warps per unit, each warp every splits-th 512-byte stretch
// of its row(s). Weights stream through two register buffers: the next batch (the rest of the
// row, or the next group's first) is loaded while the current one is used, and the first batch
// before waiting for the previous kernel. x is read once per block into shared memory where it
// fits. The warps of a unit add their sums in a fixed order through shared memory. With kRope (one
// token, not gated) unit u is row RopeRow(u) and the epilogue is SkinnyRopeWrite's.
template <typename T, int kMaxTokens, bool kGated, bool kNorm, bool kRope = false,
          int kUnroll = SkinnyDefaultUnroll(kMaxTokens, kGated)>
__device__ __forceinline__ void SkinnyMatMul(const SkinnyArgs& args,
                                             const SkinnyRopeArgs* rope = nullptr,
                                             SkinnyRopeShared* rope_shared = nullptr) {
  static_assert(!kRope || (kMaxTokens == 1 && !kGated));
  extern __shared__ uint4 staged_x[];  // [num_tokens][cols] 16-bit, when staged
  constexpr int kRows = kGated ? 2 : 1;
  __shared__ float partial[2][kSkinnyWarps][kRows][kMaxTokens];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int splits = args.splits, units_per_block = kSkinnyWarps / splits;
  const int slot = warp / splits, part = warp % splits;
  const int chunks = args.cols / 8, stride = 32 * splits, step = stride * kUnroll;
  const T* w = static_cast<const T*>(args.w);

  // Batch [base, base + step) of the row(s) of group g's unit for this warp; zeros past the row
  // or for a unit past the matrix.
  auto load = [&](uint4(&buffer)[kUnroll][kRows], int g, int base) {
    const int unit = g * units_per_block + slot;
    const bool valid = g < args.groups && unit < args.units;
    int matrix_row = valid ? unit : 0;
    if constexpr (kRope) {
      const int D = rope->shape.head_dim;
      matrix_row = RopeRow(matrix_row, D, (rope->shape.num_heads + rope->shape.num_kv_heads) * D,
                           rope->neox);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const uint4* row = reinterpret_cast<const uint4*>(
          w + (static_cast<size_t>(r) * args.units + matrix_row) * static_cast<size_t>(args.cols));
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = base + lane + stride * u;
        buffer[u][r] = valid && c < chunks ? __ldg(row + c) : uint4{};
      }
    }
  };
  uint4 current[kUnroll][kRows], next[kUnroll][kRows];
  int group = blockIdx.x;
  load(current, group, part * 32);  // weights do not depend on the previous kernel
  // Nor does the token's place, which the host wrote.
  if constexpr (kRope) {
    const int pos = rope->positions[0];
    if (threadIdx.x == 0) {
      rope_shared->key_slot = KeySlot(static_cast<T*>(rope->cache), rope->shape, rope->layer,
                                      rope->block_tables + rope->table_offsets[0], pos);
    }
    RopeTables(pos, rope->inv_freq, rope->shape.head_dim / 2, rope_shared->cos_table,
               rope_shared->sin_table);
  }
  AwaitPreviousKernel();
  const uint4* x = SkinnyX<T, kNorm>(args.stage_x, args.x, args.norm_x, args.norm_weight, args.eps,
                                     args.cols, args.num_tokens, staged_x);
  if constexpr (kRope) __syncthreads();  // the tables and slot, where SkinnyX did not sync

  float acc[kRows][kMaxTokens];
  for (int round = 0; group < args.groups; group += gridDim.x, ++round) {
    const int unit = group * units_per_block + slot;
    const bool active = unit < args.units;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int t = 0; t < kMaxTokens; ++t) acc[r][t] = 0.0f;
    }
    // Every lane adds its chunks in increasing order, whatever the batch size or grid.
    for (int base = part * 32; base < chunks; base += step) {
      if (base + step < chunks) {
        load(next, group, base + step);
      } else {
        load(next, group + gridDim.x, part * 32);
      }
      if (active) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int c = base + lane + stride * u;
          if (c < chunks) {
            SkinnyAddChunk<T, kMaxTokens, kRows>(acc, current[u], x, c, chunks, args.num_tokens);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int r = 0; r < kRows; ++r) current[u][r] = next[u][r];
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int t = 0; t < kMaxTokens; ++t) acc[r][t] = WarpSum(acc[r][t]);
    }
    if constexpr (kRope) {
      // Every warp's sum through shared memory (by round parity, as below); the first lane of a
      // unit's first warp adds up its unit's and its pair's (a unit of this block), each in the
      // order of the warps, as the split-K sum below does.
      float(&sums)[kSkinnyWarps][kRows][kMaxTokens] = partial[round & 1];
      if (lane == 0) sums[warp][0][0] = acc[0][0];
      __syncthreads();
      if (part != 0 || lane != 0 || !active) continue;
      auto unit_sum = [&](int s) {
        float sum = sums[s * splits][0][0];
        for (int p = 1; p < splits; ++p) sum += sums[s * splits + p][0][0];
        return sum;
      };
      SkinnyRopeWrite<T>(*rope, args.out, unit, unit_sum(slot), unit_sum(slot ^ 1), *rope_shared);
      continue;
    }
    if (splits > 1) {  // the same for the whole block
      SkinnyAddSplits<kRows, kMaxTokens>(acc, partial[round & 1], splits, warp, part, lane);
    }
    if (part != 0 || lane != 0 || !active) continue;
    SkinnyWrite<T, kMaxTokens, kGated>(args, unit, acc);
  }
}

template <typename T, int kMaxTokens, bool kGated, bool kNorm,
          int kUnroll = SkinnyDefaultUnroll(kMaxTokens, kGated)>
__global__ void __launch_bounds__(kSkinnyWarps * 32) SkinnyMatMulKernel(SkinnyArgs args) {
  SkinnyMatMul<T, kMaxTokens, kGated, kNorm, false, kUnroll>(args);
}

// A one-token QKV product with the rope epilogue (LaunchSkinnyQkvRope).
template <typename T, bool kNorm>
__global__ void __launch_bounds__(kSkinnyWarps * 32)
    SkinnyQkvRopeKernel(SkinnyArgs args, SkinnyRopeArgs rope) {
  __shared__ SkinnyRopeShared shared;
  SkinnyMatMul<T, 1, false, kNorm, true>(args, &rope, &shared);
}

// cp.async (sm_80 and newer; older devices trap): 16 bytes from global to shared memory, in
// flight until the thread waits for its group (WaitCopies); zeros without reading `from` where
// !valid.
__device__ __forceinline__ void CopyAsync16(void* to, const void* from, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned shared = static_cast<unsigned>(__cvta_generic_to_shared(to));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared), "l"(from),
               "r"(valid ? 16 : 0)
               : "memory");
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}
// Closes the thread's group of copies issued since the last call.
__device__ __forceinline__ void CommitCopies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// Waits until at most kPending of the thread's latest groups are in flight.
template <int kPending>
__device__ __forceinline__ void WaitCopies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

// The cp.async matrix-vector kernels (SkinnyPlan::async_copies) keep kSkinnyAsyncChunks weight
// chunks a lane in flight, through a ring in shared memory after the staged x: stages of kRows
// chunks, [stage][row][thread] (gate/up: 4 stages of a gate and an up chunk; 32 KB a block).
constexpr int kSkinnyAsyncChunks = 8;
constexpr size_t kSkinnyAsyncRingBytes = size_t{kSkinnyAsyncChunks} * kSkinnyWarps * 32 * 16;

// A one-token matrix-vector product as SkinnyMatMulKernel computes it (the same units, splits,
// grid and order of every sum, so the same bits), its weights streamed through the ring: each
// lane copies its chunks (a row's, then the next round's row's) kSkinnyAsyncChunks / kRows
// stages ahead of the one it adds, whatever the row length, with no registers held for them.
// The first stages are issued before waiting for the previous kernel. Not the rope product.
template <typename T, bool kGated, bool kNorm>
__global__ void __launch_bounds__(kSkinnyWarps * 32) SkinnyAsyncKernel(SkinnyArgs args) {
  constexpr int kRows = kGated ? 2 : 1;
  constexpr int kStages = kSkinnyAsyncChunks / kRows;
  constexpr int kThreads = kSkinnyWarps * 32;
  extern __shared__ uint4 staged_x[];  // [cols / 8] when staged, then the ring
  __shared__ float partial[2][kSkinnyWarps][kRows][1];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int splits = args.splits, units_per_block = kSkinnyWarps / splits;
  const int slot = warp / splits, part = warp % splits;
  const int chunks = args.cols / 8, stride = 32 * splits;
  const T* w = static_cast<const T*>(args.w);
  uint4* ring = staged_x + (kNorm || args.stage_x ? chunks : 0);
  // The lane's chunks of a row are first, first + stride, ...: `per_row` of them, the same in
  // every round; the block's rounds are its groups blockIdx.x, blockIdx.x + gridDim.x, ...
  const int first = part * 32 + lane;
  const int per_row = first < chunks ? (chunks - 1 - first) / stride + 1 : 0;
  const int rounds = args.groups > static_cast<int>(blockIdx.x)
                         ? (args.groups - 1 - blockIdx.x) / gridDim.x + 1
                         : 0;
  const int items = per_row * rounds;
  // Copies item `issued` (chunk issue_k of round issue_round's row(s)) into its stage and closes
  // a group, empty past the last item, so that WaitCopies counts items.
  int issued = 0, issue_round = 0, issue_k = 0;
  auto issue = [&]() {
    if (issued < items) {
      const int unit = (blockIdx.x + issue_round * gridDim.x) * units_per_block + slot;
      const bool valid = unit < args.units;
      uint4* stage = ring + (issued % kStages) * kRows * kThreads;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const uint4* row = reinterpret_cast<const uint4*>(
            w + (static_cast<size_t>(r) * args.units + (valid ? unit : 0)) *
                    static_cast<size_t>(args.cols));
        CopyAsync16(stage + r * kThreads + threadIdx.x, row + first + stride * issue_k, valid);
      }
      if (++issue_k == per_row) {
        issue_k = 0;
        ++issue_round;
      }
    }
    ++issued;
    CommitCopies();
  };
  for (int s = 0; s + 1 < kStages; ++s) issue();  // weights do not depend on the previous kernel
  AwaitPreviousKernel();
  const uint4* x = SkinnyX<T, kNorm>(args.stage_x, args.x, args.norm_x, args.norm_weight, args.eps,
                                     args.cols, 1, staged_x);
  int item = 0;
  for (int round = 0; round < rounds; ++round) {
    const int unit = (blockIdx.x + round * gridDim.x) * units_per_block + slot;
    const bool active = unit < args.units;
    float acc[kRows][1] = {};
    for (int k = 0; k < per_row; ++k, ++item) {
      issue();  // into the stage the previous item took, whose chunks this thread has added
      WaitCopies<kStages - 1>();  // this item's group has landed
      const uint4* stage = ring + (item % kStages) * kRows * kThreads;
      uint4 chunk[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) chunk[r] = stage[r * kThreads + threadIdx.x];
      if (active) SkinnyAddChunk<T, 1, kRows>(acc, chunk, x, first + stride * k, chunks, 1);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r][0] = WarpSum(acc[r][0]);
    if (splits > 1) SkinnyAddSplits<kRows, 1>(acc, partial[round & 1], splits, warp, part, lane);
    if (part != 0 || lane != 0 || !active) continue;
    SkinnyWrite<T, 1, kGated>(args, unit, acc);
  }
}

// Calls f(std::integral_constant<int, N>{}) for the smallest N of 1, 2, 4, 8 that is at least
// per_lane: the attention kernels' values per lane of a head. Kernels for heads of at most
// 4 x 32 values pass kMax = 4 (the caller has checked the shape), so no N = 8 is instantiated.
template <int kMax = 8, typename F>
void WithPerLane(int per_lane, F&& f) {
  static_assert(kMax == 4 || kMax == 8);
  if (per_lane <= 1) {
    f(std::integral_constant<int, 1>{});
  } else if (per_lane <= 2) {
    f(std::integral_constant<int, 2>{});
  } else if (kMax == 4 || per_lane <= 4) {
    f(std::integral_constant<int, 4>{});
  } else if constexpr (kMax == 8) {
    f(std::integral_constant<int, 8>{});
  }
}

// Head shapes the decode attention kernels take: head_dim up to kMaxHeadDim, whole query groups.
bool DecodeAttentionSupports(const AttentionShape& shape) {
  return shape.head_dim <= kMaxHeadDim && shape.num_kv_heads > 0 &&
         shape.num_heads % shape.num_kv_heads == 0;
}

template <typename F>
cudaError_t Dispatch(StorageType type, F&& launch) {
  if (type == StorageType::kBF16) {
    launch(__nv_bfloat16{});
  } else {
    launch(__half{});
  }
  return cudaGetLastError();
}

// Multiprocessors, and a matrix-vector kernel's blocks resident on one at once (its registers and
// `shared` bytes of dynamic shared memory; a kernel with a ring of `ring` bytes is allowed past
// the 48 KiB default here, to the most x it stages, kSkinnyMaxNormBytes, plus its ring); one block
// per multiprocessor where CUDA cannot say.
struct Residency {
  int processors = 1;
  int per_processor = 1;
};
template <typename... Params>
Residency ResidentBlocks(void (*kernel)(Params...), size_t shared, size_t ring) {
  Residency residency;
  int device = 0, processors = 0, per_processor = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&processors, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return residency;
  }
  residency.processors = std::max(processors, 1);
  if ((ring > 0 &&
       cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            static_cast<int>(kSkinnyMaxNormBytes + ring)) != cudaSuccess) ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_processor, kernel, kSkinnyWarps * 32,
                                                    shared) != cudaSuccess) {
    (void)cudaGetLastError();
  }
  residency.per_processor = std::max(per_processor, 1);
  return residency;
}

// kKernel's residency, computed once (one device per process): for the register kernels with the
// most x they stage (their registers bound them before their shared memory does); for kernels
// with a ring of kRing bytes, whose blocks take few registers, with the launch's own x
// (`x_bytes`), once per size.
template <auto kKernel, size_t kRing = 0>
Residency ResidencyOf(size_t x_bytes) {
  if constexpr (kRing == 0) {
    static const Residency residency = ResidentBlocks(kKernel, kSkinnyMaxNormBytes, 0);
    return residency;
  } else {
    static std::mutex mutex;
    static std::map<size_t, Residency> by_x_bytes;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = by_x_bytes.find(x_bytes);
    if (it == by_x_bytes.end()) {
      it = by_x_bytes.emplace(x_bytes, ResidentBlocks(kKernel, x_bytes + kRing, kRing)).first;
    }
    return it->second;
  }
}

// The persistent grid: at most the resident blocks (per multiprocessor, at most the plan's cap),
// with the groups spread evenly over the rounds the grid needs (so no round runs nearly empty).
int SkinnyBlocks(const SkinnyArgs& args, const SkinnyPlan& plan, const Residency& residency) {
  const int per_processor = plan.blocks_per_processor > 0
                                ? std::min(plan.blocks_per_processor, residency.per_processor)
                                : residency.per_processor;
  const int resident = residency.processors * per_processor;
  const int rounds = (args.groups + resident - 1) / resident;
  return (args.groups + rounds - 1) / rounds;
}

// Launches kKernel (where `launch` is given; with a ring of kRing bytes of shared memory after
// the `shared_bytes` of x) and returns the grid's blocks.
template <auto kKernel, size_t kRing = 0, typename... Extra>
int StartSkinny(const SkinnyArgs& args, size_t shared_bytes, const SkinnyPlan& plan,
                const Launch* launch, const Extra&... extra) {
  const int blocks = SkinnyBlocks(args, plan, ResidencyOf<kKernel, kRing>(shared_bytes));
  if (launch != nullptr) {
    Start(kKernel, blocks, kSkinnyWarps * 32, shared_bytes + kRing, *launch, args, extra...);
  }
  return blocks;
}

// StartSkinny of kWithNorm for a product that computes its norm, else of kPlain.
template <auto kWithNorm, auto kPlain, size_t kRing = 0, typename... Extra>
int StartSkinnyNormed(bool norm, const SkinnyArgs& args, size_t shared_bytes,
                      const SkinnyPlan& plan, const Launch* launch, const Extra&... extra) {
  return norm ? StartSkinny<kWithNorm, kRing>(args, shared_bytes, plan, launch, extra...)
              : StartSkinny<kPlain, kRing>(args, shared_bytes, plan, launch, extra...);
}

// The arguments every matrix-vector launch shares; the caller adds the outputs.
SkinnyArgs SkinnyInputs(const void* w, int units, int cols, const void* x, int num_tokens) {
  SkinnyArgs args{};
  args.w = w;
  args.units = units;
  args.cols = cols;
  args.x = x;
  args.num_tokens = num_tokens;
  return args;
}

// Launches the product (where `launch` is given; else only plans it) and sets *blocks, when
// given, to the grid's thread blocks. With `rope` (not gated) it is LaunchSkinnyQkvRope's.
template <bool kGated>
cudaError_t LaunchSkinny(StorageType type, SkinnyArgs args, const SkinnyNorm* norm,
                         const SkinnyPlan& plan, const Launch* launch, int* blocks = nullptr,
                         const SkinnyRopeArgs* rope = nullptr) {
  if (args.num_tokens < 1 || args.num_tokens > kSkinnyMaxTokens || args.cols < 8 ||
      args.cols % 8 != 0 || args.units < 1 || plan.target_warps < 1 ||
      plan.blocks_per_processor < 0 ||
      SkinnyUnrollFor(args.num_tokens, kGated, rope != nullptr, plan) == 0 ||
      (rope != nullptr &&
       (kGated || args.num_tokens != 1 ||
        (kSkinnyWarps / SkinnySplits(args.units, args.cols, plan.target_warps)) % 2 != 0))) {
    return cudaErrorInvalidValue;
  }
  const size_t x_bytes = static_cast<size_t>(args.num_tokens) * args.cols * 2;
  if (norm != nullptr) {
    if (x_bytes > kSkinnyMaxNormBytes) return cudaErrorInvalidValue;
    args.norm_x = norm->x;
    args.norm_weight = norm->weight;
    args.eps = norm->eps;
  }
  args.stage_x = plan.stage_x && x_bytes <= kSkinnyMaxNormBytes;
  const size_t shared_bytes = args.stage_x || norm != nullptr ? x_bytes : 0;
  args.splits = SkinnySplits(args.units, args.cols, plan.target_warps);
  const int units_per_block = kSkinnyWarps / args.splits;
  args.groups = (args.units + units_per_block - 1) / units_per_block;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    auto run = [&](auto tokens_constant) {
      constexpr int kTokens = decltype(tokens_constant)::value;
      const bool normed = norm != nullptr;
      int grid = 0;  // 0: not the rope product
      if constexpr (kTokens == 1 && !kGated) {
        if (rope != nullptr) {
          grid = StartSkinnyNormed<SkinnyQkvRopeKernel<T, true>, SkinnyQkvRopeKernel<T, false>>(
              normed, args, shared_bytes, plan, launch, *rope);
        }
      }
      // The batch size: the default, or a one-token product's where the plan names one.
      auto start = [&](auto unroll_constant) {
        constexpr int kUnroll = decltype(unroll_constant)::value;
        return StartSkinnyNormed<SkinnyMatMulKernel<T, kTokens, kGated, true, kUnroll>,
                                 SkinnyMatMulKernel<T, kTokens, kGated, false, kUnroll>>(
            normed, args, shared_bytes, plan, launch);
      };
      constexpr int kDefault = SkinnyDefaultUnroll(kTokens, kGated);
      const int unroll = SkinnyUnrollFor(args.num_tokens, kGated, false, plan);
      if constexpr (kTokens == 1) {
        if (grid == 0 && plan.async_copies) {
          grid = StartSkinnyNormed<SkinnyAsyncKernel<T, kGated, true>,
                                   SkinnyAsyncKernel<T, kGated, false>, kSkinnyAsyncRingBytes>(
              normed, args, shared_bytes, plan, launch);
        }
      }
      if (grid == 0 && unroll == kDefault) {
        grid = start(std::integral_constant<int, kDefault>{});
      } else if (grid == 0) {
        if constexpr (kTokens == 1 && kGated) {
          grid = unroll == 2 ? start(std::integral_constant<int, 2>{})
                             : start(std::integral_constant<int, 3>{});
        } else if constexpr (kTokens == 1) {
          grid = start(std::integral_constant<int, 9>{});
        }
      }
      if (blocks != nullptr) *blocks = grid;
    };
    if (args.num_tokens == 1) {
      run(std::integral_constant<int, 1>{});
    } else if (args.num_tokens <= 2) {
      run(std::integral_constant<int, 2>{});
    } else if (args.num_tokens <= 4) {
      run(std::integral_constant<int, 4>{});
    } else {
      run(std::integral_constant<int, 8>{});
    }
  });
}

}  // namespace

cudaError_t LaunchEmbeddingGather(StorageType type, const void* table, int hidden,
                                  const int32_t* tokens, int num_tokens, float* x, Launch launch) {
  if (num_tokens == 0) return cudaSuccess;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    Start(EmbeddingGatherKernel<T>, num_tokens, 256, 0, launch, static_cast<const T*>(table),
          hidden, tokens, x);
  });
}

cudaError_t LaunchRmsNorm(StorageType type, const float* x, int n, const int32_t* rows,
                          int num_rows, const float* weight, float eps, void* out16, float* out32,
                          Launch launch) {
  if (num_rows == 0) return cudaSuccess;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    Start(RmsNormKernel<T>, num_rows, 256, 0, launch, x, n, rows, weight, eps,
          static_cast<T*>(out16), out32);
  });
}

cudaError_t LaunchQkvRopeStore(StorageType type, float* qkv, int num_tokens,
                               const AttentionShape& shape, int layer, const QkvParams& params,
                               const int32_t* positions, const int32_t* table_offsets,
                               const int32_t* block_tables, void* cache, Launch launch) {
  if (shape.head_dim > kMaxHeadDim || shape.head_dim % 2 != 0) return cudaErrorInvalidValue;
  if (num_tokens == 0) return cudaSuccess;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    Start(QkvRopeStoreKernel<T>, num_tokens, kQkvWarps * 32, 0, launch, qkv, shape, layer, params,
          positions, table_offsets, block_tables, static_cast<T*>(cache));
  });
}

namespace {
// GroupedAttentionKernel for every token's KV heads (the heads of one in a block, or in blocks of
// up to 8; 4 for heads wider than 128: registers), over `stretches` in blockIdx.z (of at least
// split_keys keys each).
template <typename T>
void StartGroupedAttention(const float* qkv, int num_tokens, int stretches, int split_keys,
                           const AttentionShape& shape, int layer, const int32_t* positions,
                           const int32_t* table_offsets, const int32_t* block_tables,
                           const T* cache, T* out, float* partials, Launch launch) {
  const int per_lane = (shape.head_dim + 31) / 32;
  const int group = shape.num_heads / shape.num_kv_heads;
  const int heads_per_block = std::min(group, per_lane > 4 ? 4 : 8);
  const dim3 grid(num_tokens,
                  shape.num_kv_heads * ((group + heads_per_block - 1) / heads_per_block),
                  stretches);
  auto run = [&](auto per_lane_constant, auto heads_constant) {
    constexpr int kPerLane = decltype(per_lane_constant)::value;
    constexpr int kHeads = decltype(heads_constant)::value;
    Start(GroupedAttentionKernel<T, kPerLane, kHeads>, grid, kAttentionWarps * 32, 0, launch, qkv,
          shape, layer, heads_per_block, split_keys, positions, table_offsets, block_tables, cache,
          out, partials);
  };
  auto with_heads = [&](auto per_lane_constant) {
    if (heads_per_block <= 2) {
      run(per_lane_constant, std::integral_constant<int, 2>{});
    } else if (heads_per_block <= 4) {
      run(per_lane_constant, std::integral_constant<int, 4>{});
    } else if constexpr (decltype(per_lane_constant)::value <= 4) {
      run(per_lane_constant, std::integral_constant<int, 8>{});
    }
  };
  WithPerLane(per_lane, with_heads);
}
}  // namespace

cudaError_t LaunchPagedAttention(StorageType type, const float* qkv, int num_tokens,
                                 const AttentionShape& shape, int layer, const int32_t* positions,
                                 const int32_t* table_offsets, const int32_t* block_tables,
                                 const void* cache, void* out, Launch launch,
                                 AttentionKernel kernel, bool pipelined) {
  if (!DecodeAttentionSupports(shape) ||
      (kernel == AttentionKernel::kPerHeadWide && shape.head_dim > kWideAttentionMaxDim)) {
    return cudaErrorInvalidValue;
  }
  if (num_tokens == 0) return cudaSuccess;
  const int per_lane = (shape.head_dim + 31) / 32;
  const int group = shape.num_heads / shape.num_kv_heads;
  if (kernel == AttentionKernel::kAuto) {
    // Sharing keys pays once there are blocks enough for the chip without a block per head.
    kernel = group > 1 && num_tokens * shape.num_kv_heads >= 256 ? AttentionKernel::kPerKvHead
                                                                 : AttentionKernel::kPerHead;
  }
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const T* kv = static_cast<const T*>(cache);
    T* o = static_cast<T*>(out);
    if (kernel == AttentionKernel::kPerKvHead) {
      StartGroupedAttention<T>(qkv, num_tokens, 1, kAttentionSplitKeys, shape, layer, positions,
                               table_offsets, block_tables, kv, o, nullptr, launch);
      return;
    }
    const dim3 grid(num_tokens, shape.num_heads);
    if (kernel == AttentionKernel::kPerHeadWide) {
      WithPerLane<4>(per_lane, [&](auto per_lane_constant) {
        constexpr int kPerLane = decltype(per_lane_constant)::value;
        Start(pipelined ? PagedAttentionKernel<T, kPerLane, true, kWideAttentionWarps>
                        : PagedAttentionKernel<T, kPerLane, false, kWideAttentionWarps>,
              grid, kWideAttentionWarps * 32, 0, launch, qkv, shape, layer, positions,
              table_offsets, block_tables, kv, o);
      });
      return;
    }
    WithPerLane(per_lane, [&](auto per_lane_constant) {
      constexpr int kPerLane = decltype(per_lane_constant)::value;
      Start(pipelined ? PagedAttentionKernel<T, kPerLane, true>
                      : PagedAttentionKernel<T, kPerLane, false>,
            grid, kAttentionWarps * 32, 0, launch, qkv, shape, layer, positions, table_offsets,
            block_tables, kv, o);
    });
  });
}

size_t SplitAttentionScratchBytes(int num_tokens, const AttentionShape& shape) {
  return static_cast<size_t>(num_tokens) * shape.num_heads * kAttentionMaxSplits *
         (shape.head_dim + 2) * sizeof(float);
}

cudaError_t LaunchSplitAttention(StorageType type, const float* qkv, int num_tokens,
                                 const AttentionShape& shape, int layer, const int32_t* positions,
                                 const int32_t* table_offsets, const int32_t* block_tables,
                                 const void* cache, void* out, void* scratch, Launch launch,
                                 const SplitAttentionPlan& plan) {
  const bool grouped =
      plan.kernel == AttentionKernel::kPerKvHead && shape.num_heads > shape.num_kv_heads;
  if (!DecodeAttentionSupports(shape) || plan.split_keys < kAttentionMinSplitKeys ||
      plan.split_keys > kAttentionMaxSplitKeys) {
    return cudaErrorInvalidValue;
  }
  if (num_tokens == 0) return cudaSuccess;
  const dim3 grid(num_tokens, shape.num_heads, kAttentionMaxSplits);
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const T* kv = static_cast<const T*>(cache);
    T* o = static_cast<T*>(out);
    if (grouped) {
      StartGroupedAttention<T>(qkv, num_tokens, kAttentionMaxSplits, plan.split_keys, shape, layer,
                               positions, table_offsets, block_tables, kv, o,
                               static_cast<float*>(scratch), launch);
    } else {
      WithPerLane((shape.head_dim + 31) / 32, [&](auto per_lane_constant) {
        constexpr int kPerLane = decltype(per_lane_constant)::value;
        Start(plan.pipelined ? SplitAttentionKernel<T, kPerLane, true>
                             : SplitAttentionKernel<T, kPerLane, false>,
              grid, kAttentionWarps * 32, 0, launch, qkv, shape, layer, plan.split_keys, positions,
              table_offsets, block_tables, kv, static_cast<float*>(scratch));
      });
    }
    if (cudaPeekAtLastError() != cudaSuccess) return;
    Start(SplitAttentionMergeKernel<T>, dim3(num_tokens, shape.num_heads), 128, 0, launch, shape,
          plan.split_keys, positions, static_cast<const float*>(scratch), o);
  });
}

cudaError_t LaunchPrefillAttention(StorageType type, const float* qkv, const int32_t* tiles,
                                   int num_tiles, const AttentionShape& shape, int layer,
                                   const int32_t* positions, const int32_t* table_offsets,
                                   const int32_t* block_tables, const void* cache, void* out,
                                   Launch launch, PrefillKernel kernel) {
  if (!PrefillAttentionSupports(shape, kernel)) return cudaErrorInvalidValue;
  if (num_tiles == 0) return cudaSuccess;
  const int group = shape.num_heads / shape.num_kv_heads;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    if (kernel == PrefillKernel::kTensorCores) {
      const dim3 grid(num_tiles, shape.num_kv_heads * ((group + kMmaHeads - 1) / kMmaHeads));
      Start(PrefillMmaAttentionKernel<T>, grid, kMmaWarps * 32, 0, launch, qkv, shape, layer, tiles,
            positions, table_offsets, block_tables, static_cast<const T*>(cache),
            static_cast<T*>(out));
      return;
    }
    const dim3 grid(num_tiles, shape.num_kv_heads * ((group + kPrefillHeads - 1) / kPrefillHeads));
    // head_dim <= kPrefillMaxDim (128): at most 4 values per lane.
    WithPerLane<4>((shape.head_dim + 31) / 32, [&](auto per_lane_constant) {
      Start(PrefillAttentionKernel<T, decltype(per_lane_constant)::value>, grid,
            kAttentionWarps * 32, 0, launch, qkv, shape, layer, tiles, positions, table_offsets,
            block_tables, static_cast<const T*>(cache), static_cast<T*>(out));
    });
  });
}

bool PrefillAttentionSupports(const AttentionShape& shape, PrefillKernel kernel) {
  const int multiple = kernel == PrefillKernel::kTensorCores ? 16 : 8;
  return shape.head_dim <= kPrefillMaxDim && shape.head_dim % multiple == 0 && shape.head_dim > 0 &&
         shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0;
}

cudaError_t LaunchSiluMul(StorageType type, const void* gate_up, bool f32_input, int num_tokens,
                          int inter, void* out, Launch launch) {
  if (num_tokens == 0) return cudaSuccess;
  const dim3 grid((inter + 8 * 256 - 1) / (8 * 256), std::min(num_tokens, 65535));
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    if (f32_input) {
      Start(SiluMulKernel<T, float>, grid, 256, 0, launch, static_cast<const float*>(gate_up),
            num_tokens, inter, static_cast<T*>(out));
    } else {
      Start(SiluMulKernel<T, T>, grid, 256, 0, launch, static_cast<const T*>(gate_up), num_tokens,
            inter, static_cast<T*>(out));
    }
  });
}

cudaError_t LaunchSkinnyMatMul(StorageType type, const void* w, int rows, int cols, const void* x,
                               int num_tokens, float* out, float beta, Launch launch,
                               const SkinnyNorm* norm, const SkinnyPlan& plan) {
  SkinnyArgs args = SkinnyInputs(w, rows, cols, x, num_tokens);
  args.out = out;
  args.beta = beta;
  return LaunchSkinny<false>(type, args, norm, plan, &launch);
}

cudaError_t LaunchSkinnySwiGlu(StorageType type, const void* gate_up, int inter, int cols,
                               const void* x, int num_tokens, void* out, Launch launch,
                               const SkinnyNorm* norm, const SkinnyPlan& plan) {
  SkinnyArgs args = SkinnyInputs(gate_up, inter, cols, x, num_tokens);
  args.out16 = out;
  return LaunchSkinny<true>(type, args, norm, plan, &launch);
}

int SkinnyUnrollFor(int num_tokens, bool gated, bool rope, const SkinnyPlan& plan) {
  const bool allowed =
      (plan.gated_unroll == 0 || (plan.gated_unroll >= 2 && plan.gated_unroll <= 4)) &&
      (plan.plain_unroll == 0 || plan.plain_unroll == 8 || plan.plain_unroll == 9);
  if (!allowed) return 0;
  const int chosen = gated ? plan.gated_unroll : plan.plain_unroll;
  if (num_tokens == 1 && !rope && chosen != 0) return chosen;
  // The kernel the launch takes has kMaxTokens 1, 2, 4 or 8: at most 2 exactly where num_tokens is.
  return SkinnyDefaultUnroll(num_tokens, gated);
}

int SkinnyPlainUnrollFor(int rows, int cols, const SkinnyPlan& plan) {
  if (rows < 1 || cols < 8) return 8;
  // A lane's chunks of a row are lane, lane + stride, ... (SkinnyMatMul): per_lane of them at most.
  const int stride = 32 * SkinnySplits(rows, cols, plan.target_warps);
  const int per_lane = (cols / 8 + stride - 1) / stride;
  const auto batches = [&](int unroll) { return (per_lane + unroll - 1) / unroll; };
  return batches(9) < batches(8) ? 9 : 8;
}

bool SkinnyQkvRopeSupports(const AttentionShape& shape, int cols, const QkvParams& params,
                           const SkinnyPlan& plan) {
  const int units = (shape.num_heads + 2 * shape.num_kv_heads) * shape.head_dim;
  return params.q_norm == nullptr && params.k_norm == nullptr && shape.num_heads > 0 &&
         shape.num_kv_heads > 0 && shape.head_dim > 0 && shape.head_dim % 2 == 0 &&
         shape.head_dim <= kMaxHeadDim && cols >= 8 && cols % 8 == 0 &&
         (kSkinnyWarps / SkinnySplits(units, cols, plan.target_warps)) % 2 == 0;
}

cudaError_t LaunchSkinnyQkvRope(StorageType type, const void* w, int cols, const void* x,
                                float* qkv, const AttentionShape& shape, int layer,
                                const QkvParams& params, const int32_t* positions,
                                const int32_t* table_offsets, const int32_t* block_tables,
                                void* cache, Launch launch, const SkinnyNorm* norm,
                                const SkinnyPlan& plan) {
  if (!SkinnyQkvRopeSupports(shape, cols, params, plan)) return cudaErrorInvalidValue;
  const int units = (shape.num_heads + 2 * shape.num_kv_heads) * shape.head_dim;
  SkinnyArgs args = SkinnyInputs(w, units, cols, x, 1);
  args.out = qkv;
  const SkinnyRopeArgs rope{.shape = shape,
                            .layer = layer,
                            .bias = params.bias,
                            .inv_freq = params.inv_freq,
                            .neox = params.neox,
                            .positions = positions,
                            .table_offsets = table_offsets,
                            .block_tables = block_tables,
                            .cache = cache};
  return LaunchSkinny<false>(type, args, norm, plan, &launch, nullptr, &rope);
}

int SkinnyGridBlocks(StorageType type, int rows, int cols, int num_tokens, bool gated, bool norm,
                     const SkinnyPlan& plan) {
  const SkinnyArgs args = SkinnyInputs(nullptr, rows, cols, nullptr, num_tokens);
  const SkinnyNorm some_norm;
  int blocks = 0;
  const cudaError_t error =
      gated ? LaunchSkinny<true>(type, args, norm ? &some_norm : nullptr, plan, nullptr, &blocks)
            : LaunchSkinny<false>(type, args, norm ? &some_norm : nullptr, plan, nullptr, &blocks);
  return error == cudaSuccess ? blocks : 0;
}

size_t GreedyScratchBytes(int rows, int vocab) {
  return static_cast<size_t>(rows) * ((vocab + kGreedySlice - 1) / kGreedySlice) *
         sizeof(GreedyPartial);
}

cudaError_t LaunchGreedyLogprob(const float* logits, int rows, int vocab, int32_t* token,
                                float* logprob, void* scratch, Launch launch) {
  if (rows == 0) return cudaSuccess;
  const int slices = (vocab + kGreedySlice - 1) / kGreedySlice;
  auto* partials = static_cast<GreedyPartial*>(scratch);
  Start(GreedyPartialKernel, dim3(rows, slices), kGreedyThreads, 0, launch, logits, vocab,
        partials);
  if (cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  Start(GreedyCombineKernel, rows, 32, 0, launch, static_cast<const GreedyPartial*>(partials),
        slices, token, logprob);
  return cudaGetLastError();
}

cudaError_t LaunchBiasRelu(float* x, const float* bias, int n, int rows, Launch launch) {
  if (rows == 0) return cudaSuccess;
  Start(BiasReluKernel, rows, 256, 0, launch, x, bias, n);
  return cudaGetLastError();
}

bool DrawClusters() {
  // Once per process (one device): compute capability 9.0, the kernel built for it (not the
  // compute_80 PTX compiled on the fly, whose clusters trap), and room for one cluster at least
  // (MIG slices, parts with fewer multiprocessors per GPC).
  static const bool supported = [] {
    int device = 0, major = 0, clusters = 0;
    cudaFuncAttributes attributes{};
    cudaLaunchConfig_t config{};
    config.gridDim = kDrawClusterBlocks;
    config.blockDim = kDrawThreads;
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim = {static_cast<unsigned>(kDrawClusterBlocks), 1, 1};
    config.attrs = &attribute;
    config.numAttrs = 1;
    const bool ok =
        cudaGetDevice(&device) == cudaSuccess &&
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
        major >= 9 &&
        cudaFuncGetAttributes(&attributes, DrawTokensKernel<kDrawClusterBlocks>) == cudaSuccess &&
        attributes.ptxVersion >= 90 &&
        cudaOccupancyMaxActiveClusters(&clusters, DrawTokensKernel<kDrawClusterBlocks>, &config) ==
            cudaSuccess &&
        clusters > 0;
    (void)cudaGetLastError();
    return ok;
  }();
  return supported;
}

cudaError_t LaunchDrawTokens(const float* logits, int vocab, const int32_t* argmax,
                             const float* argmax_logprob, const DrawParams* draws, int num_draws,
                             int32_t* token, float* logprob, Launch launch, float* probabilities,
                             int blocks_per_draw) {
  if (blocks_per_draw != 1 && (blocks_per_draw != kDrawClusterBlocks || !DrawClusters())) {
    return cudaErrorInvalidValue;
  }
  if (num_draws == 0) return cudaSuccess;
  if (blocks_per_draw == 1) {
    Start(DrawTokensKernel<1>, num_draws, kDrawThreads, 0, launch, logits, vocab, argmax,
          argmax_logprob, draws, token, logprob, probabilities);
  } else {
    StartClusters(dim3(kDrawClusterBlocks), DrawTokensKernel<kDrawClusterBlocks>,
                  num_draws * kDrawClusterBlocks, kDrawThreads, 0, launch, logits, vocab, argmax,
                  argmax_logprob, draws, token, logprob, probabilities);
  }
  return cudaGetLastError();
}

}  // namespace ponder::engine::cuda
