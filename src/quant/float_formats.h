// quench quant: rounding to the float formats (float16, bfloat16, float8 e4m3fn / e5m2).
//
// float16 and bfloat16 round through core/dtype.h's converters (nearest even, NaN and Inf kept).
// float8 values are computed here: round to nearest even on the format's grid (subnormals
// included), saturating to the largest finite value (448 for e4m3fn, 57344 for e5m2), Inf included,
// as ONNX QuantizeLinear / Cast with saturate=1 do. NaN stays NaN.
//
//   float y = round_to_float8(300.0f, NumberFormat::kFloat8E4M3);   // 288
//   round_span_to_format(x, y, n, NumberFormat::kBFloat16);
#pragma once

#include <cstdint>

#include "quant/encoding.h"

namespace quench {

// Largest finite value of a float8 format (448 or 57344).
float float8_max(NumberFormat f);
// v rounded to the float8 format f (kFloat8E4M3 or kFloat8E5M2), returned as float.
float round_to_float8(float v, NumberFormat f);

// dst[i] = src[i] rounded to the format (kFloat16, kBFloat16, kFloat8*: unscaled, kFloat32: copy).
// dst may equal src.
void round_span_to_format(const float* src, float* dst, int64_t n, NumberFormat f);

// Scaled float8 fake-quantization: dst[i] = round_to_float8(src[i] / scale) * scale.
void fake_quantize_float8_span(const float* src, float* dst, int64_t n, float scale,
                               NumberFormat f);

}  // namespace quench
