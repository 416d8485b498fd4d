#include "runtime/kernels/resize_impl.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/shape_copy.h"

namespace quench {

namespace {

// x_original for output coordinate x (ONNX Resize, coordinate_transformation_mode). The length of
// the resized axis is scale * in, a real number, as in the ONNX reference: it differs from `out`
// when scales are given and in * scale is not an integer.
double original_coord(const ResizeConfig& cfg, const ResizeAxis& a, double x) {
  const double in = static_cast<double>(a.in);
  const double resized = a.scale * in;
  switch (cfg.coord) {
    case CoordMode::kHalfPixel: return (x + 0.5) / a.scale - 0.5;
    case CoordMode::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(a.out) / resized;
      const double offset = in / 2 * (1 - adjustment);
      return offset + (x + 0.5) / a.scale - 0.5;
    }
    case CoordMode::kPytorchHalfPixel: return a.out > 1 ? (x + 0.5) / a.scale - 0.5 : 0.0;
    case CoordMode::kAlignCorners: return a.out == 1 ? 0.0 : x * (in - 1) / (resized - 1);
    case CoordMode::kAsymmetric: return x / a.scale;
    case CoordMode::kTfCropAndResize:
      if (a.out == 1) return 0.5 * (a.roi_start + a.roi_end) * (in - 1);
      return a.roi_start * (in - 1) + x * (a.roi_end - a.roi_start) * (in - 1) / (resized - 1);
    case CoordMode::kTfHalfPixelForNn: return (x + 0.5) / a.scale;
  }
  return x;
}

int64_t nearest_index(NearestMode mode, double x, double scale) {
  switch (mode) {
    case NearestMode::kRoundPreferFloor: return static_cast<int64_t>(std::ceil(x - 0.5));
    case NearestMode::kRoundPreferCeil: return static_cast<int64_t>(std::floor(x + 0.5));
    case NearestMode::kFloor: return static_cast<int64_t>(std::floor(x));
    case NearestMode::kCeil: return static_cast<int64_t>(std::ceil(x));
    case NearestMode::kLegacy:
      return static_cast<int64_t>(scale < 1.0 ? std::ceil(x) : std::floor(x));
  }
  return 0;
}

// Keys' cubic convolution kernel with parameter a, at distance s.
double cubic_kernel(double s, double a) {
  s = std::fabs(s);
  if (s <= 1) return ((a + 2) * s - (a + 3)) * s * s + 1;
  if (s < 2) return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
  return 0.0;
}

}  // namespace

AxisTaps compute_taps(const ResizeConfig& cfg, const ResizeAxis& a) {
  AxisTaps t;
  t.identity = a.in == a.out && a.scale == 1.0 && cfg.coord != CoordMode::kTfCropAndResize &&
               cfg.coord != CoordMode::kTfHalfPixelForNn;
  const bool stretch = cfg.antialias && cfg.mode != ResizeMode::kNearest && a.scale < 1.0;
  int64_t start = 0;  // first tap relative to the base index
  if (cfg.mode == ResizeMode::kNearest) {
    t.taps = 1;
  } else if (!stretch) {
    t.taps = cfg.mode == ResizeMode::kLinear ? 2 : 4;
    start = cfg.mode == ResizeMode::kLinear ? 0 : -1;
  } else if (cfg.mode == ResizeMode::kLinear) {
    start = static_cast<int64_t>(std::floor(-1.0 / a.scale)) + 1;
    t.taps = 2 - 2 * start;
  } else {
    start = static_cast<int64_t>(std::floor(-2.0 / a.scale)) + 1;
    t.taps = 2 - 2 * start;
  }
  const size_t n = static_cast<size_t>(a.out * t.taps);
  t.index.assign(n, 0);
  t.weight.assign(n, 0.0f);
  t.extrapolate.assign(static_cast<size_t>(a.out), 0);
  std::vector<double> w(static_cast<size_t>(t.taps));
  for (int64_t x = 0; x < a.out; ++x) {
    int64_t* idx = &t.index[static_cast<size_t>(x * t.taps)];
    float* wt = &t.weight[static_cast<size_t>(x * t.taps)];
    if (t.identity) {
      idx[0] = x;
      wt[0] = 1.0f;
      continue;
    }
    const double xo = original_coord(cfg, a, static_cast<double>(x));
    if (cfg.coord == CoordMode::kTfCropAndResize && (xo < 0 || xo > static_cast<double>(a.in - 1))) {
      t.extrapolate[static_cast<size_t>(x)] = 1;
      continue;
    }
    if (cfg.mode == ResizeMode::kNearest) {
      idx[0] = std::clamp<int64_t>(nearest_index(cfg.nearest, xo, a.scale), 0, a.in - 1);
      wt[0] = 1.0f;
      continue;
    }
    int64_t base;
    double ratio;
    if (!stretch) {
      base = static_cast<int64_t>(std::floor(xo));
      ratio = xo - static_cast<double>(base);
      if (cfg.mode == ResizeMode::kLinear) {
        w[0] = 1 - ratio;
        w[1] = ratio;
      } else {
        for (int64_t k = 0; k < 4; ++k) w[static_cast<size_t>(k)] = cubic_kernel(ratio - static_cast<double>(k - 1), cfg.cubic_a);
      }
    } else {
      // The ONNX reference takes ratio in (0, 1] above the base index.
      base = static_cast<int64_t>(std::ceil(xo)) - 1;
      ratio = xo - static_cast<double>(base);
      double sum = 0;
      for (int64_t k = 0; k < t.taps; ++k) {
        const double s = (static_cast<double>(start + k) - ratio) * a.scale;
        double v = cfg.mode == ResizeMode::kLinear ? std::clamp(1 - std::fabs(s), 0.0, 1.0)
                                                   : cubic_kernel(s, cfg.cubic_a);
        w[static_cast<size_t>(k)] = v;
        sum += v;
      }
      if (sum != 0)
        for (double& v : w) v /= sum;
    }
    if (cfg.exclude_outside) {
      double sum = 0;
      for (int64_t k = 0; k < t.taps; ++k) {
        int64_t i = base + start + k;
        if (i < 0 || i >= a.in) w[static_cast<size_t>(k)] = 0;
        sum += w[static_cast<size_t>(k)];
      }
      if (sum != 0)
        for (double& v : w) v /= sum;
    }
    for (int64_t k = 0; k < t.taps; ++k) {
      idx[k] = std::clamp<int64_t>(base + start + k, 0, a.in - 1);
      wt[k] = static_cast<float>(w[static_cast<size_t>(k)]);
    }
  }
  return t;
}

namespace {

// Nearest: one gather. Rows are the output positions of the axes before the last resized axis L;
// each row copies blocks of the (unresized) trailing dimensions.
void resize_nearest(const ResizeConfig& cfg, const std::vector<ResizeAxis>& axes,
                    const std::vector<AxisTaps>& taps, const Tensor& x, Tensor& y) {
  const size_t rank = axes.size();
  const size_t es = dtype_size(x.dtype());
  size_t last = rank;
  for (size_t d = 0; d < rank; ++d)
    if (!taps[d].identity) last = d;
  if (last == rank) {
    std::memcpy(y.raw_data(), x.raw_data(), x.nbytes());
    return;
  }
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  const int64_t block = in_strides[last];
  const int64_t nout = axes[last].out;
  int64_t rows = 1;
  for (size_t d = 0; d < last; ++d) rows *= axes[d].out;
  const std::vector<unsigned char> extra = scalar_bytes(x.dtype(), cfg.extrapolation_value);
  const auto* src = static_cast<const unsigned char*>(x.raw_data());
  auto* dst = static_cast<unsigned char*>(y.raw_data());
  const AxisTaps& tl = taps[last];
  const int64_t row_bytes = nout * block * static_cast<int64_t>(es);
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          unsigned char* d = dst + r * row_bytes;
          int64_t rem = r, off = 0;
          bool outside = false;
          for (size_t dd = last; dd-- > 0;) {
            const int64_t c = rem % axes[dd].out;
            rem /= axes[dd].out;
            outside |= taps[dd].extrapolate[static_cast<size_t>(c)] != 0;
            off += taps[dd].index[static_cast<size_t>(c)] * in_strides[dd];
          }
          if (outside) {
            fill_elements(d, extra.data(), es, nout * block);
            continue;
          }
          const unsigned char* s = src + off * static_cast<int64_t>(es);
          visit_elem_size(es, [&](auto tag) {
            using T = decltype(tag);
            T* dt = reinterpret_cast<T*>(d);
            const T* st = reinterpret_cast<const T*>(s);
            for (int64_t o = 0; o < nout; ++o) {
              if (tl.extrapolate[static_cast<size_t>(o)]) {
                fill_elements(dt + o * block, extra.data(), es, block);
              } else if (block == 1) {
                dt[o] = st[tl.index[static_cast<size_t>(o)]];
              } else {
                std::memcpy(dt + o * block, st + tl.index[static_cast<size_t>(o)] * block,
                            static_cast<size_t>(block) * es);
              }
            }
          });
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row_bytes)));
}

// out[o, x] = sum_k w[x][k] * in[o, idx[x][k]] for rows of single elements (the innermost axis).
template <int kTaps>
void pass_scalar_rows(const AxisTaps& t, int64_t in_len, int64_t out_len, int64_t begin, int64_t end,
                      float extra, const float* src, float* dst) {
  const int64_t taps = kTaps > 0 ? kTaps : t.taps;
  int64_t o = begin / out_len, x = begin % out_len;
  for (int64_t task = begin; task < end; ++task) {
    const float* s = src + o * in_len;
    if (t.extrapolate[static_cast<size_t>(x)]) {
      dst[task] = extra;
    } else {
      const int64_t* idx = &t.index[static_cast<size_t>(x * taps)];
      const float* w = &t.weight[static_cast<size_t>(x * taps)];
      float acc = 0;
      for (int64_t k = 0; k < taps; ++k) acc += w[k] * s[idx[k]];
      dst[task] = acc;
    }
    if (++x == out_len) {
      x = 0;
      ++o;
    }
  }
}

// One linear / cubic pass along one axis of a float32 tensor viewed as [outer, in_len, inner].
void resize_pass(const ResizeConfig& cfg, const AxisTaps& t, int64_t in_len, int64_t out_len,
                 int64_t outer, int64_t inner, const float* src, float* dst) {
  const float extra = static_cast<float>(cfg.extrapolation_value);
  const int64_t taps = t.taps;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, inner * taps));
  if (inner == 1) {
    parallel_for(
        outer * out_len,
        [&](int64_t begin, int64_t end) {
          if (taps == 2) pass_scalar_rows<2>(t, in_len, out_len, begin, end, extra, src, dst);
          else if (taps == 4) pass_scalar_rows<4>(t, in_len, out_len, begin, end, extra, src, dst);
          else pass_scalar_rows<0>(t, in_len, out_len, begin, end, extra, src, dst);
        },
        grain);
    return;
  }
  parallel_for(
      outer * out_len,
      [&](int64_t begin, int64_t end) {
        int64_t o = begin / out_len, x = begin % out_len;
        for (int64_t task = begin; task < end; ++task) {
          float* d = dst + task * inner;
          if (t.extrapolate[static_cast<size_t>(x)]) {
            std::fill(d, d + inner, extra);
          } else {
            const int64_t* idx = &t.index[static_cast<size_t>(x * taps)];
            const float* w = &t.weight[static_cast<size_t>(x * taps)];
            const float* s = src + o * in_len * inner;
            const float* s0 = s + idx[0] * inner;
            const float w0 = w[0];
            for (int64_t i = 0; i < inner; ++i) d[i] = w0 * s0[i];
            for (int64_t k = 1; k < taps; ++k) {
              const float* sk = s + idx[k] * inner;
              const float wk = w[k];
              if (wk == 0.0f) continue;
              for (int64_t i = 0; i < inner; ++i) d[i] += wk * sk[i];
            }
          }
          if (++x == out_len) {
            x = 0;
            ++o;
          }
        }
      },
      grain);
}

}  // namespace

Status resize_run(const ResizeConfig& cfg, const std::vector<ResizeAxis>& axes, const Tensor& x,
                  Tensor& y) {
  std::vector<AxisTaps> taps;
  taps.reserve(axes.size());
  for (const ResizeAxis& a : axes) taps.push_back(compute_taps(cfg, a));
  if (y.numel() == 0) return Status();
  if (cfg.mode == ResizeMode::kNearest || x.numel() == 0) {
    if (x.numel() == 0) return Status::invalid("cannot resize the empty tensor " + x.describe() +
                                               " to " + y.describe());
    resize_nearest(cfg, axes, taps, x, y);
    return Status();
  }
  Tensor cur = x;
  if (x.dtype() != DType::kFloat32) {
    cur = Tensor::empty(DType::kFloat32, x.shape());
    QUENCH_RETURN_IF_ERROR(convert_tensor(x, cur));
  }
  // Shrinking axes first keeps the intermediate tensors small; among equal ratios the innermost axis
  // goes first, because its pass (one element per row) is the slowest per element.
  std::vector<size_t> order;
  for (size_t d = axes.size(); d-- > 0;)
    if (!taps[d].identity) order.push_back(d);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return axes[a].out * axes[b].in < axes[b].out * axes[a].in;
  });
  if (order.empty()) {
    return convert_tensor(cur, y);
  }
  Shape shape = x.shape();
  for (size_t p = 0; p < order.size(); ++p) {
    const size_t d = order[p];
    Shape next_shape = shape;
    next_shape[d] = axes[d].out;
    const bool last = p + 1 == order.size();
    Tensor next = last && y.dtype() == DType::kFloat32 ? y : Tensor::empty(DType::kFloat32, next_shape);
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < d; ++i) outer *= shape[i];
    for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
    resize_pass(cfg, taps[d], shape[d], axes[d].out, outer, inner, cur.data<float>(), next.data<float>());
    cur = next;
    shape = next_shape;
  }
  if (!cur.shares_storage(y)) return convert_tensor(cur, y);
  return Status();
}

}  // namespace quench
