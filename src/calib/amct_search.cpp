// AMCT IFMR and HFMG searches (amct_search.h), SPEC.md A.1-A.3.
//
// IFMR (AMCT ifmr.cpp, "Improved Fast Minimum-error Range"):
//   1. the values of the first batch_num batches (collected by the observer, sorted here);
//   2. percentile init: max_init = k-th largest, min_init = k-th smallest (k = N - int(pct * N)),
//      then max_init >= 0 >= min_init;
//   3. candidates ratio_i * max_init, ratio_i = start + i * step, i < int((end - start)/step + 1);
//      symmetric: the candidates scale the dominant |max_init| or |min_init| and the clip is
//      [-cand, cand];
//   4. loss: mean of (round(clamp(x) / scale_i) * scale_i - x)^2 (std::round); first argmin;
//   5. scale and offset of the winner by A.1.
//   quench accumulates the loss in double over the sorted values (AMCT sums floats in batch
//   order), so the result depends only on the values, not on their order or on merges.
// HFMG (AMCT hfmg.cpp, after PyTorch's HistogramObserver._non_linear_param_search):
//   1. histogram over [min, max] (the observer resamples its exact fine histogram onto it);
//   2. candidates: repeatedly trim max(ceil(total / 100000), 1) counts from the left or the right
//      (the side whose cursor moved fewer bins), down to ceil(nbins / 4) bins;
//   3. loss of each: L2 error of 2^b equal destination bins over the kept range; global argmin;
//   4. clip = [min + left * bw, min + (right + 1) * bw], then A.1.
//   AMCT computes (index - left) in unsigned arithmetic, which wraps for bins left of the range;
//   quench uses the signed distance of the SPEC (and of PyTorch), measuring those bins from the
//   first destination bin's centre. AMCT also collapses ranges narrower than FLT_EPSILON * nbins
//   into one bin; quench only collapses an exactly empty range (min == max).
#include "calib/amct_search.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "core/parallel.h"

namespace quench::calib_internal {

namespace {

float process_scale(float s) { return s < FLT_EPSILON ? 1.0f : s; }

// int_a^b density * t^2 dt, without the cancellation of b^3 - a^3.
double l2_norm(double a, double b, double density) {
  return density * (b - a) * (a * a + a * b + b * b) / 3.0;
}

}  // namespace

AmctParams amct_scale_offset(double clip_min, double clip_max, const QuantSpec& spec) {
  const double qmin = static_cast<double>(spec.qmin()), qmax = static_cast<double>(spec.qmax());
  AmctParams p;
  if (!spec.symmetric) {
    const double hi = std::max(clip_max, 0.0), lo = std::min(clip_min, 0.0);
    p.scale = process_scale(static_cast<float>((hi - lo) / (qmax - qmin)));
    p.zero_point = static_cast<int32_t>(qmin) -
                   static_cast<int32_t>(std::round(lo / static_cast<double>(p.scale)));
    return p;
  }
  const double m = std::fabs(clip_max) > std::fabs(clip_min) ? clip_max : clip_min;
  p.scale = process_scale(static_cast<float>(m > 0.0 ? m / qmax : -m / -qmin));
  p.zero_point = 0;
  return p;
}

IfmrOptions IfmrOptions::from(const ObserverConfig& c) {
  IfmrOptions o;
  o.max_percentile = static_cast<float>(c.ifmr_max_percentile);
  o.min_percentile = static_cast<float>(c.ifmr_min_percentile);
  o.search_start = static_cast<float>(c.ifmr_search_start);
  o.search_end = static_cast<float>(c.ifmr_search_end);
  o.search_step = static_cast<float>(c.ifmr_search_step);
  return o;
}

int ifmr_num_candidates(const IfmrOptions& o) {
  const float n = (o.search_end - o.search_start) / o.search_step + 1.0f;
  return n < 1.0f ? 1 : static_cast<int>(n);
}

int64_t ifmr_percentile_k(float pct, int64_t n) {
  if (n <= 0) return 0;
  if (std::fabs(1.0f - pct) < FLT_EPSILON) return 1;
  const float kept = std::floor(pct * static_cast<float>(n));
  const int64_t k = n - static_cast<int64_t>(kept);
  return std::clamp<int64_t>(k, 1, n);
}

IfmrSortedSums::IfmrSortedSums(const std::vector<float>& sorted) : x(sorted) {
  const size_t blocks = sorted.size() / kBlock;
  block.assign(blocks, Block{});
  for (size_t b = 0; b < blocks; ++b) {
    Block& k = block[b];
    k.x0 = sorted[b * kBlock];
    for (size_t i = b * kBlock; i < (b + 1) * kBlock; ++i) {
      const double d = static_cast<double>(sorted[i]) - k.x0;  // exact: two floats
      k.s1 += d;
      k.s2 += d * d;
    }
  }
}

// q(x) = round(clamp(x, lo, hi) / scale) * scale in float, as AMCT computes it; non-decreasing in
// x, so on sorted values each grid value is taken by one run.
static inline float ifmr_q(float x, float lo, float hi, float scale) {
  const float c = std::min(std::max(x, lo), hi);
  return std::round(c / scale) * scale;
}

double IfmrSortedSums::run_loss(size_t a, size_t b, double q) const {
  // Head and tail values one by one; whole blocks in between by their moments about their first
  // value x0: sum (q - x)^2 = kBlock (q - x0)^2 - 2 (q - x0) S1 + S2, with no large terms to
  // cancel (the values of a run lie within a grid step of q, or all beyond the clip).
  auto direct = [&](size_t from, size_t to) {
    double sum = 0.0;
    for (size_t i = from; i < to; ++i) {
      const double d = q - static_cast<double>(x[i]);
      sum += d * d;
    }
    return sum;
  };
  const size_t b0 = (a + kBlock - 1) / kBlock, b1 = b / kBlock;
  if (b0 >= b1) return direct(a, b);
  double middle = 0.0;
  for (size_t k = b0; k < b1; ++k) {
    const Block& blk = block[k];
    const double d = q - blk.x0;
    middle += std::max(0.0, static_cast<double>(kBlock) * d * d - 2.0 * d * blk.s1 + blk.s2);
  }
  return direct(a, b0 * kBlock) + middle + direct(b1 * kBlock, b);
}

double IfmrSortedSums::loss(float lo, float hi, float scale) const {
  // Walk the runs of equal q: each run's end is found by binary search (at most qmax - qmin + 1
  // runs, plus the two clipped ones), so a candidate costs O(levels log N), not O(N).
  double sum = 0.0;
  const size_t n = x.size();
  size_t a = 0;
  while (a < n) {
    const float q = ifmr_q(x[a], lo, hi, scale);
    size_t l = a + 1, r = n;  // first index with a larger q, in [a + 1, n]
    while (l < r) {
      const size_t mid = l + (r - l) / 2;
      if (ifmr_q(x[mid], lo, hi, scale) > q) {
        r = mid;
      } else {
        l = mid + 1;
      }
    }
    sum += run_loss(a, l, static_cast<double>(q));
    a = l;
  }
  return sum;
}

AmctParams ifmr_search(const std::vector<float>& sorted, const IfmrOptions& o,
                       const QuantSpec& spec, std::vector<double>* loss) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  if (loss != nullptr) loss->clear();
  if (n == 0) return AmctParams{};
  const int64_t k_max = ifmr_percentile_k(o.max_percentile, n);
  const int64_t k_min = ifmr_percentile_k(o.min_percentile, n);
  const float max_init = std::max(0.0f, sorted[static_cast<size_t>(n - k_max)]);
  const float min_init = std::min(0.0f, sorted[static_cast<size_t>(k_min - 1)]);

  const float qmin = static_cast<float>(spec.qmin()), qmax = static_cast<float>(spec.qmax());
  // Symmetric: the dominant side and its grid step count (127, or 128 when min dominates or ties).
  const float dominant = std::fabs(max_init) > std::fabs(min_init) ? max_init : min_init;
  const float sym_limit = dominant > 0.0f ? qmax : -qmin;
  const float sym_base = std::fabs(dominant);

  // Each candidate's loss is independent: computed in parallel, the argmin taken serially, so the
  // result does not depend on the thread count.
  const IfmrSortedSums sums(sorted);
  const int count = ifmr_num_candidates(o);
  std::vector<double> losses(static_cast<size_t>(count));
  parallel_for(count, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float ratio = o.search_start + static_cast<float>(i) * o.search_step;
      float lo, hi, scale;
      if (spec.symmetric) {
        hi = ratio * sym_base;
        lo = -hi;
        scale = process_scale(hi / sym_limit);
      } else {
        hi = ratio * max_init;
        lo = min_init;
        scale = process_scale((hi - lo) / (qmax - qmin));
      }
      losses[static_cast<size_t>(i)] = sums.loss(lo, hi, scale) / static_cast<double>(n);
    }
  });
  // std::min_element: the first minimum
  const int best = static_cast<int>(std::min_element(losses.begin(), losses.end()) -
                                    losses.begin());
  if (loss != nullptr) *loss = losses;

  const float ratio = o.search_start + static_cast<float>(best) * o.search_step;
  AmctParams p;
  if (spec.symmetric) {
    p.scale = process_scale(ratio * sym_base / sym_limit);
    p.zero_point = 0;
  } else {
    const float best_max = ratio * max_init;
    p.scale = process_scale((best_max - min_init) / (qmax - qmin));
    p.zero_point = static_cast<int32_t>(qmin) -
                   static_cast<int32_t>(std::round(min_init / p.scale));
  }
  return p;
}

std::vector<std::pair<int, int>> hfmg_candidates(const std::vector<double>& counts,
                                                 int64_t total) {
  std::vector<std::pair<int, int>> out;
  const int nbins = static_cast<int>(counts.size());
  if (nbins < 2) return out;
  // AMCT's HfmgDivid: ceil of a float division.
  const double step = std::max(
      1.0, static_cast<double>(std::ceil(static_cast<float>(total) / 100000.0f)));
  const int min_bins = static_cast<int>(std::ceil(static_cast<float>(nbins) / 4.0f));
  int left = 0, right = nbins - 1;
  while (right - left > min_bins) {
    int tl = left, tr = right;
    double left_sum = 0.0, right_sum = 0.0;
    while (tl < tr && left_sum < step) left_sum += counts[static_cast<size_t>(tl++)];
    while (tl < tr && right_sum < step) right_sum += counts[static_cast<size_t>(tr--)];
    if (right - tr >= tl - left) {
      right = tr;
    } else {
      left = tl;
    }
    out.emplace_back(left, right);
  }
  return out;
}

// The L2 contribution of source bin j (A.3): its interval [begin, end) relative to the candidate's
// left edge, measured from the centre of each destination bin it overlaps (clamped to the first /
// last destination bin outside the candidate range).
// (Truncation instead of floor: they differ only below 0, which the clamp maps to 0 either way.)
static inline double hfmg_bin_loss(double count, double width, int left, int64_t j,
                                   double dst_width, int64_t last) {
  const double half = dst_width / 2.0;
  const double begin = (static_cast<double>(j) - left) * width;
  const double end = begin + width;
  const int64_t bi = std::clamp<int64_t>(static_cast<int64_t>(begin / dst_width), 0, last);
  const int64_t ei = std::clamp<int64_t>(static_cast<int64_t>(end / dst_width), 0, last);
  const double density = count / width;
  const double begin_centre = static_cast<double>(bi) * dst_width + half;
  if (bi == ei) return l2_norm(begin - begin_centre, end - begin_centre, density);
  const double end_centre = static_cast<double>(ei) * dst_width + half;
  return l2_norm(begin - begin_centre, half, density) +
         static_cast<double>(ei - bi - 1) * l2_norm(-half, half, density) +
         l2_norm(-half, end - end_centre, density);
}

double hfmg_l2_loss(const std::vector<double>& counts, double width, int left, int right,
                    int64_t dst_bins) {
  const double dst_width = width * static_cast<double>(right - left + 1) /
                           static_cast<double>(dst_bins);
  if (!(dst_width > 0.0)) return 0.0;
  const int64_t last = dst_bins - 1;
  double loss = 0.0;
  for (size_t j = 0; j < counts.size(); ++j) {
    if (counts[j] == 0.0) continue;
    loss += hfmg_bin_loss(counts[j], width, left, static_cast<int64_t>(j), dst_width, last);
  }
  return loss;
}

HfmgMoments::HfmgMoments(const std::vector<double>& counts, double width) : width(width) {
  // d_j = counts[j] / width is the density, u_j = (j mod kBlock) * width the bin's left edge
  // measured from its block's.
  const int64_t n = static_cast<int64_t>(counts.size());
  s.assign(static_cast<size_t>(n) + 1, Sums{});
  block.assign(static_cast<size_t>((n + kBlock - 1) / kBlock), Sums{});
  Sums run;
  for (int64_t j = 0; j < n; ++j) {
    if (j % kBlock == 0) run = Sums{};
    s[static_cast<size_t>(j)] = run;
    const double d = counts[static_cast<size_t>(j)] / width;
    const double u = static_cast<double>(j % kBlock) * width;
    run.s0 += d;
    run.s1 += d * u;
    run.s2 += d * u * u;
    if (j % kBlock == kBlock - 1 || j == n - 1) block[static_cast<size_t>(j / kBlock)] = run;
  }
  if (n % kBlock != 0) s[static_cast<size_t>(n)] = run;
}

// The same loss in O(dst_bins): a source bin lying inside one destination bin contributes
// d * integral over [u - C, u + w - C) of t^2 dt = d * (w t^2 + w^2 t + w^3 / 3) with t = u - C
// (C the destination centre), so a run of such bins sums to moments of the prefix sums. Only the
// source bins that straddle a destination edge (one per edge) are added one by one. Agrees with
// hfmg_l2_loss up to rounding (tested); used when destination bins are at least two source bins
// wide, i.e. whenever the grid is coarser than the histogram.
double hfmg_l2_loss_fast(const std::vector<double>& counts, const HfmgMoments& m, int left,
                         int right, int64_t dst_bins, double bound) {
  const double w = m.width;
  const int64_t n = static_cast<int64_t>(counts.size());
  const double dst_width = w * static_cast<double>(right - left + 1) / static_cast<double>(dst_bins);
  if (!(dst_width >= 2.0 * w)) return hfmg_l2_loss(counts, w, left, right, dst_bins);
  const int64_t last = dst_bins - 1;
  const double origin = static_cast<double>(left) * w;  // the candidate's left edge (absolute)
  // Inside-run sum for source bins [a, b) inside destination bin d, block by block.
  constexpr int64_t kB = HfmgMoments::kBlock;
  auto run = [&](int64_t a, int64_t b, int64_t d) {
    const double centre = origin + static_cast<double>(d) * dst_width + dst_width / 2.0;
    double sum = 0.0;
    while (a < b) {
      const int64_t blk = a / kB, end = std::min(b, (blk + 1) * kB);
      const HfmgMoments::Sums& hi =
          end == (blk + 1) * kB ? m.block[static_cast<size_t>(blk)] : m.s[static_cast<size_t>(end)];
      const HfmgMoments::Sums& lo = m.s[static_cast<size_t>(a)];
      const double S0 = hi.s0 - lo.s0, S1 = hi.s1 - lo.s1, S2 = hi.s2 - lo.s2;
      const double c = centre - static_cast<double>(blk * kB) * w;  // from the block's edge
      // sum d (u - c)^2, sum d (u - c), sum d
      const double t2 = S2 - 2.0 * c * S1 + c * c * S0;
      const double t1 = S1 - c * S0;
      sum += w * t2 + w * w * t1 + w * w * w / 3.0 * S0;
      a = end;
    }
    return sum;
  };
  // hfmg_bin_loss with reciprocals instead of divisions (this loop's cost was in the divisions).
  // A product may round the other way than the quotient where an edge falls exactly on a source
  // bin's edge; both sides of that choice give the same loss there.
  const double inv_w = 1.0 / w, inv_dst = 1.0 / dst_width, half = dst_width / 2.0;
  constexpr double kThird = 1.0 / 3.0;
  auto straddle = [&](int64_t j, double count) {
    const double begin = (static_cast<double>(j) - left) * w, end = begin + w;
    const int64_t bi = std::clamp<int64_t>(static_cast<int64_t>(begin * inv_dst), 0, last);
    const int64_t ei = std::clamp<int64_t>(static_cast<int64_t>(end * inv_dst), 0, last);
    const double density = count * inv_w;
    auto l2 = [&](double a, double b) { return density * (b - a) * (a * a + a * b + b * b) * kThird; };
    const double cb = static_cast<double>(bi) * dst_width + half;
    if (bi == ei) return l2(begin - cb, end - cb);
    const double ce = static_cast<double>(ei) * dst_width + half;
    return l2(begin - cb, half) + static_cast<double>(ei - bi - 1) * l2(-half, half) +
           l2(-half, end - ce);
  };
  // Destination edges fall in strictly increasing source bins (dst_width >= 2 w): the source bins
  // split into run(0, s_1), straddle(s_1), run(s_1 + 1, s_2), ..., run(s_last + 1, n), cut short
  // where an edge passes the data. The last run (the values clipped at the top) comes first and
  // the bound is checked every few edges: every term is >= 0, so a partial sum above the bound
  // settles that this candidate is not the best.
  auto edge_bin = [&](int64_t d) {  // the position is >= 0: truncation is floor
    return static_cast<int64_t>((origin + static_cast<double>(d) * dst_width) * inv_w);
  };
  const int64_t s_last = edge_bin(last);
  double loss = s_last < n ? run(s_last + 1, n, last) : 0.0;
  int64_t start = 0;  // first source bin of the current run
  for (int64_t d = 1; d <= last; ++d) {
    const int64_t s = edge_bin(d);
    if (s >= n) {
      loss += run(start, n, d - 1);
      return loss;
    }
    loss += run(start, s, d - 1);
    if (counts[static_cast<size_t>(s)] != 0.0) loss += straddle(s, counts[static_cast<size_t>(s)]);
    start = s + 1;
    if ((d & 7) == 0 && loss > bound) return loss;
  }
  return loss;
}

AmctParams hfmg_search(const std::vector<double>& counts, double data_min, double data_max,
                       int64_t total, const QuantSpec& spec) {
  const int nbins = static_cast<int>(counts.size());
  if (!(data_max > data_min) || nbins == 0) return amct_scale_offset(data_min, data_min, spec);
  const double width = (data_max - data_min) / nbins;
  const int64_t dst_bins = spec.qmax() - spec.qmin() + 1;
  const std::vector<std::pair<int, int>> cands = hfmg_candidates(counts, total);
  const HfmgMoments moments(counts, width);
  // Every candidate is a contender, but most lose by far: every 16th is evaluated first, for a
  // good running best, then the rest, each stopping as soon as its partial loss passes that best
  // (with a 1e-9 relative margin for rounding; a stopped candidate's loss is above the best, so
  // it cannot be the first minimum). Each thread keeps its own best: the argmin below does not
  // depend on the thread count.
  constexpr size_t kProbe = 16;
  std::vector<size_t> order;
  order.reserve(cands.size());
  for (size_t i = 0; i < cands.size(); i += kProbe) order.push_back(i);
  for (size_t i = 0; i < cands.size(); ++i)
    if (i % kProbe != 0) order.push_back(i);
  std::vector<double> losses(cands.size());
  const int64_t chunks = std::max(1, num_threads());
  parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double best = std::numeric_limits<double>::infinity();
      for (int64_t k = c; k < static_cast<int64_t>(order.size()); k += chunks) {  // interleaved
        const size_t i = order[static_cast<size_t>(k)];
        const auto [l, r] = cands[i];
        losses[i] = hfmg_l2_loss_fast(counts, moments, l, r, dst_bins, best * (1.0 + 1e-9));
        best = std::min(best, losses[i]);
      }
    }
  });
  int left = 0, right = nbins - 1;  // only when nbins is too small to trim
  if (!cands.empty()) {
    const size_t best = static_cast<size_t>(std::min_element(losses.begin(), losses.end()) -
                                            losses.begin());
    left = cands[best].first;
    right = cands[best].second;
  }
  const double clip_min = data_min + left * width;
  const double clip_max = data_min + (right + 1) * width;
  return amct_scale_offset(clip_min, clip_max, spec);
}

}  // namespace quench::calib_internal
