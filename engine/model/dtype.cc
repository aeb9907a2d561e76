#include "engine/model/dtype.h"

#include <cmath>

namespace ponder::engine {

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kQ8_0:
      return "q8_0";
    case DType::kQ4_0:
      return "q4_0";
  }
  return "?";
}

std::optional<DType> ParseDType(std::string_view name) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    if (DTypeName(dtype) == name) return dtype;
  }
  return std::nullopt;
}

int DTypeBlockValues(DType dtype) {
  return (dtype == DType::kQ8_0 || dtype == DType::kQ4_0) ? kQuantBlock : 1;
}

int DTypeBlockBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 2;
    case DType::kQ8_0:
      return sizeof(BlockQ8_0);
    case DType::kQ4_0:
      return sizeof(BlockQ4_0);
  }
  return 0;
}

// ggml type ids: ggml/include/ggml.h, enum ggml_type.
std::optional<DType> DTypeFromGgml(uint32_t ggml_type) {
  switch (ggml_type) {
    case 0:
      return DType::kF32;
    case 1:
      return DType::kF16;
    case 2:
      return DType::kQ4_0;
    case 8:
      return DType::kQ8_0;
    case 30:
      return DType::kBF16;
    default:
      return std::nullopt;
  }
}

uint32_t DTypeToGgml(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ8_0:
      return 8;
    case DType::kBF16:
      return 30;
  }
  return 0;
}

std::string_view GgmlTypeName(uint32_t ggml_type) {
  static constexpr std::string_view kNames[] = {"f32",
                                                "f16",
                                                "q4_0",
                                                "q4_1",
                                                "q4_2 (removed)",
                                                "q4_3 (removed)",
                                                "q5_0",
                                                "q5_1",
                                                "q8_0",
                                                "q8_1",
                                                "q2_K",
                                                "q3_K",
                                                "q4_K",
                                                "q5_K",
                                                "q6_K",
                                                "q8_K",
                                                "iq2_xxs",
                                                "iq2_xs",
                                                "iq3_xxs",
                                                "iq1_s",
                                                "iq4_nl",
                                                "iq3_s",
                                                "iq2_s",
                                                "iq4_xs",
                                                "i8",
                                                "i16",
                                                "i32",
                                                "i64",
                                                "f64",
                                                "iq1_m",
                                                "bf16"};
  if (ggml_type < std::size(kNames)) return kNames[ggml_type];
  return "unknown";
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: value = mantissa * 2^-24
      float f = std::ldexp(static_cast<float>(mantissa), -24);
      std::memcpy(&bits, &f, sizeof(bits));
      bits |= sign;
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  uint32_t abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) {  // inf or nan
    return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  }
  if (abs >= 0x477ff000) return sign | 0x7c00;  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000) {                       // below the smallest normal half: subnormal
    // value / 2^-24, rounded to nearest even.
    float value;
    std::memcpy(&value, &abs, sizeof(value));
    float scaled = value * 16777216.0f;  // exact: power of two
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  uint32_t exponent = (abs >> 23) - 112;
  uint32_t mantissa = abs & 0x7fffff;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // carries into the exponent
  return sign | static_cast<uint16_t>(half);
}

uint16_t FloatToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace ponder::engine
