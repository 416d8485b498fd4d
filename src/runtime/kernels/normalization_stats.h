// Row statistics shared by the normalization kernels: mean and variance of a contiguous row,
// folded in 8 float lanes over stretches of 1024 elements and added in double (vectorizes, and
// keeps ~1e-7 relative accuracy for long rows). Two passes: variance is the mean of (x - mean)^2,
// which unlike E[x^2] - E[x]^2 cannot go negative.
//
//   RowMoments m = row_moments(x + r * d, d);
//   float inv_std = 1.0f / std::sqrt(static_cast<float>(m.var) + eps);
#pragma once

#include <algorithm>
#include <cstdint>

namespace quench {

struct RowMoments {
  double mean = 0.0;
  double var = 0.0;  // population variance (divided by n)
};

// sum of f(x[i]) for i < n.
template <class T, class F>
double row_sum(const T* x, int64_t n, F f) {
  constexpr int kLanes = 32 / sizeof(T);  // two SSE registers
  constexpr int64_t kStretch = 1024;
  double total = 0.0;
  for (int64_t j = 0; j < n; j += kStretch) {
    const int64_t len = std::min(kStretch, n - j);
    T lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
      // Kept as a loop (GCC vectorizes it; fully unrolled it may not).
#pragma GCC unroll 1
      for (int l = 0; l < kLanes; ++l) lane[l] += f(x[j + i + l]);
    }
    for (int l = 0; l < kLanes; ++l) total += lane[l];
    for (; i < len; ++i) total += f(x[j + i]);
  }
  return total;
}

template <class T>
RowMoments row_moments(const T* x, int64_t n) {
  RowMoments m;
  if (n <= 0) return m;
  m.mean = row_sum(x, n, [](T v) { return v; }) / static_cast<double>(n);
  const T mean = static_cast<T>(m.mean);
  m.var = row_sum(x, n, [mean](T v) { return (v - mean) * (v - mean); }) / static_cast<double>(n);
  return m;
}

}  // namespace quench
