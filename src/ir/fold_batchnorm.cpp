// BatchNormalization folding (ir/passes.h): an inference BN computes y = a * x + shift per channel
// with a = gamma / sqrt(var + eps) and shift = beta - mean * a, so a linear layer before it can
// absorb it: its weights scaled by a along the output-channel axis, its bias b -> b * a + shift.
// Every product is formed in double and rounded to float once.
#include <algorithm>
#include <cmath>
#include <string>

#include "ir/passes.h"

namespace quench {

namespace {

struct BnParams {
  std::vector<double> a, shift;
  std::vector<float> gamma, beta;
};

struct Folder {
  Graph& g;
  std::unordered_set<const Value*> overridable;
  int64_t opset;
  std::vector<Value*> maybe_unused;  // initializers the fold may have orphaned
  std::vector<Node*> maybe_unused_constants;

  explicit Folder(Model& m)
      : g(*m.graph), overridable(overridable_values(m)), opset(m.opset("")) {}

  // A float32 fixed constant input of n, or an undefined tensor.
  Tensor f32_input(const Node* n, size_t i) const {
    Tensor t = fixed_constant(n->input(i), overridable);
    if (!t.defined() || t.dtype() != DType::kFloat32) return Tensor();
    return t;
  }

  // Why input i of n cannot be used ("" when it can).
  std::string f32_problem(const Node* n, size_t i, const char* role) const {
    const Value* v = n->input(i);
    if (!v) return std::string(role) + " is missing";
    Tensor t = fixed_constant(v, overridable);
    std::string where = std::string(role) + " '" + v->name + "' of " + n->label();
    if (!t.defined() && v->is_constant() && overridable.count(v))
      return where + " is also a graph input, which a feed may replace (onnxruntime does not fold "
                     "such initializers either; remove it from the graph inputs to allow folding)";
    if (!t.defined()) return where + " is not a constant (an initializer no graph input overrides)";
    if (t.dtype() != DType::kFloat32)
      return where + " has dtype " + std::string(dtype_name(t.dtype())) + " (only float32 folds)";
    return "";
  }

  void remember(Value* v) {
    if (!v) return;
    if (v->producer) maybe_unused_constants.push_back(v->producer);
    else maybe_unused.push_back(v);
  }

  // Replaces input i of n with `t`: in place when n is the only user of an initializer (the
  // weight keeps its name), else as a new initializer "<layer>/folded_bn_<role>".
  void set_input(Node* n, size_t i, Tensor t, const std::string& role) {
    Value* old = n->input(i) ? n->inputs[i] : nullptr;
    bool own = old && old->is_constant() && !old->producer && old->consumers.size() == 1 &&
               !is_graph_output(g, old) &&
               std::find(g.inputs.begin(), g.inputs.end(), old) == g.inputs.end();
    if (own) {  // a Gemm C may change shape ([1, F] -> [F], [M, 1] -> [M, F])
      old->dtype = DType::kFloat32;
      old->has_shape = true;
      old->shape.clear();
      for (int64_t d : t.shape()) old->shape.push_back(Dim{d, ""});
      old->constant = std::move(t);
      return;
    }
    std::string base = n->name.empty() ? n->outputs[0]->name : n->name;
    Value* v = g.add_value(unique_value_name(g, base + "/folded_bn_" + role)).value();
    v->dtype = DType::kFloat32;
    v->has_shape = true;
    for (int64_t d : t.shape()) v->shape.push_back(Dim{d, ""});
    v->constant = std::move(t);
    g.initializers.push_back(v);
    if (n->inputs.size() <= i) n->inputs.resize(i + 1, nullptr);
    if (old) {
      auto& c = old->consumers;
      c.erase(std::find(c.begin(), c.end(), n));
      remember(old);
    }
    n->inputs[i] = v;
    v->consumers.push_back(n);
  }

  // The BN's per-channel affine map, or a reason it has none usable here.
  std::string read_bn(const Node* bn, int64_t channels, BnParams& p) const {
    static const char* const kRoles[] = {"", "scale", "B", "mean", "var"};
    Tensor t[5];
    for (size_t i = 1; i <= 4; ++i) {
      std::string problem = f32_problem(bn, i, kRoles[i]);
      if (!problem.empty()) return problem;
      t[i] = f32_input(bn, i);
      if (t[i].numel() != channels) {
        return std::string(kRoles[i]) + " '" + bn->inputs[i]->name + "' has " +
               std::to_string(t[i].numel()) + " values but the layer before has " +
               std::to_string(channels) + " output channels";
      }
    }
    const double eps = bn->attr_float("epsilon", 1e-5f);
    const float *gamma = t[1].data<float>(), *beta = t[2].data<float>(), *mean = t[3].data<float>(),
                *var = t[4].data<float>();
    for (int64_t c = 0; c < channels; ++c) {
      if (!(static_cast<double>(var[c]) + eps > 0.0)) {
        return "var '" + bn->inputs[4]->name + "' + epsilon is not positive in channel " +
               std::to_string(c) + " (" + std::to_string(var[c]) + ")";
      }
      double a = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
      p.a.push_back(a);
      p.shift.push_back(static_cast<double>(beta[c]) - static_cast<double>(mean[c]) * a);
      p.gamma.push_back(gamma[c]);
      p.beta.push_back(beta[c]);
    }
    return "";
  }

  // Bias b (null: zeros) -> b * a + shift, shape [channels].
  static Tensor fold_bias(const Tensor* b, const BnParams& p) {
    const int64_t n = static_cast<int64_t>(p.a.size());
    Tensor out = Tensor::empty(DType::kFloat32, {n});
    float* dst = out.data<float>();
    for (int64_t c = 0; c < n; ++c) {
      double b0 = b ? b->data<float>()[c] : 0.0;
      dst[c] = static_cast<float>(b0 * p.a[c] + p.shift[c]);
    }
    return out;
  }

  // Conv or ConvTranspose. W [Cout, Cin/g, k...] or [Cin, Cout/g, k...].
  std::string fold_conv(Node* layer, const Node* bn, BnParams& p) {
    const bool transposed = layer->op_type == "ConvTranspose";
    std::string problem = f32_problem(layer, 1, "weight");
    if (!problem.empty()) return problem;
    Tensor w = f32_input(layer, 1);
    if (w.rank() < 3) return "weight of " + layer->label() + " has rank " + std::to_string(w.rank());
    Tensor b;
    if (layer->input(2)) {
      problem = f32_problem(layer, 2, "bias");
      if (!problem.empty()) return problem;
      b = f32_input(layer, 2);
    }
    const int64_t group = layer->attr_int("group", 1);
    if (group < 1 || (transposed && w.dim(0) % group != 0))
      return layer->label() + " has group=" + std::to_string(group) + " that does not divide its weight";
    const int64_t cout = transposed ? w.dim(1) * group : w.dim(0);
    if (b.defined() && b.numel() != cout)
      return "bias of " + layer->label() + " has " + std::to_string(b.numel()) + " values, not " +
             std::to_string(cout);
    problem = read_bn(bn, cout, p);
    if (!problem.empty()) return problem;

    Tensor w2 = Tensor::empty(DType::kFloat32, w.shape());
    const float* src = w.data<float>();
    float* dst = w2.data<float>();
    const int64_t d0 = w.dim(0), d1 = w.dim(1), k = w.numel() / (d0 * d1);
    const int64_t in_per_group = transposed ? d0 / group : 0;
    for (int64_t i = 0; i < d0; ++i) {
      for (int64_t j = 0; j < d1; ++j) {
        const int64_t o = transposed ? (i / in_per_group) * d1 + j : i;
        const double a = p.a[o];
        const int64_t base = (i * d1 + j) * k;
        for (int64_t e = 0; e < k; ++e)
          dst[base + e] = static_cast<float>(static_cast<double>(src[base + e]) * a);
      }
    }
    set_input(layer, 1, std::move(w2), "weight");
    set_input(layer, 2, fold_bias(b.defined() ? &b : nullptr, p), "bias");
    return "";
  }

  static void set_float_attr(Node* n, const std::string& name, float v) {
    for (Attribute& a : n->attributes) {
      if (a.name == name) {
        a.type = AttrType::kFloat;
        a.f = v;
        return;
      }
    }
    Attribute a;
    a.name = name;
    a.type = AttrType::kFloat;
    a.f = v;
    n->attributes.push_back(a);
  }

  // Gemm(A, B[, C]) with Y = alpha op(A) op(B) + beta C, and MatMul(X, W) turned into
  // Gemm(X, W', C'). BN over the feature axis F of the 2-D output.
  std::string fold_gemm(Node* layer, const Node* bn, BnParams& p) {
    const bool matmul = layer->op_type == "MatMul";
    if (matmul) {
      const Value* x = layer->input(0);
      if (!x || !x->has_shape || x->shape.size() != 2) {
        return "input '" + (x ? x->name : std::string()) + "' of " + layer->label() +
               " is not known to be 2-D, so the BN channel axis may not be its feature axis";
      }
    }
    std::string problem = f32_problem(layer, 1, "weight");
    if (!problem.empty()) return problem;
    Tensor w = f32_input(layer, 1);
    if (w.rank() != 2) return "weight of " + layer->label() + " has rank " + std::to_string(w.rank());
    const bool trans_b = !matmul && layer->attr_int("transB", 0) != 0;
    const int64_t features = trans_b ? w.dim(0) : w.dim(1);
    Tensor c;
    int64_t c_rows = 1, c_cols = 1;
    if (!matmul && layer->input(2)) {
      problem = f32_problem(layer, 2, "C");
      if (!problem.empty()) return problem;
      c = f32_input(layer, 2);
      if (c.rank() > 2) return "C of " + layer->label() + " has rank " + std::to_string(c.rank());
      if (c.rank() >= 1) c_cols = c.dim(-1);
      if (c.rank() == 2) c_rows = c.dim(0);
      if (c_cols != 1 && c_cols != features)
        return "C of " + layer->label() + " has shape " + shape_to_string(c.shape()) +
               ", which does not broadcast over " + std::to_string(features) + " features";
    }
    problem = read_bn(bn, features, p);
    if (!problem.empty()) return problem;

    Tensor w2 = Tensor::empty(DType::kFloat32, w.shape());
    const float* src = w.data<float>();
    float* dst = w2.data<float>();
    for (int64_t r = 0; r < w.dim(0); ++r)
      for (int64_t q = 0; q < w.dim(1); ++q) {
        const double a = p.a[trans_b ? r : q];
        dst[r * w.dim(1) + q] = static_cast<float>(static_cast<double>(src[r * w.dim(1) + q]) * a);
      }
    // C' = a * beta * C + shift, [F] unless C had several rows.
    const double beta = matmul ? 1.0 : layer->attr_float("beta", 1.0f);
    Tensor c2 = c_rows > 1 ? Tensor::empty(DType::kFloat32, {c_rows, features})
                           : Tensor::empty(DType::kFloat32, {features});
    float* cd = c2.data<float>();
    for (int64_t r = 0; r < c_rows; ++r)
      for (int64_t f = 0; f < features; ++f) {
        double c0 = c.defined() ? c.data<float>()[r * c_cols + (c_cols == 1 ? 0 : f)] : 0.0;
        cd[r * features + f] = static_cast<float>(p.a[f] * beta * c0 + p.shift[f]);
      }

    if (matmul) layer->op_type = "Gemm";
    set_input(layer, 1, std::move(w2), "weight");
    set_input(layer, 2, std::move(c2), "bias");
    if (!matmul && layer->has_attr("beta")) set_float_attr(layer, "beta", 1.0f);
    if (opset < 7 && c_rows == 1) {  // Gemm before opset 7 broadcasts C only when asked
      layer->attributes.erase(std::remove_if(layer->attributes.begin(), layer->attributes.end(),
                                             [](const Attribute& a) { return a.name == "broadcast"; }),
                              layer->attributes.end());
      Attribute a;
      a.name = "broadcast";
      a.type = AttrType::kInt;
      a.i = 1;
      layer->attributes.push_back(a);
    }
    return "";
  }

  // Folds bn into the layer before it; "" on success, else why not.
  std::string fold(Node* bn, FoldedBatchNorm& record) {
    if (opset >= 14 && bn->attr_int("training_mode", 0) != 0) return "training_mode=1";
    for (size_t i = 1; i < bn->outputs.size(); ++i)
      if (bn->outputs[i]) return "it has running-statistics outputs (training form)";
    if (opset < 9 && bn->attr_int("spatial", 1) == 0) return "spatial=0 (per-element statistics)";
    if (bn->num_inputs() != 5 || !bn->inputs[0]) return "it does not have 5 inputs";
    Value* x = bn->inputs[0];
    Node* layer = x->producer;
    static const char* const kLayers = "a Conv, ConvTranspose, Gemm or MatMul";
    static const char* const kNothing = ", so there is nothing to fold into";
    if (!layer || !layer->domain.empty() || layer->outputs.empty() || layer->outputs[0] != x)
      return "its input '" + x->name + "' is not produced by " + kLayers + kNothing;
    const std::string& op = layer->op_type;
    if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul")
      return "its input '" + x->name + "' comes from " + layer->label() + ", not from " + kLayers +
             kNothing;
    if (x->consumers.size() != 1)
      return "the output '" + x->name + "' of " + layer->label() + " has other consumers";
    if (is_graph_output(g, x))
      return "the output '" + x->name + "' of " + layer->label() + " is a graph output";

    // Remember the original inputs: the fold may orphan BN parameters.
    std::vector<Value*> bn_params(bn->inputs.begin() + 1, bn->inputs.end());
    BnParams p;
    std::string problem = (op == "Conv" || op == "ConvTranspose") ? fold_conv(layer, bn, p)
                                                                    : fold_gemm(layer, bn, p);
    if (!problem.empty()) return problem;

    Value* out = bn->outputs[0];
    record.layer = layer->name;
    record.output = out->name;
    record.batchnorm = bn->name;
    record.gamma = std::move(p.gamma);
    record.beta = std::move(p.beta);
    g.remove_node(bn);
    layer->outputs[0] = out;
    out->producer = layer;
    x->producer = nullptr;
    g.value_infos.erase(std::remove(g.value_infos.begin(), g.value_infos.end(), x),
                        g.value_infos.end());
    for (Value* v : bn_params) remember(v);
    return "";
  }
};

}  // namespace

BatchNormFoldReport fold_batchnorms(Model& model) {
  BatchNormFoldReport report;
  Folder f(model);
  std::vector<Node*> bns;
  for (Node* n : f.g.nodes())
    if (n->op_type == "BatchNormalization" && n->domain.empty()) bns.push_back(n);
  for (Node* bn : bns) {
    FoldedBatchNorm record;
    std::string label = bn->label();
    std::string problem = f.fold(bn, record);
    if (problem.empty()) {
      report.folded.push_back(std::move(record));
    } else {
      ++report.kept;
      report.notes.push_back(label + " kept: " + problem);
    }
  }
  // A value can be remembered before a later fold takes its last consumer: drop at the end.
  drop_unused_initializers(f.g, f.maybe_unused);
  drop_unused_constant_nodes(f.g, f.maybe_unused_constants);
  return report;
}

}  // namespace quench
