// Conv and ConvTranspose (float32, opsets 1..21): oneDNN kernels with the reference loops of
// conv_ref.cpp beside them.
//
// Contract with the executor (fusion and layouts):
//  1. Fusion. The rows below carry kFusesActivation. To fuse an activation node A that follows a
//     Conv / ConvTranspose C (A is C's output's only consumer), the executor calls C's factory with
//     KernelInfo::fused_activation = &A. The factory returns Status::unsupported when A cannot be
//     fused (an op other than Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Elu,
//     or a Clip whose min / max are not constants); the executor then creates C unfused and runs A
//     as its own node. A fused kernel writes act(conv(x)) to its output 0, which the executor binds
//     to A's output value.
//  2. Layouts. The rows carry kAcceptsBlocked: X may arrive in a oneDNN blocked layout (a tensor
//     whose layout() is a DnnlLayout); W and B are read as plain. When
//     KernelContext::blocked_output_allowed() is true the kernel may leave Y in the blocked layout
//     oneDNN chose (it does whenever that layout is not plain row-major); otherwise Y is plain.
//
// Per input shape the kernel builds a Plan once: the geometry, the oneDNN primitive (format_tag::any
// for src / weights / dst so that oneDNN picks its fastest layouts), the reorders X and Y need, and
// the constant weights already reordered into the primitive's format. Later runs with that shape
// only execute. Cases oneDNN does not take (more than 3 spatial axes, or only its slow reference
// implementation would) run the reference loops.
#include <mutex>

#include "runtime/kernels/conv_ref.h"
#include "runtime/kernels/dnnl_common.h"
#include "runtime/registry.h"

namespace quench {

namespace {

using dnnl::memory;

struct ConvPlan {
  // Key: what the plan was built for.
  memory::desc x_md;
  Shape w_shape;
  bool has_bias = false;
  bool blocked_allowed = false;

  ConvGeometry geo;
  bool reference = false;

  dnnl::primitive prim;
  memory::desc src_md, wei_md, wei_user_md, bias_md, dst_md, scratch_md;
  std::optional<dnnl::reorder> src_reorder;  // x_md -> src_md
  std::optional<dnnl::reorder> wei_reorder;  // run-time weights: wei_user_md -> wei_md
  std::optional<dnnl::reorder> dst_reorder;  // dst_md -> plain
  Tensor packed_w;                           // constant weights in wei_md (undefined otherwise)
  std::shared_ptr<const DnnlLayout> dst_layout;  // set when Y stays in dst_md
};

class ConvKernel final : public OpKernel {
 public:
  ConvKernel(const KernelInfo& info, FusedActivation act, bool transpose)
      : node_(info.node),
        act_(act),
        transpose_(transpose),
        use_dnnl_(dnnl_enabled()),
        winograd_(dnnl_winograd_enabled()) {
    if (const Tensor* w = info.constant_input(1); w && w->is_plain()) w_const_ = *w;
  }

  Status compute(KernelContext& ctx) override;

 private:
  Result<ConvPlan*> plan_for(const Tensor& x, const Tensor& w, const Tensor* b, bool blocked_allowed);
  void build_dnnl(ConvPlan& p, const Tensor& w);
  Status run_reference(KernelContext& ctx, const ConvPlan& p, const Tensor& x, const Tensor& w,
                       const Tensor* b);
  Status run_dnnl(KernelContext& ctx, ConvPlan& p, const Tensor& x, const Tensor& w, const Tensor* b);

  const Node& node_;
  FusedActivation act_;
  bool transpose_;
  bool use_dnnl_;
  bool winograd_;
  Tensor w_const_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ConvPlan>> plans_;
};

// 3x3 stride-1 2-D convolutions can run as Winograd F(4x4, 3x3) / F(2x2, 3x3) on AVX-512, which
// needs 1.5-2.4x fewer cycles than direct convolution on ResNet / VGG layers (measured with
// oneDNN 2.6 on a Zen 4 core) at the price of a few ulps more rounding (the tests bound it to
// 1e-4 of the output scale).
size_t tag_rank(memory::format_tag tag) {
  using t = memory::format_tag;
  switch (tag) {
    case t::aBc16b: case t::acb: return 3;
    case t::aBcde16b: case t::acdeb: return 5;
    default: return 4;
  }
}

bool winograd_candidate(const ConvGeometry& g) {
  // Few channels waste Winograd's 16-channel blocks (a 1 -> 16 stem conv runs 3x slower).
  if (g.spatial_rank() != 2 || g.group != 1 || g.in_channels < 16 || g.out_channels < 16) {
    return false;
  }
  for (int i = 0; i < 2; ++i) {
    if (g.kernel[i] != 3 || g.strides[i] != 1 || g.dilations[i] != 1) return false;
  }
  return true;
}

memory::dims dnnl_vec(const Shape& s, int64_t minus = 0) {
  memory::dims d;
  for (int64_t v : s) d.push_back(v - minus);
  return d;
}

Result<ConvPlan*> ConvKernel::plan_for(const Tensor& x, const Tensor& w, const Tensor* b,
                                       bool blocked_allowed) {
  memory::desc x_md = tensor_md(x);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& p : plans_) {
    if (p->x_md == x_md && p->w_shape == w.shape() && p->has_bias == (b != nullptr) &&
        p->blocked_allowed == blocked_allowed) {
      return p.get();
    }
  }
  auto p = std::make_unique<ConvPlan>();
  p->x_md = x_md;
  p->w_shape = w.shape();
  p->has_bias = b != nullptr;
  p->blocked_allowed = blocked_allowed;
  const Shape* b_shape = b ? &b->shape() : nullptr;
  if (transpose_) {
    QUENCH_ASSIGN_OR_RETURN(p->geo, conv_transpose_geometry(node_, x.shape(), w.shape(), b_shape));
  } else {
    QUENCH_ASSIGN_OR_RETURN(p->geo, conv_geometry(node_, x.shape(), w.shape(), b_shape));
  }
  p->reference = !use_dnnl_ || p->geo.spatial_rank() > 3 || shape_numel(p->geo.dst_shape()) == 0;
  if (!p->reference) {
    try {
      build_dnnl(*p, w);
    } catch (const dnnl::error&) {
      p->reference = true;  // oneDNN rejects this case: the reference loops take it
    }
  }
  if (use_dnnl_ && p->reference) note_dnnl_fallback();
  plans_.push_back(std::move(p));
  return plans_.back().get();
}

void ConvKernel::build_dnnl(ConvPlan& p, const Tensor& w) {
  const ConvGeometry& g = p.geo;
  const auto any = memory::format_tag::any;
  const auto f32 = memory::data_type::f32;
  p.wei_user_md = conv_weights_md(g);
  memory::desc src_any(p.x_md.dims(), f32, any);
  memory::desc wei_any(p.wei_user_md.dims(), f32, any);
  memory::desc dst_any(to_dims(g.dst_shape()), f32, any);
  p.bias_md = p.has_bias ? plain_md({g.out_channels}) : memory::desc();
  memory::dims strides = dnnl_vec(g.strides), dil = dnnl_vec(g.dilations, 1);
  memory::dims pad_l = dnnl_vec(g.pads_begin), pad_r = dnnl_vec(g.pads_end);
  dnnl::primitive_attr attr = make_attr(act_);
  const auto prop = dnnl::prop_kind::forward_inference;
  if (!transpose_) {
    // A primitive desc for (algorithm, source layout), or none when oneDNN has no fast kernel.
    auto try_pd = [&](dnnl::algorithm alg, const memory::desc& src_md,
                      const memory::desc& dst_md) {
      dnnl::convolution_forward::primitive_desc pd;
      try {
        dnnl::convolution_forward::desc d(prop, alg, src_md, wei_any, p.bias_md, dst_md, strides,
                                          dil, pad_l, pad_r);
        pd = dnnl::convolution_forward::primitive_desc(d, attr, dnnl_engine());
        if (is_reference_impl(pd)) pd = dnnl::convolution_forward::primitive_desc();
      } catch (const dnnl::error&) {
        pd = dnnl::convolution_forward::primitive_desc();
      }
      return pd;
    };
    // Preference order: Winograd (on X's blocked layout as it is, else on the one it wants: its
    // 1.5-2x gain outweighs one reorder), then direct convolution on a blocked X as it is, writing
    // Y in X's layout (chains of convs and the element-wise ops between them keep one layout,
    // which residual Adds need to run without reorders), then direct on the layouts oneDNN likes
    // best, nChw16c for Y when there are enough channels (the layout Winograd reads, so a plain
    // stem feeds the blocks after it without a reorder).
    const bool wino = winograd_ && winograd_candidate(g);
    const bool blocked_x = !is_plain_md(p.x_md);
    const auto direct = dnnl::algorithm::convolution_direct;
    const auto winograd = dnnl::algorithm::convolution_winograd;
    const memory::dims dst_dims = to_dims(g.dst_shape());
    memory::desc dst_like_x;
    if (blocked_x) {
      for (auto tag : {memory::format_tag::aBcd16b, memory::format_tag::aBcd8b,
                       memory::format_tag::acdb, memory::format_tag::aBcde16b,
                       memory::format_tag::acdeb, memory::format_tag::aBc16b,
                       memory::format_tag::acb}) {
        if (static_cast<size_t>(p.x_md.dims().size()) != tag_rank(tag)) continue;
        if (memory::desc(p.x_md.dims(), f32, tag) == p.x_md) {
          dst_like_x = memory::desc(dst_dims, f32, tag);
          break;
        }
      }
    }
    const bool wide = g.spatial_rank() == 2 && g.out_channels >= 16;
    dnnl::convolution_forward::primitive_desc pd;
    // (Forcing NCHW src / dst for plain-in, plain-out 1x1 convs, to skip the two reorders, was
    // measured slower: oneDNN's NCHW kernel is GEMM-based and makes extra passes over Y.)
    if (blocked_x && wino) pd = try_pd(winograd, p.x_md, dst_any);
    if (!pd && wino) pd = try_pd(winograd, src_any, dst_any);
    if (!pd && blocked_x && dst_like_x) pd = try_pd(direct, p.x_md, dst_like_x);
    if (!pd && blocked_x) pd = try_pd(direct, p.x_md, dst_any);
    if (!pd && !blocked_x && wide) {
      pd = try_pd(direct, src_any, memory::desc(dst_dims, f32, memory::format_tag::aBcd16b));
    }
    if (!pd) pd = try_pd(direct, src_any, dst_any);
    if (!pd) {
      p.reference = true;
      return;
    }
    p.prim = dnnl::convolution_forward(pd);
    p.src_md = pd.src_desc();
    p.wei_md = pd.weights_desc();
    p.dst_md = pd.dst_desc();
    p.scratch_md = pd.scratchpad_desc();
  } else {
    dnnl::deconvolution_forward::desc d(prop, dnnl::algorithm::deconvolution_direct, src_any,
                                        wei_any, p.bias_md, dst_any, strides, dil, pad_l, pad_r);
    dnnl::deconvolution_forward::primitive_desc pd(d, attr, dnnl_engine());
    if (is_reference_impl(pd)) {
      p.reference = true;
      return;
    }
    p.prim = dnnl::deconvolution_forward(pd);
    p.src_md = pd.src_desc();
    p.wei_md = pd.weights_desc();
    p.dst_md = pd.dst_desc();
    p.scratch_md = pd.scratchpad_desc();
  }
  if (p.src_md != p.x_md) p.src_reorder = make_reorder(p.x_md, p.src_md);
  if (w_const_.defined() && w.shares_storage(w_const_)) {
    // Constant weights: reorder once into the primitive's format; plans for other input shapes
    // that chose the same format share the packed copy.
    for (auto& other : plans_) {
      if (other->packed_w.defined() && other->wei_md == p.wei_md) p.packed_w = other->packed_w;
    }
    if (!p.packed_w.defined()) {
      p.packed_w = make_scratch_tensor(p.wei_md);
      reorder_once(p.wei_user_md, w.raw_data(), p.wei_md, p.packed_w.raw_data());
    }
  } else if (p.wei_md != p.wei_user_md) {
    p.wei_reorder = make_reorder(p.wei_user_md, p.wei_md);
  }
  if (!is_plain_md(p.dst_md)) {
    if (p.blocked_allowed) {
      p.dst_layout = std::make_shared<DnnlLayout>(p.dst_md);
    } else {
      p.dst_reorder = make_reorder(p.dst_md, plain_md(g.dst_shape()));
    }
  }
}

Status ConvKernel::run_reference(KernelContext& ctx, const ConvPlan& p, const Tensor& x,
                                 const Tensor& w, const Tensor* b) {
  QUENCH_ASSIGN_OR_RETURN(Tensor xp, plain_input(x));
  Tensor& y = ctx.allocate_output(0, DType::kFloat32, p.geo.dst_shape());
  if (y.numel() == 0) return Status();
  const float* bp = b ? b->data<float>() : nullptr;
  if (transpose_) {
    conv_transpose_ref(p.geo, xp.data<float>(), w.data<float>(), bp, y.data<float>(), act_);
  } else {
    conv_ref(p.geo, xp.data<float>(), w.data<float>(), bp, y.data<float>(), act_);
  }
  return Status();
}

Status ConvKernel::run_dnnl(KernelContext& ctx, ConvPlan& p, const Tensor& x, const Tensor& w,
                            const Tensor* b) {
  // Source: as given, or reordered into the primitive's layout.
  Tensor src_buf;
  const void* src = x.raw_data();
  if (p.src_reorder) {
    src_buf = make_scratch_tensor(p.src_md);
    run_reorder(*p.src_reorder, p.x_md, x.raw_data(), p.src_md, src_buf.raw_data());
    src = src_buf.raw_data();
  }
  Tensor wei_buf;
  const void* wei = w.raw_data();
  if (p.packed_w.defined()) {
    wei = p.packed_w.raw_data();
  } else if (p.wei_reorder) {
    wei_buf = make_scratch_tensor(p.wei_md);
    run_reorder(*p.wei_reorder, p.wei_user_md, w.raw_data(), p.wei_md, wei_buf.raw_data());
    wei = wei_buf.raw_data();
  }
  const Shape dst_shape = p.geo.dst_shape();
  Tensor dst_buf;
  void* dst = dst_pointer(ctx, dst_shape, p.dst_layout, p.dst_reorder.has_value(), p.dst_md, dst_buf);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, make_memory(p.src_md, src)},
                                       {DNNL_ARG_WEIGHTS, make_memory(p.wei_md, wei)},
                                       {DNNL_ARG_DST, make_memory(p.dst_md, dst)}};
  if (b) args[DNNL_ARG_BIAS] = make_memory(p.bias_md, b->raw_data());
  execute(p.prim, p.scratch_md, std::move(args));
  if (p.dst_reorder) {
    Tensor& y = ctx.allocate_output(0, DType::kFloat32, dst_shape);
    run_reorder(*p.dst_reorder, p.dst_md, dst, plain_md(dst_shape), y.raw_data());
  }
  return Status();
}

Status ConvKernel::compute(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(1)) return ctx.invalid("input W (1) is missing");
  if (x.dtype() != DType::kFloat32 || ctx.input(1).dtype() != DType::kFloat32) {
    return ctx.unsupported("X " + x.describe() + " and W " + ctx.input(1).describe() +
                           " must both be float32");
  }
  // W and B are model weights in practice; a blocked one (a Conv computing weights) is made plain.
  QUENCH_ASSIGN_OR_RETURN(Tensor w, plain_input(ctx.input(1)));
  Tensor b;
  if (ctx.has_input(2)) {
    QUENCH_ASSIGN_OR_RETURN(b, plain_input(ctx.input(2)));
    if (b.dtype() != DType::kFloat32) return ctx.unsupported("B " + b.describe() + " must be float32");
  }
  const Tensor* bp = b.defined() ? &b : nullptr;
  try {
    QUENCH_ASSIGN_OR_RETURN(ConvPlan * p, plan_for(x, w, bp, ctx.blocked_output_allowed()));
    if (p->reference) return run_reference(ctx, *p, x, w, bp);
    return run_dnnl(ctx, *p, x, w, bp);
  } catch (const dnnl::error& e) {
    return dnnl_error_status(node_, e);
  }
}

template <bool kTranspose>
Result<std::unique_ptr<OpKernel>> conv_factory(const KernelInfo& info) {
  QUENCH_ASSIGN_OR_RETURN(FusedActivation act, fused_activation_from_node(info.fused_activation));
  return std::unique_ptr<OpKernel>(new ConvKernel(info, act, kTranspose));
}

constexpr uint32_t kConvFlags = kAcceptsBlocked | kFusesActivation;

const KernelDef kTable[] = {
    {"", "Conv", 1, kOpsetMax, DType::kFloat32, conv_factory<false>, 0, kConvFlags},
    {"", "ConvTranspose", 1, kOpsetMax, DType::kFloat32, conv_factory<true>, 0, kConvFlags},
};

}  // namespace

std::span<const KernelDef> conv_kernels() { return kTable; }

}  // namespace quench
