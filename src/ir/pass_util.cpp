// Helpers shared by the graph passes (ir/passes.h) and runtime constant folding.
#include <algorithm>

#include "ir/passes.h"

namespace quench {

namespace {

// The tensor a Constant node holds, from whichever single value attribute it has. Undefined for
// sparse and string values (not modelled by Tensor).
Tensor constant_attribute_tensor(const Node& n) {
  if (n.attributes.size() != 1) return Tensor();
  const Attribute& a = n.attributes[0];
  if (a.name == "value" && a.type == AttrType::kTensor && a.t.defined() && a.t.is_plain()) return a.t;
  if (a.name == "value_float" && a.type == AttrType::kFloat) return Tensor::scalar<float>(a.f);
  if (a.name == "value_int" && a.type == AttrType::kInt) return Tensor::scalar<int64_t>(a.i);
  if (a.name == "value_floats" && a.type == AttrType::kFloats)
    return Tensor::from_vector<float>({static_cast<int64_t>(a.floats.size())}, a.floats);
  if (a.name == "value_ints" && a.type == AttrType::kInts)
    return Tensor::from_vector<int64_t>({static_cast<int64_t>(a.ints.size())}, a.ints);
  return Tensor();
}

bool is_constant_node(const Node* n) {
  return n && n->op_type == "Constant" && n->domain.empty() && n->outputs.size() == 1 &&
         n->outputs[0];
}

template <class T>
void erase_value(std::vector<T*>& list, const T* v) {
  list.erase(std::remove(list.begin(), list.end(), v), list.end());
}

}  // namespace

bool is_graph_output(const Graph& graph, const Value* v) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), v) != graph.outputs.end();
}

std::unordered_set<const Value*> overridable_values(const Model& model) {
  std::unordered_set<const Value*> out;
  if (model.ir_version < 4) return out;
  for (const Value* v : model.graph->inputs) out.insert(v);
  return out;
}

Tensor fixed_constant(const Value* v, const std::unordered_set<const Value*>& overridable) {
  if (!v) return Tensor();
  if (v->is_constant()) {
    if (overridable.count(v) || !v->constant.is_plain()) return Tensor();
    return v->constant;
  }
  if (is_constant_node(v->producer)) return constant_attribute_tensor(*v->producer);
  return Tensor();
}

std::string unique_value_name(const Graph& graph, const std::string& base) {
  if (!graph.find_value(base)) return base;
  for (int i = 1;; ++i) {
    std::string name = base + "_" + std::to_string(i);
    if (!graph.find_value(name)) return name;
  }
}

int drop_unused_initializers(Graph& graph, const std::vector<Value*>& candidates) {
  int dropped = 0;
  for (Value* v : candidates) {
    if (!v || !v->consumers.empty() || is_graph_output(graph, v)) continue;
    if (std::find(graph.inputs.begin(), graph.inputs.end(), v) != graph.inputs.end()) continue;
    auto it = std::find(graph.initializers.begin(), graph.initializers.end(), v);
    if (it == graph.initializers.end()) continue;
    graph.initializers.erase(it);
    erase_value(graph.value_infos, v);
    v->constant = Tensor();
    ++dropped;
  }
  return dropped;
}

int drop_unused_constant_nodes(Graph& graph, const std::vector<Node*>& candidates) {
  int dropped = 0;
  std::vector<Node*> unique = candidates;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  for (Node* n : unique) {
    if (!is_constant_node(n)) continue;
    Value* out = n->outputs[0];
    if (!out->consumers.empty() || is_graph_output(graph, out)) continue;
    erase_value(graph.value_infos, out);
    graph.remove_node(n);
    ++dropped;
  }
  return dropped;
}

int constant_nodes_to_initializers(Graph& graph) {
  int converted = 0;
  for (Node* n : graph.nodes()) {
    if (!is_constant_node(n)) continue;
    Tensor t = constant_attribute_tensor(*n);
    if (!t.defined()) continue;
    Value* out = n->outputs[0];
    graph.remove_node(n);
    out->constant = std::move(t);
    out->dtype = out->constant.dtype();
    out->has_shape = true;
    out->shape.clear();
    for (int64_t d : out->constant.shape()) out->shape.push_back(Dim{d, ""});
    graph.initializers.push_back(out);
    ++converted;
  }
  return converted;
}

}  // namespace quench
