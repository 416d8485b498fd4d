// ConvInteger and QLinearConv: integer convolution with exact int32 accumulation.
//
//   1. w' = w - w_zero_point (per output channel), as int16 [M, C/group * kernel]; done once when
//      w and its zero point are initializers.
//   2. Per image, group and slice of output rows: col = im2col(x - x_zero_point) (padding reads
//      the zero point, i.e. 0 after the subtraction), acc = w'_group * col with gemm_s16 (exact
//      int32). Slices keep col under ~8 MB whatever the image size.
//   3. ConvInteger: acc is the output. QLinearConv: y = saturate(round((acc + B[m]) * x_scale *
//      w_scale[m] / y_scale) + y_zero_point), ties to even.
#include <algorithm>
#include <memory>

#include "core/parallel.h"
#include "runtime/kernels/quant_common.h"
#include "runtime/kernels/quant_gemm.h"
#include "runtime/kernels/quant_ops.h"

namespace quench::quant {

namespace {

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// Input slots of the operands shared by both ops.
struct ConvSlots {
  size_t x, x_zp, w, w_zp;
  const char* x_zp_name;
  const char* w_zp_name;
};
constexpr ConvSlots kConvIntegerSlots = {0, 2, 1, 3, "x_zero_point", "w_zero_point"};
constexpr ConvSlots kQLinearConvSlots = {0, 2, 3, 5, "x_zero_point", "w_zero_point"};

class IntegerConv : public OpKernel {
 public:
  IntegerConv(const KernelInfo& info, ConvSlots slots) : slots_(slots) {
    weights_constant_ = info.constant_input(slots.w) != nullptr &&
                        (info.node.input(slots.w_zp) == nullptr ||
                         info.constant_input(slots.w_zp) != nullptr);
  }

 protected:
  // Checks the integer operands, computes the geometry and the int32 accumulators
  // acc[N][M][out_spatial] (acc has room for geometry.output_shape()).
  Status check_operands(KernelContext& ctx, ConvGeometry& geometry) {
    const Tensor& x = ctx.input(slots_.x);
    const Tensor& w = ctx.input(slots_.w);
    if (!is_8bit(x.dtype()) || !is_8bit(w.dtype())) {
      return ctx.invalid("x has type " + std::string(dtype_name(x.dtype())) + " and w has type " +
                         std::string(dtype_name(w.dtype())) + "; both must be int8 or uint8");
    }
    if (const Tensor* zp = ctx.input_or_null(slots_.x_zp)) {
      QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, *zp, slots_.x_zp_name, x, "x"));
      QUENCH_RETURN_IF_ERROR(check_scalar(ctx, *zp, slots_.x_zp_name));
    }
    QUENCH_ASSIGN_OR_RETURN(geometry, conv_geometry(ctx, x.shape(), w.shape()));
    if (const Tensor* zp = ctx.input_or_null(slots_.w_zp)) {
      QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, *zp, slots_.w_zp_name, w, "w"));
      if (!is_scalar_like(*zp) && !(zp->rank() == 1 && zp->dim(0) == geometry.out_channels)) {
        return ctx.invalid(std::string(slots_.w_zp_name) + " has shape " +
                           shape_to_string(zp->shape()) +
                           "; it must be a scalar or have one value per output channel (" +
                           std::to_string(geometry.out_channels) + ")");
      }
    }
    return Status();
  }

  Status accumulate(KernelContext& ctx, const ConvGeometry& g, int32_t* acc) {
    const Tensor& x = ctx.input(slots_.x);
    int32_t x_zp = 0;
    if (ctx.has_input(slots_.x_zp)) {
      QUENCH_ASSIGN_OR_RETURN(std::vector<int32_t> v, read_ints(ctx, slots_.x_zp, slots_.x_zp_name));
      x_zp = v[0];
    }
    if (!weights_constant_ || weights_.empty()) QUENCH_RETURN_IF_ERROR(prepare_weights(ctx, g));
    const int64_t groups = g.group;
    const int64_t mg = g.out_channels / groups, cg = g.in_channels / groups;
    const int64_t kg = cg * g.kernel_size(), sp = g.out_spatial();
    Im2colShape s;
    s.channels = cg;
    for (int d = 0; d < 3; ++d) {
      s.in[d] = g.in[d];
      s.kernel[d] = g.kernel[d];
      s.stride[d] = g.stride[d];
      s.dilation[d] = g.dilation[d];
      s.pad_begin[d] = g.pad_begin[d];
      s.out[d] = g.out[d];
    }
    // im2col in slices of whole output rows, each at most ~kColBytes (at least one row).
    constexpr int64_t kColBytes = int64_t{8} << 20;
    const int64_t rows = g.out[0] * g.out[1], row_len = g.out[2];
    const int64_t slice = std::clamp<int64_t>(
        kColBytes / std::max<int64_t>(1, kg * row_len * int64_t{sizeof(int16_t)}), 1, rows);
    std::vector<int16_t> col(static_cast<size_t>(kg * slice * row_len));
    for (int64_t n = 0; n < g.batch; ++n) {
      for (int64_t grp = 0; grp < groups; ++grp) {
        const int64_t x_off = (n * g.in_channels + grp * cg) * g.in_spatial();
        for (int64_t r0 = 0; r0 < rows; r0 += slice) {
          const int64_t r1 = std::min(rows, r0 + slice), cols = (r1 - r0) * row_len;
          if (x.dtype() == DType::kUInt8) {
            im2col_s16(x.data<uint8_t>() + x_off, x_zp, s, r0, r1, col.data());
          } else {
            im2col_s16(x.data<int8_t>() + x_off, x_zp, s, r0, r1, col.data());
          }
          gemm_s16(mg, cols, kg, weights_.data() + grp * mg * kg, kg, col.data(), cols,
                   acc + (n * g.out_channels + grp * mg) * sp + r0 * row_len, sp);
        }
      }
    }
    return Status();
  }

 private:
  Status prepare_weights(KernelContext& ctx, const ConvGeometry& g) {
    const Tensor& w = ctx.input(slots_.w);
    std::vector<int32_t> zp(1, 0);
    if (ctx.has_input(slots_.w_zp)) {
      QUENCH_ASSIGN_OR_RETURN(zp, read_ints(ctx, slots_.w_zp, slots_.w_zp_name));
    }
    const int64_t m = g.out_channels, k = w.numel() / std::max<int64_t>(m, 1);
    weights_.resize(static_cast<size_t>(w.numel()));
    for (int64_t i = 0; i < m; ++i) {
      const int32_t z = zp[zp.size() == 1 ? 0 : static_cast<size_t>(i)];
      for (int64_t p = 0; p < k; ++p) {
        const int32_t v = w.dtype() == DType::kUInt8 ? int32_t{w.data<uint8_t>()[i * k + p]}
                                                     : int32_t{w.data<int8_t>()[i * k + p]};
        weights_[static_cast<size_t>(i * k + p)] = static_cast<int16_t>(v - z);
      }
    }
    return Status();
  }

  ConvSlots slots_;
  bool weights_constant_ = false;
  std::vector<int16_t> weights_;  // w - w_zero_point, [M, C/group * kernel]
};

class ConvIntegerKernel final : public IntegerConv {
 public:
  explicit ConvIntegerKernel(const KernelInfo& info) : IntegerConv(info, kConvIntegerSlots) {}

  Status compute(KernelContext& ctx) override {
    ConvGeometry g;
    QUENCH_RETURN_IF_ERROR(check_operands(ctx, g));
    Tensor& y = ctx.allocate_output(0, DType::kInt32, g.output_shape());
    return accumulate(ctx, g, y.data<int32_t>());
  }
};

class QLinearConvKernel final : public IntegerConv {
 public:
  explicit QLinearConvKernel(const KernelInfo& info) : IntegerConv(info, kQLinearConvSlots) {}

  Status compute(KernelContext& ctx) override {
    ConvGeometry g;
    for (size_t i : {size_t{1}, size_t{2}, size_t{4}, size_t{5}, size_t{6}, size_t{7}}) {
      if (!ctx.has_input(i)) {
        return ctx.invalid("input " + std::to_string(i) + " (a scale or zero point) is required");
      }
    }
    QUENCH_RETURN_IF_ERROR(check_operands(ctx, g));
    const int64_t m = g.out_channels;
    QUENCH_RETURN_IF_ERROR(check_scalar(ctx, ctx.input(1), "x_scale"));
    QUENCH_RETURN_IF_ERROR(check_scalar(ctx, ctx.input(6), "y_scale"));
    QUENCH_RETURN_IF_ERROR(check_scalar(ctx, ctx.input(7), "y_zero_point"));
    const Tensor& w_scale = ctx.input(4);
    if (!is_scalar_like(w_scale) && !(w_scale.rank() == 1 && w_scale.dim(0) == m)) {
      return ctx.invalid("w_scale has shape " + shape_to_string(w_scale.shape()) +
                         "; it must be a scalar or have one value per output channel (" +
                         std::to_string(m) + ")");
    }
    const DType y_type = ctx.input(7).dtype();
    if (!is_8bit(y_type)) {
      return ctx.invalid("y_zero_point has type " + std::string(dtype_name(y_type)) +
                         "; it must be int8 or uint8");
    }
    std::vector<int32_t> bias;
    if (const Tensor* b = ctx.input_or_null(8)) {
      if (b->dtype() != DType::kInt32 || b->rank() != 1 || b->dim(0) != m) {
        return ctx.invalid("bias B is " + b->describe() + "; it must be int32[" +
                           std::to_string(m) + "]");
      }
      bias.assign(b->data<int32_t>(), b->data<int32_t>() + m);
    }
    QUENCH_ASSIGN_OR_RETURN(std::vector<float> x_scale, read_floats(ctx, 1, "x_scale"));
    QUENCH_ASSIGN_OR_RETURN(std::vector<float> w_scales, read_floats(ctx, 4, "w_scale"));
    QUENCH_ASSIGN_OR_RETURN(std::vector<float> y_scale, read_floats(ctx, 6, "y_scale"));
    QUENCH_ASSIGN_OR_RETURN(std::vector<int32_t> y_zp, read_ints(ctx, 7, "y_zero_point"));
    // The multiplier is formed in float, as the ONNX reference does with float32 scales.
    std::vector<double> multiplier(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      const float ws = w_scales[w_scales.size() == 1 ? 0 : static_cast<size_t>(i)];
      multiplier[static_cast<size_t>(i)] = static_cast<double>(x_scale[0] * ws / y_scale[0]);
    }

    Tensor acc = Tensor::empty(DType::kInt32, g.output_shape());
    QUENCH_RETURN_IF_ERROR(accumulate(ctx, g, acc.data<int32_t>()));
    Tensor& y = ctx.allocate_output(0, y_type, g.output_shape());
    const int64_t sp = g.out_spatial();
    const QRange r = qrange(y_type);
    const int32_t* ap = acc.data<int32_t>();
    auto requant_rows = [&](auto* yp) {
      parallel_for(g.batch * m, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const size_t oc = static_cast<size_t>(row % m);
          const int32_t b = bias.empty() ? 0 : bias[oc];
          const double mult = multiplier[oc];
          const int32_t* src = ap + row * sp;
          auto* dst = yp + row * sp;
          using T = std::remove_reference_t<decltype(*dst)>;
          for (int64_t i = 0; i < sp; ++i) {
            dst[i] = static_cast<T>(requantize_double(double(src[i] + b) * mult, y_zp[0], r));
          }
        }
      }, std::max<int64_t>(1, 4096 / std::max<int64_t>(sp, 1)));
    };
    if (y_type == DType::kUInt8) {
      requant_rows(y.data<uint8_t>());
    } else {
      requant_rows(y.data<int8_t>());
    }
    return Status();
  }
};

}  // namespace

Result<std::unique_ptr<OpKernel>> make_conv_integer(const KernelInfo& info) {
  return std::unique_ptr<OpKernel>(new ConvIntegerKernel(info));
}

Result<std::unique_ptr<OpKernel>> make_qlinear_conv(const KernelInfo& info) {
  return std::unique_ptr<OpKernel>(new QLinearConvKernel(info));
}

}  // namespace quench::quant
