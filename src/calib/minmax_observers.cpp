// Min-max family: kMinMax, kMovingAverageMinMax, kSigma, per tensor or per channel.
//
// kMinMax: running min and max; exact under merge (min / max commute).
//
// kMovingAverageMinMax (PyTorch MovingAverageMinMaxObserver, averaging_constant c = ema_momentum):
//   1. the first batch sets (min, max) to its own extremes;
//   2. each later batch b: min += c * (min_b - min), max += c * (max_b - max), in float32 as torch
//      does.
//   The average depends on batch order, so the observer keeps the per-batch (min_b, max_b) list
//   (8 bytes per batch and channel) and replays it in compute(); merge() appends the other's list,
//   which is the order a single observer would have seen.
//
// kSigma (modelslim data-free "sigma statistic", SPEC C; sigma = config.sigma, an integer):
//   1. sigma == 0: min-max.
//   2. non-negative tensor (min >= 0): alpha = sigma * std(x | x > 0), range [0, alpha];
//   3. signed tensor: alpha = sigma * std(x) / 1.25, range [-alpha, alpha];
//   4. alpha is clamped to the observed range (max, resp. max|x|). The clamp is quench's: taken
//      literally, sigma = 25 gives alpha far beyond any observed value, and a range wider than the
//      data only wastes grid points.
//   std is the population std (numpy's default). Per batch the observer keeps (count, mean, M2) of
//   x and of x > 0 in double (two-pass within the batch); compute() combines them in batch order
//   with Chan's parallel formula, so merge() (list concatenation) is bit-exact. 48 bytes per batch
//   and channel.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "calib/observer_factories.h"
#include "calib/observer_util.h"

namespace quench::calib_internal {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Per-slot (channel, or the whole tensor) min / max of one batch.
// Per tensor, the finiteness check rides on the min / max pass (begin_update skips it): a batch
// with NaN / Inf gets check_batch()'s message and changes nothing.
Status batch_min_max(const Tensor& batch, const ChannelLayout& cl, bool per_channel,
                     std::vector<float>& mn, std::vector<float>& mx) {
  if (per_channel) {
    channel_min_max(batch.data<float>(), cl, mn, mx);
    return Status::ok_status();
  }
  mn.resize(1);
  mx.resize(1);
  if (!tensor_min_max(batch.data<float>(), batch.numel(), mn[0], mx[0])) return check_batch(batch);
  return Status::ok_status();
}

class MinMaxObserver final : public ObserverBase {
 public:
  using ObserverBase::ObserverBase;

  Status update(const Tensor& batch) override {
    if (batch_limit_reached()) return Status::ok_status();
    ChannelLayout cl;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &cl, /*check_finite=*/per_channel()));
    if (batch.numel() == 0) return Status::ok_status();  // adds nothing
    std::vector<float> mn, mx;
    QUENCH_RETURN_IF_ERROR(batch_min_max(batch, cl, per_channel(), mn, mx));
    if (min_.empty()) {
      min_ = mn;
      max_ = mx;
    } else {
      for (size_t i = 0; i < min_.size(); ++i) {
        min_[i] = std::min(min_[i], mn[i]);
        max_[i] = std::max(max_[i], mx[i]);
      }
    }
    end_update(cl);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    QUENCH_ASSIGN_OR_RETURN(const ObserverBase* base, check_merge(other, false));
    const auto& o = static_cast<const MinMaxObserver&>(*base);
    if (min_.empty()) {
      min_ = o.min_;
      max_ = o.max_;
    } else if (!o.min_.empty()) {
      for (size_t i = 0; i < min_.size(); ++i) {
        min_[i] = std::min(min_[i], o.min_[i]);
        max_[i] = std::max(max_[i], o.max_[i]);
      }
    }
    absorb_counts(o);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (min_.empty()) return Status::invalid(kNoDataMessage);
    return encode(spec, min_, max_);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<MinMaxObserver>(config_);
  }
  int64_t memory_bytes() const override {
    return static_cast<int64_t>(sizeof(*this) + (min_.capacity() + max_.capacity()) * 4);
  }

 private:
  std::vector<float> min_, max_;  // per slot; empty before the first batch
};

class MovingAverageObserver final : public ObserverBase {
 public:
  using ObserverBase::ObserverBase;

  Status update(const Tensor& batch) override {
    if (batch_limit_reached()) return Status::ok_status();
    ChannelLayout cl;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &cl, /*check_finite=*/per_channel()));
    if (batch.numel() == 0) return Status::ok_status();  // torch skips empty tensors too
    std::vector<float> mn, mx;
    QUENCH_RETURN_IF_ERROR(batch_min_max(batch, cl, per_channel(), mn, mx));
    history_.insert(history_.end(), mn.begin(), mn.end());
    history_.insert(history_.end(), mx.begin(), mx.end());
    end_update(cl);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    QUENCH_ASSIGN_OR_RETURN(const ObserverBase* base, check_merge(other, true));
    const auto& o = static_cast<const MovingAverageObserver&>(*base);
    const int64_t keep = batches_that_fit(o);
    const size_t per_batch = o.num_batches_ > 0 ? o.history_.size() / o.num_batches_ : 0;
    history_.insert(history_.end(), o.history_.begin(),
                    o.history_.begin() + static_cast<std::ptrdiff_t>(keep * per_batch));
    absorb_counts(o);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (num_batches_ == 0) return Status::invalid(kNoDataMessage);
    const size_t n = static_cast<size_t>(slots());
    const float c = static_cast<float>(config_.ema_momentum);
    std::vector<float> mn(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<float> mx(history_.begin() + static_cast<std::ptrdiff_t>(n),
                          history_.begin() + static_cast<std::ptrdiff_t>(2 * n));
    for (int64_t b = 1; b < num_batches_; ++b) {
      const float* bmn = history_.data() + static_cast<size_t>(b) * 2 * n;
      const float* bmx = bmn + n;
      for (size_t i = 0; i < n; ++i) {
        mn[i] = mn[i] + c * (bmn[i] - mn[i]);
        mx[i] = mx[i] + c * (bmx[i] - mx[i]);
      }
    }
    return encode(spec, mn, mx);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<MovingAverageObserver>(config_);
  }
  int64_t memory_bytes() const override {
    return static_cast<int64_t>(sizeof(*this) + history_.capacity() * sizeof(float));
  }

 private:
  // Per batch: slots() minima, then slots() maxima.
  std::vector<float> history_;
};

// Count, mean and sum of squared deviations of a set of values (Chan et al. merge).
struct Moments {
  double n = 0, mean = 0, m2 = 0;

  void combine(const Moments& o) {
    if (o.n == 0) return;
    if (n == 0) {
      *this = o;
      return;
    }
    const double total = n + o.n;
    const double delta = o.mean - mean;
    mean += delta * (o.n / total);
    m2 += o.m2 + delta * delta * (n * o.n / total);
    n = total;
  }
  double std_dev() const { return n > 0 ? std::sqrt(std::max(0.0, m2 / n)) : 0.0; }
};

// Two-pass moments of channel c of x and of its positive part. Four accumulator lanes (a fixed
// order, so the result depends only on the batch) and no branches, which keeps it fast.
void slot_moments(const float* x, const ChannelLayout& cl, int64_t c, Moments& all,
                  Moments& pos) {
  constexpr int kLanes = 4;
  double sum[kLanes] = {}, sum_pos[kLanes] = {}, n_pos[kLanes] = {};
  auto for_each_block = [&](auto&& body) {
    for (int64_t o = 0; o < cl.outer; ++o) body(x + (o * cl.channels + c) * cl.inner, cl.inner);
  };
  for_each_block([&](const float* p, int64_t len) {
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const double v = p[i + l];
        const double is_pos = v > 0 ? 1.0 : 0.0;
        sum[l] += v;
        sum_pos[l] += v * is_pos;
        n_pos[l] += is_pos;
      }
    for (; i < len; ++i) {
      const double v = p[i];
      sum[0] += v;
      sum_pos[0] += v > 0 ? v : 0.0;
      n_pos[0] += v > 0 ? 1.0 : 0.0;
    }
  });
  const double n = static_cast<double>(cl.outer * cl.inner);
  const double np = (n_pos[0] + n_pos[1]) + (n_pos[2] + n_pos[3]);
  all = Moments{n, n > 0 ? ((sum[0] + sum[1]) + (sum[2] + sum[3])) / n : 0.0, 0.0};
  pos = Moments{np, np > 0 ? ((sum_pos[0] + sum_pos[1]) + (sum_pos[2] + sum_pos[3])) / np : 0.0,
                0.0};
  double m2[kLanes] = {}, m2_pos[kLanes] = {};
  for_each_block([&](const float* p, int64_t len) {
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const double v = p[i + l];
        const double d = v - all.mean, dp = v > 0 ? v - pos.mean : 0.0;
        m2[l] += d * d;
        m2_pos[l] += dp * dp;
      }
    for (; i < len; ++i) {
      const double v = p[i];
      const double d = v - all.mean, dp = v > 0 ? v - pos.mean : 0.0;
      m2[0] += d * d;
      m2_pos[0] += dp * dp;
    }
  });
  all.m2 = (m2[0] + m2[1]) + (m2[2] + m2[3]);
  pos.m2 = (m2_pos[0] + m2_pos[1]) + (m2_pos[2] + m2_pos[3]);
}

class SigmaObserver final : public ObserverBase {
 public:
  using ObserverBase::ObserverBase;

  Status update(const Tensor& batch) override {
    if (batch_limit_reached()) return Status::ok_status();
    ChannelLayout cl;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &cl, /*check_finite=*/per_channel()));
    if (batch.numel() == 0) return Status::ok_status();
    std::vector<float> mn, mx;
    QUENCH_RETURN_IF_ERROR(batch_min_max(batch, cl, per_channel(), mn, mx));
    if (min_.empty()) {
      min_ = mn;
      max_ = mx;
    } else {
      for (size_t i = 0; i < min_.size(); ++i) {
        min_[i] = std::min(min_[i], mn[i]);
        max_[i] = std::max(max_[i], mx[i]);
      }
    }
    if (config_.sigma > 0) {
      for (int64_t c = 0; c < cl.channels; ++c) {
        Moments all, pos;
        slot_moments(batch.data<float>(), cl, c, all, pos);
        history_.push_back(all);
        history_.push_back(pos);
      }
    }
    end_update(cl);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    QUENCH_ASSIGN_OR_RETURN(const ObserverBase* base, check_merge(other, false));
    const auto& o = static_cast<const SigmaObserver&>(*base);
    if (min_.empty()) {
      min_ = o.min_;
      max_ = o.max_;
    } else if (!o.min_.empty()) {
      for (size_t i = 0; i < min_.size(); ++i) {
        min_[i] = std::min(min_[i], o.min_[i]);
        max_[i] = std::max(max_[i], o.max_[i]);
      }
    }
    history_.insert(history_.end(), o.history_.begin(), o.history_.end());
    absorb_counts(o);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (min_.empty()) return Status::invalid(kNoDataMessage);
    if (config_.sigma == 0) return encode(spec, min_, max_);
    const size_t n = min_.size();
    std::vector<Moments> all(n), pos(n);
    for (size_t k = 0; k < history_.size(); k += 2) {  // batch order
      const size_t slot = (k / 2) % n;
      all[slot].combine(history_[k]);
      pos[slot].combine(history_[k + 1]);
    }
    std::vector<float> lo(n), hi(n);
    for (size_t i = 0; i < n; ++i) {
      if (min_[i] >= 0.0f) {
        const double alpha = config_.sigma * pos[i].std_dev();
        lo[i] = 0.0f;
        hi[i] = static_cast<float>(std::min<double>(alpha, max_[i]));
      } else {
        const double amax = std::max(std::fabs(min_[i]), std::fabs(max_[i]));
        const double alpha = std::min(config_.sigma * all[i].std_dev() / 1.25, amax);
        lo[i] = static_cast<float>(-alpha);
        hi[i] = static_cast<float>(alpha);
      }
    }
    return encode(spec, lo, hi);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<SigmaObserver>(config_);
  }
  int64_t memory_bytes() const override {
    return static_cast<int64_t>(sizeof(*this) + (min_.capacity() + max_.capacity()) * 4 +
                                history_.capacity() * sizeof(Moments));
  }

 private:
  std::vector<float> min_, max_;
  // Per batch and slot: moments of x, then of x > 0 (sigma > 0 only).
  std::vector<Moments> history_;
};

}  // namespace

Result<std::unique_ptr<Observer>> make_minmax_observer(const ObserverConfig& c) {
  switch (c.method) {
    case CalibMethod::kMinMax:
      return std::unique_ptr<Observer>(std::make_unique<MinMaxObserver>(c));
    case CalibMethod::kMovingAverageMinMax:
      return std::unique_ptr<Observer>(std::make_unique<MovingAverageObserver>(c));
    case CalibMethod::kSigma:
      return std::unique_ptr<Observer>(std::make_unique<SigmaObserver>(c));
    default:
      return Status::internal(fmt::format("make_minmax_observer: method {} is not a min-max method",
                                          calib_method_name(c.method)));
  }
}

}  // namespace quench::calib_internal
