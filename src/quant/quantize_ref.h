// quench quant: scalar reference quantizers, the oracle the vectorised kernels are tested against.
//
// Written for clarity, not speed: one element at a time, the parameter of each element found from
// its coordinates, rounding with the C library (nearbyint, floor, ceil, round) in double. Shares no
// code with quantize.cpp, so that a bug in the kernels' run decomposition or branch-free rounding
// shows up as a difference.
//
//   std::vector<int64_t> q = ref::quantize(x, enc);      // one integer per element, row-major
//   std::vector<float> y = ref::fake_quantize(x, enc);
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "quant/encoding.h"

namespace quench::ref {

// v rounded to an integer with the mode. half_up is floor(v + 0.5) computed in the argument's
// type (float: as the kernels for grids up to 16 bits; double: 32-bit grids).
double round(double v, RoundMode mode);
float round(float v, RoundMode mode);

// Index into e.scale / e.zero_point of the element at row-major position `flat` of a tensor of
// shape `shape` (per-tensor: 0; per-channel: its coordinate on the axis; per-block: the row-major
// index of its block in e.param_shape).
int64_t param_index(int64_t flat, const Shape& shape, const QuantSpec& spec,
                    const Shape& param_shape);

// One element: clamp(round(x / scale) + zp, qmin, qmax); NaN -> zp. x / scale is a float division
// (double for grids wider than 16 bits, as the kernels do).
int64_t quantize_value(float x, float scale, int32_t zero_point, const QuantSpec& spec);
// (q - zp) * scale with q - zp formed exactly.
float dequantize_value(int64_t q, float scale, int32_t zero_point);

// Whole tensors (float32 x, integer encodings; the encoding is assumed valid for the shape).
std::vector<int64_t> quantize(const Tensor& x, const Encoding& e);
std::vector<float> dequantize(const std::vector<int64_t>& q, const Shape& shape, const Encoding& e);
std::vector<float> fake_quantize(const Tensor& x, const Encoding& e);

}  // namespace quench::ref
