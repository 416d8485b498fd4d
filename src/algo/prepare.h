// quench algo: graph preparation before quantization.
//
// prepare_model() runs, in place and in this order, the passes a model goes through before the
// quantizers are placed: constant folding of weight-side subgraphs, BatchNormalization folding,
// and the optional activation rewrites that vai_q offers (ReLU6 -> ReLU for cross-layer
// equalization, SiLU -> HardSwish). Folding keeps the model's function (FP32 outputs equal up to
// float rounding); the two rewrites change it and are off by default.
//
//   PrepareOptions o = prepare_options_from(config.algorithms);
//   QUENCH_ASSIGN_OR_RETURN(PrepareReport r, prepare_model(model, o));
//   for (const std::string& n : r.notes) warn(n);
//   // r.folded: per folded BN, the layer and the BN's gamma / beta (for high-bias absorption)
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"
#include "ir/passes.h"
#include "quant/quant_config.h"

namespace quench {

struct PrepareOptions {
  bool fold_batchnorm = true;
  bool convert_relu6_to_relu = false;
  bool convert_silu_to_hswish = false;
  bool fold_constants = true;
  int num_threads = 0;  // kernels that evaluate constant subgraphs (<= 0: all cores)
};

struct PrepareReport {
  int batchnorms_folded = 0;
  int batchnorms_kept = 0;   // BatchNormalization nodes still in the graph (the executor runs them)
  int relu6_converted = 0;   // Clip(0, 6) -> Relu
  int silu_converted = 0;    // x * Sigmoid(x) -> HardSwish(x)
  int constants_folded = 0;  // nodes evaluated once and replaced by initializers
  std::vector<FoldedBatchNorm> folded;
  std::vector<std::string> notes;  // what was left alone and why, naming the node
};

// Rewrites `model` in place. kInvalid when the model's graph is not valid to begin with.
Result<PrepareReport> prepare_model(Model& model, const PrepareOptions& options);

// fold_batchnorm and the two rewrites from a config's algorithm switches; constants always fold.
PrepareOptions prepare_options_from(const AlgorithmOptions& algorithms);

}  // namespace quench
