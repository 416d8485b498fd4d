// Per-batch statistics (vai_q calib_statistic_method): modal / max / mean / median over batches.
//
//   1. Each batch goes to a fresh inner observer (the same config with batch_statistic = kNone);
//      the inner observers are kept, because the spec (bits, scale type...) is known only at
//      compute(). Memory: the inner observers' bytes, i.e. per batch 16 bytes + 8 per channel for
//      min-max methods, 128 KiB for histogram methods (documented cost of combining per-batch
//      statistics with histogram methods).
//   2. compute(spec) computes every batch's encoding, then per parameter element:
//      - power-of-two scales: reduces the fix positions: modal = the most frequent (ties: the
//        smallest fix position, i.e. the widest range), max = the widest range (smallest fix
//        position), mean = round(mean), median = the middle one (even count: round of the mean of
//        the two middle ones); rounding is half away from zero;
//      - float scales, symmetric: reduces the scales: max, mean, median (even count: mean of the
//        middle two);
//      - float scales, asymmetric: reduces each end of the encoded range [range_min, range_max]
//        (max = the widest: smallest min, largest max) and encodes the result again;
//      modal is rejected for float scales, as vai_q does (SPEC B: "modal rejected").
//      The reduced fix positions / ranges are encoded again with the spec.
//   3. merge() appends the other's inner observers, in order.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "calib/observer_factories.h"
#include "calib/observer_util.h"

namespace quench::calib_internal {

namespace {

double reduce_values(std::vector<double> v, BatchStatistic s) {
  switch (s) {
    case BatchStatistic::kMean: {
      double sum = 0;
      for (double x : v) sum += x;
      return sum / static_cast<double>(v.size());
    }
    case BatchStatistic::kMedian: {
      std::sort(v.begin(), v.end());
      const size_t m = v.size() / 2;
      return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    }
    default:
      return v.empty() ? 0 : v[0];
  }
}

class BatchStatisticObserver final : public ObserverBase {
 public:
  BatchStatisticObserver(ObserverConfig config, ObserverConfig inner)
      : ObserverBase(std::move(config)), inner_config_(std::move(inner)) {}

  Status update(const Tensor& batch) override {
    if (batch_limit_reached()) return Status::ok_status();
    ChannelLayout cl;
    QUENCH_RETURN_IF_ERROR(begin_update(batch, &cl));
    if (batch.numel() == 0) return Status::ok_status();
    QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<Observer> obs, make_observer(inner_config_));
    QUENCH_RETURN_IF_ERROR(obs->update(batch));
    batches_.push_back(std::move(obs));
    end_update(cl);
    return Status::ok_status();
  }

  Status merge(const Observer& other) override {
    QUENCH_ASSIGN_OR_RETURN(const ObserverBase* base, check_merge(other, true));
    const auto& o = static_cast<const BatchStatisticObserver&>(*base);
    const int64_t keep = batches_that_fit(o);
    for (int64_t b = 0; b < keep; ++b) {
      std::unique_ptr<Observer> copy = o.batches_[static_cast<size_t>(b)]->clone_empty();
      QUENCH_RETURN_IF_ERROR(copy->merge(*o.batches_[static_cast<size_t>(b)]));
      batches_.push_back(std::move(copy));
    }
    absorb_counts(o);
    return Status::ok_status();
  }

  Result<Encoding> compute(const QuantSpec& spec) const override {
    if (batches_.empty()) return Status::invalid(kNoDataMessage);
    const bool pow2 = spec.is_int() && spec.scale_type == ScaleType::kPowerOfTwo;
    const BatchStatistic stat = config_.batch_statistic;
    if (!pow2 && stat == BatchStatistic::kModal)
      return Status::invalid(
          "observer.batch_statistic: modal needs power-of-two scales (fix positions); use max, "
          "mean or median with " + spec.describe());
    std::vector<Encoding> encodings;
    encodings.reserve(batches_.size());
    for (size_t b = 0; b < batches_.size(); ++b) {
      Result<Encoding> e = batches_[b]->compute(spec);
      if (!e.ok()) return e.status().with_context(fmt::format("batch {}", b));
      encodings.push_back(std::move(e).value());
    }
    const Encoding& first = encodings[0];
    const int64_t params = first.num_params();
    if (pow2 && first.fix_pos.size() == static_cast<size_t>(params)) {
      std::vector<int32_t> fp(static_cast<size_t>(params));
      for (int64_t i = 0; i < params; ++i) {
        std::vector<int32_t> v;
        for (const Encoding& e : encodings) v.push_back(e.fix_pos[static_cast<size_t>(i)]);
        fp[static_cast<size_t>(i)] = reduce_fix_pos(v, stat);
      }
      return encoding_from_fix_pos(spec, fp, first.param_shape);
    }
    if (first.spec.symmetric && first.spec.is_int()) {
      // Symmetric: the scales themselves are reduced (zero points are 0).
      Encoding out = first;
      for (int64_t i = 0; i < params; ++i) {
        std::vector<double> scales;
        for (const Encoding& e : encodings) scales.push_back(e.scale[static_cast<size_t>(i)]);
        out.scale[static_cast<size_t>(i)] = static_cast<float>(
            stat == BatchStatistic::kMax ? *std::max_element(scales.begin(), scales.end())
                                         : reduce_values(scales, stat));
      }
      return out;
    }
    std::vector<float> lo(static_cast<size_t>(params)), hi(static_cast<size_t>(params));
    for (int64_t i = 0; i < params; ++i) {
      std::vector<double> mins, maxs;
      for (const Encoding& e : encodings) {
        mins.push_back(e.range_min(i));
        maxs.push_back(e.range_max(i));
      }
      if (stat == BatchStatistic::kMax) {
        lo[static_cast<size_t>(i)] = static_cast<float>(*std::min_element(mins.begin(), mins.end()));
        hi[static_cast<size_t>(i)] = static_cast<float>(*std::max_element(maxs.begin(), maxs.end()));
      } else {
        lo[static_cast<size_t>(i)] = static_cast<float>(reduce_values(mins, stat));
        hi[static_cast<size_t>(i)] = static_cast<float>(reduce_values(maxs, stat));
      }
    }
    return encoding_from_range(spec, lo, hi, first.param_shape);
  }

  std::unique_ptr<Observer> clone_empty() const override {
    return std::make_unique<BatchStatisticObserver>(config_, inner_config_);
  }
  int64_t memory_bytes() const override {
    int64_t bytes = sizeof(*this) + static_cast<int64_t>(batches_.capacity() * sizeof(void*));
    for (const auto& b : batches_) bytes += b->memory_bytes();
    return bytes;
  }

 private:
  static int32_t reduce_fix_pos(const std::vector<int32_t>& v, BatchStatistic s) {
    switch (s) {
      case BatchStatistic::kModal: {
        std::map<int32_t, int> counts;  // ordered: the first best is the smallest fix position
        for (int32_t x : v) ++counts[x];
        int32_t best = v[0];
        int best_count = 0;
        for (const auto& [x, c] : counts)
          if (c > best_count) {
            best = x;
            best_count = c;
          }
        return best;
      }
      case BatchStatistic::kMax:
        return *std::min_element(v.begin(), v.end());
      default: {
        std::vector<double> d(v.begin(), v.end());
        return static_cast<int32_t>(std::round(reduce_values(d, s)));
      }
    }
  }

  ObserverConfig inner_config_;
  std::vector<std::unique_ptr<Observer>> batches_;  // one inner observer per batch, in order
};

}  // namespace

Result<std::unique_ptr<Observer>> make_batch_statistic_observer(const ObserverConfig& c) {
  ObserverConfig inner = c;
  inner.batch_statistic = BatchStatistic::kNone;
  inner.batch_num = 0;  // the wrapper counts batches
  return std::unique_ptr<Observer>(std::make_unique<BatchStatisticObserver>(c, inner));
}

}  // namespace quench::calib_internal
