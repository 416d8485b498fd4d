// Activation kernels with attributes or extra inputs: LeakyRelu, Elu, Selu, Celu, HardSigmoid,
// HardSwish, ThresholdedRelu, Shrink, Softplus, Softsign, Mish, Gelu, PRelu, Clip.
// Attribute defaults are the ONNX ones.
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/unary_math.h"
#include "runtime/kernels/unary_ops.h"

namespace quench {

namespace {

template <class T>
constexpr bool kIsF32 = std::is_same_v<T, float>;

template <class T>
T exp_t(T x) {
  if constexpr (kIsF32<T>) return exp_approx(x);
  else return std::exp(x);
}
template <class T>
T expm1_t(T x) {
  if constexpr (kIsF32<T>) return expm1_approx(x);
  else return std::expm1(x);
}
template <class T>
T tanh_t(T x) {
  if constexpr (kIsF32<T>) return tanh_approx(x);
  else return std::tanh(x);
}

struct LeakyRelu {
  float alpha;
  explicit LeakyRelu(const Node& n) : alpha(n.attr_float("alpha", 0.01f)) {}
  template <class T>
  T operator()(T x) const { return select(x < T(0), T(alpha) * x, x); }
};
struct Elu {
  float alpha;
  explicit Elu(const Node& n) : alpha(n.attr_float("alpha", 1.0f)) {}
  template <class T>
  T operator()(T x) const { return select(x < T(0), T(alpha) * expm1_t(x), x); }
};
struct Selu {
  float alpha, gamma;
  explicit Selu(const Node& n)
      : alpha(n.attr_float("alpha", 1.67326319217681884765625f)),
        gamma(n.attr_float("gamma", 1.05070102214813232421875f)) {}
  template <class T>
  T operator()(T x) const { return T(gamma) * select(x <= T(0), T(alpha) * expm1_t(x), x); }
};
// max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
struct Celu {
  float alpha;
  explicit Celu(const Node& n) : alpha(n.attr_float("alpha", 1.0f)) {}
  template <class T>
  T operator()(T x) const { return select(x < T(0), T(alpha) * expm1_t(x / T(alpha)), x); }
};
struct HardSigmoid {
  float alpha, beta;
  explicit HardSigmoid(const Node& n)
      : alpha(n.attr_float("alpha", 0.2f)), beta(n.attr_float("beta", 0.5f)) {}
  template <class T>
  T operator()(T x) const { return clamp_t(T(alpha) * x + T(beta)); }
  template <class T>
  static T clamp_t(T v) { return select(v < T(0), T(0), select(v > T(1), T(1), v)); }
};
// x * max(0, min(1, x / 6 + 1 / 2))
struct HardSwish {
  explicit HardSwish(const Node&) {}
  template <class T>
  T operator()(T x) const { return x * HardSigmoid::clamp_t(x * T(1.0 / 6.0) + T(0.5)); }
};
struct ThresholdedRelu {
  float alpha;
  explicit ThresholdedRelu(const Node& n) : alpha(n.attr_float("alpha", 1.0f)) {}
  template <class T>
  T operator()(T x) const { return select(x > T(alpha), x, T(0)); }
};
struct Shrink {
  float lambd, bias;
  explicit Shrink(const Node& n)
      : lambd(n.attr_float("lambd", 0.5f)), bias(n.attr_float("bias", 0.0f)) {}
  template <class T>
  T operator()(T x) const {
    return select(x < T(-lambd), x + T(bias), select(x > T(lambd), x - T(bias), T(0)));
  }
};
// log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), which neither overflows nor loses small values.
struct Softplus {
  explicit Softplus(const Node&) {}
  template <class T>
  T operator()(T x) const { return std::fmax(x, T(0)) + std::log1p(std::exp(-std::fabs(x))); }
};
struct Softsign {
  explicit Softsign(const Node&) {}
  template <class T>
  T operator()(T x) const { return x / (T(1) + std::fabs(x)); }
};
// x * tanh(softplus(x)); with e = exp(x), tanh(log(1 + e)) = e (e + 2) / (e (e + 2) + 2). Above
// x = 20 the fraction is 1 in float (and e(e+2) would overflow further up).
struct Mish {
  explicit Mish(const Node&) {}
  template <class T>
  T operator()(T x) const {
    if constexpr (kIsF32<T>) {
      float e = exp_approx(std::fmin(x, 20.0f));
      float n = e * (e + 2.0f);
      return select(x > 20.0f, x, x * n / (n + 2.0f));
    } else {
      return x * std::tanh(std::fmax(x, T(0)) + std::log1p(std::exp(-std::fabs(x))));
    }
  }
};
// Two functors rather than one with a flag: a branch in the loop body stops vectorization.
struct GeluErf {
  explicit GeluErf(const Node&) {}
  template <class T>
  T operator()(T x) const {
    T e;
    if constexpr (kIsF32<T>) e = erf_approx(x * 0.70710678118654752f);
    else e = std::erf(x * T(0.70710678118654752));
    return T(0.5) * x * (T(1) + e);
  }
};
struct GeluTanh {
  explicit GeluTanh(const Node&) {}
  template <class T>
  T operator()(T x) const {
    const T k = T(0.7978845608028654);  // sqrt(2 / pi)
    return T(0.5) * x * (T(1) + tanh_t(k * (x + T(0.044715) * x * x * x)));
  }
};

Status gelu_kernel(KernelContext& ctx) {
  const std::string mode = ctx.node().attr_string("approximate", "none");
  if (mode != "none" && mode != "tanh") {
    return ctx.invalid("attribute approximate must be \"none\" or \"tanh\" (got \"" + mode + "\")");
  }
  return mode == "tanh" ? float_unary<GeluTanh>(ctx) : float_unary<GeluErf>(ctx);
}

// PRelu: y = x < 0 ? slope * x : x, slope broadcast to x's shape (unidirectionally). Before
// opset 7 a 1-D slope of C values is per channel (dimension 1), as PyTorch exported it.
template <bool kLegacy>
Status prelu_kernel(KernelContext& ctx) {
  QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  const Tensor& x = ctx.input(0);
  Tensor slope = ctx.input(1);
  if (kLegacy && slope.rank() == 1 && x.rank() > 2 && slope.dim(0) == x.dim(1) && slope.dim(0) != 1) {
    Shape s(static_cast<size_t>(x.rank() - 1), 1);
    s[0] = slope.dim(0);
    slope = slope.reshaped(s);
  }
  QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&x.shape(), &slope.shape()}));
  if (shape != x.shape()) {
    return ctx.invalid("slope " + shape_to_string(slope.shape()) + " must broadcast to X " +
                       shape_to_string(x.shape()) + " without growing it");
  }
  auto run = [&](const Tensor& xs, const Tensor& ss, Tensor& out) {
    return visit_numeric(xs.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (std::is_signed_v<T>) {
        broadcast_binary<T, T, T>(xs, ss, out, [](T v, T s) {
          return select(v < T(0), static_cast<T>(s * v), v);
        });
        return Status();
      } else {
        return ctx.unsupported("element type " + std::string(dtype_name(xs.dtype())));
      }
    });
  };
  if (is_half_type(x.dtype())) {
    Tensor f = to_float32(x);
    QUENCH_RETURN_IF_ERROR(run(f, to_float32(slope), f));
    return store_from_float32(ctx, f, x.dtype());
  }
  Tensor& out = broadcast_output(ctx, shape, x.dtype(), {0});
  return run(x, slope, out);
}

// Clip: bounds from attributes min / max before opset 11, from optional inputs 1 / 2 after.
template <bool kBoundsAsInputs>
Status clip_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  for (size_t i = 1; i <= 2 && kBoundsAsInputs; ++i) {
    const Tensor* b = ctx.input_or_null(i);
    if (!b) continue;
    if (b->numel() != 1) {
      return ctx.invalid(std::string(i == 1 ? "min" : "max") + " must be a scalar (got shape " +
                         shape_to_string(b->shape()) + ")");
    }
    QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
  }
  auto run = [&](const Tensor& in, Tensor& out) {
    return visit_numeric(in.dtype(), [&](auto tag) -> Status {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, bool>) {
        return ctx.unsupported("element type bool");
      } else {
        auto bound = [&](size_t i, T dflt) -> T {
          if constexpr (kBoundsAsInputs) {
            const Tensor* b = ctx.input_or_null(i);
            if (!b) return dflt;
            // A float16 X was converted to float32 but its bounds were not.
            return is_half_type(b->dtype()) ? static_cast<T>(b->to_double_vector()[0])
                                            : b->data<T>()[0];
          } else {
            const Attribute* a = ctx.node().attr(i == 1 ? "min" : "max");
            return a ? static_cast<T>(a->f) : dflt;
          }
        };
        const T lo = bound(1, std::numeric_limits<T>::lowest());
        const T hi = bound(2, std::numeric_limits<T>::max());
        map_elements(in.data<T>(), out.data<T>(), in.numel(),
                     [lo, hi](T v) {
                       // min(max(v, lo), hi): with lo > hi every value becomes hi, as ONNX says.
                       const T t = select(v < lo, lo, v);
                       return select(t > hi, hi, t);
                     });
        return Status();
      }
    });
  };
  if (is_half_type(x.dtype())) {
    Tensor f = to_float32(x);
    QUENCH_RETURN_IF_ERROR(run(f, f));
    return store_from_float32(ctx, f, x.dtype());
  }
  return run(x, ctx.output_like(0, 0));
}

}  // namespace

std::vector<KernelDef> unary_activation_rows() {
  std::vector<KernelDef> rows;
  const auto floats = {kF32, kF64, kF16, kBF16};
  const auto numeric = {kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64};
  add_rows(rows, "LeakyRelu", 1, kOpsetMax, floats, fn_kernel<float_unary<LeakyRelu>>, 0, kElementwise);
  add_rows(rows, "Elu", 1, kOpsetMax, floats, fn_kernel<float_unary<Elu>>, 0, kElementwise);
  add_rows(rows, "Selu", 1, kOpsetMax, floats, fn_kernel<float_unary<Selu>>);
  add_rows(rows, "Celu", 12, kOpsetMax, floats, fn_kernel<float_unary<Celu>>);
  add_rows(rows, "HardSigmoid", 1, kOpsetMax, floats, fn_kernel<float_unary<HardSigmoid>>, 0, kElementwise);
  add_rows(rows, "HardSwish", 14, kOpsetMax, floats, fn_kernel<float_unary<HardSwish>>, 0, kElementwise);
  add_rows(rows, "ThresholdedRelu", 10, kOpsetMax, floats,
           fn_kernel<float_unary<ThresholdedRelu>>);
  add_rows(rows, "Shrink", 9, kOpsetMax, floats, fn_kernel<float_unary<Shrink>>);
  add_rows(rows, "Softplus", 1, kOpsetMax, floats, fn_kernel<float_unary<Softplus>>);
  add_rows(rows, "Softsign", 1, kOpsetMax, floats, fn_kernel<float_unary<Softsign>>);
  add_rows(rows, "Mish", 18, kOpsetMax, floats, fn_kernel<float_unary<Mish>>);
  add_rows(rows, "Gelu", 20, kOpsetMax, floats, fn_kernel<gelu_kernel>);
  const auto prelu_types = {kF32, kF64, kF16, kBF16, kI32, kI64};
  add_rows(rows, "PRelu", 1, 6, prelu_types, fn_kernel<prelu_kernel<true>>);
  add_rows(rows, "PRelu", 7, kOpsetMax, prelu_types, fn_kernel<prelu_kernel<false>>);
  add_rows(rows, "Clip", 1, 10, floats, fn_kernel<clip_kernel<false>>, 0, kElementwise);
  add_rows(rows, "Clip", 11, kOpsetMax, numeric, fn_kernel<clip_kernel<true>>, 0, kElementwise);
  return rows;
}

}  // namespace quench
