#include "ir/clone.h"

namespace quench {

std::shared_ptr<Graph> clone_graph(const Graph& src) {
  auto dst = std::make_shared<Graph>();
  dst->name = src.name;
  dst->doc_string = src.doc_string;
  dst->opaque_fields = src.opaque_fields;
  for (const auto& v : src.values()) {
    Value* c = dst->add_value(v->name).value();
    c->dtype = v->dtype;
    c->has_shape = v->has_shape;
    c->shape = v->shape;
    c->doc_string = v->doc_string;
    c->constant = v->constant;
  }
  auto map = [&](const Value* v) -> Value* { return v ? dst->find_value(v->name) : nullptr; };
  auto map_all = [&](const std::vector<Value*>& vs) {
    std::vector<Value*> out;
    out.reserve(vs.size());
    for (const Value* v : vs) out.push_back(map(v));
    return out;
  };
  for (const Node* n : src.nodes()) {
    Node* c = dst->add_node(n->op_type, n->name, map_all(n->inputs), map_all(n->outputs), n->domain);
    c->attributes = n->attributes;
    for (Attribute& a : c->attributes) {
      if (a.g) a.g = clone_graph(*a.g);
      for (auto& g : a.graphs) g = clone_graph(*g);
    }
    c->doc_string = n->doc_string;
  }
  dst->inputs = map_all(src.inputs);
  dst->outputs = map_all(src.outputs);
  dst->initializers = map_all(src.initializers);
  dst->value_infos = map_all(src.value_infos);
  return dst;
}

Model clone_model(const Model& src) {
  Model m;
  m.ir_version = src.ir_version;
  m.opset_imports = src.opset_imports;
  m.producer_name = src.producer_name;
  m.producer_version = src.producer_version;
  m.domain = src.domain;
  m.model_version = src.model_version;
  m.doc_string = src.doc_string;
  m.metadata_props = src.metadata_props;
  m.opaque_fields = src.opaque_fields;
  m.graph = clone_graph(*src.graph);
  return m;
}

}  // namespace quench
