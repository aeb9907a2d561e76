// Fuzz target: safetensors header parsing and validation.
#include <cstdint>
#include <span>

#include "engine/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = ponder::engine::SafetensorsFile::Parse(std::span<const uint8_t>(data, size),
                                                     "fuzz.safetensors");
  if (!file.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const auto& tensor : (*file)->tensors()) {
    if (!tensor.data.empty()) sink = sink ^ tensor.data.front() ^ tensor.data.back();
  }
  return 0;
}
