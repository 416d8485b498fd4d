// quench algo: the post-training quantization pipeline, every accuracy-recovery step in order.
//
// quantize_model() takes an FP32 model, a QuantConfig (whose `algorithms` say which steps run) and
// calibration data (or none, for modelslim's data-free mode) and returns a calibrated QuantSim with
// a report of what each step did:
//   1. graph preparation: BatchNormalization folding, ReLU6 -> ReLU (asked for, or implied by CLE),
//      SiLU -> HardSwish, constant folding (algo/prepare.h);
//   2. cross-layer equalization with high-bias absorption (algo/cle.h);
//   3. QuantSim on the prepared model; weight-only steps: ADMM scales (algo/admm.h), SQuant
//      rounding (algo/squant.h: asked for, data-free mode, or round_opt without data);
//   4. activation calibration (compute_encodings; one random batch in data-free mode);
//   5. AdaRound (adaround, or round_opt with data; algo/adaround.h), then bias correction
//      (algo/bias_correction.h); activations are calibrated again when either changed weights;
//   6. EasyQuant scale search (algo/easy_quant.h);
//   7. layer fallback: amp_num, then the accuracy budget (algo/layer_fallback.h).
// A step that does not apply to the model (no conv pairs for CLE, no weights for AdaRound) says so
// in the report and the pipeline continues.
//
//   PtqOptions o;
//   o.metric = [&](QuantSim& sim) { return top1(sim, eval_set); };  // for max_drop_points
//   QUENCH_ASSIGN_OR_RETURN(PtqResult r, quantize_model(model, config, &calib, o));
//   for (const std::string& line : r.report.lines) puts(line.c_str());
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "algo/layer_fallback.h"
#include "core/status.h"
#include "ir/graph.h"
#include "quant/quant_config.h"
#include "sim/quantsim.h"

namespace quench {

struct PtqOptions {
  QuantSimOptions sim;          // threads, skip_bad_batches, calibration progress, warnings
  int64_t calib_batches = -1;   // batches of the source used (< 0: all it gives)
  // Progress of the long steps: (step name, done, total), e.g. ("adaround conv1", 420, 10000).
  std::function<void(const std::string& step, int64_t done, int64_t total)> progress;
  // Accuracy of a quantized sim on labelled evaluation data, in percent (max_drop_points is in
  // points): needed by algorithms.max_drop_points.
  MetricFn metric;
};

struct PtqStep {
  std::string name;                // "prepare", "cle", "adaround"...
  double seconds = 0.0;
  std::vector<std::string> lines;  // what it did, one fact a line
};

struct PtqReport {
  std::vector<PtqStep> steps;
  std::vector<std::string> lines() const;  // "step: line" for every step
};

struct PtqResult {
  std::unique_ptr<QuantSim> sim;
  std::shared_ptr<const Model> prepared;  // the FP32 model after steps 1-2 (the sim's input)
  PtqReport report;
};

// `calib` may be null only for a data-free config (config.data_free with an input_shape).
Result<PtqResult> quantize_model(std::shared_ptr<const Model> fp32, const QuantConfig& config,
                                 const BatchSource* calib, const PtqOptions& options = {});

}  // namespace quench
