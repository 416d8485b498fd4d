// SQuant: data-free rounding of weights.
// Cong Guo et al., "SQuant: On-the-Fly Data-Free Quantization via Diagonal Hessian Approximation",
// ICLR 2022, Algorithm 1 (progressive SQuant) and Algorithm 2 (flip); behaviour checked against the
// authors' reference code (clevercool/SQuant, Quantizer.adaptive_round).
//
// Per output channel, in grid units v = W/s (the scale and zero point of the weight's encoding,
// which SQuant does not change):
//   1. SQuant-E: q = clamp(round(v), lo, hi), perturbation e = q - v (|e| <= 0.5 inside the grid).
//      Up candidates: e < 0 and q + 1 <= hi; down candidates: e > 0 and q - 1 >= lo.
//   2. SQuant-K, per kernel: s = sum of e; direction up when s < 0, else down; flip (q += 1 or
//      q -= 1) the k = round(|s|) candidates of that direction with the largest |e|. Now |s| <=
//      0.5. The kernel then offers one candidate to step 3: when k >= |s| (the flips overshot) the
//      last flipped element, to be flipped back (priority |e| after its flip); otherwise the next
//      candidate in the order, in the same direction (priority |e|). Offering one element per
//      kernel keeps each kernel's |sum| below 1 whatever step 3 does.
//   3. SQuant-C: S = sum of e over the channel; flip the round(|S|) offered candidates of S's
//      direction with the largest priority. Now |S| <= 0.5. Without step 2 (kernel_level off, or
//      kernels of one element: Gemm / MatMul / 1x1 convolutions, where the reference code turns
//      SQuant-K off too) every candidate of the channel is offered, with priority |e|.
//   round(|s|) is half-even, as torch.round; ties in priority go to the lower index. When fewer
//   candidates exist than round(|s|) (only at the grid's edges) all of them are flipped.
// squant_weights() gathers each output channel of each weight in kernel-major order, runs 1-3 in
// parallel over channels and writes back q * s (exactly the grid value the quantizer reproduces).
#include "algo/squant.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/parallel.h"
#include "quant/quantize.h"
#include "sim/placement.h"

namespace quench {

namespace {

struct Candidate {
  int64_t index;
  int direction;    // +1 up, -1 down
  double priority;  // larger first
};

// Flip candidates in place: stable by index among equal priorities.
void sort_by_priority(std::vector<Candidate>& c) {
  std::stable_sort(c.begin(), c.end(),
                   [](const Candidate& a, const Candidate& b) { return a.priority > b.priority; });
}

bool can_flip(int direction, double e, float q, float lo, float hi) {
  return direction > 0 ? (e < 0.0 && q + 1.0f <= hi) : (e > 0.0 && q - 1.0f >= lo);
}

// Flips the first round(|sum|) candidates towards zero sum; returns how many it flipped.
int64_t flip_top(std::vector<Candidate>& cands, double sum, std::vector<double>& e,
                 std::span<float> q) {
  sort_by_priority(cands);
  const int64_t want = static_cast<int64_t>(std::nearbyint(std::fabs(sum)));
  const int64_t k = std::min<int64_t>(want, static_cast<int64_t>(cands.size()));
  for (int64_t j = 0; j < k; ++j) {
    const Candidate& c = cands[static_cast<size_t>(j)];
    q[static_cast<size_t>(c.index)] += static_cast<float>(c.direction);
    e[static_cast<size_t>(c.index)] += c.direction;
  }
  return k;
}

double abs_sum(const std::vector<double>& e, int64_t begin, int64_t end) {
  double s = 0.0;
  for (int64_t i = begin; i < end; ++i) s += e[static_cast<size_t>(i)];
  return std::fabs(s);
}

}  // namespace

SquantChannelStats squant_channel(std::span<const float> v, std::span<const float> lo,
                                  std::span<const float> hi, int64_t kernel_size, RoundMode mode,
                                  bool kernel_level, bool channel_level, std::span<float> q) {
  const int64_t n = static_cast<int64_t>(v.size());
  const int64_t ks = std::max<int64_t>(kernel_size, 1);
  const int64_t kernels = n / ks;
  std::vector<double> e(static_cast<size_t>(n));
  // 1. SQuant-E.
  for (int64_t i = 0; i < n; ++i) {
    const size_t u = static_cast<size_t>(i);
    q[u] = std::clamp(round_value(v[u], mode), lo[u], hi[u]);
    e[u] = static_cast<double>(q[u]) - static_cast<double>(v[u]);
  }
  SquantChannelStats st;
  for (int64_t j = 0; j < kernels; ++j)
    st.kernel_error_rtn = std::max(st.kernel_error_rtn, abs_sum(e, j * ks, (j + 1) * ks));
  st.channel_error_rtn = abs_sum(e, 0, n);
  const std::vector<float> rtn(q.begin(), q.end());

  auto candidates = [&](int direction, int64_t begin, int64_t end, std::vector<Candidate>& out) {
    for (int64_t i = begin; i < end; ++i) {
      const size_t u = static_cast<size_t>(i);
      if (can_flip(direction, e[u], q[u], lo[u], hi[u]))
        out.push_back({i, direction, std::fabs(e[u])});
    }
  };

  // 2. SQuant-K.
  const bool use_k = kernel_level && ks > 1;
  std::vector<Candidate> offered, cands;
  if (use_k) {
    for (int64_t j = 0; j < kernels; ++j) {
      const int64_t b = j * ks, end = b + ks;
      double s = 0.0;
      for (int64_t i = b; i < end; ++i) s += e[static_cast<size_t>(i)];
      const int direction = s < 0.0 ? 1 : -1;
      cands.clear();
      candidates(direction, b, end, cands);
      const int64_t k = flip_top(cands, s, e, q);
      if (k > 0 && static_cast<double>(k) >= std::fabs(s)) {
        const int64_t last = cands[static_cast<size_t>(k - 1)].index;
        offered.push_back({last, -direction, std::fabs(e[static_cast<size_t>(last)])});
      } else if (k < static_cast<int64_t>(cands.size())) {
        const int64_t next = cands[static_cast<size_t>(k)].index;
        offered.push_back({next, direction, std::fabs(e[static_cast<size_t>(next)])});
      }
    }
  }

  // 3. SQuant-C.
  if (channel_level) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += e[static_cast<size_t>(i)];
    const int direction = s < 0.0 ? 1 : -1;
    cands.clear();
    if (use_k) {
      for (const Candidate& c : offered)
        if (c.direction == direction) cands.push_back(c);
    } else {
      candidates(direction, 0, n, cands);
    }
    flip_top(cands, s, e, q);
  }

  for (int64_t j = 0; j < kernels; ++j)
    st.kernel_error = std::max(st.kernel_error, abs_sum(e, j * ks, (j + 1) * ks));
  st.channel_error = abs_sum(e, 0, n);
  for (int64_t i = 0; i < n; ++i)
    st.flipped += q[static_cast<size_t>(i)] != rtn[static_cast<size_t>(i)];
  return st;
}

namespace {

// Where one output channel's elements sit in the weight: element (c, k, s) (channel, kernel,
// position in the kernel) is at (c * kernels + k) * kernel_size + s when the channel axis is 0,
// at (k * channels + c) * kernel_size + s when it is 1.
struct WeightLayout {
  int64_t channels = 0, kernels = 0, kernel_size = 1;
  int axis = 0;
  int64_t index(int64_t c, int64_t k, int64_t s) const {
    return (axis == 0 ? c * kernels + k : k * channels + c) * kernel_size + s;
  }
};

Result<WeightLayout> weight_layout(const Shape& shape, int channel_axis) {
  const int rank = static_cast<int>(shape.size());
  if (rank < 2 || channel_axis < 0 || channel_axis > 1)
    return Status::unsupported("weight " + shape_to_string(shape) +
                               " with output channels on axis " + std::to_string(channel_axis) +
                               " (SQuant takes [O, I, k...], [I, O, k...] and 2-D weights)");
  WeightLayout l;
  l.axis = channel_axis;
  l.channels = shape[static_cast<size_t>(channel_axis)];
  l.kernels = shape[static_cast<size_t>(1 - channel_axis)];
  for (int i = 2; i < rank; ++i) l.kernel_size *= shape[static_cast<size_t>(i)];
  return l;
}

const Node* find_node(const Model& m, const std::string& name) {
  for (const Node* n : m.graph->nodes())
    if (n->name == name) return n;
  return nullptr;
}

bool wanted(const QuantPoint& p, const std::vector<std::string>& layers) {
  if (layers.empty()) return true;
  for (const std::string& l : layers)
    if (l == p.value || l == p.node || l == p.source_value) return true;
  return false;
}

struct LayerJob {
  std::string value, node;
  Encoding encoding;
  int channel_axis = 0;
};

// Why SQuant cannot round this weight ("" when it can).
std::string cannot_round(const QuantPoint& p) {
  const Encoding& e = *p.encoding;
  if (!e.spec.is_int())
    return std::string(number_format_name(e.spec.format)) + " weights have no integer grid";
  if (e.spec.granularity == Granularity::kPerBlock) return "per-block encodings are not supported";
  if (e.spec.round_mode == RoundMode::kFloor || e.spec.round_mode == RoundMode::kCeil)
    return std::string("rounding mode ") + round_mode_name(e.spec.round_mode) +
           " is not a round-to-nearest mode";
  return "";
}

Result<SquantLayerReport> squant_one(QuantSim& sim, const LayerJob& job, const SquantOptions& o) {
  const Value* v = sim.sim_model().graph->find_value(job.value);
  if (!v || !v->is_constant())
    return Status::internal("squant: weight '" + job.value +
                            "' is not a constant of the sim model");
  QUENCH_ASSIGN_OR_RETURN(Tensor w, to_plain(v->constant));
  if (w.dtype() != DType::kFloat32)
    return Status::unsupported("squant: weight '" + job.value + "' is " + w.describe());
  QUENCH_ASSIGN_OR_RETURN(WeightLayout l, weight_layout(w.shape(), job.channel_axis));
  const Encoding& enc = job.encoding;
  QUENCH_RETURN_IF_ERROR(enc.validate(&w.shape()).with_context("squant: '" + job.value + "'"));

  // Parameter index of every element: per tensor 0, per channel its coordinate on enc.spec.axis.
  const Shape& shape = w.shape();
  const int rank = w.rank();
  int64_t p_inner = 1, p_dim = 1;
  if (enc.num_params() > 1) {
    const int ax = enc.spec.axis < 0 ? enc.spec.axis + rank : enc.spec.axis;
    p_dim = shape[static_cast<size_t>(ax)];
    for (int i = ax + 1; i < rank; ++i) p_inner *= shape[static_cast<size_t>(i)];
  }
  const int64_t qmin = enc.spec.qmin(), qmax = enc.spec.qmax();
  const float* src = w.data<float>();
  Tensor out = w.clone();
  float* dst = out.data<float>();

  const int64_t per_channel = l.kernels * l.kernel_size;
  std::vector<SquantChannelStats> stats(static_cast<size_t>(l.channels));
  parallel_for(l.channels, [&](int64_t c0, int64_t c1) {
    std::vector<float> vv(static_cast<size_t>(per_channel)), lo(vv.size()), hi(vv.size()),
        q(vv.size()), sc(vv.size());
    std::vector<int64_t> at(vv.size());
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t k = 0, j = 0; k < l.kernels; ++k)
        for (int64_t s = 0; s < l.kernel_size; ++s, ++j) {
          const int64_t idx = l.index(c, k, s);
          const size_t u = static_cast<size_t>(j);
          const size_t pi = static_cast<size_t>(enc.num_params() > 1 ? (idx / p_inner) % p_dim : 0);
          at[u] = idx;
          sc[u] = enc.scale[pi];
          // The quantizer's own arithmetic (x / scale in float), so that E equals its rounding.
          vv[u] = src[idx] / sc[u];
          lo[u] = static_cast<float>(qmin - enc.zero_point[pi]);
          hi[u] = static_cast<float>(qmax - enc.zero_point[pi]);
        }
      stats[static_cast<size_t>(c)] = squant_channel(vv, lo, hi, l.kernel_size, enc.spec.round_mode,
                                                     o.kernel_level, o.channel_level, q);
      for (size_t u = 0; u < vv.size(); ++u) dst[at[u]] = q[u] * sc[u];
    }
  });

  SquantLayerReport r;
  r.weight = job.value;
  r.node = job.node;
  r.elements = w.numel();
  r.channels = l.channels;
  r.kernel_size = l.kernel_size;
  for (const SquantChannelStats& s : stats) {
    r.stats.flipped += s.flipped;
    r.stats.kernel_error_rtn = std::max(r.stats.kernel_error_rtn, s.kernel_error_rtn);
    r.stats.kernel_error = std::max(r.stats.kernel_error, s.kernel_error);
    r.stats.channel_error_rtn = std::max(r.stats.channel_error_rtn, s.channel_error_rtn);
    r.stats.channel_error = std::max(r.stats.channel_error, s.channel_error);
  }
  QUENCH_RETURN_IF_ERROR(sim.set_quantized_weight(job.value, std::move(out)));
  return r;
}

}  // namespace

Result<SquantReport> squant_weights(QuantSim& sim, const SquantOptions& o) {
  SquantReport report;
  std::vector<LayerJob> jobs;
  bool matched = o.layers.empty();
  for (const QuantPoint& p : sim.points()) {
    if (p.kind != TensorKind::kWeight || !wanted(p, o.layers)) continue;
    matched = true;
    if (!p.enabled || !p.encoding) continue;
    std::string why = cannot_round(p);
    const Node* node = find_node(sim.sim_model(), p.node);
    const Value* v = sim.sim_model().graph->find_value(p.value);
    int axis = 0;
    if (why.empty() && (!node || !v || !v->is_constant()))
      why = "not a constant input of node '" + p.node + "'";
    if (why.empty()) {
      axis = sim_internal::weight_channel_axis(*node, v->constant.rank());
      if (auto l = weight_layout(v->constant.shape(), axis); !l.ok()) why = l.status().message();
    }
    if (!why.empty()) {
      report.skipped.push_back(p.value + ": " + why);
      if (o.warn)
        o.warn("SQuant: weight '" + p.value + "' of " + p.node + " kept as it was: " + why);
      continue;
    }
    jobs.push_back({p.value, p.node, *p.encoding, axis});
  }
  if (!matched) {
    std::string names;
    for (const std::string& l : o.layers) names += (names.empty() ? "'" : ", '") + l + "'";
    return Status::not_found("squant: no weight point matches " + names);
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    QUENCH_ASSIGN_OR_RETURN(SquantLayerReport r, squant_one(sim, jobs[i], o));
    report.layers.push_back(std::move(r));
    if (o.progress) o.progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(jobs.size()));
  }
  return report;
}

}  // namespace quench
