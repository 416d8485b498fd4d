// Data-free quantization (SPEC C, modelslim quant_mode 0 with no calibration data):
//   1. QuantSim::create: BatchNormalization folded into the convolutions, quantizers placed, weight
//      encodings from the weights (min-max per channel for modelslim);
//   2. SQuant (Guo et al., ICLR 2022; squant.cpp) picks every weight's rounding on that grid;
//   3. the activation observers see `num_batches` batches of uniform random data in [0, 1) of
//      config.input_shape, run through the model with the rounded weights, and set the activation
//      encodings (modelslim: alpha = sigma * std, clamped to the observed range).
#include "algo/data_free.h"

namespace quench {

Result<std::unique_ptr<QuantSim>> quantize_data_free(std::shared_ptr<const Model> model,
                                                     const QuantConfig& config,
                                                     const DataFreeOptions& o,
                                                     SquantReport* report) {
  if (!model) return Status::invalid("quantize_data_free: no model");
  if (o.num_batches < 1)
    return Status::invalid("quantize_data_free: num_batches is " + std::to_string(o.num_batches) +
                           " (at least one random batch is needed)");
  QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<QuantSim> sim, QuantSim::create(model, config, o.sim));
  if (o.squant) {
    SquantOptions so = o.squant_options;
    if (!so.warn) so.warn = o.sim.warn;
    QUENCH_ASSIGN_OR_RETURN(SquantReport r, squant_weights(*sim, so));
    if (report) *report = std::move(r);
  }
  QUENCH_ASSIGN_OR_RETURN(BatchSource src, random_batch_source(sim->sim_model(), config.input_shape,
                                                               o.num_batches, o.seed));
  QUENCH_RETURN_IF_ERROR(sim->compute_encodings(src, o.num_batches));
  return sim;
}

}  // namespace quench
