#include "ir/graph.h"

#include <algorithm>
#include <queue>
#include <unordered_set>

namespace quench {

std::optional<Shape> Value::static_shape() const {
  if (!has_shape) return std::nullopt;
  Shape s;
  s.reserve(shape.size());
  for (const Dim& d : shape) {
    if (!d.known()) return std::nullopt;
    s.push_back(d.value);
  }
  return s;
}

const Attribute* Node::attr(std::string_view n) const {
  for (const Attribute& a : attributes)
    if (a.name == n) return &a;
  return nullptr;
}

int64_t Node::attr_int(std::string_view n, int64_t dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == AttrType::kInt ? a->i : dflt;
}
float Node::attr_float(std::string_view n, float dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == AttrType::kFloat ? a->f : dflt;
}
std::string Node::attr_string(std::string_view n, const std::string& dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == AttrType::kString ? a->s : dflt;
}
std::vector<int64_t> Node::attr_ints(std::string_view n, std::vector<int64_t> dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == AttrType::kInts ? a->ints : dflt;
}
std::vector<float> Node::attr_floats(std::string_view n, std::vector<float> dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == AttrType::kFloats ? a->floats : dflt;
}
std::vector<std::string> Node::attr_strings(std::string_view n, std::vector<std::string> dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == AttrType::kStrings ? a->strings : dflt;
}

size_t Node::num_inputs() const {
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1] == nullptr) --n;
  return n;
}

std::string Node::label() const {
  if (!name.empty()) return op_type + " '" + name + "'";
  if (!outputs.empty() && outputs[0]) return op_type + " (output '" + outputs[0]->name + "')";
  return op_type + " (unnamed)";
}

Result<Value*> Graph::add_value(const std::string& name) {
  if (value_index_.count(name)) return Status::invalid("value '" + name + "' is defined twice");
  auto v = std::make_unique<Value>();
  v->name = name;
  Value* raw = v.get();
  values_.push_back(std::move(v));
  value_index_.emplace(name, raw);
  return raw;
}

Value* Graph::get_or_add_value(const std::string& name) {
  if (Value* v = find_value(name)) return v;
  return add_value(name).value();
}

Value* Graph::find_value(std::string_view name) {
  auto it = value_index_.find(std::string(name));
  return it == value_index_.end() ? nullptr : it->second;
}
const Value* Graph::find_value(std::string_view name) const {
  auto it = value_index_.find(std::string(name));
  return it == value_index_.end() ? nullptr : it->second;
}

Node* Graph::add_node(std::string op_type, std::string name, std::vector<Value*> inputs,
                      std::vector<Value*> outputs, std::string domain) {
  auto n = std::make_unique<Node>();
  n->op_type = std::move(op_type);
  n->name = std::move(name);
  n->domain = std::move(domain);
  n->inputs = std::move(inputs);
  n->outputs = std::move(outputs);
  Node* raw = n.get();
  for (Value* v : raw->inputs)
    if (v) v->consumers.push_back(raw);
  for (Value* v : raw->outputs)
    if (v) v->producer = raw;
  nodes_.push_back(std::move(n));
  return raw;
}

void Graph::remove_node(Node* node) {
  for (Value* v : node->inputs) {
    if (!v) continue;
    auto& c = v->consumers;
    c.erase(std::find(c.begin(), c.end(), node));
  }
  for (Value* v : node->outputs)
    if (v && v->producer == node) v->producer = nullptr;
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                              [&](const std::unique_ptr<Node>& p) { return p.get() == node; }),
               nodes_.end());
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_) out.push_back(n.get());
  return out;
}

void Graph::rebuild_links() {
  for (auto& v : values_) {
    v->producer = nullptr;
    v->consumers.clear();
  }
  for (auto& n : nodes_) {
    for (Value* v : n->inputs)
      if (v) v->consumers.push_back(n.get());
    for (Value* v : n->outputs)
      if (v) v->producer = n.get();
  }
}

Status Graph::topological_sort() {
  rebuild_links();
  const size_t n = nodes_.size();
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < n; ++i) index[nodes_[i].get()] = i;
  std::vector<int> indegree(n, 0);
  std::vector<std::vector<size_t>> succ(n);
  for (size_t i = 0; i < n; ++i) {
    std::unordered_set<const Node*> seen;
    for (Value* v : nodes_[i]->inputs) {
      if (!v || !v->producer || v->producer == nodes_[i].get()) {
        if (v && v->producer == nodes_[i].get()) {
          return Status::invalid("graph has a cycle: node " + nodes_[i]->label() +
                                 " consumes its own output '" + v->name + "'");
        }
        continue;
      }
      if (!seen.insert(v->producer).second) continue;
      size_t p = index[v->producer];
      succ[p].push_back(i);
      ++indegree[i];
    }
  }
  // Kahn's algorithm taking the lowest original index first keeps sorted graphs unchanged.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < n; ++i)
    if (indegree[i] == 0) ready.push(i);
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t s : succ[i])
      if (--indegree[s] == 0) ready.push(s);
  }
  if (order.size() != n) {
    std::string names;
    int listed = 0;
    for (size_t i = 0; i < n && listed < 5; ++i) {
      if (indegree[i] > 0) {
        names += (listed ? ", " : "") + nodes_[i]->label();
        ++listed;
      }
    }
    return Status::invalid("graph has a cycle through " + names);
  }
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(nodes_[i]));
  nodes_ = std::move(sorted);
  return Status();
}

int64_t Model::opset(std::string_view d) const {
  bool want_default = d.empty() || d == "ai.onnx";
  for (const OpsetImport& o : opset_imports) {
    bool is_default = o.domain.empty() || o.domain == "ai.onnx";
    if ((want_default && is_default) || (!want_default && o.domain == d)) return o.version;
  }
  return 0;
}

Status verify_graph(const Graph& graph) {
  std::vector<std::string> errors;
  auto report = [&](std::string e) {
    if (errors.size() < 8) errors.push_back(std::move(e));
  };
  std::unordered_set<const Value*> available;
  for (const Value* v : graph.inputs) available.insert(v);
  for (const Value* v : graph.initializers) {
    if (!v->is_constant()) report("initializer '" + v->name + "' has no data");
    available.insert(v);
  }
  std::unordered_set<std::string> node_names;
  std::unordered_map<const Value*, const Node*> produced_by;
  std::unordered_set<const Node*> listed;
  for (const auto& np : graph.node_list()) listed.insert(np.get());
  // Nodes must come in topological order: an input produced by a later node is a cycle or an
  // ordering bug; an input produced by nobody is dangling.
  std::unordered_set<const Value*> produced_later;
  for (const auto& np : graph.node_list())
    for (const Value* v : np->outputs)
      if (v) produced_later.insert(v);
  for (const auto& np : graph.node_list()) {
    const Node& n = *np;
    if (!n.name.empty() && !node_names.insert(n.name).second) {
      report("duplicate node name '" + n.name + "' (" + n.op_type + ")");
    }
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Value* v = n.inputs[i];
      if (!v || available.count(v)) continue;
      if (produced_later.count(v)) {
        report("node " + n.label() + " input " + std::to_string(i) + " '" + v->name +
               "' is produced by a later node: the graph has a cycle or is not topologically sorted");
      } else {
        report("node " + n.label() + " input " + std::to_string(i) + " '" + v->name +
               "' is dangling: no node, graph input or initializer produces it");
      }
    }
    for (const Value* v : n.outputs) {
      if (!v) continue;
      auto [it, fresh] = produced_by.emplace(v, &n);
      if (!fresh || available.count(v)) {
        report("value '" + v->name + "' is produced twice (by node " + n.label() + ")");
      }
      available.insert(v);
    }
  }
  for (const Value* v : graph.outputs) {
    if (!available.count(v)) report("graph output '" + v->name + "' is not produced by any node");
  }
  if (errors.empty()) return Status();
  std::string msg = "graph '" + graph.name + "' is invalid: " + errors[0];
  for (size_t i = 1; i < errors.size(); ++i) msg += "; " + errors[i];
  return Status::invalid(msg);
}

}  // namespace quench
