// quench runtime: pooling geometry and the plain reference kernels (MaxPool, AveragePool, LpPool
// and their Global* forms).
//
// pool_geometry() reads kernel_shape, strides, dilations, pads, auto_pad, ceil_mode,
// count_include_pad, storage_order and p, and resolves them into explicit pads and an output
// shape; pool.cpp's oneDNN path and pool_ref() both use it.
//
// Conventions (those of ONNX Runtime, the reference quench is compared with):
//  - ceil_mode rounds the output size up, but a window that would start inside the end padding is
//    dropped (as PyTorch does).
//  - count_include_pad counts padded positions up to the declared end padding, never the extra
//    positions ceil_mode adds past it.
//  - MaxPool's Indices are flattened over (N, C, spatial) in row-major order, or column-major
//    spatial order when storage_order = 1.
//
//   QUENCH_ASSIGN_OR_RETURN(PoolGeometry g, pool_geometry(node, PoolKind::kMax, x.shape()));
//   pool_ref(g, x.data<float>(), y.data<float>(), /*indices=*/nullptr);
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace quench {

enum class PoolKind { kMax, kAverage, kLp };

struct PoolGeometry {
  PoolKind kind = PoolKind::kMax;
  int64_t batch = 0, channels = 0;
  // One entry per spatial axis.
  Shape src_spatial, dst_spatial, kernel, strides, dilations, pads_begin, pads_end;
  // pads_end plus what ceil_mode adds, so that every output window fits the padded input.
  Shape pads_end_ceil;
  bool count_include_pad = false;
  int64_t storage_order = 0;
  float p = 2.0f;  // LpPool

  int spatial_rank() const { return static_cast<int>(src_spatial.size()); }
  Shape src_shape() const;
  Shape dst_shape() const;
  // True when ceil_mode made some window reach past the declared end padding.
  bool ceil_extends() const { return pads_end_ceil != pads_end; }
};

// MaxPool / AveragePool / LpPool on X [N, C, D1..Dk].
Result<PoolGeometry> pool_geometry(const Node& node, PoolKind kind, const Shape& x);
// GlobalMaxPool / GlobalAveragePool / GlobalLpPool: one window covering all spatial axes.
Result<PoolGeometry> global_pool_geometry(const Node& node, PoolKind kind, const Shape& x);

// Reference kernel on plain row-major buffers; indices (MaxPool only) may be null. T is float
// for every kind, and int8_t / uint8_t for MaxPool (opset 12).
template <class T>
void pool_ref(const PoolGeometry& g, const T* x, T* y, int64_t* indices);

}  // namespace quench
