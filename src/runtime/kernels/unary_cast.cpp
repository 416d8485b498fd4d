// Cast, CastLike, Identity, Dropout (inference), IsNaN, IsInf.
//
// Cast goes through core convert_tensor: float -> integer truncates toward zero (out-of-range values
// saturate and NaN becomes 0, where ONNX leaves the result undefined), float -> float16 / bfloat16
// rounds to nearest even, anything -> bool is x != 0. Strings, complex, float8 and 4-bit types are
// unsupported.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/dispatch.h"
#include "runtime/kernels/unary_ops.h"

namespace quench {

namespace {

bool castable(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kFloat64: case DType::kFloat16: case DType::kBFloat16:
    case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
    case DType::kInt32: case DType::kUInt32: case DType::kInt64: case DType::kUInt64:
    case DType::kBool:
      return true;
    default:
      return false;
  }
}

Status cast_to(KernelContext& ctx, DType to) {
  const Tensor& x = ctx.input(0);
  if (!castable(x.dtype())) {
    return ctx.unsupported("casting from " + std::string(dtype_name(x.dtype())));
  }
  if (!castable(to)) return ctx.unsupported("casting to " + std::string(dtype_name(to)));
  if (to == x.dtype()) {
    ctx.set_output(0, x);
    return Status();
  }
  Tensor& y = ctx.allocate_output(0, to, x.shape());
  return convert_tensor(x, y);
}

Status cast_kernel(KernelContext& ctx) {
  const Attribute* to = ctx.node().attr("to");
  if (!to) return ctx.invalid("attribute 'to' is missing");
  if (!dtype_is_known(static_cast<int32_t>(to->i)) || to->i == 0) {
    return ctx.invalid("attribute to=" + std::to_string(to->i) + " is not an ONNX element type");
  }
  return cast_to(ctx, static_cast<DType>(to->i));
}

Status castlike_kernel(KernelContext& ctx) { return cast_to(ctx, ctx.input(1).dtype()); }

Status identity_kernel(KernelContext& ctx) {
  ctx.set_output(0, ctx.input(0));
  return Status();
}

// Dropout at inference is the identity; the optional mask is all ones (type T before opset 10,
// bool after). training_mode (opset 12+) = true is training and is not supported.
template <bool kBoolMask>
Status dropout_kernel(KernelContext& ctx) {
  if (const Tensor* mode = ctx.input_or_null(2)) {
    if (mode->numel() != 1) {
      return ctx.invalid("training_mode must be a scalar (got shape " +
                         shape_to_string(mode->shape()) + ")");
    }
    if (mode->to_double_vector()[0] != 0.0) {
      return ctx.unsupported("training_mode=true (only inference is supported)");
    }
  }
  const Tensor& x = ctx.input(0);
  ctx.set_output(0, x);
  if (ctx.num_outputs() > 1 && ctx.output_wanted(1)) {
    if constexpr (kBoolMask) {
      Tensor& mask = ctx.allocate_output(1, DType::kBool, x.shape());
      std::fill_n(mask.data<uint8_t>(), mask.numel(), uint8_t{1});
    } else {
      Tensor& mask = ctx.allocate_output(1, x.dtype(), x.shape());
      return visit_numeric_or_half(x.dtype(), [&](auto tag) -> Status {
        using T = decltype(tag);
        std::fill_n(static_cast<T*>(mask.raw_data()), mask.numel(), T(1.0f));
        return Status();
      });
    }
  }
  return Status();
}

template <class Pred>
Status float_predicate(KernelContext& ctx, Pred pred) {
  const Tensor& x = ctx.input(0);
  Tensor f = is_half_type(x.dtype()) ? to_float32(x) : x;
  Tensor& y = ctx.allocate_output(0, DType::kBool, x.shape());
  if (f.dtype() == DType::kFloat32) {
    map_elements(f.data<float>(), y.data<uint8_t>(), f.numel(), [&](float v) -> uint8_t { return pred(v); });
    return Status();
  }
  if (f.dtype() == DType::kFloat64) {
    map_elements(f.data<double>(), y.data<uint8_t>(), f.numel(), [&](double v) -> uint8_t { return pred(v); });
    return Status();
  }
  return ctx.unsupported("element type " + std::string(dtype_name(x.dtype())));
}

Status isnan_kernel(KernelContext& ctx) {
  return float_predicate(ctx, [](auto v) { return v != v; });
}

Status isinf_kernel(KernelContext& ctx) {
  const bool neg = ctx.node().attr_int("detect_negative", 1) != 0;
  const bool pos = ctx.node().attr_int("detect_positive", 1) != 0;
  return float_predicate(ctx, [neg, pos](auto v) {
    using T = decltype(v);
    const T inf = std::numeric_limits<T>::infinity();
    return (pos && v == inf) || (neg && v == -inf);
  });
}

}  // namespace

std::vector<KernelDef> unary_cast_rows() {
  std::vector<KernelDef> rows;
  const auto floats = {kF32, kF64, kF16, kBF16};
  add_rows(rows, "Cast", 6, kOpsetMax, {DType::kUndefined}, fn_kernel<cast_kernel>);
  add_rows(rows, "CastLike", 15, kOpsetMax, {DType::kUndefined}, fn_kernel<castlike_kernel>);
  add_rows(rows, "Identity", 1, kOpsetMax, {DType::kUndefined}, fn_kernel<identity_kernel>);
  add_rows(rows, "Dropout", 1, 9, {DType::kUndefined}, fn_kernel<dropout_kernel<false>>);
  add_rows(rows, "Dropout", 10, kOpsetMax, {DType::kUndefined}, fn_kernel<dropout_kernel<true>>);
  add_rows(rows, "IsNaN", 9, kOpsetMax, floats, fn_kernel<isnan_kernel>);
  add_rows(rows, "IsInf", 10, kOpsetMax, floats, fn_kernel<isinf_kernel>);
  return rows;
}

}  // namespace quench
