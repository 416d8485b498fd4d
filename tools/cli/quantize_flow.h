// quench CLI: the quantization flow shared by `quench quantize` and `quench demo`.
//
//   QUENCH_ASSIGN_OR_RETURN(auto calib, open_dataset(images, labels, opt));
//   QUENCH_ASSIGN_OR_RETURN(Calibrated c, calibrate(model, config, *calib, {.samples = 512}));
//   // c.sim->run(...), c.calib_seconds
#pragma once

#include <memory>
#include <string>

#include "algo/ptq.h"
#include "commands.h"
#include "quant/quant_config.h"
#include "sim/quantsim.h"

namespace quench::cli {

struct CalibrateOptions {
  int64_t samples = 512;  // calibration samples (fewer when the data set is smaller)
  int64_t batch = 64;
  int threads = 0;
  bool skip_bad_batches = false;
  bool progress = true;   // on stderr when it is a terminal
  MetricFn metric;        // accuracy of a quantized sim (accuracy budget); may be empty
};

struct Calibrated {
  std::unique_ptr<QuantSim> sim;
  PtqReport report;            // what each accuracy-recovery step did
  double calib_seconds = 0.0;  // whole pipeline wall time (data reading included)
  int64_t calib_samples = 0;
  std::vector<std::string> warnings;
};

// Batches of the data set fitted to the model's single input, up to `samples` samples.
BatchSource dataset_batch_source(const Model& model, Dataset& data, int64_t batch, int64_t samples,
                                 int64_t* samples_used);

// The PTQ pipeline (algo/ptq.h: preparation, the config's accuracy-recovery steps, calibration) on
// `data` (or random data when config.data_free and `data` is null). Warnings are collected and
// printed on stderr as "quench: warning: ...".
Result<Calibrated> calibrate(std::shared_ptr<const Model> model, const QuantConfig& config,
                             Dataset* data, const CalibrateOptions& o);

}  // namespace quench::cli
