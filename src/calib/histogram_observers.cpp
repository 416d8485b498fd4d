// Histogram family: kPercentile, kEntropy, kMse, kTorchHistogram, kTfEnhanced.
//
// All five keep the same statistic, one PowerOfTwoHistogram of x per tensor (or per channel), so
// merge() is exact and memory is fixed: 2 * 8192 bins * 8 bytes = 128 KiB per tensor; per-channel
// observers use 2048 bins per side (32 KiB per channel). compute(spec) then:
//   1. resamples the fine bins onto observer.num_bins (default 2048) equal bins: |x| over
//      [0, max|x|] for the symmetric searches, x over [min, max] for the two-sided ones;
//   2. runs the method's search (histogram_search.cpp):
//      kPercentile     symmetric spec: |x| percentile (ONNX Runtime); asymmetric: two-tailed;
//      kEntropy        TensorRT KL over i = T..num_bins (step num_bins / 2048, i.e. 1 by default),
//                      T = the grid levels covering [0, threshold]: 2^(b-1) for a signed or
//                      two-sided grid, 2^b for an unsigned one on non-negative data;
//      kMse            the clip minimising rounding noise (step^2 / 12) + clipping error, on the
//                      spec's grid: |x| threshold (symmetric) or [L, H] (asymmetric);
//      kTorchHistogram PyTorch HistogramObserver L2 search over [min, max], 2^bits destination bins;
//      kTfEnhanced     AIMET SQNR search (gamma 3), grid offset / delta mapped to the spec;
//   3. turns the threshold into [-T, T] ([0, T] for non-negative data) or the range into an
//      Encoding (encoding_from_range).
// Non-integer specs (float16, bfloat16, float8) get the min-max range.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "calib/histogram.h"
#include "calib/histogram_search.h"
#include "calib/observer_factories.h"
#include "calib/observer_util.h"

namespace quench::calib_internal {

namespace {

constexpr int kPerChannelBinsPerSide = 2048;

// Grid steps between 0 and a threshold T for the encoding encode_thresholds() makes of [-T, T]
// (signed data) or [0, T] (non-negative data).
double steps_per_threshold(const QuantSpec& spec, bool non_negative) {
  const double span = static_cast<double>(spec.qmax() - spec.qmin());
  if (spec.symmetric) {
    if (spec.unsigned_symmetric && non_negative) return std::ldexp(1.0, spec.bits) - 1;
    return static_cast<double>(spec.qmax());
  }
  return non_negative ? span : span / 2;
}

class HistogramObserver final : public ObserverBase {
 public:
  using ObserverBase::ObserverBase;

  Status update(const Tensor& batch) override {
    if (batch_limit_reached()) return Status::ok_status();
    ChannelLayout cl;
    // Per tensor, the histogram's own first pass finds NaN / Inf: the data is read twice, not thrice.
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &cl, /*check_finite=*/per_channel()));
    if (batch.numel() == 0) return Status::ok_status();
    if (hists_.empty()) {
      const int bins = per_channel() ? kPerChannelBinsPerSide : PowerOfTwoHistogram::kFineBinsPerSide;
      hists_.assign(static_cast<size_t>(per_channel() ? cl.channels : 1),
                    PowerOfTwoHistogram(PowerOfTwoHistogram::Sides::kSigned, bins));
    }
    if (per_channel()) {
      std::vector<float> values;
      for (int64_t c = 0; c < cl.channels; ++c) {
        gather_channel(batch.data<float>(), cl, c, values);
        (void)hists_[static_cast<size_t>(c)].add(values.data(), static_cast<int64_t>(values.size()));
      }
    } else if (!hists_[0].add(batch.data<float>(), batch.numel())) {
      return check_batch(batch);  // the message naming the first bad element
    }
    end_update(cl);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    QUENCH_ASSIGN_OR_RETURN(const ObserverBase* base, check_merge(other, false));
    const auto& o = static_cast<const HistogramObserver&>(*base);
    if (hists_.empty()) {
      hists_ = o.hists_;
    } else {
      for (size_t i = 0; i < o.hists_.size(); ++i) hists_[i].merge(o.hists_[i]);
    }
    absorb_counts(o);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (hists_.empty() || hists_[0].empty()) return Status::invalid(kNoDataMessage);
    const size_t n = hists_.size();
    std::vector<float> lo(n), hi(n);
    if (!spec.is_int()) {
      for (size_t i = 0; i < n; ++i) {
        lo[i] = hists_[i].min();
        hi[i] = hists_[i].max();
      }
      return encode(spec, lo, hi);
    }
    for (size_t i = 0; i < n; ++i) {
      const auto [l, h] = search(hists_[i], spec);
      lo[i] = static_cast<float>(l);
      hi[i] = static_cast<float>(h);
    }
    return encode(spec, lo, hi);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<HistogramObserver>(config_);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = sizeof(*this);
    for (const auto& h : hists_) bytes += h.memory_bytes();
    return bytes;
  }

 private:
  // The range for one histogram (a tensor or a channel).
  std::pair<double, double> search(const PowerOfTwoHistogram& h, const QuantSpec& spec) const {
    const double mn = h.min(), mx = h.max(), amax = h.abs_max();
    const bool non_negative = mn >= 0;
    const int nb = config_.num_bins;
    auto threshold_range = [&](double t) {
      return std::pair<double, double>{non_negative ? 0.0 : -t, t};
    };
    if (mx == mn) return {mn, mx};  // one value: nothing to search
    switch (config_.method) {
      case CalibMethod::kPercentile:
        if (spec.symmetric)
          return threshold_range(percentile_threshold(abs_counts(h, amax, nb), amax,
                                                      config_.percentile));
        return percentile_range(signed_counts(h, mn, mx, nb), mn, mx, config_.percentile);
      case CalibMethod::kEntropy: {
        const double steps = steps_per_threshold(spec, non_negative);
        const int target = static_cast<int>(std::floor(steps)) + 1;
        const int step = std::max(1, nb / 2048);
        return threshold_range(entropy_threshold(abs_counts(h, amax, nb), amax, target, step));
      }
      case CalibMethod::kMse:
        if (spec.symmetric)
          return threshold_range(mse_threshold(abs_counts(h, amax, nb), amax,
                                               steps_per_threshold(spec, non_negative)));
        return mse_range(signed_counts(h, mn, mx, nb), mn, mx,
                         static_cast<double>(spec.qmax() - spec.qmin()), std::max(1, nb / 1024));
      case CalibMethod::kTorchHistogram:
        return torch_histogram_search(signed_counts(h, mn, mx, nb), mn, mx, 1 << spec.bits);
      case CalibMethod::kTfEnhanced: {
        const int num_steps = static_cast<int>(spec.qmax() - spec.qmin());
        TfEnhancedMode mode = TfEnhancedMode::kAsymmetric;
        if (spec.symmetric)
          mode = (!spec.is_signed || (spec.unsigned_symmetric && non_negative))
                     ? TfEnhancedMode::kUnsignedSymmetric
                     : TfEnhancedMode::kSymmetric;
        const auto [delta, offset] =
            tf_enhanced_search(signed_counts(h, mn, mx, nb), mn, mx, num_steps, mode);
        if (mode == TfEnhancedMode::kSymmetric) {
          // [-qmax * delta, qmax * delta] makes encoding_from_range's symmetric scale exactly delta.
          const double t = delta * static_cast<double>(spec.qmax());
          return {-t, t};
        }
        return {offset * delta, (offset + num_steps) * delta};
      }
      default:
        return {mn, mx};
    }
  }

  std::vector<PowerOfTwoHistogram> hists_;  // one per slot; empty before the first batch
};

}  // namespace

Result<std::unique_ptr<Observer>> make_histogram_observer(const ObserverConfig& c) {
  switch (c.method) {
    case CalibMethod::kPercentile:
    case CalibMethod::kEntropy:
    case CalibMethod::kMse:
    case CalibMethod::kTorchHistogram:
    case CalibMethod::kTfEnhanced:
      return std::unique_ptr<Observer>(std::make_unique<HistogramObserver>(c));
    default:
      return Status::internal(fmt::format(
          "make_histogram_observer: method {} is not a histogram method", calib_method_name(c.method)));
  }
}

}  // namespace quench::calib_internal
