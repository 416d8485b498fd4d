#include "runtime/kernels/shape_copy.h"

#include <algorithm>

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
            int64_t b1 = std::min(nb, b0 + kTile);
            for (int64_t a = a0; a < a1; ++a) {
              T* drow = dst + dof + a * da;
              const T* scol = src + so + a;
              for (int64_t b = b0; b < b1; ++b) drow[b] = scol[b * sb];
            }
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
