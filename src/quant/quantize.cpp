// quench quant: quantize / dequantize / fake-quantize kernels.
//
// How a tensor is walked: the data is seen as [outer O, axis D, inner I] (axis = the encoding's
// channel or blocked axis; per-tensor is O = D = 1, I = n). Every piece of work is then a
// contiguous run of elements that either shares one (scale, zero point) -- a "uniform" run -- or
// takes its parameters from contiguous arrays -- an "array" run:
//   per-tensor                 one uniform run over n (split across threads)
//   per-channel, I > 1         a uniform run of I per (o, d), parameter d
//   per-channel, I == 1        an array run of D per row o over scale[0..D)
//   per-block,   I > 1         an array run of I per (o, d) over params (o, d / block, 0..I)
//   per-block,   I == 1        a uniform run per block of a row
// Both run kinds are branch-free loops that GCC vectorises at -O3 with baseline SSE2.
//
// Rounding without SSE4.1's roundps: round-half-even of |v| < 2^23 is (|v| + 2^23) - 2^23 under
// the default rounding mode; the other modes fix up that result (floor / ceil compare it with v;
// half_up is floor(v + 0.5); half_down and std_round detect an exact tie as |v - r| == 0.5, which
// is exact arithmetic there).
// Values with |v| >= 2^23 (2^52 for double) are already integers. NaN is turned into 0 (so into
// the zero point) by a select, Inf saturates in the clamp.
//
// 32-bit grids (int32 biases) compute in double: float cannot hold 2^31 - 1.
//
// -fno-trapping-math (set for this file in CMakeLists.txt): without it GCC sinks the (possibly
// trapping) arithmetic of each select arm into a branch and gives up vectorising. Nothing here
// reads the floating-point exception flags, and the option allows no reassociation, so
// (a + 2^23) - 2^23 is still computed as written.

#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "core/cpu.h"
#include "core/parallel.h"
#include "quant/float_formats.h"

namespace quench {
namespace {

constexpr int64_t kGrain = int64_t{1} << 15;  // elements per thread chunk, at least

template <class F>
constexpr F kRoundMagic = std::is_same_v<F, float> ? F(8388608.0) : F(4503599627370496.0);

template <class F>
inline F round_half_even_t(F v) {
  F a = std::fabs(v);
  F r = (a + kRoundMagic<F>)-kRoundMagic<F>;
  r = a < kRoundMagic<F> ? r : a;
  return std::copysign(r, v);
}

template <class F>
inline F floor_t(F v) {
  F r = round_half_even_t(v);
  return r > v ? r - F(1) : r;
}

template <RoundMode M, class F>
inline F round_t(F v) {
  if constexpr (M == RoundMode::kHalfUp) {
    // vai_q's definition, evaluated in F as vai_q does: it differs from "nearest, ties up" only
    // for v = 0.5 - 2^-25, where v + 0.5 rounds to 1.
    return floor_t(v + F(0.5));
  } else if constexpr (M == RoundMode::kFloor) {
    return floor_t(v);
  } else {
    F r = round_half_even_t(v);
    if constexpr (M == RoundMode::kHalfEven) {
      return r;
    } else if constexpr (M == RoundMode::kCeil) {
      return r < v ? r + F(1) : r;
    } else {
      F d = std::fabs(v - r);  // exact; 0.5 only at a tie
      F tie;
      if constexpr (M == RoundMode::kHalfDown)
        tie = v - std::copysign(F(0.5), v);
      else
        tie = v + std::copysign(F(0.5), v);  // kHalfAwayFromZero
      return d == F(0.5) ? tie : r;
    }
  }
}

// One element to the grid, as a float holding an integer in [lo, hi].
template <RoundMode M, class F>
inline F quantize_one(float x, F scale, F zp, F lo, F hi) {
  F r = round_t<M>(F(x) / scale);
  r = r == r ? r : F(0);  // NaN -> zero point
  r += zp;
  r = r < lo ? lo : r;
  r = r > hi ? hi : r;
  return r;
}

// The run kernels are kept out of line: inlined into the dispatch lambdas GCC vectorised only some
// of the instantiations. One call per run costs nothing next to the run.

// Compute type: double for grids float cannot hold exactly.
template <class T>
using ComputeT = std::conditional_t<(sizeof(T) > 2), double, float>;

template <RoundMode M, class T>
[[gnu::noinline]] void quantize_uniform(const float* src, T* dst, int64_t n, float scale,
                                        int32_t zp, int64_t qmin, int64_t qmax) {
  using F = ComputeT<T>;
  const F s = scale, z = static_cast<F>(zp), lo = static_cast<F>(qmin), hi = static_cast<F>(qmax);
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(quantize_one<M, F>(src[i], s, z, lo, hi));
}

template <RoundMode M, class T>
[[gnu::noinline]] void quantize_array(const float* src, T* dst, int64_t n, const float* scale,
                                      const int32_t* zp, int64_t qmin, int64_t qmax) {
  using F = ComputeT<T>;
  const F lo = static_cast<F>(qmin), hi = static_cast<F>(qmax);
  for (int64_t i = 0; i < n; ++i)
    dst[i] = static_cast<T>(quantize_one<M, F>(src[i], F(scale[i]), static_cast<F>(zp[i]), lo, hi));
}

// F = float for grids up to 16 bits (r - zp exact), double for 32-bit grids.
template <RoundMode M, class F>
[[gnu::noinline]] void fake_uniform(const float* src, float* dst, int64_t n, float scale,
                                    int32_t zp, int64_t qmin, int64_t qmax) {
  const F s = scale, z = static_cast<F>(zp), lo = static_cast<F>(qmin), hi = static_cast<F>(qmax);
  for (int64_t i = 0; i < n; ++i)
    dst[i] = static_cast<float>(quantize_one<M, F>(src[i], s, z, lo, hi) - z) * scale;
}

// The common run -- half-even rounding on a float grid -- eight or sixteen at a time where the
// CPU has AVX2 / AVX-512 (picked at run time; the build stays baseline x86-64). The same
// operations as quantize_one in the same order (ROUNDPS to nearest is the half-even rounding
// above, NaN still goes to the zero point, no FMA), so every variant gives the same bits.
using FakeRunFn = void (*)(const float*, float*, int64_t, float, int32_t, int64_t, int64_t);

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void fake_half_even_avx2(const float* src, float* dst, int64_t n,
                                                         float scale, int32_t zp, int64_t qmin,
                                                         int64_t qmax) {
  const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(static_cast<float>(zp));
  const __m256 lo = _mm256_set1_ps(static_cast<float>(qmin)), hi = _mm256_set1_ps(static_cast<float>(qmax));
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(src + i), s),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_blendv_ps(zero, r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));  // NaN -> 0
    r = _mm256_add_ps(r, z);
    r = _mm256_blendv_ps(r, lo, _mm256_cmp_ps(r, lo, _CMP_LT_OQ));
    r = _mm256_blendv_ps(r, hi, _mm256_cmp_ps(r, hi, _CMP_GT_OQ));
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_sub_ps(r, z), s));
  }
  fake_uniform<RoundMode::kHalfEven, float>(src + i, dst + i, n - i, scale, zp, qmin, qmax);
}

__attribute__((target("avx512f"))) void fake_half_even_avx512(const float* src, float* dst,
                                                               int64_t n, float scale, int32_t zp,
                                                               int64_t qmin, int64_t qmax) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(static_cast<float>(zp));
  const __m512 lo = _mm512_set1_ps(static_cast<float>(qmin)), hi = _mm512_set1_ps(static_cast<float>(qmax));
  const __m512 zero = _mm512_setzero_ps();
  constexpr __mmask16 kAll = 0xffff;  // mask forms: GCC 12 warns about the plain forms
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 r = _mm512_mask_roundscale_ps(zero, kAll, _mm512_div_ps(_mm512_loadu_ps(src + i), s),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(r, r, _CMP_ORD_Q), zero, r);  // NaN -> 0
    r = _mm512_add_ps(r, z);
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(r, lo, _CMP_LT_OQ), r, lo);
    r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(r, hi, _CMP_GT_OQ), r, hi);
    _mm512_storeu_ps(dst + i, _mm512_mul_ps(_mm512_sub_ps(r, z), s));
  }
  fake_uniform<RoundMode::kHalfEven, float>(src + i, dst + i, n - i, scale, zp, qmin, qmax);
}
#endif

FakeRunFn pick_fake_half_even() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx512f()) return fake_half_even_avx512;
  if (cpu_has_avx2()) return fake_half_even_avx2;
#endif
  return fake_uniform<RoundMode::kHalfEven, float>;
}

// fake_uniform, by the fastest variant for the common case.
template <RoundMode M, class F>
void fake_run(const float* src, float* dst, int64_t n, float scale, int32_t zp, int64_t qmin,
              int64_t qmax) {
  if constexpr (M == RoundMode::kHalfEven && std::is_same_v<F, float>) {
    static const FakeRunFn fn = pick_fake_half_even();
    fn(src, dst, n, scale, zp, qmin, qmax);
  } else {
    fake_uniform<M, F>(src, dst, n, scale, zp, qmin, qmax);
  }
}

template <RoundMode M, class F>
[[gnu::noinline]] void fake_array(const float* src, float* dst, int64_t n, const float* scale,
                                  const int32_t* zp, int64_t qmin, int64_t qmax) {
  const F lo = static_cast<F>(qmin), hi = static_cast<F>(qmax);
  for (int64_t i = 0; i < n; ++i) {
    const F z = static_cast<F>(zp[i]);
    dst[i] = static_cast<float>(quantize_one<M, F>(src[i], F(scale[i]), z, lo, hi) - z) * scale[i];
  }
}

// (q - zp) * scale, with q - zp formed exactly (as onnxruntime's DequantizeLinear does).
template <class T>
inline float dequantize_one(T q, int32_t zp, float scale) {
  if constexpr (sizeof(T) <= 2) {
    return (static_cast<float>(q) - static_cast<float>(zp)) * scale;
  } else {
    return static_cast<float>(static_cast<int64_t>(q) - static_cast<int64_t>(zp)) * scale;
  }
}

template <class Fn>
void with_round_mode(RoundMode m, Fn&& fn) {
  switch (m) {
    case RoundMode::kHalfEven:
      fn(std::integral_constant<RoundMode, RoundMode::kHalfEven>{});
      return;
    case RoundMode::kHalfUp:
      fn(std::integral_constant<RoundMode, RoundMode::kHalfUp>{});
      return;
    case RoundMode::kHalfDown:
      fn(std::integral_constant<RoundMode, RoundMode::kHalfDown>{});
      return;
    case RoundMode::kHalfAwayFromZero:
      fn(std::integral_constant<RoundMode, RoundMode::kHalfAwayFromZero>{});
      return;
    case RoundMode::kFloor:
      fn(std::integral_constant<RoundMode, RoundMode::kFloor>{});
      return;
    case RoundMode::kCeil:
      fn(std::integral_constant<RoundMode, RoundMode::kCeil>{});
      return;
  }
}

// The tensor as [outer, axis, inner] for the encoding (see the top of the file).
struct RunPlan {
  Granularity granularity = Granularity::kPerTensor;
  int64_t outer = 1, dim = 1, inner = 1;
  int64_t block = 1, num_blocks = 1;
};

RunPlan make_plan(const Shape& shape, const QuantSpec& spec) {
  RunPlan p;
  p.granularity = spec.granularity;
  if (spec.granularity == Granularity::kPerTensor) {
    p.inner = shape_numel(shape);
    return p;
  }
  const int rank = static_cast<int>(shape.size());
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;  // validated by the caller
  for (int d = 0; d < axis; ++d) p.outer *= shape[static_cast<size_t>(d)];
  p.dim = shape[static_cast<size_t>(axis)];
  for (int d = axis + 1; d < rank; ++d) p.inner *= shape[static_cast<size_t>(d)];
  if (spec.granularity == Granularity::kPerBlock) {
    p.block = spec.block_size;
    p.num_blocks = (p.dim + p.block - 1) / p.block;
  }
  return p;
}

// Calls uniform(offset, n, param) and array(offset, n, param_offset) over the whole tensor, in
// parallel; every element is covered by exactly one call.
template <class Uniform, class Array>
void for_each_run(const RunPlan& p, Uniform&& uniform, Array&& array) {
  const int64_t O = p.outer, D = p.dim, I = p.inner;
  if (O * D * I == 0) return;
  switch (p.granularity) {
    case Granularity::kPerTensor:
      parallel_for(
          I, [&](int64_t b, int64_t e) { uniform(b, e - b, int64_t{0}); }, kGrain);
      return;
    case Granularity::kPerChannel:
      if (I > 1) {
        parallel_for(
            O * D,
            [&](int64_t b, int64_t e) {
              for (int64_t r = b; r < e; ++r) uniform(r * I, I, r % D);
            },
            std::max<int64_t>(1, kGrain / I));
      } else {
        parallel_for(
            O,
            [&](int64_t b, int64_t e) {
              for (int64_t o = b; o < e; ++o) array(o * D, D, int64_t{0});
            },
            std::max<int64_t>(1, kGrain / D));
      }
      return;
    case Granularity::kPerBlock:
      if (I > 1) {
        parallel_for(
            O * D,
            [&](int64_t b, int64_t e) {
              for (int64_t r = b; r < e; ++r) {
                const int64_t o = r / D, d = r % D;
                array(r * I, I, (o * p.num_blocks + d / p.block) * I);
              }
            },
            std::max<int64_t>(1, kGrain / I));
      } else {
        parallel_for(
            O,
            [&](int64_t b, int64_t e) {
              for (int64_t o = b; o < e; ++o)
                for (int64_t k = 0; k < p.num_blocks; ++k) {
                  const int64_t start = k * p.block;
                  uniform(o * D + start, std::min(p.block, D - start), o * p.num_blocks + k);
                }
            },
            std::max<int64_t>(1, kGrain / D));
      }
      return;
  }
}

Status check_float_input(const Tensor& x, const char* what) {
  if (!x.defined()) return Status::invalid(std::string(what) + ": the input tensor is undefined");
  if (x.dtype() != DType::kFloat32)
    return Status::invalid(std::string(what) + ": input is " + x.describe() + ", float32 expected");
  return Status::ok_status();
}

Status check_int_encoding(const Encoding& e, const char* what) {
  if (!e.spec.is_int())
    return Status::invalid(std::string(what) + ": encoding " + e.spec.describe() +
                           " is not an integer encoding (float formats only fake-quantize)");
  return Status::ok_status();
}

template <class T>
void quantize_typed(const Tensor& x, Tensor& q, const Encoding& e) {
  const float* src = x.data<float>();
  T* dst = q.data<T>();
  const int64_t qmin = e.spec.qmin(), qmax = e.spec.qmax();
  const float* sc = e.scale.data();
  const int32_t* zp = e.zero_point.data();
  with_round_mode(e.spec.round_mode, [&](auto mc) {
    constexpr RoundMode M = decltype(mc)::value;
    for_each_run(
        make_plan(x.shape(), e.spec),
        [&](int64_t off, int64_t n, int64_t p) {
          quantize_uniform<M, T>(src + off, dst + off, n, sc[p], zp[p], qmin, qmax);
        },
        [&](int64_t off, int64_t n, int64_t p) {
          quantize_array<M, T>(src + off, dst + off, n, sc + p, zp + p, qmin, qmax);
        });
  });
}

template <class T>
void dequantize_typed(const Tensor& q, Tensor& y, const Encoding& e) {
  const T* src = q.data<T>();
  float* dst = y.data<float>();
  const float* sc = e.scale.data();
  const int32_t* zp = e.zero_point.data();
  for_each_run(
      make_plan(q.shape(), e.spec),
      [&](int64_t off, int64_t n, int64_t p) {
        const float s = sc[p];
        const int32_t z = zp[p];
        for (int64_t i = 0; i < n; ++i) dst[off + i] = dequantize_one<T>(src[off + i], z, s);
      },
      [&](int64_t off, int64_t n, int64_t p) {
        for (int64_t i = 0; i < n; ++i)
          dst[off + i] = dequantize_one<T>(src[off + i], zp[p + i], sc[p + i]);
      });
}

template <class F>
void fake_quantize_int(float* x, const Shape& shape, const Encoding& e) {
  const int64_t qmin = e.spec.qmin(), qmax = e.spec.qmax();
  const float* sc = e.scale.data();
  const int32_t* zp = e.zero_point.data();
  with_round_mode(e.spec.round_mode, [&](auto mc) {
    constexpr RoundMode M = decltype(mc)::value;
    for_each_run(
        make_plan(shape, e.spec),
        [&](int64_t off, int64_t n, int64_t p) {
          fake_run<M, F>(x + off, x + off, n, sc[p], zp[p], qmin, qmax);
        },
        [&](int64_t off, int64_t n, int64_t p) {
          fake_array<M, F>(x + off, x + off, n, sc + p, zp + p, qmin, qmax);
        });
  });
}

}  // namespace

DType storage_dtype(const QuantSpec& spec) {
  switch (spec.format) {
    case NumberFormat::kFloat16:
      return DType::kFloat16;
    case NumberFormat::kBFloat16:
      return DType::kBFloat16;
    case NumberFormat::kFloat8E4M3:
      return DType::kFloat8E4M3FN;
    case NumberFormat::kFloat8E5M2:
      return DType::kFloat8E5M2;
    case NumberFormat::kFloat32:
      return DType::kFloat32;
    case NumberFormat::kInt:
      break;
  }
  if (spec.bits > 16) return DType::kInt32;
  if (spec.bits > 8) return spec.is_signed ? DType::kInt16 : DType::kUInt16;
  return spec.is_signed ? DType::kInt8 : DType::kUInt8;
}

float round_value(float v, RoundMode mode) {
  float r = v;
  with_round_mode(mode, [&](auto mc) { r = round_t<decltype(mc)::value, float>(v); });
  return r;
}

Result<Tensor> quantize(const Tensor& x, const Encoding& e) {
  QUENCH_RETURN_IF_ERROR(check_float_input(x, "quantize"));
  QUENCH_RETURN_IF_ERROR(check_int_encoding(e, "quantize"));
  QUENCH_RETURN_IF_ERROR(e.validate(&x.shape()).with_context("quantize " + x.describe()));
  QUENCH_ASSIGN_OR_RETURN(Tensor src, to_plain(x));
  Tensor q = Tensor::empty(storage_dtype(e.spec), src.shape());
  switch (q.dtype()) {
    case DType::kInt8:
      quantize_typed<int8_t>(src, q, e);
      break;
    case DType::kUInt8:
      quantize_typed<uint8_t>(src, q, e);
      break;
    case DType::kInt16:
      quantize_typed<int16_t>(src, q, e);
      break;
    case DType::kUInt16:
      quantize_typed<uint16_t>(src, q, e);
      break;
    case DType::kInt32:
      quantize_typed<int32_t>(src, q, e);
      break;
    default:
      return Status::internal("quantize: no kernel for storage dtype " +
                              std::string(dtype_name(q.dtype())));
  }
  return q;
}

Result<Tensor> dequantize(const Tensor& q, const Encoding& e) {
  if (!q.defined()) return Status::invalid("dequantize: the input tensor is undefined");
  if (!dtype_is_integer(q.dtype()))
    return Status::invalid("dequantize: input is " + q.describe() + ", an integer dtype expected");
  QUENCH_RETURN_IF_ERROR(check_int_encoding(e, "dequantize"));
  QUENCH_RETURN_IF_ERROR(e.validate(&q.shape()).with_context("dequantize " + q.describe()));
  QUENCH_ASSIGN_OR_RETURN(Tensor src, to_plain(q));
  Tensor y = Tensor::empty(DType::kFloat32, src.shape());
  switch (src.dtype()) {
    case DType::kInt8:
    case DType::kInt4:
      dequantize_typed<int8_t>(src, y, e);
      break;
    case DType::kUInt8:
    case DType::kUInt4:
      dequantize_typed<uint8_t>(src, y, e);
      break;
    case DType::kInt16:
      dequantize_typed<int16_t>(src, y, e);
      break;
    case DType::kUInt16:
      dequantize_typed<uint16_t>(src, y, e);
      break;
    case DType::kInt32:
      dequantize_typed<int32_t>(src, y, e);
      break;
    case DType::kUInt32:
      dequantize_typed<uint32_t>(src, y, e);
      break;
    case DType::kInt64:
      dequantize_typed<int64_t>(src, y, e);
      break;
    case DType::kUInt64:
      dequantize_typed<uint64_t>(src, y, e);
      break;
    default:
      return Status::invalid("dequantize: input is " + q.describe() +
                             ", an integer dtype expected");
  }
  return y;
}

Status fake_quantize_inplace(Tensor& x, const Encoding& e) {
  QUENCH_RETURN_IF_ERROR(check_float_input(x, "fake_quantize"));
  if (!x.is_plain())
    return Status::invalid(
        "fake_quantize: input " + x.describe() +
        " is in a runtime layout; in-place fake-quantization needs a plain tensor");
  QUENCH_RETURN_IF_ERROR(e.validate(&x.shape()).with_context("fake_quantize " + x.describe()));
  float* data = x.data<float>();
  const int64_t n = x.numel();
  switch (e.spec.format) {
    case NumberFormat::kFloat32:
      return Status::ok_status();
    case NumberFormat::kFloat16:
    case NumberFormat::kBFloat16:
      parallel_for(
          n,
          [&](int64_t b, int64_t end) {
            round_span_to_format(data + b, data + b, end - b, e.spec.format);
          },
          kGrain);
      return Status::ok_status();
    case NumberFormat::kFloat8E4M3:
    case NumberFormat::kFloat8E5M2: {
      const float* sc = e.scale.data();
      const NumberFormat f = e.spec.format;
      for_each_run(
          make_plan(x.shape(), e.spec),
          [&](int64_t off, int64_t len, int64_t p) {
            fake_quantize_float8_span(data + off, data + off, len, sc[p], f);
          },
          [&](int64_t off, int64_t len, int64_t p) {
            for (int64_t i = 0; i < len; ++i)
              fake_quantize_float8_span(data + off + i, data + off + i, 1, sc[p + i], f);
          });
      return Status::ok_status();
    }
    case NumberFormat::kInt:
      if (e.spec.bits > 16)
        fake_quantize_int<double>(data, x.shape(), e);
      else
        fake_quantize_int<float>(data, x.shape(), e);
      return Status::ok_status();
  }
  return Status::internal("fake_quantize: unknown number format");
}

Result<Tensor> fake_quantize(const Tensor& x, const Encoding& e) {
  QUENCH_RETURN_IF_ERROR(check_float_input(x, "fake_quantize"));
  QUENCH_ASSIGN_OR_RETURN(Tensor plain, to_plain(x));
  Tensor y = plain.clone();
  QUENCH_RETURN_IF_ERROR(fake_quantize_inplace(y, e));
  return y;
}

void fake_quantize_span(const float* src, float* dst, int64_t n, float scale, int32_t zero_point,
                        int64_t qmin, int64_t qmax, RoundMode mode) {
  constexpr int64_t kFloatExact = int64_t{1} << 24;
  const bool wide = qmax > kFloatExact || qmin < -kFloatExact;
  with_round_mode(mode, [&](auto mc) {
    constexpr RoundMode M = decltype(mc)::value;
    if (wide)
      fake_uniform<M, double>(src, dst, n, scale, zero_point, qmin, qmax);
    else
      fake_run<M, float>(src, dst, n, scale, zero_point, qmin, qmax);
  });
}

std::vector<FakeQuantizeVariant> fake_quantize_half_even_variants() {
  std::vector<FakeQuantizeVariant> out;
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx512f()) out.push_back({"avx512", fake_half_even_avx512});
  if (cpu_has_avx2()) out.push_back({"avx2", fake_half_even_avx2});
#endif
  out.push_back({"scalar", fake_uniform<RoundMode::kHalfEven, float>});
  return out;
}

}  // namespace quench
