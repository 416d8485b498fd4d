#include "runtime/kernels/kernel_util.h"

#include <algorithm>

namespace quench {

Result<int64_t> normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    return ctx.invalid(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank) + " (allowed: [" + std::to_string(-rank) + ", " +
                       std::to_string(rank - 1) + "])");
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> tensor_to_int64s(const Tensor& t) { return t.to_int64_vector(); }

Result<Shape> broadcast_shapes(const KernelContext& ctx, const std::vector<const Shape*>& shapes) {
  size_t rank = 0;
  for (const Shape* s : shapes) rank = std::max(rank, s->size());
  Shape out(rank, 1);
  for (const Shape* s : shapes) {
    size_t off = rank - s->size();
    for (size_t i = 0; i < s->size(); ++i) {
      int64_t d = (*s)[i];
      int64_t& o = out[off + i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string all;
      for (const Shape* t : shapes) all += (all.empty() ? "" : " and ") + shape_to_string(*t);
      return ctx.invalid("shapes " + all + " cannot be broadcast (dimension " + std::to_string(i) +
                         ": " + std::to_string(d) + " vs " + std::to_string(o) + ")");
    }
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out_shape) {
  std::vector<int64_t> strides(out_shape.size(), 0);
  size_t off = out_shape.size() - in.size();
  int64_t s = 1;
  for (size_t i = in.size(); i-- > 0;) {
    strides[off + i] = in[i] == 1 ? 0 : s;
    s *= in[i];
  }
  return strides;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

}  // namespace quench
