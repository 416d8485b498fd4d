#include "runtime/kernels/quant_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/parallel.h"

namespace quench::quant {

namespace {

// Blocking. A task computes a kMc x kNc block of C; per kKc slice of K it packs its panels of A
// and B into int16 pairs (k, k+1) so that one 32-bit lane holds the two values that vpmaddwd
// multiplies and adds: lane j of madd(pair(A[i][k], A[i][k+1]), pair(B[k][j], B[k+1][j])) is
// A[i][k] * B[k][j] + A[i][k+1] * B[k+1][j], exact in int32 for |values| <= 32767.
constexpr int kMr = 4;    // rows of C per micro-kernel call
constexpr int kNr = 32;   // columns of C per micro-kernel call (2 zmm / 4 ymm)
constexpr int64_t kMc = 64;
constexpr int64_t kNc = 256;
constexpr int64_t kKc = 512;  // 256 pairs: a packed B panel of 256 x 256 int32 (256 KB) stays in L2

inline int32_t pack_pair(int16_t lo, int16_t hi) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(lo)) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16));
}

// B[0..kb)[0..nb) -> groups of kNr columns, each [kp][kNr] pairs, zero padded. The common case
// (a full group with both rows) is a branch-free interleave that compiles to vector unpacks.
void pack_b(const int16_t* b, int64_t ldb, int64_t kb, int64_t nb, int32_t* out) {
  const int64_t kp = (kb + 1) / 2;
  for (int64_t g = 0; g * kNr < nb; ++g) {
    const int64_t j0 = g * kNr;
    const bool full = j0 + kNr <= nb;
    for (int64_t p = 0; p < kp; ++p) {
      int32_t* __restrict dst = out + (g * kp + p) * kNr;
      const int16_t* __restrict r0 = b + 2 * p * ldb + j0;
      const int16_t* __restrict r1 = r0 + ldb;
      if (full && 2 * p + 1 < kb) {
        for (int jj = 0; jj < kNr; ++jj) {
          dst[jj] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(r0[jj])) |
                                         (static_cast<uint32_t>(static_cast<uint16_t>(r1[jj])) << 16));
        }
        continue;
      }
      const bool has_hi = 2 * p + 1 < kb;
      for (int jj = 0; jj < kNr; ++jj) {
        dst[jj] = j0 + jj < nb ? pack_pair(r0[jj], has_hi ? r1[jj] : int16_t{0}) : 0;
      }
    }
  }
}

// A[0..mb)[0..kb) -> groups of kMr rows, each [kp][kMr] pairs, zero padded.
void pack_a(const int16_t* a, int64_t lda, int64_t mb, int64_t kb, int32_t* out) {
  const int64_t kp = (kb + 1) / 2;
  for (int64_t g = 0; g * kMr < mb; ++g) {
    for (int r = 0; r < kMr; ++r) {
      const int64_t i = g * kMr + r;
      const int16_t* row = a + i * lda;
      for (int64_t p = 0; p < kp; ++p) {
        int32_t v = 0;
        if (i < mb) v = pack_pair(row[2 * p], 2 * p + 1 < kb ? row[2 * p + 1] : int16_t{0});
        out[(g * kp + p) * kMr + r] = v;
      }
    }
  }
}

// C[0..mr)[0..nr) += acc, where acc is a full kMr x kNr tile.
inline void add_tile(const int32_t* acc, int32_t* c, int64_t ldc, int mr, int nr) {
  for (int r = 0; r < mr; ++r) {
    for (int j = 0; j < nr; ++j) c[r * ldc + j] += acc[r * kNr + j];
  }
}

using MicroKernel = void (*)(int64_t kp, const int32_t* a, const int32_t* b, int32_t* c,
                             int64_t ldc, int mr, int nr);

void micro_scalar(int64_t kp, const int32_t* a, const int32_t* b, int32_t* c, int64_t ldc, int mr,
                  int nr) {
  int32_t acc[kMr * kNr] = {};
  for (int64_t p = 0; p < kp; ++p) {
    for (int r = 0; r < kMr; ++r) {
      const int32_t av = a[p * kMr + r];
      const int32_t a_lo = static_cast<int16_t>(av & 0xffff), a_hi = static_cast<int16_t>(av >> 16);
      for (int j = 0; j < kNr; ++j) {
        const int32_t bv = b[p * kNr + j];
        acc[r * kNr + j] += a_lo * static_cast<int16_t>(bv & 0xffff) + a_hi * static_cast<int16_t>(bv >> 16);
      }
    }
  }
  add_tile(acc, c, ldc, mr, nr);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void micro_avx2(int64_t kp, const int32_t* a, const int32_t* b,
                                                int32_t* c, int64_t ldc, int mr, int nr) {
  alignas(64) int32_t acc[kMr * kNr];
  // Two rows at a time: 2 x 4 ymm accumulators, 4 loads of B, 2 broadcasts of A.
  for (int r0 = 0; r0 < kMr; r0 += 2) {
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00;
    __m256i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    for (int64_t p = 0; p < kp; ++p) {
      const int32_t* bp = b + p * kNr;
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + 8));
      const __m256i b2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + 16));
      const __m256i b3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + 24));
      const __m256i a0 = _mm256_set1_epi32(a[p * kMr + r0]);
      const __m256i a1 = _mm256_set1_epi32(a[p * kMr + r0 + 1]);
      c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a0, b0));
      c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a0, b1));
      c02 = _mm256_add_epi32(c02, _mm256_madd_epi16(a0, b2));
      c03 = _mm256_add_epi32(c03, _mm256_madd_epi16(a0, b3));
      c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a1, b0));
      c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a1, b1));
      c12 = _mm256_add_epi32(c12, _mm256_madd_epi16(a1, b2));
      c13 = _mm256_add_epi32(c13, _mm256_madd_epi16(a1, b3));
    }
    __m256i* t = reinterpret_cast<__m256i*>(acc + r0 * kNr);
    _mm256_store_si256(t + 0, c00);
    _mm256_store_si256(t + 1, c01);
    _mm256_store_si256(t + 2, c02);
    _mm256_store_si256(t + 3, c03);
    _mm256_store_si256(t + 4, c10);
    _mm256_store_si256(t + 5, c11);
    _mm256_store_si256(t + 6, c12);
    _mm256_store_si256(t + 7, c13);
  }
  add_tile(acc, c, ldc, mr, nr);
}

// AVX-512: 4 rows x 2 zmm accumulators; with VNNI the multiply-add-accumulate is one vpdpwssd.
#define QUENCH_MICRO_AVX512(NAME, TARGET, MADD)                                                  \
  __attribute__((target(TARGET))) void NAME(int64_t kp, const int32_t* a, const int32_t* b,      \
                                            int32_t* c, int64_t ldc, int mr, int nr) {           \
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00;                      \
    __m512i c20 = c00, c21 = c00, c30 = c00, c31 = c00;                                         \
    for (int64_t p = 0; p < kp; ++p) {                                                          \
      const __m512i b0 = _mm512_loadu_si512(b + p * kNr);                                       \
      const __m512i b1 = _mm512_loadu_si512(b + p * kNr + 16);                                  \
      const int32_t* ap = a + p * kMr;                                                          \
      __m512i av = _mm512_set1_epi32(ap[0]);                                                    \
      c00 = MADD(c00, av, b0);                                                                  \
      c01 = MADD(c01, av, b1);                                                                  \
      av = _mm512_set1_epi32(ap[1]);                                                            \
      c10 = MADD(c10, av, b0);                                                                  \
      c11 = MADD(c11, av, b1);                                                                  \
      av = _mm512_set1_epi32(ap[2]);                                                            \
      c20 = MADD(c20, av, b0);                                                                  \
      c21 = MADD(c21, av, b1);                                                                  \
      av = _mm512_set1_epi32(ap[3]);                                                            \
      c30 = MADD(c30, av, b0);                                                                  \
      c31 = MADD(c31, av, b1);                                                                  \
    }                                                                                           \
    if (mr == kMr && nr == kNr) {                                                               \
      const __m512i rows[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};            \
      for (int r = 0; r < kMr; ++r) {                                                           \
        for (int h = 0; h < 2; ++h) {                                                           \
          int32_t* dst = c + r * ldc + h * 16;                                                  \
          _mm512_storeu_si512(dst, _mm512_add_epi32(_mm512_loadu_si512(dst), rows[r][h]));      \
        }                                                                                       \
      }                                                                                         \
      return;                                                                                   \
    }                                                                                           \
    alignas(64) int32_t acc[kMr * kNr];                                                         \
    _mm512_store_si512(acc + 0, c00);                                                           \
    _mm512_store_si512(acc + 16, c01);                                                          \
    _mm512_store_si512(acc + 32, c10);                                                          \
    _mm512_store_si512(acc + 48, c11);                                                          \
    _mm512_store_si512(acc + 64, c20);                                                          \
    _mm512_store_si512(acc + 80, c21);                                                          \
    _mm512_store_si512(acc + 96, c30);                                                          \
    _mm512_store_si512(acc + 112, c31);                                                         \
    add_tile(acc, c, ldc, mr, nr);                                                              \
  }

#define QUENCH_MADD_BW(acc, a, b) _mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
#define QUENCH_MADD_VNNI(acc, a, b) _mm512_dpwssd_epi32(acc, a, b)
QUENCH_MICRO_AVX512(micro_avx512, "avx512f,avx512bw", QUENCH_MADD_BW)
QUENCH_MICRO_AVX512(micro_avx512_vnni, "avx512f,avx512bw,avx512vnni", QUENCH_MADD_VNNI)
#undef QUENCH_MICRO_AVX512
#undef QUENCH_MADD_BW
#undef QUENCH_MADD_VNNI
#endif

MicroKernel pick_micro_kernel() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bw")) {
    return __builtin_cpu_supports("avx512vnni") ? micro_avx512_vnni : micro_avx512;
  }
  if (__builtin_cpu_supports("avx2")) return micro_avx2;
#endif
  return micro_scalar;
}

MicroKernel micro_kernel() {
  static const MicroKernel k = pick_micro_kernel();
  return k;
}

struct Variant {
  const char* name;
  MicroKernel kernel;
  bool (*supported)();
};

bool always() { return true; }
#if defined(__x86_64__) && defined(__GNUC__)
bool has_avx2() { return __builtin_cpu_supports("avx2"); }
bool has_avx512() { return __builtin_cpu_supports("avx512bw"); }
bool has_avx512_vnni() { return has_avx512() && __builtin_cpu_supports("avx512vnni"); }
const Variant kVariants[] = {
    {"avx512_vnni", micro_avx512_vnni, has_avx512_vnni},
    {"avx512", micro_avx512, has_avx512},
    {"avx2", micro_avx2, has_avx2},
    {"scalar", micro_scalar, always},
};
#else
const Variant kVariants[] = {{"scalar", micro_scalar, always}};
#endif

void gemm_with(MicroKernel kernel, int64_t m, int64_t n, int64_t k, const int16_t* a, int64_t lda,
               const int16_t* b, int64_t ldb, int32_t* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const int64_t row_blocks = (m + kMc - 1) / kMc;
  const int64_t col_blocks = (n + kNc - 1) / kNc;
  // Small products are not worth waking threads for.
  const int64_t work_per_task = std::min(m, kMc) * std::min(n, kNc) * std::max<int64_t>(k, 1);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 19) / std::max<int64_t>(work_per_task, 1));
  parallel_for(row_blocks * col_blocks, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> a_panel(static_cast<size_t>(kMc * kKc / 2));
    std::vector<int32_t> b_panel(static_cast<size_t>(kNc * kKc / 2));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i0 = (t / col_blocks) * kMc, j0 = (t % col_blocks) * kNc;
      const int64_t mb = std::min(kMc, m - i0), nb = std::min(kNc, n - j0);
      for (int64_t i = 0; i < mb; ++i) std::memset(c + (i0 + i) * ldc + j0, 0, nb * sizeof(int32_t));
      for (int64_t p0 = 0; p0 < k; p0 += kKc) {
        const int64_t kb = std::min(kKc, k - p0), kp = (kb + 1) / 2;
        pack_a(a + i0 * lda + p0, lda, mb, kb, a_panel.data());
        pack_b(b + p0 * ldb + j0, ldb, kb, nb, b_panel.data());
        for (int64_t jg = 0; jg * kNr < nb; ++jg) {
          const int nr = static_cast<int>(std::min<int64_t>(kNr, nb - jg * kNr));
          for (int64_t ig = 0; ig * kMr < mb; ++ig) {
            const int mr = static_cast<int>(std::min<int64_t>(kMr, mb - ig * kMr));
            kernel(kp, a_panel.data() + ig * kp * kMr, b_panel.data() + jg * kp * kNr,
                   c + (i0 + ig * kMr) * ldc + j0 + jg * kNr, ldc, mr, nr);
          }
        }
      }
    }
  }, grain);
}

}  // namespace

void gemm_s16(int64_t m, int64_t n, int64_t k, const int16_t* a, int64_t lda, const int16_t* b,
              int64_t ldb, int32_t* c, int64_t ldc) {
  gemm_with(micro_kernel(), m, n, k, a, lda, b, ldb, c, ldc);
}

std::vector<std::string> gemm_s16_variants() {
  std::vector<std::string> out;
  for (const Variant& v : kVariants) {
    if (v.supported()) out.push_back(v.name);
  }
  return out;
}

bool gemm_s16_variant(const std::string& name, int64_t m, int64_t n, int64_t k, const int16_t* a,
                      int64_t lda, const int16_t* b, int64_t ldb, int32_t* c, int64_t ldc) {
  for (const Variant& v : kVariants) {
    if (name == v.name && v.supported()) {
      gemm_with(v.kernel, m, n, k, a, lda, b, ldb, c, ldc);
      return true;
    }
  }
  return false;
}

void gemm_s16_reference(int64_t m, int64_t n, int64_t k, const int16_t* a, int64_t lda,
                        const int16_t* b, int64_t ldb, int32_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += int64_t{a[i * lda + p]} * b[p * ldb + j];
      c[i * ldc + j] = static_cast<int32_t>(acc);
    }
  }
}

template <class T>
void im2col_s16(const T* x, int32_t zero_point, const Im2colShape& s, int64_t row_begin,
                int64_t row_end, int16_t* col) {
  const int64_t ksize = s.kernel[0] * s.kernel[1] * s.kernel[2];
  const int64_t out_sp = (row_end - row_begin) * s.out[2];
  const int64_t in_sp = s.in[0] * s.in[1] * s.in[2];
  const int64_t rows = s.channels * ksize;
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(out_sp, 1));
  parallel_for(rows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r / ksize;
      int64_t rem = r % ksize;
      const int64_t kw = rem % s.kernel[2];
      rem /= s.kernel[2];
      const int64_t kh = rem % s.kernel[1];
      const int64_t kd = rem / s.kernel[1];
      const T* xc = x + c * in_sp;
      int16_t* dst = col + r * out_sp;
      for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t od = row / s.out[1], oh = row % s.out[1];
        const int64_t id = od * s.stride[0] - s.pad_begin[0] + kd * s.dilation[0];
        {
          const int64_t ih = oh * s.stride[1] - s.pad_begin[1] + kh * s.dilation[1];
          int16_t* d = dst + (row - row_begin) * s.out[2];
          if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1]) {
            std::memset(d, 0, static_cast<size_t>(s.out[2]) * sizeof(int16_t));
            continue;
          }
          const T* xr = xc + (id * s.in[1] + ih) * s.in[2];
          const int64_t w0 = kw * s.dilation[2] - s.pad_begin[2];
          // Outputs [ow_lo, ow_hi) read inside the row; the rest read padding.
          const int64_t sw = s.stride[2];
          int64_t ow_lo = w0 >= 0 ? 0 : (-w0 + sw - 1) / sw;
          int64_t ow_hi = s.in[2] - w0 <= 0 ? 0 : (s.in[2] - w0 + sw - 1) / sw;
          ow_lo = std::min(ow_lo, s.out[2]);
          ow_hi = std::clamp(ow_hi, ow_lo, s.out[2]);
          for (int64_t ow = 0; ow < ow_lo; ++ow) d[ow] = 0;
          if (sw == 1) {
            const T* src = xr + w0;
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow] = static_cast<int16_t>(int32_t{src[ow]} - zero_point);
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
              d[ow] = static_cast<int16_t>(int32_t{xr[ow * sw + w0]} - zero_point);
            }
          }
          for (int64_t ow = ow_hi; ow < s.out[2]; ++ow) d[ow] = 0;
        }
      }
    }
  }, grain);
}

template void im2col_s16<int8_t>(const int8_t*, int32_t, const Im2colShape&, int64_t, int64_t,
                                 int16_t*);
template void im2col_s16<uint8_t>(const uint8_t*, int32_t, const Im2colShape&, int64_t, int64_t,
                                  int16_t*);

}  // namespace quench::quant
