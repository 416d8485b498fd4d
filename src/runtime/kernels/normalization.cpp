// Kernels of the normalization family: BatchNormalization (inference), LayerNormalization,
// InstanceNormalization, GroupNormalization, and (normalization_lp.cpp) LpNormalization and
// MeanVarianceNormalization. See runtime/registry.h.
//
// Statistics are computed per row in double from float lanes (normalization_stats.h); the
// normalization itself is y = x * a + b with a, b per row or per channel, a loop that vectorizes.
// float16 / bfloat16 compute in float32.
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/normalization_stats.h"
#include "runtime/registry.h"

namespace quench {

std::vector<KernelDef> normalization_lp_rows();  // normalization_lp.cpp

namespace {

// Runs body(x, y) on float32 / float64 data (half types through a float32 copy), y being output 0
// with x's shape and type, in x's buffer when x dies here.
template <class Body>
Status run_float(KernelContext& ctx, Body body) {
  const Tensor& x = ctx.input(0);
  if (is_half_type(x.dtype())) {
    Tensor f = to_float32(x);
    QUENCH_RETURN_IF_ERROR(body(f.data<float>(), f.data<float>()));
    return store_from_float32(ctx, f, x.dtype());
  }
  if (x.dtype() == DType::kFloat32) {
    Tensor& y = ctx.output_like(0, 0);
    return body(x.data<float>(), y.data<float>());
  }
  if (x.dtype() == DType::kFloat64) {
    Tensor& y = ctx.output_like(0, 0);
    return body(x.data<double>(), y.data<double>());
  }
  return ctx.unsupported("element type " + std::string(dtype_name(x.dtype())));
}

// y[r, i] = x[r, i] * a[r % period] + b[r % period] for rows of length s.
template <class T>
void scale_shift_rows(const T* x, T* y, int64_t rows, int64_t s, const std::vector<double>& a,
                      const std::vector<double>& b) {
  const int64_t period = static_cast<int64_t>(a.size());
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T av = static_cast<T>(a[r % period]), bv = static_cast<T>(b[r % period]);
          const T* xr = x + r * s;
          T* yr = y + r * s;
          for (int64_t i = 0; i < s; ++i) yr[i] = xr[i] * av + bv;
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(s, 1)));
}

// BatchNormalization, inference: y = (x - mean) / sqrt(var + eps) * scale + B per channel (dim 1).
// Opsets 1-8 also have spatial=0, where the parameters have shape [C, D1, ...] (per feature);
// their is_test attribute (1-6) is ignored: this is an inference runtime.
template <int kSince>
Status batchnorm_kernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  if (kSince >= 14 && node.attr_int("training_mode", 0) != 0) {
    return ctx.unsupported("training_mode=1 (only inference is supported)");
  }
  for (size_t i = 1; i < ctx.num_outputs(); ++i) {
    if (ctx.output_wanted(i)) {
      return ctx.unsupported("output " + std::to_string(i) +
                             " (running / saved statistics exist only in training)");
    }
  }
  for (size_t i = 1; i <= 4; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
  }
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.invalid("X must have rank >= 2 ([N, C, ...]); got shape " + shape_to_string(x.shape()));
  }
  const int64_t n = x.dim(0), c = x.dim(1), s = x.numel() / std::max<int64_t>(n * c, 1);
  const bool spatial = kSince >= 9 || node.attr_int("spatial", 1) != 0;
  const int64_t params = spatial ? c : c * s;
  static const char* const kNames[] = {"", "scale", "B", "mean", "var"};
  std::vector<double> p[5];
  for (size_t i = 1; i <= 4; ++i) {
    const Tensor& t = ctx.input(i);
    if (t.numel() != params) {
      return ctx.invalid(std::string(kNames[i]) + " has shape " + shape_to_string(t.shape()) +
                         " but X " + shape_to_string(x.shape()) + " needs " +
                         std::to_string(params) + " values" + (spatial ? " (one per channel)" : ""));
    }
    p[i] = t.to_double_vector();
  }
  const double eps = node.attr_float("epsilon", 1e-5f);
  std::vector<double> a(static_cast<size_t>(params)), b(static_cast<size_t>(params));
  for (size_t k = 0; k < a.size(); ++k) {
    a[k] = p[1][k] / std::sqrt(p[4][k] + eps);
    b[k] = p[2][k] - p[3][k] * a[k];
  }
  // Per-feature parameters: rows of one element each.
  const int64_t row = spatial ? s : 1;
  return run_float(ctx, [&](const auto* px, auto* py) {
    scale_shift_rows(px, py, x.numel() / std::max<int64_t>(row, 1), row, a, b);
    return Status();
  });
}

// Broadcasts a parameter (Scale or B) to `count` values of the normalized block of shape `shape`.
Result<std::vector<double>> expand_param(const KernelContext& ctx, const Tensor& t, const Shape& shape,
                                         const char* name) {
  const int64_t count = shape_numel(shape);
  std::vector<double> v = t.to_double_vector();
  if (static_cast<int64_t>(v.size()) == count) return v;
  Result<Shape> b = broadcast_shapes(ctx, {&t.shape(), &shape});
  if (!b.ok() || *b != shape) {
    return ctx.invalid(std::string(name) + " has shape " + shape_to_string(t.shape()) +
                       ", which does not broadcast to the normalized shape " + shape_to_string(shape));
  }
  std::vector<int64_t> strides = broadcast_strides(t.shape(), shape);
  std::vector<double> out(static_cast<size_t>(count));
  std::vector<int64_t> coord(shape.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < shape.size(); ++d) off += coord[d] * strides[d];
    out[static_cast<size_t>(i)] = v[static_cast<size_t>(off)];
    for (size_t d = shape.size(); d-- > 0;) {
      if (++coord[d] < shape[d]) break;
      coord[d] = 0;
    }
  }
  return out;
}

// LayerNormalization (opset 17): normalizes over dimensions [axis, rank), then * Scale + B.
// Optional outputs Mean and InvStdDev have shape X.shape[:axis] + [1] * (rank - axis).
Status layernorm_kernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  const int64_t raw_axis = node.attr_int("axis", -1);
  if (raw_axis < -rank || raw_axis >= std::max<int64_t>(rank, 1)) {
    return ctx.invalid("axis " + std::to_string(raw_axis) + " is out of range for rank " +
                       std::to_string(rank));
  }
  const int64_t axis = raw_axis < 0 ? raw_axis + rank : raw_axis;
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const int64_t d = shape_numel(norm_shape);
  const int64_t rows = d ? x.numel() / d : 0;
  if (!ctx.has_input(1)) return ctx.invalid("input 1 (Scale) is missing");
  QUENCH_ASSIGN_OR_RETURN(std::vector<double> scale, expand_param(ctx, ctx.input(1), norm_shape, "Scale"));
  std::vector<double> bias(static_cast<size_t>(d), 0.0);
  if (ctx.has_input(2)) {
    QUENCH_ASSIGN_OR_RETURN(bias, expand_param(ctx, ctx.input(2), norm_shape, "B"));
  }
  const double eps = node.attr_float("epsilon", 1e-5f);
  std::vector<double> means(static_cast<size_t>(rows)), inv_stds(static_cast<size_t>(rows));
  Status s = run_float(ctx, [&](const auto* px, auto* py) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(px)>>;
    std::vector<T> sc(scale.begin(), scale.end()), bs(bias.begin(), bias.end());
    parallel_for(
        rows,
        [&](int64_t begin, int64_t end) {
          for (int64_t r = begin; r < end; ++r) {
            const T* xr = px + r * d;
            T* yr = py + r * d;
            RowMoments m = row_moments(xr, d);
            const double inv = 1.0 / std::sqrt(m.var + eps);
            means[r] = m.mean;
            inv_stds[r] = inv;
            const T mean = static_cast<T>(m.mean), inv_t = static_cast<T>(inv);
            for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - mean) * inv_t * sc[i] + bs[i];
          }
        },
        std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)));
    return Status();
  });
  QUENCH_RETURN_IF_ERROR(s);
  Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(static_cast<size_t>(rank), 1);
  const int64_t stash = node.attr_int("stash_type", 1);
  const DType stat_type = stash == 11 ? DType::kFloat64 : DType::kFloat32;
  for (size_t o = 1; o <= 2 && o < ctx.num_outputs(); ++o) {
    if (!ctx.output_wanted(o)) continue;
    const std::vector<double>& src = o == 1 ? means : inv_stds;
    Tensor dv = Tensor::from_vector<double>(stat_shape, src);
    Tensor& out = ctx.allocate_output(o, stat_type, stat_shape);
    QUENCH_RETURN_IF_ERROR(convert_tensor(dv, out));
  }
  return Status();
}

// Normalizes each row of `rows` x `d` and applies per-channel scale / bias; channel of row r,
// element i is (r % groups_per_sample) * channels_per_row + i / s, with s elements per channel.
template <class T>
void group_norm_rows(const T* x, T* y, int64_t rows, int64_t d, int64_t s, int64_t row_channels,
                     int64_t groups, const std::vector<double>& scale, const std::vector<double>& bias,
                     double eps) {
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T* xr = x + r * d;
          T* yr = y + r * d;
          RowMoments m = row_moments(xr, d);
          const double inv = 1.0 / std::sqrt(m.var + eps);
          const int64_t c0 = (r % groups) * row_channels;
          for (int64_t c = 0; c < row_channels; ++c) {
            const T a = static_cast<T>(inv * scale[c0 + c]);
            const T b = static_cast<T>(bias[c0 + c] - m.mean * inv * scale[c0 + c]);
            const T* xc = xr + c * s;
            T* yc = yr + c * s;
            for (int64_t i = 0; i < s; ++i) yc[i] = xc[i] * a + b;
          }
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)));
}

// InstanceNormalization: per (n, c) over the spatial dimensions; scale and B have C values.
// GroupNormalization: per (n, group) over C / G channels and the spatial dimensions; scale and bias
// have G values (opset 18, one per group) or C values (opset 21, one per channel).
template <bool kGroup, int kSince>
Status group_norm_kernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.invalid("input must have rank >= 2 ([N, C, ...]); got shape " + shape_to_string(x.shape()));
  }
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
  }
  const int64_t n = x.dim(0), c = x.dim(1), s = c ? x.numel() / std::max<int64_t>(n * c, 1) : 0;
  int64_t groups = c;
  if constexpr (kGroup) {
    groups = node.attr_int("num_groups", 0);
    if (groups <= 0 || c % groups != 0) {
      return ctx.invalid("num_groups=" + std::to_string(groups) + " must be positive and divide C=" +
                         std::to_string(c));
    }
  }
  std::vector<double> scale = ctx.input(1).to_double_vector(), bias = ctx.input(2).to_double_vector();
  const int64_t per_group_params = kGroup && kSince < 21 ? groups : c;
  static const char* const kNames[] = {"", "scale", "bias"};
  for (size_t i = 1; i <= 2; ++i) {
    if (ctx.input(i).numel() != per_group_params) {
      return ctx.invalid(std::string(kNames[i]) + " has shape " + shape_to_string(ctx.input(i).shape()) +
                         " but needs " + std::to_string(per_group_params) + " values (" +
                         (per_group_params == c ? "one per channel" : "one per group") + ")");
    }
  }
  if (per_group_params != c) {  // expand per-group values to channels
    std::vector<double> sc, bs;
    for (int64_t ch = 0; ch < c; ++ch) {
      sc.push_back(scale[ch / (c / groups)]);
      bs.push_back(bias[ch / (c / groups)]);
    }
    scale.swap(sc);
    bias.swap(bs);
  }
  const double eps = node.attr_float("epsilon", 1e-5f);
  const int64_t row_channels = c / groups;
  return run_float(ctx, [&](const auto* px, auto* py) {
    group_norm_rows(px, py, n * groups, row_channels * s, s, row_channels, groups, scale, bias, eps);
    return Status();
  });
}

std::vector<KernelDef> build_table() {
  std::vector<KernelDef> rows;
  const auto floats = {kF32, kF64, kF16, kBF16};
  add_rows(rows, "BatchNormalization", 1, 8, floats, fn_kernel<batchnorm_kernel<7>>);
  add_rows(rows, "BatchNormalization", 9, 13, floats, fn_kernel<batchnorm_kernel<9>>);
  add_rows(rows, "BatchNormalization", 14, kOpsetMax, floats, fn_kernel<batchnorm_kernel<14>>);
  add_rows(rows, "LayerNormalization", 17, kOpsetMax, floats, fn_kernel<layernorm_kernel>);
  add_rows(rows, "InstanceNormalization", 1, kOpsetMax, floats,
           fn_kernel<group_norm_kernel<false, 6>>);
  add_rows(rows, "GroupNormalization", 18, 20, floats, fn_kernel<group_norm_kernel<true, 18>>);
  add_rows(rows, "GroupNormalization", 21, kOpsetMax, floats,
           fn_kernel<group_norm_kernel<true, 21>>);
  std::vector<KernelDef> lp = normalization_lp_rows();
  rows.insert(rows.end(), lp.begin(), lp.end());
  return rows;
}

}  // namespace

std::span<const KernelDef> normalization_kernels() {
  static const std::vector<KernelDef> table = build_table();
  return table;
}

}  // namespace quench
