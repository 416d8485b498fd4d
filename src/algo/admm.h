// quench algo: ADMM weight quantization (modelslim keep_acc "admm": [enabled, iterations]).
//
// Re-fits the scale (and, for asymmetric grids, the zero point) of every enabled integer weight
// encoding of a QuantSim so that the fake-quantized weight is closer to the float weight in the
// least-squares sense than the min-max encoding it starts from. Per channel when the weight's spec
// is per-channel, per block when it is per-block; the weight values themselves are not changed.
// Data-free: only the weights are read.
//
//   QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, config));   // W4 per-channel, say
//   QUENCH_ASSIGN_OR_RETURN(AdmmReport r, admm_weights(*sim));  // default options
//   // r.layers[i].mse_after <= r.layers[i].mse_before; sim->run(...) uses the new encodings
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant/encoding.h"
#include "sim/quantsim.h"

namespace quench {

struct AdmmOptions {
  // Most alternation steps per scale (modelslim's iterations). The alternation usually reaches a
  // fixed point in a handful of steps and stops there, so the default is a cap, not a cost.
  int iterations = 1000;
  std::function<void(int64_t done, int64_t total)> progress;  // after each weight
  std::function<void(const std::string&)> warn;               // weights left alone, and why
};

struct AdmmLayer {
  std::string node;         // the layer (Conv, Gemm, MatMul...)
  std::string weight;       // its weight value in the sim model
  int64_t num_params = 0;   // scales fitted (channels, blocks, or 1)
  double mse_before = 0.0;  // mean (W - fake_quant(W))^2 with the starting encoding
  double mse_after = 0.0;   // ... with the fitted encoding (never above mse_before)
  int max_steps = 0;        // most alternation steps any one scale took
};

struct AdmmReport {
  std::vector<AdmmLayer> layers;  // in the order of sim.points()
};

// Runs the alternation on every enabled weight point of `sim` that has an integer encoding and
// sets the result with QuantSim::set_encoding. kInvalid when iterations < 1. Weights in float
// formats are skipped with a warning.
Result<AdmmReport> admm_weights(QuantSim& sim, const AdmmOptions& options = {});

// One scale: the alternation on the n values w[0..n) starting from (scale, zero_point) on the
// grid of `spec` (its qmin / qmax, round mode, symmetry and scale type). Exposed for tests.
struct AdmmFit {
  float scale = 1.0f;
  int32_t zero_point = 0;
  double sse_before = 0.0;  // sum of squared errors with the starting parameters
  double sse_after = 0.0;   // ... with the returned ones
  int steps = 0;            // accepted alternation steps
};
AdmmFit admm_fit(const float* w, int64_t n, float scale, int32_t zero_point, const QuantSpec& spec,
                 int iterations);

}  // namespace quench
