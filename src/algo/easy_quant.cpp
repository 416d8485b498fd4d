// EasyQuant: Wu et al., "EasyQuant: Post-training Quantization via Scale Optimization",
// arXiv 2006.16669 (2020), as modelslim's keep_acc "easy_quant" [enabled, iterations] names it
// (SPEC C; modelslim's internals are closed, the steps below follow the paper).
//
// For each weighted layer l in graph order (a layer reads the quantized model's output as tuned
// so far, so the search of layer l sees the error of layers < l):
//   1. Collect, over the calibration batches, the layer's input X as the quantized model computes
//      it with the input quantizer of l switched off (so that X can be re-quantized with candidate
//      scales) and the layer's FP32 output O from the FP32 model (after the layer's fused Relu /
//      Clip when it has one: the cosine is taken where the next layer reads).
//   2. Candidates: S_a^k = f_k S_a, S_w^k = f_k S_w, f_k spread evenly over [alpha, beta] =
//      [0.5, 2] in n = 100 steps (the paper's values), 1 always included; S_a, S_w the calibrated
//      (min-max) scales. Zero points stay: a scaled asymmetric grid covers f times the range.
//   3. Fix S_a, search S_w: run the layer alone (a one-node model, not the whole network) on
//      Q(X; S_a) with Q(W; S_w^k) for every k, keeping per output channel c the sums
//      <O_c, Ô_c> and ||Ô_c||^2. An output channel depends on its own weight scale only, so the
//      layer's cosine for any choice of per-channel candidates is
//      sum_c <O_c, Ô_c> / (||O|| sqrt(sum_c ||Ô_c||^2)); coordinate ascent over the channels on
//      those sums maximises it (per-tensor weights: one factor, a plain argmax).
//   4. Fix S_w, search S_a: the cosine for each S_a^k, keep the best.
//   5. Repeat 3-4 (a round) until a round gains less than 1e-7 or `iterations` rounds ran; the
//      current scales are always among the candidates and only a strict gain moves them, so the
//      cosine never decreases. Set the encodings on the QuantSim and go to the next layer.
// quench's choices where the paper leaves room:
//   - The input quantizer of a layer is the QuantPoint on its input, or on the value it was
//     reshaped / max-pooled from (those ops keep the grid, and quantization commutes with them).
//     With Placement::kOutputs one point can feed several layers (a residual block's input feeds
//     two convolutions): the first of them in graph order searches it, the later ones search their
//     weights only, against the input as the first one set it. Other readers of the point (an Add)
//     see the new scale too. With modelslim's kLayerInputs placement every layer owns its input
//     quantizer and the question does not arise.
//   - int32 biases (scale = S_a S_w) are left in float in the layer runs: their step is far below
//     the input and weight steps; biases with a quantizer of their own are fake-quantized.
//   - Weights in per-block encodings get one factor for all blocks.
// Known limit (measured, bench/keep_acc_accuracy_main.cpp): the cosine does not see the output's
// magnitude. With 4-bit per-tensor weights the weight search may halve a layer's scale (clipping
// its largest weights): the layer's cosine rises, its output shrinks by 5-15 %, the unscaled bias
// and the later layers do not follow, and on fashion_cnn top-1 falls (90.0 -> 87.9 %, the input
// search alone gives 90.2 %). Per-channel weights do not show it (90.5 -> 92.8 %).
#include "algo/easy_quant.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "algo/layer_data.h"
#include "quant/quantize.h"
#include "runtime/executor.h"

namespace quench {

namespace {

bool is_layer_op(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}

// The activation fused after the layer, applied to both outputs before comparing.
struct PostOp {
  bool clamp = false;
  float lo = -FLT_MAX, hi = FLT_MAX;
  std::string output;  // the value the cosine is measured on
};

PostOp post_op_of(const Graph& g, const Node& n) {
  PostOp p;
  const Value* out = n.outputs[0];
  p.output = out->name;
  if (out->consumers.size() != 1 ||
      std::find(g.outputs.begin(), g.outputs.end(), out) != g.outputs.end())
    return p;
  const Node* c = out->consumers[0];
  if (c->input(0) != out || c->outputs.empty() || !c->outputs[0]) return p;
  if (c->op_type == "Relu") {
    p.clamp = true;
    p.lo = 0.0f;
  } else if (c->op_type == "Clip") {
    float lo = c->attr_float("min", -FLT_MAX), hi = c->attr_float("max", FLT_MAX);
    for (size_t i = 1; i <= 2; ++i) {
      const Value* b = c->input(i);
      if (!b) continue;
      if (!b->is_constant() || b->constant.numel() != 1) return p;  // bounds known at run time only
      (i == 1 ? lo : hi) = static_cast<float>(b->constant.to_double_vector()[0]);
    }
    p.clamp = true;
    p.lo = lo;
    p.hi = hi;
  } else {
    return p;
  }
  p.output = c->outputs[0]->name;
  return p;
}

void apply_post(const PostOp& p, Tensor& t) {
  if (!p.clamp) return;
  float* x = t.data<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], p.lo, p.hi);
}

// The point whose encoding holds for `v` in the quantized run, through grid-keeping producers.
QuantPoint* input_point(QuantSim& sim, const Value* v) {
  for (int depth = 0; v && depth < 64; ++depth) {
    if (QuantPoint* p = sim.find_point(v->name)) return p;
    if (!v->producer || !op_keeps_input_grid(v->producer->op_type)) return nullptr;
    v = v->producer->input(0);
  }
  return nullptr;
}

bool searchable(const QuantPoint* p) {
  return p && p->enabled && p->encoding && p->encoding->spec.is_int();
}

// Scale factors to try, 1 included.
std::vector<double> factors_for(const Encoding& e, const EasyQuantOptions& o) {
  std::vector<double> f;
  if (e.spec.scale_type == ScaleType::kPowerOfTwo) {
    for (int k = -30; k <= 30; ++k) {
      const double v = std::ldexp(1.0, k);
      if (v >= o.range_min && v <= o.range_max) f.push_back(v);
    }
    return f;
  }
  const int n = o.candidates;
  for (int k = 0; k < n; ++k) {
    double v = o.range_min + (o.range_max - o.range_min) * k / (n - 1);
    if (std::abs(v - 1.0) < 1e-9) v = 1.0;
    f.push_back(v);
  }
  if (std::find(f.begin(), f.end(), 1.0) == f.end()) {
    f.push_back(1.0);
    std::sort(f.begin(), f.end());
  }
  return f;
}

size_t index_of_one(const std::vector<double>& f) {
  return static_cast<size_t>(std::find(f.begin(), f.end(), 1.0) - f.begin());
}

// e with scale[i] multiplied by f[i] (or by f[0] for all when f has one value).
Encoding scaled(const Encoding& e, const std::vector<double>& f) {
  Encoding r = e;
  for (size_t i = 0; i < r.scale.size(); ++i)
    r.scale[i] = static_cast<float>(e.scale[i] * f[f.size() == 1 ? 0 : i]);
  if (e.spec.scale_type == ScaleType::kPowerOfTwo) {
    r.fix_pos.resize(r.scale.size());
    for (size_t i = 0; i < r.scale.size(); ++i) r.fix_pos[i] = -std::ilogb(r.scale[i]);
  }
  return r;
}

// The layer alone: inputs "x" (activation) and "w" (weight) fed at run time, other inputs
// constants (the bias, fake-quantized when it has its own non-int32 quantizer).
Result<std::unique_ptr<Executor>> layer_executor(QuantSim& sim, const Node& n) {
  const Model& src = sim.sim_model();
  auto m = std::make_shared<Model>();
  m->ir_version = src.ir_version;
  m->opset_imports = src.opset_imports;
  Graph& g = *m->graph;
  std::vector<Value*> inputs;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Value* v = n.inputs[i];
    if (!v) {
      inputs.push_back(nullptr);
      continue;
    }
    if (i > 2) return Status::unsupported("easy_quant: " + n.label() + " has more than 3 inputs");
    Value* nv = g.get_or_add_value(i == 0 ? "x" : i == 1 ? "w" : "b");
    nv->dtype = DType::kFloat32;
    if (i <= 1) {
      g.inputs.push_back(nv);
    } else {
      if (!v->is_constant())
        return Status::unsupported("easy_quant: input " + std::to_string(i) + " ('" + v->name +
                                   "') of " + n.label() + " is not a constant");
      nv->constant = v->constant;
      const QuantPoint* p = sim.find_point(v->name);
      if (p && p->enabled && p->encoding && p->encoding->spec.bits != 32) {
        QUENCH_ASSIGN_OR_RETURN(nv->constant, fake_quantize(v->constant, *p->encoding));
      }
      nv->dtype = nv->constant.dtype();
      g.initializers.push_back(nv);
    }
    inputs.push_back(nv);
  }
  Value* y = g.get_or_add_value("y");
  y->dtype = DType::kFloat32;
  Node* node = g.add_node(n.op_type, n.name, inputs, {y}, n.domain);
  node->attributes = n.attributes;
  g.outputs.push_back(y);
  return Executor::create(m);
}

// Per-group sums over all batches: <O, Ô> and ||Ô||^2 (group = output channel, or 0).
struct Sums {
  std::vector<double> dot, qq;
  explicit Sums(size_t groups = 1) : dot(groups, 0.0), qq(groups, 0.0) {}
};

// Adds <clamp(a), b> and ||clamp(a)||^2 over n floats to d and q: float partial sums in 8 lanes
// (vectorised) over chunks short enough to keep float rounding far below the differences the
// search compares, then double.
void add_run(const float* a, const float* b, int64_t n, float lo, float hi, double& d, double& q) {
  constexpr int64_t kChunk = 512;
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t end = std::min(n, start + kChunk);
    float dl[8] = {}, ql[8] = {};
    int64_t i = start;
    for (; i + 8 <= end; i += 8)
      for (int j = 0; j < 8; ++j) {
        const float v = std::min(std::max(a[i + j], lo), hi);
        dl[j] += v * b[i + j];
        ql[j] += v * v;
      }
    double dd = 0.0, qq = 0.0;
    for (; i < end; ++i) {
      const float v = std::min(std::max(a[i], lo), hi);
      dd += double(v) * b[i];
      qq += double(v) * v;
    }
    for (int j = 0; j < 8; ++j) {
      dd += dl[j];
      qq += ql[j];
    }
    d += dd;
    q += qq;
  }
}

// Per-group sums of the layer output y (post-op applied here) against the target o.
void accumulate(const Tensor& y, const Tensor& o, const PostOp& p, int64_t groups, int axis,
                Sums& s) {
  const float* a = y.data<float>();
  const float* b = o.data<float>();
  const int64_t n = y.numel();
  if (groups == 1) {
    add_run(a, b, n, p.lo, p.hi, s.dot[0], s.qq[0]);
    return;
  }
  int64_t inner = 1;
  for (int i = axis + 1; i < y.rank(); ++i) inner *= y.dim(i);
  if (inner == 1) {  // channels last (Gemm, MatMul): one row of `groups` values per position
    for (int64_t r = 0; r < n; r += groups)
      for (int64_t c = 0; c < groups; ++c) {
        const double v = std::min(std::max(a[r + c], p.lo), p.hi);
        s.dot[static_cast<size_t>(c)] += v * b[r + c];
        s.qq[static_cast<size_t>(c)] += v * v;
      }
    return;
  }
  for (int64_t start = 0; start < n; start += inner) {
    const size_t c = static_cast<size_t>((start / inner) % groups);
    add_run(a + start, b + start, inner, p.lo, p.hi, s.dot[c], s.qq[c]);
  }
}

double cosine(double dot, double qq, double oo) {
  return qq > 0.0 && oo > 0.0 ? dot / std::sqrt(qq * oo) : 0.0;
}

double total(const std::vector<double>& v) {
  double t = 0.0;
  for (double x : v) t += x;
  return t;
}

double cosine(const Sums& s, double oo) { return cosine(total(s.dot), total(s.qq), oo); }

// One layer's search state and data.
struct LayerSearch {
  std::unique_ptr<Executor> exec;
  PostOp post;
  std::vector<Tensor> x;  // input per batch: raw when the input scale is searched, else as fed
  std::vector<Tensor> o;  // FP32 target per batch (post-op applied)
  double oo = 0.0;        // ||O||^2
  int64_t groups = 1;     // weight factor groups (output channels for per-channel weights)
  int axis = 1;           // output channel axis

  Status run(const std::vector<Tensor>& xq, const Tensor& wq, Sums& s) {
    for (size_t b = 0; b < xq.size(); ++b) {
      QUENCH_ASSIGN_OR_RETURN(auto y, exec->run({{"x", xq[b]}, {"w", wq}}));
      if (y[0].shape() != o[b].shape())
        return Status::internal("easy_quant: layer output " + y[0].describe() +
                                " does not match the model's " + o[b].describe());
      accumulate(y[0], o[b], post, groups, axis, s);
    }
    return Status();
  }
};

Result<std::vector<Tensor>> quantize_all(const std::vector<Tensor>& x, const Encoding* e) {
  if (!e) return x;
  std::vector<Tensor> out;
  for (const Tensor& t : x) {
    QUENCH_ASSIGN_OR_RETURN(Tensor q, fake_quantize(t, *e));
    out.push_back(std::move(q));
  }
  return out;
}

// How many points set_enabled(name) would switch: it matches value, source value and node name.
int enable_matches(const QuantSim& sim, const std::string& name) {
  int n = 0;
  for (const QuantPoint& p : sim.points())
    n += p.value == name || p.source_value == name || p.node == name;
  return n;
}

}  // namespace

Result<EasyQuantReport> easy_quant(QuantSim& sim, const BatchSource& source,
                                   const EasyQuantOptions& o) {
  if (o.iterations < 1)
    return Status::invalid("easy_quant: iterations must be >= 1 (got " +
                           std::to_string(o.iterations) + ")");
  if (o.candidates < 2)
    return Status::invalid("easy_quant: candidates must be >= 2 (got " +
                           std::to_string(o.candidates) + ")");
  if (!(o.range_min > 0.0 && o.range_min <= 1.0 && o.range_max >= 1.0))
    return Status::invalid("easy_quant: the search range [" + std::to_string(o.range_min) + ", " +
                           std::to_string(o.range_max) + "] must be positive and contain 1");
  auto warn = [&](const std::string& m) {
    if (o.warn) o.warn(m);
  };
  QUENCH_ASSIGN_OR_RETURN(std::vector<Executor::Feeds> batches,
                          read_batches(source, o.num_batches));
  const BatchSource replay = replay_batches(std::move(batches));

  const Graph& graph = *sim.sim_model().graph;
  std::vector<const Node*> layers;
  for (const Node* n : graph.nodes()) {
    if (!is_layer_op(n->op_type) || !n->input(0) || !n->input(1) || !n->inputs[1]->is_constant() ||
        n->outputs.empty() || !n->outputs[0])
      continue;
    if ((o.search_weights && searchable(sim.find_point(n->inputs[1]->name))) ||
        (o.search_inputs && searchable(input_point(sim, n->inputs[0]))))
      layers.push_back(n);
  }

  EasyQuantReport report;
  std::set<std::string> tuned;  // input points already set by an earlier layer
  int64_t done = 0;
  for (const Node* n : layers) {
    const std::string where = "easy_quant: " + n->label();
    QuantPoint* wp = sim.find_point(n->inputs[1]->name);
    QuantPoint* ap = input_point(sim, n->inputs[0]);
    const bool search_w = o.search_weights && searchable(wp) && wp->kind == TensorKind::kWeight;
    bool search_a = o.search_inputs && searchable(ap) && !tuned.count(ap->value);
    if (search_a && enable_matches(sim, ap->value) != 1) {
      warn(where + ": its input quantizer '" + ap->value +
           "' cannot be switched off alone (the name matches other points): input scale kept");
      search_a = false;
    }
    if (!search_w && !search_a) continue;
    const std::string ap_value = search_a ? ap->value : "";
    const Encoding a0 = search_a ? *ap->encoding : Encoding{};
    const std::optional<Encoding> w_enc = wp && wp->enabled ? wp->encoding : std::nullopt;

    LayerSearch ls;
    ls.post = post_op_of(graph, *n);
    {
      if (search_a) sim.set_enabled(ap_value, false);
      auto x = collect_values(sim, replay, -1, {n->inputs[0]->name}, Run::kQuantized);
      if (search_a) sim.set_enabled(ap_value, true);
      if (!x.ok()) return x.status().with_context(where);
      ls.x = std::move((*x)[0]);
    }
    {
      QUENCH_ASSIGN_OR_RETURN(auto out,
                              collect_values(sim, replay, -1, {n->outputs[0]->name}, Run::kFp32));
      ls.o = std::move(out[0]);
      for (Tensor& t : ls.o) {
        t = t.clone();  // the post-op writes in place
        apply_post(ls.post, t);
        const float* p = t.data<float>();
        const int64_t count = t.numel();
        for (int64_t i = 0; i < count; ++i) ls.oo += double(p[i]) * p[i];
      }
    }
    auto exec = layer_executor(sim, *n);
    if (!exec.ok()) {
      warn(exec.status().message() + ": layer skipped");
      continue;
    }
    ls.exec = std::move(exec).value();
    const Tensor& w = n->inputs[1]->constant;
    const int out_rank = ls.o.empty() ? 0 : ls.o[0].rank();
    ls.axis = n->op_type == "Conv" || n->op_type == "ConvTranspose" ? 1 : out_rank - 1;
    if (search_w && w_enc->spec.granularity == Granularity::kPerChannel && out_rank > ls.axis &&
        ls.o[0].dim(ls.axis) == w_enc->num_params())
      ls.groups = w_enc->num_params();

    const std::vector<double> fa = search_a ? factors_for(a0, o) : std::vector<double>{1.0};
    const std::vector<double> fw = search_w ? factors_for(*w_enc, o) : std::vector<double>{1.0};
    size_t sel_a = index_of_one(fa);
    std::vector<size_t> sel_w(static_cast<size_t>(ls.groups), index_of_one(fw));
    auto w_factors = [&](const std::vector<size_t>& sel) {
      std::vector<double> f;
      for (size_t k : sel) f.push_back(fw[k]);
      return f;
    };
    auto quantized_weight = [&](const std::vector<double>& f) -> Result<Tensor> {
      if (!w_enc) return w;
      return fake_quantize(w, search_w ? scaled(*w_enc, f) : *w_enc);
    };
    auto quantized_input = [&](double f) -> Result<std::vector<Tensor>> {
      if (!search_a) return ls.x;
      const Encoding e = scaled(a0, {f});
      return quantize_all(ls.x, &e);
    };

    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> xq, quantized_input(fa[sel_a]));
    QUENCH_ASSIGN_OR_RETURN(Tensor wq, quantized_weight(w_factors(sel_w)));
    Sums s0(static_cast<size_t>(ls.groups));
    QUENCH_RETURN_IF_ERROR(ls.run(xq, wq, s0).with_context(where));
    EasyQuantLayer rep;
    rep.node = n->name;
    rep.op_type = n->op_type;
    rep.output = ls.post.output;
    rep.weight = search_w ? wp->value : "";
    rep.input_point = ap_value;
    rep.cos_before = cosine(s0, ls.oo);
    rep.norm_ratio_before = std::sqrt(total(s0.qq) / ls.oo);
    double cos_cur = rep.cos_before, qq_cur = total(s0.qq);

    for (int round = 0; round < o.iterations; ++round) {
      double cos_new = cos_cur, qq_new = qq_cur;
      if (search_w) {
        std::vector<Sums> sums(fw.size(), Sums(static_cast<size_t>(ls.groups)));
        for (size_t k = 0; k < fw.size(); ++k) {
          QUENCH_ASSIGN_OR_RETURN(Tensor wk, quantized_weight({fw[k]}));
          QUENCH_RETURN_IF_ERROR(ls.run(xq, wk, sums[k]).with_context(where));
        }
        // Coordinate ascent on sum_c dot / sqrt(sum_c qq).
        double dot = 0.0, qq = 0.0;
        for (size_t c = 0; c < sel_w.size(); ++c) {
          dot += sums[sel_w[c]].dot[c];
          qq += sums[sel_w[c]].qq[c];
        }
        auto value = [&](double d, double q) {
          return q > 0.0 ? cosine(d, q, ls.oo) : -std::numeric_limits<double>::infinity();
        };
        for (int sweep = 0; sweep < 100; ++sweep) {
          bool moved = false;
          for (size_t c = 0; c < sel_w.size(); ++c) {
            const size_t cur = sel_w[c];
            const double d0 = dot - sums[cur].dot[c], q0 = qq - sums[cur].qq[c];
            double best = value(dot, qq);
            size_t best_k = cur;
            for (size_t k = 0; k < fw.size(); ++k) {
              const double v = value(d0 + sums[k].dot[c], q0 + sums[k].qq[c]);
              if (v > best + 1e-12 * std::abs(best)) {
                best = v;
                best_k = k;
              }
            }
            if (best_k != cur) {
              sel_w[c] = best_k;
              dot = d0 + sums[best_k].dot[c];
              qq = q0 + sums[best_k].qq[c];
              moved = true;
            }
          }
          if (!moved) break;
        }
        QUENCH_ASSIGN_OR_RETURN(wq, quantized_weight(w_factors(sel_w)));
        cos_new = cosine(dot, qq, ls.oo);
        qq_new = qq;
      }
      if (search_a) {
        std::vector<double> cos_k(fa.size(), 0.0), qq_k(fa.size(), 0.0);
        for (size_t k = 0; k < fa.size(); ++k) {
          QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> xk, quantized_input(fa[k]));
          Sums s(static_cast<size_t>(ls.groups));
          QUENCH_RETURN_IF_ERROR(ls.run(xk, wq, s).with_context(where));
          cos_k[k] = cosine(s, ls.oo);
          qq_k[k] = total(s.qq);
        }
        size_t best_k = sel_a;
        for (size_t k = 0; k < fa.size(); ++k)
          if (cos_k[k] > cos_k[best_k] + 1e-12) best_k = k;
        sel_a = best_k;
        cos_new = cos_k[sel_a];
        qq_new = qq_k[sel_a];
        QUENCH_ASSIGN_OR_RETURN(xq, quantized_input(fa[sel_a]));
      }
      rep.rounds = round + 1;
      const double gain = cos_new - cos_cur;
      if (gain > 0.0) {
        cos_cur = cos_new;
        qq_cur = qq_new;
      }
      if (gain < 1e-7) break;
    }
    rep.cos_after = cos_cur;
    rep.input_factor = fa[sel_a];
    rep.norm_ratio_after = std::sqrt(qq_cur / ls.oo);
    double log_sum = 0.0;
    for (size_t k : sel_w) log_sum += std::log(fw[k]);
    rep.weight_factor = std::exp(log_sum / double(sel_w.size()));
    if (search_w)
      QUENCH_RETURN_IF_ERROR(
          sim.set_encoding(wp->value, scaled(*w_enc, w_factors(sel_w))).with_context(where));
    if (search_a) {
      QUENCH_RETURN_IF_ERROR(
          sim.set_encoding(ap_value, scaled(a0, {fa[sel_a]})).with_context(where));
      tuned.insert(ap_value);
    }
    report.layers.push_back(std::move(rep));
    if (o.progress) o.progress(++done, static_cast<int64_t>(layers.size()));
  }
  return report;
}

}  // namespace quench
