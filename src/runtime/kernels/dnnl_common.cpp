// oneDNN plumbing shared by the conv, gemm and pool kernels and AdaRound. See dnnl_common.h.
#include "runtime/kernels/dnnl_common.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "runtime/kernels/conv_ref.h"

namespace quench {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

dnnl::memory::dims to_dims(const Shape& shape) { return dnnl::memory::dims(shape.begin(), shape.end()); }

dnnl::memory::desc plain_md(const Shape& shape) {
  dnnl::memory::dims dims = to_dims(shape);
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * std::max<int64_t>(dims[i], 1);
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::desc tensor_md(const Tensor& t) {
  if (!t.is_plain()) {
    if (auto* l = dynamic_cast<const DnnlLayout*>(t.layout().get())) return l->md();
  }
  return plain_md(t.shape());
}

bool is_plain_md(const dnnl::memory::desc& md) {
  if (md.data.format_kind != dnnl_blocked) return false;
  Shape shape(md.data.dims, md.data.dims + md.data.ndims);
  return md == plain_md(shape);
}

std::string DnnlLayout::describe() const {
  const dnnl_memory_desc_t& d = md_.data;
  if (d.format_kind != dnnl_blocked) return "oneDNN (non-blocked format)";
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  // A oneDNN-style tag: dims ordered outermost first, upper case where a dim is also blocked
  // inside, then the inner blocks ("aBcd16b" is nChw16c).
  std::vector<int> order(static_cast<size_t>(d.ndims));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return b.strides[x] > b.strides[y]; });
  std::string tag;
  for (int i : order) {
    bool blocked = false;
    for (int k = 0; k < b.inner_nblks; ++k) blocked |= b.inner_idxs[k] == i;
    tag += static_cast<char>((blocked ? 'A' : 'a') + i);
  }
  for (int k = 0; k < b.inner_nblks; ++k) {
    tag += std::to_string(b.inner_blks[k]) + static_cast<char>('a' + b.inner_idxs[k]);
  }
  Shape dims(d.dims, d.dims + d.ndims);
  return "oneDNN " + tag + " " + shape_to_string(dims);
}

Status DnnlLayout::reorder_to_plain(const Tensor& src, Tensor& dst) const {
  if (src.layout().get() != this) return Status::internal("DnnlLayout: tensor has another layout");
  if (!dst.is_plain() || dst.shape() != src.shape() || dst.dtype() != DType::kFloat32) {
    return Status::internal("DnnlLayout: reorder to " + dst.describe() + " from " + src.describe());
  }
  dnnl::memory::desc dst_md = plain_md(dst.shape());
  try {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!to_plain_) to_plain_ = make_reorder(md_, dst_md);
    }
    run_reorder(*to_plain_, md_, src.raw_data(), dst_md, dst.raw_data());
  } catch (const dnnl::error& e) {
    return Status::internal(std::string("oneDNN reorder to plain failed: ") + e.what());
  }
  return Status();
}

Tensor make_blocked_tensor(const Shape& shape, const std::shared_ptr<const DnnlLayout>& layout) {
  return Tensor::with_layout(DType::kFloat32, shape, layout, layout->md().get_size());
}

Tensor make_scratch_tensor(const dnnl::memory::desc& md) {
  size_t n = (md.get_size() + sizeof(float) - 1) / sizeof(float);
  return Tensor::empty(DType::kFloat32, {static_cast<int64_t>(n)});
}

void append_activation(dnnl::post_ops& ops, const FusedActivation& act) {
  using dnnl::algorithm;
  switch (act.kind) {
    case ActivationKind::kNone: return;
    case ActivationKind::kRelu: ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f); return;
    case ActivationKind::kLeakyRelu:
      ops.append_eltwise(1.0f, algorithm::eltwise_relu, act.alpha, 0.0f);
      return;
    case ActivationKind::kClip:
      ops.append_eltwise(1.0f, algorithm::eltwise_clip, act.alpha, act.beta);
      return;
    case ActivationKind::kSigmoid:
      ops.append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f);
      return;
    case ActivationKind::kTanh: ops.append_eltwise(1.0f, algorithm::eltwise_tanh, 0.0f, 0.0f); return;
    case ActivationKind::kHardSigmoid:
      // oneDNN 2.6 has no hardsigmoid: alpha * x + beta, then clip to [0, 1].
      ops.append_eltwise(1.0f, algorithm::eltwise_linear, act.alpha, act.beta);
      ops.append_eltwise(1.0f, algorithm::eltwise_clip, 0.0f, 1.0f);
      return;
    case ActivationKind::kHardSwish:
      ops.append_eltwise(1.0f, algorithm::eltwise_hardswish, 0.0f, 0.0f);
      return;
    case ActivationKind::kElu: ops.append_eltwise(1.0f, algorithm::eltwise_elu, act.alpha, 0.0f); return;
  }
}

dnnl::primitive_attr make_attr(const FusedActivation& act) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!act.none()) {
    dnnl::post_ops ops;
    append_activation(ops, act);
    attr.set_post_ops(ops);
  }
  return attr;
}

namespace {
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
struct ThreadScratchpad {
  std::unique_ptr<void, FreeDeleter> buffer;
  size_t size = 0;
};
}  // namespace

dnnl::memory scratchpad_memory(const dnnl::memory::desc& md) {
  thread_local ThreadScratchpad scratch;
  size_t need = md.get_size();
  if (need > scratch.size) {
    size_t rounded = (need + 4095) / 4096 * 4096;
    scratch.buffer.reset(std::aligned_alloc(4096, rounded));
    if (!scratch.buffer) throw std::bad_alloc();
    scratch.size = rounded;
  }
  return dnnl::memory(md, dnnl_engine(), need ? scratch.buffer.get() : nullptr);
}

dnnl::reorder make_reorder(const dnnl::memory::desc& src_md, const dnnl::memory::desc& dst_md) {
  // Library-managed scratchpad: plain f32 reorders need none, and execution then needs no pd.
  return dnnl::reorder(dnnl::reorder::primitive_desc(dnnl_engine(), src_md, dnnl_engine(), dst_md));
}

void run_reorder(const dnnl::reorder& r, const dnnl::memory::desc& src_md, const void* src,
                 const dnnl::memory::desc& dst_md, void* dst) {
  dnnl::stream& s = dnnl_stream();
  r.execute(s, {{DNNL_ARG_FROM, make_memory(src_md, src)}, {DNNL_ARG_TO, make_memory(dst_md, dst)}});
  s.wait();
}

void reorder_once(const dnnl::memory::desc& src_md, const void* src,
                  const dnnl::memory::desc& dst_md, void* dst) {
  run_reorder(make_reorder(src_md, dst_md), src_md, src, dst_md, dst);
}

void execute(const dnnl::primitive& prim, const dnnl::memory::desc& scratch_md,
             std::unordered_map<int, dnnl::memory> args) {
  args[DNNL_ARG_SCRATCHPAD] = scratchpad_memory(scratch_md);
  dnnl::stream& s = dnnl_stream();
  prim.execute(s, args);
  s.wait();
}

Status dnnl_error_status(const Node& node, const dnnl::error& e) {
  return Status::internal(node.label() + ": oneDNN: " + e.what() + " (status " +
                          std::to_string(static_cast<int>(e.status)) + ")");
}

bool is_reference_impl(const dnnl::primitive_desc_base& pd) {
  std::string name = pd.impl_info_str();
  return name.rfind("ref", 0) == 0;
}

Result<Tensor> plain_input(const Tensor& t) { return to_plain(t); }

void* dst_pointer(KernelContext& ctx, const Shape& dst_shape,
                  const std::shared_ptr<const DnnlLayout>& keep_layout, bool reorder_follows,
                  const dnnl::memory::desc& dst_md, Tensor& scratch) {
  if (keep_layout) {
    ctx.set_output(0, make_blocked_tensor(dst_shape, keep_layout));
    return ctx.output(0).raw_data();
  }
  if (reorder_follows) {
    scratch = make_scratch_tensor(dst_md);
    return scratch.raw_data();
  }
  return ctx.allocate_output(0, DType::kFloat32, dst_shape).raw_data();
}

bool DnnlLayout::same_as(const TensorLayout& other) const {
  if (this == &other) return true;
  auto* o = dynamic_cast<const DnnlLayout*>(&other);
  return o && o->md_ == md_;
}

bool dnnl_same_layout(const Tensor& a, const Tensor& b) {
  if (a.is_plain() || b.is_plain() || a.dtype() != b.dtype()) return false;
  if (a.layout() == b.layout()) return true;
  auto* la = dynamic_cast<const DnnlLayout*>(a.layout().get());
  auto* lb = dynamic_cast<const DnnlLayout*>(b.layout().get());
  return la && lb && la->md() == lb->md();
}

std::string dnnl_layout_name(const Tensor& t) {
  if (t.is_plain()) return "plain";
  return t.layout()->describe();
}

dnnl::memory::desc conv_weights_md(const ConvGeometry& g) {
  const int64_t G = g.group, Cg = g.in_channels / G, Mg = g.out_channels / G;
  const int64_t ks = shape_numel(g.kernel);
  dnnl::memory::dims dims, strides;
  if (G > 1) {
    dims.push_back(G);
    strides.push_back(Cg * Mg * ks);
  }
  dims.push_back(Mg);
  strides.push_back(g.transpose ? ks : Cg * ks);
  dims.push_back(Cg);
  strides.push_back(g.transpose ? Mg * ks : ks);
  dnnl::memory::dims kstrides(g.kernel.size(), 1);
  for (size_t i = g.kernel.size(); i-- > 1;) kstrides[i - 1] = kstrides[i] * g.kernel[i];
  for (size_t i = 0; i < g.kernel.size(); ++i) {
    dims.push_back(g.kernel[i]);
    strides.push_back(kstrides[i]);
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

}  // namespace quench
