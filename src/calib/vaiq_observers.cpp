// vai_q_pytorch observers: maxmin, diffs, percentile, mse, entropy (SPEC.md section B).
//
// What each observer keeps (memory is bounded, merge() is exact):
//   maxmin      the running min / max (per tensor, or per channel along config.axis);
//   diffs       a mergeable histogram of x (PowerOfTwoHistogram, kSigned), per tensor or per
//               channel (2048 fine bins per side per channel, to keep per-channel weights small);
//   percentile, mse, entropy
//               a mergeable histogram of |x| (kAbs) plus the raw min / max; compute() resamples it
//               onto vai_q's 2048 bins over [0, max|x|].
// All honour config.batch_num (0 = every batch): later batches are checked and ignored.
// compute() then runs the search of vaiq_search.h:
//   1. maxmin, float scale: symmetric scale = max|x| / qmax; asymmetric scale = (max - min) /
//      (qmax - qmin) with the zero point of encoding_from_range (see deviations);
//      power-of-two: the overflow-free fix position fp0 only (vai_q's scope 1), capped;
//   2. diffs: power-of-two only; the first strict SSE minimum over fp0 .. fp0 + 4, capped at 12
//      (<= 8 bits) or 15;
//   3. percentile / mse / entropy: float scale, symmetric only; threshold T, scale = T / qmax.
// Deviations from vai_q, and why:
//   - diffs scores candidates on the fine histogram of everything observed, where vai_q sums the
//     squared error over the current batch's raw values (so its result is per batch, reduced by
//     calib_statistic_method; quench does that in the batch-statistic wrapper). Observers must
//     stay bounded and mergeable.
//   - vai_q's 2048-bin histogram is built by torch.histc and widened batch by batch; quench
//     resamples its exact fine histogram, so the result does not depend on the batch order.
//   - asymmetric maxmin: vai_q writes zero_point = round(-min / scale), which only suits unsigned
//     grids and leaves the zero point off the grid when min > 0; quench widens the range to hold
//     0 and uses zero_point = round(qmin - min / scale) (identical for unsigned grids).
//   - entropy on an unsigned spec uses 2^b target levels (vai_q's unsigned_bit), 2^(b-1) signed.
//   - all-zero data gives scale 1 (quench's degenerate rule) where vai_q would divide by zero.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "calib/histogram.h"
#include "calib/observer_factories.h"
#include "calib/observer_util.h"
#include "calib/vaiq_amct_base.h"
#include "calib/vaiq_search.h"

namespace quench::calib_internal {

namespace {

// ---- maxmin ----------------------------------------------------------------------------------

class VaiqMaxminObserver final : public BoundedObserverBase {
 public:
  explicit VaiqMaxminObserver(const ObserverConfig& c) : BoundedObserverBase(c, c.batch_num) {}

  Status update(const Tensor& batch) override {
    bool skip = false;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &skip));
    if (skip) return Status::ok_status();
    ++batches_;
    if (batch.numel() == 0) return Status::ok_status();
    std::vector<float> lo, hi;
    if (config_.per_channel) {
      channel_min_max(batch.data<float>(), layout_, lo, hi);
    } else {
      lo.resize(1);
      hi.resize(1);
      tensor_min_max(batch.data<float>(), batch.numel(), lo[0], hi[0]);
    }
    absorb(lo, hi);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    const auto* o = dynamic_cast<const VaiqMaxminObserver*>(&other);
    if (o == nullptr) return Status::invalid("merge: the other observer is not a vaiq_maxmin one");
    int64_t take = 0;
    QUENCH_RETURN_IF_ERROR(begin_merge(*o, /*allow_partial=*/false, &take));
    if (take == 0) return Status::ok_status();
    if (!o->min_.empty()) absorb(o->min_, o->max_);
    finish_merge(*o, take);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (min_.empty()) return Status::invalid(kNoDataMessage);
    QUENCH_RETURN_IF_ERROR(check_spec(spec));
    if (!spec.is_int()) return encoding_from_range(spec, min_, max_, param_shape());
    if (spec.scale_type == ScaleType::kPowerOfTwo) {
      if (!spec.symmetric)
        return Status::invalid("vaiq_maxmin with scale_type poweroftwo needs a symmetric spec (" +
                               spec.describe() + ")");
      std::vector<int32_t> fix_pos(min_.size());
      for (size_t i = 0; i < min_.size(); ++i)
        fix_pos[i] = vaiq_cap_fix_pos(
            vaiq_first_fix_pos(min_[i], max_[i], spec.qmin(), spec.qmax()), spec.bits);
      return encoding_from_fix_pos(spec, fix_pos, param_shape());
    }
    if (spec.symmetric && !spec.is_signed) {
      const float lo = *std::min_element(min_.begin(), min_.end());
      if (lo < 0.0f)
        return Status::invalid(fmt::format(
            "vaiq_maxmin: negative values (min {}) in unsigned symmetric quantization ({}); "
            "vai_q rejects them: use a signed spec",
            format_number(lo), spec.describe()));
    }
    return encoding_from_range(spec, min_, max_, param_shape());
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<VaiqMaxminObserver>(config_);
  }
  int64_t memory_bytes() const override {
    return static_cast<int64_t>(sizeof(*this) + (min_.capacity() + max_.capacity()) * 4);
  }

 private:
  void absorb(const std::vector<float>& lo, const std::vector<float>& hi) {
    if (min_.empty()) {
      min_ = lo;
      max_ = hi;
      return;
    }
    for (size_t i = 0; i < min_.size(); ++i) {
      min_[i] = std::min(min_[i], lo[i]);
      max_[i] = std::max(max_[i], hi[i]);
    }
  }

  std::vector<float> min_, max_;  // one per parameter; empty until data was seen
};

// ---- diffs -----------------------------------------------------------------------------------

class VaiqDiffsObserver final : public BoundedObserverBase {
 public:
  explicit VaiqDiffsObserver(const ObserverConfig& c) : BoundedObserverBase(c, c.batch_num) {}

  Status update(const Tensor& batch) override {
    bool skip = false;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &skip));
    if (skip) return Status::ok_status();
    ++batches_;
    add_to_signed_histograms(hists_, batch.data<float>(), batch.numel(), config_.per_channel,
                             layout_, PowerOfTwoHistogram::kFineBinsPerSide);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    const auto* o = dynamic_cast<const VaiqDiffsObserver*>(&other);
    if (o == nullptr) return Status::invalid("merge: the other observer is not a vaiq_diffs one");
    int64_t take = 0;
    QUENCH_RETURN_IF_ERROR(begin_merge(*o, /*allow_partial=*/false, &take));
    if (take == 0) return Status::ok_status();
    merge_histograms(hists_, o->hists_);
    finish_merge(*o, take);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    bool any = false;
    for (const auto& h : hists_) any = any || !h.empty();
    if (!any) return Status::invalid(kNoDataMessage);
    QUENCH_RETURN_IF_ERROR(check_spec(spec));
    if (!spec.is_int() || spec.scale_type != ScaleType::kPowerOfTwo)
      return Status::invalid("vaiq_diffs searches power-of-two scales: it needs an integer spec "
                             "with scale_type poweroftwo (got " + spec.describe() + ")");
    if (!spec.symmetric)
      return Status::invalid("vaiq_diffs needs a symmetric spec (got " + spec.describe() + ")");
    std::vector<int32_t> fix_pos(hists_.size());
    for (size_t i = 0; i < hists_.size(); ++i)
      fix_pos[i] = vaiq_cap_fix_pos(
          vaiq_diffs_fix_pos(hists_[i], spec.qmin(), spec.qmax(), kVaiqDiffsScope), spec.bits);
    return encoding_from_fix_pos(spec, fix_pos, param_shape());
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<VaiqDiffsObserver>(config_);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = sizeof(*this);
    for (const auto& h : hists_) bytes += h.memory_bytes();
    return bytes;
  }

 private:
  std::vector<PowerOfTwoHistogram> hists_;  // one (per tensor) or one per channel
};

// ---- percentile / mse / entropy --------------------------------------------------------------

class VaiqHistogramObserver final : public BoundedObserverBase {
 public:
  explicit VaiqHistogramObserver(const ObserverConfig& c) : BoundedObserverBase(c, c.batch_num) {}

  Status update(const Tensor& batch) override {
    bool skip = false;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &skip));
    if (skip) return Status::ok_status();
    ++batches_;
    if (batch.numel() == 0) return Status::ok_status();
    float lo, hi;
    tensor_min_max(batch.data<float>(), batch.numel(), lo, hi);
    raw_min_ = hist_.empty() ? lo : std::min(raw_min_, lo);
    raw_max_ = hist_.empty() ? hi : std::max(raw_max_, hi);
    (void)hist_.add(batch.data<float>(), batch.numel());  // checked in begin_update
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    const auto* o = dynamic_cast<const VaiqHistogramObserver*>(&other);
    if (o == nullptr)
      return Status::invalid("merge: the other observer is not a " + name() + " one");
    int64_t take = 0;
    QUENCH_RETURN_IF_ERROR(begin_merge(*o, /*allow_partial=*/false, &take));
    if (take == 0) return Status::ok_status();
    if (!o->hist_.empty()) {
      raw_min_ = hist_.empty() ? o->raw_min_ : std::min(raw_min_, o->raw_min_);
      raw_max_ = hist_.empty() ? o->raw_max_ : std::max(raw_max_, o->raw_max_);
      hist_.merge(o->hist_);
    }
    finish_merge(*o, take);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (hist_.empty()) return Status::invalid(kNoDataMessage);
    QUENCH_RETURN_IF_ERROR(check_spec(spec));
    if (!spec.is_int()) return encoding_from_range(spec, {raw_min_}, {raw_max_});
    if (!spec.symmetric)
      return Status::invalid(name() + " needs a symmetric spec (vai_q rejects asymmetric "
                             "quantization with percentile, entropy and mse; got " +
                             spec.describe() + ")");
    if (spec.scale_type != ScaleType::kFloat)
      return Status::invalid(name() + " gives float scales (power-of-two scales need method "
                             "diffs or maxmin; got " + spec.describe() + ")");
    const double amax = hist_.max();  // max |x|, exact
    double t = 0.0;
    if (amax > 0.0) {
      const std::vector<double> counts = hist_.resample(0.0, amax, kVaiqBins);
      switch (config_.method) {
        case CalibMethod::kVaiqPercentile:
          t = vaiq_percentile_threshold(counts, amax, config_.percentile);
          break;
        case CalibMethod::kVaiqMse:
          t = vaiq_mse_threshold(counts, amax, spec.qmin(), spec.qmax(), spec.round_mode);
          break;
        default: {
          const int levels_log2 = spec.is_signed ? spec.bits - 1 : spec.bits;
          t = vaiq_entropy_threshold(counts, amax, int64_t{1} << levels_log2);
          break;
        }
      }
    }
    return encode_thresholds(spec, {static_cast<float>(t)}, {raw_min_}, false);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<VaiqHistogramObserver>(config_);
  }
  int64_t memory_bytes() const override {
    return static_cast<int64_t>(sizeof(*this)) + hist_.memory_bytes() -
           static_cast<int64_t>(sizeof(hist_));
  }

 private:
  PowerOfTwoHistogram hist_{PowerOfTwoHistogram::Sides::kAbs};
  float raw_min_ = 0.0f, raw_max_ = 0.0f;
};

}  // namespace

Result<std::unique_ptr<Observer>> make_vaiq_observer(const ObserverConfig& c) {
  const std::string name = calib_method_name(c.method);
  const bool histogram_method = c.method == CalibMethod::kVaiqPercentile ||
                                c.method == CalibMethod::kVaiqMse ||
                                c.method == CalibMethod::kVaiqEntropy;
  if (!histogram_method && c.method != CalibMethod::kVaiqMaxmin &&
      c.method != CalibMethod::kVaiqDiffs)
    return Status::invalid("observer.method: " + name + " is not a vai_q method");
  if (c.batch_num < 0)
    return Status::invalid(fmt::format(
        "observer.batch_num: {} must be >= 0 (0 = every batch)", c.batch_num));
  if (c.method == CalibMethod::kVaiqPercentile && !(c.percentile > 0.0 && c.percentile <= 100.0))
    return Status::invalid("observer.percentile: " + format_number(c.percentile) +
                           " is out of range (0, 100]");
  if (histogram_method && c.num_bins != kVaiqBins)
    return Status::invalid(fmt::format(
        "observer.num_bins: {} is not supported by {} (vai_q histograms have {} bins)",
        c.num_bins, name, kVaiqBins));
  if (histogram_method && c.per_channel)
    return Status::invalid("observer.per_channel: " + name + " is per-tensor only (vai_q "
                           "quantizes per channel with maxmin or diffs)");
  std::unique_ptr<Observer> obs;
  if (c.method == CalibMethod::kVaiqMaxmin) {
    obs = std::make_unique<VaiqMaxminObserver>(c);
  } else if (c.method == CalibMethod::kVaiqDiffs) {
    obs = std::make_unique<VaiqDiffsObserver>(c);
  } else {
    obs = std::make_unique<VaiqHistogramObserver>(c);
  }
  return obs;
}

}  // namespace quench::calib_internal
