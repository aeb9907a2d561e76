// Conversion of f32 values into the stored weight types (for `ponder convert` and test models).
// Q8_0 and Q4_0 follow ggml's reference quantizers (ggml-quants.c, quantize_row_q8_0_ref and
// quantize_row_q4_0_ref) so files we write quantize exactly as llama.cpp's would.
#ifndef PONDER_ENGINE_MODEL_QUANTIZE_H_
#define PONDER_ENGINE_MODEL_QUANTIZE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/dtype.h"

namespace ponder::engine {

// Encodes `values` (a multiple of DTypeBlockValues(dtype) long) as `dtype`.
std::vector<uint8_t> EncodeAs(DType dtype, std::span<const float> values);

}  // namespace ponder::engine

#endif  // PONDER_ENGINE_MODEL_QUANTIZE_H_
