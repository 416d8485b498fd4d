// quench calib (internal): the range searches of vai_q_pytorch, on plain histograms.
//
// vaiq_observers.cpp collects the statistics (min / max, mergeable histograms) and calls these to
// turn them into a threshold or a fix position. They are separate so that tests can feed them
// hand-made histograms. The rules are SPEC.md section B, checked against vai_q_pytorch
// (pytorch_nndct/quantization/torch_qalgo.py, csrc/cpu/nndct_fix_kernels_cpu.cc).
//
//   std::vector<double> counts = hist.resample(0.0, amax, kVaiqBins);
//   double t = vaiq_mse_threshold(counts, amax, spec.qmax(), spec.round_mode);
//   int fp = vaiq_cap_fix_pos(vaiq_diffs_fix_pos(fine_hist, qmin, qmax, 5), bits);
#pragma once

#include <cstdint>
#include <vector>

#include "calib/histogram.h"
#include "quant/encoding.h"

namespace quench::calib_internal {

// vai_q's histogram settings (nndct_calib_histogram_bins, nndct_mse_start_bin / _stride,
// nndct_entropy_start_bin / _stride).
inline constexpr int kVaiqBins = 2048;
inline constexpr int kVaiqMseStartBin = 1536;
inline constexpr int kVaiqMseStride = 4;
inline constexpr int kVaiqEntropyStartBin = 1536;
inline constexpr int kVaiqEntropyStride = 16;
// Fix positions tried by diffs (the "scope"), and by maxmin / model inputs.
inline constexpr int kVaiqDiffsScope = 5;

// The overflow-free fix position: floor(log2(1 / step)) with
// step = max(xmin / (qmin - 0.5), xmax / (qmax + 0.5)), in float as vai_q computes it; 18 when
// step <= FLT_MIN (all-zero data).
int vaiq_first_fix_pos(float xmin, float xmax, int64_t qmin, int64_t qmax);
// vai_q's cap: at most 12 (nndct_max_fix_position) for bits <= 8, at most 15 above.
int vaiq_cap_fix_pos(int fix_pos, int bits);

// Sum over the histogram of (x - Q(x))^2 with Q(x) = clamp(round(x / scale), qmin, qmax) * scale,
// assuming uniform density inside each bin (each bin integrated exactly, split at the grid's
// rounding boundaries; a boundary value has measure zero, so the rounding mode does not matter).
// Bin j covers [lower_edge + j * width, lower_edge + (j + 1) * width).
double histogram_quant_sse(const std::vector<uint64_t>& bins, double lower_edge, double width,
                           double scale, int64_t qmin, int64_t qmax);

// diffs: tries fix positions fp0, fp0 + 1, ..., fp0 + scope - 1 (fp0 = vaiq_first_fix_pos of the
// histogram's exact min / max) and returns the first with the strictly smallest SSE (uncapped).
int vaiq_diffs_fix_pos(const PowerOfTwoHistogram& hist, int64_t qmin, int64_t qmax, int scope);

// counts: kVaiqBins bins of |x| over [0, amax]. Each returns the clipping threshold T (scale =
// T / qmax for the caller).
// percentile: edges[i] for the first i whose CDF (cumulative sum of count / total) reaches
// percentage / 100 (numpy searchsorted, left side); the left edge of that bin, as vai_q.
double vaiq_percentile_threshold(const std::vector<double>& counts, double amax, double percentage);
// mse: for i = 1536, 1540, ... < 2048, amax_i = centre of bin i; the bin centres are
// fake-quantized with scale amax_i / qmax, zero point 0 and `mode`; score = sum(count * err^2);
// the first minimum wins; returns its amax_i.
double vaiq_mse_threshold(const std::vector<double>& counts, double amax, int64_t qmin,
                          int64_t qmax, RoundMode mode);
// entropy: TensorRT-style KL. bins[0] is replaced by bins[1] (as vai_q and pytorch-quantization
// do: the spike of exact zeros would dominate); for i = 1536, 1552, ..., 2048 the first i bins
// (the tail added to the last one) are compared with their quantized version on `target_bins`
// levels (each level spreads its mass evenly over its non-empty source bins); the last minimum of
// KL(reference || quantized) wins; returns edges[i] = i * amax / 2048.
double vaiq_entropy_threshold(std::vector<double> counts, double amax, int64_t target_bins);

}  // namespace quench::calib_internal
