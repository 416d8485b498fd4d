#include "calib/scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace quench::calib_internal {

namespace {

int64_t first_non_finite_scalar(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return i;
  return -1;
}

bool min_max_scalar(const float* x, int64_t n, bool abs, float& min, float& max) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    const float v = abs ? std::fabs(x[i]) : x[i];
    nan |= v != v;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  min = lo;
  max = hi;
  return !nan && std::isfinite(lo) && std::isfinite(hi);
}

}  // namespace

int64_t scan_first_non_finite(const float* x, int64_t n) {
#if defined(__SSE2__)
  // Exponent bits all ones <=> NaN or Inf; blocks are checked with integer compares and only a
  // bad block is searched element by element.
  const __m128i exp_mask = _mm_set1_epi32(0x7f800000);
  constexpr int64_t kBlock = 1024;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    __m128i acc = _mm_setzero_si128();
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
      __m128i u0 = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)), exp_mask);
      __m128i u1 = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i + 4)), exp_mask);
      acc = _mm_or_si128(acc, _mm_or_si128(_mm_cmpeq_epi32(u0, exp_mask), _mm_cmpeq_epi32(u1, exp_mask)));
    }
    bool bad = _mm_movemask_epi8(acc) != 0;
    for (; i < e && !bad; ++i) bad = !std::isfinite(x[i]);
    if (bad) return b + first_non_finite_scalar(x + b, e - b);
  }
  return -1;
#else
  return first_non_finite_scalar(x, n);
#endif
}

bool scan_min_max(const float* x, int64_t n, bool abs, float& min, float& max) {
#if defined(__SSE2__)
  // MINPS / MAXPS return their second operand when either is NaN: the running value comes
  // second, so a NaN element leaves it unchanged; NaNs are caught by an unordered compare, Infs by
  // the result.
  const __m128 sign = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  __m128 lo0 = _mm_set1_ps(std::numeric_limits<float>::infinity()), lo1 = lo0;
  __m128 hi0 = _mm_set1_ps(-std::numeric_limits<float>::infinity()), hi1 = hi0;
  __m128 nan = _mm_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
    nan = _mm_or_ps(nan, _mm_cmpunord_ps(a, b));
    if (abs) {
      a = _mm_and_ps(a, sign);
      b = _mm_and_ps(b, sign);
    }
    lo0 = _mm_min_ps(a, lo0);
    hi0 = _mm_max_ps(a, hi0);
    lo1 = _mm_min_ps(b, lo1);
    hi1 = _mm_max_ps(b, hi1);
  }
  lo0 = _mm_min_ps(lo0, lo1);
  hi0 = _mm_max_ps(hi0, hi1);
  alignas(16) float l[4], h[4];
  _mm_store_ps(l, lo0);
  _mm_store_ps(h, hi0);
  float lo = std::min(std::min(l[0], l[1]), std::min(l[2], l[3]));
  float hi = std::max(std::max(h[0], h[1]), std::max(h[2], h[3]));
  bool finite = _mm_movemask_ps(nan) == 0;
  if (i < n) {
    float tl, th;
    finite &= min_max_scalar(x + i, n - i, abs, tl, th);
    lo = std::min(lo, tl);
    hi = std::max(hi, th);
  }
  min = lo;
  max = hi;
  return finite && std::isfinite(lo) && std::isfinite(hi);
#else
  return min_max_scalar(x, n, abs, min, max);
#endif
}

}  // namespace quench::calib_internal
