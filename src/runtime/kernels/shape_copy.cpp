#include "runtime/kernels/shape_copy.h"

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/parallel.h"

namespace quench {

namespace {

// Bytes a thread should get at least before parallel_for splits the work further.
constexpr int64_t kParallelBytes = 32 * 1024;

int64_t grain_for(int64_t bytes_per_item) {
  return std::max<int64_t>(1, kParallelBytes / std::max<int64_t>(1, bytes_per_item));
}

// Removes unit dimensions and merges neighbours that are contiguous in the source (this also merges
// runs of broadcast dimensions, whose strides are all 0). Returns false when the copy is empty.
bool simplify(const Shape& shape, const std::vector<int64_t>& strides, std::vector<int64_t>& n,
              std::vector<int64_t>& s) {
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0) return false;
    if (shape[d] == 1) continue;
    if (!n.empty() && s.back() == strides[d] * shape[d]) {
      n.back() *= shape[d];
      s.back() = strides[d];
      continue;
    }
    n.push_back(shape[d]);
    s.push_back(strides[d]);
  }
  return true;
}

// dst[a * da + b] = src[a + b * sb] for a < na, b < nb: one tile of a 2-D transpose.
template <class T>
void transpose_tile_scalar(T* dst, int64_t da, const T* src, int64_t sb, int64_t na, int64_t nb) {
  for (int64_t a = 0; a < na; ++a) {
    T* drow = dst + a * da;
    const T* scol = src + a;
    for (int64_t b = 0; b < nb; ++b) drow[b] = scol[b * sb];
  }
}

template <class T>
void transpose_tile(T* dst, int64_t da, const T* src, int64_t sb, int64_t na, int64_t nb) {
#if defined(__SSE2__)
  // 4x4 blocks of 32-bit elements, 2x2 blocks of 64-bit ones, transposed in registers: four
  // vector loads and four vector stores instead of sixteen scalar pairs. SSE2 is part of x86-64.
  if constexpr (sizeof(T) == 4 || sizeof(T) == 8) {
    constexpr int64_t kB = sizeof(T) == 4 ? 4 : 2;
    const int64_t na_v = na - na % kB, nb_v = nb - nb % kB;
    for (int64_t a = 0; a < na_v; a += kB) {
      for (int64_t b = 0; b < nb_v; b += kB) {
        const T* s0 = src + a + b * sb;
        T* d0 = dst + a * da + b;
        if constexpr (sizeof(T) == 4) {
          __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0));
          __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + sb));
          __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + 2 * sb));
          __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + 3 * sb));
          __m128i t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpacklo_epi32(r2, r3);
          __m128i t2 = _mm_unpackhi_epi32(r0, r1), t3 = _mm_unpackhi_epi32(r2, r3);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d0), _mm_unpacklo_epi64(t0, t1));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d0 + da), _mm_unpackhi_epi64(t0, t1));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d0 + 2 * da), _mm_unpacklo_epi64(t2, t3));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d0 + 3 * da), _mm_unpackhi_epi64(t2, t3));
        } else {
          __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0));
          __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s0 + sb));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d0), _mm_unpacklo_epi64(r0, r1));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d0 + da), _mm_unpackhi_epi64(r0, r1));
        }
      }
    }
    // Edges: the columns past nb_v for all rows, then the rows past na_v.
    if (nb_v < nb) transpose_tile_scalar(dst + nb_v, da, src + nb_v * sb, sb, na_v, nb - nb_v);
    if (na_v < na) transpose_tile_scalar(dst + na_v * da, da, src + na_v, sb, na - na_v, nb);
    return;
  }
#endif
  transpose_tile_scalar(dst, da, src, sb, na, nb);
}

// Case 3: dims[j] has source stride 1 and the innermost dims[k-1] has source stride `sb`. Each task
// moves a strip of `kTile` values of coordinate j for one position of the other dimensions, in
// square tiles so that both the reads and the writes stay within a few cache lines.
template <class T>
void copy_tiled(T* dst, const T* src, const std::vector<int64_t>& n, const std::vector<int64_t>& s,
                int64_t src_offset, size_t j) {
  constexpr int64_t kTile = std::max<int64_t>(8, 64 / static_cast<int64_t>(sizeof(T)));
  const size_t k = n.size();
  const int64_t na = n[j], nb = n[k - 1], sb = s[k - 1];
  std::vector<int64_t> dst_strides(k, 1);
  for (size_t d = k - 1; d-- > 0;) dst_strides[d] = dst_strides[d + 1] * n[d + 1];
  const int64_t da = dst_strides[j];
  // The other dimensions, walked by an odometer over both source and destination offsets.
  std::vector<int64_t> on, os, od;
  for (size_t d = 0; d + 1 < k; ++d) {
    if (d == j) continue;
    on.push_back(n[d]);
    os.push_back(s[d]);
    od.push_back(dst_strides[d]);
  }
  int64_t outer = shape_numel(on);
  int64_t strips = (na + kTile - 1) / kTile;
  parallel_for(
      outer * strips,
      [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
          int64_t o = task / strips, a0 = (task % strips) * kTile;
          int64_t a1 = std::min(na, a0 + kTile);
          int64_t so = src_offset, dof = 0;
          for (size_t d = on.size(); d-- > 0;) {
            int64_t c = o % on[d];
            o /= on[d];
            so += c * os[d];
            dof += c * od[d];
          }
          for (int64_t b0 = 0; b0 < nb; b0 += kTile) {
            transpose_tile<T>(dst + dof + a0 * da + b0, da, src + so + a0 + b0 * sb, sb, a1 - a0,
                              std::min(nb, b0 + kTile) - b0);
          }
        }
      },
      grain_for(kTile * nb * static_cast<int64_t>(sizeof(T))));
}

// Cases 2 and 4: rows of n[k-1] elements read with stride sb (0 = broadcast one value).
template <class T>
void copy_rows_strided(T* dst, const T* src, const std::vector<int64_t>& n,
                       const std::vector<int64_t>& s, int64_t src_offset) {
  const int64_t nb = n.back(), sb = s.back();
  std::vector<int64_t> on(n.begin(), n.end() - 1), os(s.begin(), s.end() - 1);
  int64_t rows = shape_numel(on);
  parallel_for(
      rows,
      [&](int64_t begin, int64_t end) {
        Odometer od(on, os, src_offset, begin);
        for (int64_t r = begin; r < end; ++r, od.advance()) {
          T* d = dst + r * nb;
          const T* p = src + od.offset;
          if (sb == 0) {
            std::fill(d, d + nb, *p);
          } else {
            for (int64_t b = 0; b < nb; ++b) d[b] = p[b * sb];
          }
        }
      },
      grain_for(nb * static_cast<int64_t>(sizeof(T))));
}

}  // namespace

void strided_copy(void* dst, const void* src, size_t elem_size, const Shape& shape,
                  const std::vector<int64_t>& src_strides, int64_t src_offset) {
  std::vector<int64_t> n, s;
  if (!simplify(shape, src_strides, n, s)) return;
  auto* d8 = static_cast<unsigned char*>(dst);
  const auto* s8 = static_cast<const unsigned char*>(src);
  const int64_t es = static_cast<int64_t>(elem_size);
  if (n.empty()) {
    std::memcpy(d8, s8 + src_offset * es, elem_size);
    return;
  }
  const size_t k = n.size();
  if (s.back() == 1) {
    // Case 1: contiguous rows.
    const int64_t row_bytes = n.back() * es;
    std::vector<int64_t> on(n.begin(), n.end() - 1), os(s.begin(), s.end() - 1);
    parallel_for(
        shape_numel(on),
        [&](int64_t begin, int64_t end) {
          Odometer od(on, os, src_offset, begin);
          for (int64_t r = begin; r < end; ++r, od.advance()) {
            std::memcpy(d8 + r * row_bytes, s8 + od.offset * es, static_cast<size_t>(row_bytes));
          }
        },
        grain_for(row_bytes));
    return;
  }
  size_t j = k;
  if (s.back() != 0 && n.back() >= 4) {
    for (size_t d = 0; d + 1 < k; ++d)
      if (s[d] == 1 && n[d] >= 4) j = d;
  }
  visit_elem_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    if (j < k) {
      copy_tiled<T>(static_cast<T*>(dst), static_cast<const T*>(src), n, s, src_offset, j);
    } else {
      copy_rows_strided<T>(static_cast<T*>(dst), static_cast<const T*>(src), n, s, src_offset);
    }
  });
}

void copy_rows(void* dst, int64_t dst_stride, const void* src, int64_t src_stride, int64_t rows,
               int64_t row_bytes) {
  if (rows <= 0 || row_bytes <= 0) return;
  auto* d8 = static_cast<unsigned char*>(dst);
  const auto* s8 = static_cast<const unsigned char*>(src);
  const int64_t pieces = rows >= 16 ? 1 : (row_bytes + kParallelBytes - 1) / kParallelBytes;
  const int64_t piece = (row_bytes + pieces - 1) / pieces;
  parallel_for(
      rows * pieces,
      [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          int64_t r = t / pieces, p0 = (t % pieces) * piece;
          int64_t len = std::min(piece, row_bytes - p0);
          if (len > 0) std::memcpy(d8 + r * dst_stride + p0, s8 + r * src_stride + p0, static_cast<size_t>(len));
        }
      },
      grain_for(piece));
}

void fill_elements(void* dst, const void* value, size_t elem_size, int64_t count) {
  if (count <= 0) return;
  visit_elem_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, value, sizeof(T));
    T* p = static_cast<T*>(dst);
    parallel_for(
        count, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, v); },
        grain_for(static_cast<int64_t>(sizeof(T))));
  });
}

std::vector<unsigned char> scalar_bytes(DType dtype, double value) {
  Tensor src = Tensor::scalar<double>(value);
  Tensor dst = Tensor::empty(dtype, {});
  std::vector<unsigned char> out(dtype_size(dtype), 0);
  if (convert_tensor(src, dst).ok() && !out.empty()) std::memcpy(out.data(), dst.raw_data(), out.size());
  return out;
}

}  // namespace quench
