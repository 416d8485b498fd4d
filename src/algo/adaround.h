// quench algo: AdaRound, learned rounding of weights (Nagel et al., "Up or Down? Adaptive Rounding
// for Post-Training Quantization", ICML 2020), with AIMET's defaults (SPEC.md D).
//
// adaround() goes through the Conv, ConvTranspose, Gemm and MatMul layers of a QuantSim whose
// weights have integer encodings, in topological order, and chooses for every weight element
// whether it rounds down or up on its (fixed) grid so that the layer's output, from the input the
// quantized model feeds it, best matches the FP32 model's output. The rounded weights are written
// back into the sim (QuantSim::set_parameter, encodings kept): the sim, its exports and every later
// run use them.
//
// Inputs are what QuantSim::run computes at the time: when activation encodings exist they are
// applied (compute_encodings first); call adaround() before compute_encodings for AIMET's flow,
// whose inputs pass through quantized weights only. Either way the activation encodings should be
// (re)computed after adaround(), as AIMET does.
//
//   AdaRoundOptions o;
//   o.num_samples = 1024;
//   o.progress = [](const std::string& layer, int64_t it, int64_t total) { ... };
//   QUENCH_ASSIGN_OR_RETURN(AdaRoundReport r, adaround(*sim, calib_source, o));
//   for (const AdaRoundLayerReport& l : r.layers)
//     fmt::print("{} {:.4g} -> {:.4g}\n", l.node, l.outcome.recon_nearest, l.outcome.recon_final);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "algo/adaround_layer.h"
#include "core/status.h"
#include "sim/quantsim.h"

namespace quench {

struct AdaRoundOptions {
  // Calibration samples cached per layer (inputs and targets). AIMET takes the batches that make
  // up about 2000 samples.
  int64_t num_samples = 2048;
  // Adam steps per layer; 0 = AIMET's default: 10000, or 15000 when some weight has fewer than 8
  // bits.
  int64_t iterations = 0;
  int64_t batch_size = 32;       // samples per step, drawn without replacement from the cache
  double reg_lambda = 0.01;      // weight of the rounding regulariser
  double beta_start = 20.0;      // regulariser exponent, cosine-annealed to beta_end
  double beta_end = 2.0;
  double warm_start = 0.2;       // fraction of the iterations without the regulariser
  double lr = 1e-3;              // Adam learning rate (betas 0.9 / 0.999, eps 1e-8)
  uint64_t seed = 0;             // sample order; deterministic for a seed and thread count
  // Layers kept at round-to-nearest: node names or weight value names.
  std::vector<std::string> skip_layers;
  // Memory bound of one layer's cache (inputs + targets, float32): fewer samples are cached
  // (with a warning) when num_samples would exceed it.
  int64_t max_cache_bytes = int64_t{2} << 30;
  std::function<void(const std::string& layer, int64_t it, int64_t total)> progress;
  std::function<void(const std::string&)> warn;
};

struct AdaRoundLayerReport {
  std::string node;        // node name in the sim model
  std::string op_type;
  std::string weight;      // weight value name
  std::string target;      // the FP32 value matched: the layer output, or its activation's
  std::string activation;  // "Relu", "Clip(0, 6)"... applied before the loss; "" when none
  int64_t weight_numel = 0;
  int64_t samples = 0;     // cached samples the layer learned from
  bool applied = false;    // false when the optimisation diverged (nearest rounding kept)
  LayerOutcome outcome;
  double seconds = 0.0;    // caching + optimisation + write-back
};

struct AdaRoundReport {
  std::vector<AdaRoundLayerReport> layers;
  std::vector<std::string> skipped;  // "node 'name' (op): reason"
  int64_t iterations = 0;            // per layer
  int64_t samples = 0;               // read from the source
  double seconds = 0.0;
};

// Runs AdaRound on every eligible layer of `sim`. kInvalid for an empty source or one with fewer
// samples than batch_size; a model without eligible layers is not an error (a warning says so and
// the report is empty). A layer whose loss becomes NaN / Inf keeps round-to-nearest, with a
// warning naming it and the iteration.
Result<AdaRoundReport> adaround(QuantSim& sim, const BatchSource& source,
                                const AdaRoundOptions& options = {});

}  // namespace quench
