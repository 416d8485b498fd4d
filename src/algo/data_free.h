// quench algo: data-free quantization end to end (modelslim quant_mode 0 without data).
//
// A model and an input shape, no data at all: QuantSim (BN folded), SQuant weight rounding, then
// the activation encodings from one batch of uniform random values in [0, 1) shaped
// config.input_shape, with the config's observers (modelslim: the sigma statistic). This is the
// data-free path alone, with SQuant switchable for comparisons; quantize_model (algo/ptq.h) runs
// the same steps inside the whole pipeline together with the other steps a config asks for.
//
//   QUENCH_ASSIGN_OR_RETURN(QuantConfig c, load_quant_config("examples/modelslim/data_free.json"));
//   QUENCH_ASSIGN_OR_RETURN(auto sim, quantize_data_free(model, c));
//   QUENCH_ASSIGN_OR_RETURN(auto logits, sim->run({{"input", x}}));
#pragma once

#include <cstdint>
#include <memory>

#include "algo/squant.h"
#include "core/status.h"
#include "ir/graph.h"
#include "quant/quant_config.h"
#include "sim/quantsim.h"

namespace quench {

struct DataFreeOptions {
  bool squant = true;  // false: round-to-nearest weights (the baseline SQuant improves on)
  SquantOptions squant_options;
  int64_t num_batches = 1;  // random batches for the activation observers (modelslim: one)
  uint64_t seed = 0;
  QuantSimOptions sim;  // threads, warnings, progress of the calibration run
};

// QuantSim::create(model, config), squant_weights (unless options.squant is false: round to
// nearest), then compute_encodings on random_batch_source(model, config.input_shape, num_batches,
// seed). config.algorithms other than BN folding are not run here (see algo/ptq.h). `report`
// (optional) receives SQuant's report. kInvalid for num_batches < 1 and for a model whose input
// shape is unknown with an empty config.input_shape.
Result<std::unique_ptr<QuantSim>> quantize_data_free(std::shared_ptr<const Model> model,
                                                     const QuantConfig& config,
                                                     const DataFreeOptions& options = {},
                                                     SquantReport* report = nullptr);

}  // namespace quench
