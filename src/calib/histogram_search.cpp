// Range searches on histogram counts (histogram_search.h). Each function lists its steps and source.
#include "calib/histogram_search.h"

#include <algorithm>
#include <functional>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "core/cpu.h"

namespace quench::calib_internal {

namespace {

constexpr double kInfD = std::numeric_limits<double>::infinity();

double total_of(const std::vector<double>& c) {
  double t = 0;
  for (double v : c) t += v;
  return t;
}

// Prefix sums of count, count * centre and count * centre^2 for bins over [lo, lo + n * w].
struct Moments3 {
  std::vector<double> s0, s1, s2;  // s[k] = sum over bins < k
  Moments3(const std::vector<double>& c, double lo, double w) {
    const size_t n = c.size();
    s0.assign(n + 1, 0);
    s1.assign(n + 1, 0);
    s2.assign(n + 1, 0);
    for (size_t k = 0; k < n; ++k) {
      const double x = lo + (static_cast<double>(k) + 0.5) * w;
      s0[k + 1] = s0[k] + c[k];
      s1[k + 1] = s1[k] + c[k] * x;
      s2[k + 1] = s2[k] + c[k] * x * x;
    }
  }
  // sum over bins [a, b) of count * (centre - t)^2
  double sq_dev(size_t a, size_t b, double t) const {
    if (b <= a) return 0;
    const double n0 = s0[b] - s0[a], n1 = s1[b] - s1[a], n2 = s2[b] - s2[a];
    return std::max(0.0, n2 - 2 * t * n1 + t * t * n0);
  }
};

// Python / torch round(): half to even.
double round_half_even(double v) { return std::nearbyint(v); }

}  // namespace

std::vector<double> abs_counts(const PowerOfTwoHistogram& h, double amax, int n) {
  if (h.sides() == PowerOfTwoHistogram::Sides::kAbs) return h.resample(0.0, amax, n);
  // Resample x onto 2n bins over [-amax, amax] and fold: |x| bin k = x bins n + k and n - 1 - k.
  const std::vector<double> two = h.resample(-amax, amax, 2 * n);
  std::vector<double> out(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k)
    out[static_cast<size_t>(k)] =
        two[static_cast<size_t>(n + k)] + two[static_cast<size_t>(n - 1 - k)];
  return out;
}

std::vector<double> signed_counts(const PowerOfTwoHistogram& h, double lo, double hi, int n) {
  return h.resample(lo, hi, n);
}

// ONNX Runtime HistogramCalibrater.compute_percentile (symmetric branch), with the upper edge of
// the crossing bin instead of its lower edge so that pct = 100 gives amax.
double percentile_threshold(const std::vector<double>& counts, double amax, double pct) {
  const double total = total_of(counts);
  if (total <= 0) return 0;
  const size_t n = counts.size();
  const double target = pct / 100.0 * total;
  double cum = 0;
  for (size_t k = 0; k < n; ++k) {
    cum += counts[k];
    if (cum >= target * (1 - 1e-12)) return std::min(amax, amax * static_cast<double>(k + 1) / n);
  }
  return amax;
}

// ONNX Runtime compute_percentile (asymmetric branch): (100 - pct) / 200 of the mass cut from each
// side.
std::pair<double, double> percentile_range(const std::vector<double>& counts, double lo, double hi,
                                           double pct) {
  const double total = total_of(counts);
  const size_t n = counts.size();
  if (total <= 0 || n == 0) return {lo, hi};
  const double w = (hi - lo) / static_cast<double>(n);
  const double cut = (100.0 - pct) / 200.0 * total;
  double cum = 0;
  size_t left = n - 1, right = n - 1;
  bool have_left = false;
  for (size_t k = 0; k < n; ++k) {
    cum += counts[k];
    if (!have_left && cum > 0 && cum >= cut * (1 - 1e-12)) {
      left = k;
      have_left = true;
    }
    if (cum >= (total - cut) * (1 - 1e-12)) {
      right = k;
      break;
    }
  }
  const double rlo = std::max(lo, lo + w * static_cast<double>(left));
  const double rhi = std::min(hi, lo + w * static_cast<double>(right + 1));
  return {rlo, std::max(rlo, rhi)};
}

// TensorRT entropy calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017), per candidate i:
//   1. P = counts[0, i), the mass beyond (counts[i, n)) added to P[i - 1];
//   2. Q = counts[0, i) merged into target_bins groups (group j covers [j*i/T, (j+1)*i/T), so no
//      bin is left out when i is not a multiple of T), each group's mass spread evenly over the
//      bins where P is non-zero;
//   3. KL(P || Q) on the normalised distributions. Where TensorRT / ONNX Runtime add eps to zero
//      bins, Q is mixed with 1e-4 of the uniform distribution: the same effect, never negative.
//   Q is constant over the P-support of a group, so KL = sum p log p - sum_g P_g log q_g is O(T)
//   per candidate with prefix sums of c log c: the full search over i = T..2048 costs about
//   2048 * T operations.
//   4. threshold = i * amax / n at the first minimum.
namespace {

// Natural log of positive normal doubles, the same bits in the scalar and the AVX2 form (the same
// operations in the same order, no FMA): x = 2^k m with m in [sqrt(2)/2, sqrt(2)), f = m - 1,
// s = f / (2 + f), log(m) = f - f^2/2 + s (f^2/2 + R(s^2)) with the minimax polynomial R of
// FreeBSD's e_log.c (< 1 ulp from the true log). The entropy search takes thousands of logs per
// candidate threshold; these run four at a time.
constexpr double kLg1 = 6.666666666666735130e-01, kLg2 = 3.999999999940941908e-01,
                 kLg3 = 2.857142874366239149e-01, kLg4 = 2.222219843214978396e-01,
                 kLg5 = 1.818357216161805012e-01, kLg6 = 1.531383769920937332e-01,
                 kLg7 = 1.479819860511658591e-01;
constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
constexpr double kSqrt2 = 1.41421356237309504880;

double log_scalar(double x) {
  if (!(x >= std::numeric_limits<double>::min()) || !(x <= std::numeric_limits<double>::max()))
    return std::log(x);  // zero, subnormal, negative, Inf, NaN: not what the search feeds it
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  double k = static_cast<double>(static_cast<int64_t>(bits >> 52)) - 1023.0;
  bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  std::memcpy(&m, &bits, sizeof m);
  if (m > kSqrt2) {
    m = m * 0.5;
    k = k + 1.0;
  }
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s, w = z * z;
  const double t1 = w * (kLg2 + w * (kLg4 + w * kLg6));
  const double t2 = z * (kLg1 + w * (kLg3 + w * (kLg5 + w * kLg7)));
  const double r = t2 + t1;
  const double hfsq = 0.5 * f * f;
  return k * kLn2Hi - ((hfsq - (s * (hfsq + r) + k * kLn2Lo)) - f);
}

void log_many_scalar(const double* x, double* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = log_scalar(x[i]);
}

#if defined(__x86_64__) && defined(__GNUC__)
// log_scalar on four positive normal doubles.
__attribute__((target("avx2"))) inline __m256d log4_avx2(__m256d v) {
  const __m256i bits = _mm256_castpd_si256(v);
  const __m256d e = _mm256_sub_pd(
      _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52),
                                          _mm256_set1_epi64x(0x4330000000000000LL))),  // 2^52
      _mm256_set1_pd(4503599627370496.0));
  __m256d k = _mm256_sub_pd(e, _mm256_set1_pd(1023.0));
  __m256d m = _mm256_castsi256_pd(_mm256_or_si256(
      _mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL)),
      _mm256_set1_epi64x(0x3ff0000000000000LL)));
  const __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(kSqrt2), _CMP_GT_OQ);
  m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
  k = _mm256_blendv_pd(k, _mm256_add_pd(k, _mm256_set1_pd(1.0)), big);
  const __m256d f = _mm256_sub_pd(m, _mm256_set1_pd(1.0));
  const __m256d s = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f));
  const __m256d z = _mm256_mul_pd(s, s), w = _mm256_mul_pd(z, z);
  const __m256d t1 = _mm256_mul_pd(
      w, _mm256_add_pd(_mm256_set1_pd(kLg2),
                       _mm256_mul_pd(w, _mm256_add_pd(_mm256_set1_pd(kLg4),
                                                      _mm256_mul_pd(w, _mm256_set1_pd(kLg6))))));
  const __m256d t2 = _mm256_mul_pd(
      z, _mm256_add_pd(
             _mm256_set1_pd(kLg1),
             _mm256_mul_pd(w, _mm256_add_pd(_mm256_set1_pd(kLg3),
                                            _mm256_mul_pd(w, _mm256_add_pd(_mm256_set1_pd(kLg5),
                                                                           _mm256_mul_pd(w, _mm256_set1_pd(kLg7))))))));
  const __m256d r = _mm256_add_pd(t2, t1);
  const __m256d hfsq = _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(0.5), f), f);
  const __m256d inner = _mm256_add_pd(_mm256_mul_pd(s, _mm256_add_pd(hfsq, r)),
                                      _mm256_mul_pd(k, _mm256_set1_pd(kLn2Lo)));
  return _mm256_sub_pd(_mm256_mul_pd(k, _mm256_set1_pd(kLn2Hi)),
                       _mm256_sub_pd(_mm256_sub_pd(hfsq, inner), f));
}

// Four lanes are fed to log4_avx2 only when all are positive normal numbers.
__attribute__((target("avx2"))) inline bool all_normal_avx2(__m256d v) {
  const __m256d ok =
      _mm256_and_pd(_mm256_cmp_pd(v, _mm256_set1_pd(std::numeric_limits<double>::min()), _CMP_GE_OQ),
                    _mm256_cmp_pd(v, _mm256_set1_pd(std::numeric_limits<double>::max()), _CMP_LE_OQ));
  return _mm256_movemask_pd(ok) == 0xf;
}

__attribute__((target("avx2"))) void log_many_avx2(const double* x, double* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d v = _mm256_loadu_pd(x + i);
    if (all_normal_avx2(v)) {
      _mm256_storeu_pd(out + i, log4_avx2(v));
    } else {
      log_many_scalar(x + i, out + i, 4);
    }
  }
  log_many_scalar(x + i, out + i, n - i);
}
#endif

// The entropy search's cross-entropy terms, group j of `count` covering bins [b_j, b_{j+1}) of the
// clipped histogram, given cb[j] = csum[b_j] and nzb[j] = nz[b_j] (prefix sums of the counts and of
// the non-empty bins), j <= count:
//   term[j] = mass * inv_total * log(a * mass * inv[support] + lam_i)
// with mass = cb[j + 1] - cb[j], support = nzb[j + 1] - nzb[j], a = (1 - lambda) / q_total,
// inv[k] = 1 / k; 0 for a group with no mass or no support. Scalar and AVX2 give the same bits.
constexpr double kEntropyLambda = 1e-4;

struct EntropyGroupArgs {
  const double* cb;
  const int32_t* nzb;
  const double* inv;  // inv[k] = 1 / k
  double a, inv_total, lam_i;
};

inline double entropy_term(const EntropyGroupArgs& g, int64_t j) {
  const int32_t support = g.nzb[j + 1] - g.nzb[j];
  const double mass = g.cb[j + 1] - g.cb[j];
  if (support == 0 || !(mass > 0)) return 0.0;
  return mass * g.inv_total * log_scalar(g.a * mass * g.inv[support] + g.lam_i);
}

void entropy_terms_scalar(const EntropyGroupArgs& g, int64_t count, double* term) {
  for (int64_t j = 0; j < count; ++j) term[j] = entropy_term(g, j);
}

#if defined(__x86_64__) && defined(__GNUC__)
// Four groups' log argument (qs, 1 where the group is empty) and validity mask.
__attribute__((target("avx2"))) inline void entropy_qs_avx2(const EntropyGroupArgs& g, int64_t j,
                                                            __m256d& mass, __m256d& qs,
                                                            __m256d& valid) {
  const __m128i n0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.nzb + j));
  const __m128i n1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(g.nzb + j + 1));
  const __m128i support = _mm_sub_epi32(n1, n0);
  alignas(16) int32_t sup[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(sup), support);
  const __m256d inv = _mm256_set_pd(g.inv[sup[3]], g.inv[sup[2]], g.inv[sup[1]], g.inv[sup[0]]);
  mass = _mm256_sub_pd(_mm256_loadu_pd(g.cb + j + 1), _mm256_loadu_pd(g.cb + j));
  valid = _mm256_andnot_pd(
      _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(support, _mm_setzero_si128()))),
      _mm256_cmp_pd(mass, _mm256_setzero_pd(), _CMP_GT_OQ));
  qs = _mm256_blendv_pd(
      _mm256_set1_pd(1.0),
      _mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(g.a), mass), inv),
                    _mm256_set1_pd(g.lam_i)),
      valid);
}

// Eight groups a step, as two independent fours (the log's polynomial is a chain of dependent
// operations; two chains fill the pipeline).
__attribute__((target("avx2"))) void entropy_terms_avx2(const EntropyGroupArgs& g, int64_t count,
                                                        double* term) {
  const __m256d vinv_total = _mm256_set1_pd(g.inv_total), zero = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= count; j += 8) {
    __m256d mass0, qs0, valid0, mass1, qs1, valid1;
    entropy_qs_avx2(g, j, mass0, qs0, valid0);
    entropy_qs_avx2(g, j + 4, mass1, qs1, valid1);
    if (!all_normal_avx2(qs0) || !all_normal_avx2(qs1)) {
      entropy_terms_scalar(EntropyGroupArgs{g.cb + j, g.nzb + j, g.inv, g.a, g.inv_total, g.lam_i}, 8,
                           term + j);
      continue;
    }
    const __m256d l0 = log4_avx2(qs0), l1 = log4_avx2(qs1);
    _mm256_storeu_pd(term + j, _mm256_blendv_pd(zero, _mm256_mul_pd(_mm256_mul_pd(mass0, vinv_total), l0), valid0));
    _mm256_storeu_pd(term + j + 4,
                     _mm256_blendv_pd(zero, _mm256_mul_pd(_mm256_mul_pd(mass1, vinv_total), l1), valid1));
  }
  entropy_terms_scalar(EntropyGroupArgs{g.cb + j, g.nzb + j, g.inv, g.a, g.inv_total, g.lam_i},
                       count - j, term + j);
}
#endif

using EntropyTermsFn = void (*)(const EntropyGroupArgs&, int64_t, double*);

EntropyTermsFn pick_entropy_terms() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx2()) return entropy_terms_avx2;
#endif
  return entropy_terms_scalar;
}

}  // namespace

std::vector<LogVariant> log_variants() {
  std::vector<LogVariant> out;
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx2()) out.push_back({"avx2", log_many_avx2});
#endif
  out.push_back({"scalar", log_many_scalar});
  return out;
}

double entropy_threshold(const std::vector<double>& counts, double amax, int target_bins,
                         int step, bool exhaustive) {
  const int n = static_cast<int>(counts.size());
  if (n <= target_bins || target_bins < 1) return amax;
  step = std::max(step, 1);
  std::vector<double> csum(static_cast<size_t>(n) + 1, 0), clogc(static_cast<size_t>(n) + 1, 0);
  std::vector<int> nz(static_cast<size_t>(n) + 1, 0);
  for (int k = 0; k < n; ++k) {
    const double c = counts[static_cast<size_t>(k)];
    csum[static_cast<size_t>(k) + 1] = csum[static_cast<size_t>(k)] + c;
    clogc[static_cast<size_t>(k) + 1] = clogc[static_cast<size_t>(k)] + (c > 0 ? c * std::log(c) : 0);
    nz[static_cast<size_t>(k) + 1] = nz[static_cast<size_t>(k)] + (c > 0 ? 1 : 0);
  }
  const double total = csum[static_cast<size_t>(n)];
  if (total <= 0) return amax;
  static const EntropyTermsFn entropy_terms = pick_entropy_terms();
  std::vector<double> cb(static_cast<size_t>(target_bins) + 1), term(static_cast<size_t>(target_bins));
  std::vector<int32_t> nzb(cb.size());
  std::vector<double> inv(static_cast<size_t>(n) + 2, 0.0);  // 1 / support
  for (size_t k = 1; k < inv.size(); ++k) inv[k] = 1.0 / static_cast<double>(k);
  // KL divergence of clipping at i bins.
  auto kl_at = [&](int i) -> double {
    const size_t ui = static_cast<size_t>(i);
    const double last = counts[ui - 1] + (total - csum[ui]);  // P[i - 1] with the outliers
    const double q_total = csum[ui];                            // Q's mass (no outliers)
    if (q_total > 0) {
      // sum p log p over P (normalised by total).
      double plogp = (clogc[ui - 1] + (last > 0 ? last * std::log(last) : 0)) / total -
                     std::log(total);
      // cross = sum_g P_g log q_g. Group j covers bins [floor(j i / T), floor((j + 1) i / T)),
      // T = target_bins: the bounds advance by i / T with the remainder carried, without a
      // division per group. The prefix sums at the bounds first, then every group's term (four
      // at a time), then their sum in order.
      const int64_t step_q = i / target_bins, step_r = i % target_bins;
      int64_t q1 = 0, r1 = 0;
      for (int j = 0; j <= target_bins; ++j) {
        cb[static_cast<size_t>(j)] = csum[static_cast<size_t>(q1)];
        nzb[static_cast<size_t>(j)] = nz[static_cast<size_t>(q1)];
        q1 += step_q;
        r1 += step_r;
        if (r1 >= target_bins) {
          r1 -= target_bins;
          ++q1;
        }
      }
      // The last group [b, i) holds P[i - 1] with the outliers: its mass and support include
      // them for P, not for Q.
      const double lam_i = kEntropyLambda / i;
      const double a = (1 - kEntropyLambda) / q_total, inv_total = 1.0 / total;
      const EntropyGroupArgs args{cb.data(), nzb.data(), inv.data(), a, inv_total, lam_i};
      entropy_terms(args, target_bins - 1, term.data());
      {
        const int64_t j = target_bins - 1;
        const int32_t support = nzb[static_cast<size_t>(j) + 1] - nzb[static_cast<size_t>(j)] +
                                (last > 0 ? 1 : 0) - (counts[ui - 1] > 0 ? 1 : 0);
        const double q_mass = cb[static_cast<size_t>(j) + 1] - cb[static_cast<size_t>(j)];
        const double p_mass = q_mass + (total - csum[ui]);
        term.back() = support != 0 && p_mass > 0
                          ? p_mass * inv_total * log_scalar(a * q_mass * inv[static_cast<size_t>(support)] + lam_i)
                          : 0.0;
      }
      double cross = 0;
      for (double t : term) cross += t;
      return plogp - cross;
    }
    return kInfD;
  };
  // Every `step`-th candidate when there are few; otherwise coarse to fine: every kCoarse-th
  // candidate, then every one within kCoarse of the kKeep best coarse ones. The KL curve over
  // thresholds is smooth at the scale of a few bins (a 2048-bin histogram of real activations),
  // so this finds the exhaustive search's minimum at a fifth of the cost (tested against it on
  // typical activation histograms; a curve with a narrow dip elsewhere could make it miss it).
  constexpr int kCoarse = 8, kKeep = 8;
  std::vector<int> candidates;
  for (int i = target_bins;; i = std::min(i + step, n)) {
    candidates.push_back(i);
    if (i == n) break;
  }
  std::vector<double> kl(candidates.size(), kInfD);
  std::vector<bool> done(candidates.size(), false);
  auto eval = [&](size_t c) {
    if (!done[c]) kl[c] = kl_at(candidates[c]), done[c] = true;
  };
  if (exhaustive || candidates.size() <= static_cast<size_t>(16 * kCoarse)) {
    for (size_t c = 0; c < candidates.size(); ++c) eval(c);
  } else {
    std::vector<size_t> coarse;
    for (size_t c = 0; c < candidates.size(); c += kCoarse) coarse.push_back(c);
    coarse.push_back(candidates.size() - 1);
    for (size_t c : coarse) eval(c);
    std::sort(coarse.begin(), coarse.end(), [&](size_t a, size_t b) {
      return kl[a] < kl[b] || (kl[a] == kl[b] && a < b);
    });
    coarse.erase(std::unique(coarse.begin(), coarse.end()), coarse.end());
    for (size_t k = 0; k < coarse.size() && k < static_cast<size_t>(kKeep); ++k) {
      const size_t lo = coarse[k] >= kCoarse ? coarse[k] - kCoarse : 0;
      const size_t hi = std::min(candidates.size() - 1, coarse[k] + kCoarse);
      for (size_t c = lo; c <= hi; ++c) eval(c);
    }
  }
  double best = kInfD;
  int best_i = n;
  for (size_t c = 0; c < candidates.size(); ++c)
    if (done[c] && kl[c] < best) {
      best = kl[c];
      best_i = candidates[c];
    }
  return amax * static_cast<double>(best_i) / n;
}

// Expected quantization MSE of clipping |x| at T (a common model, e.g. Banner et al., ACIQ 2019):
// values inside add a rounding noise of step^2 / 12, values outside their squared distance to T.
double mse_threshold(const std::vector<double>& counts, double amax, double steps_per_threshold) {
  const size_t n = counts.size();
  if (n == 0 || amax <= 0) return amax;
  const double w = amax / static_cast<double>(n);
  const Moments3 m(counts, 0.0, w);
  double best = kInfD, best_t = amax;
  for (size_t k = 1; k <= n; ++k) {
    const double t = w * static_cast<double>(k);
    const double s = t / steps_per_threshold;
    const double err = m.s0[k] * s * s / 12.0 + m.sq_dev(k, n, t);
    if (err < best) {
      best = err;
      best_t = t;
    }
  }
  return best_t;
}

// The same model with both ends free: L over edges <= 0 and H over edges >= 0 (the range is
// widened to contain 0 as encodings are).
namespace {

// One row of mse_range's search, lower edge l fixed: for k in [0, count) in order,
//   err_k = (s0b[k] - s0a) * s * s / 12 + la + rb[k],  s = (hb[k] - l) / num_steps,
// and each err_k below `best` becomes the new best (the first minimum wins). Returns the last
// k that improved, or -1.
int64_t mse_row_scalar(const double* hb, const double* s0b, const double* rb, int64_t count,
                       double l, double s0a, double la, double num_steps, double& best) {
  int64_t found = -1;
  for (int64_t k = 0; k < count; ++k) {
    const double s = (hb[k] - l) / num_steps;
    const double err = (s0b[k] - s0a) * s * s / 12.0 + la + rb[k];
    if (err < best) {
      best = err;
      found = k;
    }
  }
  return found;
}

#if defined(__x86_64__) && defined(__GNUC__)
// Four errors at a time by the same operations in the same order (the same bits); a lane below
// the running best sends its group through the scalar comparison, in order.
__attribute__((target("avx2"))) int64_t mse_row_avx2(const double* hb, const double* s0b,
                                                     const double* rb, int64_t count, double l,
                                                     double s0a, double la, double num_steps,
                                                     double& best) {
  const __m256d vl = _mm256_set1_pd(l), vs0a = _mm256_set1_pd(s0a), vla = _mm256_set1_pd(la);
  const __m256d steps = _mm256_set1_pd(num_steps), twelve = _mm256_set1_pd(12.0);
  int64_t found = -1;
  int64_t k = 0;
  alignas(32) double err[4];
  for (; k + 4 <= count; k += 4) {
    const __m256d s = _mm256_div_pd(_mm256_sub_pd(_mm256_loadu_pd(hb + k), vl), steps);
    __m256d e = _mm256_mul_pd(_mm256_mul_pd(_mm256_sub_pd(_mm256_loadu_pd(s0b + k), vs0a), s), s);
    e = _mm256_add_pd(_mm256_add_pd(_mm256_div_pd(e, twelve), vla), _mm256_loadu_pd(rb + k));
    if (_mm256_movemask_pd(_mm256_cmp_pd(e, _mm256_set1_pd(best), _CMP_LT_OQ)) == 0) continue;
    _mm256_store_pd(err, e);
    for (int j = 0; j < 4; ++j)
      if (err[j] < best) {
        best = err[j];
        found = k + j;
      }
  }
  const int64_t tail = mse_row_scalar(hb + k, s0b + k, rb + k, count - k, l, s0a, la, num_steps, best);
  return tail >= 0 ? k + tail : found;
}
#endif

using MseRowFn = int64_t (*)(const double*, const double*, const double*, int64_t, double, double,
                             double, double, double&);

MseRowFn pick_mse_row() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx2()) return mse_row_avx2;
#endif
  return mse_row_scalar;
}

}  // namespace

std::pair<double, double> mse_range(const std::vector<double>& counts, double lo, double hi,
                                    double num_steps, int stride) {
  const size_t n = counts.size();
  if (n == 0 || !(hi > lo)) return {lo, hi};
  stride = std::max(stride, 1);
  const double w = (hi - lo) / static_cast<double>(n);
  const Moments3 m(counts, lo, w);
  auto edge = [&](size_t k) { return k == n ? hi : lo + w * static_cast<double>(k); };
  std::vector<size_t> lows, highs;
  for (size_t a = 0; a < n && edge(a) <= 0; a += static_cast<size_t>(stride)) lows.push_back(a);
  if (lows.empty()) lows.push_back(0);
  for (size_t b = n;; b -= std::min(b, static_cast<size_t>(stride))) {
    if (edge(b) < 0 && !highs.empty()) break;
    highs.push_back(b);
    if (b == 0 || edge(b) < 0) break;
  }
  // Every (low, high) pair: err = in-range rounding (count * step^2 / 12) + clipping below a +
  // clipping above b. The per-high terms are computed once, not once per pair.
  const size_t nh = highs.size();
  std::vector<double> hb(nh), s0b(nh), rb(nh);
  for (size_t k = 0; k < nh; ++k) {
    const size_t b = highs[k];
    hb[k] = std::max(edge(b), 0.0);
    s0b[k] = m.s0[b];
    rb[k] = m.sq_dev(b, n, hb[k]);
  }
  static const MseRowFn row = pick_mse_row();
  double best = kInfD;
  std::pair<double, double> best_range{lo, hi};
  for (size_t a : lows) {
    const double l = std::min(edge(a), 0.0);
    // highs decrease: the pairs with b > a are a prefix
    const int64_t count = std::lower_bound(highs.begin(), highs.end(), a, std::greater<size_t>()) -
                          highs.begin();
    const int64_t k = row(hb.data(), s0b.data(), rb.data(), count, l, m.s0[a], m.sq_dev(0, a, l),
                          num_steps, best);
    if (k >= 0) best_range = {l, hb[static_cast<size_t>(k)]};
  }
  return best_range;
}

namespace {

// PyTorch HistogramObserver._get_norm: density * (end^3 - begin^3) / 3, the L2 norm of values
// spread uniformly over [begin, end] relative to a destination bin centre.
inline double l2_norm(double begin, double end, double density) {
  return density * (end * end * end - begin * begin * begin) / 3.0;
}

// PyTorch HistogramObserver._compute_quantization_error for [start_bin, end_bin].
double torch_quantization_error(const std::vector<double>& counts, double bin_width,
                                int start_bin, int end_bin, int dst_nbins) {
  const double dst_w = bin_width * (end_bin - start_bin + 1) / dst_nbins;
  if (dst_w == 0.0) return 0.0;
  const int n = static_cast<int>(counts.size());
  double norm = 0;
  for (int j = 0; j < n; ++j) {
    const double c = counts[static_cast<size_t>(j)];
    if (c == 0) continue;
    const double density = c / bin_width;
    const double src_begin = (j - start_bin) * bin_width;
    const double src_end = src_begin + bin_width;
    const double dst_of_begin = std::clamp(std::floor(src_begin / dst_w), 0.0, dst_nbins - 1.0);
    const double dst_of_end = std::clamp(std::floor(src_end / dst_w), 0.0, dst_nbins - 1.0);
    const double begin_centre = (dst_of_begin + 0.5) * dst_w;
    const double end_centre = dst_of_end * dst_w + dst_w / 2;
    norm += l2_norm(src_begin - begin_centre, dst_w / 2, density);
    norm += (dst_of_end - dst_of_begin - 1) * l2_norm(-dst_w / 2, dst_w / 2, density);
    norm += l2_norm(-dst_w / 2, src_end - end_centre, density);
  }
  return norm;
}

}  // namespace

// PyTorch HistogramObserver._non_linear_param_search (from caffe2 NormMinimization):
//   1. alpha = 0, beta = 1 quantiles, stepping by 1e-5;
//   2. each step finds the bins l, r where the CDF passes alpha + 1e-5 and beta - 1e-5 and moves
//      the side that would drop fewer bins (the start when it drops strictly more... as torch:
//      start when (l - start) > (end - r), else end);
//   3. the L2 error of mapping [start, end] onto dst_nbins bins is computed on every move; the
//      search stops when it rises.
//   The bin scans keep their position between steps (the CDF thresholds only grow / shrink), which
//   gives torch's result without its quadratic rescans.
std::pair<double, double> torch_histogram_search(const std::vector<double>& counts, double lo,
                                                 double hi, int dst_nbins) {
  const int n = static_cast<int>(counts.size());
  if (n == 0 || !(hi > lo)) return {lo, hi};
  const double bin_width = (hi - lo) / n;
  std::vector<double> csum(static_cast<size_t>(n));
  double acc = 0;
  for (int k = 0; k < n; ++k) csum[static_cast<size_t>(k)] = acc += counts[static_cast<size_t>(k)];
  const double total = acc;
  constexpr double kStep = 1e-5;
  double alpha = 0.0, beta = 1.0;
  int start_bin = 0, end_bin = n - 1;
  double norm_min = kInfD;
  int l_scan = 0, r_scan = n - 1;  // unclamped scan positions
  while (alpha < beta) {
    const double next_alpha = alpha + kStep;
    const double next_beta = beta - kStep;
    l_scan = std::max(l_scan, start_bin);
    while (l_scan < n - 1 && csum[static_cast<size_t>(l_scan)] < next_alpha * total) ++l_scan;
    r_scan = std::min(r_scan, end_bin);
    while (r_scan > 0 && csum[static_cast<size_t>(r_scan)] > next_beta * total) --r_scan;
    const int l = std::min(l_scan, end_bin);
    const int r = std::max(r_scan, start_bin);
    int next_start = start_bin, next_end = end_bin;
    if (l - start_bin > end_bin - r) {
      next_start = l;
      alpha = next_alpha;
    } else {
      next_end = r;
      beta = next_beta;
    }
    if (next_start == start_bin && next_end == end_bin) continue;
    const double norm =
        torch_quantization_error(counts, bin_width, next_start, next_end, dst_nbins);
    if (norm > norm_min) break;
    norm_min = norm;
    start_bin = next_start;
    end_bin = next_end;
  }
  return {lo + bin_width * start_bin, lo + bin_width * (end_bin + 1)};
}

namespace {

// AIMET SqnrEncodingAnalyzer._estimate_clip_and_quant_noise for one (delta, offset): every bin's
// values sit at its midpoint; clipped values' squared errors are weighted by gamma.
// Order: the n % 4 top bins, then the groups of 4 bins in blocks of kTfBlock groups, blocks from
// the outside in (top block, bottom block, next top, ...): the clipped tails, where a bad
// candidate's noise is, come first. Bin k adds to partial sum k % 4 and the four are added
// pairwise, in the scalar loop as in the AVX2 one, so that both give the same bits (an empty bin
// adds an exact 0). Every term is >= 0, so every partial sum is at most the total: after each
// block the partial sum is compared with `bound` and returned once above it (the candidate cannot
// beat the bound's).
constexpr int64_t kTfBlock = 16;

inline double tf_term(double c, int64_t k, double lo, double w, double delta, double offset,
                      int num_steps, double gamma) {
  const double x = lo + w / 2 + w * static_cast<double>(k);
  double q = round_half_even(x / delta - offset);
  const bool clipped = q < 0 || q > num_steps;
  q = std::min(std::max(q, 0.0), static_cast<double>(num_steps));
  const double e = (q + offset) * delta - x;
  return e * e * c * (clipped ? gamma : 1.0);
}

// Block b of `blocks` in outside-in order: 0 -> last, 1 -> first, 2 -> last - 1, ...
inline int64_t tf_block_at(int64_t i, int64_t blocks) {
  return i % 2 == 0 ? blocks - 1 - i / 2 : i / 2;
}

double tf_noise_scalar(const double* counts, int64_t n, double lo, double w, double delta,
                       double offset, int num_steps, double gamma, double bound) {
  double acc[4] = {0, 0, 0, 0};
  const int64_t groups = n / 4, blocks = (groups + kTfBlock - 1) / kTfBlock;
  for (int64_t k = groups * 4; k < n; ++k)
    if (counts[k] != 0) acc[k & 3] += tf_term(counts[k], k, lo, w, delta, offset, num_steps, gamma);
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t blk = tf_block_at(i, blocks);
    const int64_t g1 = std::min(groups, (blk + 1) * kTfBlock);
    for (int64_t k = blk * kTfBlock * 4; k < g1 * 4; ++k)
      if (counts[k] != 0) acc[k & 3] += tf_term(counts[k], k, lo, w, delta, offset, num_steps, gamma);
    const double partial = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    if (partial > bound) return partial;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) double tf_noise_avx2(const double* counts, int64_t n, double lo,
                                                     double w, double delta, double offset,
                                                     int num_steps, double gamma, double bound) {
  const __m256d base = _mm256_set1_pd(lo + w / 2), vw = _mm256_set1_pd(w);
  const __m256d vdelta = _mm256_set1_pd(delta), voff = _mm256_set1_pd(offset);
  const __m256d steps = _mm256_set1_pd(num_steps), zero = _mm256_setzero_pd();
  const __m256d vgamma = _mm256_set1_pd(gamma), one = _mm256_set1_pd(1.0);
  alignas(32) double a[4] = {0, 0, 0, 0};
  const int64_t groups = n / 4, blocks = (groups + kTfBlock - 1) / kTfBlock;
  for (int64_t k = groups * 4; k < n; ++k)
    if (counts[k] != 0) a[k & 3] += tf_term(counts[k], k, lo, w, delta, offset, num_steps, gamma);
  __m256d acc = _mm256_load_pd(a);
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t blk = tf_block_at(i, blocks);
    const int64_t g1 = std::min(groups, (blk + 1) * kTfBlock);
    for (int64_t k = blk * kTfBlock * 4; k < g1 * 4; k += 4) {
      const __m256d kv = _mm256_set_pd(k + 3, k + 2, k + 1, k);
      const __m256d c = _mm256_loadu_pd(counts + k);
      const __m256d x = _mm256_add_pd(base, _mm256_mul_pd(vw, kv));
      __m256d q = _mm256_round_pd(_mm256_sub_pd(_mm256_div_pd(x, vdelta), voff),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256d clipped = _mm256_or_pd(_mm256_cmp_pd(q, zero, _CMP_LT_OQ),
                                           _mm256_cmp_pd(q, steps, _CMP_GT_OQ));
      q = _mm256_min_pd(_mm256_max_pd(q, zero), steps);
      const __m256d e = _mm256_sub_pd(_mm256_mul_pd(_mm256_add_pd(q, voff), vdelta), x);
      const __m256d t = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(e, e), c),
                                      _mm256_blendv_pd(one, vgamma, clipped));
      acc = _mm256_add_pd(acc, t);
    }
    _mm256_store_pd(a, acc);
    const double partial = (a[0] + a[1]) + (a[2] + a[3]);
    if (partial > bound) return partial;
  }
  return (a[0] + a[1]) + (a[2] + a[3]);
}
#endif

using TfNoiseFn = double (*)(const double*, int64_t, double, double, double, double, int, double,
                             double);

TfNoiseFn pick_tf_noise() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx2()) return tf_noise_avx2;
#endif
  return tf_noise_scalar;
}

double tf_noise(const std::vector<double>& counts, double lo, double w, double delta,
                double offset, int num_steps, double gamma, double bound) {
  static const TfNoiseFn fn = pick_tf_noise();
  return fn(counts.data(), static_cast<int64_t>(counts.size()), lo, w, delta, offset, num_steps,
            gamma, bound);
}

}  // namespace

std::vector<TfNoiseVariant> tf_noise_variants() {
  std::vector<TfNoiseVariant> out;
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpu_has_avx2()) out.push_back({"avx2", tf_noise_avx2});
#endif
  out.push_back({"scalar", tf_noise_scalar});
  return out;
}

namespace {

}  // namespace

// AIMET v2 SqnrEncodingAnalyzer (the tf_enhanced scheme):
//   1. widen [min, max] to contain 0, and to at least eps * num_steps;
//   2. symmetric: delta_k = max_delta * k / 100, k = 1..101, max_delta = 2 max|x| / num_steps,
//      offset = floor(-num_steps / 2);
//      asymmetric: delta_k = max_delta * k / 16, k = 1..17, max_delta = (max - min) / num_steps;
//      offsets: 20 evenly spaced in [-num_steps, 0] plus the observed round(min / max_delta); each
//      candidate grid is clamped to the observed range and its delta / offset recomputed;
//   3. noise = sum over bins of count * (qdq(midpoint) - midpoint)^2, times gamma (3) if clipped;
//   4. the first minimum wins.
std::pair<double, double> tf_enhanced_search(const std::vector<double>& counts, double lo,
                                             double hi, int num_steps, TfEnhancedMode mode,
                                             double gamma) {
  const double eps = std::numeric_limits<float>::epsilon();
  const double w = (hi - lo) / static_cast<double>(counts.size());
  double min_v = std::min(lo, 0.0), max_v = std::max(hi, 0.0);
  max_v = std::max(max_v, min_v + eps * num_steps);
  std::vector<std::pair<double, double>> cands;  // (delta, offset), in AIMET's order
  if (mode != TfEnhancedMode::kAsymmetric) {
    const bool sym = mode == TfEnhancedMode::kSymmetric;
    const double max_delta =
        sym ? 2 * std::max(max_v, -min_v) / num_steps : max_v / num_steps;
    const double offset = sym ? std::floor(-num_steps / 2.0) : 0.0;
    constexpr int kDeltas = 101;
    for (int k = 1; k <= kDeltas; ++k)
      cands.emplace_back(std::max(max_delta * k / (kDeltas - 1), eps), offset);
  } else {
    const double max_delta = (max_v - min_v) / num_steps;
    const double observed_offset = round_half_even(min_v / max_delta);
    const double observed_min = max_delta * observed_offset;
    const double observed_max = observed_min + max_delta * num_steps;
    constexpr int kDeltas = 17;
    const int num_offsets = std::min(num_steps + 2, 21);
    const double offset_step = static_cast<double>(num_steps) / (num_offsets - 2);
    std::vector<double> offsets;
    const double start = -num_steps;
    const auto count = static_cast<int64_t>(std::ceil((offset_step - start) / offset_step));
    for (int64_t i = 0; i < count; ++i) offsets.push_back(round_half_even(start + i * offset_step));
    offsets.push_back(observed_offset);
    for (int k = 1; k <= kDeltas; ++k) {
      const double delta0 = max_delta * k / (kDeltas - 1);
      for (double off0 : offsets) {
        const double tmin = std::max(observed_min, delta0 * off0);
        const double tmax = std::min(observed_max, delta0 * off0 + delta0 * num_steps);
        const double delta = std::max((tmax - tmin) / num_steps, eps);
        cands.emplace_back(delta, round_half_even(tmin / delta));
      }
    }
  }
  // Step 4 with early stopping: every 8th candidate first gives a bound (the smallest noise among
  // them); then, in order, each candidate stops once its partial noise passes min(best, bound)
  // and counts only if its noise is <= bound (a candidate above it loses to the bound's). The
  // result is the first minimum, as without stopping.
  double bound = kInfD;
  for (size_t i = 0; i < cands.size(); i += 8)
    bound = std::min(bound, tf_noise(counts, lo, w, cands[i].first, cands[i].second, num_steps,
                                     gamma, bound));
  double best = kInfD;
  std::pair<double, double> best_pair{1.0, 0.0};
  for (const auto& [delta, offset] : cands) {
    const double noise =
        tf_noise(counts, lo, w, delta, offset, num_steps, gamma, std::min(best, bound));
    if (noise < best && noise <= bound) {
      best = noise;
      best_pair = {delta, offset};
    }
  }
  return best_pair;
}

}  // namespace quench::calib_internal
