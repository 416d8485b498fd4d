// quench calib (internal): the range searches of the histogram observers, on plain bin counts.
//
// Each function takes counts of `n` equal bins over [lo, hi] (or |x| over [0, amax]) as resampled
// from a PowerOfTwoHistogram, and returns a clipping threshold or range. They are free functions so
// that tests can feed them hand-made histograms. The algorithm of each is described at its
// definition in histogram_search.cpp, with its source.
//
//   std::vector<double> c = abs_counts(hist, hist.abs_max(), 2048);
//   double t = entropy_threshold(c, hist.abs_max(), /*target_bins=*/128);
#pragma once

#include <utility>
#include <vector>

#include "calib/histogram.h"

namespace quench::calib_internal {

// |x| counts over [0, amax] in n bins (folding a kSigned histogram), amax > 0.
std::vector<double> abs_counts(const PowerOfTwoHistogram& h, double amax, int n);
// x counts over [lo, hi] in n bins, hi > lo.
std::vector<double> signed_counts(const PowerOfTwoHistogram& h, double lo, double hi, int n);

// ONNX Runtime percentile, symmetric: the upper edge of the first bin where the CDF of |x| reaches
// pct / 100, at most amax.
double percentile_threshold(const std::vector<double>& counts, double amax, double pct);
// ONNX Runtime percentile, asymmetric: (100 - pct) / 2 percent cut from each tail; the lower edge of
// the first bin reaching the lower cut, the upper edge of the first bin reaching 1 - cut.
std::pair<double, double> percentile_range(const std::vector<double>& counts, double lo, double hi,
                                           double pct);

// TensorRT KL calibration over |x| counts on [0, amax]: candidates i = target_bins .. n (every
// `step`-th, n always included), threshold i * amax / n. Long candidate lists are searched coarse
// to fine (see the definition); `exhaustive` evaluates every candidate (tests compare the two).
double entropy_threshold(const std::vector<double>& counts, double amax, int target_bins,
                         int step = 1, bool exhaustive = false);

// Minimum expected quantization MSE, symmetric: threshold T in {k * amax / n}; the grid step is
// T / steps_per_threshold (steps of the grid between 0 and T).
double mse_threshold(const std::vector<double>& counts, double amax, double steps_per_threshold);
// Minimum expected quantization MSE, asymmetric: range [L, H] over bin edges (L <= 0 <= H after
// widening to 0); grid step (H - L) / num_steps. Edges are tried every `stride` bins.
std::pair<double, double> mse_range(const std::vector<double>& counts, double lo, double hi,
                                    double num_steps, int stride = 1);

// PyTorch HistogramObserver._non_linear_param_search over counts on [lo, hi] with dst_nbins
// destination bins (2^bits).
std::pair<double, double> torch_histogram_search(const std::vector<double>& counts, double lo,
                                                 double hi, int dst_nbins);

// AIMET tf_enhanced (SqnrEncodingAnalyzer) over counts on [lo, hi] (the data's min and max).
// num_steps = qmax - qmin. Returns (delta, offset): the grid is offset * delta .. (offset +
// num_steps) * delta.
//   kSymmetric: offset fixed at floor(-num_steps / 2), 101 deltas;
//   kUnsignedSymmetric: offset fixed at 0, 101 deltas;
//   kAsymmetric: 17 deltas x 21 offsets, clamped to the observed range.
enum class TfEnhancedMode { kSymmetric, kUnsignedSymmetric, kAsymmetric };
std::pair<double, double> tf_enhanced_search(const std::vector<double>& counts, double lo,
                                             double hi, int num_steps, TfEnhancedMode mode,
                                             double gamma = 3.0);
// tf_enhanced_search's inner loop, the noise of one (delta, offset) over counts[0, n) on bins of
// width w from lo, by every variant this CPU runs ("avx2", "scalar"); all give the same bits.
// Once a partial sum passes `bound` (checked every 64 bins) that partial sum is returned.
struct TfNoiseVariant {
  const char* name;
  double (*fn)(const double* counts, int64_t n, double lo, double w, double delta, double offset,
               int num_steps, double gamma, double bound);
};
std::vector<TfNoiseVariant> tf_noise_variants();
// The natural log the entropy search uses on out[i] = log(x[i]), i < n (positive normal x; within
// 1 ulp of std::log), by every variant this CPU runs ("avx2", "scalar"); all give the same bits.
struct LogVariant {
  const char* name;
  void (*fn)(const double* x, double* out, int64_t n);
};
std::vector<LogVariant> log_variants();

}  // namespace quench::calib_internal
