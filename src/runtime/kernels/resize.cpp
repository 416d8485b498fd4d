// Kernels of the resize family: Resize (opsets 10-19) and Upsample (7-9). See runtime/registry.h.
//
// This file reads the node: attributes at kernel creation (a bad attribute fails the executor's
// creation, naming the node), scales / sizes / roi inputs at run time, and turns them into one
// ResizeAxis per dimension. resize_impl.cpp does the interpolation.
//
// Opset differences handled here:
//   Upsample-7       scales attribute; Upsample-9 and Resize-10: scales input 1. All three use
//                    asymmetric coordinates and the legacy nearest rounding (floor when upscaling,
//                    ceil when downscaling).
//   Resize-11..      inputs X, roi, scales, sizes (13: roi and scales optional); exactly one of
//                    scales and sizes; coordinate_transformation_mode, nearest_mode, cubic.
//   Resize-18..      axes, keep_aspect_ratio_policy, antialias; 19: half_pixel_symmetric.
#include <cmath>

#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/resize_impl.h"
#include "runtime/kernels/shape_ops.h"
#include "runtime/registry.h"

namespace quench {

namespace {

enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

class ResizeKernel final : public OpKernel {
 public:
  ResizeKernel(ResizeConfig cfg, bool legacy, AspectPolicy policy, std::vector<int64_t> axes)
      : cfg_(cfg), legacy_(legacy), policy_(policy), axes_attr_(std::move(axes)) {}

  Status compute(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    std::vector<int64_t> axes = axes_attr_;
    if (axes.empty()) {
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    }
    QUENCH_ASSIGN_OR_RETURN(axes, normalize_axes(ctx, axes, rank));
    const size_t n = axes.size();

    std::vector<double> scales, roi;
    std::vector<int64_t> sizes;
    auto non_empty = [&](size_t i) { return ctx.has_input(i) && ctx.input(i).numel() > 0; };
    if (legacy_) {
      if (ctx.has_input(1)) {
        scales = ctx.input(1).to_double_vector();
      } else if (const Attribute* a = ctx.node().attr("scales")) {
        scales.assign(a->floats.begin(), a->floats.end());
      } else {
        return ctx.invalid("scales are missing");
      }
    } else {
      if (non_empty(1)) roi = ctx.input(1).to_double_vector();
      if (non_empty(2)) scales = ctx.input(2).to_double_vector();
      if (non_empty(3)) {
        QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, ctx.input(3), "sizes"));
        sizes = tensor_to_int64s(ctx.input(3));
      }
      if (!scales.empty() && !sizes.empty()) {
        return ctx.invalid("scales and sizes are both given; exactly one is allowed");
      }
      if (scales.empty() && sizes.empty()) return ctx.invalid("neither scales nor sizes is given");
    }
    if (!sizes.empty() ? sizes.size() != n : scales.size() != n) {
      return ctx.invalid(std::string(sizes.empty() ? "scales" : "sizes") + " have " +
                         std::to_string(sizes.empty() ? scales.size() : sizes.size()) +
                         " entries; input " + x.describe() + " needs " + std::to_string(n));
    }

    std::vector<ResizeAxis> ax(static_cast<size_t>(rank));
    for (int64_t d = 0; d < rank; ++d) {
      ax[static_cast<size_t>(d)].in = x.dim(static_cast<int>(d));
      ax[static_cast<size_t>(d)].out = x.dim(static_cast<int>(d));
    }
    if (!sizes.empty()) {
      double common = policy_ == AspectPolicy::kNotLarger ? INFINITY : 0.0;
      for (size_t i = 0; i < n; ++i) {
        ResizeAxis& a = ax[static_cast<size_t>(axes[i])];
        if (sizes[i] <= 0 || a.in <= 0) {
          return ctx.invalid("sizes " + ints_to_string(sizes) + " must be positive for input " +
                             x.describe());
        }
        a.out = sizes[i];
        a.scale = static_cast<double>(a.out) / static_cast<double>(a.in);
        common = policy_ == AspectPolicy::kNotLarger ? std::min(common, a.scale) : std::max(common, a.scale);
      }
      if (policy_ != AspectPolicy::kStretch) {
        for (size_t i = 0; i < n; ++i) {
          ResizeAxis& a = ax[static_cast<size_t>(axes[i])];
          a.scale = common;
          a.out = static_cast<int64_t>(common * static_cast<double>(a.in) + 0.5);
        }
      }
    } else {
      for (size_t i = 0; i < n; ++i) {
        ResizeAxis& a = ax[static_cast<size_t>(axes[i])];
        const float s = static_cast<float>(scales[i]);
        if (!(s > 0.0f) || !std::isfinite(s)) {
          return ctx.invalid("scales must be positive, got " + std::to_string(scales[i]));
        }
        a.scale = s;
        // float arithmetic as ONNX Runtime does it: floor(4 * 0.7f) is 2, floor(10 * 0.7f) is 7.
        a.out = static_cast<int64_t>(std::floor(static_cast<float>(a.in) * s));
      }
    }
    if (cfg_.coord == CoordMode::kTfCropAndResize && !roi.empty()) {
      if (roi.size() != 2 * n) {
        return ctx.invalid("roi has " + std::to_string(roi.size()) + " entries; tf_crop_and_resize on " +
                           x.describe() + " needs 2 * " + std::to_string(n));
      }
      for (size_t i = 0; i < n; ++i) {
        ax[static_cast<size_t>(axes[i])].roi_start = roi[i];
        ax[static_cast<size_t>(axes[i])].roi_end = roi[i + n];
      }
    }
    Shape out_shape;
    for (const ResizeAxis& a : ax) out_shape.push_back(a.out);
    Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
    Status s = resize_run(cfg_, ax, x, y);
    if (!s.ok()) return Status(s.code(), ctx.node().label() + ": " + s.message());
    return Status();
  }

 private:
  ResizeConfig cfg_;
  bool legacy_;
  AspectPolicy policy_;
  std::vector<int64_t> axes_attr_;
};

Status bad_attr(const KernelInfo& info, const std::string& name, const std::string& value,
                const char* allowed) {
  return Status::invalid(info.node.label() + ": " + name + " \"" + value + "\" is not one of " + allowed);
}

Result<ResizeMode> parse_mode(const KernelInfo& info, bool legacy) {
  const std::string m = info.node.attr_string("mode", "nearest");
  if (m == "nearest") return ResizeMode::kNearest;
  if (m == "linear" || (legacy && m == "bilinear")) return ResizeMode::kLinear;
  if (m == "cubic" && !legacy) return ResizeMode::kCubic;
  return bad_attr(info, "mode", m, legacy ? "nearest, linear" : "nearest, linear, cubic");
}

Result<std::unique_ptr<OpKernel>> make_resize(const KernelInfo& info, bool legacy) {
  const Node& node = info.node;
  ResizeConfig cfg;
  QUENCH_ASSIGN_OR_RETURN(cfg.mode, parse_mode(info, legacy));
  AspectPolicy policy = AspectPolicy::kStretch;
  std::vector<int64_t> axes;
  if (legacy) {
    cfg.coord = CoordMode::kAsymmetric;
    cfg.nearest = NearestMode::kLegacy;
  } else {
    const std::string c = node.attr_string("coordinate_transformation_mode", "half_pixel");
    if (c == "half_pixel") cfg.coord = CoordMode::kHalfPixel;
    else if (c == "half_pixel_symmetric") cfg.coord = CoordMode::kHalfPixelSymmetric;
    else if (c == "pytorch_half_pixel") cfg.coord = CoordMode::kPytorchHalfPixel;
    else if (c == "align_corners") cfg.coord = CoordMode::kAlignCorners;
    else if (c == "asymmetric") cfg.coord = CoordMode::kAsymmetric;
    else if (c == "tf_crop_and_resize") cfg.coord = CoordMode::kTfCropAndResize;
    else if (c == "tf_half_pixel_for_nn") cfg.coord = CoordMode::kTfHalfPixelForNn;
    else {
      return bad_attr(info, "coordinate_transformation_mode", c,
                      "half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, "
                      "asymmetric, tf_crop_and_resize, tf_half_pixel_for_nn");
    }
    const std::string nm = node.attr_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") cfg.nearest = NearestMode::kRoundPreferFloor;
    else if (nm == "round_prefer_ceil") cfg.nearest = NearestMode::kRoundPreferCeil;
    else if (nm == "floor") cfg.nearest = NearestMode::kFloor;
    else if (nm == "ceil") cfg.nearest = NearestMode::kCeil;
    else return bad_attr(info, "nearest_mode", nm, "round_prefer_floor, round_prefer_ceil, floor, ceil");
    cfg.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
    cfg.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
    cfg.extrapolation_value = node.attr_float("extrapolation_value", 0.0f);
    cfg.antialias = node.attr_int("antialias", 0) != 0;
    axes = node.attr_ints("axes");
    const std::string p = node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (p == "stretch") policy = AspectPolicy::kStretch;
    else if (p == "not_larger") policy = AspectPolicy::kNotLarger;
    else if (p == "not_smaller") policy = AspectPolicy::kNotSmaller;
    else return bad_attr(info, "keep_aspect_ratio_policy", p, "stretch, not_larger, not_smaller");
  }
  return std::unique_ptr<OpKernel>(new ResizeKernel(cfg, legacy, policy, std::move(axes)));
}

Result<std::unique_ptr<OpKernel>> make_resize_kernel(const KernelInfo& info) {
  return make_resize(info, info.opset < 11);
}

Result<std::unique_ptr<OpKernel>> make_upsample_kernel(const KernelInfo& info) {
  return make_resize(info, true);
}

const KernelDef kTable[] = {
    {"", "Resize", 10, kOpsetMax, DType::kUndefined, make_resize_kernel},
    {"", "Upsample", 7, kOpsetMax, DType::kUndefined, make_upsample_kernel},
};

}  // namespace

std::span<const KernelDef> resize_kernels() { return kTable; }

}  // namespace quench
