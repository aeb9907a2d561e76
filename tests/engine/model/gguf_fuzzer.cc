// Fuzz target: GGUF parsing and every metadata getter on whatever parses.
#include <cstdint>
#include <span>

#include "engine/model/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = ponder::engine::GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const std::string& key : (*file)->keys()) {
    (void)(*file)->GetString(key);
    (void)(*file)->GetUint(key);
    (void)(*file)->GetInt(key);
    (void)(*file)->GetFloat(key);
    (void)(*file)->GetBool(key);
    (void)(*file)->GetStringArray(key);
    (void)(*file)->GetFloatArray(key);
    (void)(*file)->GetIntArray(key);
  }
  // Touch the first and last byte of every tensor: they must lie inside the input.
  volatile uint8_t sink = 0;
  for (const auto& tensor : (*file)->tensors()) {
    if (!tensor.data.empty()) sink = sink ^ tensor.data.front() ^ tensor.data.back();
  }
  return 0;
}
