// quench calib (internal): the constructors make_observer() dispatches to, one per source file.
// Each checks the fields of ObserverConfig that its methods use and returns kInvalid naming them.
#pragma once

#include <memory>

#include "calib/observer.h"

namespace quench::calib_internal {

// minmax_observers.cpp: kMinMax, kMovingAverageMinMax, kSigma (per-tensor and per-channel).
Result<std::unique_ptr<Observer>> make_minmax_observer(const ObserverConfig& c);
// histogram_observers.cpp: kPercentile, kMse, kEntropy, kTorchHistogram, kTfEnhanced.
Result<std::unique_ptr<Observer>> make_histogram_observer(const ObserverConfig& c);
// vaiq_observers.cpp: kVaiqMaxmin, kVaiqDiffs, kVaiqPercentile, kVaiqMse, kVaiqEntropy.
Result<std::unique_ptr<Observer>> make_vaiq_observer(const ObserverConfig& c);
// amct_observers.cpp: kIfmr, kHfmg.
Result<std::unique_ptr<Observer>> make_amct_observer(const ObserverConfig& c);
// batch_statistic_observer.cpp: wraps `inner` (a fresh one per batch) and reduces the per-batch
// encodings with c.batch_statistic (modal / max / mean / median of scales or fix positions).
Result<std::unique_ptr<Observer>> make_batch_statistic_observer(const ObserverConfig& c);

}  // namespace quench::calib_internal
