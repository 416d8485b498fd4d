// quench calib (internal): the scans every observed batch goes through, written with SSE2
// (part of every x86-64 CPU; other targets take the scalar loops) and, for the histogram scan,
// AVX2 picked at run time. GCC does not vectorise the plain min / max reductions without
// -ffast-math, and an observer reads every activation of every calibration batch, so these loops
// decide how much calibration costs over plain inference.
#pragma once

#include <cstdint>
#include <vector>

namespace quench::calib_internal {

// Index of the first NaN or +-Inf in x[0, n), or -1.
int64_t scan_first_non_finite(const float* x, int64_t n);
// min and max of x (or of |x| when `abs`) over x[0, n), n >= 1. Returns false when x holds a NaN
// or an Inf (min / max are then meaningless): observers check finiteness in the same pass.
bool scan_min_max(const float* x, int64_t n, bool abs, float& min, float& max);

// The histogram observers' pass: one read of x gives the extremes, the finiteness check and the
// bin counts. Each value v = x[i] (|x[i]| when `abs`) other than +-0 goes to
//   bin = floor(clamp(v * scale, t_lo, t_hi)) + offset
// counted in one of kBinCopies interleaved uint32 histograms (counts[c * stride + bin]), so that
// runs of one value do not serialise on one counter; zeros are only counted (ReLU outputs are
// half zeros). The caller sums the copies, and checks min / max against the range that `scale`
// assumed: clamping only keeps out-of-range values and NaN inside the buffers.
constexpr int kBinCopies = 2;
struct BinScan {
  float min = 0, max = 0;  // of v
  bool finite = true;      // no NaN or Inf
  int64_t zeros = 0;       // values equal to +-0, not binned
};
using BinScanFn = BinScan (*)(const float* x, int64_t n, bool abs, float scale, float t_lo,
                              float t_hi, int32_t offset, uint32_t* counts, int64_t stride);
// The fastest variant this CPU runs.
BinScan scan_bin(const float* x, int64_t n, bool abs, float scale, float t_lo, float t_hi,
                 int32_t offset, uint32_t* counts, int64_t stride);
// Every variant the CPU runs ("avx2", "scalar"), for tests that compare them.
struct BinScanVariant {
  const char* name;
  BinScanFn fn;
};
std::vector<BinScanVariant> scan_bin_variants();

}  // namespace quench::calib_internal
