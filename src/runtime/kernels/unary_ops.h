// Shared pieces of the unary kernel family (unary*.cpp): map a functor over a tensor, in place when
// the input dies, for float types (float16 / bfloat16 computed in float32) or all numeric types.
//
//   struct Softsign {
//     explicit Softsign(const Node&) {}
//     template <class T> T operator()(T x) const { return x / (T(1) + std::fabs(x)); }
//   };
//   {"", "Softsign", 1, kOpsetMax, kF32, fn_kernel<float_unary<Softsign>>}
#pragma once

#include <type_traits>
#include <vector>

#include "core/cpu.h"
#include "core/dispatch.h"
#include "core/parallel.h"
#include "runtime/kernels/elementwise_broadcast.h"
#include "runtime/kernels/elementwise_ops.h"

namespace quench {

// y[i] = f(x[i]) over the whole tensor, split across threads; x and y may be the same buffer.
template <class T, class R = T, class F>
void map_elements(const T* x, R* y, int64_t n, const F& f) {
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
      },
      kElementwiseGrain);
}

// map_elements for float32, with the loop compiled also for AVX2 and AVX-512 and the widest copy
// the CPU runs taken: the branch-free math of unary_math.h (exp, erf, tanh...) vectorizes to 8 or
// 16 lanes instead of SSE2's 4. The copies run the same operations (no FMA), so the same bits.
namespace unary_internal {
template <class F>
void map_span(const float* x, float* y, int64_t n, const F& f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
#if defined(__x86_64__) && defined(__GNUC__)
template <class F>
__attribute__((target("avx2"))) void map_span_avx2(const float* x, float* y, int64_t n, const F& f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
template <class F>
__attribute__((target("avx512f"))) void map_span_avx512(const float* x, float* y, int64_t n,
                                                        const F& f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
#endif
}  // namespace unary_internal

template <class F>
void map_floats(const float* x, float* y, int64_t n, const F& f) {
  using Span = void (*)(const float*, float*, int64_t, const F&);
  static const Span span = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    if (cpu_has_avx512f()) return static_cast<Span>(unary_internal::map_span_avx512<F>);
    if (cpu_has_avx2()) return static_cast<Span>(unary_internal::map_span_avx2<F>);
#endif
    return static_cast<Span>(unary_internal::map_span<F>);
  }();
  parallel_for(
      n, [&](int64_t begin, int64_t end) { span(x + begin, y + begin, end - begin, f); },
      kElementwiseGrain);
}

// Output 0 = Fn(node)(input 0) element-wise, for float32 / float64 / float16 / bfloat16.
template <class Fn>
Status float_unary(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Fn fn(ctx.node());
  if (is_half_type(x.dtype())) {
    Tensor f = to_float32(x);
    map_floats(f.data<float>(), f.data<float>(), f.numel(), fn);
    return store_from_float32(ctx, f, x.dtype());
  }
  if (x.dtype() == DType::kFloat32) {
    Tensor& y = ctx.output_like(0, 0);
    map_floats(x.data<float>(), y.data<float>(), x.numel(), fn);
    return Status();
  }
  if (x.dtype() == DType::kFloat64) {
    Tensor& y = ctx.output_like(0, 0);
    map_elements(x.data<double>(), y.data<double>(), x.numel(), fn);
    return Status();
  }
  return ctx.unsupported("element type " + std::string(dtype_name(x.dtype())));
}

// Like float_unary, plus the integer types (the functor must accept them).
template <class Fn>
Status numeric_unary(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (is_half_type(x.dtype()) || !dtype_is_integer(x.dtype())) return float_unary<Fn>(ctx);
  const Fn fn(ctx.node());
  Tensor& y = ctx.output_like(0, 0);
  return visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      map_elements(x.data<T>(), y.data<T>(), x.numel(), fn);
      return Status();
    } else {
      return ctx.unsupported("element type " + std::string(dtype_name(x.dtype())));
    }
  });
}

// Rows of the activation kernels (unary_activation.cpp) and of Cast, CastLike, Identity, Dropout,
// IsNaN, IsInf (unary_cast.cpp).
std::vector<KernelDef> unary_activation_rows();
std::vector<KernelDef> unary_cast_rows();

}  // namespace quench
