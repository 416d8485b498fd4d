// vai_q_pytorch range searches (vaiq_search.h), SPEC.md section B.
//
// diffs (nndct_fix_kernels_cpu.cc, cpu_diff_S):
//   1. step = max(xmin / (qmin - 0.5), xmax / (qmax + 0.5)); fp0 = floor(log2(1 / step)), the
//      largest fix position at which nothing overflows (18 when step <= FLT_MIN);
//   2. for fp = fp0 .. fp0 + scope - 1: SSE of fake-quantizing the data with scale 2^-fp;
//   3. keep the first strict minimum; the caller caps it (12 for <= 8 bits, else 15).
//   quench evaluates step 2 on the observer's fine histogram of x, integrating each bin exactly
//   under a uniform density, where vai_q sums over the batch's raw values: observers must stay
//   bounded and mergeable. The fine bins are aligned with powers of two, so for <= 8 bits every
//   candidate grid's rounding boundaries fall on bin edges and only the in-bin density is assumed.
// percentile / mse / entropy (torch_qalgo.py, PercentileQuantPerTensorAlgo, MSEQuantPerTensorAlgo,
// EntropyQuantPerTensorAlgo): 2048 bins of |x| over [0, amax]; see the header for each rule. The
// entropy search is TensorRT's calibrator (Migacz, "8-bit Inference with TensorRT", GTC 2017).
#include "calib/vaiq_search.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "quant/quantize.h"

namespace quench::calib_internal {

int vaiq_first_fix_pos(float xmin, float xmax, int64_t qmin, int64_t qmax) {
  const float fix_lb = static_cast<float>(qmin) - 0.5f;
  const float fix_ub = static_cast<float>(qmax) + 0.5f;
  const float step = std::max(xmin / fix_lb, xmax / fix_ub);
  if (!(step > FLT_MIN)) return 18;
  return static_cast<int>(std::floor(std::log2(1.0f / step)));
}

int vaiq_cap_fix_pos(int fix_pos, int bits) { return std::min(fix_pos, bits <= 8 ? 12 : 15); }

namespace {

// Integral of (x - Q(x))^2 over [a, b) (unit density).
double segment_sse(double a, double b, double s, int64_t qmin, int64_t qmax) {
  const double lo_k = static_cast<double>(qmin), hi_k = static_cast<double>(qmax);
  const double ka = std::clamp(std::floor(a / s + 0.5), lo_k, hi_k);
  const double kb = std::clamp(std::floor(b / s + 0.5), lo_k, hi_k);
  double sum = 0.0;
  for (double k = ka; k <= kb; k += 1.0) {
    const double cell_lo = k == lo_k ? -std::numeric_limits<double>::infinity() : (k - 0.5) * s;
    const double cell_hi = k == hi_k ? std::numeric_limits<double>::infinity() : (k + 0.5) * s;
    const double x0 = std::max(a, cell_lo), x1 = std::min(b, cell_hi);
    if (!(x1 > x0)) continue;
    const double c = k * s;
    const double u = x0 - c, v = x1 - c;
    // int_u^v t^2 dt, in a form without the cancellation of (v^3 - u^3) / 3
    sum += (v - u) * (u * u + u * v + v * v) / 3.0;
  }
  return sum;
}

}  // namespace

double histogram_quant_sse(const std::vector<uint64_t>& bins, double lower_edge, double width,
                           double scale, int64_t qmin, int64_t qmax) {
  double sse = 0.0;
  for (size_t j = 0; j < bins.size(); ++j) {
    if (bins[j] == 0) continue;
    const double a = lower_edge + static_cast<double>(j) * width;
    const double density = static_cast<double>(bins[j]) / width;
    sse += density * segment_sse(a, a + width, scale, qmin, qmax);
  }
  return sse;
}

int vaiq_diffs_fix_pos(const PowerOfTwoHistogram& hist, int64_t qmin, int64_t qmax, int scope) {
  const int fp0 = vaiq_first_fix_pos(hist.min(), hist.max(), qmin, qmax);
  int best = fp0;
  double best_sse = std::numeric_limits<double>::max();  // vai_q starts from FLT_MAX
  for (int fp = fp0; fp < fp0 + scope; ++fp) {
    const double sse = histogram_quant_sse(hist.bins(), hist.lower_edge(), hist.bin_width(),
                                           std::ldexp(1.0, -fp), qmin, qmax);
    if (sse < best_sse) {
      best = fp;
      best_sse = sse;
    }
  }
  return best;
}

double vaiq_percentile_threshold(const std::vector<double>& counts, double amax,
                                 double percentage) {
  const size_t n = counts.size();
  double total = 0.0;
  for (double c : counts) total += c;
  if (!(total > 0.0) || n == 0) return 0.0;
  const double target = percentage / 100.0;
  double cdf = 0.0;
  size_t idx = n;
  for (size_t i = 0; i < n; ++i) {
    cdf += counts[i] / total;
    if (cdf >= target) {
      idx = i;
      break;
    }
  }
  return static_cast<double>(idx) * amax / static_cast<double>(n);
}

double vaiq_mse_threshold(const std::vector<double>& counts, double amax, int64_t qmin,
                          int64_t qmax, RoundMode mode) {
  const int64_t n = static_cast<int64_t>(counts.size());
  std::vector<float> centres(static_cast<size_t>(n)), quant(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    centres[static_cast<size_t>(i)] =
        static_cast<float>((static_cast<double>(i) + 0.5) * amax / static_cast<double>(n));
  double best_mse = std::numeric_limits<double>::infinity();
  double best = n > 0 ? centres[static_cast<size_t>(n - 1)] : 0.0;
  for (int64_t i = kVaiqMseStartBin; i < n; i += kVaiqMseStride) {
    const float t = centres[static_cast<size_t>(i)];
    const float scale = t / static_cast<float>(qmax);
    if (!(scale > 0.0f)) continue;
    fake_quantize_span(centres.data(), quant.data(), n, scale, 0, qmin, qmax, mode);
    double mse = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      const double d = static_cast<double>(quant[static_cast<size_t>(j)]) -
                       static_cast<double>(centres[static_cast<size_t>(j)]);
      mse += d * d * counts[static_cast<size_t>(j)];
    }
    mse /= static_cast<double>(n);
    if (mse < best_mse) {  // np.argmin: the first minimum
      best_mse = mse;
      best = t;
    }
  }
  return best;
}

double vaiq_entropy_threshold(std::vector<double> bins, double amax, int64_t target_bins) {
  const int64_t n = static_cast<int64_t>(bins.size());
  if (n < 2 || target_bins < 1) return amax;
  bins[0] = bins[1];
  const size_t nb = static_cast<size_t>(target_bins);
  std::vector<double> level_sum(nb), p, q;
  std::vector<int64_t> level_count(nb);
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = n;
  for (int64_t i = kVaiqEntropyStartBin; i <= n; i += kVaiqEntropyStride) {
    // Source bin j < i belongs to level floor(j * nb / i): np.digitize over linspace(0, i, nb+1),
    // whose edges k * i / nb are exact for these i and nb.
    std::fill(level_sum.begin(), level_sum.end(), 0.0);
    std::fill(level_count.begin(), level_count.end(), 0);
    for (int64_t j = 0; j < i; ++j) {
      if (bins[static_cast<size_t>(j)] == 0.0) continue;
      const size_t k = static_cast<size_t>(j * target_bins / i);
      level_sum[k] += bins[static_cast<size_t>(j)];
      ++level_count[k];
    }
    p.assign(bins.begin(), bins.begin() + i);
    for (int64_t j = i; j < n; ++j) p.back() += bins[static_cast<size_t>(j)];
    q.assign(static_cast<size_t>(i), 0.0);
    for (int64_t j = 0; j < i; ++j) {
      if (bins[static_cast<size_t>(j)] == 0.0) continue;
      const size_t k = static_cast<size_t>(j * target_bins / i);
      q[static_cast<size_t>(j)] = level_sum[k] / static_cast<double>(level_count[k]);
    }
    double p_sum = 0.0, q_sum = 0.0;
    for (int64_t j = 0; j < i; ++j) {
      p_sum += p[static_cast<size_t>(j)];
      q_sum += q[static_cast<size_t>(j)];
    }
    // scipy.stats.entropy(p, q): both normalised; p > 0 where q == 0 gives +inf.
    double kl = 0.0;
    for (int64_t j = 0; j < i && p_sum > 0.0 && q_sum > 0.0; ++j) {
      const double pj = p[static_cast<size_t>(j)] / p_sum;
      const double qj = q[static_cast<size_t>(j)] / q_sum;
      if (pj <= 0.0) continue;
      if (qj <= 0.0) {
        kl = std::numeric_limits<double>::infinity();
        break;
      }
      kl += pj * std::log(pj / qj);
    }
    if (!(p_sum > 0.0 && q_sum > 0.0)) kl = std::numeric_limits<double>::infinity();
    if (kl <= best_kl) {  // the last minimum wins
      best_kl = kl;
      best_i = i;
    }
  }
  return static_cast<double>(best_i) * amax / static_cast<double>(n);
}

}  // namespace quench::calib_internal
