// Hand-built graphs for the graph-pass tests (tests/ir, tests/algo), and the check those passes
// must meet: a rewritten model computes what the original computes.
//
//   GraphBuilder b(17);
//   Value* x = b.input("x", {2, 3, 8, 8});
//   b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 3, 3}))}, {"y"});
//   b.output("y");
//   EXPECT_TRUE(same_outputs(original, *b.model, {{"x", x_data}}, 1e-5));
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ir/clone.h"
#include "ir/graph.h"
#include "runtime/executor.h"
#include "testutil.h"

namespace quench::testing {

struct GraphBuilder {
  std::shared_ptr<Model> model = std::make_shared<Model>();
  Graph& g = *model->graph;

  explicit GraphBuilder(int64_t opset = 17) {
    model->opset_imports.push_back({"", opset});
    g.name = "test";
  }
  // A float32 graph input; dims < 0 are symbolic ("N").
  Value* input(const std::string& name, const Shape& shape, DType dtype = DType::kFloat32) {
    Value* v = g.get_or_add_value(name);
    v->dtype = dtype;
    v->has_shape = true;
    for (int64_t d : shape) v->shape.push_back(d < 0 ? Dim{-1, "N"} : Dim{d, ""});
    g.inputs.push_back(v);
    return v;
  }
  Value* init(const std::string& name, Tensor t) {
    Value* v = g.get_or_add_value(name);
    v->dtype = t.dtype();
    v->constant = std::move(t);
    g.initializers.push_back(v);
    return v;
  }
  Value* v(const std::string& name) { return g.get_or_add_value(name); }
  Node* node(const std::string& op, const std::string& name, std::vector<Value*> ins,
             const std::vector<std::string>& outs, std::vector<Attribute> attrs = {}) {
    std::vector<Value*> o;
    for (const std::string& s : outs) o.push_back(s.empty() ? nullptr : v(s));
    Node* n = g.add_node(op, name, std::move(ins), std::move(o));
    n->attributes = std::move(attrs);
    return n;
  }
  void output(const std::string& name) { g.outputs.push_back(v(name)); }
  // BatchNormalization 'name' on x with random inference parameters for `channels` channels.
  Node* batchnorm(const std::string& name, Value* x, int64_t channels, const std::string& out,
                  uint32_t seed = 5) {
    Value* scale = init(name + "_scale", random_tensor({channels}, 0.5f, 1.5f, seed));
    Value* bias = init(name + "_bias", random_tensor({channels}, -1.0f, 1.0f, seed + 1));
    Value* mean = init(name + "_mean", random_tensor({channels}, -0.5f, 0.5f, seed + 2));
    Value* var = init(name + "_var", random_tensor({channels}, 0.05f, 2.0f, seed + 3));
    return node("BatchNormalization", name, {x, scale, bias, mean, var}, {out},
                {attr_float("epsilon", 1e-3f)});
  }
  int count(const std::string& op) const {
    int c = 0;
    for (const Node* n : g.nodes()) c += n->op_type == op;
    return c;
  }
};

inline int count_ops(const Model& m, const std::string& op) {
  int c = 0;
  for (const Node* n : m.graph->nodes()) c += n->op_type == op;
  return c;
}

// Graph outputs of m on feeds, through the plain plan (every node as written: no fusion, no
// folding by the executor itself).
inline Result<std::vector<Tensor>> run_plain(std::shared_ptr<const Model> m,
                                             const Executor::Feeds& feeds) {
  ExecutorOptions eo;
  eo.optimize = false;
  eo.num_threads = 1;
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(std::move(m), eo));
  return exec->run(feeds);
}

// max |a - b| / max |b| over all outputs.
inline double max_relative_error(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    std::vector<double> x = a[i].to_double_vector(), y = b[i].to_double_vector();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      diff = std::max(diff, std::abs(x[k] - y[k]));
      scale = std::max(scale, std::abs(y[k]));
    }
  }
  return scale > 0 ? diff / scale : diff;
}

// Runs `before` and `after` on the same feeds; success when the outputs have equal shapes and
// differ by at most rel * max|before| (element-wise, per the largest output magnitude).
inline ::testing::AssertionResult same_outputs(const Model& before, const Model& after,
                                               const Executor::Feeds& feeds, double rel) {
  auto a = run_plain(std::make_shared<Model>(clone_model(before)), feeds);
  auto b = run_plain(std::make_shared<Model>(clone_model(after)), feeds);
  if (!a.ok()) return ::testing::AssertionFailure() << "original: " << a.status().message();
  if (!b.ok()) return ::testing::AssertionFailure() << "rewritten: " << b.status().message();
  if (a->size() != b->size()) return ::testing::AssertionFailure() << "output count differs";
  for (size_t i = 0; i < a->size(); ++i)
    if ((*a)[i].shape() != (*b)[i].shape())
      return ::testing::AssertionFailure() << "output " << i << " shape "
                                           << shape_to_string((*b)[i].shape()) << " vs "
                                           << shape_to_string((*a)[i].shape());
  double err = max_relative_error(*b, *a);
  if (err > rel) return ::testing::AssertionFailure() << "relative error " << err << " > " << rel;
  return ::testing::AssertionSuccess() << "relative error " << err;
}

}  // namespace quench::testing
