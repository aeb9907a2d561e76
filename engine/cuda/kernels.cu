#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>

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

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the thread block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ float BlockSum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = WarpSum(v);
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += partial[w];
  return total;
}

template <typename T>
__global__ void EmbeddingGatherKernel(const T* table, int hidden, const int32_t* tokens, float* x) {
  const int t = blockIdx.x;
  const T* row = table + static_cast<size_t>(tokens[t]) * hidden;
  float* out = x + static_cast<size_t>(t) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) out[i] = ToFloat(row[i]);
}

template <typename T>
__global__ void RmsNormKernel(const float* x, int n, const int32_t* rows, const float* weight,
                              float eps, T* out16, float* out32) {
  const int r = blockIdx.x;
  const int i = rows != nullptr ? rows[r] : r;
  const float* in = x + static_cast<size_t>(i) * n;
  float sum = 0.0f;
  for (int c = threadIdx.x; c < n; c += blockDim.x) sum += in[c] * in[c];
  sum = BlockSum(sum);
  const float scale = rsqrtf(sum / static_cast<float>(n) + eps);
  T* o16 = out16 + static_cast<size_t>(r) * n;
  float* o32 = out32 != nullptr ? out32 + static_cast<size_t>(r) * n : nullptr;
  for (int c = threadIdx.x; c < n; c += blockDim.x) {
    const float y = (in[c] * scale) * weight[c];
    o16[c] = FromFloat<T>(y);
    if (o32 != nullptr) o32[c] = y;
  }
}

constexpr int kMaxHeadDim = 256;
constexpr int kQkvWarps = 4;

// One thread block per token; each warp takes whole heads (q heads, then k, then v).
template <typename T>
__global__ void QkvRopeStoreKernel(float* qkv, AttentionShape shape, int layer, QkvParams params,
                                   const int32_t* positions, const int32_t* table_offsets,
                                   const int32_t* block_tables, T* cache) {
  __shared__ float head_buffer[kQkvWarps][kMaxHeadDim];
  const int t = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = shape.head_dim, half = D / 2;
  const int Q = shape.num_heads * D, KV = shape.num_kv_heads * D;
  float* row = qkv + static_cast<size_t>(t) * (Q + 2 * KV);
  const int pos = positions[t];
  const int block = block_tables[table_offsets[t] + pos / shape.block_size];
  const int slot = pos % shape.block_size;
  const size_t kv_values = static_cast<size_t>(shape.block_size) * KV;
  T* key_slot = cache + (static_cast<size_t>(block) * shape.num_layers + layer) * 2 * kv_values +
                static_cast<size_t>(slot) * KV;
  T* value_slot = key_slot + kv_values;
  float* buffer = head_buffer[warp];

  for (int head = warp; head < shape.num_heads + 2 * shape.num_kv_heads; head += kQkvWarps) {
    const int offset = head * D;  // into the row: q heads, then k heads, then v heads
    const bool is_q = head < shape.num_heads;
    const bool is_v = offset >= Q + KV;
    float sum = 0.0f;
    for (int d = lane; d < D; d += 32) {
      float v = row[offset + d];
      if (params.bias != nullptr) v += params.bias[offset + d];
      buffer[d] = v;
      sum += v * v;
    }
    if (is_v) {
      for (int d = lane; d < D; d += 32) value_slot[offset - Q - KV + d] = FromFloat<T>(buffer[d]);
      continue;
    }
    const float* norm = is_q ? params.q_norm : params.k_norm;
    sum = WarpSum(sum);
    __syncwarp();
    if (norm != nullptr) {
      const float scale = rsqrtf(sum / static_cast<float>(D) + params.eps);
      for (int d = lane; d < D; d += 32) buffer[d] = (buffer[d] * scale) * norm[d];
      __syncwarp();
    }
    for (int i = lane; i < half; i += 32) {
      // As engine/ops RopeCosSin: a float32 angle, its cosine and sine in double.
      const float angle = static_cast<float>(pos) * params.inv_freq[i];
      const float c = static_cast<float>(cos(static_cast<double>(angle)));
      const float s = static_cast<float>(sin(static_cast<double>(angle)));
      const int ia = params.neox ? i : 2 * i, ib = params.neox ? i + half : 2 * i + 1;
      const float a = buffer[ia], b = buffer[ib];
      const float ra = a * c - b * s, rb = b * c + a * s;
      if (is_q) {
        row[offset + ia] = ra;
        row[offset + ib] = rb;
      } else {
        key_slot[offset - Q + ia] = FromFloat<T>(ra);
        key_slot[offset - Q + ib] = FromFloat<T>(rb);
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

template <typename T, int kPerLane>
__global__ void __launch_bounds__(kAttentionWarps * 32)
    PagedAttentionKernel(const float* qkv, AttentionShape shape, int layer,
                         const int32_t* positions, const int32_t* table_offsets,
                         const int32_t* block_tables, const T* cache, T* out) {
  __shared__ float warp_max[kAttentionWarps], warp_sum[kAttentionWarps];
  __shared__ float warp_acc[kAttentionWarps][32 * kPerLane];
  const int t = blockIdx.x, h = blockIdx.y;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int D = shape.head_dim;
  const int Q = shape.num_heads * D, KV = shape.num_kv_heads * D;
  const int g = h / (shape.num_heads / shape.num_kv_heads);
  const bool full = D == 32 * kPerLane;
  const float scale = rsqrtf(static_cast<float>(D));
  const int pos = positions[t];
  const int32_t* table = block_tables + table_offsets[t];
  const size_t kv_values = static_cast<size_t>(shape.block_size) * KV;

  float q[kPerLane];
  const float* q_row = qkv + static_cast<size_t>(t) * (Q + 2 * KV) + h * D;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane * kPerLane + i;
    q[i] = d < D ? q_row[d] * scale : 0.0f;
  }
  float running_max = -INFINITY, running_sum = 0.0f, acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) acc[i] = 0.0f;

  for (int first = warp * kKeysPerStep; first <= pos; first += kAttentionWarps * kKeysPerStep) {
    float keys[kKeysPerStep][kPerLane], values[kKeysPerStep][kPerLane], scores[kKeysPerStep];
#pragma unroll
    for (int k = 0; k < kKeysPerStep; ++k) {
      const int j = first + k;
      if (j <= pos) {
        const T* key =
            cache +
            (static_cast<size_t>(table[j / shape.block_size]) * shape.num_layers + layer) * 2 *
                kv_values +
            static_cast<size_t>(j % shape.block_size) * KV + g * D;
        LoadHead<T, kPerLane>(key, lane, D, full, keys[k]);
        LoadHead<T, kPerLane>(key + kv_values, lane, D, full, values[k]);
      } else {
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) keys[k][i] = values[k][i] = 0.0f;
      }
    }
    float step_max = -INFINITY;
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

  // Merge the warps' partial softmaxes.
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum[warp] = running_sum;
  }
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) warp_acc[warp][lane * kPerLane + i] = acc[i];
  __syncthreads();
  float global_max = -INFINITY;
  for (int w = 0; w < kAttentionWarps; ++w) global_max = fmaxf(global_max, warp_max[w]);
  float denominator = 0.0f;
  for (int w = 0; w < kAttentionWarps; ++w) {
    denominator += warp_sum[w] * expf(warp_max[w] - global_max);  // exp(-inf) = 0: idle warp
  }
  T* out_head = out + static_cast<size_t>(t) * Q + h * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float numerator = 0.0f;
    for (int w = 0; w < kAttentionWarps; ++w)
      numerator += warp_acc[w][d] * expf(warp_max[w] - global_max);
    out_head[d] = FromFloat<T>(numerator / denominator);
  }
}

template <typename T>
__global__ void SiluMulKernel(const float* gate_up, int num_tokens, int inter, T* out) {
  const size_t total = static_cast<size_t>(num_tokens) * inter;
  for (size_t k = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; k < total;
       k += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t t = k / inter, i = k % inter;
    const float g = gate_up[t * 2 * inter + i], u = gate_up[t * 2 * inter + inter + i];
    out[k] = FromFloat<T>(g / (1.0f + expf(-g)) * u);
  }
}

__global__ void GreedyLogprobKernel(const float* logits, int vocab, int32_t* token,
                                    float* logprob) {
  __shared__ float best_value[32];
  __shared__ int best_index[32];
  const int r = blockIdx.x;
  const float* row = logits + static_cast<size_t>(r) * vocab;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float value = -INFINITY;
  int index = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    if (row[i] > value) {  // i increases, so the first maximum of this thread is kept
      value = row[i];
      index = i;
    }
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other_value = __shfl_xor_sync(0xffffffffu, value, offset);
    const int other_index = __shfl_xor_sync(0xffffffffu, index, offset);
    if (other_value > value || (other_value == value && other_index < index)) {
      value = other_value;
      index = other_index;
    }
  }
  if (lane == 0) {
    best_value[warp] = value;
    best_index[warp] = index;
  }
  __syncthreads();
  value = best_value[0];
  index = best_index[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
    if (best_value[w] > value || (best_value[w] == value && best_index[w] < index)) {
      value = best_value[w];
      index = best_index[w];
    }
  }
  float sum = 0.0f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) sum += expf(row[i] - value);
  sum = BlockSum(sum);
  if (threadIdx.x == 0) {
    token[r] = index;
    logprob[r] = -logf(sum);  // log-softmax at the maximum: max - (max + log sum exp(x - max))
  }
}

constexpr int kSkinnyWarps = 8;

// Eight 16-bit values (16 bytes) as floats.
template <typename T>
__device__ __forceinline__ void Unpack8(const uint4& packed, float (&out)[8]) {
  const T* v = reinterpret_cast<const T*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = ToFloat(v[i]);
}

template <typename T, int kMaxTokens>
__global__ void __launch_bounds__(kSkinnyWarps * 32)
    SkinnyMatMulKernel(const T* w, int rows, int cols, const T* x, int num_tokens, float* out,
                       float beta) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kSkinnyWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const uint4* w_row = reinterpret_cast<const uint4*>(w + static_cast<size_t>(r) * cols);
  const int chunks = cols / 8;
  float acc[kMaxTokens];
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t) acc[t] = 0.0f;
  // Four chunks per lane in flight: the loads of w are independent of the arithmetic.
  constexpr int kUnroll = 4;
  int c = lane;
  for (; c + 32 * (kUnroll - 1) < chunks; c += 32 * kUnroll) {
    uint4 packed[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) packed[u] = __ldg(w_row + c + 32 * u);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float wf[8];
      Unpack8<T>(packed[u], wf);
#pragma unroll
      for (int t = 0; t < kMaxTokens; ++t) {
        if (t < num_tokens) {
          float xf[8];
          Unpack8<T>(reinterpret_cast<const uint4*>(x + static_cast<size_t>(t) * cols)[c + 32 * u],
                     xf);
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[t] += wf[i] * xf[i];
        }
      }
    }
  }
  for (; c < chunks; c += 32) {
    float wf[8];
    Unpack8<T>(__ldg(w_row + c), wf);
#pragma unroll
    for (int t = 0; t < kMaxTokens; ++t) {
      if (t < num_tokens) {
        float xf[8];
        Unpack8<T>(reinterpret_cast<const uint4*>(x + static_cast<size_t>(t) * cols)[c], xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[t] += wf[i] * xf[i];
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxTokens; ++t) {
    const float sum = WarpSum(acc[t]);
    if (lane == 0 && t < num_tokens) {
      float* o = out + static_cast<size_t>(t) * rows + r;
      *o = beta == 0.0f ? sum : beta * *o + sum;
    }
  }
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

}  // namespace

cudaError_t LaunchEmbeddingGather(StorageType type, const void* table, int hidden,
                                  const int32_t* tokens, int num_tokens, float* x,
                                  cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    EmbeddingGatherKernel<T>
        <<<num_tokens, 256, 0, stream>>>(static_cast<const T*>(table), hidden, tokens, x);
  });
}

cudaError_t LaunchRmsNorm(StorageType type, const float* x, int n, const int32_t* rows,
                          int num_rows, const float* weight, float eps, void* out16, float* out32,
                          cudaStream_t stream) {
  if (num_rows == 0) return cudaSuccess;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    RmsNormKernel<T>
        <<<num_rows, 256, 0, stream>>>(x, n, rows, weight, eps, static_cast<T*>(out16), out32);
  });
}

cudaError_t LaunchQkvRopeStore(StorageType type, float* qkv, int num_tokens,
                               const AttentionShape& shape, int layer, const QkvParams& params,
                               const int32_t* positions, const int32_t* table_offsets,
                               const int32_t* block_tables, void* cache, cudaStream_t stream) {
  if (shape.head_dim > kMaxHeadDim || shape.head_dim % 2 != 0) return cudaErrorInvalidValue;
  if (num_tokens == 0) return cudaSuccess;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    QkvRopeStoreKernel<T><<<num_tokens, kQkvWarps * 32, 0, stream>>>(
        qkv, shape, layer, params, positions, table_offsets, block_tables, static_cast<T*>(cache));
  });
}

cudaError_t LaunchPagedAttention(StorageType type, const float* qkv, int num_tokens,
                                 const AttentionShape& shape, int layer, const int32_t* positions,
                                 const int32_t* table_offsets, const int32_t* block_tables,
                                 const void* cache, void* out, cudaStream_t stream) {
  if (shape.head_dim > kMaxHeadDim || shape.num_kv_heads <= 0 ||
      shape.num_heads % shape.num_kv_heads != 0) {
    return cudaErrorInvalidValue;
  }
  if (num_tokens == 0) return cudaSuccess;
  const dim3 grid(num_tokens, shape.num_heads);
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const T* kv = static_cast<const T*>(cache);
    T* o = static_cast<T*>(out);
    const int per_lane = (shape.head_dim + 31) / 32;
    if (per_lane <= 1) {
      PagedAttentionKernel<T, 1><<<grid, kAttentionWarps * 32, 0, stream>>>(
          qkv, shape, layer, positions, table_offsets, block_tables, kv, o);
    } else if (per_lane <= 2) {
      PagedAttentionKernel<T, 2><<<grid, kAttentionWarps * 32, 0, stream>>>(
          qkv, shape, layer, positions, table_offsets, block_tables, kv, o);
    } else if (per_lane <= 4) {
      PagedAttentionKernel<T, 4><<<grid, kAttentionWarps * 32, 0, stream>>>(
          qkv, shape, layer, positions, table_offsets, block_tables, kv, o);
    } else {
      PagedAttentionKernel<T, 8><<<grid, kAttentionWarps * 32, 0, stream>>>(
          qkv, shape, layer, positions, table_offsets, block_tables, kv, o);
    }
  });
}

cudaError_t LaunchSiluMul(StorageType type, const float* gate_up, int num_tokens, int inter,
                          void* out, cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  const size_t total = static_cast<size_t>(num_tokens) * inter;
  const int blocks = static_cast<int>(std::min<size_t>((total + 255) / 256, 65535));
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    SiluMulKernel<T><<<blocks, 256, 0, stream>>>(gate_up, num_tokens, inter, static_cast<T*>(out));
  });
}

cudaError_t LaunchSkinnyMatMul(StorageType type, const void* w, int rows, int cols, const void* x,
                               int num_tokens, float* out, float beta, cudaStream_t stream) {
  if (num_tokens < 1 || num_tokens > kSkinnyMaxTokens || cols % 8 != 0)
    return cudaErrorInvalidValue;
  const int blocks = (rows + kSkinnyWarps - 1) / kSkinnyWarps;
  return Dispatch(type, [&](auto zero) {
    using T = decltype(zero);
    const T* wt = static_cast<const T*>(w);
    const T* xt = static_cast<const T*>(x);
    if (num_tokens == 1) {
      SkinnyMatMulKernel<T, 1>
          <<<blocks, kSkinnyWarps * 32, 0, stream>>>(wt, rows, cols, xt, num_tokens, out, beta);
    } else if (num_tokens <= 2) {
      SkinnyMatMulKernel<T, 2>
          <<<blocks, kSkinnyWarps * 32, 0, stream>>>(wt, rows, cols, xt, num_tokens, out, beta);
    } else if (num_tokens <= 4) {
      SkinnyMatMulKernel<T, 4>
          <<<blocks, kSkinnyWarps * 32, 0, stream>>>(wt, rows, cols, xt, num_tokens, out, beta);
    } else {
      SkinnyMatMulKernel<T, 8>
          <<<blocks, kSkinnyWarps * 32, 0, stream>>>(wt, rows, cols, xt, num_tokens, out, beta);
    }
  });
}

cudaError_t LaunchGreedyLogprob(const float* logits, int rows, int vocab, int32_t* token,
                                float* logprob, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  GreedyLogprobKernel<<<rows, 1024, 0, stream>>>(logits, vocab, token, logprob);
  return cudaGetLastError();
}

}  // namespace ponder::engine::cuda
