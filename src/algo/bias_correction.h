// quench algo: bias correction (Nagel et al. ICCV 2019, 4.2; AIMET; vai_q include_bias_corr).
//
// Quantizing weights (and the activations before a layer) shifts the mean of the layer's output:
// E[W~ x~] != E[W x]. The shift is a per-output-channel constant, so it can be folded into the
// bias. correct_bias() measures or predicts that shift for every Conv / ConvTranspose / Gemm /
// MatMul(+Add) layer with constant weights of a calibrated QuantSim and subtracts it from the
// layer's bias, through QuantSim::set_parameter (int32 bias encodings follow).
//
// Modes:
//   kEmpirical      (AIMET's default) layer by layer in topological order, earlier layers already
//                   corrected: bias -= mean over the calibration batches and N, H, W of
//                   (quantized output - FP32 output), the quantized output taken before the
//                   layer's own output quantizer.
//   kAnalytical     (AIMET's analytical + empirical) layers whose input comes from a
//                   BatchNormalization (optionally through Relu / Clip): bias -= eps E[x] with
//                   eps = W~ - W summed over the kernel and E[x] from the BN's beta / gamma under a
//                   Gaussian assumption; data-free. The other layers are corrected empirically when
//                   the batch source has data and skipped (with a note) when it has none.
//   kInCalibration  (vai_q include_bias_corr) one pass over the batches: each batch measures every
//                   layer at once and moves every bias by shift / (batch index + 1), the
//                   quantized model carrying the earlier updates. Cheaper (two runs per batch
//                   instead of one per layer and batch), less exact than kEmpirical in deep
//                   chains, since a layer's measurements mix earlier states of its predecessors.
//
// Layers without a bias are skipped with a note: QuantSim cannot yet add a bias input to a node.
//
//   BiasCorrectionOptions o;                       // empirical, 16 batches
//   QUENCH_ASSIGN_OR_RETURN(BiasCorrectionReport r, correct_bias(*sim, calib_source, o));
//   for (const auto& l : r.layers) log(l.node, l.mean_abs_shift);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "ir/passes.h"
#include "sim/quantsim.h"

namespace quench {

// The scale and shift of a BatchNormalization folded into `layer` (the node name of the Conv /
// ConvTranspose / Gemm before it): ir/passes.h FoldedBatchNorm; only layer, gamma and beta are
// read.
using BatchNormStats = FoldedBatchNorm;

enum class BiasCorrectionMode { kEmpirical, kAnalytical, kInCalibration };
const char* bias_correction_mode_name(BiasCorrectionMode m);  // "empirical", "analytical", ...

struct BiasCorrectionOptions {
  BiasCorrectionMode mode = BiasCorrectionMode::kEmpirical;
  // Calibration batches read (fewer when the source ends first); read once and kept in memory.
  int64_t num_batches = 16;
  // Node names left uncorrected (AIMET's layers_to_ignore); each one that matches gets a note.
  std::vector<std::string> layers_to_ignore;
  // Called after each corrected layer (done, total layers); kInCalibration: after each batch.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct BiasCorrectionReport {
  struct Layer {
    std::string node;           // node name in the sim model
    double mean_abs_shift = 0;  // mean over channels of |bias change|
    int channels = 0;           // output channels (biases) of the layer
    std::string method;         // "empirical", "analytical" or "in-calibration"
  };
  std::vector<Layer> layers;       // in the order they were corrected
  std::vector<std::string> notes;  // layers left alone and why
};

// Corrects the biases of `sim` in place (its sim model; run_fp32 sees the new biases too).
// `bn` gives the BatchNormalization statistics of folded BNs for kAnalytical; BatchNormalization
// nodes still in the sim model are read directly. kInvalid "calibration set is empty" when a mode
// that needs data gets an empty source; a model with no weighted layer gives a note and no change.
Result<BiasCorrectionReport> correct_bias(QuantSim& sim, const BatchSource& source,
                                          const BiasCorrectionOptions& options,
                                          const std::vector<BatchNormStats>& bn = {});

// E[clamp(x, lo, hi)] for x ~ N(mean, stddev^2): the input mean behind a BN (mean = beta,
// stddev = |gamma|) followed by Relu (lo = 0, hi = +inf), Relu6 (0, 6) or nothing (-inf, +inf).
double clamped_normal_mean(double mean, double stddev, double lo, double hi);

}  // namespace quench
