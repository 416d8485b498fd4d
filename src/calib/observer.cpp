// make_observer(): checks the generic ObserverConfig fields and dispatches to the family factories
// (observer_factories.h). The IFMR / HFMG parameters are checked by make_amct_observer.
#include "calib/observer.h"

#include <fmt/format.h>

#include "calib/observer_factories.h"
#include "calib/observer_util.h"

namespace quench {

namespace {

Status check_config(const ObserverConfig& c) {
  using calib_internal::format_number;
  if (!(c.percentile > 0 && c.percentile <= 100))
    return Status::invalid(fmt::format("observer.percentile: {} is out of range (0, 100]",
                                       format_number(c.percentile)));
  if (c.num_bins < 16 || c.num_bins > 65536)
    return Status::invalid(
        fmt::format("observer.num_bins: {} is out of range [16, 65536]", c.num_bins));
  if (c.num_quantized_bins < 1)
    return Status::invalid(
        fmt::format("observer.num_quantized_bins: {} must be >= 1", c.num_quantized_bins));
  if (c.sigma < 0 || c.sigma > 100)
    return Status::invalid(fmt::format("observer.sigma: {} is out of range [0, 100]", c.sigma));
  if (!(c.ema_momentum > 0 && c.ema_momentum <= 1))
    return Status::invalid(fmt::format("observer.ema_momentum: {} is out of range (0, 1]",
                                       format_number(c.ema_momentum)));
  if (c.batch_num < 0)
    return Status::invalid(fmt::format("observer.batch_num: {} must be >= 0", c.batch_num));
  return Status::ok_status();
}

}  // namespace

Result<std::unique_ptr<Observer>> make_observer(const ObserverConfig& config) {
  QUENCH_RETURN_IF_ERROR(check_config(config));
  if (config.batch_statistic != BatchStatistic::kNone) {
    // The inner observers are made per batch; make one now so that a bad inner config fails here.
    ObserverConfig inner = config;
    inner.batch_statistic = BatchStatistic::kNone;
    QUENCH_RETURN_IF_ERROR(make_observer(inner).status());
    return calib_internal::make_batch_statistic_observer(config);
  }
  switch (config.method) {
    case CalibMethod::kMinMax:
    case CalibMethod::kMovingAverageMinMax:
    case CalibMethod::kSigma:
      return calib_internal::make_minmax_observer(config);
    case CalibMethod::kPercentile:
    case CalibMethod::kMse:
    case CalibMethod::kEntropy:
    case CalibMethod::kTorchHistogram:
    case CalibMethod::kTfEnhanced:
      return calib_internal::make_histogram_observer(config);
    case CalibMethod::kVaiqMaxmin:
    case CalibMethod::kVaiqDiffs:
    case CalibMethod::kVaiqPercentile:
    case CalibMethod::kVaiqMse:
    case CalibMethod::kVaiqEntropy:
      return calib_internal::make_vaiq_observer(config);
    case CalibMethod::kIfmr:
    case CalibMethod::kHfmg:
      return calib_internal::make_amct_observer(config);
  }
  return Status::invalid(fmt::format("observer.method: unknown method {}",
                                     static_cast<int>(config.method)));
}

}  // namespace quench
