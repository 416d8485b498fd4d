// quench calib: the mergeable histogram every histogram observer is built on.
//
// Bins cover [-2^e, 2^e) (two-sided) or [0, 2^e) (|x|, one-sided) with a fixed number of bins per
// side; e is the smallest exponent whose half-open range holds every value seen (a value of exactly
// 2^e moves the range to e + 1). When a new value needs a
// larger range, e grows by one and bins merge pairwise, which is exact: a bin at exponent e counts
// exactly the values in [j * w_e, (j + 1) * w_e). So the histogram depends only on the multiset of
// values seen, not on their order or on how batches were split across observers, and merge() is
// bit-exact. The exact min and max are tracked beside the bins.
//
// Methods that want "N bins over [0, amax]" (TensorRT / vai_q entropy, MSE, percentile) or
// "N bins over [min, max]" (PyTorch, AMCT HFMG) ask for resample(), which redistributes the counts
// assuming uniform density inside each fine bin. With kFineBinsPerSide = 8192 the fine bins are at
// least 4x finer than a 2048-bin target, so resampling moves a count by at most a quarter of a
// target bin.
//
//   PowerOfTwoHistogram h(PowerOfTwoHistogram::Sides::kAbs);
//   h.add(batch.data<float>(), batch.numel());
//   std::vector<double> counts = h.resample(0.0, h.abs_max(), 2048);
#pragma once

#include <cstdint>
#include <vector>

namespace quench {

class PowerOfTwoHistogram {
 public:
  static constexpr int kFineBinsPerSide = 8192;
  enum class Sides { kAbs, kSigned };  // |x| over [0, 2^e], or x over [-2^e, 2^e]

  explicit PowerOfTwoHistogram(Sides sides = Sides::kSigned, int bins_per_side = kFineBinsPerSide);

  // Adds the values and returns true, or returns false and adds nothing when x holds a NaN or an
  // Inf (found in the same pass as the batch's extremes).
  [[nodiscard]] bool add(const float* x, int64_t n);
  // Exact: the result equals a histogram that saw both inputs. Both must have the same Sides and
  // bins_per_side.
  void merge(const PowerOfTwoHistogram& other);

  int64_t total() const { return total_; }
  bool empty() const { return total_ == 0; }
  float min() const { return min_; }      // exact smallest value seen (of |x| for kAbs)
  float max() const { return max_; }      // exact largest value seen (of |x| for kAbs)
  float abs_max() const;                  // max(|min|, |max|)
  int exponent() const { return exponent_; }
  Sides sides() const { return sides_; }
  int bins_per_side() const { return bins_per_side_; }
  // Fine bins, lowest first: bins_per_side (kAbs) or 2 * bins_per_side (kSigned) counts.
  const std::vector<uint64_t>& bins() const { return bins_; }
  double bin_width() const;               // 2^e / bins_per_side
  double lower_edge() const;              // 0 (kAbs) or -2^e (kSigned)

  // Counts redistributed onto `num_bins` equal bins over [lo, hi] (uniform density inside each fine
  // bin); mass outside [lo, hi] is added to the first / last bin. hi > lo.
  std::vector<double> resample(double lo, double hi, int num_bins) const;

  int64_t memory_bytes() const;

 private:
  static constexpr int64_t kFastMin = 4096;           // smaller batches take the plain loop
  static constexpr int64_t kFastMax = int64_t{1} << 31;  // uint32 scratch counters
  static constexpr int64_t kThreadMin = int64_t{1} << 16;  // batches binned on every thread
  enum class BinResult { kAdded, kNonFinite, kOutOfRange };
  // Bins x at the current exponent in one pass that also finds the extremes (lo, hi); adds
  // nothing unless every value is finite and inside the range.
  BinResult bin_scanned(const float* x, int64_t n, float& lo, float& hi);
  void note_extremes(float lo, float hi, int64_t n);

  Sides sides_;
  int bins_per_side_;
  int exponent_ = 0;        // meaningful once a non-zero value was seen
  bool has_range_ = false;  // false until the first non-zero value
  int64_t total_ = 0;
  float min_ = 0.0f, max_ = 0.0f;
  std::vector<uint64_t> bins_;
};

}  // namespace quench
