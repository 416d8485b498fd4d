// quench runtime: the kernels of the shape family, shared between its files.
//
// shape.cpp holds the registry table (shape_kernels()) and the ops that only compute shapes or
// constants; the others are grouped by how they move data:
//   shape_layout.cpp  Transpose, Expand, Tile, DepthToSpace, SpaceToDepth, Trilu (strided copies)
//   shape_slice.cpp   Concat, Split, Slice, Pad
//   shape_gather.cpp  Gather, GatherElements, GatherND, Compress, OneHot, NonZero
//   shape_scatter.cpp ScatterND, ScatterElements / Scatter, CumSum
// Every data-movement kernel is registered for any dtype (DType::kUndefined) and moves elements by
// their byte size:
//
//   // a row of shape.cpp's table
//   {"", "Gather", 1, kOpsetMax, DType::kUndefined, fn_kernel<gather_kernel>},
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/kernel.h"

namespace quench {

// shape_layout.cpp
Result<std::unique_ptr<OpKernel>> make_transpose_kernel(const KernelInfo& info);
Status expand_kernel(KernelContext& ctx);
Status tile_kernel(KernelContext& ctx);
Status depth_to_space_kernel(KernelContext& ctx);
Status space_to_depth_kernel(KernelContext& ctx);
Status trilu_kernel(KernelContext& ctx);

// shape_slice.cpp
Status concat_kernel(KernelContext& ctx);
Status split_kernel(KernelContext& ctx);
Status slice_kernel(KernelContext& ctx);
Status pad_kernel(KernelContext& ctx);

// shape_gather.cpp
Status gather_kernel(KernelContext& ctx);
Status gather_elements_kernel(KernelContext& ctx);
Status gather_nd_kernel(KernelContext& ctx);
Status compress_kernel(KernelContext& ctx);
Status one_hot_kernel(KernelContext& ctx);
Status non_zero_kernel(KernelContext& ctx);

// shape_scatter.cpp
Status scatter_nd_kernel(KernelContext& ctx);
Status scatter_elements_kernel(KernelContext& ctx);
Status cum_sum_kernel(KernelContext& ctx);

// Helpers (shape.cpp).

// The int64 values of input `i` when it is given, else of integer-list attribute `attr` when the
// node has it (the opset < 13 form of Squeeze's axes, Split's split, ...), else nullopt.
std::optional<std::vector<int64_t>> ints_from_input_or_attr(const KernelContext& ctx, size_t i,
                                                            const char* attr);
// Normalizes every axis to [0, rank) and rejects repeats; `what` names the list in messages.
Result<std::vector<int64_t>> normalize_axes(const KernelContext& ctx, std::vector<int64_t> axes,
                                            int64_t rank, const char* what = "axes");
// "[1, 2, 3]" for messages.
std::string ints_to_string(const std::vector<int64_t>& v);
// Fails unless `t` holds integers (int32 or int64): index and shape inputs.
Status require_index_tensor(const KernelContext& ctx, const Tensor& t, const char* what);

}  // namespace quench
