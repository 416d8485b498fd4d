// quench runtime: Conv / ConvTranspose geometry and the plain reference kernels.
//
// conv_geometry() reads a node's attributes (kernel_shape, strides, dilations, pads, auto_pad,
// group; for ConvTranspose also output_padding and output_shape) together with the shapes of X, W
// and B, checks them, and resolves auto_pad into explicit pads and an output shape. Both the oneDNN
// path (conv.cpp) and the reference loops below use it, so they agree on ONNX semantics by
// construction; the reference loops are the readable statement of what the op computes.
//
//   QUENCH_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(node, x.shape(), w.shape(), &b.shape()));
//   Tensor y = Tensor::empty(DType::kFloat32, g.dst_shape());
//   conv_ref(g, x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), act);
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "runtime/kernels/dnnl_kernels.h"

namespace quench {

struct ConvGeometry {
  bool transpose = false;    // ConvTranspose
  int64_t batch = 0;         // N
  int64_t in_channels = 0;   // C (X dim 1)
  int64_t out_channels = 0;  // M (Y dim 1)
  int64_t group = 1;
  // One entry per spatial axis.
  Shape src_spatial, dst_spatial, kernel, strides, dilations, pads_begin, pads_end;

  int spatial_rank() const { return static_cast<int>(src_spatial.size()); }
  Shape dst_shape() const;
  // Extent of the dilated kernel on spatial axis i: (kernel - 1) * dilation + 1.
  int64_t kernel_extent(int i) const;
};

// Conv: X [N, C, D1..Dk], W [M, C/group, k1..kk], B [M] (b may be null).
Result<ConvGeometry> conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape* b);
// ConvTranspose: X [N, C, D1..Dk], W [C, M/group, k1..kk], B [M] (b may be null).
Result<ConvGeometry> conv_transpose_geometry(const Node& node, const Shape& x, const Shape& w,
                                             const Shape* b);

// Reference kernels: plain row-major float32 buffers, b may be null; act is applied to every
// output element. Up to 3 spatial axes.
void conv_ref(const ConvGeometry& g, const float* x, const float* w, const float* b, float* y,
              const FusedActivation& act);
void conv_transpose_ref(const ConvGeometry& g, const float* x, const float* w, const float* b,
                        float* y, const FusedActivation& act);

}  // namespace quench
