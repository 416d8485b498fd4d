// quench calib (internal): the bookkeeping the vai_q and AMCT observers share.
//
// BoundedObserverBase holds the ObserverConfig, counts the batches used under batch_num (later
// batches are checked, then ignored), remembers the channel layout of per-channel observers and
// checks it batch after batch, and implements the merge preconditions:
//   - the other observer must come from the same ObserverConfig;
//   - when this observer already used batch_num batches, the other's batches come after them in
//     the stream and are ignored (what a single observer would have done);
//   - otherwise the two must fit in batch_num together, unless the subclass can keep only the
//     first batches of the other (IFMR keeps values per batch, a histogram cannot).
//
//   class MyObserver final : public BoundedObserverBase {
//     Status update(const Tensor& b) override {
//       bool skip = false;
//       QUENCH_RETURN_IF_ERROR(begin_update(b, &skip));
//       if (skip) return Status::ok_status();
//       ++batches_;  ...
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "calib/histogram.h"
#include "calib/observer.h"
#include "calib/observer_util.h"

namespace quench::calib_internal {

// Fine bins per side of the per-channel histograms (32 KiB per channel for kSigned): per-channel
// observers mostly see weights, whose channel count would make 8192 bins per side expensive.
inline constexpr int kPerChannelFineBins = 2048;

inline bool same_observer_config(const ObserverConfig& a, const ObserverConfig& b) {
  return a.method == b.method && a.batch_statistic == b.batch_statistic &&
         a.per_channel == b.per_channel && a.axis == b.axis && a.batch_num == b.batch_num &&
         a.ema_momentum == b.ema_momentum && a.percentile == b.percentile &&
         a.num_bins == b.num_bins && a.num_quantized_bins == b.num_quantized_bins &&
         a.sigma == b.sigma && a.ifmr_max_percentile == b.ifmr_max_percentile &&
         a.ifmr_min_percentile == b.ifmr_min_percentile &&
         a.ifmr_search_start == b.ifmr_search_start && a.ifmr_search_end == b.ifmr_search_end &&
         a.ifmr_search_step == b.ifmr_search_step;
}

// Adds a batch to signed histograms kept per tensor (hists holds one, made with
// `tensor_bins_per_side` on first use) or per channel of `layout` (kPerChannelFineBins each).
inline void add_to_signed_histograms(std::vector<PowerOfTwoHistogram>& hists, const float* x,
                                     int64_t n, bool per_channel, const ChannelLayout& layout,
                                     int tensor_bins_per_side) {
  if (!per_channel) {
    if (hists.empty()) hists.emplace_back(PowerOfTwoHistogram::Sides::kSigned, tensor_bins_per_side);
    (void)hists[0].add(x, n);  // the batch was checked: add() cannot refuse it
    return;
  }
  if (hists.empty())
    hists.assign(static_cast<size_t>(layout.channels),
                 PowerOfTwoHistogram(PowerOfTwoHistogram::Sides::kSigned, kPerChannelFineBins));
  std::vector<float> values;
  for (int64_t c = 0; c < layout.channels; ++c) {
    gather_channel(x, layout, c, values);
    (void)hists[static_cast<size_t>(c)].add(values.data(), static_cast<int64_t>(values.size()));
  }
}

// Merges histograms kept as above (exact, see histogram.h).
inline void merge_histograms(std::vector<PowerOfTwoHistogram>& hists,
                             const std::vector<PowerOfTwoHistogram>& other) {
  if (hists.empty()) {
    hists = other;
    return;
  }
  for (size_t i = 0; i < hists.size() && i < other.size(); ++i) hists[i].merge(other[i]);
}

class BoundedObserverBase : public Observer {
 public:
  // batch_limit: batches used at most (0 = all); usually config.batch_num.
  BoundedObserverBase(const ObserverConfig& c, int batch_limit)
      : config_(c), batch_limit_(batch_limit) {}
  const ObserverConfig& config() const override { return config_; }
  int64_t num_batches() const override { return batches_; }

 protected:
  std::string name() const { return calib_method_name(config_.method); }
  bool budget_full() const { return batch_limit_ > 0 && batches_ >= batch_limit_; }

  // Checks the batch (finite float32) and, per channel, its layout against earlier batches.
  // Sets *skip when batch_limit batches were already used.
  Status begin_update(const Tensor& batch, bool* skip) {
    *skip = false;
    QUENCH_RETURN_IF_ERROR(check_batch(batch));
    if (budget_full()) {
      *skip = true;
      return Status::ok_status();
    }
    if (config_.per_channel) {
      QUENCH_ASSIGN_OR_RETURN(ChannelLayout cl, channel_layout(batch.shape(), config_.axis));
      if (has_layout_ && (cl.channels != layout_.channels || cl.axis != layout_.axis))
        return Status::invalid(fmt::format(
            "the batch {} has {} channels along axis {}, earlier batches had {} along axis {}",
            shape_to_string(batch.shape()), cl.channels, cl.axis, layout_.channels,
            layout_.axis));
      layout_ = cl;
      has_layout_ = true;
    }
    return Status::ok_status();
  }

  // *take: how many of the other's batches to absorb (0 = nothing to do). With
  // allow_partial = false, a merge that would exceed the limit is kInvalid.
  Status begin_merge(const BoundedObserverBase& other, bool allow_partial, int64_t* take) const {
    *take = 0;
    if (!same_observer_config(config_, other.config_))
      return Status::invalid("merge: the other observer was made from a different "
                             "ObserverConfig (" + name() + " observers merge only with their "
                             "own kind and settings)");
    if (other.batches_ == 0 || budget_full()) return Status::ok_status();
    int64_t n = other.batches_;
    if (batch_limit_ > 0 && batches_ + n > batch_limit_) {
      if (!allow_partial)
        return Status::invalid(fmt::format(
            "merge: the observers saw {} + {} batches but batch_num is {}; {} keeps no per-batch "
            "data and cannot drop the batches past the limit (merge observers whose batches fit "
            "in batch_num)",
            batches_, other.batches_, batch_limit_, name()));
      n = batch_limit_ - batches_;
    }
    if (config_.per_channel && has_layout_ && other.has_layout_ &&
        (layout_.channels != other.layout_.channels || layout_.axis != other.layout_.axis))
      return Status::invalid(fmt::format(
          "merge: this observer saw {} channels along axis {}, the other {} along axis {}",
          layout_.channels, layout_.axis, other.layout_.channels, other.layout_.axis));
    *take = n;
    return Status::ok_status();
  }
  void finish_merge(const BoundedObserverBase& other, int64_t taken) {
    batches_ += taken;
    if (!has_layout_ && other.has_layout_) {
      layout_ = other.layout_;
      has_layout_ = true;
    }
  }

  // Granularity checks for compute(): per-channel observers give per-channel encodings along
  // their axis, per-tensor ones per-tensor encodings.
  Status check_spec(const QuantSpec& spec) const {
    if (config_.per_channel)
      return check_spec_granularity(spec, layout_.channels, layout_.rank, layout_.axis);
    return check_spec_granularity(spec, 0, 0, 0);
  }
  Shape param_shape() const { return config_.per_channel ? Shape{layout_.channels} : Shape{}; }

  ObserverConfig config_;
  int batch_limit_ = 0;
  int64_t batches_ = 0;
  bool has_layout_ = false;
  ChannelLayout layout_;
};

}  // namespace quench::calib_internal
