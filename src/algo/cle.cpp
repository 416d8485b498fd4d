// Cross-layer equalization and high-bias absorption.
//
// Nagel, van Baalen, Blankevoort, Welling, "Data-Free Quantization Through Weight Equalization and
// Bias Correction", ICCV 2019, section 4.1 (cross-layer range equalization, absorbing high biases),
// with AIMET's choices (ModelOptimizations/DlEqualization: ScaleFactorCalculator, HighBiasFold):
//  1. Layers: Conv, Gemm and MatMul (+ bias Add) with constant float weights. Output channel o of a
//     layer is W[o, ...] (Conv), row o of B (Gemm transB=1) or column o (Gemm transB=0, MatMul);
//     input channel i of a grouped Conv is W[o, i % (Cin/g), ...] for the Cout/g outputs o of its
//     group.
//  2. Links: layer A's output reaches layer B's data input through Relu, Clip(0, +inf), LeakyRelu,
//     PRelu, MaxPool, GlobalAveragePool or Identity only (f(s x) = s f(x) for s > 0, per channel),
//     every value on the way having one consumer, A's output channels = B's input channels. A
//     Flatten(axis 1) may turn a conv's channel c into B's inputs c*HW .. (c+1)*HW - 1 (a Gemm
//     head); MaxPool, GlobalAveragePool and Flatten are quench's additions to AIMET's Relu/PRelu.
//     Anything else (Clip(0, 6), Add, BatchNormalization, a split) ends the chain, with a note.
//  3. Sets: chains of links are cut AIMET's way into triples (X -> depthwise -> Y) and pairs
//     (AIMET drops a depthwise conv ending a chain or followed by another; quench pairs them).
//  4. Scaling, per channel i with ranges r = max |w| over the channel's slice:
//       pair    s = sqrt(r1 / r2);  W1[i], b1[i] /= s;  W2[:, i] *= s
//       triple  c = cbrt(r0 r1 r2), s12 = r0 / c, s23 = c / r2;  W0[i], b0[i] /= s12;
//               Wdw[i] *= s12 / s23, bdw[i] /= s23;  W2[:, i] *= s23
//     after which the channel's ranges are equal (sqrt(r1 r2), resp. c in all three layers). A
//     channel with a zero range keeps scale 1. Consecutive sets share layers, so one set's scaling
//     disturbs the last: the sweep over all sets repeats until no scale changes by more than the
//     tolerance (the paper iterates to convergence; AIMET sweeps once: max_iterations = 1).
//  5. High-bias absorption, per link A -> B whose A has statistics of its pre-activation (the
//     folded BN's beta / gamma, multiplied by the scaling of step 4; or measured mean / std):
//       absorb = max(0, beta - 3 |gamma|) with a Relu between, beta with no activation;
//       bA -= absorb;  bB[o] += sum over B's kernel of W_B[o, i, ...] * absorb[i].
//     Exact where the pre-activation stays >= absorb (Relu(x - a) = Relu(x) - a) and B reads no
//     zero padding (a padded tap sees 0, not -a): AIMET accepts both approximations, as does
//     quench. No absorption through LeakyRelu / PRelu (not piecewise linear with a 0 floor).
#include "algo/cle.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>

#include "ir/clone.h"
#include "runtime/executor.h"

namespace quench {

namespace {

enum class Family { kConv, kMatrix };
enum class Act { kNone, kRelu, kOther };  // what lies between the two layers of a link

// One weighted layer, with working copies of its weight and (effective) bias.
struct Layer {
  Node* node = nullptr;
  Family family = Family::kConv;
  Value* weight = nullptr;
  Value* bias = nullptr;     // Conv B, Gemm C or the MatMul's bias Add constant; may be null
  Value* out = nullptr;      // the pre-activation (the bias Add's output for MatMul + Add)
  std::string unusable;      // why the layer cannot be scaled ("" when it can)
  std::vector<float> w, b;   // b: effective bias (Gemm: beta * C)
  float bias_mult = 1.0f;    // Gemm beta
  float weight_mult = 1.0f;  // Gemm alpha
  int64_t cout = 0, cin = 0, groups = 1, spatial = 1;
  int64_t os = 0, js = 0;    // w[o * os + j * js + s]: output o, input j within the group
  std::vector<double> gain;  // product of the factors output channel o was multiplied by
  bool dirty = false;

  int64_t cin_pg() const { return cin / groups; }
  int64_t cout_pg() const { return cout / groups; }
  bool depthwise() const {
    return family == Family::kConv && groups > 1 && groups == cout && groups == cin;
  }
  int64_t at(int64_t o, int64_t j, int64_t s) const { return o * os + j * js + s; }

  std::vector<double> out_ranges() const {
    std::vector<double> r(static_cast<size_t>(cout), 0.0);
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t j = 0; j < cin_pg(); ++j)
        for (int64_t s = 0; s < spatial; ++s)
          r[o] = std::max(r[o], static_cast<double>(std::fabs(w[at(o, j, s)])));
    return r;
  }
  // Input channel i of the link is `block` consecutive inputs of this layer (block > 1 after a
  // Flatten: channel i of a convolution becomes features i * H * W ... (i + 1) * H * W - 1).
  std::vector<double> in_ranges(int64_t block) const {
    std::vector<double> r(static_cast<size_t>(cin / block), 0.0);
    for (int64_t o = 0; o < cout; ++o) {
      const int64_t base = (o / cout_pg()) * cin_pg();
      for (int64_t j = 0; j < cin_pg(); ++j)
        for (int64_t s = 0; s < spatial; ++s) {
          double& x = r[(base + j) / block];
          x = std::max(x, static_cast<double>(std::fabs(w[at(o, j, s)])));
        }
    }
    return r;
  }
  void scale_out(int64_t o, double f) {
    for (int64_t j = 0; j < cin_pg(); ++j)
      for (int64_t s = 0; s < spatial; ++s) w[at(o, j, s)] = static_cast<float>(w[at(o, j, s)] * f);
    if (!b.empty()) b[o] = static_cast<float>(b[o] * f);
    gain[o] *= f;
    dirty = true;
  }
  void scale_in(int64_t i, double f, int64_t block) {
    for (int64_t in = i * block; in < (i + 1) * block; ++in) {
      const int64_t g = in / cin_pg(), j = in % cin_pg();
      for (int64_t o = g * cout_pg(); o < (g + 1) * cout_pg(); ++o)
        for (int64_t s = 0; s < spatial; ++s)
          w[at(o, j, s)] = static_cast<float>(w[at(o, j, s)] * f);
    }
    dirty = true;
  }
  // sum over the kernel (and the block) of the effective weight joining link channel i to output o
  double in_sum(int64_t o, int64_t i, int64_t block) const {
    double acc = 0.0;
    for (int64_t in = i * block; in < (i + 1) * block; ++in) {
      const int64_t g = in / cin_pg(), j = in % cin_pg();
      if (o / cout_pg() != g) continue;
      for (int64_t s = 0; s < spatial; ++s) acc += w[at(o, j, s)];
    }
    return acc * weight_mult;
  }
};

struct Link {
  Layer* from = nullptr;
  Layer* to = nullptr;
  Act act = Act::kNone;
  int64_t block = 1;  // inputs of `to` per output channel of `from` (> 1 through a Flatten)
};

bool is_graph_input(const Graph& g, const Value* v) {
  return std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
}

const Tensor* float_constant(const Value* v) {
  if (!v || !v->is_constant() || v->constant.dtype() != DType::kFloat32 || !v->constant.is_plain())
    return nullptr;
  return &v->constant;
}

std::vector<float> to_floats(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

// A constant the layer owns alone (writing it back must not change another node).
std::string ownership_problem(const Graph& g, const Value* v, const char* what) {
  if (!float_constant(v)) return std::string(what) + " '" + v->name + "' is not a float32 constant";
  if (v->consumers.size() != 1)
    return std::string(what) + " '" + v->name + "' is shared with another node";
  if (is_graph_input(g, v))
    return std::string(what) + " '" + v->name + "' is also a graph input (can be overridden)";
  return "";
}

// Recognizes a weighted layer; nullopt when the node is not one at all.
std::optional<Layer> make_layer(const Graph& g, Node* n) {
  if (!n->domain.empty() || n->outputs.empty() || !n->outputs[0]) return std::nullopt;
  Layer L;
  L.node = n;
  L.out = n->outputs[0];
  auto fail = [&](std::string why) {
    L.unusable = std::move(why);
    return L;
  };
  if (n->op_type == "Conv") {
    L.family = Family::kConv;
    if (n->num_inputs() < 2 || !n->inputs[1] || !n->inputs[1]->is_constant()) return std::nullopt;
    L.weight = n->inputs[1];
    if (std::string p = ownership_problem(g, L.weight, "weight"); !p.empty()) return fail(p);
    const Tensor& w = L.weight->constant;
    if (w.rank() < 3) return fail("weight '" + L.weight->name + "' has rank < 3");
    L.groups = n->attr_int("group", 1);
    L.cout = w.dim(0);
    if (L.groups < 1 || L.cout % L.groups != 0) return fail("bad group attribute");
    L.cin = w.dim(1) * L.groups;
    L.spatial = w.numel() / std::max<int64_t>(1, L.cout * w.dim(1));
    L.js = L.spatial;
    L.os = w.dim(1) * L.spatial;
    if (n->num_inputs() > 2 && n->inputs[2]) L.bias = n->inputs[2];
  } else if (n->op_type == "Gemm") {
    L.family = Family::kMatrix;
    if (n->num_inputs() < 2 || !n->inputs[1] || !n->inputs[1]->is_constant()) return std::nullopt;
    L.weight = n->inputs[1];
    if (std::string p = ownership_problem(g, L.weight, "weight"); !p.empty()) return fail(p);
    const Tensor& w = L.weight->constant;
    if (w.rank() != 2) return fail("weight '" + L.weight->name + "' is not a matrix");
    if (n->attr_int("transA", 0) != 0) return fail("transA=1");
    const bool tb = n->attr_int("transB", 0) != 0;
    L.cout = tb ? w.dim(0) : w.dim(1);
    L.cin = tb ? w.dim(1) : w.dim(0);
    L.os = tb ? L.cin : 1;
    L.js = tb ? 1 : L.cout;
    L.weight_mult = n->attr_float("alpha", 1.0f);
    L.bias_mult = n->attr_float("beta", 1.0f);
    if (n->num_inputs() > 2 && n->inputs[2]) {
      L.bias = n->inputs[2];
      if (L.bias_mult == 0.0f) return fail("beta=0");
    }
  } else if (n->op_type == "MatMul") {
    L.family = Family::kMatrix;
    if (n->num_inputs() != 2 || !n->inputs[1] || !n->inputs[1]->is_constant()) return std::nullopt;
    L.weight = n->inputs[1];
    if (std::string p = ownership_problem(g, L.weight, "weight"); !p.empty()) return fail(p);
    const Tensor& w = L.weight->constant;
    if (w.rank() != 2) return fail("weight '" + L.weight->name + "' is not a matrix");
    L.cin = w.dim(0);
    L.cout = w.dim(1);
    L.os = 1;
    L.js = L.cout;
    // MatMul + Add(constant [.., N]) is a linear layer with a bias.
    Value* y = n->outputs[0];
    if (y->consumers.size() == 1 && !is_graph_output(g, y)) {
      Node* add = y->consumers[0];
      if (add->op_type == "Add" && add->domain.empty() && add->num_inputs() == 2 &&
          add->outputs[0]) {
        Value* c = add->inputs[0] == y ? add->inputs[1] : add->inputs[0];
        const Tensor* ct = float_constant(c);
        if (ct && c != y && ct->numel() == L.cout && ct->rank() >= 1 && ct->dim(-1) == L.cout) {
          L.bias = c;
          L.out = add->outputs[0];
        }
      }
    }
  } else {
    return std::nullopt;
  }
  if (L.bias) {
    if (std::string p = ownership_problem(g, L.bias, "bias"); !p.empty()) return fail(p);
    const Tensor& b = L.bias->constant;
    if (b.numel() != L.cout && b.numel() != 1)
      return fail("bias '" + L.bias->name + "' is not one value per output channel");
    std::vector<float> raw = to_floats(b);
    L.b.assign(static_cast<size_t>(L.cout), 0.0f);
    for (int64_t o = 0; o < L.cout; ++o) L.b[o] = L.bias_mult * raw[raw.size() == 1 ? 0 : o];
  }
  L.w = to_floats(L.weight->constant);
  L.gain.assign(static_cast<size_t>(L.cout), 1.0);
  return L;
}

void write_back(Layer& L) {
  if (!L.dirty) return;
  L.weight->constant = Tensor::from_vector<float>(L.weight->constant.shape(), L.w);
  if (L.bias) {
    std::vector<float> raw(L.b.size());
    for (size_t o = 0; o < raw.size(); ++o) raw[o] = L.b[o] / L.bias_mult;
    // A broadcast scalar bias becomes one value per channel.
    Shape shape = L.bias->constant.numel() == L.cout ? L.bias->constant.shape() : Shape{L.cout};
    L.bias->constant = Tensor::from_vector<float>(shape, raw);
  }
  L.dirty = false;
}

// Scalar bound of a Clip (input slot `i`, or the opset < 11 attribute); nullopt when absent.
std::optional<float> clip_bound(const Node* n, size_t i, const char* attr, bool* ok) {
  if (n->num_inputs() > i && n->inputs[i]) {
    const Tensor* t = float_constant(n->inputs[i]);
    if (!t || t->numel() != 1) {
      *ok = false;
      return std::nullopt;
    }
    return t->data<float>()[0];
  }
  if (n->has_attr(attr)) return n->attr_float(attr, 0.0f);
  return std::nullopt;
}

// How a single-consumer op between two layers acts on a per-channel positive scale: kNone / kRelu
// (passes, absorption possible), kOther (passes, no absorption), nullopt (blocks). `family` is
// the layout of the value: channels on axis 1 (kConv) or last (kMatrix); Flatten(axis 1) turns
// the first into the second.
std::optional<Act> pass_through(const Node* n, Family* family, bool* flattened) {
  if (!n->domain.empty() || n->outputs.empty() || !n->outputs[0]) return std::nullopt;
  for (size_t i = 1; i < n->outputs.size(); ++i)
    if (n->outputs[i] && !n->outputs[i]->consumers.empty()) return std::nullopt;
  const std::string& op = n->op_type;
  if (op == "Relu") return Act::kRelu;
  if (op == "Identity" || (op == "Dropout" && n->num_inputs() <= 2)) return Act::kNone;
  if (op == "LeakyRelu" || op == "PRelu") return Act::kOther;
  // max(s x) = s max(x) and mean(x - a) = mean(x) - a per channel
  if ((op == "MaxPool" || op == "GlobalAveragePool") && *family == Family::kConv && !*flattened)
    return Act::kNone;
  if (op == "Flatten" && *family == Family::kConv && !*flattened && n->attr_int("axis", 1) == 1) {
    *family = Family::kMatrix;
    *flattened = true;
    return Act::kNone;
  }
  if (op == "Clip") {
    bool ok = true;
    std::optional<float> lo = clip_bound(n, 1, "min", &ok), hi = clip_bound(n, 2, "max", &ok);
    if (!ok || (hi && !std::isinf(*hi))) return std::nullopt;
    if (!lo || (std::isinf(*lo) && *lo < 0)) return Act::kNone;
    if (*lo == 0.0f) return Act::kRelu;
  }
  return std::nullopt;
}

// Why `n` ends a chain, for the note.
std::string blocker_reason(const Node* n) {
  int data_inputs = 0;
  for (const Value* v : n->inputs) data_inputs += v && !v->is_constant();
  if (n->op_type == "Clip")
    return n->label() +
           " between them is not scale-equivariant (ReLU6 and other bounded Clips: "
           "convert them to Relu first)";
  if (n->op_type == "BatchNormalization")
    return n->label() + " between them is not folded (fold batch norms first)";
  if (data_inputs > 1) return n->label() + " between them joins another branch";
  return n->label() +
         " between them is not supported (equalization passes Relu, LeakyRelu, "
         "PRelu, MaxPool, GlobalAveragePool, Flatten and Clip(0, inf))";
}

struct Graphs {
  std::vector<std::unique_ptr<Layer>> layers;
  std::map<const Node*, Layer*> by_node;
  std::vector<Link> links;
  std::vector<std::string> notes;
};

// Follows layer A's output to the next layer; records a link or a note.
void follow(const Graph& g, Graphs& gs, Layer* a) {
  Value* v = a->out;
  Act act = Act::kNone;
  Family family = a->family;
  bool flattened = false;
  while (true) {
    if (is_graph_output(g, v) || v->consumers.empty()) return;
    if (v->consumers.size() > 1) {
      for (const Node* c : v->consumers) {
        if (!gs.by_node.count(c)) continue;
        gs.notes.push_back(a->node->label() + " -> " + c->label() + ": not equalized, value '" +
                           v->name + "' has " + std::to_string(v->consumers.size()) +
                           " consumers (a split)");
        return;
      }
      return;
    }
    Node* n = v->consumers[0];
    if (auto it = gs.by_node.find(n); it != gs.by_node.end()) {
      Layer* b = it->second;
      if (n->inputs[0] != v) return;  // v is a weight or bias of n: not a chain
      std::string why;
      int64_t block = 1;
      if (!a->unusable.empty())
        why = a->node->label() + ": " + a->unusable;
      else if (!b->unusable.empty())
        why = b->node->label() + ": " + b->unusable;
      else if (family != b->family)
        why = "a convolution and a matrix product do not share a channel axis";
      else if (flattened ? b->cin % a->cout != 0 : a->cout != b->cin)
        why = std::to_string(a->cout) + " output channels vs " + std::to_string(b->cin) +
              " input channels";
      else if (flattened)
        block = b->cin / a->cout;
      if (!why.empty()) {
        gs.notes.push_back(a->node->label() + " -> " + b->node->label() + ": not equalized, " +
                           why);
        return;
      }
      gs.links.push_back(Link{a, b, act, block});
      return;
    }
    std::optional<Act> step = pass_through(n, &family, &flattened);
    if (!step) {
      // Worth a note only when a layer is right behind the blocking op.
      Value* y = n->outputs.empty() ? nullptr : n->outputs[0];
      if (y && y->consumers.size() == 1 && gs.by_node.count(y->consumers[0]))
        gs.notes.push_back(a->node->label() + " -> " + y->consumers[0]->label() +
                           ": not equalized, " + blocker_reason(n));
      return;
    }
    if (*step == Act::kOther || act == Act::kOther)
      act = Act::kOther;
    else if (*step == Act::kRelu)
      act = Act::kRelu;
    v = n->outputs[0];
  }
}

struct Set {
  std::vector<Layer*> layers;              // 2 or 3
  std::vector<Act> acts;                   // one per link
  std::vector<int64_t> blocks;             // one per link (Link::block)
  std::vector<std::vector<double>> total;  // per link: product of the scales applied
};

// One scaling of a set; returns the largest |log s| applied.
double scale_set(Set& s) {
  double change = 0.0;
  auto valid = [](double x) { return std::isfinite(x) && x > 0.0; };
  if (s.layers.size() == 2) {
    Layer &a = *s.layers[0], &b = *s.layers[1];
    std::vector<double> r1 = a.out_ranges(), r2 = b.in_ranges(s.blocks[0]);
    for (int64_t i = 0; i < a.cout; ++i) {
      if (!(r1[i] > 0.0) || !(r2[i] > 0.0)) continue;
      const double f = std::sqrt(r1[i] / r2[i]);
      if (!valid(f)) continue;
      a.scale_out(i, 1.0 / f);
      b.scale_in(i, f, s.blocks[0]);
      s.total[0][i] *= f;
      change = std::max(change, std::fabs(std::log(f)));
    }
    return change;
  }
  Layer &a = *s.layers[0], &dw = *s.layers[1], &b = *s.layers[2];
  std::vector<double> r0 = a.out_ranges(), r1 = dw.out_ranges(), r2 = b.in_ranges(s.blocks[1]);
  for (int64_t i = 0; i < a.cout; ++i) {
    if (!(r0[i] > 0.0) || !(r1[i] > 0.0) || !(r2[i] > 0.0)) continue;
    const double c = std::cbrt(r0[i] * r1[i] * r2[i]);
    const double s12 = r0[i] / c, s23 = c / r2[i];
    if (!valid(s12) || !valid(s23)) continue;
    a.scale_out(i, 1.0 / s12);
    dw.scale_in(i, s12, 1);
    dw.scale_out(i, 1.0 / s23);
    b.scale_in(i, s23, s.blocks[1]);
    s.total[0][i] *= s12;
    s.total[1][i] *= s23;
    change = std::max({change, std::fabs(std::log(s12)), std::fabs(std::log(s23))});
  }
  return change;
}

// Per-channel mean and std of the named values over the calibration data.
struct ChannelStats {
  std::vector<double> mean, std;
};

Result<std::vector<ChannelStats>> measure(const Model& model, const std::vector<Layer*>& layers,
                                          const BatchSource& source, const CleOptions& o) {
  auto snapshot = std::make_shared<const Model>(clone_model(model));
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(snapshot, {.num_threads = o.num_threads}));
  std::vector<std::string> names;
  for (const Layer* L : layers) names.push_back(L->out->name);
  std::vector<std::vector<double>> sum(layers.size()), sq(layers.size());
  std::vector<int64_t> count(layers.size(), 0);
  for (size_t k = 0; k < layers.size(); ++k) {
    sum[k].assign(static_cast<size_t>(layers[k]->cout), 0.0);
    sq[k].assign(static_cast<size_t>(layers[k]->cout), 0.0);
  }
  int64_t b = 0;
  for (; o.calibration_batches < 0 || b < o.calibration_batches; ++b) {
    Result<Executor::Feeds> got = source(b);
    if (!got.ok())
      return got.status().with_context("high-bias absorption: calibration batch " +
                                       std::to_string(b));
    Executor::Feeds feeds = std::move(got).value();
    if (feeds.empty()) break;
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> vals, exec->run(feeds, names));
    for (size_t k = 0; k < layers.size(); ++k) {
      QUENCH_ASSIGN_OR_RETURN(Tensor t, to_plain(vals[k]));
      const int64_t c = layers[k]->cout;
      const int axis = layers[k]->family == Family::kConv ? 1 : t.rank() - 1;
      if (t.dtype() != DType::kFloat32 || t.rank() <= axis || t.dim(axis) != c)
        return Status::invalid("high-bias absorption: value '" + names[k] + "' is " + t.describe() +
                               ", expected " + std::to_string(c) + " channels on axis " +
                               std::to_string(axis));
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < axis; ++d) outer *= t.dim(d);
      for (int d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
      const float* p = t.data<float>();
      for (int64_t n = 0; n < outer; ++n)
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* q = p + (n * c + ch) * inner;
          double s = 0.0, s2 = 0.0;
          for (int64_t i = 0; i < inner; ++i) s += q[i], s2 += static_cast<double>(q[i]) * q[i];
          sum[k][ch] += s;
          sq[k][ch] += s2;
        }
      count[k] += outer * inner;
    }
    if (o.progress) o.progress(b + 1, o.calibration_batches);
  }
  if (b == 0) return Status::invalid("high-bias absorption: calibration set is empty");
  std::vector<ChannelStats> out(layers.size());
  for (size_t k = 0; k < layers.size(); ++k) {
    const double n = static_cast<double>(std::max<int64_t>(1, count[k]));
    for (size_t ch = 0; ch < sum[k].size(); ++ch) {
      const double m = sum[k][ch] / n;
      out[k].mean.push_back(m);
      out[k].std.push_back(std::sqrt(std::max(0.0, sq[k][ch] / n - m * m)));
    }
  }
  return out;
}

}  // namespace

Result<CleReport> equalize_model(Model& model, const CleOptions& options,
                                 const std::vector<FoldedBatchNorm>& batchnorms,
                                 const BatchSource& calibration) {
  Graph& g = *model.graph;
  Graphs gs;
  for (Node* n : g.nodes())
    if (std::optional<Layer> L = make_layer(g, n)) {
      gs.layers.push_back(std::make_unique<Layer>(std::move(*L)));
      gs.by_node[n] = gs.layers.back().get();
    }
  for (auto& L : gs.layers) follow(g, gs, L.get());

  // Chains (every layer has at most one link in and one out), cut into triples and pairs.
  std::map<const Layer*, const Link*> next, prev;
  for (const Link& l : gs.links) next[l.from] = &l, prev[l.to] = &l;
  std::vector<Set> sets;
  for (auto& up : gs.layers) {
    Layer* L = up.get();
    if (prev.count(L) || !next.count(L)) continue;
    std::vector<Layer*> chain = {L};
    std::vector<const Link*> links;
    while (next.count(chain.back())) {
      links.push_back(next[chain.back()]);
      chain.push_back(links.back()->to);
    }
    for (size_t i = 0; i + 1 < chain.size();) {
      Set s;
      const bool triple =
          i + 2 < chain.size() && chain[i + 1]->depthwise() && !chain[i + 2]->depthwise();
      const size_t len = triple ? 3 : 2;
      for (size_t k = 0; k < len; ++k) s.layers.push_back(chain[i + k]);
      for (size_t k = 0; k + 1 < len; ++k) {
        s.acts.push_back(links[i + k]->act);
        s.blocks.push_back(links[i + k]->block);
        s.total.emplace_back(static_cast<size_t>(chain[i + k]->cout), 1.0);
      }
      sets.push_back(std::move(s));
      i += len - 1;
    }
  }

  CleReport report;
  report.notes = gs.notes;
  if (sets.empty()) {
    report.notes.push_back(
        "cross-layer equalization: no equalizable layer pairs (conv->conv, "
        "conv->depthwise->conv, gemm->gemm) in the model");
    return report;
  }

  // Check the BN statistics before changing anything.
  std::map<std::string, const FoldedBatchNorm*> bn_of;
  for (const FoldedBatchNorm& bn : batchnorms) bn_of[bn.layer] = &bn;
  for (auto& L : gs.layers) {
    auto it = bn_of.find(L->node->name);
    if (it == bn_of.end()) continue;
    const FoldedBatchNorm& bn = *it->second;
    if (static_cast<int64_t>(bn.gamma.size()) != L->cout ||
        static_cast<int64_t>(bn.beta.size()) != L->cout)
      return Status::invalid(
          "cross-layer equalization: batch-norm statistics of " + L->node->label() + " have " +
          std::to_string(bn.gamma.size()) + " gamma and " + std::to_string(bn.beta.size()) +
          " beta values; the layer has " + std::to_string(L->cout) + " output channels");
  }

  const double stop = std::log1p(std::max(0.0, options.tolerance));
  for (int it = 0; it < std::max(1, options.max_iterations); ++it) {
    double change = 0.0;
    for (Set& s : sets) change = std::max(change, scale_set(s));
    report.iterations = it + 1;
    if (change <= stop) break;
  }
  for (auto& L : gs.layers) write_back(*L);

  // High-bias absorption.
  std::vector<std::vector<std::vector<float>>> absorbed(sets.size());
  if (options.high_bias_absorption) {
    // Links whose first layer has no BN statistics get measured ones (one pass for all).
    std::vector<Layer*> to_measure;
    for (Set& s : sets)
      for (size_t k = 0; k + 1 < s.layers.size(); ++k)
        if (!bn_of.count(s.layers[k]->node->name) && s.acts[k] != Act::kOther && calibration)
          to_measure.push_back(s.layers[k]);
    std::map<const Layer*, ChannelStats> measured;
    if (!to_measure.empty()) {
      QUENCH_ASSIGN_OR_RETURN(auto stats, measure(model, to_measure, calibration, options));
      for (size_t k = 0; k < to_measure.size(); ++k) measured[to_measure[k]] = stats[k];
    }
    int without_stats = 0;
    for (size_t si = 0; si < sets.size(); ++si) {
      Set& s = sets[si];
      absorbed[si].resize(s.acts.size());
      for (size_t k = 0; k + 1 < s.layers.size(); ++k) {
        Layer &a = *s.layers[k], &b = *s.layers[k + 1];
        std::vector<double> beta, gamma;
        if (auto it = bn_of.find(a.node->name); it != bn_of.end()) {
          // The BN's output was multiplied by the scaling of the layer's output channels.
          for (int64_t c = 0; c < a.cout; ++c) {
            beta.push_back(it->second->beta[c] * a.gain[c]);
            gamma.push_back(it->second->gamma[c] * a.gain[c]);
          }
        } else if (auto mt = measured.find(&a); mt != measured.end()) {
          beta = mt->second.mean;
          gamma = mt->second.std;
        } else {
          if (s.acts[k] != Act::kOther) ++without_stats;
          continue;
        }
        const std::string where = a.node->label() + " -> " + b.node->label();
        if (s.acts[k] == Act::kOther) {
          report.notes.push_back(where + ": no high-bias absorption through LeakyRelu / PRelu");
          continue;
        }
        if (a.b.empty() || b.b.empty()) {
          report.notes.push_back(where + ": no high-bias absorption, " +
                                 (a.b.empty() ? a.node->label() : b.node->label()) +
                                 " has no bias");
          continue;
        }
        std::vector<float> absorb(static_cast<size_t>(a.cout), 0.0f);
        for (int64_t c = 0; c < a.cout; ++c)
          absorb[c] = static_cast<float>(s.acts[k] == Act::kRelu
                                             ? std::max(0.0, beta[c] - 3.0 * std::fabs(gamma[c]))
                                             : beta[c]);
        for (int64_t c = 0; c < a.cout; ++c) {
          if (absorb[c] == 0.0f) continue;
          a.b[c] -= absorb[c];
          ++report.absorbed_channels;
        }
        for (int64_t o = 0; o < b.cout; ++o) {
          double acc = 0.0;
          for (int64_t c = 0; c < a.cout; ++c)
            if (absorb[c] != 0.0f) acc += b.in_sum(o, c, s.blocks[k]) * absorb[c];
          b.b[o] = static_cast<float>(b.b[o] + acc);
        }
        a.dirty = b.dirty = true;
        absorbed[si][k] = std::move(absorb);
      }
    }
    if (without_stats > 0)
      report.notes.push_back(
          "high-bias absorption: " + std::to_string(without_stats) +
          " equalized link(s) have no batch-norm statistics; give calibration data to measure "
          "them");
    for (auto& L : gs.layers) write_back(*L);
  }

  for (size_t si = 0; si < sets.size(); ++si) {
    const Set& s = sets[si];
    (s.layers.size() == 3 ? report.triples : report.pairs)++;
    CleSet cs;
    for (const Layer* L : s.layers) cs.layers.push_back(L->node->name);
    for (const auto& t : s.total) cs.scales.emplace_back(t.begin(), t.end());
    cs.absorbed = absorbed[si];
    bool any = false;
    for (const auto& a : cs.absorbed) any = any || !a.empty();
    if (!any) cs.absorbed.clear();
    report.sets.push_back(std::move(cs));
  }
  return report;
}

}  // namespace quench
