// Kernels of the elementwise family: broadcasting arithmetic (Add Sub Mul Div Pow Mod), the
// variadic Min Max Sum Mean, and (from elementwise_logic.cpp) comparisons, logic and Where.
// See runtime/registry.h. Opsets before 7 (attribute-controlled broadcasting) are covered too.
//
// Integer arithmetic wraps around (computed in unsigned types: signed overflow is undefined in C++)
// and integer Div truncates toward zero, as C and ONNX Runtime do; division or Mod by zero is an
// invalid-input error instead of a crash. float16 / bfloat16 are computed in float32.
#include <cmath>
#include <type_traits>

#include "core/dispatch.h"
#include "runtime/kernels/elementwise_broadcast.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/registry.h"

namespace quench {

namespace {

// Unsigned type wide enough that arithmetic on it neither promotes to int nor overflows UB-wise.
template <class T>
using Wide = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class T>
constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;

struct AddOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (kIsInt<T>) return static_cast<T>(Wide<T>(a) + Wide<T>(b));
    else return a + b;
  }
};
struct SubOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (kIsInt<T>) return static_cast<T>(Wide<T>(a) - Wide<T>(b));
    else return a - b;
  }
};
struct MulOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (kIsInt<T>) return static_cast<T>(Wide<T>(a) * Wide<T>(b));
    else return a * b;
  }
};
struct DivOp {  // integer divisors are checked for zero before the loop
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (kIsInt<T> && std::is_signed_v<T>) {
      // INT_MIN / -1 traps on x86; the wrapped result is INT_MIN.
      return b == T(-1) ? static_cast<T>(Wide<T>(0) - Wide<T>(a)) : static_cast<T>(a / b);
    } else {
      return static_cast<T>(a / b);
    }
  }
};
// Python-style integer modulo: the result takes the divisor's sign.
struct ModOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      T r = std::fmod(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    } else if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return 0;
      T r = static_cast<T>(a % b);
      return (r != 0 && ((r < 0) != (b < 0))) ? static_cast<T>(r + b) : r;
    } else {
      return static_cast<T>(a % b);
    }
  }
};
// C fmod: the result takes the dividend's sign.
struct FmodOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(a, b);
    } else if constexpr (std::is_signed_v<T>) {
      return b == T(-1) ? T(0) : static_cast<T>(a % b);
    } else {
      return static_cast<T>(a % b);
    }
  }
};
// NaN propagates, as in numpy.maximum / numpy.minimum.
struct MaxOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) return (a > b || a != a) ? a : b;
    else return a > b ? a : b;
  }
};
struct MinOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) return (a < b || a != a) ? a : b;
    else return a < b ? a : b;
  }
};

// Typed computation out = Op(a, b) for the plain numeric types (float16 is converted before).
template <class Op>
Status arith_typed(const KernelContext& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  return visit_numeric(a.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.unsupported("element type bool");
    } else {
      if constexpr (kIsInt<T> && (std::is_same_v<Op, DivOp> || std::is_same_v<Op, ModOp> ||
                                  std::is_same_v<Op, FmodOp>)) {
        const T* pb = b.data<T>();
        for (int64_t i = 0; i < b.numel(); ++i) {
          if (pb[i] == 0) {
            return ctx.invalid("integer division by zero (input 1, element " + std::to_string(i) +
                               ")");
          }
        }
      }
      broadcast_binary<T, T, T>(a, b, out, Op{});
      return Status();
    }
  });
}

// Two-input op: broadcast, then compute in place when an input dies here. kLegacy: opset < 7
// broadcasting (attributes broadcast / axis).
template <class Op, bool kLegacy = false>
Status binary_kernel(KernelContext& ctx) {
  QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  const Tensor& a = ctx.input(0);
  Tensor b = ctx.input(1);
  if constexpr (kLegacy) {
    QUENCH_ASSIGN_OR_RETURN(b, legacy_operand_b(ctx));
  }
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&a.shape(), &b.shape()}));
  if (is_half_type(a.dtype())) {
    Tensor out = Tensor::empty(DType::kFloat32, shape);
    QUENCH_RETURN_IF_ERROR(arith_typed<Op>(ctx, to_float32(a), to_float32(b), out));
    return store_from_float32(ctx, out, a.dtype());
  }
  Tensor& out = broadcast_output(ctx, shape, a.dtype(), {0, 1});
  return arith_typed<Op>(ctx, a, b, out);
}

Status mod_kernel(KernelContext& ctx) {
  const bool fmod = ctx.node().attr_int("fmod", 0) != 0;
  const DType t = ctx.input(0).dtype();
  if (dtype_is_float(t)) {
    if (!fmod) {
      return ctx.invalid("Mod on " + std::string(dtype_name(t)) +
                         " needs attribute fmod=1 (got fmod=0)");
    }
    return binary_kernel<FmodOp>(ctx);
  }
  return fmod ? binary_kernel<FmodOp>(ctx) : binary_kernel<ModOp>(ctx);
}

// Min, Max, Sum, Mean over one or more inputs, all broadcast together.
template <class Op, bool kMean>
Status variadic_kernel(KernelContext& ctx) {
  const size_t n = ctx.num_inputs();
  if (n == 0) return ctx.invalid("needs at least one input");
  std::vector<const Shape*> shapes;
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
    QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
    shapes.push_back(&ctx.input(i).shape());
  }
  if (n == 1) {
    ctx.set_output(0, ctx.input(0));
    return Status();
  }
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, shapes));
  const DType dtype = ctx.input(0).dtype();
  const bool half = is_half_type(dtype);
  Tensor half_out;
  if (half) half_out = Tensor::empty(DType::kFloat32, shape);
  // Only inputs 0 and 1 may donate their buffer: the first step reads exactly those two.
  Tensor& out = half ? half_out : broadcast_output(ctx, shape, dtype, {0, 1});
  auto in = [&](size_t i) { return half ? to_float32(ctx.input(i)) : ctx.input(i); };
  QUENCH_RETURN_IF_ERROR(arith_typed<Op>(ctx, in(0), in(1), out));
  for (size_t i = 2; i < n; ++i) {
    Tensor acc = out;  // same buffer; arith_typed reads and writes one element at a time
    QUENCH_RETURN_IF_ERROR(arith_typed<Op>(ctx, acc, in(i), out));
  }
  if constexpr (kMean) {
    Status s = visit_numeric(out.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (std::is_floating_point_v<T>) {
        const T scale = T(1) / static_cast<T>(n);
        T* p = out.data<T>();
        for (int64_t i = 0; i < out.numel(); ++i) p[i] *= scale;
        return Status();
      } else {
        return ctx.unsupported("Mean of element type " + std::string(dtype_name(out.dtype())));
      }
    });
    QUENCH_RETURN_IF_ERROR(s);
  }
  if (half) return store_from_float32(ctx, half_out, dtype);
  return Status();
}

// Pow: the exponent may have another element type than the base; the result has the base's.
template <class T>
T int_pow(T base, int64_t e) {
  if (e < 0) {  // |base| > 1 gives a fraction, truncated to 0
    if (base == 1) return 1;
    if constexpr (std::is_signed_v<T>) {
      if (base == -1) return (e % 2) ? T(-1) : T(1);
    }
    return 0;
  }
  Wide<T> r = 1, x = static_cast<Wide<T>>(base);
  while (e) {
    if (e & 1) r *= x;
    x *= x;
    e >>= 1;
  }
  return static_cast<T>(r);
}

template <class T, class U>
void pow_typed(const Tensor& a, const Tensor& b, Tensor& out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b.numel() == 1 && out.shape() == a.shape()) {
      // Common exponents without the pow() call.
      const double e = static_cast<double>(b.data<U>()[0]);
      const T* pa = a.data<T>();
      T* po = out.data<T>();
      auto map = [&](auto f) {
        parallel_for(
            a.numel(),
            [&](int64_t begin, int64_t end) {
              for (int64_t i = begin; i < end; ++i) po[i] = f(pa[i]);
            },
            kElementwiseGrain);
      };
      if (e == 2.0) return map([](T x) { return x * x; });
      if (e == 1.0) return map([](T x) { return x; });
      if (e == 3.0) return map([](T x) { return x * x * x; });
      if (e == 0.5) return map([](T x) { return std::sqrt(x); });
    }
    broadcast_binary<T, U, T>(a, b, out, [](T x, U y) { return std::pow(x, static_cast<T>(y)); });
  } else if constexpr (std::is_integral_v<U>) {
    broadcast_binary<T, U, T>(a, b, out,
                              [](T x, U y) { return int_pow<T>(x, static_cast<int64_t>(y)); });
  } else {
    broadcast_binary<T, U, T>(a, b, out, [](T x, U y) {
      return static_cast<T>(std::pow(static_cast<double>(x), static_cast<double>(y)));
    });
  }
}

template <bool kLegacy>
Status pow_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  Tensor b = ctx.input(1);
  if constexpr (kLegacy) {
    QUENCH_ASSIGN_OR_RETURN(b, legacy_operand_b(ctx));
  }
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&a.shape(), &b.shape()}));
  const bool half = is_half_type(a.dtype());
  Tensor base = half ? to_float32(a) : a;
  Tensor exponent = is_half_type(b.dtype()) ? to_float32(b) : b;
  Tensor half_out = half ? Tensor::empty(DType::kFloat32, shape) : Tensor();
  Tensor& out = half ? half_out : broadcast_output(ctx, shape, a.dtype(), {0});
  Status s = visit_numeric(base.dtype(), [&](auto btag) -> Status {
    using T = decltype(btag);
    return visit_numeric(exponent.dtype(), [&](auto etag) -> Status {
      using U = decltype(etag);
      if constexpr (std::is_same_v<T, bool> || std::is_same_v<U, bool>) {
        return ctx.unsupported("Pow on bool");
      } else {
        pow_typed<T, U>(base, exponent, out);
        return Status();
      }
    });
  });
  QUENCH_RETURN_IF_ERROR(s);
  if (half) return store_from_float32(ctx, half_out, a.dtype());
  return Status();
}

std::vector<KernelDef> build_table() {
  std::vector<KernelDef> rows;
  const auto numeric = {kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64};
  add_rows(rows, "Add", 1, 6, numeric, fn_kernel<binary_kernel<AddOp, true>>, 0, kElementwise);
  add_rows(rows, "Add", 7, kOpsetMax, numeric, fn_kernel<binary_kernel<AddOp>>, 0, kElementwise);
  add_rows(rows, "Sub", 1, 6, numeric, fn_kernel<binary_kernel<SubOp, true>>, 0, kElementwise);
  add_rows(rows, "Sub", 7, kOpsetMax, numeric, fn_kernel<binary_kernel<SubOp>>, 0, kElementwise);
  add_rows(rows, "Mul", 1, 6, numeric, fn_kernel<binary_kernel<MulOp, true>>, 0, kElementwise);
  add_rows(rows, "Mul", 7, kOpsetMax, numeric, fn_kernel<binary_kernel<MulOp>>, 0, kElementwise);
  add_rows(rows, "Div", 1, 6, numeric, fn_kernel<binary_kernel<DivOp, true>>);
  add_rows(rows, "Div", 7, kOpsetMax, numeric, fn_kernel<binary_kernel<DivOp>>);
  add_rows(rows, "Mod", 10, kOpsetMax, numeric, fn_kernel<mod_kernel>);
  const auto pow_types = {kF32, kF64, kF16, kBF16, kI32, kI64};
  add_rows(rows, "Pow", 1, 6, pow_types, fn_kernel<pow_kernel<true>>);
  add_rows(rows, "Pow", 7, kOpsetMax, pow_types, fn_kernel<pow_kernel<false>>);
  // Before opset 8 the variadic ops required equal shapes; broadcasting them is a superset.
  add_rows(rows, "Max", 1, kOpsetMax, numeric, fn_kernel<variadic_kernel<MaxOp, false>>);
  add_rows(rows, "Min", 1, kOpsetMax, numeric, fn_kernel<variadic_kernel<MinOp, false>>);
  add_rows(rows, "Sum", 1, kOpsetMax, numeric, fn_kernel<variadic_kernel<AddOp, false>>);
  add_rows(rows, "Mean", 1, kOpsetMax, {kF32, kF64, kF16, kBF16},
           fn_kernel<variadic_kernel<AddOp, true>>);
  std::vector<KernelDef> logic = elementwise_logic_rows();
  rows.insert(rows.end(), logic.begin(), logic.end());
  return rows;
}

}  // namespace

std::span<const KernelDef> elementwise_kernels() {
  static const std::vector<KernelDef> table = build_table();
  return table;
}

}  // namespace quench
