// Kernels of the reduce family: Reduce{Sum,Mean,Max,Min,Prod,L1,L2,SumSquare,LogSum,LogSumExp}
// (reduce_core.h does the folding) and ArgMax / ArgMin (reduce_arg.cpp). See runtime/registry.h.
//
// Axes come from the `axes` attribute up to opset 12 (ReduceSum) / 17 (the others) and from the
// optional second input afterwards, where an empty or missing list means every axis unless
// noop_with_empty_axes=1, which reduces nothing (each element passes through the element-wise part
// of the op alone: Sum/Mean/Max/Min/Prod return the input, L1 |x|, SumSquare x^2, ...).
// float16 / bfloat16 reduce in float32.
#include <algorithm>
#include <cmath>

#include "core/dispatch.h"
#include "runtime/kernels/elementwise_broadcast.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/reduce_core.h"
#include "runtime/registry.h"

namespace quench {

std::vector<KernelDef> reduce_arg_rows();  // reduce_arg.cpp

namespace {

// Normalized, sorted axes to reduce; an empty result with `noop` set means "reduce nothing".
Result<std::vector<int64_t>> reduce_axes(const KernelContext& ctx, bool axes_from_input,
                                         bool& noop) {
  const int64_t rank = ctx.input(0).rank();
  std::vector<int64_t> raw;
  bool given = false;
  noop = false;
  if (axes_from_input) {
    if (const Tensor* t = ctx.input_or_null(1)) {
      if (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32) {
        return ctx.invalid("axes (input 1) must be int64 (got " + std::string(dtype_name(t->dtype())) +
                           ")");
      }
      raw = tensor_to_int64s(*t);
      given = !raw.empty();
    }
    if (!given && ctx.node().attr_int("noop_with_empty_axes", 0) != 0) {
      noop = true;
      return std::vector<int64_t>{};
    }
  } else if (const Attribute* a = ctx.node().attr("axes")) {
    raw = a->ints;
    given = !raw.empty();
  }
  std::vector<int64_t> axes;
  if (rank == 0) return axes;  // a scalar: nothing to reduce, whatever axes say ([0] or [-1])
  if (!given) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    return axes;
  }
  for (int64_t a : raw) {
    QUENCH_ASSIGN_OR_RETURN(int64_t n, normalize_axis(ctx, a, rank, "axes value"));
    if (std::find(axes.begin(), axes.end(), n) != axes.end()) {
      return ctx.invalid("axes lists axis " + std::to_string(n) + " twice");
    }
    axes.push_back(n);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

Status reduce_plain(KernelContext& ctx, const Tensor& x, const std::vector<int64_t>& axes,
                    ReduceKind kind, const Shape& out_shape) {
  if (is_half_type(x.dtype())) {
    Tensor xf = to_float32(x);
    Tensor yf = Tensor::empty(DType::kFloat32, out_shape);
    QUENCH_RETURN_IF_ERROR(reduce_tensor(xf, axes, kind, yf));
    return store_from_float32(ctx, yf, x.dtype());
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  Status s = reduce_tensor(x, axes, kind, y);
  return s.ok() ? s : ctx.unsupported(s.message());
}

// log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the maximum, so that exp cannot overflow.
Status reduce_log_sum_exp(KernelContext& ctx, const Tensor& x_in, const std::vector<int64_t>& axes,
                          const Shape& out_shape) {
  const bool half = is_half_type(x_in.dtype());
  const Tensor x = half ? to_float32(x_in) : x_in;
  if (x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat64) {
    return ctx.unsupported("ReduceLogSumExp of element type " + std::string(dtype_name(x.dtype())));
  }
  const Shape keep_shape = reduced_shape(x.shape(), axes, true);
  Tensor m = Tensor::empty(x.dtype(), keep_shape);
  QUENCH_RETURN_IF_ERROR(reduce_tensor(x, axes, ReduceKind::kMax, m));
  Tensor e = Tensor::empty(x.dtype(), x.shape());
  Tensor s = Tensor::empty(x.dtype(), keep_shape);
  Status st = visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      // An infinite maximum would give inf - inf = NaN; subtract 0 there instead.
      broadcast_binary<T, T, T>(x, m, e, [](T v, T mx) {
        return std::exp(v - (std::isinf(mx) ? T(0) : mx));
      });
      QUENCH_RETURN_IF_ERROR(reduce_tensor(e, axes, ReduceKind::kSum, s));
      T* ps = s.data<T>();
      const T* pm = m.data<T>();
      for (int64_t i = 0; i < s.numel(); ++i) {
        ps[i] = std::log(ps[i]) + (std::isinf(pm[i]) ? T(0) : pm[i]);
      }
      return Status();
    } else {
      return Status();
    }
  });
  QUENCH_RETURN_IF_ERROR(st);
  Tensor out = s.reshaped(out_shape);
  if (half) return store_from_float32(ctx, out, x_in.dtype());
  ctx.set_output(0, out);
  return Status();
}

template <ReduceKind kKind, bool kLogSumExp, bool kAxesFromInput>
Status reduce_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  bool noop = false;
  QUENCH_ASSIGN_OR_RETURN(std::vector<int64_t> axes, reduce_axes(ctx, kAxesFromInput, noop));
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  const Shape out_shape = noop ? x.shape() : reduced_shape(x.shape(), axes, keepdims);
  if (noop && !kLogSumExp &&
      (kKind == ReduceKind::kSum || kKind == ReduceKind::kMean || kKind == ReduceKind::kMax ||
       kKind == ReduceKind::kMin || kKind == ReduceKind::kProd)) {
    ctx.set_output(0, x);
    return Status();
  }
  if constexpr (kLogSumExp) {
    if (noop) {
      ctx.set_output(0, x);
      return Status();
    }
    return reduce_log_sum_exp(ctx, x, axes, out_shape);
  } else {
    return reduce_plain(ctx, x, axes, kKind, out_shape);
  }
}

template <ReduceKind kKind, bool kLogSumExp = false>
void add_reduce(std::vector<KernelDef>& rows, const char* op, int input_axes_since,
                std::initializer_list<DType> dtypes) {
  add_rows(rows, op, 1, input_axes_since - 1, dtypes, fn_kernel<reduce_kernel<kKind, kLogSumExp, false>>);
  add_rows(rows, op, input_axes_since, kOpsetMax, dtypes,
           fn_kernel<reduce_kernel<kKind, kLogSumExp, true>>);
}

std::vector<KernelDef> build_table() {
  std::vector<KernelDef> rows;
  const auto floats = {kF32, kF64, kF16, kBF16};
  const auto with_ints = {kF32, kF64, kF16, kBF16, kI32, kI64, kU32, kU64};
  const auto with_bytes = {kF32, kF64, kF16, kBF16, kI32, kI64, kU32, kU64, kI8, kU8};
  add_reduce<ReduceKind::kSum>(rows, "ReduceSum", 13, with_ints);
  add_reduce<ReduceKind::kMean>(rows, "ReduceMean", 18, with_ints);
  add_reduce<ReduceKind::kMax>(rows, "ReduceMax", 18, with_bytes);
  add_reduce<ReduceKind::kMin>(rows, "ReduceMin", 18, with_bytes);
  add_reduce<ReduceKind::kProd>(rows, "ReduceProd", 18, with_ints);
  add_reduce<ReduceKind::kL1>(rows, "ReduceL1", 18, floats);
  add_reduce<ReduceKind::kL2>(rows, "ReduceL2", 18, floats);
  add_reduce<ReduceKind::kSumSquare>(rows, "ReduceSumSquare", 18, floats);
  add_reduce<ReduceKind::kLogSum>(rows, "ReduceLogSum", 18, floats);
  add_reduce<ReduceKind::kSum, true>(rows, "ReduceLogSumExp", 18, floats);
  std::vector<KernelDef> arg = reduce_arg_rows();
  rows.insert(rows.end(), arg.begin(), arg.end());
  return rows;
}

}  // namespace

std::span<const KernelDef> reduce_kernels() {
  static const std::vector<KernelDef> table = build_table();
  return table;
}

}  // namespace quench
