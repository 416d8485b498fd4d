// AMCT observers: IFMR and HFMG (SPEC.md A.1-A.3; the searches are in amct_search.cpp).
//
// IFMR keeps the values of the first batch_num batches (per tensor, or per channel along
// config.axis; AMCT's kv-cache calibrator splits along the last axis and sets axis = -1), so its
// memory is bounded by batch_num batches: this is the one observer that keeps activations.
// batch_num 0 means 1 for IFMR (AMCT's default batch_num), never "all batches", to keep that bound.
// compute() sorts a copy of each buffer and runs ifmr_search.
//
// HFMG keeps a mergeable histogram of x (PowerOfTwoHistogram, kSigned) per tensor or per channel,
// of the first batch_num batches (0 = all). compute() resamples it onto num_bins equal bins over
// [data_min, data_max] and runs hfmg_search. AMCT instead re-bins its num_bins-bin histogram each
// time a batch widens the range (splitting straddling bins by overlap); quench's fine histogram
// gives the same kind of histogram without depending on the batch order, so merge() is exact.
// The fine histogram has max(8192, 2 * num_bins) bins per side per tensor, 2048 per side per
// channel (128 to 256 KiB per tensor, 32 KiB per channel).
//
// Both build the Encoding directly from AMCT's scale and offset (zero_point = offset, on the
// spec's grid), for signed or unsigned asymmetric specs and signed symmetric ones; AMCT has no
// power-of-two or unsigned symmetric mode, so those specs are kInvalid.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "calib/amct_search.h"
#include "calib/histogram.h"
#include "calib/observer_factories.h"
#include "calib/observer_util.h"
#include "calib/vaiq_amct_base.h"

namespace quench::calib_internal {

namespace {

// Checks a spec for the AMCT methods; non-integer formats are handled by the caller.
Status check_amct_spec(const std::string& name, const QuantSpec& spec) {
  if (spec.scale_type != ScaleType::kFloat)
    return Status::invalid(name + " gives float scales (AMCT has no power-of-two mode; got " +
                           spec.describe() + ")");
  if (spec.symmetric && !spec.is_signed)
    return Status::invalid(name + " with a symmetric spec needs a signed grid (AMCT's "
                           "symmetric mode is signed; got " + spec.describe() + ")");
  return Status::ok_status();
}

Result<Encoding> make_encoding(const QuantSpec& spec, Shape param_shape,
                               const std::vector<AmctParams>& params) {
  Encoding e;
  e.spec = spec;
  e.param_shape = std::move(param_shape);
  for (const AmctParams& p : params) {
    e.scale.push_back(p.scale);
    e.zero_point.push_back(p.zero_point);
  }
  QUENCH_RETURN_IF_ERROR(e.validate());
  return e;
}

// ---- IFMR ------------------------------------------------------------------------------------

class IfmrObserver final : public BoundedObserverBase {
 public:
  explicit IfmrObserver(const ObserverConfig& c)
      : BoundedObserverBase(c, c.batch_num > 0 ? c.batch_num : 1) {}

  Status update(const Tensor& batch) override {
    bool skip = false;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &skip));
    if (skip) return Status::ok_status();
    ++batches_;
    const float* x = batch.data<float>();
    if (!config_.per_channel) {
      values_.resize(1);
      values_[0].insert(values_[0].end(), x, x + batch.numel());
      batch_sizes_.push_back(batch.numel());
      return Status::ok_status();
    }
    values_.resize(static_cast<size_t>(layout_.channels));
    std::vector<float> channel;
    for (int64_t c = 0; c < layout_.channels; ++c) {
      gather_channel(x, layout_, c, channel);
      auto& dst = values_[static_cast<size_t>(c)];
      dst.insert(dst.end(), channel.begin(), channel.end());
    }
    batch_sizes_.push_back(layout_.outer * layout_.inner);
    return Status::ok_status();
  }

  // Keeps the other's first batches up to batch_num: the values are stored batch by batch.
  Status merge(const Observer& other) override {
    const auto* o = dynamic_cast<const IfmrObserver*>(&other);
    if (o == nullptr) return Status::invalid("merge: the other observer is not an ifmr one");
    int64_t take = 0;
    QUENCH_RETURN_IF_ERROR(begin_merge(*o, /*allow_partial=*/true, &take));
    if (take == 0) return Status::ok_status();
    int64_t elements = 0;
    for (int64_t b = 0; b < take; ++b) {
      elements += o->batch_sizes_[static_cast<size_t>(b)];
      batch_sizes_.push_back(o->batch_sizes_[static_cast<size_t>(b)]);
    }
    if (values_.empty()) values_.resize(o->values_.size());
    for (size_t c = 0; c < values_.size() && c < o->values_.size(); ++c)
      values_[c].insert(values_[c].end(), o->values_[c].begin(),
                        o->values_[c].begin() + elements);
    finish_merge(*o, take);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    bool any = false;
    for (const auto& v : values_) any = any || !v.empty();
    if (!any) return Status::invalid(kNoDataMessage);
    QUENCH_RETURN_IF_ERROR(check_spec(spec));
    if (!spec.is_int()) {
      std::vector<float> lo, hi;
      for (const auto& v : values_) {
        const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
        lo.push_back(*mn);
        hi.push_back(*mx);
      }
      return encoding_from_range(spec, lo, hi, param_shape());
    }
    QUENCH_RETURN_IF_ERROR(check_amct_spec("ifmr", spec));
    const IfmrOptions opts = IfmrOptions::from(config_);
    std::vector<AmctParams> params;
    std::vector<float> sorted;
    for (const auto& v : values_) {
      sorted = v;
      sort_floats(sorted);
      params.push_back(ifmr_search(sorted, opts, spec));
    }
    return make_encoding(spec, param_shape(), params);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<IfmrObserver>(config_);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = sizeof(*this) + static_cast<int64_t>(batch_sizes_.capacity() * 8);
    for (const auto& v : values_)
      bytes += static_cast<int64_t>(sizeof(v) + v.capacity() * sizeof(float));
    return bytes;
  }

 private:
  std::vector<std::vector<float>> values_;  // one buffer per parameter, batches in order
  std::vector<int64_t> batch_sizes_;        // values each batch added to every buffer
};

// ---- HFMG ------------------------------------------------------------------------------------

class HfmgObserver final : public BoundedObserverBase {
 public:
  explicit HfmgObserver(const ObserverConfig& c) : BoundedObserverBase(c, c.batch_num) {}

  Status update(const Tensor& batch) override {
    bool skip = false;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &skip));
    if (skip) return Status::ok_status();
    ++batches_;
    add_to_signed_histograms(hists_, batch.data<float>(), batch.numel(), config_.per_channel,
                             layout_,
                             std::max(PowerOfTwoHistogram::kFineBinsPerSide, 2 * config_.num_bins));
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    const auto* o = dynamic_cast<const HfmgObserver*>(&other);
    if (o == nullptr) return Status::invalid("merge: the other observer is not an hfmg one");
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
    if (!spec.is_int()) {
      std::vector<float> lo, hi;
      for (const auto& h : hists_) {
        lo.push_back(h.min());
        hi.push_back(h.max());
      }
      return encoding_from_range(spec, lo, hi, param_shape());
    }
    QUENCH_RETURN_IF_ERROR(check_amct_spec("hfmg", spec));
    std::vector<AmctParams> params;
    for (const auto& h : hists_) params.push_back(search(h, spec));
    return make_encoding(spec, param_shape(), params);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<HfmgObserver>(config_);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = sizeof(*this);
    for (const auto& h : hists_) bytes += h.memory_bytes();
    return bytes;
  }

 private:
  AmctParams search(const PowerOfTwoHistogram& h, const QuantSpec& spec) const {
    const double lo = h.min(), hi = h.max();
    if (!(hi > lo)) return hfmg_search({}, lo, lo, h.total(), spec);
    return hfmg_search(h.resample(lo, hi, config_.num_bins), lo, hi, h.total(), spec);
  }

  std::vector<PowerOfTwoHistogram> hists_;  // one per tensor or one per channel
};

bool is_allowed_hfmg_bins(int n) { return n == 1024 || n == 2048 || n == 4096 || n == 8192; }

}  // namespace

Result<std::unique_ptr<Observer>> make_amct_observer(const ObserverConfig& c) {
  if (c.method != CalibMethod::kIfmr && c.method != CalibMethod::kHfmg)
    return Status::invalid(std::string("observer.method: ") + calib_method_name(c.method) +
                           " is not an AMCT method (ifmr, hfmg)");
  if (c.batch_num < 0)
    return Status::invalid(fmt::format(
        "observer.batch_num: {} must be >= 0 (0 = every batch; 1 for ifmr)", c.batch_num));
  if (c.method == CalibMethod::kHfmg) {
    if (!is_allowed_hfmg_bins(c.num_bins))
      return Status::invalid(fmt::format(
          "observer.num_bins: {} is not one of 1024, 2048, 4096, 8192 (AMCT num_of_bins)",
          c.num_bins));
    return std::unique_ptr<Observer>(std::make_unique<HfmgObserver>(c));
  }
  if (!(c.ifmr_max_percentile > 0.5 && c.ifmr_max_percentile <= 1.0))
    return Status::invalid("observer.ifmr_max_percentile: " +
                           format_number(c.ifmr_max_percentile) + " is out of range (0.5, 1]");
  if (!(c.ifmr_min_percentile > 0.5 && c.ifmr_min_percentile <= 1.0))
    return Status::invalid("observer.ifmr_min_percentile: " +
                           format_number(c.ifmr_min_percentile) + " is out of range (0.5, 1]");
  if (!(c.ifmr_search_start > 0.0))
    return Status::invalid("observer.ifmr_search_start: " + format_number(c.ifmr_search_start) +
                           " must be > 0 (the search range needs 0 < start < end)");
  if (!(c.ifmr_search_end > c.ifmr_search_start))
    return Status::invalid("observer.ifmr_search_end: " + format_number(c.ifmr_search_end) +
                           " must be > ifmr_search_start " + format_number(c.ifmr_search_start) +
                           " (the search range needs 0 < start < end)");
  // The 1e-12 forgives decimal rounding (0.3 - 0.1 < 0.2 in binary).
  if (!(c.ifmr_search_step > 0.0 &&
        c.ifmr_search_step <= c.ifmr_search_end - c.ifmr_search_start + 1e-12))
    return Status::invalid("observer.ifmr_search_step: " + format_number(c.ifmr_search_step) +
                           " is out of range (0, end - start] for the search range [" +
                           format_number(c.ifmr_search_start) + ", " +
                           format_number(c.ifmr_search_end) + "]");
  return std::unique_ptr<Observer>(std::make_unique<IfmrObserver>(c));
}

}  // namespace quench::calib_internal
