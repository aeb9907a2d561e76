// Element types of weight tensors, their storage layout and scalar conversions.
//
// Quantized types follow ggml's block layouts exactly (ggml/src/ggml-common.h), so GGUF tensor
// data is used in place:
//   Q8_0: blocks of 32 values: fp16 scale d, then 32 int8 q;          value = d * q
//   Q4_0: blocks of 32 values: fp16 scale d, then 16 bytes of nibbles; byte j holds value j in its
//         low nibble and value j+16 in its high nibble;              value = d * (nibble - 8)
#ifndef PONDER_ENGINE_MODEL_DTYPE_H_
#define PONDER_ENGINE_MODEL_DTYPE_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace ponder::engine {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

inline constexpr int kQuantBlock = 32;  // values per Q8_0 / Q4_0 block

struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t q[kQuantBlock];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;  // fp16 scale
  uint8_t q[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

std::string_view DTypeName(DType dtype);
// The inverse of DTypeName ("f32", "f16", "bf16", "q8_0", "q4_0"); nullopt for other names.
std::optional<DType> ParseDType(std::string_view name);
// Values per storage block (1 for float types, 32 for quantized ones).
int DTypeBlockValues(DType dtype);
// Bytes per storage block.
int DTypeBlockBytes(DType dtype);
// Bytes for `n` values; `n` must be a multiple of DTypeBlockValues (callers validate).
inline uint64_t DTypeBytes(DType dtype, uint64_t n) {
  return n / DTypeBlockValues(dtype) * DTypeBlockBytes(dtype);
}

// ggml's type ids (GGUF tensor infos) for the types we read; nullopt for the others.
std::optional<DType> DTypeFromGgml(uint32_t ggml_type);
uint32_t DTypeToGgml(DType dtype);
// The name of a ggml type id, for error messages ("q4_K", "iq2_xs", ...).
std::string_view GgmlTypeName(uint32_t ggml_type);

// IEEE half <-> float, exact for every half value; float -> half rounds to nearest even.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);

// bfloat16 <-> float; float -> bf16 rounds to nearest even (NaN stays NaN).
inline float BFloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
uint16_t FloatToBFloat16(float f);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_DTYPE_H_
