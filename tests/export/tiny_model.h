// Test helper: small hand-built models for the exporter tests.
//
//   TinyModel t(13);
//   Value* x = t.input("x", {2, 16});
//   Value* y = t.node("MatMul", "mm", {x, t.init("w", w)}, "y");
//   t.output(y);
//   std::shared_ptr<Model> m = t.done();
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/clone.h"
#include "ir/graph.h"
#include "runtime/executor.h"
#include "sim/quantsim.h"
#include "testutil.h"

namespace quench::testing {

class TinyModel {
 public:
  explicit TinyModel(int64_t opset) : m_(std::make_shared<Model>()) {
    m_->opset_imports = {{"", opset}};
    m_->ir_version = 8;
  }

  Value* input(const std::string& name, const Shape& shape) {
    Value* v = typed(name, shape);
    m_->graph->inputs.push_back(v);
    return v;
  }

  Value* init(const std::string& name, Tensor t) {
    Value* v = typed(name, t.shape(), t.dtype());
    v->constant = std::move(t);
    m_->graph->initializers.push_back(v);
    return v;
  }

  // One node; outputs named by `outs` (comma-free list).
  std::vector<Value*> node_n(const std::string& op, const std::string& name,
                             std::vector<Value*> inputs, std::vector<std::string> outs,
                             std::vector<Attribute> attrs = {}) {
    std::vector<Value*> o;
    for (const std::string& n : outs) o.push_back(m_->graph->get_or_add_value(n));
    for (Value* v : o) v->dtype = DType::kFloat32;
    Node* node = m_->graph->add_node(op, name, std::move(inputs), o);
    node->attributes = std::move(attrs);
    return o;
  }
  Value* node(const std::string& op, const std::string& name, std::vector<Value*> inputs,
              const std::string& out, std::vector<Attribute> attrs = {}) {
    return node_n(op, name, std::move(inputs), {out}, std::move(attrs))[0];
  }

  void output(Value* v) { m_->graph->outputs.push_back(v); }

  std::shared_ptr<Model> done() {
    m_->graph->rebuild_links();
    EXPECT_TRUE(m_->graph->topological_sort().ok());
    return m_;
  }

 private:
  Value* typed(const std::string& name, const Shape& shape, DType t = DType::kFloat32) {
    Value* v = m_->graph->get_or_add_value(name);
    v->dtype = t;
    v->has_shape = true;
    for (int64_t d : shape) v->shape.push_back(Dim{d, ""});
    return v;
  }

  std::shared_ptr<Model> m_;
};

inline std::vector<Tensor> run_all(const Model& m, const Executor::Feeds& feeds) {
  auto exec = Executor::create(std::make_shared<Model>(clone_model(m)), {.num_threads = 1});
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  if (!exec.ok()) return {};
  auto out = (*exec)->run(feeds);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? std::move(out).value() : std::vector<Tensor>{};
}

inline QuantPoint point_on(const std::string& value, TensorKind kind, const std::string& node,
                           int input_index, QuantSpec spec, std::optional<Encoding> e) {
  QuantPoint p;
  p.value = p.source_value = value;
  p.kind = kind;
  p.node = node;
  p.input_index = input_index;
  p.config.spec = spec;
  p.encoding = std::move(e);
  return p;
}

}  // namespace quench::testing
