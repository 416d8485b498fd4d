// quench quant: rounding to float16 / bfloat16 / float8.
//
// float8 rounding of |v| (not NaN):
//   1. saturate: |v| >= largest finite -> largest finite (ONNX saturate=1, Inf included);
//   2. e = floor(log2 |v|), raised to the smallest normal exponent so that subnormals share the
//      quantum of the smallest binade;
//   3. quantum = 2^(e - mantissa_bits); r = nearbyint(|v| / quantum) * quantum (both exact: the
//      quantum is a power of two), ties to even under the default rounding mode;
//   4. r above the largest finite value (rounding up out of the top binade) saturates too.
// Formats: OCP / ONNX float8 e4m3fn (bias 7, 3 mantissa bits, no Inf, max 448) and e5m2 (bias 15,
// 2 mantissa bits, max 57344).
#include "quant/float_formats.h"

#include <cmath>
#include <cstring>

#include "core/dtype.h"

namespace quench {
namespace {

struct Float8Format {
  int mantissa_bits;
  int min_normal_exp;
  float max;
};

Float8Format float8_format(NumberFormat f) {
  if (f == NumberFormat::kFloat8E4M3) return {3, -6, 448.0f};
  return {2, -14, 57344.0f};
}

}  // namespace

float float8_max(NumberFormat f) { return float8_format(f).max; }

float round_to_float8(float v, NumberFormat f) {
  if (std::isnan(v)) return v;
  const Float8Format fmt = float8_format(f);
  float a = std::fabs(v);
  if (a >= fmt.max) return std::copysign(fmt.max, v);
  if (a == 0.0f) return v;
  int e = std::ilogb(a);
  if (e < fmt.min_normal_exp) e = fmt.min_normal_exp;
  float quantum = std::ldexp(1.0f, e - fmt.mantissa_bits);
  float r = std::nearbyint(a / quantum) * quantum;
  if (r > fmt.max) r = fmt.max;
  return std::copysign(r, v);
}

void round_span_to_format(const float* src, float* dst, int64_t n, NumberFormat f) {
  switch (f) {
    case NumberFormat::kFloat16:
      for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(float_to_half(src[i]));
      return;
    case NumberFormat::kBFloat16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bfloat16_to_float(float_to_bfloat16(src[i]));
      return;
    case NumberFormat::kFloat8E4M3:
    case NumberFormat::kFloat8E5M2:
      for (int64_t i = 0; i < n; ++i) dst[i] = round_to_float8(src[i], f);
      return;
    case NumberFormat::kInt:
    case NumberFormat::kFloat32:
      if (dst != src && n > 0) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
  }
}

void fake_quantize_float8_span(const float* src, float* dst, int64_t n, float scale,
                               NumberFormat f) {
  for (int64_t i = 0; i < n; ++i) dst[i] = round_to_float8(src[i] / scale, f) * scale;
}

}  // namespace quench
