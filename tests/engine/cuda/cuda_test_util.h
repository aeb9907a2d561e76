// Shared by the CUDA tests: skipping without a device, and device copies of host vectors.
#ifndef PONDER_TESTS_ENGINE_CUDA_CUDA_TEST_UTIL_H_
#define PONDER_TESTS_ENGINE_CUDA_CUDA_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <vector>

#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_util.h"

// Skips the current test when no CUDA device is usable (CI machines have none).
#define PONDER_SKIP_WITHOUT_CUDA_DEVICE()                                               \
  do {                                                                                  \
    if (absl::Status _device = ::ponder::engine::cuda::DeviceStatus(); !_device.ok()) { \
      GTEST_SKIP() << "no CUDA device, GPU test skipped: " << _device.message();        \
    }                                                                                   \
  } while (0)

namespace ponder::engine::cuda {

// A device copy of `host`.
template <typename T>
DeviceBuffer ToDevice(const std::vector<T>& host) {
  absl::StatusOr<DeviceBuffer> buffer =
      DeviceBuffer::Allocate(std::max<size_t>(1, host.size()) * sizeof(T), "test input");
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  if (!host.empty()) {
    EXPECT_EQ(
        cudaMemcpy(buffer->data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
        cudaSuccess);
  }
  return std::move(*buffer);
}

// `count` values copied back from `device`, after waiting for the device.
template <typename T>
std::vector<T> ToHost(const DeviceBuffer& device, size_t count) {
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<T> host(count);
  EXPECT_EQ(cudaMemcpy(host.data(), device.data(), count * sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return host;
}

}  // namespace ponder::engine::cuda

#endif  // PONDER_TESTS_ENGINE_CUDA_CUDA_TEST_UTIL_H_
