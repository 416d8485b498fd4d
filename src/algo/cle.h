// quench algo: cross-layer equalization (CLE) and high-bias absorption (HBA), after Nagel et al.,
// "Data-Free Quantization Through Weight Equalization and Bias Correction" (ICCV 2019), as AIMET
// implements them.
//
// A per-tensor weight quantizer has one step for all output channels, so a layer whose channels
// span very different ranges loses its small channels. CLE rescales output channel i of one layer
// by 1/s_i and input channel i of the next by s_i: through a positively homogeneous activation
// (Relu, or none) the model computes the same function, and the per-channel weight ranges of both
// layers become equal. HBA then moves the part of a bias that the ReLU never clips into the next
// layer's bias, shrinking the activation range.
//
// equalize_model() works on an FP32 model whose BatchNormalization nodes are already folded into
// the convolutions (runtime/optimize.h optimize_for_inference does that). It finds chains of
// Conv / Gemm / MatMul (constant weight) layers linked directly or through Relu, LeakyRelu, PRelu,
// MaxPool, GlobalAveragePool, Flatten (conv -> Gemm) or Clip(0, +inf), where every intermediate
// value has one consumer; conv -> depthwise conv -> conv becomes one triple. Clip(0, 6) (ReLU6) is
// not scale-equivariant and blocks a link: convert it to Relu first (ir/passes.h
// convert_relu6_to_relu, which changes the function where activations exceed 6).
//
//   optimize_for_inference(model);                        // fold BN
//   QUENCH_ASSIGN_OR_RETURN(CleReport r, equalize_model(model, {}));
//   // r.pairs + r.triples sets equalized; r.notes says why other candidates were skipped
//
// High-bias absorption needs the statistics of the pre-activation of the first layer of a link:
// the folded BatchNormalization's gamma / beta (the fold pass reports them), or, for a model whose
// BN was folded at export, per-channel mean / std measured on calibration data (quench's
// extension).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"
#include "ir/passes.h"
#include "sim/quantsim.h"

namespace quench {

struct CleOptions {
  // Sweeps over all equalization sets. The paper iterates until convergence (the default); AIMET
  // applies each set once (max_iterations = 1). A sweep that changes no scale by more than
  // `tolerance` (relative) ends the iteration.
  int max_iterations = 100;
  double tolerance = 1e-4;
  // High-bias absorption after the scaling, for links whose first layer has statistics: a
  // FoldedBatchNorm entry, or, when a calibration source is given, measured mean / std.
  bool high_bias_absorption = true;
  // Calibration batches used for the measured statistics (< 0: all the source gives).
  int64_t calibration_batches = -1;
  int num_threads = 0;  // executor threads for the measured statistics
  // Calibration batches read so far; total is calibration_batches (-1: until the source ends).
  std::function<void(int64_t done, int64_t total)> progress;
};

// One equalized set: 2 layers (a pair) or 3 (conv -> depthwise conv -> conv), by node name.
struct CleSet {
  std::vector<std::string> layers;
  // scales[k][c]: the total factor output channel c of layers[k] was divided by (and input channel
  // c of layers[k + 1] multiplied by), over all sweeps. k < layers.size() - 1.
  std::vector<std::vector<float>> scales;
  // absorbed[k][c]: bias moved from layers[k] into layers[k + 1] (empty when no absorption).
  std::vector<std::vector<float>> absorbed;
};

struct CleReport {
  int pairs = 0;
  int triples = 0;
  int absorbed_channels = 0;  // channels whose bias was partly moved into the next layer
  int iterations = 0;         // sweeps run
  std::vector<CleSet> sets;
  std::vector<std::string> notes;  // why a candidate was skipped
};

// Equalizes `model` in place. `batchnorms` are the folded BatchNormalizations (fold_batchnorms'
// report, matched to layers by FoldedBatchNorm::layer, the node name; for HBA); with a
// `calibration` source, links whose first layer has no entry there get measured statistics
// (beta = mean, gamma = std of the pre-activation, per channel). A model without equalizable
// layers is not an error: the report's notes say so. kInvalid for a FoldedBatchNorm entry whose
// sizes do not match its layer, or a calibration source that fails.
Result<CleReport> equalize_model(Model& model, const CleOptions& options,
                                 const std::vector<FoldedBatchNorm>& batchnorms = {},
                                 const BatchSource& calibration = nullptr);

}  // namespace quench
