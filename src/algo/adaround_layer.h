// quench algo: the AdaRound problem of one layer (see adaround.h for the whole-model driver).
//
// AdaRoundLayer holds one Conv / ConvTranspose / Gemm / MatMul weight, its quantization grid, the
// activation that follows the layer, and the layer's forward and hand-derived backward passes on
// batches of cached samples (oneDNN convolutions, dnnl_sgemm for the matrix products). The
// optimisation variable V has one element per weight element, in the weight's own (ONNX) layout.
//
// Notation (per weight element, s = scale, z = zero point, [qmin, qmax] the integer grid):
//   sigma = 1 / (1 + exp(-V)),  pre = sigma (zeta - gamma) + gamma,  h = clamp(pre, 0, 1)
//   q = floor(w / s) + h + z,   w~ = s (clamp(q, qmin, qmax) - z)
//   recon = (1 / P) sum (act(y(w~)) - t)^2      P = output elements / output channels
//   reg   = lambda sum (1 - |2h - 1|^beta)
//   dw~/dV = s [qmin <= q <= qmax] [0 <= pre <= 1] (zeta - gamma) sigma (1 - sigma)
//   dreg/dV = -2 lambda beta |2h - 1|^(beta - 1) sign(2h - 1) dh/dV
//   drecon/dw~ = conv_backward_weights(x, dy) with dy = (2 / P) (act(y) - t) act'(y)
// (clamp and |.| take the derivative torch's autograd takes: 1 on the closed interval, 0 at 0.)
//
//   AdaRoundLayer::Spec spec{.node = conv, .weight = w, .encoding = enc, .sample_input = {16, 28, 28}};
//   QUENCH_ASSIGN_OR_RETURN(auto layer, AdaRoundLayer::create(spec));
//   LayerSamples data{x.data(), t.data(), 1024};
//   QUENCH_ASSIGN_OR_RETURN(LayerOutcome r, layer->optimize(data, schedule));
//   Tensor w_ada = layer->hard_weight();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "quant/encoding.h"
#include "runtime/kernels/dnnl_kernels.h"

namespace quench {

// The rectified sigmoid's stretch (Nagel et al. 2020, section 4.1).
inline constexpr double kAdaRoundZeta = 1.1;
inline constexpr double kAdaRoundGamma = -0.1;

// Cached samples of one layer: n inputs (each sample_input elements, plain row-major) and the n
// FP32 targets (each sample_output elements), contiguous.
struct LayerSamples {
  const float* x = nullptr;
  const float* t = nullptr;
  int64_t n = 0;
};

// The optimisation schedule (AIMET's defaults; adaround.h documents each field).
struct AdaRoundSchedule {
  int64_t iterations = 10000;
  double reg_lambda = 0.01;
  double beta_start = 20.0, beta_end = 2.0;
  double warm_start = 0.2;
  double lr = 1e-3;
  uint64_t seed = 0;
  std::function<void(int64_t it, int64_t total)> progress;  // every 100 iterations and at the end
};

struct LayerOutcome {
  double recon_nearest = 0.0;  // recon loss with round-to-nearest weights, over the samples
  double recon_soft = 0.0;     // with the initial soft weights (h = frac(w / s): ~ the FP32 weights)
  double recon_final = 0.0;    // with AdaRound's hard rounding (recon_nearest when diverged)
  double up_fraction = 0.0;    // weight elements rounded up (ceil), AdaRound
  double up_fraction_nearest = 0.0;  // the same for round-to-nearest
  double changed_fraction = 0.0;     // elements whose rounding differs from round-to-nearest
  int64_t iterations_run = 0;
  bool diverged = false;             // NaN / Inf loss: V is unusable, keep nearest rounding
  int64_t diverged_at = -1;          // the iteration whose loss was not finite
  double seconds = 0.0;              // the optimisation loop alone
};

class AdaRoundLayer {
 public:
  struct Spec {
    const Node* node = nullptr;  // Conv / ConvTranspose / Gemm / MatMul: attributes are read here
    Tensor weight;               // FP32, the layer's weight input (ONNX layout)
    Tensor bias;                 // Conv / ConvTranspose B or Gemm C ([O] or scalar); may be undefined
    Encoding encoding;           // the weight's integer grid
    FusedActivation activation;  // applied to the output before the loss: none, Relu, LeakyRelu, Clip
    Shape sample_input;          // one sample's input shape, without the batch axis
    int64_t batch = 32;          // samples per iteration (and per evaluation pass)
  };

  static Result<std::unique_ptr<AdaRoundLayer>> create(const Spec& spec);
  ~AdaRoundLayer();

  const Shape& sample_output() const;
  int64_t sample_input_numel() const;
  int64_t sample_output_numel() const;
  int64_t batch() const;
  int64_t weight_numel() const;

  // The optimisation variable, initialised so that h(V) = frac(w / s) (AIMET's warm start).
  std::vector<float>& v();
  void reset_v();

  // Total loss (recon + reg) at the current V on one batch of batch() samples (x, t plain,
  // contiguous) and its gradient dL/dV (weight_numel() floats). `recon` receives the recon part.
  double loss_and_grad(const float* x, const float* t, double beta, double reg_lambda, float* grad,
                       double* recon = nullptr);
  // Recon loss of fixed weights w (plain, ONNX layout) averaged over the full batches of `data`.
  double recon_loss(const LayerSamples& data, const float* w);

  // Runs the whole per-layer optimisation: `iterations` Adam steps on batches of batch() distinct
  // samples drawn from `data`, then reports the recon losses of nearest, soft and hard rounding.
  // A non-finite loss stops the loop (diverged). kInvalid when data.n < batch().
  Result<LayerOutcome> optimize(const LayerSamples& data, const AdaRoundSchedule& schedule);

  // The weights at the current V: soft (h), hard (h = 1[V >= 0]) and round-to-nearest (the
  // encoding's own fake quantization).
  Tensor soft_weight() const;
  Tensor hard_weight() const;
  Tensor nearest_weight() const;

 private:
  struct Impl;
  explicit AdaRoundLayer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The cosine-annealed exponent of the rounding regulariser at iteration `it` (AIMET: beta goes
// from beta_start at the end of the warm start to beta_end at the last iteration).
double adaround_beta(const AdaRoundSchedule& s, int64_t it);

}  // namespace quench
