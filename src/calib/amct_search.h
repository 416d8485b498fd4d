// quench calib (internal): the range searches of Ascend AMCT, IFMR and HFMG, on plain data.
//
// amct_observers.cpp collects the data (IFMR: the values of the first batch_num batches; HFMG: a
// mergeable histogram) and calls these. They are separate so that tests can feed hand-made inputs.
// The rules are SPEC.md A.1-A.3, checked against hicann/amct (amct_pytorch custom_op ifmr / hfmg
// and their CPU kernels).
//
// AMCT's grid is the signed [-2^(b-1), 2^(b-1) - 1] with q = round(x / scale) + offset; quench
// writes the offset as the Encoding's zero_point and takes the grid from the spec (qmin / qmax),
// which gives AMCT's numbers on AMCT's grid and the same float grid on an unsigned one.
//
//   std::sort(values.begin(), values.end());
//   AmctParams p = ifmr_search(values, IfmrOptions::from(config), spec);
//   AmctParams h = hfmg_search(counts, data_min, data_max, total, spec);
#pragma once

#include <cstdint>
#include <utility>
#include <limits>
#include <vector>

#include "quant/encoding.h"
#include "quant/quant_config.h"

namespace quench::calib_internal {

struct AmctParams {
  float scale = 1.0f;
  int32_t zero_point = 0;  // AMCT's offset
};

// A.1: the scale / offset of a clipping range. Asymmetric: the range is widened to hold 0,
// scale = (max - min) / (qmax - qmin), zero_point = qmin - round(min / scale) (std::round).
// Symmetric: m = (|max| > |min|) ? max : min; scale = m / qmax when m > 0, else -m / -qmin
// (127, or 128 for a negative-dominant range on int8; a tie goes to min, as AMCT's kernels do).
// Degenerate: scale < FLT_EPSILON becomes 1 (the asymmetric zero point then is qmin - round(min)).
AmctParams amct_scale_offset(double clip_min, double clip_max, const QuantSpec& spec);

struct IfmrOptions {
  float max_percentile = 0.999999f;
  float min_percentile = 0.999999f;
  float search_start = 0.7f;
  float search_end = 1.3f;
  float search_step = 0.01f;
  static IfmrOptions from(const ObserverConfig& c);
};

// Candidates tried: int((end - start) / step + 1), in float as AMCT computes it (60 by default).
int ifmr_num_candidates(const IfmrOptions& o);
// A.2 step 2: k = N - int(pct * N) (float arithmetic), or 1 when 1 - pct < FLT_EPSILON; clamped
// to [1, N].
int64_t ifmr_percentile_k(float pct, int64_t n);
// A.2 steps 2-5 on `sorted` (ascending, non-empty). `loss` (optional) receives the MSE of every
// candidate.
AmctParams ifmr_search(const std::vector<float>& sorted, const IfmrOptions& o,
                       const QuantSpec& spec, std::vector<double>* loss = nullptr);

// IFMR's loss sum over (q(x) - x)^2, q(x) = round(clamp(x, lo, hi) / scale) * scale in float, on
// sorted values without a pass over all of them: q is constant on runs of the sorted values (found
// by binary search), and a run's squared error comes from the moments of its whole blocks of
// kBlock values, taken about each block's first value, plus its partial blocks one by one. Within
// 1e-9 relative of the plain sum (tested), at about 1/kBlock of its cost.
struct IfmrSortedSums {
  explicit IfmrSortedSums(const std::vector<float>& sorted);
  double loss(float lo, float hi, float scale) const;
  double run_loss(size_t a, size_t b, double q) const;  // sum over x[a, b) of (q - x)^2

  static constexpr size_t kBlock = 64;
  struct Block {
    double x0 = 0, s1 = 0, s2 = 0;  // first value; sums of (x - x0) and (x - x0)^2
  };
  const std::vector<float>& x;
  std::vector<Block> block;  // block[b]: x[b * kBlock, (b + 1) * kBlock)
};

// A.3 search: the (left, right) candidates, trimming from the side whose cursor moved less while
// passing max(ceil(total / 100000), 1) counts, until right - left <= ceil(nbins / 4).
std::vector<std::pair<int, int>> hfmg_candidates(const std::vector<double>& counts, int64_t total);
// A.3 loss: L2 error of mapping the source bins onto `dst_bins` equal bins over
// [left, right + 1) bins (bin width `width`); source bins outside go to the end bins' centres.
double hfmg_l2_loss(const std::vector<double>& counts, double width, int left, int right,
                    int64_t dst_bins);

// Prefix moments of a histogram for hfmg_l2_loss_fast, restarted every kBlock bins: a run's
// moments are differences of prefix values, and (u - C)^2 expands into terms that cancel; measured
// from the block's own left edge they stay small, so doubles keep the loss at double precision
// (global prefix sums would need long double, several times slower).
struct HfmgMoments {
  HfmgMoments(const std::vector<double>& counts, double width);
  static constexpr int64_t kBlock = 64;
  struct Sums {
    double s0 = 0, s1 = 0, s2 = 0;  // sum of d, d * u, d * u^2 (u from the block's left edge)
  };
  double width;
  std::vector<Sums> s;      // s[k]: over bins [kBlock * floor(k / kBlock), k)
  std::vector<Sums> block;  // block[b]: over the whole of block b
};
// hfmg_l2_loss in O(dst_bins) instead of O(bins) (equal up to rounding). Once the partial sum
// passes `bound` it may stop and return it: the result is then > bound and <= the loss.
double hfmg_l2_loss_fast(const std::vector<double>& counts, const HfmgMoments& moments, int left,
                         int right, int64_t dst_bins,
                         double bound = std::numeric_limits<double>::infinity());
// A.3: counts over [data_min, data_max] (equal bins), global argmin of the loss over the
// candidates, clip range, then A.1. `total` is the number of values the histogram holds.
AmctParams hfmg_search(const std::vector<double>& counts, double data_min, double data_max,
                       int64_t total, const QuantSpec& spec);

}  // namespace quench::calib_internal
