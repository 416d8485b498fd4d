// Kernels of the unary family: element-wise math (this file), activations with attributes
// (unary_activation.cpp) and Cast / CastLike / Identity / Dropout / IsNaN / IsInf (unary_cast.cpp).
// See runtime/registry.h.
//
// float32 Exp, Sigmoid, Tanh, Erf, Floor, Ceil and Round use the branch-free versions in
// unary_math.h so that their loops vectorize; the other functions call libm per element. float64
// always uses libm; float16 / bfloat16 compute in float32.
#include <cmath>
#include <type_traits>

#include "runtime/kernels/unary_math.h"
#include "runtime/kernels/unary_ops.h"
#include "runtime/registry.h"

namespace quench {

namespace {

template <class T>
constexpr bool kIsF32 = std::is_same_v<T, float>;

struct NoAttrs {
  explicit NoAttrs(const Node&) {}
};

struct Exp : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return exp_approx(x);
    else return std::exp(x);
  }
};
struct Sigmoid : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return sigmoid_approx(x);
    else return T(1) / (T(1) + std::exp(-x));
  }
};
struct Tanh : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return tanh_approx(x);
    else return std::tanh(x);
  }
};
struct Erf : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return erf_approx(x);
    else return std::erf(x);
  }
};
struct Floor : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return floor_approx(x);
    else return std::floor(x);
  }
};
struct Ceil : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return ceil_approx(x);
    else return std::ceil(x);
  }
};
// Round half to even.
struct Round : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) return round_even_approx(x);
    else return std::nearbyint(x);
  }
};
struct Reciprocal : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const { return T(1) / x; }
};

// Functions that call libm for every element.
#define QUENCH_LIBM_FUNCTOR(Name, fn)      \
  struct Name : NoAttrs {                  \
    using NoAttrs::NoAttrs;                \
    template <class T>                     \
    T operator()(T x) const { return fn(x); } \
  };
QUENCH_LIBM_FUNCTOR(Sqrt, std::sqrt)
QUENCH_LIBM_FUNCTOR(Log, std::log)
QUENCH_LIBM_FUNCTOR(Sin, std::sin)
QUENCH_LIBM_FUNCTOR(Cos, std::cos)
QUENCH_LIBM_FUNCTOR(Tan, std::tan)
QUENCH_LIBM_FUNCTOR(Asin, std::asin)
QUENCH_LIBM_FUNCTOR(Acos, std::acos)
QUENCH_LIBM_FUNCTOR(Atan, std::atan)
QUENCH_LIBM_FUNCTOR(Sinh, std::sinh)
QUENCH_LIBM_FUNCTOR(Cosh, std::cosh)
QUENCH_LIBM_FUNCTOR(Asinh, std::asinh)
QUENCH_LIBM_FUNCTOR(Acosh, std::acosh)
QUENCH_LIBM_FUNCTOR(Atanh, std::atanh)
#undef QUENCH_LIBM_FUNCTOR

// Ops that also take integers.
struct Abs : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) return std::fabs(x);
    else if constexpr (std::is_unsigned_v<T>) return x;
    // Negated in the unsigned type: -INT_MIN overflows (the result wraps to INT_MIN, as in numpy).
    else return x < 0 ? static_cast<T>(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x)) : x;
  }
};
struct Neg : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) return -x;
    else return static_cast<T>(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x));
  }
};
struct Sign : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      // NaN stays NaN (x * 0 + NaN); the sign of zero is kept.
      return select(x > T(0), T(1), select(x < T(0), T(-1), x));
    } else {
      return static_cast<T>((x > T(0)) - (x < T(0)));
    }
  }
};
// NaN stays NaN (only x < 0 becomes 0).
struct Relu : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T>
  T operator()(T x) const { return select(x < T(0), T(0), x); }
};

std::vector<KernelDef> build_table() {
  std::vector<KernelDef> rows;
  // Opset 1 versions differ from opset 6 only by the ignored legacy attribute consumed_inputs.
  const auto floats = {kF32, kF64, kF16, kBF16};
  const auto signed_numeric = {kF32, kF64, kF16, kBF16, kI8, kI16, kI32, kI64};
  const auto numeric = {kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64};
  add_rows(rows, "Exp", 1, kOpsetMax, floats, fn_kernel<float_unary<Exp>>);
  add_rows(rows, "Sigmoid", 1, kOpsetMax, floats, fn_kernel<float_unary<Sigmoid>>, 0, kElementwise);
  add_rows(rows, "Tanh", 1, kOpsetMax, floats, fn_kernel<float_unary<Tanh>>, 0, kElementwise);
  add_rows(rows, "Erf", 9, kOpsetMax, floats, fn_kernel<float_unary<Erf>>);
  add_rows(rows, "Floor", 1, kOpsetMax, floats, fn_kernel<float_unary<Floor>>);
  add_rows(rows, "Ceil", 1, kOpsetMax, floats, fn_kernel<float_unary<Ceil>>);
  add_rows(rows, "Round", 11, kOpsetMax, floats, fn_kernel<float_unary<Round>>);
  add_rows(rows, "Reciprocal", 1, kOpsetMax, floats, fn_kernel<float_unary<Reciprocal>>);
  add_rows(rows, "Sqrt", 1, kOpsetMax, floats, fn_kernel<float_unary<Sqrt>>);
  add_rows(rows, "Log", 1, kOpsetMax, floats, fn_kernel<float_unary<Log>>);
  add_rows(rows, "Sin", 7, kOpsetMax, floats, fn_kernel<float_unary<Sin>>);
  add_rows(rows, "Cos", 7, kOpsetMax, floats, fn_kernel<float_unary<Cos>>);
  add_rows(rows, "Tan", 7, kOpsetMax, floats, fn_kernel<float_unary<Tan>>);
  add_rows(rows, "Asin", 7, kOpsetMax, floats, fn_kernel<float_unary<Asin>>);
  add_rows(rows, "Acos", 7, kOpsetMax, floats, fn_kernel<float_unary<Acos>>);
  add_rows(rows, "Atan", 7, kOpsetMax, floats, fn_kernel<float_unary<Atan>>);
  add_rows(rows, "Sinh", 9, kOpsetMax, floats, fn_kernel<float_unary<Sinh>>);
  add_rows(rows, "Cosh", 9, kOpsetMax, floats, fn_kernel<float_unary<Cosh>>);
  add_rows(rows, "Asinh", 9, kOpsetMax, floats, fn_kernel<float_unary<Asinh>>);
  add_rows(rows, "Acosh", 9, kOpsetMax, floats, fn_kernel<float_unary<Acosh>>);
  add_rows(rows, "Atanh", 9, kOpsetMax, floats, fn_kernel<float_unary<Atanh>>);
  add_rows(rows, "Abs", 1, kOpsetMax, numeric, fn_kernel<numeric_unary<Abs>>, 0, kElementwise);
  add_rows(rows, "Neg", 1, kOpsetMax, signed_numeric, fn_kernel<numeric_unary<Neg>>, 0, kElementwise);
  add_rows(rows, "Sign", 9, kOpsetMax, numeric, fn_kernel<numeric_unary<Sign>>);
  add_rows(rows, "Relu", 1, kOpsetMax, signed_numeric, fn_kernel<numeric_unary<Relu>>, 0, kElementwise);
  for (std::vector<KernelDef> more : {unary_activation_rows(), unary_cast_rows()}) {
    rows.insert(rows.end(), more.begin(), more.end());
  }
  return rows;
}

}  // namespace

std::span<const KernelDef> unary_kernels() {
  static const std::vector<KernelDef> table = build_table();
  return table;
}

}  // namespace quench
