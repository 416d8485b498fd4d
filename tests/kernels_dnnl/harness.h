// Test harness for the oneDNN kernel families: builds one node (plus an optional activation node
// to fuse) in a Graph, creates its kernel through the registry exactly as the executor does, and
// runs it with chosen inputs and blocked-output permission. Needs no executor.
//
//   KernelHarness h("Conv", {attr_ints("pads", {1, 1, 1, 1})}, {x, w}, {false, true});
//   h.fuse("Relu");
//   ASSERT_TRUE(h.create().ok());
//   auto y = h.run({x, w});                      // plain output
//   auto yb = h.run({x, w}, /*blocked=*/true);   // may be blocked: to_plain(yb->at(0))
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "runtime/kernel.h"
#include "runtime/kernels/dnnl_kernels.h"
#include "runtime/registry.h"
#include "testutil.h"

namespace quench::testing {

class KernelHarness {
 public:
  // inputs: one per slot (undefined = omitted optional input); constant[i] makes slot i an
  // initializer holding inputs[i], which the kernel sees in KernelInfo::constant_inputs.
  KernelHarness(std::string op_type, std::vector<Attribute> attrs, std::vector<Tensor> inputs,
                std::vector<bool> constant = {}, int num_outputs = 1, int64_t opset = 17)
      : graph_(std::make_unique<Graph>()), opset_(opset) {
    if (!inputs.empty() && inputs[0].defined()) dtype_ = inputs[0].dtype();
    std::vector<Value*> ins;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].defined()) {
        ins.push_back(nullptr);
        continue;
      }
      Value* v = graph_->get_or_add_value("in" + std::to_string(i));
      if (i < constant.size() && constant[i]) v->constant = inputs[i];
      ins.push_back(v);
    }
    std::vector<Value*> outs;
    for (int i = 0; i < num_outputs; ++i) outs.push_back(graph_->get_or_add_value("out" + std::to_string(i)));
    node_ = graph_->add_node(op_type, "n0", ins, outs);
    node_->attributes = std::move(attrs);
  }

  // Adds an activation node after output 0 and asks the kernel to fuse it. extra: its inputs 1..
  // (Clip min / max) as constants unless extra_runtime[i]; an undefined tensor leaves that input
  // out.
  void fuse(const std::string& op_type, std::vector<Attribute> attrs = {},
            std::vector<Tensor> extra = {}, std::vector<bool> extra_runtime = {}) {
    std::vector<Value*> ins{node_->outputs[0]};
    for (size_t i = 0; i < extra.size(); ++i) {
      if (!extra[i].defined()) {
        ins.push_back(nullptr);
        continue;
      }
      Value* v = graph_->get_or_add_value("act_in" + std::to_string(i));
      if (i >= extra_runtime.size() || !extra_runtime[i]) v->constant = extra[i];
      ins.push_back(v);
    }
    act_ = graph_->add_node(op_type, "act", ins, {graph_->get_or_add_value("act_out")});
    act_->attributes = std::move(attrs);
  }

  const Node& node() const { return *node_; }

  Status create() {
    const KernelDef* def = find_kernel("", node_->op_type, opset_, dtype_);
    if (!def) return Status::not_found("no kernel for " + node_->op_type);
    flags_ = def->flags;
    std::vector<const Tensor*> consts;
    for (Value* v : node_->inputs) consts.push_back(v && v->is_constant() ? &v->constant : nullptr);
    KernelInfo info{*node_, opset_, consts, act_};
    auto k = def->create(info);
    if (!k.ok()) return k.status();
    kernel_ = std::move(k).value();
    return Status();
  }
  uint32_t flags() const { return flags_; }

  // reusable: tell the kernel every input dies here (it may write its output over them).
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, bool blocked_allowed = false,
                                  bool reusable = false) {
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : inputs) ptrs.push_back(t.defined() ? &t : nullptr);
    std::vector<Tensor> outputs(node_->outputs.size());
    KernelContext ctx(*node_, ptrs, outputs, std::vector<bool>(inputs.size(), reusable),
                      blocked_allowed);
    QUENCH_RETURN_IF_ERROR(kernel_->compute(ctx));
    return outputs;
  }

 private:
  std::unique_ptr<Graph> graph_;
  Node* node_ = nullptr;
  Node* act_ = nullptr;
  int64_t opset_;
  DType dtype_ = DType::kFloat32;  // selects the kernel row, as input 0's type does in the executor
  uint32_t flags_ = 0;
  std::unique_ptr<OpKernel> kernel_;
};

// Runs op once with oneDNN enabled and once with the reference kernels only; returns both plain
// outputs (output 0). blocked: let the oneDNN kernel leave a blocked output (converted back).
struct PathResults {
  Tensor fast, ref;
  bool fast_was_blocked = false;
};
inline Result<PathResults> run_both_paths(const std::string& op, const std::vector<Attribute>& attrs,
                                          const std::vector<Tensor>& inputs,
                                          const std::vector<bool>& constant, bool blocked = false,
                                          const std::string& act = "",
                                          const std::vector<Attribute>& act_attrs = {}) {
  PathResults r;
  for (bool fast : {true, false}) {
    set_dnnl_enabled(fast);
    KernelHarness h(op, attrs, inputs, constant);
    if (!act.empty()) h.fuse(act, act_attrs);
    Status s = h.create();
    set_dnnl_enabled(true);
    QUENCH_RETURN_IF_ERROR(s);
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, h.run(inputs, fast && blocked));
    if (fast) r.fast_was_blocked = !out[0].is_plain();
    QUENCH_ASSIGN_OR_RETURN(Tensor plain, to_plain(out[0]));
    (fast ? r.fast : r.ref) = plain;
  }
  return r;
}

// |a - b| <= tol * max(1, max |b|) everywhere: a tolerance relative to the output's scale.
inline ::testing::AssertionResult near_scaled(const Tensor& a, const Tensor& b, double tol = 1e-4) {
  double scale = 1.0;
  for (double v : b.to_double_vector()) scale = std::max(scale, std::fabs(v));
  return tensors_near(a, b, tol * scale);
}

inline Tensor iota_tensor(const Shape& shape, float start = 0.0f, float step = 1.0f) {
  Tensor t = Tensor::empty(DType::kFloat32, shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = start + step * static_cast<float>(i);
  return t;
}

inline Tensor full_tensor(const Shape& shape, float v) {
  Tensor t = Tensor::empty(DType::kFloat32, shape);
  std::fill(t.data<float>(), t.data<float>() + t.numel(), v);
  return t;
}

inline std::vector<float> values(const Tensor& t) {
  std::vector<double> d = t.to_double_vector();
  return std::vector<float>(d.begin(), d.end());
}

}  // namespace quench::testing
