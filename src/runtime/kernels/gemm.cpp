// Gemm and MatMul (float32): the oneDNN matmul primitive, with the reference loops of
// gemm_ref.cpp beside it.
//
// Fusion: both rows carry kFusesActivation, with the contract described at the top of conv.cpp
// (the factory returns Status::unsupported for an activation it cannot fuse; the executor then
// runs it unfused). Inputs and outputs are plain (no kAcceptsBlocked).
//
// Per input-shape plan, built once: the primitive, and a constant B already reordered into the
// layout oneDNN prefers (format_tag::any). Gemm maps onto matmul as
//   dst = act(alpha * op(A) op(B) + beta * C)
// with transposes expressed as strides; C becomes matmul's bias when alpha = beta = 1 and C is a
// row vector (the fully connected layer case), otherwise it is broadcast into dst first and added
// by a sum post-op scaled by beta. MatMul with a 2-D B folds A's batch dimensions into M, so that
// one large matrix product runs instead of many small ones.
#include <mutex>

#include "core/parallel.h"
#include "runtime/kernels/dnnl_common.h"
#include "runtime/kernels/gemm_ref.h"
#include "runtime/registry.h"

namespace quench {

namespace {

using dnnl::memory;

struct GemmPlan {
  Shape a_shape, b_shape, c_shape;  // key (c_shape empty: no C)
  bool has_c = false;

  GemmGeometry gemm;    // Gemm
  MatMulGeometry mm;    // MatMul
  Shape dst_shape;
  bool reference = false;

  dnnl::primitive prim;
  memory::desc src_md, wei_user_md, wei_md, dst_md, bias_md, scratch_md;
  bool c_as_bias = false;   // C passed as matmul bias
  bool c_prefill = false;   // C broadcast into dst before a sum post-op
  Tensor packed_w;          // constant B in wei_md
};

memory::desc strided_md(const memory::dims& dims, const memory::dims& strides) {
  return memory::desc(dims, memory::data_type::f32, strides);
}

class GemmKernel final : public OpKernel {
 public:
  GemmKernel(const KernelInfo& info, FusedActivation act, bool matmul)
      : node_(info.node), act_(act), matmul_(matmul), use_dnnl_(dnnl_enabled()) {
    if (const Tensor* b = info.constant_input(1); b && b->is_plain()) b_const_ = *b;
  }

  Status compute(KernelContext& ctx) override {
    if (!ctx.has_input(0) || !ctx.has_input(1)) return ctx.invalid("inputs A and B are required");
    QUENCH_ASSIGN_OR_RETURN(Tensor a, plain_input(ctx.input(0)));
    QUENCH_ASSIGN_OR_RETURN(Tensor b, plain_input(ctx.input(1)));
    Tensor c;
    if (!matmul_ && ctx.has_input(2)) {
      QUENCH_ASSIGN_OR_RETURN(c, plain_input(ctx.input(2)));
    }
    for (const Tensor* t : {&a, &b, &c}) {
      if (t->defined() && t->dtype() != DType::kFloat32) {
        return ctx.unsupported("input " + t->describe() + " is not float32");
      }
    }
    try {
      QUENCH_ASSIGN_OR_RETURN(GemmPlan * p, plan_for(a, b, c.defined() ? &c : nullptr));
      Tensor& y = ctx.allocate_output(0, DType::kFloat32, p->dst_shape);
      if (p->reference) return run_reference(*p, a, b, c, y);
      return run_dnnl(*p, a, b, c, y);
    } catch (const dnnl::error& e) {
      return dnnl_error_status(node_, e);
    }
  }

 private:
  Result<GemmPlan*> plan_for(const Tensor& a, const Tensor& b, const Tensor* c) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : plans_) {
      if (p->a_shape == a.shape() && p->b_shape == b.shape() && p->has_c == (c != nullptr) &&
          (!c || p->c_shape == c->shape())) {
        return p.get();
      }
    }
    auto p = std::make_unique<GemmPlan>();
    p->a_shape = a.shape();
    p->b_shape = b.shape();
    p->has_c = c != nullptr;
    if (c) p->c_shape = c->shape();
    if (matmul_) {
      QUENCH_ASSIGN_OR_RETURN(p->mm, matmul_geometry(node_, a.shape(), b.shape()));
      p->dst_shape = p->mm.dst_shape;
      p->reference = p->mm.batch.size() + 2 > DNNL_MAX_NDIMS;
    } else {
      QUENCH_ASSIGN_OR_RETURN(p->gemm, gemm_geometry(node_, a.shape(), b.shape(), c ? &c->shape() : nullptr));
      p->dst_shape = {p->gemm.M, p->gemm.N};
    }
    const int64_t k = matmul_ ? p->mm.K : p->gemm.K;
    p->reference = p->reference || !use_dnnl_ || shape_numel(p->dst_shape) == 0 || k == 0;
    if (!p->reference) {
      try {
        build_dnnl(*p, b);
      } catch (const dnnl::error&) {
        p->reference = true;
      }
    }
    if (use_dnnl_ && p->reference) note_dnnl_fallback();
    plans_.push_back(std::move(p));
    return plans_.back().get();
  }

  void build_dnnl(GemmPlan& p, const Tensor& b) {
    const bool const_b = b_const_.defined() && b.shares_storage(b_const_);
    memory::dims src_dims, wei_dims, dst_dims;
    if (matmul_) {
      const MatMulGeometry& g = p.mm;
      const bool b_is_2d = p.b_shape.size() <= 2;
      if (b_is_2d) {
        // All of A's batch entries share B: one [batch * M, K] x [K, N] product.
        const int64_t rows = shape_numel(g.batch) * g.M;
        src_dims = {rows, g.K};
        wei_dims = {g.K, g.N};
        dst_dims = {rows, g.N};
      } else {
        src_dims = to_dims(g.a_batch);
        wei_dims = to_dims(g.b_batch);
        dst_dims = to_dims(g.batch);
        src_dims.insert(src_dims.end(), {g.M, g.K});
        wei_dims.insert(wei_dims.end(), {g.K, g.N});
        dst_dims.insert(dst_dims.end(), {g.M, g.N});
      }
      p.src_md = plain_md(Shape(src_dims.begin(), src_dims.end()));
      p.wei_user_md = plain_md(Shape(wei_dims.begin(), wei_dims.end()));
      p.dst_md = plain_md(Shape(dst_dims.begin(), dst_dims.end()));
    } else {
      const GemmGeometry& g = p.gemm;
      p.src_md = strided_md({g.M, g.K}, g.trans_a ? memory::dims{1, g.M} : memory::dims{g.K, 1});
      p.wei_user_md = strided_md({g.K, g.N}, g.trans_b ? memory::dims{1, g.K} : memory::dims{g.N, 1});
      p.dst_md = plain_md({g.M, g.N});
      if (g.has_c) {
        p.c_as_bias = g.alpha == 1.0f && g.beta == 1.0f && g.c_shape == Shape{1, g.N};
        p.c_prefill = !p.c_as_bias;
      }
      if (p.c_as_bias) p.bias_md = plain_md(g.c_shape);
    }
    memory::desc wei_req =
        const_b ? memory::desc(p.wei_user_md.dims(), memory::data_type::f32, memory::format_tag::any)
                : p.wei_user_md;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    if (!matmul_ && p.gemm.alpha != 1.0f) attr.set_output_scales(0, {p.gemm.alpha});
    if (p.c_prefill) ops.append_sum(p.gemm.beta);
    append_activation(ops, act_);
    attr.set_post_ops(ops);
    dnnl::matmul::desc d = p.c_as_bias ? dnnl::matmul::desc(p.src_md, wei_req, p.bias_md, p.dst_md)
                                       : dnnl::matmul::desc(p.src_md, wei_req, p.dst_md);
    dnnl::matmul::primitive_desc pd(d, attr, dnnl_engine());
    if (is_reference_impl(pd)) {
      p.reference = true;
      return;
    }
    p.prim = dnnl::matmul(pd);
    p.wei_md = pd.weights_desc();
    p.scratch_md = pd.scratchpad_desc();
    if (const_b) {
      for (auto& other : plans_) {
        if (other->packed_w.defined() && other->wei_md == p.wei_md) p.packed_w = other->packed_w;
      }
      if (!p.packed_w.defined()) {
        p.packed_w = make_scratch_tensor(p.wei_md);
        reorder_once(p.wei_user_md, b.raw_data(), p.wei_md, p.packed_w.raw_data());
      }
    }
  }

  Status run_reference(const GemmPlan& p, const Tensor& a, const Tensor& b, const Tensor& c,
                       Tensor& y) {
    if (y.numel() == 0) return Status();
    if (matmul_) {
      matmul_ref(p.mm, a.data<float>(), b.data<float>(), y.data<float>(), act_);
    } else {
      gemm_ref(p.gemm, a.data<float>(), b.data<float>(), c.defined() ? c.data<float>() : nullptr,
               y.data<float>(), act_);
    }
    return Status();
  }

  Status run_dnnl(const GemmPlan& p, const Tensor& a, const Tensor& b, const Tensor& c, Tensor& y) {
    if (p.c_prefill) {
      const GemmGeometry& g = p.gemm;
      const float* cp = c.data<float>();
      float* yp = y.data<float>();
      parallel_for(g.M, [&](int64_t begin, int64_t end) {
        for (int64_t m = begin; m < end; ++m)
          for (int64_t n = 0; n < g.N; ++n) yp[m * g.N + n] = cp[m * g.c_row_stride + n * g.c_col_stride];
      }, 64);
    }
    const void* wei = p.packed_w.defined() ? p.packed_w.raw_data() : b.raw_data();
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, make_memory(p.src_md, a.raw_data())},
                                         {DNNL_ARG_WEIGHTS, make_memory(p.wei_md, wei)},
                                         {DNNL_ARG_DST, make_memory(p.dst_md, y.raw_data())}};
    if (p.c_as_bias) args[DNNL_ARG_BIAS] = make_memory(p.bias_md, c.raw_data());
    execute(p.prim, p.scratch_md, std::move(args));
    return Status();
  }

  const Node& node_;
  FusedActivation act_;
  bool matmul_;
  bool use_dnnl_;
  Tensor b_const_;
  std::mutex mu_;
  std::vector<std::unique_ptr<GemmPlan>> plans_;
};

template <bool kMatMul>
Result<std::unique_ptr<OpKernel>> gemm_factory(const KernelInfo& info) {
  QUENCH_ASSIGN_OR_RETURN(FusedActivation act, fused_activation_from_node(info.fused_activation));
  return std::unique_ptr<OpKernel>(new GemmKernel(info, act, kMatMul));
}

const KernelDef kTable[] = {
    {"", "Gemm", 1, kOpsetMax, DType::kFloat32, gemm_factory<false>, 0, kFusesActivation},
    {"", "MatMul", 1, kOpsetMax, DType::kFloat32, gemm_factory<true>, 0, kFusesActivation},
};

}  // namespace

std::span<const KernelDef> gemm_kernels() { return kTable; }

}  // namespace quench
