#include "quantize_flow.h"

#include <fmt/format.h>

#include <algorithm>
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
    if (i == 0) {  // a new pass (algorithms read the calibration data several times)
      QUENCH_RETURN_IF_ERROR(data.reset());
      *samples_used = 0;
    }
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
  // An empty file would otherwise only surface as QuantSim's "no batch", without naming the data.
  if (data && data->size() == 0)
    return Status::invalid("calibration set is empty: " + data->describe() + " has no samples");
  // Shared with the callbacks, which the returned QuantSim keeps: nothing of this frame dangles.
  struct State {
    Progress progress;
    std::vector<std::string> warnings;
    int64_t samples = 0;    // samples of the batches QuantSim used
    int64_t last_rows = 0;  // rows of the batch the source returned last
    int64_t pass_samples = 0;
  };
  auto st = std::make_shared<State>(State{Progress(o.progress && stderr_is_terminal()), {}, 0, 0, 0});
  QuantSimOptions so;
  so.num_threads = o.threads;
  so.skip_bad_batches = o.skip_bad_batches;
  so.warn = [st](const std::string& w) {
    st->warnings.push_back(w);
    std::fprintf(stderr, "quench: warning: %s\n", w.c_str());
  };
  // Data-free calibration runs one random batch.
  const int64_t samples = data ? std::min(o.samples, data->size()) : o.batch;
  const int64_t total_batches = (samples + o.batch - 1) / o.batch;
  // QuantSim reports progress once after every batch it used (never after a skipped one), right
  // after taking it from the source: counting the source's last batch there counts the samples
  // that really went into the encodings.
  Calibrated c;
  const double t0 = now_seconds();
  BatchSource src;
  int64_t samples_read = 0;
  if (data) {
    src = dataset_batch_source(*model, *data, o.batch, o.samples, &samples_read);
  } else if (!config.data_free) {
    return Status::invalid("no calibration data: give --calib DATA (or a data-free config)");
  }
  BatchSource counted = [&src, st](int64_t i) -> Result<Executor::Feeds> {
    QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, src(i));
    st->last_rows = feeds.empty() || feeds[0].second.rank() == 0 ? 0 : feeds[0].second.dim(0);
    return feeds;
  };
  PtqOptions po;
  po.sim = so;
  po.metric = o.metric;
  // Algorithms read the calibration data again (a pass restarts at batch 1): the samples that went
  // into the encodings are those of the largest pass.
  po.sim.progress = [st, total_batches](int64_t done, int64_t) {
    if (done == 1) st->pass_samples = 0;
    st->pass_samples += st->last_rows;
    st->samples = std::max(st->samples, st->pass_samples);
    st->progress.update(fmt::format("calibrating: batch {}/{}", done, total_batches));
  };
  po.progress = [st](const std::string& step, int64_t done, int64_t total) {
    st->progress.update(total > 0 ? fmt::format("{}: {}/{}", step, done, total)
                                  : fmt::format("{}: {}", step, done));
  };
  QUENCH_ASSIGN_OR_RETURN(PtqResult r, quantize_model(model, config, data ? &counted : nullptr, po));
  c.sim = std::move(r.sim);
  c.report = std::move(r.report);
  c.calib_seconds = now_seconds() - t0;
  // Data-free: one random batch of input_shape (rank 3 gets a batch of one).
  c.calib_samples = data ? st->samples
                         : (config.input_shape.size() >= 4 ? config.input_shape[0] : int64_t{1});
  st->progress.done();
  c.warnings = st->warnings;
  return c;
}

}  // namespace quench::cli
