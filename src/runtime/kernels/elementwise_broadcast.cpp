#include "runtime/kernels/elementwise_broadcast.h"

#include "runtime/kernels/kernel_util.h"

namespace quench {

BroadcastPlan plan_broadcast(const Shape& out_shape, const std::vector<const Shape*>& inputs) {
  const size_t num = inputs.size();
  std::vector<std::vector<int64_t>> full(num);
  for (size_t k = 0; k < num; ++k) full[k] = broadcast_strides(*inputs[k], out_shape);

  BroadcastPlan plan;
  plan.numel = shape_numel(out_shape);
  plan.strides.assign(num, {});
  // Walk from the innermost dimension outwards, merging a dimension into the block inside it when
  // every input continues that block: its stride equals the block's stride times the block's size
  // (0 == 0 * size covers inputs that repeat across both).
  std::vector<int64_t> dims_rev;
  std::vector<std::vector<int64_t>> strides_rev(num);
  for (size_t d = out_shape.size(); d-- > 0;) {
    if (out_shape[d] == 1) continue;
    bool merge = !dims_rev.empty();
    for (size_t k = 0; k < num && merge; ++k) {
      merge = full[k][d] == strides_rev[k].back() * dims_rev.back();
    }
    if (merge) {
      dims_rev.back() *= out_shape[d];
    } else {
      dims_rev.push_back(out_shape[d]);
      for (size_t k = 0; k < num; ++k) strides_rev[k].push_back(full[k][d]);
    }
  }
  if (dims_rev.empty()) {  // every dimension is 1: a single element
    dims_rev.push_back(1);
    for (size_t k = 0; k < num; ++k) strides_rev[k].push_back(0);
  }
  plan.dims.assign(dims_rev.rbegin(), dims_rev.rend());
  for (size_t k = 0; k < num; ++k) plan.strides[k].assign(strides_rev[k].rbegin(), strides_rev[k].rend());
  return plan;
}

}  // namespace quench
