// quench algo: modelslim keep_acc "round_opt", improved rounding of weights.
//
// SPEC C: AdaRound when calibration data exist, SQuant otherwise. round_opt() is the dispatch; the
// algorithms are squant.h and adaround.h, whose options pass through unchanged.
//
//   QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, config));
//   QUENCH_ASSIGN_OR_RETURN(RoundOptReport r, round_opt(*sim, nullptr));   // no data: SQuant
//   QUENCH_ASSIGN_OR_RETURN(RoundOptReport r, round_opt(*sim, &calib));    // data: AdaRound
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "algo/adaround.h"
#include "algo/squant.h"
#include "core/status.h"
#include "sim/quantsim.h"

namespace quench {

enum class RoundOptMethod { kSquant, kAdaRound };
const char* round_opt_method_name(RoundOptMethod m);  // "squant", "adaround"

struct RoundOptOptions {
  SquantOptions squant;      // without data
  AdaRoundOptions adaround;  // with data
  // Warnings of either algorithm (used when the algorithm's own `warn` is unset).
  std::function<void(const std::string&)> warn;
};

struct RoundOptReport {
  RoundOptMethod method = RoundOptMethod::kSquant;
  SquantReport squant;      // when method == kSquant
  AdaRoundReport adaround;  // when method == kAdaRound
};

// Rounds the weights of `sim`: SQuant when `data` is null, AdaRound on `data` otherwise. Both
// write the rounded weights into the sim with their encodings kept. AdaRound learns from the
// inputs QuantSim::run computes at the time (adaround.h); recompute the activation encodings
// afterwards, as the weights changed.
Result<RoundOptReport> round_opt(QuantSim& sim, const BatchSource* data,
                                 const RoundOptOptions& options = {});

}  // namespace quench
