// quench runtime: the interpolation core of Resize and Upsample (resize.cpp parses the node).
//
// Resize is separable: along each resized axis, output index x reads a few input indices with
// weights that depend only on x (the "taps"). compute_taps() turns the coordinate transformation and
// the interpolation mode into those taps, once per axis; then
//   - nearest is one gather over all axes at once (works for every dtype: it only moves bytes),
//   - linear and cubic run one pass per resized axis over float32 data
//     (out[o, x, i] = sum_k w[x][k] * in[o, idx[x][k], i]), other dtypes convert through float32.
// The semantics follow the ONNX specification and its reference implementation: coordinates are
// computed in double, neighbours outside the input repeat the edge value (or get weight 0 with
// exclude_outside), and antialias stretches the linear / cubic filter by 1/scale when downscaling.
//
//   ResizeConfig cfg;  cfg.mode = ResizeMode::kLinear;
//   std::vector<ResizeAxis> axes = {{1, 1, 1.0}, {3, 3, 1.0}, {4, 8, 2.0}, {4, 8, 2.0}};
//   Tensor y = Tensor::empty(x.dtype(), {1, 3, 8, 8});
//   QUENCH_RETURN_IF_ERROR(resize_run(cfg, axes, x, y));
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quench {

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordMode {
  kHalfPixel,
  kHalfPixelSymmetric,  // opset 19
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
  kTfHalfPixelForNn,  // opset 11 only
};
enum class NearestMode {
  kRoundPreferFloor,
  kRoundPreferCeil,
  kFloor,
  kCeil,
  kLegacy,  // Upsample and Resize-10: floor when upscaling, ceil when downscaling
};

struct ResizeConfig {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation_value = 0.0;  // tf_crop_and_resize, outside the input
};

// One axis of the resize. Axes that are not resized have in == out and scale 1.
struct ResizeAxis {
  int64_t in = 1;
  int64_t out = 1;
  double scale = 1.0;  // out / in as given (scales input) or derived (sizes input)
  double roi_start = 0.0, roi_end = 1.0;  // tf_crop_and_resize only
};

// Input indices and weights of every output index along one axis.
struct AxisTaps {
  int64_t taps = 1;               // per output index
  std::vector<int64_t> index;     // out * taps, clamped into [0, in)
  std::vector<float> weight;      // out * taps (nearest: unused)
  std::vector<uint8_t> extrapolate;  // out; 1: the output takes extrapolation_value
  bool identity = false;          // reads input index x for output index x
};

AxisTaps compute_taps(const ResizeConfig& cfg, const ResizeAxis& axis);

// Resizes x into y (allocated by the caller with the output shape and x's dtype).
Status resize_run(const ResizeConfig& cfg, const std::vector<ResizeAxis>& axes, const Tensor& x,
                  Tensor& y);

}  // namespace quench
