// Helpers shared by the quant kernel family (quant.cpp, quant_conv.cpp, quant_matmul.cpp):
// integer ranges of the quantized element types, round-half-to-even requantization, reading scale
// and zero-point inputs, and the conv attribute parsing of ConvInteger / QLinearConv.
//
//   QRange r = qrange(DType::kInt4);            // {-8, 7}
//   int32_t q = requantize(2.5f, 0, r);         // 2 (ties to even)
//   QUENCH_ASSIGN_OR_RETURN(std::vector<float> s, read_floats(ctx, 1, "x_scale"));
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/kernel.h"

namespace quench::quant {

// The saturation range of an integer quantized type.
struct QRange {
  int32_t lo = 0;
  int32_t hi = 0;
};

// True for the types QuantizeLinear may produce as integers (u/int 4, 8, 16).
bool is_quant_dtype(DType t);
bool is_float8(DType t);
QRange qrange(DType t);

// Round to nearest, ties to even, for |v| < 2^22; larger magnitudes are returned unchanged apart
// from the float rounding that they already have (they saturate anyway). Adding and subtracting
// 1.5 * 2^23 rounds in the default FP mode without a libm call, and compiles to plain vector adds
// on baseline x86-64 (nearbyintf needs SSE4.1 to inline).
inline float round_half_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  if (!(std::fabs(v) < 4194304.0f)) return v;
  float t = v + kMagic;  // quench never builds with -ffast-math, which would fold this away
  return t - kMagic;
}

// saturate(round(v) + zero_point) into r. NaN gives zero_point.
inline int32_t requantize(float v, int32_t zero_point, QRange r) {
  if (!(v == v)) return zero_point < r.lo ? r.lo : (zero_point > r.hi ? r.hi : zero_point);
  // Clamp before rounding so that huge values cannot overflow; the bounds lie outside the range
  // after adding zero_point, so saturation below still decides.
  float lo = static_cast<float>(r.lo - zero_point) - 1.0f;
  float hi = static_cast<float>(r.hi - zero_point) + 1.0f;
  v = v < lo ? lo : (v > hi ? hi : v);
  int32_t q = static_cast<int32_t>(round_half_even(v)) + zero_point;
  return q < r.lo ? r.lo : (q > r.hi ? r.hi : q);
}

// Same in double, for requantizing int32 accumulators (|acc * multiplier| may need more than
// float's 24 bits to round the way the ONNX reference does).
inline int32_t requantize_double(double v, int32_t zero_point, QRange r) {
  if (!(v == v)) return zero_point < r.lo ? r.lo : (zero_point > r.hi ? r.hi : zero_point);
  double lo = static_cast<double>(r.lo - zero_point) - 1.0;
  double hi = static_cast<double>(r.hi - zero_point) + 1.0;
  v = v < lo ? lo : (v > hi ? hi : v);
  // |v| < 2^17 here, so adding and subtracting 1.5 * 2^52 rounds half to even (see above).
  constexpr double kMagic = 6755399441055744.0;
  const double t = v + kMagic;
  int32_t q = static_cast<int32_t>(t - kMagic) + zero_point;
  return q < r.lo ? r.lo : (q > r.hi ? r.hi : q);
}

// A float tensor (float32, float16 or bfloat16) input as float values; `what` names it in errors.
Result<std::vector<float>> read_floats(const KernelContext& ctx, size_t index, const char* what);
// An integer tensor input as int32 values (any u/int 4/8/16/32 type).
Result<std::vector<int32_t>> read_ints(const KernelContext& ctx, size_t index, const char* what);

// "x_zero_point" of type int8 must match x of type uint8: an error naming both otherwise.
Status check_same_dtype(const KernelContext& ctx, const Tensor& a, const char* a_name,
                        const Tensor& b, const char* b_name);
// An error unless t is a scalar or a 1-element 1-D tensor.
Status check_scalar(const KernelContext& ctx, const Tensor& t, const char* what);
bool is_scalar_like(const Tensor& t);

// Spatial parameters of a convolution (1-D, 2-D or 3-D), as ONNX Conv defines them. Missing
// spatial dimensions are filled with 1 (kernel, strides, dilations) and 0 (pads) so that every
// convolution runs as a 3-D one: 1-D conv = (1, 1, W), 2-D = (1, H, W).
struct ConvGeometry {
  int spatial_rank = 0;
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  int64_t in[3] = {1, 1, 1};      // D, H, W of the input
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad_begin[3] = {0, 0, 0};
  int64_t out[3] = {1, 1, 1};

  int64_t in_spatial() const { return in[0] * in[1] * in[2]; }
  int64_t out_spatial() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  // The output shape [N, M, spatial...].
  Shape output_shape() const;
};

// Reads group, kernel_shape, strides, dilations, pads and auto_pad of ctx's node and checks them
// against x [N, C, spatial...] and w [M, C/group, kernel...].
Result<ConvGeometry> conv_geometry(const KernelContext& ctx, const Shape& x, const Shape& w);

}  // namespace quench::quant
