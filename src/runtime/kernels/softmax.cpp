// Kernels of the softmax family: Softmax, LogSoftmax, Hardmax. See runtime/registry.h.
//
// Before opset 13 the input is coerced to 2-D at `axis` (default 1): rows are the flattened
// dimensions [axis, rank). From opset 13 the op runs along the single dimension `axis` (default -1),
// viewed as [outer, R, inner]; for inner > 1 the statistics are kept for a tile of inner positions
// so that the loops run over contiguous memory. The maximum is subtracted before exp, so large
// inputs do not overflow. float32 uses the vectorizable exp of unary_math.h; sums are accumulated
// in 8 float lanes per stretch of 1024 elements and added in double.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/cpu.h"
#include "core/parallel.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/unary_math.h"
#include "runtime/registry.h"

namespace quench {

namespace {

enum class Mode { kSoftmax, kLogSoftmax, kHardmax };

template <class T>
inline T exp_t(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_approx(x);
  else return std::exp(x);
}

template <class T>
QUENCH_MATH_INLINE T row_max(const T* x, int64_t n) {
  constexpr int kLanes = 32 / sizeof(T);  // two SSE registers
  T lane[kLanes];
  for (int l = 0; l < kLanes; ++l) lane[l] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    // Unrolled, GCC fails to vectorize the lane selects; as a loop it does.
#pragma GCC unroll 1
    for (int l = 0; l < kLanes; ++l) lane[l] = select(x[i + l] > lane[l], x[i + l], lane[l]);
  }
  T m = -std::numeric_limits<T>::infinity();
  for (int l = 0; l < kLanes; ++l) m = std::max(m, lane[l]);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// sum(exp(x - m)); writes the exponentials to y when kStore.
template <bool kStore, class T>
QUENCH_MATH_INLINE double row_exp_sum(const T* x, T* y, int64_t n, T m) {
  constexpr int kLanes = 32 / sizeof(T);
  constexpr int64_t kStretch = 1024;
  double total = 0.0;
  for (int64_t j = 0; j < n; j += kStretch) {
    const int64_t len = std::min(kStretch, n - j);
    T lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
#pragma GCC unroll 1
      for (int l = 0; l < kLanes; ++l) {
        T e = exp_t(x[j + i + l] - m);
        if constexpr (kStore) y[j + i + l] = e;
        lane[l] += e;
      }
    }
    for (int l = 0; l < kLanes; ++l) total += lane[l];
    for (; i < len; ++i) {
      T e = exp_t(x[j + i] - m);
      if constexpr (kStore) y[j + i] = e;
      total += e;
    }
  }
  return total;
}

template <Mode kMode, class T>
QUENCH_MATH_INLINE void softmax_row(const T* x, T* y, int64_t n) {
  const T m = row_max(x, n);
  if constexpr (kMode == Mode::kHardmax) {
    int64_t arg = 0;
    while (arg < n && !(x[arg] == m)) ++arg;  // first maximum
    std::fill(y, y + n, T(0));
    if (arg < n) y[arg] = T(1);
  } else if constexpr (kMode == Mode::kSoftmax) {
    const double sum = row_exp_sum<true>(x, y, n, m);
    const T inv = static_cast<T>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  } else {
    const double sum = row_exp_sum<false>(x, y, n, m);
    const T shift = m + static_cast<T>(std::log(sum));
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - shift;
  }
}

constexpr int64_t kTile = 128;

// Softmax along R of [R, inner] (one outer slice), for inner positions [i0, i0 + w).
template <Mode kMode, class T>
QUENCH_MATH_INLINE void softmax_columns(const T* x, T* y, int64_t R, int64_t inner, int64_t i0,
                                        int64_t w) {
  T m[kTile], s[kTile];
  int64_t arg[kTile];
  for (int64_t i = 0; i < w; ++i) {
    m[i] = -std::numeric_limits<T>::infinity();
    s[i] = 0;
    arg[i] = 0;
  }
  for (int64_t r = 0; r < R; ++r) {
    const T* row = x + r * inner + i0;
    for (int64_t i = 0; i < w; ++i) {
      if constexpr (kMode == Mode::kHardmax) {
        const bool take = row[i] > m[i];
        arg[i] = take ? r : arg[i];
      }
      m[i] = select(row[i] > m[i], row[i], m[i]);
    }
  }
  if constexpr (kMode == Mode::kHardmax) {
    for (int64_t r = 0; r < R; ++r) {
      T* out = y + r * inner + i0;
      for (int64_t i = 0; i < w; ++i) out[i] = arg[i] == r ? T(1) : T(0);
    }
    return;
  }
  for (int64_t r = 0; r < R; ++r) {
    const T* row = x + r * inner + i0;
    T* out = y + r * inner + i0;
    for (int64_t i = 0; i < w; ++i) {
      T e = exp_t(row[i] - m[i]);
      if constexpr (kMode == Mode::kSoftmax) out[i] = e;
      s[i] += e;
    }
  }
  if constexpr (kMode == Mode::kSoftmax) {
    for (int64_t i = 0; i < w; ++i) s[i] = T(1) / s[i];
    for (int64_t r = 0; r < R; ++r) {
      T* out = y + r * inner + i0;
      for (int64_t i = 0; i < w; ++i) out[i] *= s[i];
    }
  } else {
    for (int64_t i = 0; i < w; ++i) s[i] = m[i] + std::log(s[i]);
    for (int64_t r = 0; r < R; ++r) {
      const T* row = x + r * inner + i0;
      T* out = y + r * inner + i0;
      for (int64_t i = 0; i < w; ++i) out[i] = row[i] - s[i];
    }
  }
}

// The row and tile loops, compiled also for AVX2 and AVX-512 (the helpers above are forced
// inline, so they take the caller's instruction set): exp runs on 8 or 16 lanes instead of 4. The
// lane counts of the sums are fixed in the code, so every copy gives the same bits.
template <Mode kMode, class T>
struct SoftmaxLoops {
  // rows [begin, end) of length R (inner == 1)
  static void rows(const T* x, T* y, int64_t R, int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) softmax_row<kMode>(x + o * R, y + o * R, R);
  }
  // tiles [begin, end) of `tiles` per outer slice
  static void tiles(const T* x, T* y, int64_t R, int64_t inner, int64_t tiles, int64_t begin,
                    int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / tiles, i0 = (item % tiles) * kTile;
      softmax_columns<kMode>(x + o * R * inner, y + o * R * inner, R, inner, i0,
                             std::min(kTile, inner - i0));
    }
  }
#if defined(__x86_64__) && defined(__GNUC__)
  __attribute__((target("avx2"))) static void rows_avx2(const T* x, T* y, int64_t R, int64_t begin,
                                                        int64_t end) {
    for (int64_t o = begin; o < end; ++o) softmax_row<kMode>(x + o * R, y + o * R, R);
  }
  __attribute__((target("avx512f"))) static void rows_avx512(const T* x, T* y, int64_t R,
                                                             int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) softmax_row<kMode>(x + o * R, y + o * R, R);
  }
  __attribute__((target("avx2"))) static void tiles_avx2(const T* x, T* y, int64_t R, int64_t inner,
                                                         int64_t tiles, int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / tiles, i0 = (item % tiles) * kTile;
      softmax_columns<kMode>(x + o * R * inner, y + o * R * inner, R, inner, i0,
                             std::min(kTile, inner - i0));
    }
  }
  __attribute__((target("avx512f"))) static void tiles_avx512(const T* x, T* y, int64_t R,
                                                              int64_t inner, int64_t tiles,
                                                              int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / tiles, i0 = (item % tiles) * kTile;
      softmax_columns<kMode>(x + o * R * inner, y + o * R * inner, R, inner, i0,
                             std::min(kTile, inner - i0));
    }
  }
#endif
  using RowsFn = void (*)(const T*, T*, int64_t, int64_t, int64_t);
  using TilesFn = void (*)(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);
  static RowsFn pick_rows() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (cpu_has_avx512f()) return rows_avx512;
    if (cpu_has_avx2()) return rows_avx2;
#endif
    return rows;
  }
  static TilesFn pick_tiles() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (cpu_has_avx512f()) return tiles_avx512;
    if (cpu_has_avx2()) return tiles_avx2;
#endif
    return tiles;
  }
};

template <Mode kMode, class T>
void softmax_typed(const T* x, T* y, int64_t outer, int64_t R, int64_t inner) {
  if (R == 0) return;
  using Loops = SoftmaxLoops<kMode, T>;
  if (inner == 1) {
    static const typename Loops::RowsFn rows = Loops::pick_rows();
    parallel_for(
        outer, [&](int64_t begin, int64_t end) { rows(x, y, R, begin, end); },
        std::max<int64_t>(1, 8192 / R));
    return;
  }
  const int64_t tiles = (inner + kTile - 1) / kTile;
  static const typename Loops::TilesFn tile_fn = Loops::pick_tiles();
  parallel_for(
      outer * tiles, [&](int64_t begin, int64_t end) { tile_fn(x, y, R, inner, tiles, begin, end); },
      std::max<int64_t>(1, 8192 / std::max<int64_t>(1, R * std::min(inner, kTile))));
}

template <Mode kMode, bool kOpset13>
Status softmax_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  const int64_t dflt = kOpset13 ? -1 : 1;
  QUENCH_ASSIGN_OR_RETURN(
      int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", dflt), std::max<int64_t>(rank, 1)));
  const Shape& shape = x.shape();
  int64_t outer = 1, R = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t n = shape[static_cast<size_t>(d)];
    if (d < axis) outer *= n;
    else if (d == axis || !kOpset13) R *= n;
    else inner *= n;
  }
  auto run = [&](const Tensor& in, Tensor& out) -> Status {
    if (in.dtype() == DType::kFloat32) {
      softmax_typed<kMode>(in.data<float>(), out.data<float>(), outer, R, inner);
    } else if (in.dtype() == DType::kFloat64) {
      softmax_typed<kMode>(in.data<double>(), out.data<double>(), outer, R, inner);
    } else {
      return ctx.unsupported("element type " + std::string(dtype_name(in.dtype())));
    }
    return Status();
  };
  if (is_half_type(x.dtype())) {
    Tensor f = to_float32(x);
    QUENCH_RETURN_IF_ERROR(run(f, f));
    return store_from_float32(ctx, f, x.dtype());
  }
  return run(x, ctx.output_like(0, 0));
}

template <Mode kMode>
void add_softmax(std::vector<KernelDef>& rows, const char* op) {
  const auto floats = {kF32, kF64, kF16, kBF16};
  add_rows(rows, op, 1, 12, floats, fn_kernel<softmax_kernel<kMode, false>>);
  add_rows(rows, op, 13, kOpsetMax, floats, fn_kernel<softmax_kernel<kMode, true>>);
}

std::vector<KernelDef> build_table() {
  std::vector<KernelDef> rows;
  add_softmax<Mode::kSoftmax>(rows, "Softmax");
  add_softmax<Mode::kLogSoftmax>(rows, "LogSoftmax");
  add_softmax<Mode::kHardmax>(rows, "Hardmax");
  return rows;
}

}  // namespace

std::span<const KernelDef> softmax_kernels() {
  static const std::vector<KernelDef> table = build_table();
  return table;
}

}  // namespace quench
