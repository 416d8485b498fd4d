#include "calib/observer_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <typeinfo>

#include "calib/scan.h"
#include "core/parallel.h"

namespace quench::calib_internal {

namespace {
// Batches below this many elements are scanned on one thread.
constexpr int64_t kParallelMin = int64_t{1} << 16;
}  // namespace

void sort_floats(std::vector<float>& v) {
  const size_t n = v.size();
  if (n < 4096) {
    std::sort(v.begin(), v.end());
    return;
  }
  std::vector<uint32_t> key(n), tmp(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], sizeof u);
    key[i] = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  }
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  for (int shift = 0; shift < 32; shift += kBits) {
    std::vector<size_t> count(kBuckets + 1, 0);
    for (uint32_t k : key) ++count[((k >> shift) & (kBuckets - 1)) + 1];
    for (int b = 0; b < kBuckets; ++b) count[static_cast<size_t>(b) + 1] += count[static_cast<size_t>(b)];
    for (uint32_t k : key) tmp[count[(k >> shift) & (kBuckets - 1)]++] = k;
    key.swap(tmp);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = key[i];
    const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    std::memcpy(&v[i], &u, sizeof u);
  }
}

std::string format_number(double v) { return fmt::format("{}", v); }

Status check_batch(const Tensor& batch, bool check_finite) {
  if (!batch.defined()) return Status::invalid("the batch is an undefined tensor");
  if (batch.dtype() != DType::kFloat32)
    return Status::invalid("the batch is " + batch.describe() + ", observers take float32");
  if (!batch.is_plain())
    return Status::invalid("the batch " + batch.describe() + " is not in the plain layout");
  if (!check_finite) return Status::ok_status();
  const int64_t bad = first_non_finite(batch.data<float>(), batch.numel());
  if (bad >= 0) {
    const float v = batch.data<float>()[bad];
    const char* what = std::isnan(v) ? "NaN" : (v > 0 ? "Inf" : "-Inf");
    return Status::invalid(
        fmt::format("element {} is {} (calibration data must be finite)", bad, what));
  }
  return Status::ok_status();
}

Result<ChannelLayout> channel_layout(const Shape& shape, int axis) {
  const int rank = static_cast<int>(shape.size());
  if (axis < -rank || axis >= rank)
    return Status::invalid(fmt::format("channel axis {} is out of range for a rank-{} batch {}",
                                       axis, rank, shape_to_string(shape)));
  ChannelLayout cl;
  cl.rank = rank;
  cl.axis = axis < 0 ? axis + rank : axis;
  for (int i = 0; i < cl.axis; ++i) cl.outer *= shape[static_cast<size_t>(i)];
  cl.channels = shape[static_cast<size_t>(cl.axis)];
  for (int i = cl.axis + 1; i < rank; ++i) cl.inner *= shape[static_cast<size_t>(i)];
  return cl;
}

bool tensor_min_max(const float* x, int64_t n, float& min, float& max, bool abs) {
  if (n < kParallelMin) return scan_min_max(x, n, abs, min, max);
  // min / max do not depend on the split.
  const int chunks = std::max(1, num_threads());
  std::vector<float> lo(static_cast<size_t>(chunks), std::numeric_limits<float>::infinity());
  std::vector<float> hi(static_cast<size_t>(chunks), -std::numeric_limits<float>::infinity());
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  const int64_t per = (n + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const size_t k = static_cast<size_t>(c);
      const int64_t b = c * per, e = std::min(n, b + per);
      if (b < e) finite[k] = scan_min_max(x + b, e - b, abs, lo[k], hi[k]);
    }
  });
  min = *std::min_element(lo.begin(), lo.end());
  max = *std::max_element(hi.begin(), hi.end());
  return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; });
}

void channel_min_max(const float* x, const ChannelLayout& cl, std::vector<float>& min,
                     std::vector<float>& max) {
  const size_t c_count = static_cast<size_t>(cl.channels);
  min.assign(c_count, std::numeric_limits<float>::infinity());
  max.assign(c_count, -std::numeric_limits<float>::infinity());
  for (int64_t o = 0; o < cl.outer; ++o) {
    for (int64_t c = 0; c < cl.channels; ++c) {
      const float* p = x + (o * cl.channels + c) * cl.inner;
      float lo, hi;
      tensor_min_max(p, cl.inner, lo, hi);
      min[static_cast<size_t>(c)] = std::min(min[static_cast<size_t>(c)], lo);
      max[static_cast<size_t>(c)] = std::max(max[static_cast<size_t>(c)], hi);
    }
  }
}

void gather_channel(const float* x, const ChannelLayout& cl, int64_t c, std::vector<float>& out) {
  out.resize(static_cast<size_t>(cl.outer * cl.inner));
  float* dst = out.data();
  for (int64_t o = 0; o < cl.outer; ++o) {
    const float* p = x + (o * cl.channels + c) * cl.inner;
    std::copy(p, p + cl.inner, dst + o * cl.inner);
  }
}

Status check_spec_granularity(const QuantSpec& spec, int64_t num_channels, int rank, int axis) {
  if (spec.granularity == Granularity::kPerBlock)
    return Status::unsupported("observers compute per-tensor or per-channel encodings, not "
                               "per-block (" + spec.describe() + ")");
  if (num_channels == 0) {
    if (spec.granularity != Granularity::kPerTensor)
      return Status::invalid("a per-tensor observer cannot give the per-channel encoding " +
                             spec.describe() + " (set observer.per_channel)");
    return Status::ok_status();
  }
  if (spec.granularity != Granularity::kPerChannel)
    return Status::invalid(fmt::format(
        "a per-channel observer ({} channels) cannot give the per-tensor encoding {}",
        num_channels, spec.describe()));
  if (rank > 0) {
    const int spec_axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
    if (spec_axis != axis)
      return Status::invalid(fmt::format(
          "the spec's channel axis {} differs from the observer's axis {} (rank {})", spec.axis,
          axis, rank));
  }
  return Status::ok_status();
}

Result<Encoding> encode_ranges(const QuantSpec& spec, const std::vector<float>& min,
                               const std::vector<float>& max, bool per_channel, int rank,
                               int axis) {
  QUENCH_RETURN_IF_ERROR(check_spec_granularity(
      spec, per_channel ? static_cast<int64_t>(min.size()) : 0, rank, axis));
  Shape param_shape;
  if (per_channel) param_shape = {static_cast<int64_t>(min.size())};
  return encoding_from_range(spec, min, max, param_shape);
}

Result<Encoding> encode_thresholds(const QuantSpec& spec, const std::vector<float>& threshold,
                                   const std::vector<float>& data_min, bool per_channel,
                                   int rank, int axis) {
  std::vector<float> lo(threshold.size()), hi(threshold.size());
  for (size_t i = 0; i < threshold.size(); ++i) {
    const bool non_negative = i < data_min.size() && data_min[i] >= 0.0f;
    lo[i] = non_negative ? 0.0f : -threshold[i];
    hi[i] = threshold[i];
  }
  return encode_ranges(spec, lo, hi, per_channel, rank, axis);
}

bool same_observer_config(const ObserverConfig& a, const ObserverConfig& b) {
  return a.method == b.method && a.batch_statistic == b.batch_statistic &&
         a.per_channel == b.per_channel && a.axis == b.axis && a.batch_num == b.batch_num &&
         a.ema_momentum == b.ema_momentum && a.percentile == b.percentile &&
         a.num_bins == b.num_bins && a.num_quantized_bins == b.num_quantized_bins &&
         a.sigma == b.sigma && a.ifmr_max_percentile == b.ifmr_max_percentile &&
         a.ifmr_min_percentile == b.ifmr_min_percentile &&
         a.ifmr_search_start == b.ifmr_search_start && a.ifmr_search_end == b.ifmr_search_end &&
         a.ifmr_search_step == b.ifmr_search_step;
}

Status ObserverBase::begin_update(const Tensor& batch, ChannelLayout* cl, bool check_finite) {
  QUENCH_RETURN_IF_ERROR(check_batch(batch, check_finite));
  if (!config_.per_channel) {
    *cl = ChannelLayout{batch.rank(), 0, 1, 1, batch.numel()};
    return Status::ok_status();
  }
  QUENCH_ASSIGN_OR_RETURN(*cl, channel_layout(batch.shape(), config_.axis));
  if (channels_ == 0 && num_batches_ == 0) return Status::ok_status();
  if (cl->rank != rank_ || cl->channels != channels_)
    return Status::invalid(fmt::format(
        "the batch {} has {} channels along axis {} (rank {}); earlier batches had {} (rank {})",
        batch.describe(), cl->channels, config_.axis, cl->rank, channels_, rank_));
  return Status::ok_status();
}

void ObserverBase::end_update(const ChannelLayout& cl) {
  if (num_batches_ == 0 && channels_ == 0) {
    rank_ = cl.rank;
    if (config_.per_channel) {
      axis_ = cl.axis;
      channels_ = cl.channels;
    }
  }
  ++num_batches_;
}

Result<const ObserverBase*> ObserverBase::check_merge(const Observer& other,
                                                      bool may_truncate) const {
  if (&other == this) return Status::invalid("an observer cannot merge itself");
  const auto* o = dynamic_cast<const ObserverBase*>(&other);
  if (o == nullptr || typeid(*o) != typeid(*this) ||
      !same_observer_config(o->config_, config_))
    return Status::invalid(fmt::format(
        "cannot merge a {} observer into a {} observer: merge needs observers made from the same "
        "config", calib_method_name(other.config().method), calib_method_name(config_.method)));
  if (config_.per_channel && channels_ != 0 && o->channels_ != 0 &&
      (o->channels_ != channels_ || o->rank_ != rank_))
    return Status::invalid(fmt::format(
        "cannot merge an observer of {} channels (rank {}) into one of {} channels (rank {})",
        o->channels_, o->rank_, channels_, rank_));
  if (!may_truncate && config_.batch_num > 0 &&
      num_batches_ + o->num_batches_ > config_.batch_num)
    return Status::invalid(fmt::format(
        "observer.batch_num: merging {} batches into an observer holding {} would exceed the "
        "limit of {}; give each part at most its share of the batches",
        o->num_batches_, num_batches_, config_.batch_num));
  return o;
}

int64_t ObserverBase::batches_that_fit(const ObserverBase& other) const {
  if (config_.batch_num <= 0) return other.num_batches_;
  return std::clamp<int64_t>(config_.batch_num - num_batches_, 0, other.num_batches_);
}

void ObserverBase::absorb_counts(const ObserverBase& other) {
  num_batches_ += batches_that_fit(other);
  if (channels_ == 0 && other.channels_ != 0) {
    channels_ = other.channels_;
    rank_ = other.rank_;
    axis_ = other.axis_;
  }
}

Result<Encoding> ObserverBase::encode(const QuantSpec& spec, const std::vector<float>& min,
                                      const std::vector<float>& max) const {
  return encode_ranges(spec, min, max, config_.per_channel, rank_, axis_);
}

Result<Encoding> ObserverBase::encode_threshold(const QuantSpec& spec,
                                                const std::vector<float>& threshold,
                                                const std::vector<float>& data_min) const {
  return encode_thresholds(spec, threshold, data_min, config_.per_channel, rank_, axis_);
}

}  // namespace quench::calib_internal

namespace quench {

int64_t first_non_finite(const float* x, int64_t n) {
  if (n < calib_internal::kParallelMin) return calib_internal::scan_first_non_finite(x, n);
  // Chunks in parallel; the first bad index of the lowest chunk wins, as in the serial scan.
  const int chunks = std::max(1, num_threads());
  std::vector<int64_t> found(static_cast<size_t>(chunks), -1);
  const int64_t per = (n + chunks - 1) / chunks;
  parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t b = c * per, e = std::min(n, b + per);
      if (b >= e) continue;
      const int64_t i = calib_internal::scan_first_non_finite(x + b, e - b);
      found[static_cast<size_t>(c)] = i < 0 ? -1 : b + i;
    }
  });
  for (int64_t f : found)
    if (f >= 0) return f;
  return -1;
}

}  // namespace quench
