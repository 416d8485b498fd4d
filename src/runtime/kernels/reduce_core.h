// The reduction engine behind Reduce* (and the statistics of the normalization kernels).
//
// The input's dimensions are grouped into alternating kept / reduced blocks (size-1 dimensions
// dropped, neighbours with the same role merged), and the reduced blocks are folded one at a time,
// innermost first. Each fold sees the data as [outer, R, inner]:
//   inner == 1  rows of R contiguous elements, folded in 8 (float) or 4 (double) independent lanes
//               so that the loop vectorizes;
//   inner > 1   R rows of `inner` elements folded element-wise into an accumulator row, which
//               vectorizes over inner. The inner dimension is tiled to keep the accumulators in L1.
// float data is folded in float lanes over short stretches (1024 elements of a row, 64 rows of a
// column) and the stretches are added in double, so long sums keep ~1e-7 relative accuracy without
// paying for double lanes. The split into stretches does not depend on the thread count, so results
// are identical for any number of threads.
//
//   Tensor dst = Tensor::empty(DType::kFloat32, {n, 1});  // keepdims shape of reducing axis 1
//   QUENCH_RETURN_IF_ERROR(reduce_tensor(src, {1}, ReduceKind::kMean, dst));
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace quench {

enum class ReduceKind {
  kSum, kMean, kMax, kMin, kProd,
  kL1,         // sum |x|
  kL2,         // sqrt(sum x^2)
  kSumSquare,  // sum x^2
  kLogSum,     // log(sum x)
};

// Reduces src over `axes` (in [0, rank), unique, any order) into dst: a plain tensor of src's dtype
// whose element count is that of src with the reduced axes removed (its shape is the caller's
// choice, keepdims or not). An empty `axes` reduces nothing: each element goes through the
// element-wise part of the reduction alone (|x| for L1, x^2 for SumSquare, log x for LogSum ...).
// Reducing an empty axis gives the fold's identity: 0 for sums, 1 for Prod, -inf/+inf (lowest/max for
// integers) for Max/Min, NaN for Mean. float32/64, int8/uint8/int32/int64/uint32/uint64 data;
// integer sums and products wrap around.
Status reduce_tensor(const Tensor& src, const std::vector<int64_t>& axes, ReduceKind kind,
                     Tensor& dst);

// Shape of src reduced over axes: reduced dimensions become 1 (keepdims) or are removed.
Shape reduced_shape(const Shape& src, const std::vector<int64_t>& axes, bool keepdims);

}  // namespace quench
