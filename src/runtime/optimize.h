// quench runtime: graph rewrites that the executor applies to its own copy of a model before the
// fast (untapped) run. They keep the model's function and all graph input and output names; they
// change intermediate values, so the executor never applies them while a tap is watching.
//
//   Model fast = clone_model(model);
//   OptimizeStats st = optimize_for_inference(fast);
#pragma once

#include "ir/graph.h"

namespace quench {

struct OptimizeStats {
  int batchnorms_folded = 0;  // BatchNormalization folded into the Conv / ConvTranspose / Gemm /
                              // MatMul before it (ir/passes.h fold_batchnorms)
  int identities_removed = 0; // Identity / inference Dropout nodes bypassed
  int constants_folded = 0;   // Constant nodes turned into initializers
};

OptimizeStats optimize_for_inference(Model& model);

}  // namespace quench
