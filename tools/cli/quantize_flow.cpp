#include "quantize_flow.h"

#include <fmt/format.h>

#include <cstdio>

namespace quench::cli {

BatchSource dataset_batch_source(const Model& model, Dataset& data, int64_t batch, int64_t samples,
                                 int64_t* samples_used) {
  std::vector<const Value*> inputs = feed_inputs(model);
  const Value* input = inputs.size() == 1 ? inputs[0] : nullptr;
  InputSpec spec = input ? input_spec(*input) : InputSpec{};
  *samples_used = 0;
  return [&data, input, spec, batch, samples, samples_used](int64_t i) -> Result<Executor::Feeds> {
    if (!input)
      return Status::unsupported("calibration from a data set needs a model with one input");
    if (i == 0) QUENCH_RETURN_IF_ERROR(data.reset());
    const int64_t want = std::min(batch, samples - *samples_used);
    if (want <= 0) return Executor::Feeds{};
    QUENCH_ASSIGN_OR_RETURN(std::optional<Batch> b, data.next_batch(want));
    if (!b) return Executor::Feeds{};
    QUENCH_ASSIGN_OR_RETURN(Tensor x, fit_to_input(b->data, spec));
    *samples_used += x.dim(0);
    return Executor::Feeds{{input->name, x}};
  };
}

Result<Calibrated> calibrate(std::shared_ptr<const Model> model, const QuantConfig& config,
                             Dataset* data, const CalibrateOptions& o) {
  Calibrated c;
  Progress progress(o.progress && stderr_is_terminal());
  QuantSimOptions so;
  so.num_threads = o.threads;
  so.skip_bad_batches = o.skip_bad_batches;
  so.warn = [&c](const std::string& w) {
    c.warnings.push_back(w);
    std::fprintf(stderr, "quench: warning: %s\n", w.c_str());
  };
  const int64_t total_batches = (o.samples + o.batch - 1) / o.batch;
  so.progress = [&progress, total_batches](int64_t done, int64_t) {
    progress.update(fmt::format("calibrating: batch {}/{}", done, total_batches));
  };
  QUENCH_ASSIGN_OR_RETURN(c.sim, QuantSim::create(model, config, so));
  const double t0 = now_seconds();
  if (data) {
    BatchSource src = dataset_batch_source(*model, *data, o.batch, o.samples, &c.calib_samples);
    QUENCH_RETURN_IF_ERROR(c.sim->compute_encodings(src));
  } else {
    if (!config.data_free)
      return Status::invalid("no calibration data: give --calib DATA (or a data-free config)");
    QUENCH_ASSIGN_OR_RETURN(BatchSource src, random_batch_source(*model, config.input_shape, 1));
    QUENCH_RETURN_IF_ERROR(c.sim->compute_encodings(src));
    c.calib_samples = 0;
  }
  c.calib_seconds = now_seconds() - t0;
  progress.done();
  return c;
}

}  // namespace quench::cli
