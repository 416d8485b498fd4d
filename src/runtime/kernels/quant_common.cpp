#include "runtime/kernels/quant_common.h"

#include <algorithm>

#include "core/dispatch.h"

namespace quench::quant {

bool is_quant_dtype(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
    case DType::kInt4: case DType::kUInt4:
      return true;
    default:
      return false;
  }
}

bool is_float8(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ;
}

QRange qrange(DType t) {
  switch (t) {
    case DType::kInt8: return {-128, 127};
    case DType::kUInt8: return {0, 255};
    case DType::kInt16: return {-32768, 32767};
    case DType::kUInt16: return {0, 65535};
    case DType::kInt4: return {-8, 7};
    case DType::kUInt4: return {0, 15};
    default: return {0, 0};
  }
}

Result<std::vector<float>> read_floats(const KernelContext& ctx, size_t index, const char* what) {
  const Tensor& t = ctx.input(index);
  if (t.dtype() != DType::kFloat32 && t.dtype() != DType::kFloat16 &&
      t.dtype() != DType::kBFloat16) {
    return ctx.unsupported(std::string(what) + " (input " + std::to_string(index) + ") has type " +
                           std::string(dtype_name(t.dtype())) +
                           "; float32, float16 and bfloat16 are supported");
  }
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kFloat32) {
    std::copy_n(t.data<float>(), out.size(), out.data());
  } else {
    Tensor dst = Tensor::empty(DType::kFloat32, t.shape());
    QUENCH_RETURN_IF_ERROR(convert_tensor(t, dst));
    std::copy_n(dst.data<float>(), out.size(), out.data());
  }
  return out;
}

Result<std::vector<int32_t>> read_ints(const KernelContext& ctx, size_t index, const char* what) {
  const Tensor& t = ctx.input(index);
  std::vector<int32_t> out(static_cast<size_t>(t.numel()));
  auto copy = [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int32_t>(p[i]);
  };
  switch (t.dtype()) {
    case DType::kInt8: case DType::kInt4: copy(int8_t{}); break;
    case DType::kUInt8: case DType::kUInt4: copy(uint8_t{}); break;
    case DType::kInt16: copy(int16_t{}); break;
    case DType::kUInt16: copy(uint16_t{}); break;
    case DType::kInt32: copy(int32_t{}); break;
    default:
      return ctx.unsupported(std::string(what) + " (input " + std::to_string(index) +
                             ") has type " + std::string(dtype_name(t.dtype())) +
                             "; integer types of 4 to 32 bits are supported");
  }
  return out;
}

Status check_same_dtype(const KernelContext& ctx, const Tensor& a, const char* a_name,
                        const Tensor& b, const char* b_name) {
  if (a.dtype() == b.dtype()) return Status();
  return ctx.invalid(std::string(a_name) + " has type " + std::string(dtype_name(a.dtype())) +
                     " but " + b_name + " has type " + std::string(dtype_name(b.dtype())) +
                     "; they must be the same");
}

bool is_scalar_like(const Tensor& t) { return t.rank() == 0 || (t.rank() == 1 && t.numel() == 1); }

Status check_scalar(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (is_scalar_like(t)) return Status();
  return ctx.invalid(std::string(what) + " must be a scalar (got shape " +
                     shape_to_string(t.shape()) + ")");
}

Shape ConvGeometry::output_shape() const {
  Shape s = {batch, out_channels};
  for (int d = 3 - spatial_rank; d < 3; ++d) s.push_back(out[d]);
  return s;
}

namespace {
std::string ints_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }
}  // namespace

Result<ConvGeometry> conv_geometry(const KernelContext& ctx, const Shape& x, const Shape& w) {
  const Node& node = ctx.node();
  ConvGeometry g;
  if (x.size() < 3 || x.size() > 5) {
    return ctx.unsupported("input x of shape " + shape_to_string(x) +
                           " is not [N, C, D1(, D2(, D3))]: 1-D to 3-D convolutions are supported");
  }
  if (w.size() != x.size()) {
    return ctx.invalid("weight w of shape " + shape_to_string(w) + " has rank " +
                       std::to_string(w.size()) + " but x of shape " + shape_to_string(x) +
                       " has rank " + std::to_string(x.size()));
  }
  const int sr = static_cast<int>(x.size()) - 2;
  const int off = 3 - sr;
  g.spatial_rank = sr;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = w[0];
  g.group = node.attr_int("group", 1);
  if (g.group < 1 || g.in_channels % g.group != 0 || g.out_channels % g.group != 0) {
    return ctx.invalid("group " + std::to_string(g.group) + " must be >= 1 and divide both the " +
                       "input channels (" + std::to_string(g.in_channels) +
                       ") and the output channels (" + std::to_string(g.out_channels) + ")");
  }
  if (w[1] * g.group != g.in_channels) {
    return ctx.invalid("weight w of shape " + shape_to_string(w) + " has " + std::to_string(w[1]) +
                       " input channels per group, but x has " + std::to_string(g.in_channels) +
                       " channels and group is " + std::to_string(g.group));
  }
  std::vector<int64_t> kshape = node.attr_ints("kernel_shape");
  std::vector<int64_t> strides = node.attr_ints("strides");
  std::vector<int64_t> dilations = node.attr_ints("dilations");
  std::vector<int64_t> pads = node.attr_ints("pads");
  const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  auto check_len = [&](const std::vector<int64_t>& v, size_t n, const char* name) -> Status {
    if (v.empty() || v.size() == n) return Status();
    return ctx.invalid(std::string(name) + " " + ints_to_string(v) + " has " +
                       std::to_string(v.size()) + " values; the input needs " + std::to_string(n));
  };
  QUENCH_RETURN_IF_ERROR(check_len(kshape, sr, "kernel_shape"));
  QUENCH_RETURN_IF_ERROR(check_len(strides, sr, "strides"));
  QUENCH_RETURN_IF_ERROR(check_len(dilations, sr, "dilations"));
  QUENCH_RETURN_IF_ERROR(check_len(pads, 2 * static_cast<size_t>(sr), "pads"));
  for (int i = 0; i < sr; ++i) {
    const int d = off + i;
    g.in[d] = x[2 + i];
    g.kernel[d] = w[2 + i];
    if (!kshape.empty() && kshape[i] != w[2 + i]) {
      return ctx.invalid("kernel_shape " + ints_to_string(kshape) +
                         " does not match the weight shape " + shape_to_string(w));
    }
    g.stride[d] = strides.empty() ? 1 : strides[i];
    g.dilation[d] = dilations.empty() ? 1 : dilations[i];
    if (g.stride[d] < 1 || g.dilation[d] < 1) {
      return ctx.invalid("strides " + ints_to_string(strides) + " and dilations " +
                         ints_to_string(dilations) + " must be >= 1");
    }
    const int64_t extent = (g.kernel[d] - 1) * g.dilation[d] + 1;
    int64_t pb = 0, pe = 0;
    if (auto_pad == "NOTSET") {
      if (!pads.empty()) {
        pb = pads[i];
        pe = pads[i + sr];
      }
      if (pb < 0 || pe < 0) return ctx.invalid("pads " + ints_to_string(pads) + " must be >= 0");
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t o = (g.in[d] + g.stride[d] - 1) / g.stride[d];
      const int64_t total = std::max<int64_t>(0, (o - 1) * g.stride[d] + extent - g.in[d]);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else if (auto_pad != "VALID") {
      return ctx.invalid("auto_pad \"" + auto_pad +
                         "\" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    }
    g.pad_begin[d] = pb;
    const int64_t span = g.in[d] + pb + pe - extent;
    if (span < 0) {
      return ctx.invalid("the kernel (extent " + std::to_string(extent) + " in spatial axis " +
                         std::to_string(i) + ") is larger than the padded input (" +
                         std::to_string(g.in[d] + pb + pe) + ")");
    }
    g.out[d] = span / g.stride[d] + 1;
  }
  return g;
}

}  // namespace quench::quant
