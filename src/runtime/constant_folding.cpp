#include "runtime/constant_folding.h"

#include <algorithm>
#include <memory>
#include <unordered_set>

#include "ir/passes.h"
#include "runtime/executor.h"

namespace quench {

namespace {

// Ops whose output is not a function of their inputs.
bool is_nondeterministic(const Node& n) {
  static const std::unordered_set<std::string> kOps = {
      "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
      "Bernoulli"};
  return n.domain.empty() && kOps.count(n.op_type) > 0;
}

bool has_subgraph(const Node& n) {
  for (const Attribute& a : n.attributes)
    if (a.g || !a.graphs.empty()) return true;
  return false;
}

// Runs n alone in a one-node model whose inputs are initializers holding `inputs`.
Result<std::vector<Tensor>> evaluate(const Model& model, const Node& n,
                                     const std::vector<Tensor>& inputs, int num_threads) {
  auto tiny = std::make_shared<Model>();
  tiny->ir_version = model.ir_version;
  tiny->opset_imports = model.opset_imports;
  Graph& g = *tiny->graph;
  g.name = "fold";
  std::vector<Value*> ins, outs;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (!n.inputs[i]) {
      ins.push_back(nullptr);
      continue;
    }
    Value* v = g.get_or_add_value(n.inputs[i]->name);
    if (!v->is_constant()) {
      v->constant = inputs[i];
      v->dtype = inputs[i].dtype();
      g.initializers.push_back(v);
    }
    ins.push_back(v);
  }
  for (const Value* o : n.outputs) {
    if (!o) {
      outs.push_back(nullptr);
      continue;
    }
    QUENCH_ASSIGN_OR_RETURN(Value * v, g.add_value(o->name));
    outs.push_back(v);
    g.outputs.push_back(v);
  }
  Node* c = g.add_node(n.op_type, n.name, ins, outs, n.domain);
  c->attributes = n.attributes;
  ExecutorOptions eo;
  eo.num_threads = num_threads;
  eo.optimize = false;
  QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(tiny, eo));
  QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> results, exec->run({}));
  for (Tensor& t : results) {
    QUENCH_ASSIGN_OR_RETURN(t, to_plain(t));
  }
  return results;
}

}  // namespace

Result<ConstantFoldReport> fold_constants(Model& model, const ConstantFoldOptions& options) {
  ConstantFoldReport report;
  Graph& g = *model.graph;
  const std::unordered_set<const Value*> overridable = overridable_values(model);
  std::vector<Value*> inputs_used;
  for (Node* n : g.nodes()) {
    if (is_nondeterministic(*n) || has_subgraph(*n)) continue;
    bool has_output = false, feeds_graph_output = false;
    for (const Value* o : n->outputs) {
      if (!o) continue;
      has_output = true;
      feeds_graph_output |= is_graph_output(g, o);
    }
    if (!has_output || feeds_graph_output) continue;
    std::vector<Tensor> inputs(n->inputs.size());
    bool all_constant = true;
    int64_t in_elements = 0;
    for (size_t i = 0; i < n->inputs.size() && all_constant; ++i) {
      if (!n->inputs[i]) continue;
      // Only initializers: a Constant producer was folded into one earlier in this loop (or could
      // not be, and then its consumers cannot either).
      const Value* v = n->inputs[i];
      all_constant = v->is_constant() && !v->producer && !overridable.count(v);
      if (all_constant) {
        inputs[i] = fixed_constant(v, overridable);
        all_constant = inputs[i].defined();
        if (all_constant) in_elements += inputs[i].numel();
      }
    }
    if (!all_constant) continue;
    if (n->inputs.empty() && !(n->op_type == "Constant" && n->domain.empty())) continue;

    Result<std::vector<Tensor>> r = evaluate(model, *n, inputs, options.num_threads);
    if (!r.ok()) {
      report.notes.push_back(n->label() + " has constant inputs but was not folded: " +
                             r.status().message());
      continue;
    }
    int64_t out_elements = 0;
    for (const Tensor& t : *r) out_elements += t.numel();
    const bool is_constant_op = n->op_type == "Constant" && n->domain.empty();
    if (!is_constant_op && out_elements > in_elements + options.max_growth_elements) {
      report.notes.push_back(n->label() + " has constant inputs but was not folded: its outputs (" +
                             std::to_string(out_elements) + " elements) would outgrow its inputs (" +
                             std::to_string(in_elements) + ") by more than " +
                             std::to_string(options.max_growth_elements));
      continue;
    }
    std::vector<Value*> outs = n->outputs;
    for (Value* v : n->inputs)
      if (v) inputs_used.push_back(v);
    g.remove_node(n);
    size_t k = 0;
    for (Value* o : outs) {
      if (!o) continue;
      o->constant = std::move((*r)[k++]);
      o->dtype = o->constant.dtype();
      o->has_shape = true;
      o->shape.clear();
      for (int64_t d : o->constant.shape()) o->shape.push_back(Dim{d, ""});
      g.initializers.push_back(o);
    }
    ++report.folded;
  }
  // A value may be listed while a later node still used it: drop at the end.
  std::sort(inputs_used.begin(), inputs_used.end());
  inputs_used.erase(std::unique(inputs_used.begin(), inputs_used.end()), inputs_used.end());
  drop_unused_initializers(g, inputs_used);
  return report;
}

}  // namespace quench
