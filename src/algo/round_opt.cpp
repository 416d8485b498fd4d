// modelslim keep_acc round_opt (SPEC C; modelslim's own implementation is closed, UNVERIFIED):
//   1. no calibration data: SQuant (Guo et al., ICLR 2022; squant.cpp) on every enabled weight;
//   2. calibration data: AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
//      Quantization", ICML 2020; adaround.cpp) on the same weights.
#include "algo/round_opt.h"

namespace quench {

const char* round_opt_method_name(RoundOptMethod m) {
  return m == RoundOptMethod::kSquant ? "squant" : "adaround";
}

Result<RoundOptReport> round_opt(QuantSim& sim, const BatchSource* data, const RoundOptOptions& o) {
  RoundOptReport r;
  if (data) {
    r.method = RoundOptMethod::kAdaRound;
    AdaRoundOptions a = o.adaround;
    if (!a.warn) a.warn = o.warn;
    QUENCH_ASSIGN_OR_RETURN(r.adaround, adaround(sim, *data, a));
    return r;
  }
  SquantOptions so = o.squant;
  if (!so.warn) so.warn = o.warn;
  QUENCH_ASSIGN_OR_RETURN(r.squant, squant_weights(sim, so));
  return r;
}

}  // namespace quench
