// Kernels of the quant family: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear here;
// ConvInteger / QLinearConv in quant_conv.cpp, MatMulInteger / QLinearMatMul in quant_matmul.cpp.
// See runtime/registry.h.
//
// Quantization granularity follows ONNX (opset 21):
//   per-tensor  scale is a scalar (or a 1-element 1-D tensor);
//   per-axis    scale is 1-D with x.shape[axis] elements (opset >= 13);
//   blocked     block_size > 0, scale has x's rank and x's shape except ceil(D_axis / block_size)
//               along axis (opset >= 21).
// The zero point, when given, has the scale's shape and sets the quantized type.
#include <algorithm>
#include <limits>

#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/quant_common.h"
#include "runtime/kernels/quant_ops.h"
#include "runtime/registry.h"

namespace quench {

namespace quant {
namespace {

// x viewed as [outer, axis_dim, inner] (per-tensor: a single row of numel elements). Element
// (o, a, i) uses parameter 0 (per-tensor), a (per-axis) or (o * scale_axis_dim + a / block) *
// inner + i (blocked).
struct Granularity {
  enum Kind { kPerTensor, kPerAxis, kBlocked } kind = kPerTensor;
  int64_t outer = 1, axis_dim = 1, inner = 1;
  int64_t block = 1;           // kBlocked: elements along axis sharing one scale
  int64_t scale_axis_dim = 1;  // kBlocked: ceil(axis_dim / block)

  // Index of the first parameter used by row (o, a) and the step between consecutive inner
  // elements (0 when the whole row shares one parameter).
  int64_t row_param(int64_t o, int64_t a) const {
    switch (kind) {
      case kPerTensor: return 0;
      case kPerAxis: return a;
      case kBlocked: return (o * scale_axis_dim + a / block) * inner;
    }
    return 0;
  }
  int64_t param_step() const { return kind == kBlocked ? 1 : 0; }
};

// Checks scale / zero-point shapes against x and the axis / block_size attributes.
Result<Granularity> resolve_granularity(const KernelContext& ctx, const Shape& x_shape,
                                        const Tensor& scale, const Tensor* zero_point,
                                        const char* scale_name, const char* zp_name,
                                        int64_t opset) {
  const Node& node = ctx.node();
  if (zero_point && zero_point->shape() != scale.shape() &&
      !(is_scalar_like(*zero_point) && is_scalar_like(scale))) {
    return ctx.invalid(std::string(zp_name) + " has shape " +
                       shape_to_string(zero_point->shape()) + " but " + scale_name +
                       " has shape " + shape_to_string(scale.shape()) + "; they must match");
  }
  const int64_t rank = static_cast<int64_t>(x_shape.size());
  const int64_t block_size = opset >= 21 ? node.attr_int("block_size", 0) : 0;
  Granularity g;
  g.inner = shape_numel(x_shape);  // per-tensor: one row
  if (block_size < 0) {
    return ctx.invalid("block_size " + std::to_string(block_size) + " must be >= 0");
  }
  if (block_size == 0 && is_scalar_like(scale)) return g;  // per-tensor
  if (opset < 13) {
    return ctx.invalid(std::string(scale_name) + " of shape " + shape_to_string(scale.shape()) +
                       " must be a scalar in opset " + std::to_string(opset) +
                       " (per-axis quantization needs opset 13)");
  }
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, node.attr_int("axis", 1), rank));
  if (rank == 0) return ctx.invalid("a scalar x needs a scalar " + std::string(scale_name));
  g.inner = 1;
  g.axis_dim = x_shape[static_cast<size_t>(axis)];
  for (int64_t d = 0; d < axis; ++d) g.outer *= x_shape[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) g.inner *= x_shape[static_cast<size_t>(d)];
  if (block_size == 0) {
    if (scale.rank() != 1 || scale.dim(0) != g.axis_dim) {
      return ctx.invalid(std::string(scale_name) + " has shape " + shape_to_string(scale.shape()) +
                         " but per-axis quantization along axis " + std::to_string(axis) +
                         " of x " + shape_to_string(x_shape) + " needs shape [" +
                         std::to_string(g.axis_dim) + "] (or a scalar for per-tensor)");
    }
    g.kind = Granularity::kPerAxis;
    return g;
  }
  g.kind = Granularity::kBlocked;
  g.block = block_size;
  g.scale_axis_dim = (g.axis_dim + block_size - 1) / block_size;
  Shape want = x_shape;
  want[static_cast<size_t>(axis)] = g.scale_axis_dim;
  if (scale.shape() != want) {
    return ctx.invalid(std::string(scale_name) + " has shape " + shape_to_string(scale.shape()) +
                       " but blocked quantization of x " + shape_to_string(x_shape) +
                       " along axis " + std::to_string(axis) + " with block_size " +
                       std::to_string(block_size) + " needs shape " + shape_to_string(want) +
                       " (ceil(" + std::to_string(g.axis_dim) + " / " +
                       std::to_string(block_size) + ") = " + std::to_string(g.scale_axis_dim) +
                       " blocks)");
  }
  return g;
}

// Runs fn(first_element, count, param_index, param_step) over x in parallel, in runs of elements
// whose parameter index starts at param_index and grows by param_step (0 or 1) per element.
template <class F>
void for_each_row(const Granularity& g, F&& fn) {
  constexpr int64_t kChunk = 4096;
  if (g.inner == 1 && g.kind == Granularity::kPerAxis) {
    // Quantization along the last axis: a slab of axis_dim elements uses parameters 0, 1, 2 ...
    const int64_t per_slab = (g.axis_dim + kChunk - 1) / kChunk;
    parallel_for(g.outer * per_slab, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const int64_t o = c / per_slab, a0 = (c % per_slab) * kChunk;
        fn(o * g.axis_dim + a0, std::min(kChunk, g.axis_dim - a0), a0, int64_t{1});
      }
    }, std::max<int64_t>(1, kChunk / std::max<int64_t>(1, std::min(g.axis_dim, kChunk))));
    return;
  }
  if (g.inner == 1 && g.kind == Granularity::kBlocked) {
    // Blocks along the last axis: block c of the flattened [outer, scale_axis_dim] uses parameter c.
    parallel_for(g.outer * g.scale_axis_dim, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const int64_t o = c / g.scale_axis_dim, a0 = (c % g.scale_axis_dim) * g.block;
        fn(o * g.axis_dim + a0, std::min(g.block, g.axis_dim - a0), c, int64_t{0});
      }
    }, std::max<int64_t>(1, kChunk / g.block));
    return;
  }
  const int64_t rows = g.outer * g.axis_dim;
  const int64_t per_row = (g.inner + kChunk - 1) / kChunk;
  const int64_t step = g.param_step();
  const int64_t grain = std::max<int64_t>(1, kChunk / std::max<int64_t>(1, std::min(g.inner, kChunk)));
  parallel_for(rows * per_row, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t r = c / per_row, i0 = (c % per_row) * kChunk;
      const int64_t p = g.row_param(r / g.axis_dim, r % g.axis_dim) + i0 * step;
      fn(r * g.inner + i0, std::min(kChunk, g.inner - i0), p, step);
    }
  }, grain);
}

template <class T>
void quantize_typed(const float* x, T* y, const Granularity& g, const std::vector<float>& scale,
                    const std::vector<int32_t>& zp, QRange r) {
  for_each_row(g, [&](int64_t start, int64_t n, int64_t p, int64_t step) {
    const float* src = x + start;
    T* dst = y + start;
    if (step == 0) {
      const float s = scale[static_cast<size_t>(p)];
      const int32_t z = zp[static_cast<size_t>(p)];
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(requantize(src[i] / s, z, r));
    } else {
      const float* s = scale.data() + p;
      const int32_t* z = zp.data() + p;
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(requantize(src[i] / s[i], z[i], r));
    }
  });
}

// The storage type of a quantized dtype (4-bit types live one per byte).
template <class F>
Status visit_quant_storage(DType t, F&& f) {
  switch (t) {
    case DType::kInt8: case DType::kInt4: return f(int8_t{});
    case DType::kUInt8: case DType::kUInt4: return f(uint8_t{});
    case DType::kInt16: return f(int16_t{});
    case DType::kUInt16: return f(uint16_t{});
    case DType::kInt32: return f(int32_t{});
    default: return Status::internal("no storage type for " + std::string(dtype_name(t)));
  }
}

// x as float32 values (float32 itself, or a converted copy of float16 / bfloat16 / int32 x).
Result<Tensor> float_input(const KernelContext& ctx, size_t index, const char* what) {
  const Tensor& t = ctx.input(index);
  if (t.dtype() == DType::kFloat32) return t;
  if (t.dtype() != DType::kFloat16 && t.dtype() != DType::kBFloat16 &&
      t.dtype() != DType::kInt32) {
    return ctx.unsupported(std::string(what) + " has type " + std::string(dtype_name(t.dtype())) +
                           "; float32, float16, bfloat16 and int32 are supported");
  }
  Tensor f = Tensor::empty(DType::kFloat32, t.shape());
  QUENCH_RETURN_IF_ERROR(convert_tensor(t, f));
  return f;
}

class QuantizeLinearKernel final : public OpKernel {
 public:
  explicit QuantizeLinearKernel(const KernelInfo& info) : opset_(info.opset) {}

  Status compute(KernelContext& ctx) override {
    const Node& node = ctx.node();
    QUENCH_ASSIGN_OR_RETURN(Tensor x, float_input(ctx, 0, "x"));
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.input_or_null(2);
    // The quantized type: the zero point's, else output_dtype (opset 21), else uint8.
    DType out = DType::kUInt8;
    const int64_t output_dtype = opset_ >= 21 ? node.attr_int("output_dtype", 0) : 0;
    if (output_dtype != 0) {
      if (!dtype_is_known(static_cast<int32_t>(output_dtype))) {
        return ctx.invalid("output_dtype " + std::to_string(output_dtype) +
                           " is not an ONNX element type");
      }
      out = static_cast<DType>(output_dtype);
    }
    if (zp) {
      if (output_dtype != 0 && zp->dtype() != out) {
        return ctx.invalid("output_dtype is " + std::string(dtype_name(out)) +
                           " but y_zero_point has type " + std::string(dtype_name(zp->dtype())) +
                           "; they must agree");
      }
      out = zp->dtype();
    }
    if (is_float8(out)) {
      return ctx.unsupported("quantization to " + std::string(dtype_name(out)) +
                             " (float8) is not implemented");
    }
    if (!is_quant_dtype(out)) {
      return ctx.invalid("the quantized type " + std::string(dtype_name(out)) +
                         " is not one of int8, uint8, int16, uint16, int4, uint4");
    }
    Result<Granularity> gr =
        resolve_granularity(ctx, x.shape(), scale, zp, "y_scale", "y_zero_point", opset_);
    if (!gr.ok()) return gr.status();
    const Granularity& g = gr.value();
    QUENCH_ASSIGN_OR_RETURN(std::vector<float> s, read_floats(ctx, 1, "y_scale"));
    std::vector<int32_t> z(s.size(), 0);
    if (zp) {
      QUENCH_ASSIGN_OR_RETURN(z, read_ints(ctx, 2, "y_zero_point"));
    }
    Tensor& y = ctx.allocate_output(0, out, x.shape());
    const float* xp = x.data<float>();
    return visit_quant_storage(out, [&](auto tag) {
      using T = decltype(tag);
      quantize_typed<T>(xp, static_cast<T*>(y.raw_data()), g, s, z, qrange(out));
      return Status();
    });
  }

 private:
  int64_t opset_;
};

class DequantizeLinearKernel final : public OpKernel {
 public:
  explicit DequantizeLinearKernel(const KernelInfo& info) : opset_(info.opset) {}

  Status compute(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.input_or_null(2);
    if (is_float8(x.dtype())) {
      return ctx.unsupported("dequantization of " + std::string(dtype_name(x.dtype())) +
                             " (float8) is not implemented");
    }
    if (!is_quant_dtype(x.dtype()) && x.dtype() != DType::kInt32) {
      return ctx.invalid("x has type " + std::string(dtype_name(x.dtype())) +
                         "; DequantizeLinear takes int8, uint8, int16, uint16, int32, int4, uint4");
    }
    if (zp) QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, *zp, "x_zero_point", x, "x"));
    Result<Granularity> gr =
        resolve_granularity(ctx, x.shape(), scale, zp, "x_scale", "x_zero_point", opset_);
    if (!gr.ok()) return gr.status();
    const Granularity& g = gr.value();
    QUENCH_ASSIGN_OR_RETURN(std::vector<float> s, read_floats(ctx, 1, "x_scale"));
    std::vector<int32_t> z(s.size(), 0);
    if (zp) {
      QUENCH_ASSIGN_OR_RETURN(z, read_ints(ctx, 2, "x_zero_point"));
    }
    if (x.dtype() == DType::kInt32 && std::any_of(z.begin(), z.end(), [](int32_t v) { return v; })) {
      return ctx.invalid("x_zero_point must be 0 when x is int32");
    }
    // The output takes the scale's float type; compute in float32 and convert when it is 16-bit.
    const bool direct = scale.dtype() == DType::kFloat32;
    Tensor y32 = direct ? ctx.allocate_output(0, DType::kFloat32, x.shape())
                        : Tensor::empty(DType::kFloat32, x.shape());
    float* yp = y32.data<float>();
    QUENCH_RETURN_IF_ERROR(visit_quant_storage(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* xp = static_cast<const T*>(x.raw_data());
      for_each_row(g, [&](int64_t start, int64_t n, int64_t p, int64_t step) {
        const T* src = xp + start;
        float* dst = yp + start;
        if (step == 0) {
          const float sc = s[static_cast<size_t>(p)];
          const float zf = static_cast<float>(z[static_cast<size_t>(p)]);
          for (int64_t i = 0; i < n; ++i) dst[i] = (static_cast<float>(src[i]) - zf) * sc;
        } else {
          const float* sc = s.data() + p;
          const int32_t* zi = z.data() + p;
          for (int64_t i = 0; i < n; ++i) {
            dst[i] = (static_cast<float>(src[i]) - static_cast<float>(zi[i])) * sc[i];
          }
        }
      });
      return Status();
    }));
    if (!direct) {
      Tensor& y = ctx.allocate_output(0, scale.dtype(), x.shape());
      QUENCH_RETURN_IF_ERROR(convert_tensor(y32, y));
    }
    return Status();
  }

 private:
  int64_t opset_;
};

// y_scale = (max(0, max x) - min(0, min x)) / 255, zero point = saturate(round(-min / scale)),
// y = saturate(round(x / scale) + zero point), uint8. An all-zero x has scale 0; ONNX then
// divides 0 by 0, quench defines the result as zero point 0 and y = 0.
Status dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) {
    return ctx.invalid("x has type " + std::string(dtype_name(x.dtype())) + "; it must be float32");
  }
  const float* xp = x.data<float>();
  const int64_t n = x.numel();
  const int threads = num_threads();
  std::vector<float> mins(static_cast<size_t>(threads) + 1, 0.0f), maxs(mins.size(), 0.0f);
  // Min and max are order independent, so the per-chunk split cannot change the result.
  const int64_t chunks = std::min<int64_t>(threads, std::max<int64_t>(1, n / 16384));
  parallel_for(chunks, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t lo_i = n * c / chunks, hi_i = n * (c + 1) / chunks;
      float lo = 0.0f, hi = 0.0f;  // the range always includes 0
      for (int64_t i = lo_i; i < hi_i; ++i) {
        lo = std::min(lo, xp[i]);
        hi = std::max(hi, xp[i]);
      }
      mins[static_cast<size_t>(c)] = lo;
      maxs[static_cast<size_t>(c)] = hi;
    }
  });
  float lo = *std::min_element(mins.begin(), mins.end());
  float hi = *std::max_element(maxs.begin(), maxs.end());
  const QRange r = qrange(DType::kUInt8);
  const float scale = (hi - lo) / static_cast<float>(r.hi - r.lo);
  int32_t zero_point = 0;
  if (scale > 0.0f) {
    float zp_f = static_cast<float>(r.lo) - lo / scale;
    zp_f = std::clamp(zp_f, static_cast<float>(r.lo), static_cast<float>(r.hi));
    zero_point = static_cast<int32_t>(round_half_even(zp_f));
  }
  Tensor& y = ctx.allocate_output(0, DType::kUInt8, x.shape());
  uint8_t* yp = y.data<uint8_t>();
  if (scale > 0.0f) {
    parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        yp[i] = static_cast<uint8_t>(requantize(xp[i] / scale, zero_point, r));
      }
    }, 4096);
  } else if (n) {
    std::fill_n(yp, n, uint8_t{0});
  }
  if (ctx.output_wanted(1)) ctx.allocate_output(1, DType::kFloat32, {}).data<float>()[0] = scale;
  if (ctx.output_wanted(2)) {
    ctx.allocate_output(2, DType::kUInt8, {}).data<uint8_t>()[0] = static_cast<uint8_t>(zero_point);
  }
  return Status();
}

}  // namespace
}  // namespace quant

namespace {
const KernelDef kTable[] = {
    {"", "QuantizeLinear", 10, kOpsetMax, DType::kUndefined,
     class_kernel<quant::QuantizeLinearKernel>},
    {"", "DequantizeLinear", 10, kOpsetMax, DType::kUndefined,
     class_kernel<quant::DequantizeLinearKernel>},
    {"", "DynamicQuantizeLinear", 11, kOpsetMax, DType::kFloat32,
     fn_kernel<quant::dynamic_quantize_linear>},
    {"", "ConvInteger", 10, kOpsetMax, DType::kUndefined, quant::make_conv_integer},
    {"", "QLinearConv", 10, kOpsetMax, DType::kUndefined, quant::make_qlinear_conv},
    {"", "MatMulInteger", 10, kOpsetMax, DType::kUndefined, fn_kernel<quant::matmul_integer>},
    {"", "QLinearMatMul", 10, kOpsetMax, DType::kUndefined, fn_kernel<quant::qlinear_matmul>},
};
}  // namespace

std::span<const KernelDef> quant_kernels() { return kTable; }

}  // namespace quench
