// MaxPool, AveragePool, LpPool, GlobalMaxPool, GlobalAveragePool, GlobalLpPool (float32):
// oneDNN pooling with the reference loops of pool_ref.cpp beside it. MaxPool also takes int8 /
// uint8 (opset 12), through the reference loops.
//
// Layouts: every row carries kAcceptsBlocked. X may arrive in a oneDNN blocked layout (from a
// Conv); the oneDNN path pools it in place of a reorder, and when blocked_output_allowed() the
// output keeps that layout, so a conv -> pool -> conv chain never leaves oneDNN's format.
// The reference path (LpPool, MaxPool's Indices output, AveragePool with count_include_pad where
// ceil_mode reaches past the declared padding, more than 3 spatial axes) makes X plain first.
#include <mutex>

#include "runtime/kernels/dnnl_common.h"
#include "runtime/kernels/pool_ref.h"
#include "runtime/registry.h"

namespace quench {

namespace {

using dnnl::memory;

struct PoolPlan {
  memory::desc x_md;  // key
  bool blocked_allowed = false;
  bool want_indices = false;

  PoolGeometry geo;
  bool reference = false;
  dnnl::primitive prim;
  memory::desc dst_md, scratch_md;
  std::optional<dnnl::reorder> dst_reorder;  // dst_md -> plain
  std::shared_ptr<const DnnlLayout> dst_layout;
};

class PoolKernel final : public OpKernel {
 public:
  PoolKernel(const KernelInfo& info, PoolKind kind, bool global)
      : node_(info.node), kind_(kind), global_(global), use_dnnl_(dnnl_enabled()) {}

  Status compute(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const bool want_indices = ctx.num_outputs() > 1 && ctx.output_wanted(1);
    if (x.dtype() == DType::kInt8 || x.dtype() == DType::kUInt8) {
      if (kind_ != PoolKind::kMax) return ctx.unsupported("X " + x.describe() + " must be float32");
      return run_int8(ctx, x, want_indices);
    }
    if (x.dtype() != DType::kFloat32) return ctx.unsupported("X " + x.describe() + " must be float32");
    try {
      QUENCH_ASSIGN_OR_RETURN(PoolPlan * p, plan_for(x, ctx.blocked_output_allowed(), want_indices));
      if (p->reference) return run_reference(ctx, *p, x);
      return run_dnnl(ctx, *p, x);
    } catch (const dnnl::error& e) {
      return dnnl_error_status(node_, e);
    }
  }

 private:
  Result<PoolPlan*> plan_for(const Tensor& x, bool blocked_allowed, bool want_indices) {
    memory::desc x_md = tensor_md(x);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : plans_) {
      if (p->x_md == x_md && p->blocked_allowed == blocked_allowed &&
          p->want_indices == want_indices) {
        return p.get();
      }
    }
    auto p = std::make_unique<PoolPlan>();
    p->x_md = x_md;
    p->blocked_allowed = blocked_allowed;
    p->want_indices = want_indices;
    if (global_) {
      QUENCH_ASSIGN_OR_RETURN(p->geo, global_pool_geometry(node_, kind_, x.shape()));
    } else {
      QUENCH_ASSIGN_OR_RETURN(p->geo, pool_geometry(node_, kind_, x.shape()));
    }
    const PoolGeometry& g = p->geo;
    p->reference = !use_dnnl_ || kind_ == PoolKind::kLp || want_indices || g.spatial_rank() > 3 ||
                   shape_numel(g.dst_shape()) == 0 ||
                   (kind_ == PoolKind::kAverage && g.count_include_pad && g.ceil_extends());
    if (!p->reference) {
      try {
        build_dnnl(*p);
      } catch (const dnnl::error&) {
        p->reference = true;
      }
    }
    if (use_dnnl_ && p->reference) note_dnnl_fallback();
    plans_.push_back(std::move(p));
    return plans_.back().get();
  }

  void build_dnnl(PoolPlan& p) {
    const PoolGeometry& g = p.geo;
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    if (kind_ == PoolKind::kAverage) {
      alg = g.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                : dnnl::algorithm::pooling_avg_exclude_padding;
    }
    memory::desc dst_any(to_dims(g.dst_shape()), memory::data_type::f32, memory::format_tag::any);
    memory::dims dil;
    for (int64_t d : g.dilations) dil.push_back(d - 1);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, p.x_md, dst_any,
                                     to_dims(g.strides), to_dims(g.kernel), dil,
                                     to_dims(g.pads_begin), to_dims(g.pads_end_ceil));
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::pooling_v2_forward::primitive_desc pd(d, attr, dnnl_engine());
    if (is_reference_impl(pd)) {  // oneDNN 2.6 has only ref:any for dilated pooling
      p.reference = true;
      return;
    }
    p.prim = dnnl::pooling_v2_forward(pd);
    p.dst_md = pd.dst_desc();
    p.scratch_md = pd.scratchpad_desc();
    if (!is_plain_md(p.dst_md)) {
      if (p.blocked_allowed) {
        p.dst_layout = std::make_shared<DnnlLayout>(p.dst_md);
      } else {
        p.dst_reorder = make_reorder(p.dst_md, plain_md(g.dst_shape()));
      }
    }
  }

  Status run_reference(KernelContext& ctx, const PoolPlan& p, const Tensor& x) {
    QUENCH_ASSIGN_OR_RETURN(Tensor xp, plain_input(x));
    const Shape dst_shape = p.geo.dst_shape();
    Tensor& y = ctx.allocate_output(0, DType::kFloat32, dst_shape);
    int64_t* indices = nullptr;
    if (p.want_indices) indices = ctx.allocate_output(1, DType::kInt64, dst_shape).data<int64_t>();
    if (y.numel() == 0) return Status();
    pool_ref(p.geo, xp.data<float>(), y.data<float>(), indices);
    return Status();
  }

  // MaxPool-12 on int8 / uint8: the reference loops (quantized CNNs are not this kernel's target).
  Status run_int8(KernelContext& ctx, const Tensor& x_in, bool want_indices) {
    QUENCH_ASSIGN_OR_RETURN(Tensor x, plain_input(x_in));
    QUENCH_ASSIGN_OR_RETURN(PoolGeometry g, global_ ? global_pool_geometry(node_, kind_, x.shape())
                                                     : pool_geometry(node_, kind_, x.shape()));
    Tensor& y = ctx.allocate_output(0, x.dtype(), g.dst_shape());
    int64_t* indices = nullptr;
    if (want_indices) indices = ctx.allocate_output(1, DType::kInt64, g.dst_shape()).data<int64_t>();
    if (y.numel() == 0) return Status();
    if (x.dtype() == DType::kInt8) {
      pool_ref(g, x.data<int8_t>(), y.data<int8_t>(), indices);
    } else {
      pool_ref(g, x.data<uint8_t>(), y.data<uint8_t>(), indices);
    }
    return Status();
  }

  Status run_dnnl(KernelContext& ctx, const PoolPlan& p, const Tensor& x) {
    const Shape dst_shape = p.geo.dst_shape();
    Tensor dst_buf;
    void* dst = dst_pointer(ctx, dst_shape, p.dst_layout, p.dst_reorder.has_value(), p.dst_md, dst_buf);
    execute(p.prim, p.scratch_md,
            {{DNNL_ARG_SRC, make_memory(p.x_md, x.raw_data())},
             {DNNL_ARG_DST, make_memory(p.dst_md, dst)}});
    if (p.dst_reorder) {
      Tensor& y = ctx.allocate_output(0, DType::kFloat32, dst_shape);
      run_reorder(*p.dst_reorder, p.dst_md, dst, plain_md(dst_shape), y.raw_data());
    }
    return Status();
  }

  const Node& node_;
  PoolKind kind_;
  bool global_;
  bool use_dnnl_;
  std::mutex mu_;
  std::vector<std::unique_ptr<PoolPlan>> plans_;
};

template <PoolKind kKind, bool kGlobal>
Result<std::unique_ptr<OpKernel>> pool_factory(const KernelInfo& info) {
  return std::unique_ptr<OpKernel>(new PoolKernel(info, kKind, kGlobal));
}

const KernelDef kTable[] = {
    {"", "MaxPool", 1, kOpsetMax, DType::kFloat32, pool_factory<PoolKind::kMax, false>, 0,
     kAcceptsBlocked},
    // The executor lets a value stay blocked only when every candidate row of its consumer
    // accepts blocked inputs, so the int8 rows carry the flag too (run_int8 makes X plain).
    {"", "MaxPool", 12, kOpsetMax, DType::kInt8, pool_factory<PoolKind::kMax, false>, 0,
     kAcceptsBlocked},
    {"", "MaxPool", 12, kOpsetMax, DType::kUInt8, pool_factory<PoolKind::kMax, false>, 0,
     kAcceptsBlocked},
    {"", "AveragePool", 1, kOpsetMax, DType::kFloat32, pool_factory<PoolKind::kAverage, false>, 0,
     kAcceptsBlocked},
    {"", "LpPool", 1, kOpsetMax, DType::kFloat32, pool_factory<PoolKind::kLp, false>, 0,
     kAcceptsBlocked},
    {"", "GlobalMaxPool", 1, kOpsetMax, DType::kFloat32, pool_factory<PoolKind::kMax, true>, 0,
     kAcceptsBlocked},
    {"", "GlobalAveragePool", 1, kOpsetMax, DType::kFloat32,
     pool_factory<PoolKind::kAverage, true>, 0, kAcceptsBlocked},
    {"", "GlobalLpPool", 1, kOpsetMax, DType::kFloat32, pool_factory<PoolKind::kLp, true>, 0,
     kAcceptsBlocked},
};

}  // namespace

std::span<const KernelDef> pool_kernels() { return kTable; }

}  // namespace quench
