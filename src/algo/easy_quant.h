// quench algo: EasyQuant scale search (modelslim keep_acc "easy_quant": [enabled, iterations]).
//
// For every weighted layer (Conv, ConvTranspose, Gemm, MatMul with a constant weight), in graph
// order, searches the scale of the layer's input quantizer and the scales of its weight quantizer
// (per output channel when the weight is per-channel) over [0.5, 2] times their calibrated values,
// maximising the cosine similarity between the layer's FP32 output and its quantized output on
// calibration data, with the layer's input taken from the quantized model as tuned so far. The
// encodings found are set on the QuantSim; weights and graph stay as they are.
//
//   QUENCH_RETURN_IF_ERROR(sim->compute_encodings(calib));
//   QUENCH_ASSIGN_OR_RETURN(EasyQuantReport r, easy_quant(*sim, calib));
//   // r.layers[i].cos_after >= r.layers[i].cos_before; sim->run(...) uses the new scales
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/quantsim.h"

namespace quench {

struct EasyQuantOptions {
  // Most alternation rounds (weight search, then input search) per layer: modelslim's
  // iterations. A layer stops earlier once a round raises its cosine by less than 1e-7, which
  // takes 2-4 rounds in practice, so the default 1000 means "until converged".
  int iterations = 1000;
  // Candidate scales per search, spread evenly over [range_min, range_max] times the calibrated
  // scale (the paper's n = 100, alpha = 0.5, beta = 2); the calibrated scale itself is always one
  // of them. Power-of-two scales try the powers of two in the range only.
  int candidates = 100;
  double range_min = 0.5;
  double range_max = 2.0;
  int64_t num_batches = -1;  // calibration batches to use (< 0: all the source gives)
  // Which scales are searched (both in the paper; one alone for ablations).
  bool search_inputs = true;
  bool search_weights = true;
  std::function<void(int64_t done, int64_t total)> progress;  // after each layer
  std::function<void(const std::string&)> warn;               // layers skipped, and why
};

struct EasyQuantLayer {
  std::string node;
  std::string op_type;
  std::string output;          // the value whose cosine is measured (the layer's fused Relu / Clip
                               // output when it has one)
  std::string weight;          // weight point searched ("" when the weight is not quantized)
  std::string input_point;     // input quantizer searched ("" when none, or already set by an
                               // earlier consumer of the same point)
  double cos_before = 0.0;     // cosine with the encodings the layer started from
  double cos_after = 0.0;      // ... with the encodings found (never below cos_before)
  double input_factor = 1.0;   // new input scale / calibrated input scale
  double weight_factor = 1.0;  // new weight scale / calibrated one (geometric mean over channels)
  // ||quantized output|| / ||FP32 output||: the cosine does not see a change of magnitude.
  double norm_ratio_before = 1.0;
  double norm_ratio_after = 1.0;
  int rounds = 0;
};

struct EasyQuantReport {
  std::vector<EasyQuantLayer> layers;  // in graph order
};

// Runs the search on `sim`, whose activation encodings must be computed already. kInvalid for
// iterations < 1, candidates < 2 or a range that does not contain 1; an empty source is kInvalid.
Result<EasyQuantReport> easy_quant(QuantSim& sim, const BatchSource& source,
                                   const EasyQuantOptions& options = {});

}  // namespace quench
