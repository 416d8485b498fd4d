// quench IR: deep copies.
//
//   Model copy = clone_model(original);   // new Values and Nodes; tensors share storage
//
// Tensor data is shared, not copied (tensors are copy-on-nothing: passes that change a weight
// assign a new Tensor to Value::constant instead of writing into the old one).
#pragma once

#include "ir/graph.h"

namespace quench {

Model clone_model(const Model& model);
std::shared_ptr<Graph> clone_graph(const Graph& graph);

}  // namespace quench
