// PowerOfTwoHistogram (histogram.h).
//
// Binning rule, which makes merge() exact:
//   1. With e the current exponent and B = bins_per_side, a value x goes to relative bin
//      r = floor(x * B / 2^e), r in [-B, B) (kSigned) or [0, B) (kAbs, x = |x|). x * B * 2^-e is
//      computed exactly in double (a float has 24 mantissa bits, B < 2^29), so r is exact.
//   2. e is the smallest exponent with max|x| < 2^e (frexp). Ranges are half-open, so a value equal
//      to 2^e needs e + 1.
//   3. When e grows to e + 1, relative bin r becomes floor(r / 2): floor(floor(y) / 2) == floor(y / 2)
//      for every real y, so the coarsened bins are exactly those a fresh histogram at e + 1 would
//      have. Zeros sit in relative bin 0, which stays 0, so they can be counted before any range
//      exists.
//   4. merge() coarsens both sides to the larger exponent and adds the counts.
// Speed: the scale B / 2^e is a power of two, so x * scale is exact in float too (barring results
// below 2^-149, i.e. a negative value 2^162 times smaller than the range, which would land in
// bin 0 instead of -1). Once a range exists, a batch is read once (calib_internal::scan_bin, on
// every thread for large batches): extremes, NaN check and binning together, exact zeros only
// counted, into uint32 scratch copies that are summed into the bins only when the batch turned
// out finite and inside the range. Otherwise (the first batches, a batch that widens the range)
// the extremes are found first, the range grown, and the batch binned with the new exponent.
#include "calib/histogram.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

#include "calib/observer_util.h"
#include "calib/scan.h"
#include "core/parallel.h"

namespace quench {

namespace {

// log2 of a power of two (bins per side), -1 otherwise.
int bins_log2(int b) {
  int k = 0;
  while ((1 << k) < b) ++k;
  return (1 << k) == b ? k : -1;
}

// Smallest e with m < 2^e, for m > 0.
int exponent_for(double m) {
  int k = 0;
  std::frexp(m, &k);  // m = f * 2^k, f in [0.5, 1): m < 2^k
  return k;
}

// floor(v) as an integer, without a libm call in the inner loop.
inline int64_t floor_to_int(double v) {
  int64_t t = static_cast<int64_t>(v);
  return t - (static_cast<double>(t) > v ? 1 : 0);
}

}  // namespace

PowerOfTwoHistogram::PowerOfTwoHistogram(Sides sides, int bins_per_side)
    : sides_(sides), bins_per_side_(bins_per_side) {
  assert(bins_per_side >= 2);
  bins_.assign(static_cast<size_t>(sides == Sides::kAbs ? bins_per_side : 2 * bins_per_side), 0);
}

double PowerOfTwoHistogram::bin_width() const {
  return std::ldexp(1.0, exponent_) / bins_per_side_;
}

double PowerOfTwoHistogram::lower_edge() const {
  return sides_ == Sides::kAbs ? 0.0 : -std::ldexp(1.0, exponent_);
}

float PowerOfTwoHistogram::abs_max() const {
  if (sides_ == Sides::kAbs) return max_;
  return std::max(std::fabs(min_), std::fabs(max_));
}

int64_t PowerOfTwoHistogram::memory_bytes() const {
  return static_cast<int64_t>(sizeof(*this) + bins_.capacity() * sizeof(uint64_t));
}

// Coarsens the bins from exponent_ to `e` (>= exponent_), pairwise per step (step 3).
static void coarsen(std::vector<uint64_t>& bins, PowerOfTwoHistogram::Sides sides, int64_t b,
                    int steps) {
  if (steps <= 0) return;
  const int64_t offset = sides == PowerOfTwoHistogram::Sides::kAbs ? 0 : b;
  std::vector<uint64_t> out(bins.size(), 0);
  for (size_t j = 0; j < bins.size(); ++j) {
    if (bins[j] == 0) continue;
    int64_t r = static_cast<int64_t>(j) - offset;
    // floor(r / 2^steps) for negative r too (arithmetic shift rounds toward -inf).
    int64_t nr = steps >= 62 ? (r < 0 ? -1 : 0) : (r >> steps);
    out[static_cast<size_t>(nr + offset)] += bins[j];
  }
  bins.swap(out);
}

void PowerOfTwoHistogram::note_extremes(float lo, float hi, int64_t n) {
  if (total_ == 0) {
    min_ = lo;
    max_ = hi;
  } else {
    min_ = std::min(min_, lo);
    max_ = std::max(max_, hi);
  }
  total_ += n;
}

bool PowerOfTwoHistogram::add(const float* x, int64_t n) {
  if (n <= 0) return true;
  const int log2b = bins_log2(bins_per_side_);
  auto scan_fits = [&] {
    const int shift = log2b - exponent_;
    return n >= kFastMin && n <= kFastMax && log2b >= 0 && shift >= -100 && shift <= 100;
  };
  float lo, hi;
  if (has_range_ && scan_fits()) {
    // The common case once calibration is under way: the batch fits the range, one pass.
    switch (bin_scanned(x, n, lo, hi)) {
      case BinResult::kAdded:
        note_extremes(lo, hi, n);
        return true;
      case BinResult::kNonFinite:
        return false;
      case BinResult::kOutOfRange:
        break;  // grow the range first, then bin
    }
  }
  // Pass 1: the batch's extremes, to grow the range once, and the finiteness check.
  if (!calib_internal::tensor_min_max(x, n, lo, hi, sides_ == Sides::kAbs)) return false;
  const double m = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
  if (m > 0.0) {
    const int e = exponent_for(m);
    if (!has_range_) {
      exponent_ = e;  // only zeros so far: they sit in relative bin 0 at any exponent
      has_range_ = true;
    } else if (e > exponent_) {
      coarsen(bins_, sides_, bins_per_side_, e - exponent_);
      exponent_ = e;
    }
  }
  note_extremes(lo, hi, n);
  // Pass 2: binning (step 1).
  if (scan_fits()) {
    float lo2, hi2;
    const BinResult r = bin_scanned(x, n, lo2, hi2);
    assert(r == BinResult::kAdded);
    (void)r;
    return true;
  }
  const double scale = std::ldexp(static_cast<double>(bins_per_side_), -exponent_);
  const int64_t b = bins_per_side_;
  uint64_t* bins = bins_.data();
  if (sides_ == Sides::kAbs) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t r = static_cast<int64_t>(std::fabs(static_cast<double>(x[i])) * scale);
      ++bins[r];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      int64_t r = floor_to_int(static_cast<double>(x[i]) * scale);
      ++bins[r + b];
    }
  }
  return true;
}

PowerOfTwoHistogram::BinResult PowerOfTwoHistogram::bin_scanned(const float* x, int64_t n,
                                                                 float& lo, float& hi) {
  const bool kabs = sides_ == Sides::kAbs;
  const int64_t b = bins_per_side_;
  const int64_t nb = static_cast<int64_t>(bins_.size());
  const float scale = std::ldexp(1.0f, bins_log2(bins_per_side_) - exponent_);
  const float t_lo = kabs ? 0.0f : -static_cast<float>(b), t_hi = static_cast<float>(b - 1);
  const int32_t offset = kabs ? 0 : static_cast<int32_t>(b);
  // Scratch counters of the calling thread, all zero between calls: kBinCopies histograms per
  // worker. (A lambda names the executing thread's thread_local: take the pointer here.)
  const int threads = n >= kThreadMin ? std::max(1, num_threads()) : 1;
  const size_t per_thread = static_cast<size_t>(calib_internal::kBinCopies * nb);
  thread_local std::vector<uint32_t> scratch;
  if (scratch.size() < per_thread * static_cast<size_t>(threads))
    scratch.resize(per_thread * static_cast<size_t>(threads), 0u);
  uint32_t* const base = scratch.data();
  std::vector<calib_internal::BinScan> parts(static_cast<size_t>(threads));
  const int64_t chunk = (n + threads - 1) / threads;
  parallel_for(threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t begin = t * chunk, end = std::min(n, begin + chunk);
      if (begin < end)
        parts[static_cast<size_t>(t)] = calib_internal::scan_bin(
            x + begin, end - begin, kabs, scale, t_lo, t_hi, offset,
            base + static_cast<size_t>(t) * per_thread, nb);
    }
  });
  lo = std::numeric_limits<float>::infinity();
  hi = -lo;
  bool finite = true;
  int64_t zeros = 0;
  for (int64_t t = 0; t < threads && t * chunk < n; ++t) {
    const calib_internal::BinScan& p = parts[static_cast<size_t>(t)];
    lo = std::min(lo, p.min);
    hi = std::max(hi, p.max);
    finite &= p.finite;
    zeros += p.zeros;
  }
  const double m = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
  const BinResult result = !finite                                   ? BinResult::kNonFinite
                           : m > 0.0 && exponent_for(m) > exponent_ ? BinResult::kOutOfRange
                                                                     : BinResult::kAdded;
  if (result != BinResult::kAdded) {  // clamped values may sit anywhere: clear it all
    std::fill(base, base + per_thread * static_cast<size_t>(threads), 0u);
    return result;
  }
  // Only bins between the extremes' bins were touched: sum the copies there and clear them.
  auto bin_of = [&](float v) {
    const float t = v * scale;
    const int64_t r = static_cast<int64_t>(t);
    return std::clamp<int64_t>(r - (t < static_cast<float>(r) ? 1 : 0) + offset, 0, nb - 1);
  };
  const int64_t first = bin_of(lo), last = bin_of(hi);
  for (int64_t c = 0; c < threads * calib_internal::kBinCopies; ++c) {
    uint32_t* h = base + static_cast<size_t>(c * nb);
    for (int64_t j = first; j <= last; ++j) bins_[static_cast<size_t>(j)] += h[j];
    std::fill(h + first, h + last + 1, 0u);
  }
  bins_[static_cast<size_t>(offset)] += static_cast<uint64_t>(zeros);
  return BinResult::kAdded;
}

void PowerOfTwoHistogram::merge(const PowerOfTwoHistogram& other) {
  assert(other.sides_ == sides_ && other.bins_per_side_ == bins_per_side_);
  if (other.total_ == 0) return;
  if (total_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  total_ += other.total_;
  if (!other.has_range_) {  // only zeros
    size_t zero_bin = sides_ == Sides::kAbs ? 0 : static_cast<size_t>(bins_per_side_);
    bins_[zero_bin] += other.bins_[zero_bin];
    return;
  }
  if (!has_range_) {
    exponent_ = other.exponent_;
    has_range_ = true;
  }
  const std::vector<uint64_t>* src = &other.bins_;
  std::vector<uint64_t> coarse;
  if (other.exponent_ < exponent_) {
    coarse = other.bins_;
    coarsen(coarse, sides_, bins_per_side_, exponent_ - other.exponent_);
    src = &coarse;
  } else if (other.exponent_ > exponent_) {
    coarsen(bins_, sides_, bins_per_side_, other.exponent_ - exponent_);
    exponent_ = other.exponent_;
  }
  for (size_t j = 0; j < bins_.size(); ++j) bins_[j] += (*src)[j];
}

std::vector<double> PowerOfTwoHistogram::resample(double lo, double hi, int num_bins) const {
  std::vector<double> out(static_cast<size_t>(std::max(num_bins, 1)), 0.0);
  if (total_ == 0 || !(hi > lo) || num_bins <= 0) return out;
  const double w = bin_width();
  const double edge0 = lower_edge();
  const double tw = (hi - lo) / num_bins;
  const int last = num_bins - 1;
  for (size_t j = 0; j < bins_.size(); ++j) {
    if (bins_[j] == 0) continue;
    const double c = static_cast<double>(bins_[j]);
    const double a = edge0 + static_cast<double>(j) * w;
    const double b = a + w;
    // Mass below lo / above hi goes to the end bins.
    if (b <= lo) { out[0] += c; continue; }
    if (a >= hi) { out[static_cast<size_t>(last)] += c; continue; }
    const double density = c / w;
    if (a < lo) out[0] += (lo - a) * density;
    if (b > hi) out[static_cast<size_t>(last)] += (b - hi) * density;
    const double s = std::max(a, lo), t = std::min(b, hi);
    // One bin early, in case (s - lo) / tw rounds up across a target edge.
    int k0 = static_cast<int>(std::floor((s - lo) / tw)) - 1;
    k0 = std::clamp(k0, 0, last);
    for (int k = k0; k <= last; ++k) {
      const double ka = lo + k * tw;
      const double kb = k == last ? hi : lo + (k + 1) * tw;
      if (ka >= t) break;
      const double ov = std::min(kb, t) - std::max(ka, s);
      if (ov > 0) out[static_cast<size_t>(k)] += ov * density;
    }
  }
  return out;
}

}  // namespace quench
