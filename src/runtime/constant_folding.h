// quench runtime: constant folding of weight-side subgraphs.
//
// A node whose inputs are all fixed constants (initializers no graph input overrides, or Constant
// nodes) and whose op is deterministic is run once through the executor's own kernels and replaced
// by initializers holding its outputs: weight -> Transpose -> MatMul becomes MatMul with the
// transposed weight, DequantizeLinear of constant weights becomes float weights, Reshape of a
// constant, Constant nodes. Folding runs in topological order, so whole constant chains collapse.
// Activation-dependent chains (Shape of an activation...) have a non-constant input and are never
// touched. The model's function is unchanged (the same kernels compute the same values).
//
//   ConstantFoldOptions o;
//   QUENCH_ASSIGN_OR_RETURN(ConstantFoldReport r, fold_constants(model, o));
//   // r.folded nodes are gone; r.notes name the constant nodes left in place and why
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"

namespace quench {

struct ConstantFoldOptions {
  int num_threads = 0;  // for the kernels (<= 0: all cores)
  // A node whose outputs hold more elements than its inputs plus this many is left alone, so that
  // folding never inflates the model (ConstantOfShape, Expand, Tile of a small constant).
  int64_t max_growth_elements = int64_t{1} << 16;
};

struct ConstantFoldReport {
  int folded = 0;  // nodes replaced by initializers
  std::vector<std::string> notes;  // constant nodes left in place: op without kernel, kernel error, size
};

// Folds in place. Fails only on an internal error; a node that cannot be evaluated stays, with a
// note. Graph outputs stay produced by their nodes.
Result<ConstantFoldReport> fold_constants(Model& model, const ConstantFoldOptions& options = {});

}  // namespace quench
