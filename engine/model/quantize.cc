#include "engine/model/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ponder::engine {
namespace {

template <typename T>
void Put(std::vector<uint8_t>& out, size_t index, const T& value) {
  std::memcpy(out.data() + index * sizeof(T), &value, sizeof(T));
}

}  // namespace

std::vector<uint8_t> EncodeAs(DType dtype, std::span<const float> values) {
  std::vector<uint8_t> out(DTypeBytes(dtype, values.size()));
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
      break;
    case DType::kF16:
      for (size_t i = 0; i < values.size(); ++i) Put(out, i, FloatToHalf(values[i]));
      break;
    case DType::kBF16:
      for (size_t i = 0; i < values.size(); ++i) Put(out, i, FloatToBFloat16(values[i]));
      break;
    case DType::kQ8_0:
      for (size_t b = 0; b < values.size() / kQuantBlock; ++b) {
        const float* x = values.data() + b * kQuantBlock;
        float amax = 0;
        for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        BlockQ8_0 block;
        block.d = FloatToHalf(d);
        for (int j = 0; j < kQuantBlock; ++j)
          block.q[j] = static_cast<int8_t>(std::round(x[j] * id));
        Put(out, b, block);
      }
      break;
    case DType::kQ4_0:
      for (size_t b = 0; b < values.size() / kQuantBlock; ++b) {
        const float* x = values.data() + b * kQuantBlock;
        float amax = 0, max = 0;
        for (int j = 0; j < kQuantBlock; ++j) {
          if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
          }
        }
        const float d = max / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        BlockQ4_0 block;
        block.d = FloatToHalf(d);
        for (int j = 0; j < kQuantBlock / 2; ++j) {
          uint8_t lo = std::min(15, static_cast<int8_t>(x[j] * id + 8.5f) + 0);
          uint8_t hi = std::min(15, static_cast<int8_t>(x[j + kQuantBlock / 2] * id + 8.5f) + 0);
          block.q[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
        Put(out, b, block);
      }
      break;
  }
  return out;
}

}  // namespace ponder::engine
