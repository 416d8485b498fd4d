// LpNormalization (x / ||x||_p along one axis, p = 1 or 2) and MeanVarianceNormalization
// ((x - mean) / (std + 1e-9) over `axes`, default [0, 2, 3]), both built from reduce_tensor and a
// broadcasting element-wise pass.
#include <cmath>
#include <type_traits>

#include "runtime/kernels/elementwise_broadcast.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/reduce_core.h"

namespace quench {

namespace {

// Runs body.template operator()<T>(x, out) on x as float32/float64, out with x's shape and type;
// half types go through float32.
template <class Body>
Status run_float_tensor(KernelContext& ctx, Body body) {
  const Tensor& x = ctx.input(0);
  if (is_half_type(x.dtype())) {
    Tensor f = to_float32(x);
    Tensor out = Tensor::empty(DType::kFloat32, f.shape());
    QUENCH_RETURN_IF_ERROR(body(float{}, f, out));
    return store_from_float32(ctx, out, x.dtype());
  }
  if (x.dtype() == DType::kFloat32) return body(float{}, x, ctx.output_like(0, 0));
  if (x.dtype() == DType::kFloat64) return body(double{}, x, ctx.output_like(0, 0));
  return ctx.unsupported("element type " + std::string(dtype_name(x.dtype())));
}

// A zero norm gives 0 rather than 0 / 0 = NaN, as ONNX Runtime does.
Status lp_norm_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", -1),
                                                       std::max<int64_t>(x.rank(), 1)));
  const int64_t p = ctx.node().attr_int("p", 2);
  if (p != 1 && p != 2) return ctx.invalid("attribute p must be 1 or 2 (got " + std::to_string(p) + ")");
  if (x.rank() == 0) return ctx.invalid("input must have rank >= 1");
  return run_float_tensor(ctx, [&](auto tag, const Tensor& in, Tensor& out) -> Status {
    using T = decltype(tag);
    const std::vector<int64_t> axes = {axis};
    Tensor norm = Tensor::empty(in.dtype(), reduced_shape(in.shape(), axes, true));
    QUENCH_RETURN_IF_ERROR(
        reduce_tensor(in, axes, p == 1 ? ReduceKind::kL1 : ReduceKind::kL2, norm));
    broadcast_binary<T, T, T>(in, norm, out, [](T v, T n) { return n == T(0) ? T(0) : v / n; });
    return Status();
  });
}

Status mvn_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> axes;
  for (int64_t a : ctx.node().attr_ints("axes", {0, 2, 3})) {
    QUENCH_ASSIGN_OR_RETURN(int64_t n, normalize_axis(ctx, a, x.rank(), "axes value"));
    if (std::find(axes.begin(), axes.end(), n) != axes.end()) {
      return ctx.invalid("axes lists axis " + std::to_string(n) + " twice");
    }
    axes.push_back(n);
  }
  return run_float_tensor(ctx, [&](auto tag, const Tensor& in, Tensor& out) -> Status {
    using T = decltype(tag);
    const Shape keep = reduced_shape(in.shape(), axes, true);
    Tensor mean = Tensor::empty(in.dtype(), keep);
    QUENCH_RETURN_IF_ERROR(reduce_tensor(in, axes, ReduceKind::kMean, mean));
    // out = x - mean, then var = mean(out^2), then out /= sqrt(var) + 1e-9.
    broadcast_binary<T, T, T>(in, mean, out, [](T v, T m) { return v - m; });
    Tensor var = Tensor::empty(in.dtype(), keep);
    QUENCH_RETURN_IF_ERROR(reduce_tensor(out, axes, ReduceKind::kSumSquare, var));
    const double count = static_cast<double>(in.numel()) / std::max<int64_t>(1, var.numel());
    T* pv = var.data<T>();
    for (int64_t i = 0; i < var.numel(); ++i) {
      pv[i] = static_cast<T>(1.0 / (std::sqrt(pv[i] / count) + 1e-9));
    }
    broadcast_binary<T, T, T>(out, var, out, [](T d, T inv) { return d * inv; });
    return Status();
  });
}

}  // namespace

std::vector<KernelDef> normalization_lp_rows() {
  std::vector<KernelDef> rows;
  const auto floats = {kF32, kF64, kF16, kBF16};
  add_rows(rows, "LpNormalization", 1, kOpsetMax, floats, fn_kernel<lp_norm_kernel>);
  add_rows(rows, "MeanVarianceNormalization", 9, kOpsetMax, floats, fn_kernel<mvn_kernel>);
  return rows;
}

}  // namespace quench
