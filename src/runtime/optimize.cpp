#include "runtime/optimize.h"

#include <string>

#include "ir/passes.h"

namespace quench {

namespace {

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

}  // namespace

OptimizeStats optimize_for_inference(Model& model) {
  OptimizeStats st;
  Graph& g = *model.graph;
  // Constant nodes first, so that Clip bounds allow fusion and BN parameters fold.
  st.constants_folded = constant_nodes_to_initializers(g);
  // Identities before BN folding: Conv -> Identity -> BatchNormalization folds too.
  bool changed = true;
  while (changed) {
    changed = false;
    for (Node* n : g.nodes()) {
      if (bypass_identity(g, n)) {
        ++st.identities_removed;
        changed = true;
        break;
      }
    }
  }
  st.batchnorms_folded = static_cast<int>(fold_batchnorms(model).folded.size());
  (void)g.topological_sort();
  return st;
}

}  // namespace quench
