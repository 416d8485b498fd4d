// Helpers shared by the kernel families: axes, broadcasting, reading small index tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/kernel.h"

namespace quench {

// Axis in [-rank, rank) -> [0, rank); an error naming the node otherwise.
Result<int64_t> normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank,
                               const char* what = "axis");

// The values of an int32/int64 tensor (shape, axes, pads, starts ... inputs) as int64.
std::vector<int64_t> tensor_to_int64s(const Tensor& t);

// Multidirectional (numpy) broadcasting of two or more shapes. Fails when two dimensions differ and
// neither is 1, naming the node and both shapes.
Result<Shape> broadcast_shapes(const KernelContext& ctx, const std::vector<const Shape*>& shapes);

// Element strides of `in` viewed as `out_shape` (right-aligned; broadcast dimensions get 0), so
// that element index = sum(coord[d] * strides[d]).
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out_shape);

// Row-major strides of a plain tensor of this shape.
std::vector<int64_t> contiguous_strides(const Shape& shape);

}  // namespace quench
