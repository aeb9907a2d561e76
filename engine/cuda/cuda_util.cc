#include "engine/cuda/cuda_util.h"

#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "engine/sampling/philox.h"

namespace ponder::engine::cuda {

absl::Status CudaStatus(cudaError_t error, std::string_view call) {
  if (error == cudaSuccess) return absl::OkStatus();
  std::string message = absl::StrCat(AsAbsl(call), " failed: ", cudaGetErrorName(error), " (",
                                     cudaGetErrorString(error), ")");
  switch (error) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(message);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorSystemDriverMismatch:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status CublasStatus(cublasStatus_t status, std::string_view call) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  std::string message = absl::StrCat(AsAbsl(call), " failed: ", cublasGetStatusName(status), " (",
                                     cublasGetStatusString(status), ")");
  if (status == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  if (status == CUBLAS_STATUS_NOT_INITIALIZED || status == CUBLAS_STATUS_ARCH_MISMATCH) {
    return absl::FailedPreconditionError(message);
  }
  return absl::InternalError(message);
}

template <MemoryKind kKind>
absl::StatusOr<CudaBuffer<kKind>> CudaBuffer<kKind>::Allocate(size_t bytes, std::string_view what) {
  CudaBuffer buffer;
  if (bytes > 0) {
    const cudaError_t error = kKind == MemoryKind::kDevice ? cudaMalloc(&buffer.data_, bytes)
                                                           : cudaMallocHost(&buffer.data_, bytes);
    if (error != cudaSuccess) {
      (void)cudaGetLastError();  // clear the error so later calls do not report it again
      buffer.data_ = nullptr;
      return CudaStatus(
          error, absl::StrCat(kKind == MemoryKind::kDevice ? "cudaMalloc(" : "cudaMallocHost(",
                              bytes, " bytes for ", AsAbsl(what), ")"));
    }
  }
  buffer.bytes_ = bytes;
  return buffer;
}

template <MemoryKind kKind>
void CudaBuffer<kKind>::Free() {
  if (data_ == nullptr) return;
  if (kKind == MemoryKind::kDevice) {
    cudaFree(data_);
  } else {
    cudaFreeHost(data_);
  }
  data_ = nullptr;
  bytes_ = 0;
}

template <MemoryKind kKind>
absl::Status CudaBuffer<kKind>::Reserve(size_t bytes, std::string_view what) {
  if (bytes <= bytes_) return absl::OkStatus();
  Free();  // first, so the old and new buffers never coexist
  absl::StatusOr<CudaBuffer> grown = Allocate(bytes, what);
  if (!grown.ok()) return grown.status();
  *this = std::move(*grown);
  return absl::OkStatus();
}

template class CudaBuffer<MemoryKind::kDevice>;
template class CudaBuffer<MemoryKind::kPinnedHost>;

DrawParams DrawParamsOf(const TokenDraw& draw) {
  const SamplingParams& p = draw.sampling;
  return {.row = draw.row,
          .inv_temperature = p.greedy() ? 0.0f : static_cast<float>(1.0 / p.temperature),
          .top_k = p.top_k,
          .min_p = static_cast<float>(p.min_p),
          .top_p = p.top_p,
          // UniformDouble is bits * 2^-53: the bits, exactly.
          .u_bits = static_cast<uint64_t>(UniformDouble(p.seed, draw.stream, draw.step) * 0x1p53)};
}

}  // namespace ponder::engine::cuda
