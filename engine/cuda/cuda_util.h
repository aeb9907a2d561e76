// Small CUDA helpers of the CUDA backend: errors as absl::Status, and owning device / pinned
// host buffers. Internal to engine/cuda (tests include it too).
#ifndef PONDER_ENGINE_CUDA_CUDA_UTIL_H_
#define PONDER_ENGINE_CUDA_CUDA_UTIL_H_

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/cuda/kernels.h"
#include "engine/sampling/sampler.h"

namespace ponder::engine::cuda {

// OK for cudaSuccess; otherwise an error naming `call` and CUDA's message. Out of memory is
// RESOURCE_EXHAUSTED; a missing driver or device is FAILED_PRECONDITION; the rest INTERNAL.
absl::Status CudaStatus(cudaError_t error, std::string_view call);
absl::Status CublasStatus(cublasStatus_t status, std::string_view call);

// Returns from the enclosing function (absl::Status or StatusOr) when the CUDA call fails.
#define PONDER_CUDA_RETURN_IF_ERROR(call)                                                       \
  do {                                                                                          \
    if (::absl::Status _ponder_cuda_status = ::ponder::engine::cuda::CudaStatus((call), #call); \
        !_ponder_cuda_status.ok())                                                              \
      return _ponder_cuda_status;                                                               \
  } while (0)
#define PONDER_CUBLAS_RETURN_IF_ERROR(call)                                                       \
  do {                                                                                            \
    if (::absl::Status _ponder_cuda_status = ::ponder::engine::cuda::CublasStatus((call), #call); \
        !_ponder_cuda_status.ok())                                                                \
      return _ponder_cuda_status;                                                                 \
  } while (0)

// Where a CudaBuffer lives: device memory (cudaMalloc), or page-locked host memory
// (cudaMallocHost), which the device copies to and from asynchronously.
enum class MemoryKind { kDevice, kPinnedHost };

// Memory of `kKind`, freed on destruction. Move-only.
template <MemoryKind kKind>
class CudaBuffer {
 public:
  CudaBuffer() = default;
  // `what` names the buffer in the out-of-memory error ("KV cache", "layer 3 weights", ...).
  static absl::StatusOr<CudaBuffer> Allocate(size_t bytes, std::string_view what);
  CudaBuffer(CudaBuffer&& other) noexcept { *this = std::move(other); }
  CudaBuffer& operator=(CudaBuffer&& other) noexcept {
    if (this != &other) {
      Free();
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  ~CudaBuffer() { Free(); }

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }
  // Grows (reallocating, contents lost) to at least `bytes`; keeps a larger buffer as it is.
  absl::Status Reserve(size_t bytes, std::string_view what);

 private:
  void Free();

  void* data_ = nullptr;
  size_t bytes_ = 0;
};

using DeviceBuffer = CudaBuffer<MemoryKind::kDevice>;
using PinnedBuffer = CudaBuffer<MemoryKind::kPinnedHost>;

// What LaunchDrawTokens needs of `draw`: its parameters as the CPU sampler reads them and its
// Philox draw (UniformDouble(seed, stream, step) as its 53 bits).
DrawParams DrawParamsOf(const TokenDraw& draw);

}  // namespace ponder::engine::cuda

#endif  // PONDER_ENGINE_CUDA_CUDA_UTIL_H_
