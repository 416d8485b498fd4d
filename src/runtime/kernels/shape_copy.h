// quench runtime: the data-movement engine behind the shape family.
//
// Transpose, Slice, Expand, Tile, Split, DepthToSpace and SpaceToDepth are all one operation: fill a
// dense row-major destination from a source read through arbitrary per-dimension element strides
// (0 for a broadcast dimension, negative for a reversed slice). strided_copy() does that for any
// element size. It first drops unit dimensions and merges dimensions that are contiguous in the
// source, then picks a loop:
//   1. innermost source stride 1   -> one memcpy per row,
//   2. innermost source stride 0   -> one fill per row (broadcast),
//   3. another dimension has source stride 1 -> blocked 2-D transpose (NCHW<->NHWC, last two dims),
//   4. otherwise                    -> strided element loop.
// Rows are split over threads with parallel_for; positions are advanced with an odometer, so the hot
// loops do no division.
//
//   // y = transpose(x, perm {0, 2, 3, 1}), x float32 [N, C, H, W]
//   std::vector<int64_t> s = contiguous_strides(x.shape());
//   strided_copy(y.raw_data(), x.raw_data(), 4, {N, H, W, C}, {s[0], s[2], s[3], s[1]});
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/tensor.h"

namespace quench {

// dst[i_0, ..., i_k] (dense, row-major over `shape`) = src[offset + sum_d i_d * src_strides[d]],
// strides and offset in elements of `elem_size` bytes.
void strided_copy(void* dst, const void* src, size_t elem_size, const Shape& shape,
                  const std::vector<int64_t>& src_strides, int64_t src_offset = 0);

// Copies `rows` rows of `row_bytes` bytes between buffers whose rows are `dst_stride` and
// `src_stride` bytes apart, in parallel (long rows are split too, so that axis-0 concatenation of a
// few big tensors still uses every thread).
void copy_rows(void* dst, int64_t dst_stride, const void* src, int64_t src_stride, int64_t rows,
               int64_t row_bytes);

// Fills `count` elements of `elem_size` bytes at dst with the element at `value`.
void fill_elements(void* dst, const void* value, size_t elem_size, int64_t count);

// Calls f(T{}) with an unsigned integer type of `elem_size` bytes (1, 2, 4 or 8): kernels that only
// move elements use it so that every dtype shares one instantiation per width.
template <class F>
void visit_elem_size(size_t elem_size, F&& f) {
  switch (elem_size) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

// A position in a row-major index space with its offset into a strided buffer. advance() steps to
// the next position in row-major order and keeps `offset` = sum coord[d] * strides[d].
struct Odometer {
  std::vector<int64_t> dims, strides, coord;
  int64_t offset = 0;

  Odometer(std::vector<int64_t> d, std::vector<int64_t> s, int64_t base, int64_t linear)
      : dims(std::move(d)), strides(std::move(s)), coord(dims.size(), 0), offset(base) {
    for (size_t i = dims.size(); i-- > 0;) {
      coord[i] = linear % dims[i];
      linear /= dims[i];
      offset += coord[i] * strides[i];
    }
  }
  void advance() {
    for (size_t i = dims.size(); i-- > 0;) {
      offset += strides[i];
      if (++coord[i] < dims[i]) return;
      offset -= strides[i] * dims[i];
      coord[i] = 0;
    }
  }
};

// Bytes of one scalar element of `dtype` holding `value` (converted the way Cast does), for fill
// values given as float attributes (Pad's `value`, Resize's `extrapolation_value`).
std::vector<unsigned char> scalar_bytes(DType dtype, double value);

}  // namespace quench
