// quench calib (internal): helpers every observer family shares.
//
// - check_batch(): a batch must be a defined, plain float32 tensor with only finite values; the
//   error names the first bad flat element index (the caller adds tensor name and batch index).
// - ChannelLayout: a tensor seen as [outer, channels, inner] around the channel axis, for
//   per-channel statistics; channel_min_max() reduces one batch per channel, gather_channel()
//   copies one channel's values out (bounded by one batch).
// - encode_ranges() / encode_thresholds(): the last step of every observer, [min, max] per
//   parameter -> Encoding via encoding_from_range, checking that the spec's granularity matches
//   the observer's (per-tensor observer -> per-tensor spec, per-channel -> per-channel).
//
//   QUENCH_RETURN_IF_ERROR(check_batch(batch));
//   QUENCH_ASSIGN_OR_RETURN(ChannelLayout cl, channel_layout(batch.shape(), config.axis));
//   channel_min_max(batch.data<float>(), cl, mins, maxs);           // mins/maxs: cl.channels each
//   return encode_ranges(spec, mins, maxs, /*per_channel=*/true, cl.rank);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "calib/observer.h"
#include "core/status.h"
#include "core/tensor.h"
#include "quant/encoding.h"
#include "quant/quant_config.h"

namespace quench::calib_internal {

// The message every observer returns from compute() when it saw nothing.
inline constexpr const char* kNoDataMessage = "no calibration data was observed";

// kInvalid unless `batch` is defined, plain and float32 and every element is finite:
// "element 17 is NaN (calibration data must be finite)" / "element 3 is Inf (...)" / "-Inf".
// With check_finite false only the form is checked: for observers whose first pass over the data
// (tensor_min_max, PowerOfTwoHistogram::add) finds NaN / Inf anyway and then call check_batch()
// for the message.
Status check_batch(const Tensor& batch, bool check_finite = true);
// (The first NaN / Inf of a buffer: quench::first_non_finite, calib/observer.h.)

struct ChannelLayout {
  int rank = 0;
  int axis = 0;           // normalised to [0, rank)
  int64_t outer = 1;      // product of the dims before axis
  int64_t channels = 1;   // dim(axis)
  int64_t inner = 1;      // product of the dims after axis
};
// kInvalid when axis is outside [-rank, rank) ("axis 3 is out of range for a rank-2 batch").
Result<ChannelLayout> channel_layout(const Shape& shape, int axis);

// min / max of x (of |x| when `abs`) over everything (n > 0), on every thread for large n.
// Returns false when x holds a NaN or an Inf: the check costs nothing in the same pass.
bool tensor_min_max(const float* x, int64_t n, float& min, float& max, bool abs = false);
// Ascending sort of NaN-free floats by LSD radix on keys that order like the values (three passes
// of 11 bits), several times faster than std::sort on the millions of values IFMR keeps; -0 sorts
// before +0, which compare equal.
void sort_floats(std::vector<float>& v);
// Per-channel min / max of one batch; `min` / `max` are resized to cl.channels and overwritten.
void channel_min_max(const float* x, const ChannelLayout& cl, std::vector<float>& min,
                     std::vector<float>& max);
// The values of channel c of x, in memory order, into `out` (resized).
void gather_channel(const float* x, const ChannelLayout& cl, int64_t c, std::vector<float>& out);

// Checks that `spec` suits an observer that is per-channel (`num_channels` params, rank `rank`
// data, channel axis `axis` normalised) or per-tensor (num_channels == 0): per-block specs are
// kUnsupported, a granularity mismatch or a different axis is kInvalid.
Status check_spec_granularity(const QuantSpec& spec, int64_t num_channels, int rank, int axis);

// [min_i, max_i] -> Encoding via encoding_from_range, after check_spec_granularity. Per-tensor:
// one range, param_shape {}; per-channel: one per channel, param_shape {C}.
Result<Encoding> encode_ranges(const QuantSpec& spec, const std::vector<float>& min,
                               const std::vector<float>& max, bool per_channel, int rank = 0,
                               int axis = 0);

// A symmetric clipping threshold T_i per parameter -> range [-T_i, T_i], or [0, T_i] when the data
// seen had no negative value (data_min_i >= 0), then encode_ranges.
Result<Encoding> encode_thresholds(const QuantSpec& spec, const std::vector<float>& threshold,
                                   const std::vector<float>& data_min, bool per_channel,
                                   int rank = 0, int axis = 0);

// "0.1" style shortest round-trip formatting for messages.
std::string format_number(double v);

// Field-by-field equality of two observer configs (merge() accepts only identical ones).
bool same_observer_config(const ObserverConfig& a, const ObserverConfig& b);

// The bookkeeping every observer needs: config, batch count, batch_num limit, and the channel
// layout (per-channel observers need the same rank and channel count in every batch).
//
//   Status update(const Tensor& batch) override {
//     if (batch_limit_reached()) return Status::ok_status();   // batch_num batches already used
//     ChannelLayout cl;
//     QUENCH_RETURN_IF_ERROR(begin_update(batch, &cl));       // checks finite + layout
//     ... accumulate ...
//     end_update(cl);                                          // counts the batch
//   }
class ObserverBase : public Observer {
 public:
  explicit ObserverBase(ObserverConfig config) : config_(std::move(config)) {}
  const ObserverConfig& config() const override { return config_; }
  int64_t num_batches() const override { return num_batches_; }

 protected:
  bool per_channel() const { return config_.per_channel; }
  bool batch_limit_reached() const {
    return config_.batch_num > 0 && num_batches_ >= config_.batch_num;
  }
  // check_batch(), then (per-channel) the channel layout, which must agree with earlier batches.
  // For per-tensor observers *cl is one channel: {rank, axis 0, outer 1, channels 1, inner numel}.
  Status begin_update(const Tensor& batch, ChannelLayout* cl, bool check_finite = true);
  // Counts the batch and (first batch) records its channel layout.
  void end_update(const ChannelLayout& cl);
  // Checks that `other` has the same dynamic type as *this (by typeid), the same config, a
  // compatible channel layout, and that the batches together respect batch_num (when
  // `may_truncate` is false). Returns the other as ObserverBase.
  Result<const ObserverBase*> check_merge(const Observer& other, bool may_truncate) const;
  // Takes over the other's batch count and layout (after a successful merge of the data).
  void absorb_counts(const ObserverBase& other);
  // Number of the other's batches that still fit under batch_num (all when unlimited).
  int64_t batches_that_fit(const ObserverBase& other) const;
  // Rank, axis and channels of the per-channel layout; channels 0 = per-tensor or no data yet.
  int rank() const { return rank_; }
  int axis() const { return axis_; }
  int64_t channels() const { return channels_; }
  // Number of statistics slots: channels() for per-channel, 1 for per-tensor.
  int64_t slots() const { return config_.per_channel ? channels_ : 1; }
  // encode_ranges / encode_thresholds with this observer's granularity.
  Result<Encoding> encode(const QuantSpec& spec, const std::vector<float>& min,
                          const std::vector<float>& max) const;
  Result<Encoding> encode_threshold(const QuantSpec& spec, const std::vector<float>& threshold,
                                    const std::vector<float>& data_min) const;

  ObserverConfig config_;
  int64_t num_batches_ = 0;
  int rank_ = 0;
  int axis_ = 0;
  int64_t channels_ = 0;
};

}  // namespace quench::calib_internal
