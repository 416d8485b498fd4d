// AdaRound, one layer: forward / backward passes and the optimisation loop. The notation and the
// derivatives are in adaround_layer.h; adaround.cpp has the numbered steps of the algorithm.
#include "algo/adaround_layer.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <numbers>
#include <random>
#include <unordered_map>

#include "core/clock.h"
#include "core/parallel.h"
#include "quant/quantize.h"
#include "runtime/kernels/conv_ref.h"
#include "runtime/kernels/dnnl_common.h"

namespace quench {

namespace {

using dnnl::memory;

// 64-byte aligned float buffer (oneDNN's kernels prefer aligned user memory).
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t bytes) : p_(static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64))) {
    std::memset(p_.get(), 0, (bytes + 63) / 64 * 64);
  }
  float* get() const { return p_.get(); }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> p_;
};

// y = x W and its weight gradient for one batch, W always plain (ONNX layout). forward() takes
// plain row-major activations (the evaluations); the training passes take "packed" activations,
// in the layout the primitives read and write, into which optimize() converts the cached samples
// once so that its iterations run no activation reorders. A packed sample is contiguous (the batch axis is
// outermost); packed outputs may hold padding (channels rounded up to a block), marked 0 in
// out_mask().
class LinearOp {
 public:
  virtual ~LinearOp() = default;
  virtual void forward(const float* x, const float* w, float* y) = 0;

  virtual int64_t packed_in() const = 0;   // floats per packed input sample
  virtual int64_t packed_out() const = 0;  // floats per packed output sample
  virtual void pack_in(const float* plain, int64_t n, float* packed) = 0;
  virtual void pack_out(const float* plain, int64_t n, float* packed) = 0;
  virtual const float* out_mask() const { return nullptr; }  // per packed output sample; null: none
  virtual void forward_packed(const float* x, const float* w, float* y) = 0;
  virtual void backward_packed(const float* x, const float* dy, float* dw) = 0;
};

// ---- Conv / ConvTranspose: oneDNN forward_training + backward_weights ---------------------------

// True when the batch axis of md is outermost and unblocked: sample i is the i-th contiguous
// slice of size get_size() / batch.
bool batch_outermost(const memory::desc& md, int64_t batch) {
  if (md.data.format_kind != dnnl_blocked) return false;
  const dnnl_blocking_desc_t& b = md.data.format_desc.blocking;
  for (int k = 0; k < b.inner_nblks; ++k)
    if (b.inner_idxs[k] == 0) return false;
  for (int d = 1; d < md.data.ndims; ++d)
    if (b.strides[d] > b.strides[0]) return false;
  return b.strides[0] * batch * 4 == static_cast<int64_t>(md.get_size());
}

// Weights between the plain ONNX layout and a primitive's layout. Weights are small: a gather
// through an index map (built once by reordering the plain indices) costs less than a reorder
// primitive's thread wake-up.
struct WeightMap {
  memory::desc md;
  std::vector<int32_t> src_of;  // per position of md: plain index + 1, 0 for padding
  Buffer buf;

  void init(const memory::desc& plain, const memory::desc& prim) {
    md = prim;
    if (prim == plain) return;
    const int64_t n = static_cast<int64_t>(plain.get_size() / 4), m = static_cast<int64_t>(prim.get_size() / 4);
    std::vector<float> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = static_cast<float>(i + 1);  // exact below 2^24
    buf = Buffer(prim.get_size());
    reorder_once(plain, idx.data(), prim, buf.get());
    src_of.resize(static_cast<size_t>(m));
    for (int64_t p = 0; p < m; ++p) src_of[static_cast<size_t>(p)] = static_cast<int32_t>(buf.get()[p]);
  }
  bool identity() const { return src_of.empty(); }
  // The primitive's view of plain weights w.
  const float* to_prim(const float* w) {
    if (identity()) return w;
    float* d = buf.get();
    for (size_t p = 0; p < src_of.size(); ++p) d[p] = src_of[p] ? w[src_of[p] - 1] : 0.0f;
    return d;
  }
  float* prim_out(float* w) { return identity() ? w : buf.get(); }
  void from_prim(float* w) {
    if (identity()) return;
    const float* d = buf.get();
    for (size_t p = 0; p < src_of.size(); ++p)
      if (src_of[p]) w[src_of[p] - 1] = d[p];
  }
};

class ConvOp final : public LinearOp {
 public:
  ConvOp(const ConvGeometry& g, const float* bias) : strm_(eng_), batch_(g.batch) {
    const auto f32 = memory::data_type::f32;
    const auto any = memory::format_tag::any;
    Shape x_shape{g.batch, g.in_channels};
    x_shape.insert(x_shape.end(), g.src_spatial.begin(), g.src_spatial.end());
    x_plain_ = plain_md(x_shape);
    y_plain_ = plain_md(g.dst_shape());
    const memory::desc w_plain = conv_weights_md(g);
    const memory::desc src_any(x_plain_.dims(), f32, any), dst_any(y_plain_.dims(), f32, any);
    const memory::desc wei_any(w_plain.dims(), f32, any);
    if (bias) {
      bias_md_ = plain_md({g.out_channels});
      bias_ = bias;
    }
    const memory::dims strides = to_dims(g.strides), pad_l = to_dims(g.pads_begin),
                       pad_r = to_dims(g.pads_end);
    memory::dims dil = to_dims(g.dilations);
    for (auto& d : dil) --d;  // oneDNN counts dilation from 0
    memory::desc fwei, bdwei;
    if (!g.transpose) {
      build<dnnl::convolution_forward, dnnl::convolution_backward_weights>(
          dnnl::algorithm::convolution_direct, src_any, wei_any, dst_any, strides, dil, pad_l, pad_r, fwei, bdwei);
    } else {
      build<dnnl::deconvolution_forward, dnnl::deconvolution_backward_weights>(
          dnnl::algorithm::deconvolution_direct, src_any, wei_any, dst_any, strides, dil, pad_l, pad_r, fwei, bdwei);
    }
    fwei_.init(w_plain, fwei);
    bdwei_.init(w_plain, bdwei);
    // Packed samples need one layout per tensor for both passes, batch outermost.
    packed_ = bsrc_ == fsrc_ && bddst_ == fdst_ && batch_outermost(fsrc_, batch_) &&
              batch_outermost(fdst_, batch_);
    psrc_ = packed_ ? fsrc_ : x_plain_;  // otherwise the packed entry points take plain data
    pdst_ = packed_ ? fdst_ : y_plain_;
    src_buf_ = Buffer(std::max(fsrc_.get_size(), bsrc_.get_size()));
    dst_buf_ = Buffer(std::max(fdst_.get_size(), bddst_.get_size()));
    if (packed_) {
      // 1 where a packed output element is a real one, 0 in the channel padding.
      std::vector<float> ones(y_plain_.get_size() / 4, 1.0f);
      mask_.resize(pdst_.get_size() / 4);
      reorder_once(y_plain_, ones.data(), pdst_, mask_.data());
      mask_.resize(static_cast<size_t>(packed_out()));
    }
  }

  int64_t packed_in() const override { return static_cast<int64_t>(psrc_.get_size() / 4) / batch_; }
  int64_t packed_out() const override { return static_cast<int64_t>(pdst_.get_size() / 4) / batch_; }
  const float* out_mask() const override { return packed_ ? mask_.data() : nullptr; }
  void pack_in(const float* plain, int64_t n, float* packed) override { pack(x_plain_, psrc_, plain, n, packed); }
  void pack_out(const float* plain, int64_t n, float* packed) override { pack(y_plain_, pdst_, plain, n, packed); }

  void forward_packed(const float* x, const float* w, float* y) override {
    if (!packed_) return forward(x, w, y);
    run_forward(memory(psrc_, eng_, const_cast<float*>(x)), w, memory(pdst_, eng_, y));
  }
  void backward_packed(const float* x, const float* dy, float* dw) override {
    if (!packed_) {
      run_backward(stage(x_plain_, x, bsrc_, src_buf_.get()), stage(y_plain_, dy, bddst_, dst_buf_.get()), dw);
      return;
    }
    run_backward(memory(psrc_, eng_, const_cast<float*>(x)), memory(pdst_, eng_, const_cast<float*>(dy)), dw);
  }

  void forward(const float* x, const float* w, float* y) override {
    memory src = stage(x_plain_, x, fsrc_, src_buf_.get());
    memory dst(fdst_, eng_, fdst_ == y_plain_ ? y : dst_buf_.get());
    run_forward(src, w, dst);
    if (!(fdst_ == y_plain_)) reorder_once(fdst_, dst_buf_.get(), y_plain_, y);
  }

 private:
  // The forward_training and backward_weights primitives. The backward pass reads the forward's
  // layouts when it has a fast kernel for them (no reorders in between).
  template <class Fwd, class Bwd>
  void build(dnnl::algorithm alg, const memory::desc& src_any, const memory::desc& wei_any,
             const memory::desc& dst_any, const memory::dims& strides, const memory::dims& dil,
             const memory::dims& pad_l, const memory::dims& pad_r, memory::desc& fwei, memory::desc& bdwei) {
    typename Fwd::primitive_desc fpd(typename Fwd::desc(dnnl::prop_kind::forward_training, alg, src_any, wei_any,
                                                        bias_md_, dst_any, strides, dil, pad_l, pad_r),
                                     eng_);
    typename Bwd::primitive_desc bpd(typename Bwd::desc(alg, fpd.src_desc(), wei_any, memory::desc(),
                                                        fpd.dst_desc(), strides, dil, pad_l, pad_r),
                                     eng_, fpd, /*allow_empty=*/true);
    if (!bpd || is_reference_impl(bpd)) {
      typename Bwd::primitive_desc other(typename Bwd::desc(alg, src_any, wei_any, memory::desc(), dst_any,
                                                            strides, dil, pad_l, pad_r),
                                         eng_, fpd, /*allow_empty=*/true);
      if (other && (!bpd || !is_reference_impl(other))) bpd = other;
    }
    if (!bpd) throw dnnl::error(dnnl_unimplemented, "no backward-weights kernel");
    fwd_ = Fwd(fpd);
    bwd_ = Bwd(bpd);
    fsrc_ = fpd.src_desc(), fdst_ = fpd.dst_desc(), fwei = fpd.weights_desc();
    bsrc_ = bpd.src_desc(), bddst_ = bpd.diff_dst_desc(), bdwei = bpd.diff_weights_desc();
  }

  // Plain data as a primitive's memory: reordered into `buf` when the layouts differ.
  memory stage(const memory::desc& plain, const float* p, const memory::desc& md, float* buf) {
    if (md == plain) return memory(md, eng_, const_cast<float*>(p));
    reorder_once(plain, p, md, buf);
    return memory(md, eng_, buf);
  }
  void run_forward(const memory& src, const float* w, const memory& dst) {
    memory wei(fwei_.md, eng_, const_cast<float*>(fwei_.to_prim(w)));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
    if (bias_) args[DNNL_ARG_BIAS] = memory(bias_md_, eng_, const_cast<float*>(bias_));
    fwd_.execute(strm_, args);
    strm_.wait();
  }
  void run_backward(const memory& src, const memory& ddst, float* dw) {
    memory dwei(bdwei_.md, eng_, bdwei_.prim_out(dw));
    bwd_.execute(strm_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dwei}});
    strm_.wait();
    bdwei_.from_prim(dw);
  }
  // n plain samples -> packed, batch_ at a time (the last batch zero-filled).
  void pack(const memory::desc& plain, const memory::desc& md, const float* src, int64_t n, float* dst) {
    const int64_t per_plain = static_cast<int64_t>(plain.get_size() / 4) / batch_;
    const int64_t per_md = static_cast<int64_t>(md.get_size() / 4) / batch_;
    std::vector<float> in(static_cast<size_t>(per_plain * batch_)), out(static_cast<size_t>(per_md * batch_));
    for (int64_t s = 0; s < n; s += batch_) {
      const int64_t cnt = std::min(batch_, n - s);
      std::fill(in.begin(), in.end(), 0.0f);
      std::memcpy(in.data(), src + s * per_plain, static_cast<size_t>(cnt * per_plain) * 4);
      reorder_once(plain, in.data(), md, out.data());
      std::memcpy(dst + s * per_md, out.data(), static_cast<size_t>(cnt * per_md) * 4);
    }
  }

  dnnl::engine eng_ = dnnl_engine();
  dnnl::stream strm_;
  int64_t batch_;
  dnnl::primitive fwd_, bwd_;
  memory::desc x_plain_, y_plain_, bias_md_;
  memory::desc fsrc_, fdst_;   // the forward's layouts
  memory::desc bsrc_, bddst_;  // the backward's
  memory::desc psrc_, pdst_;   // packed samples: the forward's layouts, or plain when not packed_
  const float* bias_ = nullptr;
  WeightMap fwei_, bdwei_;
  bool packed_ = false;
  Buffer src_buf_, dst_buf_;
  std::vector<float> mask_;
};

// ---- Gemm / MatMul: dnnl_sgemm ------------------------------------------------------------------

class GemmOp final : public LinearOp {
 public:
  // x [rows, k]; W [o, k] (w_rows_out) or [k, o]; y = alpha x op(W) + beta C. rows = batch *
  // rows_per_sample.
  GemmOp(int64_t rows, int64_t k, int64_t o, int64_t in_per_sample, int64_t out_per_sample, bool w_rows_out,
         float alpha, const float* c, int64_t c_numel, float beta)
      : rows_(rows), k_(k), o_(o), in_(in_per_sample), out_(out_per_sample), w_rows_out_(w_rows_out),
        alpha_(alpha), c_(c), c_numel_(c_numel), beta_(beta) {}

  int64_t packed_in() const override { return in_; }
  int64_t packed_out() const override { return out_; }
  void pack_in(const float* plain, int64_t n, float* packed) override {
    std::memcpy(packed, plain, static_cast<size_t>(n * in_) * 4);
  }
  void pack_out(const float* plain, int64_t n, float* packed) override {
    std::memcpy(packed, plain, static_cast<size_t>(n * out_) * 4);
  }
  void forward_packed(const float* x, const float* w, float* y) override { forward(x, w, y); }

  void forward(const float* x, const float* w, float* y) override {
    if (w_rows_out_) {
      dnnl_sgemm('N', 'T', rows_, o_, k_, alpha_, x, k_, w, k_, 0.0f, y, o_);
    } else {
      dnnl_sgemm('N', 'N', rows_, o_, k_, alpha_, x, k_, w, o_, 0.0f, y, o_);
    }
    if (!c_) return;
    parallel_for(rows_, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < o_; ++j) y[r * o_ + j] += beta_ * c_[c_numel_ == 1 ? 0 : j];
    }, 64);
  }

  // dW = alpha dY^T X (W [o, k]) or alpha X^T dY (W [k, o]).
  void backward_packed(const float* x, const float* dy, float* dw) override {
    if (w_rows_out_) {
      dnnl_sgemm('T', 'N', o_, k_, rows_, alpha_, dy, o_, x, k_, 0.0f, dw, k_);
    } else {
      dnnl_sgemm('T', 'N', k_, o_, rows_, alpha_, x, k_, dy, o_, 0.0f, dw, o_);
    }
  }

 private:
  int64_t rows_, k_, o_, in_, out_;
  bool w_rows_out_;
  float alpha_;
  const float* c_;
  int64_t c_numel_;
  float beta_;
};

// The derivative of the activation at pre-activation y, as torch's autograd takes it (ReLU6 is
// torch's hardtanh: open interval).
float act_grad(const FusedActivation& a, float y) {
  switch (a.kind) {
    case ActivationKind::kRelu: return y > 0.0f ? 1.0f : 0.0f;
    case ActivationKind::kLeakyRelu: return y > 0.0f ? 1.0f : a.alpha;
    case ActivationKind::kClip: return y > a.alpha && y < a.beta ? 1.0f : 0.0f;
    default: return 1.0f;
  }
}

// Sums computed over a fixed number of chunks, added in order: the same result for any thread
// count.
constexpr int64_t kReduceChunks = 64;

template <class F>
double chunked_sum(int64_t n, F&& term_range) {
  std::vector<double> part(kReduceChunks, 0.0);
  const int64_t chunk = (n + kReduceChunks - 1) / kReduceChunks;
  parallel_for(kReduceChunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t b = std::min(n, c * chunk), e = std::min(n, b + chunk);
      part[static_cast<size_t>(c)] = term_range(b, e);
    }
  });
  double s = 0.0;
  for (double p : part) s += p;
  return s;
}

// Index of the encoding parameter (scale / zero point) of every weight element.
std::vector<int32_t> param_index(const Shape& shape, const QuantSpec& spec) {
  const int64_t n = shape_numel(shape);
  std::vector<int32_t> idx(static_cast<size_t>(n), 0);
  if (spec.granularity == Granularity::kPerTensor) return idx;
  const int rank = static_cast<int>(shape.size());
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  int64_t inner = 1;
  for (int i = axis + 1; i < rank; ++i) inner *= shape[static_cast<size_t>(i)];
  const int64_t dim = shape[static_cast<size_t>(axis)];
  const int64_t block = spec.granularity == Granularity::kPerBlock ? spec.block_size : 1;
  const int64_t nblocks = (dim + block - 1) / block;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t i = e % inner, d = (e / inner) % dim, o = e / (inner * dim);
    // Per channel: one parameter per index on the axis; per block: param_shape is the weight's
    // shape with dim(axis) -> nblocks.
    idx[static_cast<size_t>(e)] = static_cast<int32_t>(
        spec.granularity == Granularity::kPerChannel ? d : (o * nblocks + d / block) * inner + i);
  }
  return idx;
}

}  // namespace

double adaround_beta(const AdaRoundSchedule& s, int64_t it) {
  const double warm_end = s.warm_start * static_cast<double>(s.iterations);
  const double rel = (static_cast<double>(it) - warm_end) / (static_cast<double>(s.iterations) - warm_end);
  return s.beta_end + 0.5 * (s.beta_start - s.beta_end) * (1.0 + std::cos(rel * std::numbers::pi));
}

struct AdaRoundLayer::Impl {
  Spec spec;
  Shape sample_output;
  int64_t in_numel = 0, out_numel = 0, out_channels = 1, n_w = 0;
  std::unique_ptr<LinearOp> op;
  // Per weight element: scale, zero point and floor(w / s).
  std::vector<float> s, z, w_floor;
  float qmin = 0, qmax = 0;
  std::vector<float> v, w_soft, dw_dv, reg_dh, dw;
  std::vector<float> y, dy;  // batch outputs and their gradient

  // w~ at the current V, and the pieces of dL/dV that do not depend on the data.
  void soft_weights(double beta, double lambda, double* reg) {
    const float zg = static_cast<float>(kAdaRoundZeta - kAdaRoundGamma);
    const float g0 = static_cast<float>(kAdaRoundGamma);
    const bool with_reg = lambda > 0.0;
    *reg = chunked_sum(n_w, [&](int64_t b, int64_t e) {
      double r = 0.0;
      for (int64_t i = b; i < e; ++i) {
        const float sig = 1.0f / (1.0f + std::exp(-v[i]));
        const float pre = sig * zg + g0;
        const float h = std::clamp(pre, 0.0f, 1.0f);
        const float dh = pre >= 0.0f && pre <= 1.0f ? zg * sig * (1.0f - sig) : 0.0f;
        const float q = w_floor[i] + h + z[i];
        const float qc = std::clamp(q, qmin, qmax);
        w_soft[i] = s[i] * (qc - z[i]);
        dw_dv[i] = q >= qmin && q <= qmax ? s[i] * dh : 0.0f;
        if (with_reg) {
          const double u = 2.0 * h - 1.0, au = std::abs(u);
          r += 1.0 - std::pow(au, beta);
          const double dreg_dh = au > 0.0 ? -2.0 * beta * std::pow(au, beta - 1.0) * (u > 0 ? 1.0 : -1.0) : 0.0;
          reg_dh[i] = static_cast<float>(lambda * dreg_dh) * dh;
        } else {
          reg_dh[i] = 0.0f;
        }
      }
      return r;
    }) * lambda;
  }

  // (1 / P) sum (act(y) - t)^2 over one batch of samples of `per_sample` floats (plain, or packed
  // with `mask` 0 on padding); fills dy when it is given. P counts the real output positions.
  double recon(const float* yb, const float* t, float* dyb, int64_t per_sample, const float* mask) const {
    const int64_t n = spec.batch * per_sample;
    const double positions = static_cast<double>(spec.batch * out_numel / out_channels);
    const float g = static_cast<float>(2.0 / positions);
    const FusedActivation& act = spec.activation;
    return chunked_sum(n, [&](int64_t b, int64_t e) {
      double acc = 0.0;
      for (int64_t i = b; i < e; ++i) {
        const float a = act.none() ? yb[i] : act.apply(yb[i]);
        const float d = mask ? (a - t[i]) * mask[i % per_sample] : a - t[i];
        acc += static_cast<double>(d) * d;
        if (dyb) dyb[i] = g * d * act_grad(act, yb[i]);
      }
      return acc;
    }) / positions;
  }

  // One evaluation of the total loss and dL/dV on a batch of packed samples (LinearOp).
  double step(const float* x, const float* t, double beta, double lambda, float* grad, double* recon_part) {
    double reg = 0.0;
    soft_weights(beta, lambda, &reg);
    op->forward_packed(x, w_soft.data(), y.data());
    const double rec = recon(y.data(), t, dy.data(), op->packed_out(), op->out_mask());
    if (recon_part) *recon_part = rec;
    op->backward_packed(x, dy.data(), dw.data());
    parallel_for(n_w, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) grad[i] = dw[i] * dw_dv[i] + reg_dh[i];
    }, 1024);
    return rec + reg;
  }
};

AdaRoundLayer::AdaRoundLayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdaRoundLayer::~AdaRoundLayer() = default;

Result<std::unique_ptr<AdaRoundLayer>> AdaRoundLayer::create(const Spec& spec) {
  auto m = std::make_unique<Impl>();
  m->spec = spec;
  const Node& node = *spec.node;
  const Tensor& w = spec.weight;
  const Encoding& enc = spec.encoding;
  if (!enc.spec.is_int())
    return Status::unsupported(node.label() + ": AdaRound needs an integer weight grid (got " +
                               enc.spec.describe() + ")");
  QUENCH_RETURN_IF_ERROR(enc.validate(&w.shape()).with_context(node.label() + " weight encoding"));
  if (spec.batch < 1) return Status::invalid("AdaRound: batch size " + std::to_string(spec.batch) + " must be >= 1");
  const int64_t B = spec.batch;
  const float* bias = spec.bias.defined() ? spec.bias.data<float>() : nullptr;
  Shape x_shape{B};
  x_shape.insert(x_shape.end(), spec.sample_input.begin(), spec.sample_input.end());
  try {
    if (node.op_type == "Conv" || node.op_type == "ConvTranspose") {
      const Shape* b_shape = bias ? &spec.bias.shape() : nullptr;
      QUENCH_ASSIGN_OR_RETURN(ConvGeometry g, node.op_type == "Conv"
                                                  ? conv_geometry(node, x_shape, w.shape(), b_shape)
                                                  : conv_transpose_geometry(node, x_shape, w.shape(), b_shape));
      if (g.spatial_rank() > 3)
        return Status::unsupported(node.label() + ": AdaRound handles 1-3 spatial axes (got " +
                                   std::to_string(g.spatial_rank()) + ")");
      Shape out = g.dst_shape();
      m->sample_output.assign(out.begin() + 1, out.end());
      m->out_channels = g.out_channels;
      m->op = std::make_unique<ConvOp>(g, bias);
    } else if (node.op_type == "Gemm" || node.op_type == "MatMul") {
      const bool gemm = node.op_type == "Gemm";
      if (w.rank() != 2)
        return Status::unsupported(node.label() + ": AdaRound needs a 2-D weight (got " + w.describe() + ")");
      if (gemm && node.attr_int("transA", 0) != 0)
        return Status::unsupported(node.label() + ": AdaRound does not handle Gemm with transA=1");
      const bool rows_out = gemm && node.attr_int("transB", 0) != 0;
      const int64_t k = rows_out ? w.dim(1) : w.dim(0), o = rows_out ? w.dim(0) : w.dim(1);
      if (spec.sample_input.empty() || spec.sample_input.back() != k)
        return Status::invalid(node.label() + ": input sample " + shape_to_string(spec.sample_input) +
                               " does not end in the weight's " + std::to_string(k) + " input features");
      if (gemm && spec.sample_input.size() != 1)
        return Status::invalid(node.label() + ": Gemm input must be 2-D (sample " +
                               shape_to_string(spec.sample_input) + ")");
      if (bias && spec.bias.numel() != o && spec.bias.numel() != 1)
        return Status::unsupported(node.label() + ": AdaRound handles a Gemm C of " + std::to_string(o) +
                                   " or 1 values (got " + spec.bias.describe() + ")");
      m->sample_output = spec.sample_input;
      m->sample_output.back() = o;
      m->out_channels = o;
      const int64_t rows = B * shape_numel(spec.sample_input) / k;
      m->op = std::make_unique<GemmOp>(rows, k, o, shape_numel(spec.sample_input), shape_numel(m->sample_output),
                                       rows_out, gemm ? node.attr_float("alpha", 1.0f) : 1.0f,
                                       bias, bias ? spec.bias.numel() : 0,
                                       gemm ? node.attr_float("beta", 1.0f) : 0.0f);
    } else {
      return Status::unsupported(node.label() + ": AdaRound handles Conv, ConvTranspose, Gemm and MatMul");
    }
  } catch (const dnnl::error& e) {
    return Status::unsupported(node.label() + ": oneDNN has no training kernels for this layer: " +
                               e.what());
  }
  m->in_numel = shape_numel(spec.sample_input);
  m->out_numel = shape_numel(m->sample_output);
  m->n_w = w.numel();
  const size_t nw = static_cast<size_t>(m->n_w);
  m->s.resize(nw), m->z.resize(nw), m->w_floor.resize(nw);
  m->qmin = static_cast<float>(enc.spec.qmin());
  m->qmax = static_cast<float>(enc.spec.qmax());
  const std::vector<int32_t> pidx = param_index(w.shape(), enc.spec);
  const float* wp = w.data<float>();
  for (size_t i = 0; i < nw; ++i) {
    m->s[i] = enc.scale[static_cast<size_t>(pidx[i])];
    m->z[i] = static_cast<float>(enc.zero_point[static_cast<size_t>(pidx[i])]);
    m->w_floor[i] = std::floor(wp[i] / m->s[i]);
  }
  m->v.resize(nw), m->w_soft.resize(nw), m->dw_dv.resize(nw), m->reg_dh.resize(nw), m->dw.resize(nw);
  m->y.resize(static_cast<size_t>(B * std::max(m->out_numel, m->op->packed_out())));
  m->dy.resize(m->y.size());
  auto layer = std::unique_ptr<AdaRoundLayer>(new AdaRoundLayer(std::move(m)));
  layer->reset_v();
  return layer;
}

const Shape& AdaRoundLayer::sample_output() const { return impl_->sample_output; }
int64_t AdaRoundLayer::sample_input_numel() const { return impl_->in_numel; }
int64_t AdaRoundLayer::sample_output_numel() const { return impl_->out_numel; }
int64_t AdaRoundLayer::batch() const { return impl_->spec.batch; }
int64_t AdaRoundLayer::weight_numel() const { return impl_->n_w; }
std::vector<float>& AdaRoundLayer::v() { return impl_->v; }

void AdaRoundLayer::reset_v() {
  Impl& m = *impl_;
  const float* w = m.spec.weight.data<float>();
  for (int64_t i = 0; i < m.n_w; ++i) {
    // h(V) = frac: sigma(V) = (frac - gamma) / (zeta - gamma), V = -log(1 / sigma - 1).
    const double frac = static_cast<double>(w[i]) / m.s[i] - m.w_floor[i];
    const double sig = (frac - kAdaRoundGamma) / (kAdaRoundZeta - kAdaRoundGamma);
    m.v[i] = static_cast<float>(-std::log(1.0 / sig - 1.0));
  }
}

double AdaRoundLayer::loss_and_grad(const float* x, const float* t, double beta, double reg_lambda,
                                    float* grad, double* recon) {
  // Through the packed path optimize() takes, so that the tests check that one.
  Impl& m = *impl_;
  const int64_t B = m.spec.batch;
  std::vector<float> xp(static_cast<size_t>(B * m.op->packed_in())), tp(static_cast<size_t>(B * m.op->packed_out()));
  m.op->pack_in(x, B, xp.data());
  m.op->pack_out(t, B, tp.data());
  return m.step(xp.data(), tp.data(), beta, reg_lambda, grad, recon);
}

double AdaRoundLayer::recon_loss(const LayerSamples& data, const float* w) {
  Impl& m = *impl_;
  const int64_t B = m.spec.batch, batches = data.n / B;
  double sum = 0.0;
  for (int64_t b = 0; b < batches; ++b) {
    m.op->forward(data.x + b * B * m.in_numel, w, m.y.data());
    sum += m.recon(m.y.data(), data.t + b * B * m.out_numel, nullptr, m.out_numel, nullptr);
  }
  return batches ? sum / static_cast<double>(batches) : 0.0;
}

Tensor AdaRoundLayer::soft_weight() const {
  Impl& m = *impl_;
  double reg = 0.0;
  m.soft_weights(2.0, 0.0, &reg);
  Tensor t = Tensor::empty(DType::kFloat32, m.spec.weight.shape());
  std::copy(m.w_soft.begin(), m.w_soft.end(), t.data<float>());
  return t;
}

Tensor AdaRoundLayer::hard_weight() const {
  const Impl& m = *impl_;
  Tensor t = Tensor::empty(DType::kFloat32, m.spec.weight.shape());
  float* p = t.data<float>();
  for (int64_t i = 0; i < m.n_w; ++i) {
    const float q = std::clamp(m.w_floor[i] + (m.v[i] >= 0.0f ? 1.0f : 0.0f) + m.z[i], m.qmin, m.qmax);
    p[i] = m.s[i] * (q - m.z[i]);
  }
  return t;
}

Tensor AdaRoundLayer::nearest_weight() const {
  auto q = fake_quantize(impl_->spec.weight, impl_->spec.encoding);
  return q.ok() ? std::move(q).value() : impl_->spec.weight.clone();  // validated in create()
}

Result<LayerOutcome> AdaRoundLayer::optimize(const LayerSamples& data, const AdaRoundSchedule& sch) {
  Impl& m = *impl_;
  const int64_t B = m.spec.batch, n = data.n;
  if (n < B)
    return Status::invalid(m.spec.node->label() + ": AdaRound needs at least " + std::to_string(B) +
                           " cached samples (got " + std::to_string(n) + ")");
  LayerOutcome out;
  reset_v();
  const Tensor nearest = nearest_weight();
  out.recon_nearest = recon_loss(data, nearest.data<float>());
  out.recon_soft = recon_loss(data, soft_weight().data<float>());

  const double t0 = now_seconds();
  // The samples in the layouts the primitives use (a copy: the iterations then only gather).
  const int64_t pin = m.op->packed_in(), pout = m.op->packed_out();
  std::vector<float> xs(static_cast<size_t>(n * pin)), ts(static_cast<size_t>(n * pout));
  m.op->pack_in(data.x, n, xs.data());
  m.op->pack_out(data.t, n, ts.data());
  const size_t nw = static_cast<size_t>(m.n_w);
  std::vector<float> grad(nw), adam_m(nw, 0.0f), adam_v(nw, 0.0f);
  std::vector<float> xb(static_cast<size_t>(B * pin)), tb(static_cast<size_t>(B * pout));
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(sch.seed);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (int64_t it = 0; it < sch.iterations; ++it) {
    // B distinct samples (a partial Fisher-Yates shuffle), as torch.randperm(n)[:B].
    for (int64_t i = 0; i < B; ++i) {
      const int64_t j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
    }
    parallel_for(B, [&](int64_t b0, int64_t b1_) {
      for (int64_t b = b0; b < b1_; ++b) {
        const int64_t src = perm[static_cast<size_t>(b)];
        std::memcpy(xb.data() + b * pin, xs.data() + src * pin, static_cast<size_t>(pin) * sizeof(float));
        std::memcpy(tb.data() + b * pout, ts.data() + src * pout, static_cast<size_t>(pout) * sizeof(float));
      }
    });
    const bool warm = static_cast<double>(it) < sch.warm_start * static_cast<double>(sch.iterations);
    const double loss = m.step(xb.data(), tb.data(), adaround_beta(sch, it), warm ? 0.0 : sch.reg_lambda,
                               grad.data(), nullptr);
    out.iterations_run = it + 1;
    if (!std::isfinite(loss)) {
      out.diverged = true;
      out.diverged_at = it;
      break;
    }
    // Adam, in torch's form: step lr / (1 - b1^t), denominator sqrt(v) / sqrt(1 - b2^t) + eps.
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(it + 1));
    const double bc2 = 1.0 - std::pow(b2, static_cast<double>(it + 1));
    const float step = static_cast<float>(sch.lr / bc1), inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
    parallel_for(m.n_w, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float g = grad[static_cast<size_t>(i)];
        float& mm = adam_m[static_cast<size_t>(i)];
        float& vv = adam_v[static_cast<size_t>(i)];
        mm = static_cast<float>(b1) * mm + static_cast<float>(1.0 - b1) * g;
        vv = static_cast<float>(b2) * vv + static_cast<float>(1.0 - b2) * g * g;
        m.v[static_cast<size_t>(i)] -= step * mm / (std::sqrt(vv) * inv_sqrt_bc2 + static_cast<float>(eps));
      }
    }, 1024);
    if (sch.progress && ((it + 1) % 100 == 0 || it + 1 == sch.iterations)) sch.progress(it + 1, sch.iterations);
  }
  out.seconds = now_seconds() - t0;
  if (!out.diverged)
    for (float x : m.v)
      if (!std::isfinite(x)) {
        out.diverged = true;
        out.diverged_at = out.iterations_run - 1;
        break;
      }

  const Tensor hard = hard_weight();
  out.recon_final = out.diverged ? out.recon_nearest : recon_loss(data, hard.data<float>());
  int64_t up = 0, up_near = 0, changed = 0;
  const float* hp = hard.data<float>();
  const float* np = nearest.data<float>();
  for (int64_t i = 0; i < m.n_w; ++i) {
    const float fl = m.s[i] * m.w_floor[i];  // the weight rounded down (before clamping)
    const bool u = hp[i] > fl + 0.5f * m.s[i], un = np[i] > fl + 0.5f * m.s[i];
    up += u;
    up_near += un;
    changed += u != un;
  }
  const double nwd = static_cast<double>(std::max<int64_t>(m.n_w, 1));
  out.up_fraction = static_cast<double>(up) / nwd;
  out.up_fraction_nearest = static_cast<double>(up_near) / nwd;
  out.changed_fraction = out.diverged ? 0.0 : static_cast<double>(changed) / nwd;
  return out;
}

}  // namespace quench
