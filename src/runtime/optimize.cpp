#include "runtime/optimize.h"

#include <cmath>
#include <string>

namespace quench {

namespace {

bool is_graph_output(const Graph& g, const Value* v) {
  for (const Value* o : g.outputs)
    if (o == v) return true;
  return false;
}

const Tensor* constant_f32(const Node* n, size_t i) {
  const Value* v = n->input(i);
  if (!v || !v->is_constant() || v->constant.dtype() != DType::kFloat32 || !v->constant.is_plain())
    return nullptr;
  return &v->constant;
}

// Conv(X, W, B) -> BatchNormalization(scale, bias, mean, var) == Conv(X, W * a, (B - mean) * a + bias)
// with a = scale / sqrt(var + epsilon), per output channel.
bool fold_batchnorm(Graph& g, Node* conv, int64_t opset) {
  if (conv->op_type != "Conv" || !conv->domain.empty() || conv->outputs.size() != 1) return false;
  Value* y = conv->outputs[0];
  if (!y || y->consumers.size() != 1 || is_graph_output(g, y)) return false;
  Node* bn = y->consumers[0];
  if (bn->op_type != "BatchNormalization" || !bn->domain.empty() || bn->inputs.size() != 5 ||
      bn->inputs[0] != y)
    return false;
  if (bn->attr_int("training_mode", 0) != 0 || bn->attr_int("spatial", 1) != 1) return false;
  for (size_t i = 1; i < bn->outputs.size(); ++i)
    if (bn->outputs[i]) return false;  // running mean/var outputs asked for: training graph
  (void)opset;
  const Tensor* w = constant_f32(conv, 1);
  const Tensor* b = conv->num_inputs() > 2 ? constant_f32(conv, 2) : nullptr;
  if (!w || w->rank() < 3 || (conv->num_inputs() > 2 && !b)) return false;
  const Tensor *scale = constant_f32(bn, 1), *bias = constant_f32(bn, 2), *mean = constant_f32(bn, 3),
               *var = constant_f32(bn, 4);
  if (!scale || !bias || !mean || !var) return false;
  const int64_t cout = w->dim(0);
  for (const Tensor* t : {scale, bias, mean, var})
    if (t->numel() != cout) return false;
  if (b && b->numel() != cout) return false;
  const float eps = bn->attr_float("epsilon", 1e-5f);

  Tensor w2 = Tensor::empty(DType::kFloat32, w->shape());
  Tensor b2 = Tensor::empty(DType::kFloat32, {cout});
  const int64_t per = w->numel() / cout;
  for (int64_t c = 0; c < cout; ++c) {
    const float a = scale->data<float>()[c] / std::sqrt(var->data<float>()[c] + eps);
    const float* src = w->data<float>() + c * per;
    float* dst = w2.data<float>() + c * per;
    for (int64_t k = 0; k < per; ++k) dst[k] = src[k] * a;
    const float b0 = b ? b->data<float>()[c] : 0.0f;
    b2.data<float>()[c] = (b0 - mean->data<float>()[c]) * a + bias->data<float>()[c];
  }
  std::string base = conv->name.empty() ? y->name : conv->name;
  Value* wv = g.add_value(base + "/folded_bn_weight").value();
  Value* bv = g.add_value(base + "/folded_bn_bias").value();
  wv->dtype = bv->dtype = DType::kFloat32;
  wv->constant = std::move(w2);
  bv->constant = std::move(b2);
  g.initializers.push_back(wv);
  g.initializers.push_back(bv);
  Value* out = bn->outputs[0];
  std::vector<Value*> ins = {conv->inputs[0], wv, bv};
  std::string name = conv->name;
  std::vector<Attribute> attrs = conv->attributes;
  g.remove_node(bn);
  g.remove_node(conv);
  Node* fused = g.add_node("Conv", name, ins, {out});
  fused->attributes = std::move(attrs);
  return true;
}

// Identity(X) and inference Dropout(X) forward X itself to their consumers.
bool bypass_identity(Graph& g, Node* n) {
  bool dropout = n->op_type == "Dropout";
  if ((n->op_type != "Identity" && !dropout) || !n->domain.empty()) return false;
  if (n->num_inputs() < 1 || !n->inputs[0] || n->outputs.empty() || !n->outputs[0]) return false;
  if (dropout) {
    if (n->num_inputs() > 2) return false;  // training_mode input: leave it to the kernel
    if (n->outputs.size() > 1 && n->outputs[1]) return false;  // mask wanted
  }
  Value* x = n->inputs[0];
  Value* y = n->outputs[0];
  if (is_graph_output(g, y)) return false;
  std::vector<Node*> consumers = y->consumers;
  for (Node* c : consumers)
    for (Value*& in : c->inputs)
      if (in == y) in = x;
  g.remove_node(n);
  g.rebuild_links();
  return true;
}

// Constant(value=...) becomes an initializer, so that later rewrites and kernels see its data
// (Clip bounds that allow fusion, Reshape targets read once).
bool constant_to_initializer(Graph& g, Node* n) {
  if (n->op_type != "Constant" || !n->domain.empty() || n->outputs.size() != 1 || !n->outputs[0])
    return false;
  if (n->attributes.size() != 1) return false;
  const Attribute& a = n->attributes[0];
  Tensor t;
  if (a.name == "value" && a.type == AttrType::kTensor && a.t.defined()) t = a.t;
  else if (a.name == "value_float" && a.type == AttrType::kFloat) t = Tensor::scalar<float>(a.f);
  else if (a.name == "value_int" && a.type == AttrType::kInt) t = Tensor::scalar<int64_t>(a.i);
  else if (a.name == "value_floats" && a.type == AttrType::kFloats)
    t = Tensor::from_vector<float>({static_cast<int64_t>(a.floats.size())}, a.floats);
  else if (a.name == "value_ints" && a.type == AttrType::kInts)
    t = Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints);
  else
    return false;
  Value* out = n->outputs[0];
  g.remove_node(n);
  out->constant = std::move(t);
  out->dtype = out->constant.dtype();
  g.initializers.push_back(out);
  return true;
}

}  // namespace

OptimizeStats optimize_for_inference(Model& model) {
  OptimizeStats st;
  Graph& g = *model.graph;
  const int64_t opset = model.opset("");
  for (Node* n : g.nodes())
    if (constant_to_initializer(g, n)) ++st.constants_folded;
  bool changed = true;
  while (changed) {
    changed = false;
    for (Node* n : g.nodes()) {
      if (bypass_identity(g, n)) {
        ++st.identities_removed;
        changed = true;
        break;
      }
      if (fold_batchnorm(g, n, opset)) {
        ++st.batchnorms_folded;
        changed = true;
        break;
      }
    }
  }
  (void)g.topological_sort();
  return st;
}

}  // namespace quench
