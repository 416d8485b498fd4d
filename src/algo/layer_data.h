// quench algo: the per-layer data the accuracy-recovery algorithms learn from.
//
// AdaRound, EasyQuant, bias correction and the sensitivity ranking of layer fallback each need,
// for one layer, its input as the quantized model feeds it and its output in FP32 (the target), over
// the calibration batches. collect_values() runs the sim (quantized or FP32) over a batch source
// and keeps the named values of every batch.
//
//   QUENCH_ASSIGN_OR_RETURN(auto q_in, collect_values(sim, source, 8, {"conv1_in"}, Run::kQuantized));
//   QUENCH_ASSIGN_OR_RETURN(auto fp_out, collect_values(sim, source, 8, {"conv1_out"}, Run::kFp32));
//   // q_in[0][b]: value "conv1_in" of batch b, as the quantized model computes it
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "sim/quantsim.h"

namespace quench {

enum class Run { kQuantized, kFp32 };

// values[i][b] = value names[i] in batch b, for the first `num_batches` batches of `source` (all of
// them when < 0). kInvalid when the source yields no batch.
Result<std::vector<std::vector<Tensor>>> collect_values(QuantSim& sim, const BatchSource& source,
                                                        int64_t num_batches,
                                                        const std::vector<std::string>& names,
                                                        Run run);

// The batches of `source` as a vector, and a source that replays a vector: algorithms that pass
// over the calibration data several times read it once.
Result<std::vector<Executor::Feeds>> read_batches(const BatchSource& source, int64_t num_batches);
BatchSource replay_batches(std::vector<Executor::Feeds> batches);

}  // namespace quench
