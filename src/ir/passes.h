// quench IR: graph preparation passes that need no kernels.
//
// Each pass rewrites a Model in place, keeps every graph input and output name, and returns what
// it did (counts, and notes naming the nodes it left alone and why) rather than failing: a pattern
// that does not fit is simply not rewritten.
//
//   fold_batchnorms          BatchNormalization folded into the Conv / ConvTranspose / Gemm /
//                            MatMul before it (the model's function is kept, up to float rounding).
//   convert_relu6_to_relu    Clip(0, 6) -> Relu, as vai_q's convert_relu6_to_relu does before
//                            cross-layer equalization. Changes the function where inputs exceed 6.
//   convert_silu_to_hswish   x * Sigmoid(x) -> HardSwish(x) (vai_q's convert_silu_to_hswish). An
//                            approximation: it changes the function everywhere except far from 0.
//   constant_nodes_to_initializers  Constant nodes become initializers.
//
// Constant folding through the kernels (Transpose of a weight, DequantizeLinear of constant
// weights...) needs the runtime and lives in runtime/constant_folding.h.
//
//   Model m = ...;
//   BatchNormFoldReport r = fold_batchnorms(m);
//   for (const FoldedBatchNorm& f : r.folded) cle_high_bias_absorb(f.layer, f.gamma, f.beta);
//   for (const std::string& note : r.notes) warn(note);
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

namespace quench {

// One BatchNormalization folded into the layer before it. High-bias absorption (cross-layer
// equalization) needs the BN's scale and shift after they have disappeared from the graph.
struct FoldedBatchNorm {
  std::string layer;         // node name of the Conv / ConvTranspose / Gemm that absorbed the BN
                             // ("" for an unnamed node: `output` identifies it then)
  std::string output;        // that node's output value (the BN's former output)
  std::string batchnorm;     // node name of the removed BatchNormalization
  std::vector<float> gamma;  // BN scale, one per channel
  std::vector<float> beta;   // BN bias (shift), one per channel
};

struct BatchNormFoldReport {
  std::vector<FoldedBatchNorm> folded;
  int kept = 0;  // BatchNormalization nodes left in the graph (the executor runs them)
  std::vector<std::string> notes;  // one per kept BN that could not fold, naming it and the reason
};

// Folds every BatchNormalization in inference form (training_mode 0, one output; spatial for
// opset < 9) whose input is the only use of the output of
//   Conv(X, W[, B])            W [Cout, Cin/group, k...]: scale W[o, ...] per output channel o
//   ConvTranspose(X, W[, B])   W [Cin, Cout/group, k...]: output channel of W[i, j, ...] is
//                              (i / (Cin/group)) * (Cout/group) + j
//   Gemm(A, B[, C])            2-D output [M, F], BN over F: scale the columns of op(B), rewrite C
//                              (created when absent) and set beta to 1
//   MatMul(X, W)               X of known rank 2, W a constant 2-D [K, F]: becomes
//                              Gemm(X, W', C') (one weighted layer with a bias, as for Gemm)
// when the layer's output has no other consumer and is not a graph output, and W, B/C and the four
// BN parameters are float32 constants (initializers that no graph input overrides, or Constant
// nodes) with var + epsilon > 0. The folded layer keeps its node name and
// writes the BN's output value; W and B are rewritten in place when nothing else uses them (so they
// keep their names), otherwise new initializers "<layer>/folded_bn_weight" / "_bias" are made.
// Arithmetic is in double: a = gamma / sqrt(var + eps), W' = W a, B' = (B - mean) a + beta.
BatchNormFoldReport fold_batchnorms(Model& model);

struct RewriteReport {
  int converted = 0;
  std::vector<std::string> notes;
};

// Clip with min exactly 0 and max exactly 6 (attributes before opset 11, constant inputs from
// opset 11; initializers or Constant nodes) becomes Relu. Clips with other bounds, or bounds that
// are not constant, are left alone.
RewriteReport convert_relu6_to_relu(Model& model);

// Mul(x, Sigmoid(x)) (either input order) becomes HardSwish(x) for opset >= 14. Below opset 14
// (no HardSwish) the Sigmoid becomes HardSigmoid(alpha = 1/6, beta = 0.5) and the Mul stays, which
// is the same function: x * max(0, min(1, x/6 + 1/2)). A Sigmoid that also feeds other nodes is
// kept for them.
RewriteReport convert_silu_to_hswish(Model& model);

// Constant nodes (value, value_float(s), value_int(s)) become initializers of the same name.
// Returns how many.
int constant_nodes_to_initializers(Graph& graph);

// ---- helpers shared by the passes (and by runtime/constant_folding) ----

bool is_graph_output(const Graph& graph, const Value* v);

// Values that a feed may replace at run time: graph inputs, except that before IR version 4 every
// initializer was listed as an input too and those count as constants (as onnxruntime does).
std::unordered_set<const Value*> overridable_values(const Model& model);

// The data of v when it is a fixed constant: an initializer not in `overridable`, or the output of
// a Constant node with a `value` tensor / value_float(s) / value_int(s). Undefined otherwise.
Tensor fixed_constant(const Value* v, const std::unordered_set<const Value*>& overridable);

// `base` when no value has that name, else base_1, base_2...
std::string unique_value_name(const Graph& graph, const std::string& base);

// Initializers among `candidates` that nothing consumes any more (and that are no graph input or
// output) leave graph.initializers and value_infos; their data is released. Returns how many.
int drop_unused_initializers(Graph& graph, const std::vector<Value*>& candidates);

// Constant nodes among `candidates` whose outputs nothing consumes are removed. Returns how many.
int drop_unused_constant_nodes(Graph& graph, const std::vector<Node*>& candidates);

}  // namespace quench
