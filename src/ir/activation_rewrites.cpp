// Activation rewrites that prepare a model for quantization (ir/passes.h), both from vai_q:
// ReLU6 -> ReLU, so that cross-layer equalization may rescale channels (a ReLU commutes with a
// positive per-channel scale, a clip at 6 does not), and SiLU -> HardSwish, which a DPU runs.
// Both change the model's function; they are opt-in.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ir/passes.h"

namespace quench {

namespace {

// Removes input slot i of n (its value loses this consumer).
void detach_input(Node* n, size_t i) {
  if (i >= n->inputs.size() || !n->inputs[i]) return;
  auto& c = n->inputs[i]->consumers;
  auto it = std::find(c.begin(), c.end(), n);
  if (it != c.end()) c.erase(it);
  n->inputs[i] = nullptr;
}

// The single element of a numeric constant, or NaN.
double scalar_of(const Tensor& t) {
  if (!t.defined() || t.numel() != 1) return std::numeric_limits<double>::quiet_NaN();
  return t.to_double_vector()[0];
}

void set_float_attr(Node* n, const std::string& name, float v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kFloat;
  a.f = v;
  n->attributes.push_back(a);
}

// The x of Mul(x, Sigmoid(x)) / Mul(Sigmoid(x), x), with the Sigmoid node; null when mul is not
// that pattern.
Value* silu_input(const Node* mul, Node** sigmoid) {
  if (mul->op_type != "Mul" || !mul->domain.empty() || mul->num_inputs() != 2) return nullptr;
  for (int s = 0; s < 2; ++s) {
    Value* sig = mul->inputs[s];
    Value* x = mul->inputs[1 - s];
    if (!sig || !x || sig == x) continue;
    Node* p = sig->producer;
    if (p && p->op_type == "Sigmoid" && p->domain.empty() && p->num_inputs() == 1 &&
        p->inputs[0] == x && p->outputs.size() == 1 && p->outputs[0] == sig) {
      *sigmoid = p;
      return x;
    }
  }
  return nullptr;
}

}  // namespace

RewriteReport convert_relu6_to_relu(Model& model) {
  RewriteReport report;
  Graph& g = *model.graph;
  const int64_t opset = model.opset("");
  const std::unordered_set<const Value*> overridable = overridable_values(model);
  std::vector<Value*> orphaned;
  std::vector<Node*> orphaned_constants;
  for (Node* n : g.nodes()) {
    if (n->op_type != "Clip" || !n->domain.empty() || n->num_inputs() < 1 || !n->inputs[0]) continue;
    double lo, hi;
    if (opset < 11) {
      lo = n->attr_float("min", -std::numeric_limits<float>::max());
      hi = n->attr_float("max", std::numeric_limits<float>::max());
    } else {
      if (n->num_inputs() != 3 || !n->inputs[1]) continue;  // a Clip without min is no ReLU6
      lo = scalar_of(fixed_constant(n->inputs[1], overridable));
      hi = scalar_of(fixed_constant(n->inputs[2], overridable));
    }
    if (lo != 0.0 || hi != 6.0) continue;
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      if (Value* v = n->inputs[i]) {
        if (v->producer) orphaned_constants.push_back(v->producer);
        else orphaned.push_back(v);
      }
      detach_input(n, i);
    }
    n->inputs.resize(1);
    n->op_type = "Relu";
    n->attributes.clear();
    ++report.converted;
  }
  drop_unused_initializers(g, orphaned);
  drop_unused_constant_nodes(g, orphaned_constants);
  return report;
}

RewriteReport convert_silu_to_hswish(Model& model) {
  RewriteReport report;
  Graph& g = *model.graph;
  const bool has_hardswish = model.opset("") >= 14;
  if (has_hardswish) {
    std::vector<Node*> sigmoids;
    for (Node* mul : g.nodes()) {
      Node* sigmoid = nullptr;
      Value* x = silu_input(mul, &sigmoid);
      if (!x) continue;
      detach_input(mul, 0);
      detach_input(mul, 1);
      mul->inputs = {x};
      x->consumers.push_back(mul);
      mul->op_type = "HardSwish";
      mul->attributes.clear();
      ++report.converted;
      if (sigmoid->outputs[0]->consumers.empty()) sigmoids.push_back(sigmoid);
    }
    // Sigmoids nobody uses any more go (each is listed once: its last Mul emptied it).
    for (Node* sigmoid : sigmoids) {
      Value* sig = sigmoid->outputs[0];
      if (is_graph_output(g, sig)) continue;
      g.value_infos.erase(std::remove(g.value_infos.begin(), g.value_infos.end(), sig),
                          g.value_infos.end());
      g.remove_node(sigmoid);
    }
    return report;
  }
  // Before opset 14: x * HardSigmoid(x) is HardSwish, so the Sigmoid itself changes, which is
  // only right when every user of it is such a Mul.
  for (Node* sigmoid : g.nodes()) {
    if (sigmoid->op_type != "Sigmoid" || !sigmoid->domain.empty() || sigmoid->outputs.size() != 1 ||
        !sigmoid->outputs[0])
      continue;
    Value* sig = sigmoid->outputs[0];
    int muls = 0;
    bool all = !sig->consumers.empty() && !is_graph_output(g, sig);
    for (const Node* c : sig->consumers) {
      Node* p = nullptr;
      if (silu_input(c, &p) && p == sigmoid) ++muls;
      else all = false;
    }
    if (muls == 0) continue;
    if (!all) {
      report.notes.push_back(sigmoid->label() +
                             " kept: its output also feeds other nodes than x * Sigmoid(x), and "
                             "HardSwish needs opset 14 (the model has " +
                             std::to_string(model.opset("")) + ")");
      continue;
    }
    sigmoid->op_type = "HardSigmoid";
    sigmoid->attributes.clear();
    set_float_attr(sigmoid, "alpha", 1.0f / 6.0f);
    set_float_attr(sigmoid, "beta", 0.5f);
    report.converted += muls;
  }
  return report;
}

}  // namespace quench
