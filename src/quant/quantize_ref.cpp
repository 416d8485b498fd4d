// quench quant: scalar reference quantizers (see quantize_ref.h).
#include "quant/quantize_ref.h"

#include <algorithm>
#include <cmath>

namespace quench::ref {

double round(double v, RoundMode mode) {
  // v + 0.5 and |v| - 0.5 are exact in double for every float v.
  switch (mode) {
    case RoundMode::kHalfEven:
      return std::nearbyint(v);
    case RoundMode::kHalfUp:
      return std::floor(v + 0.5);  // vai_q: floor(v + 0.5)
    case RoundMode::kHalfDown:
      return std::copysign(std::ceil(std::fabs(v) - 0.5), v);
    case RoundMode::kHalfAwayFromZero:
      return std::round(v);
    case RoundMode::kFloor:
      return std::floor(v);
    case RoundMode::kCeil:
      return std::ceil(v);
  }
  return v;
}

float round(float v, RoundMode mode) {
  // half_up adds 0.5 in float, as the kernels (and vai_q) do; every other mode is exact.
  if (mode == RoundMode::kHalfUp) return std::floor(v + 0.5f);
  return static_cast<float>(round(static_cast<double>(v), mode));
}

int64_t param_index(int64_t flat, const Shape& shape, const QuantSpec& spec,
                    const Shape& param_shape) {
  if (spec.granularity == Granularity::kPerTensor) return 0;
  const int rank = static_cast<int>(shape.size());
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  std::vector<int64_t> coord(shape.size());
  for (int d = rank - 1; d >= 0; --d) {
    coord[static_cast<size_t>(d)] = flat % shape[static_cast<size_t>(d)];
    flat /= shape[static_cast<size_t>(d)];
  }
  if (spec.granularity == Granularity::kPerChannel) return coord[static_cast<size_t>(axis)];
  coord[static_cast<size_t>(axis)] /= spec.block_size;
  int64_t index = 0;
  for (int d = 0; d < rank; ++d)
    index = index * param_shape[static_cast<size_t>(d)] + coord[static_cast<size_t>(d)];
  return index;
}

int64_t quantize_value(float x, float scale, int32_t zero_point, const QuantSpec& spec) {
  const bool wide = spec.bits > 16;
  const double v =
      wide ? static_cast<double>(x) / static_cast<double>(scale) : static_cast<double>(x / scale);
  if (std::isnan(v)) return zero_point;
  const double r = wide ? round(v, spec.round_mode)
                        : static_cast<double>(round(static_cast<float>(v), spec.round_mode));
  const double q = r + zero_point;
  const double lo = static_cast<double>(spec.qmin()), hi = static_cast<double>(spec.qmax());
  return static_cast<int64_t>(std::min(std::max(q, lo), hi));
}

float dequantize_value(int64_t q, float scale, int32_t zero_point) {
  return static_cast<float>(q - zero_point) * scale;
}

std::vector<int64_t> quantize(const Tensor& x, const Encoding& e) {
  const int64_t n = x.numel();
  const float* src = x.data<float>();
  std::vector<int64_t> q(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto p = static_cast<size_t>(param_index(i, x.shape(), e.spec, e.param_shape));
    q[static_cast<size_t>(i)] = quantize_value(src[i], e.scale[p], e.zero_point[p], e.spec);
  }
  return q;
}

std::vector<float> dequantize(const std::vector<int64_t>& q, const Shape& shape,
                              const Encoding& e) {
  std::vector<float> y(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    const auto p =
        static_cast<size_t>(param_index(static_cast<int64_t>(i), shape, e.spec, e.param_shape));
    y[i] = dequantize_value(q[i], e.scale[p], e.zero_point[p]);
  }
  return y;
}

std::vector<float> fake_quantize(const Tensor& x, const Encoding& e) {
  return dequantize(quantize(x, e), x.shape(), e);
}

}  // namespace quench::ref
