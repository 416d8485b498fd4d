#include "calib/scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QUENCH_SCAN_AVX2 1
#endif

#include "core/cpu.h"

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

namespace {

// Adds 1 for each index, alternating between the kBinCopies histograms.
inline void scatter(const int32_t* idx, int64_t m, uint32_t* counts, int64_t stride) {
  int64_t j = 0;
  for (; j + kBinCopies <= m; j += kBinCopies)
    for (int c = 0; c < kBinCopies; ++c) ++counts[c * stride + idx[j + c]];
  for (; j < m; ++j) ++counts[idx[j]];
}

BinScan scan_bin_scalar(const float* x, int64_t n, bool abs, float scale, float t_lo, float t_hi,
                        int32_t offset, uint32_t* counts, int64_t stride) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  bool nan = false;
  int64_t zeros = 0;
  constexpr int kBlock = 256;
  int32_t idx[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    int64_t m = 0;
    for (int64_t i = b; i < e; ++i) {
      const float v = abs ? std::fabs(x[i]) : x[i];
      nan |= v != v;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      if (v == 0.0f) {
        ++zeros;
        continue;
      }
      float t = v * scale;
      t = t > t_hi ? t_hi : t;
      t = t >= t_lo ? t : t_lo;  // NaN too
      const int32_t r = static_cast<int32_t>(t);
      idx[m++] = r - static_cast<int32_t>(t < static_cast<float>(r)) + offset;
    }
    scatter(idx, m, counts, stride);
  }
  BinScan out;
  out.min = lo;
  out.max = hi;
  out.finite = !nan && std::isfinite(lo) && std::isfinite(hi);
  out.zeros = zeros;
  return out;
}

// The vector loops' end: the lanes' extremes reduced, the scalar tail x[0, tail_n) scanned and
// binned, the result put together.
BinScan finish_bin_scan(const float* lane_lo, const float* lane_hi, int lanes, bool finite,
                        int64_t zeros, const float* tail, int64_t tail_n, bool abs, float scale,
                        float t_lo, float t_hi, int32_t offset, uint32_t* counts, int64_t stride) {
  float lo = lane_lo[0], hi = lane_hi[0];
  for (int k = 1; k < lanes; ++k) {
    lo = std::min(lo, lane_lo[k]);
    hi = std::max(hi, lane_hi[k]);
  }
  if (tail_n > 0) {
    const BinScan t = scan_bin_scalar(tail, tail_n, abs, scale, t_lo, t_hi, offset, counts, stride);
    lo = std::min(lo, t.min);
    hi = std::max(hi, t.max);
    finite &= t.finite;
    zeros += t.zeros;
  }
  BinScan out;
  out.min = lo;
  out.max = hi;
  out.finite = finite && std::isfinite(lo) && std::isfinite(hi);
  out.zeros = zeros;
  return out;
}

#if QUENCH_SCAN_AVX2
// Lane indices that move the lanes set in an 8-bit mask to the front (the compress permutation).
struct CompressTable {
  alignas(32) int32_t lanes[256][8];
  constexpr CompressTable() : lanes{} {
    for (int m = 0; m < 256; ++m) {
      int k = 0;
      for (int b = 0; b < 8; ++b)
        if (m >> b & 1) lanes[m][k++] = b;
    }
  }
};
constexpr CompressTable kCompress{};

// Eight values a step: extremes and the NaN flag in registers, bins by the float arithmetic of the
// scalar loop (truncation, then -1 where that rounded up: floor), and the non-zero lanes' bins
// compressed to the front of a block buffer that is then scattered.
template <bool kAbs>
__attribute__((target("avx2,popcnt"))) BinScan scan_bin_avx2_impl(
    const float* x, int64_t n, float scale, float t_lo, float t_hi, int32_t offset,
    uint32_t* counts, int64_t stride) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 vscale = _mm256_set1_ps(scale), vlo = _mm256_set1_ps(t_lo), vhi = _mm256_set1_ps(t_hi);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i voff = _mm256_set1_epi32(offset);
  __m256 mn = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 mx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 bad = zero;
  int64_t zeros = 0;
  constexpr int kBlock = 256;
  alignas(32) int32_t idx[kBlock + 8];
  const int64_t n8 = n & ~int64_t{7};
  for (int64_t i = 0; i < n8;) {
    const int64_t end = std::min(n8, i + kBlock);
    int64_t m = 0;
    for (; i < end; i += 8) {
      __m256 v = _mm256_loadu_ps(x + i);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      if (kAbs) v = _mm256_and_ps(v, abs_mask);
      mn = _mm256_min_ps(v, mn);  // a NaN lane keeps the running value (second operand)
      mx = _mm256_max_ps(v, mx);
      __m256 t = _mm256_min_ps(_mm256_mul_ps(v, vscale), vhi);  // NaN -> t_hi
      t = _mm256_max_ps(t, vlo);
      __m256i r = _mm256_cvttps_epi32(t);
      if (!kAbs)  // v >= 0 in the |x| case, where truncation is floor
        r = _mm256_add_epi32(r, _mm256_castps_si256(_mm256_cmp_ps(t, _mm256_cvtepi32_ps(r), _CMP_LT_OQ)));
      r = _mm256_add_epi32(r, voff);
      const int nz = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ));
      const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompress.lanes[nz]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + m), _mm256_permutevar8x32_epi32(r, perm));
      const int k = _mm_popcnt_u32(static_cast<unsigned>(nz));
      m += k;
      zeros += 8 - k;
    }
    scatter(idx, m, counts, stride);
  }
  alignas(32) float lo8[8], hi8[8];
  _mm256_store_ps(lo8, mn);
  _mm256_store_ps(hi8, mx);
  return finish_bin_scan(lo8, hi8, 8, _mm256_movemask_ps(bad) == 0, zeros, x + n8, n - n8, kAbs,
                         scale, t_lo, t_hi, offset, counts, stride);
}

BinScan scan_bin_avx2(const float* x, int64_t n, bool abs, float scale, float t_lo, float t_hi,
                      int32_t offset, uint32_t* counts, int64_t stride) {
  return abs ? scan_bin_avx2_impl<true>(x, n, scale, t_lo, t_hi, offset, counts, stride)
             : scan_bin_avx2_impl<false>(x, n, scale, t_lo, t_hi, offset, counts, stride);
}

// Sixteen values a step, with mask registers and the compress instruction (register form).
template <bool kAbs>
__attribute__((target("avx512f"))) BinScan scan_bin_avx512_impl(
    const float* x, int64_t n, float scale, float t_lo, float t_hi, int32_t offset,
    uint32_t* counts, int64_t stride) {
  const __m512 vscale = _mm512_set1_ps(scale), vlo = _mm512_set1_ps(t_lo), vhi = _mm512_set1_ps(t_hi);
  const __m512 zero = _mm512_setzero_ps();
  const __m512i voff = _mm512_set1_epi32(offset);
  constexpr __mmask16 kAll = 0xffff;
  __m512 mn = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __mmask16 bad = 0;
  int64_t zeros = 0;
  constexpr int kBlock = 256;
  alignas(64) int32_t idx[kBlock + 16];
  const int64_t n16 = n & ~int64_t{15};
  for (int64_t i = 0; i < n16;) {
    const int64_t end = std::min(n16, i + kBlock);
    int64_t m = 0;
    for (; i < end; i += 16) {
      __m512 v = _mm512_loadu_ps(x + i);
      bad |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      if (kAbs) v = _mm512_abs_ps(v);
      // (The mask forms with every lane set: GCC 12 warns about the undefined pass-through
      // operand of the plain ones.)
      mn = _mm512_mask_min_ps(mn, kAll, v, mn);
      mx = _mm512_mask_max_ps(mx, kAll, v, mx);
      __m512 t = _mm512_mask_min_ps(vhi, kAll, _mm512_mul_ps(v, vscale), vhi);
      t = _mm512_mask_max_ps(t, kAll, t, vlo);
      __m512i r = kAbs ? _mm512_mask_cvttps_epi32(voff, kAll, t)
                       : _mm512_mask_cvt_roundps_epi32(voff, kAll, t,
                                                       _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
      r = _mm512_add_epi32(r, voff);
      const __mmask16 nz = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
      _mm512_storeu_si512(idx + m, _mm512_maskz_compress_epi32(nz, r));
      const int k = __builtin_popcount(static_cast<unsigned>(nz));
      m += k;
      zeros += 16 - k;
    }
    scatter(idx, m, counts, stride);
  }
  alignas(64) float lo16[16], hi16[16];
  _mm512_store_ps(lo16, mn);
  _mm512_store_ps(hi16, mx);
  return finish_bin_scan(lo16, hi16, 16, bad == 0, zeros, x + n16, n - n16, kAbs, scale, t_lo,
                         t_hi, offset, counts, stride);
}

BinScan scan_bin_avx512(const float* x, int64_t n, bool abs, float scale, float t_lo, float t_hi,
                        int32_t offset, uint32_t* counts, int64_t stride) {
  return abs ? scan_bin_avx512_impl<true>(x, n, scale, t_lo, t_hi, offset, counts, stride)
             : scan_bin_avx512_impl<false>(x, n, scale, t_lo, t_hi, offset, counts, stride);
}

#endif

BinScanFn pick_scan_bin() {
#if QUENCH_SCAN_AVX2
  if (cpu_has_avx512f()) return scan_bin_avx512;
  if (cpu_has_avx2()) return scan_bin_avx2;
#endif
  return scan_bin_scalar;
}

}  // namespace

BinScan scan_bin(const float* x, int64_t n, bool abs, float scale, float t_lo, float t_hi,
                 int32_t offset, uint32_t* counts, int64_t stride) {
  static const BinScanFn fn = pick_scan_bin();
  return fn(x, n, abs, scale, t_lo, t_hi, offset, counts, stride);
}

std::vector<BinScanVariant> scan_bin_variants() {
  std::vector<BinScanVariant> out;
#if QUENCH_SCAN_AVX2
  if (cpu_has_avx512f()) out.push_back({"avx512", scan_bin_avx512});
  if (cpu_has_avx2()) out.push_back({"avx2", scan_bin_avx2});
#endif
  out.push_back({"scalar", scan_bin_scalar});
  return out;
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
