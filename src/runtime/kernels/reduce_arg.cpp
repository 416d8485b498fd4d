// ArgMax / ArgMin: int64 index of the first (or, with select_last_index=1, the last) extreme value
// along one axis. The data is viewed as [outer, R, inner]; a contiguous row (inner == 1) is folded
// for its extreme value and then searched; for inner > 1 the running best values and indices are
// kept for a tile of `inner` positions so that the scan over R vectorizes.
// NaN values are ignored unless every value is NaN (then the result is index 0).
#include <algorithm>
#include <climits>
#include <limits>
#include <type_traits>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "runtime/kernels/elementwise_ops.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/unary_math.h"

namespace quench {

namespace {

constexpr int64_t kArgTile = 256;

// better(v, best): v replaces the running best.
template <bool kMax, bool kLast, class T>
inline bool better(T v, T best) {
  if constexpr (kMax) return kLast ? v >= best : v > best;
  else return kLast ? v <= best : v < best;
}

// Index of the extreme value of a contiguous row: the extreme by a vectorized lane fold (NaN never
// wins a comparison, so NaNs are skipped), then the first (or last) position holding it. An
// all-NaN row matches nothing and gives 0.
template <bool kMax, bool kLast, class T>
int64_t arg_row(const T* x, int64_t n) {
  constexpr int kLanes = 32 / sizeof(T) < 2 ? 2 : 32 / sizeof(T);
  const T init = kMax ? (std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::lowest())
                      : (std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::max());
  T lane[kLanes];
  for (int l = 0; l < kLanes; ++l) lane[l] = init;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma GCC unroll 1
    for (int l = 0; l < kLanes; ++l) lane[l] = select(better<kMax, false>(x[i + l], lane[l]), x[i + l], lane[l]);
  }
  T m = init;
  for (int l = 0; l < kLanes; ++l) m = better<kMax, false>(lane[l], m) ? lane[l] : m;
  for (; i < n; ++i) m = better<kMax, false>(x[i], m) ? x[i] : m;
  if constexpr (kLast) {
    for (int64_t r = n; r-- > 0;) {
      if (x[r] == m) return r;
    }
  } else {
    for (int64_t r = 0; r < n; ++r) {
      if (x[r] == m) return r;
    }
  }
  return 0;
}

// Positions [0, w) of `inner`-strided rows base[r * inner + i], r < R. The running indices have
// the width of T (I), which is what lets GCC vectorize the loop; a function of its own so that
// the sizes are plain values rather than captured references.
template <bool kMax, bool kLast, class T, class I>
void arg_tile(const T* base, int64_t R, int64_t inner, int64_t w, int64_t* out) {
  T best[kArgTile];
  I idx[kArgTile];
  for (int64_t i = 0; i < w; ++i) {
    best[i] = base[i];
    idx[i] = 0;
  }
  for (int64_t r = 1; r < R; ++r) {
    const T* row = base + r * inner;
    const I ri = static_cast<I>(r);
    for (int64_t i = 0; i < w; ++i) {
      // | and & rather than || and &&, and both values always written: no control flow (and no
      // conditional store), so the loop vectorizes.
      const T v = row[i], b = best[i];
      const bool take = better<kMax, kLast>(v, b) | ((b != b) & (v == v));
      best[i] = select(take, v, b);
      idx[i] = take ? ri : idx[i];
    }
  }
  for (int64_t i = 0; i < w; ++i) out[i] = idx[i];
}

template <bool kMax, bool kLast, class T>
void arg_typed(const T* x, int64_t* y, int64_t outer, int64_t R, int64_t inner) {
  if (inner == 1) {
    parallel_for(
        outer,
        [&](int64_t begin, int64_t end) {
          for (int64_t o = begin; o < end; ++o) y[o] = arg_row<kMax, kLast>(x + o * R, R);
        },
        std::max<int64_t>(1, 32768 / R));
    return;
  }
  const int64_t tiles = (inner + kArgTile - 1) / kArgTile;
  parallel_for(
      outer * tiles,
      [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t o = item / tiles, i0 = (item % tiles) * kArgTile;
          const int64_t w = std::min(kArgTile, inner - i0);
          if (sizeof(T) == 8 || R > INT32_MAX) {
            arg_tile<kMax, kLast, T, int64_t>(x + o * R * inner + i0, R, inner, w, y + o * inner + i0);
          } else {
            arg_tile<kMax, kLast, T, int32_t>(x + o * R * inner + i0, R, inner, w, y + o * inner + i0);
          }
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(1, R * std::min(inner, kArgTile))));
}

template <bool kMax>
Status arg_kernel(KernelContext& ctx) {
  const Tensor& x_in = ctx.input(0);
  const int64_t rank = x_in.rank();
  QUENCH_ASSIGN_OR_RETURN(int64_t axis,
                          normalize_axis(ctx, ctx.node().attr_int("axis", 0), std::max<int64_t>(rank, 1)));
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  const bool last = ctx.node().attr_int("select_last_index", 0) != 0;
  const Tensor x = is_half_type(x_in.dtype()) ? to_float32(x_in) : x_in;
  const Shape& shape = x.shape();
  const int64_t R = rank == 0 ? 1 : shape[static_cast<size_t>(axis)];
  if (R == 0) {
    return ctx.invalid("axis " + std::to_string(axis) + " of input " + shape_to_string(shape) +
                       " is empty: no element to select");
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= shape[static_cast<size_t>(d)];
  Shape out_shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (d != axis) out_shape.push_back(shape[static_cast<size_t>(d)]);
    else if (keepdims) out_shape.push_back(1);
  }
  Tensor& y = ctx.allocate_output(0, DType::kInt64, out_shape);
  return visit_numeric(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      return ctx.unsupported("element type bool");
    } else {
      if (last) arg_typed<kMax, true>(x.data<T>(), y.data<int64_t>(), outer, R, inner);
      else arg_typed<kMax, false>(x.data<T>(), y.data<int64_t>(), outer, R, inner);
      return Status();
    }
  });
}

}  // namespace

std::vector<KernelDef> reduce_arg_rows() {
  std::vector<KernelDef> rows;
  const auto types = {kF32, kF64, kF16, kBF16, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64};
  add_rows(rows, "ArgMax", 1, kOpsetMax, types, fn_kernel<arg_kernel<true>>);
  add_rows(rows, "ArgMin", 1, kOpsetMax, types, fn_kernel<arg_kernel<false>>);
  return rows;
}

}  // namespace quench
