// quench algo: SQuant, data-free rounding of weights (Guo et al., ICLR 2022).
//
// Round-to-nearest picks every weight's integer on its own. SQuant picks, for each weight, floor or
// ceil of W/s so that the summed rounding perturbation stays small over each kernel (one input
// channel's k x k window of one output channel) and over each output channel: the diagonal
// approximation of the Hessian of the task loss turns into that "constrained absolute sum of
// error" (CASE), which needs no data at all. squant_weights() rewrites every enabled weight of a
// QuantSim; squant_channel() is the algorithm on one output channel (squant.cpp lists the steps).
//
//   QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, config));
//   QUENCH_ASSIGN_OR_RETURN(SquantReport r, squant_weights(*sim, {}));
//   // r.layers[i].channel_error <= 0.5: the weights of the sim model now lie on their grid
//
// Layouts (channel = output channel, kernel = the unit SQuant-K balances):
//   Conv [O, I/g, k...]          channel o, kernel (o, i): the k... window (depthwise: one per
//   channel) ConvTranspose [I, O/g, k...] channel o (axis 1), kernel (i, o): the k... window Gemm /
//   MatMul [N, K] or [K, N]: channel = one output feature's K weights, kernel = one element:
//                                 SQuant-K has nothing to balance (as in the reference code, whose
//                                 1 x 1 kernels turn SQuant-K off), so SQuant-C runs over every
//                                 element of the channel.
// After SQuant-K every kernel's |sum of perturbation| is <= 0.5; SQuant-C then flips at most one
// element per kernel (the kernel's next candidate, or the undoing of its last flip), so that the
// channel's |sum| is <= 0.5 and every kernel's stays < 1 (the paper's progressive composition).
// Flips that would leave the grid [qmin, qmax] are never candidates.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant/encoding.h"
#include "sim/quantsim.h"

namespace quench {

struct SquantOptions {
  // The paper's ablation levels: E (round to nearest) is always the start; K and C can be turned
  // off (both off = round to nearest). With kernel_level off, SQuant-C considers every element.
  bool kernel_level = true;
  bool channel_level = true;
  // Weights to round: weight value names or node names; empty = every enabled weight point.
  std::vector<std::string> layers;
  std::function<void(int64_t done, int64_t total)> progress;  // once per weight
  std::function<void(const std::string&)> warn;               // weights left as they were
};

// Perturbation sums are in grid steps (sum over elements of q - W/s).
struct SquantChannelStats {
  int64_t flipped = 0;             // elements whose integer differs from round-to-nearest
  double kernel_error_rtn = 0.0;   // max over kernels of |sum|, round to nearest
  double kernel_error = 0.0;       // the same after SQuant
  double channel_error_rtn = 0.0;  // |sum| over the channel, round to nearest
  double channel_error = 0.0;      // the same after SQuant
};

struct SquantLayerReport {
  std::string weight;  // value name in the sim model
  std::string node;
  int64_t elements = 0, channels = 0, kernel_size = 0;
  SquantChannelStats stats;  // flipped summed, errors the maxima over channels
};

struct SquantReport {
  std::vector<SquantLayerReport> layers;
  std::vector<std::string> skipped;  // "value: reason" for weights left as they were
};

// SQuant on one output channel. `v` holds W/s of its elements kernel after kernel (kernel j is
// v[j * kernel_size, (j + 1) * kernel_size)), `lo` / `hi` each element's grid bounds in the same
// units (qmin - zero_point, qmax - zero_point). Writes the chosen integers (as floats) to `q`.
// `mode` is the rounding of the E step (the encoding's, so that E alone equals QuantSim's
// round-to-nearest). All spans have the same size, a multiple of kernel_size.
SquantChannelStats squant_channel(std::span<const float> v, std::span<const float> lo,
                                  std::span<const float> hi, int64_t kernel_size, RoundMode mode,
                                  bool kernel_level, bool channel_level, std::span<float> q);

// Runs SQuant on the weights of `sim` (enabled weight points with an integer per-tensor or
// per-channel encoding) and writes each as its dequantized grid values through
// QuantSim::set_parameter(keep_encoding = true): the quantized run then uses exactly the chosen
// integers. Note that the FP32 run of the sim sees the rounded weights too (set_parameter replaces
// the constant), so FP32-vs-quantized algorithms must run before. Weights it cannot handle
// (per-block, float formats, floor / ceil rounding, batched MatMul weights) are listed in
// `skipped` and reported through options.warn. kNotFound when options.layers names nothing.
Result<SquantReport> squant_weights(QuantSim& sim, const SquantOptions& options = {});

}  // namespace quench
