#include "runtime/kernels/reduce_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "runtime/kernels/unary_math.h"

namespace quench {

namespace {

// Folds. A is the accumulator type (double for float data). Conditions use | rather than ||: a
// short-circuit is control flow, which stops vectorization.
struct SumFold {
  template <class A>
  static A init() { return A(0); }
  template <class A>
  static A apply(A a, A b) { return a + b; }
};
struct ProdFold {
  template <class A>
  static A init() { return A(1); }
  template <class A>
  static A apply(A a, A b) { return a * b; }
};
// NaN wins, as in numpy.max.
struct MaxFold {
  template <class A>
  static A init() {
    if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::lowest();
  }
  template <class A>
  static A apply(A a, A b) {
    if constexpr (std::is_floating_point_v<A>) return select((b > a) | (b != b), b, a);
    else return b > a ? b : a;
  }
};
struct MinFold {
  template <class A>
  static A init() {
    if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::max();
  }
  template <class A>
  static A apply(A a, A b) {
    if constexpr (std::is_floating_point_v<A>) return select((b < a) | (b != b), b, a);
    else return b < a ? b : a;
  }
};

// Element maps applied before the first fold.
struct NoMap {
  template <class T>
  T operator()(T x) const { return x; }
};
struct AbsMap {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) return std::fabs(x);
    else if constexpr (std::is_signed_v<T>) {
      return x < 0 ? static_cast<T>(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x)) : x;
    }
    else return x;
  }
};
struct SquareMap {
  template <class T>
  T operator()(T x) const { return x * x; }
};

// Accumulator type: double for floating data; for integers, the 64-bit type of the same signedness
// for Sum / Prod (wrapping: unsigned), the data type for Max / Min.
template <class T, class Fold>
using Accum = std::conditional_t<
    std::is_floating_point_v<T>, double,
    std::conditional_t<std::is_same_v<Fold, MaxFold> || std::is_same_v<Fold, MinFold>, T,
                       uint64_t>>;

// Lane type: float data folds in float lanes, everything else in the accumulator type.
template <class In, class A>
using Lane = std::conditional_t<std::is_same_v<In, float>, float, A>;

constexpr int64_t kRowStretch = 1024;  // elements of a row folded in float before going to double
constexpr int64_t kColStretch = 64;    // rows of a column block folded in float
constexpr int64_t kColTile = 256;      // inner elements per column tile

// One stretch of a row: n <= kRowStretch contiguous elements, folded from the identity.
template <class In, class A, class Fold, class Map>
A fold_stretch(const In* x, int64_t n, Map map) {
  using L = Lane<In, A>;
  // Two SSE registers of lanes. Left to its default, GCC fully unrolls the lane loop and then fails
  // to SLP-vectorize the selects of Max / Min; kept as a loop it vectorizes for every fold.
  constexpr int kLanes = sizeof(L) == 4 ? 8 : 4;
  L lane[kLanes];
  for (int l = 0; l < kLanes; ++l) lane[l] = Fold::template init<L>();
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
#pragma GCC unroll 1
    for (int l = 0; l < kLanes; ++l) lane[l] = Fold::apply(lane[l], static_cast<L>(map(x[k + l])));
  }
  A acc = Fold::template init<A>();
  for (int l = 0; l < kLanes; ++l) acc = Fold::apply(acc, static_cast<A>(lane[l]));
  for (; k < n; ++k) acc = Fold::apply(acc, static_cast<A>(map(x[k])));
  return acc;
}

template <class In, class A, class Fold, class Map>
A fold_row(const In* x, int64_t n, Map map) {
  A acc = Fold::template init<A>();
  for (int64_t j = 0; j < n; j += kRowStretch) {
    acc = Fold::apply(acc, fold_stretch<In, A, Fold>(x + j, std::min(kRowStretch, n - j), map));
  }
  return acc;
}

// dst[o] = fold over x[o, 0..R).
template <class In, class A, class Fold, class Map>
void fold_rows(const In* x, A* dst, int64_t outer, int64_t R, Map map) {
  const int64_t stretches = (R + kRowStretch - 1) / kRowStretch;
  if (outer >= num_threads() || stretches < 4) {
    parallel_for(
        outer,
        [&](int64_t begin, int64_t end) {
          for (int64_t o = begin; o < end; ++o) dst[o] = fold_row<In, A, Fold>(x + o * R, R, map);
        },
        std::max<int64_t>(1, 32768 / std::max<int64_t>(R, 1)));
    return;
  }
  // Few long rows: fold the stretches of each row in parallel, then combine them in order (the
  // same arithmetic as fold_row).
  std::vector<A> part(static_cast<size_t>(stretches));
  for (int64_t o = 0; o < outer; ++o) {
    const In* row = x + o * R;
    parallel_for(stretches, [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) {
        int64_t j = s * kRowStretch;
        part[s] = fold_stretch<In, A, Fold>(row + j, std::min(kRowStretch, R - j), map);
      }
    });
    A acc = Fold::template init<A>();
    for (int64_t s = 0; s < stretches; ++s) acc = Fold::apply(acc, part[s]);
    dst[o] = acc;
  }
}

// dst[o, i] = fold over x[o, 0..R, i] for i < inner, in tiles of kColTile.
template <class In, class A, class Fold, class Map>
void fold_columns(const In* x, A* dst, int64_t outer, int64_t R, int64_t inner, Map map) {
  using L = Lane<In, A>;
  const int64_t tiles = (inner + kColTile - 1) / kColTile;
  parallel_for(
      outer * tiles,
      [&](int64_t begin, int64_t end) {
        L lane[kColTile];
        A acc[kColTile];
        for (int64_t item = begin; item < end; ++item) {
          const int64_t o = item / tiles, i0 = (item % tiles) * kColTile;
          const int64_t w = std::min(kColTile, inner - i0);
          for (int64_t i = 0; i < w; ++i) acc[i] = Fold::template init<A>();
          for (int64_t r0 = 0; r0 < R; r0 += kColStretch) {
            const int64_t r1 = std::min(R, r0 + kColStretch);
            for (int64_t i = 0; i < w; ++i) lane[i] = Fold::template init<L>();
            for (int64_t r = r0; r < r1; ++r) {
              const In* row = x + (o * R + r) * inner + i0;
              for (int64_t i = 0; i < w; ++i) lane[i] = Fold::apply(lane[i], static_cast<L>(map(row[i])));
            }
            for (int64_t i = 0; i < w; ++i) acc[i] = Fold::apply(acc[i], static_cast<A>(lane[i]));
          }
          for (int64_t i = 0; i < w; ++i) dst[o * inner + i0 + i] = acc[i];
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(R * std::min(inner, kColTile), 1)));
}

template <class In, class A, class Fold, class Map>
void fold_block(const In* x, A* dst, int64_t outer, int64_t R, int64_t inner, Map map) {
  if (inner == 1) fold_rows<In, A, Fold>(x, dst, outer, R, map);
  else fold_columns<In, A, Fold>(x, dst, outer, R, inner, map);
}

struct Block {
  int64_t size;
  bool reduced;
};

template <class T, class Fold, class Map, class Post>
void reduce_typed(const T* src, const Shape& shape, const std::vector<bool>& reduced, T* dst,
                  Map map, Post post) {
  using A = Accum<T, Fold>;
  std::vector<Block> blocks;
  int64_t count = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d]) count *= shape[d];
    if (shape[d] == 1) continue;
    if (!blocks.empty() && blocks.back().reduced == reduced[d]) blocks.back().size *= shape[d];
    else blocks.push_back({shape[d], reduced[d]});
  }
  int64_t total = shape_numel(shape);
  int64_t out_n = total / std::max<int64_t>(1, count);
  if (count == 0) out_n = [&] {  // an empty reduced axis: the kept dimensions still count
    int64_t n = 1;
    for (size_t d = 0; d < shape.size(); ++d) if (!reduced[d]) n *= shape[d];
    return n;
  }();
  std::vector<A> acc;
  bool first = true;
  // Fold reduced blocks from the innermost outwards.
  while (true) {
    int b = -1;
    for (int i = static_cast<int>(blocks.size()) - 1; i >= 0; --i) {
      if (blocks[i].reduced) {
        b = i;
        break;
      }
    }
    if (b < 0) break;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < b; ++i) outer *= blocks[i].size;
    for (size_t i = b + 1; i < blocks.size(); ++i) inner *= blocks[i].size;
    std::vector<A> next(static_cast<size_t>(outer * inner));
    if (first) fold_block<T, A, Fold>(src, next.data(), outer, blocks[b].size, inner, map);
    else fold_block<A, A, Fold>(acc.data(), next.data(), outer, blocks[b].size, inner, NoMap{});
    acc.swap(next);
    first = false;
    blocks.erase(blocks.begin() + b);
  }
  if (first) {  // nothing reduced: each element alone
    parallel_for(total, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = post(static_cast<A>(map(src[i])), 1);
    }, 1 << 15);
    return;
  }
  for (int64_t i = 0; i < out_n; ++i) dst[i] = post(acc[i], count);
}

template <class T, class Fold, class Map>
void reduce_with(const T* src, const Shape& shape, const std::vector<bool>& reduced, T* dst,
                 Map map, ReduceKind kind) {
  using A = Accum<T, Fold>;
  auto post = [kind](A a, int64_t count) -> T {
    if constexpr (std::is_floating_point_v<T>) {
      switch (kind) {
        case ReduceKind::kMean: return static_cast<T>(a / static_cast<double>(count));
        case ReduceKind::kL2: return static_cast<T>(std::sqrt(a));
        case ReduceKind::kLogSum: return static_cast<T>(std::log(a));
        default: return static_cast<T>(a);
      }
    } else {
      if (kind == ReduceKind::kMean && count > 0) {
        // Integer mean truncates toward zero.
        if constexpr (std::is_signed_v<T>) {
          return static_cast<T>(static_cast<int64_t>(a) / count);
        } else {
          return static_cast<T>(static_cast<uint64_t>(a) / static_cast<uint64_t>(count));
        }
      }
      return static_cast<T>(a);
    }
  };
  reduce_typed<T, Fold>(src, shape, reduced, dst, map, post);
}

}  // namespace

Shape reduced_shape(const Shape& src, const std::vector<int64_t>& axes, bool keepdims) {
  Shape out;
  for (size_t d = 0; d < src.size(); ++d) {
    bool r = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end();
    if (!r) out.push_back(src[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

Status reduce_tensor(const Tensor& src, const std::vector<int64_t>& axes, ReduceKind kind,
                     Tensor& dst) {
  std::vector<bool> reduced(src.shape().size(), false);
  for (int64_t a : axes) {
    if (a < 0 || a >= src.rank()) return Status::internal("reduce_tensor: axis out of range");
    reduced[static_cast<size_t>(a)] = true;
  }
  if (dst.dtype() != src.dtype()) return Status::internal("reduce_tensor: dtype mismatch");
  return visit_numeric(src.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, int16_t> ||
                  std::is_same_v<T, uint16_t>) {
      return Status::unsupported("reduction of element type " + std::string(dtype_name(src.dtype())));
    } else {
      const T* s = src.data<T>();
      T* d = dst.data<T>();
      const Shape& shape = src.shape();
      switch (kind) {
        case ReduceKind::kSum:
        case ReduceKind::kMean:
        case ReduceKind::kLogSum:
          reduce_with<T, SumFold>(s, shape, reduced, d, NoMap{}, kind);
          break;
        case ReduceKind::kL1: reduce_with<T, SumFold>(s, shape, reduced, d, AbsMap{}, kind); break;
        case ReduceKind::kL2:
        case ReduceKind::kSumSquare:
          reduce_with<T, SumFold>(s, shape, reduced, d, SquareMap{}, kind);
          break;
        case ReduceKind::kMax: reduce_with<T, MaxFold>(s, shape, reduced, d, NoMap{}, kind); break;
        case ReduceKind::kMin: reduce_with<T, MinFold>(s, shape, reduced, d, NoMap{}, kind); break;
        case ReduceKind::kProd: reduce_with<T, ProdFold>(s, shape, reduced, d, NoMap{}, kind); break;
      }
      return Status();
    }
  });
}

}  // namespace quench
