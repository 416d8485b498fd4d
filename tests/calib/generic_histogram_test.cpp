// Histogram observers (percentile, entropy, MSE, PyTorch histogram, AIMET tf_enhanced) against
// PyTorch, numpy references of the published algorithms, and hand numbers.
#include <gtest/gtest.h>

#include <random>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "calib/histogram.h"
#include "calib/histogram_search.h"
#include "calib/observer.h"
#include "generic_test_data.h"

namespace quench {
namespace {

using calib_internal::entropy_threshold;
using calib_internal::tf_enhanced_search;
using calib_internal::TfEnhancedMode;
using testing::gaussian;
using testing::gen;
using testing::tensor_of;

QuantSpec uint8_asym() {
  QuantSpec s;
  s.is_signed = false;
  s.symmetric = false;
  return s;
}

std::unique_ptr<Observer> make(ObserverConfig c) {
  auto r = make_observer(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

Encoding compute(const Observer& obs, const QuantSpec& s) {
  auto r = obs.compute(s);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : Encoding{};
}

Encoding expected(const QuantSpec& s, float lo, float hi) {
  auto r = encoding_from_range(s, {lo}, {hi});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

// Mean squared error of fake-quantizing x with encoding e (per tensor, half-even).
double quant_mse(const std::vector<float>& x, const Encoding& e) {
  const double s = e.scale[0], zp = e.zero_point[0];
  const double qmin = static_cast<double>(e.spec.qmin()), qmax = static_cast<double>(e.spec.qmax());
  double err = 0;
  for (float v : x) {
    const double q = std::clamp(std::nearbyint(v / s) + zp, qmin, qmax);
    const double d = (q - zp) * s - v;
    err += d * d;
  }
  return err / static_cast<double>(x.size());
}

// --- PyTorch HistogramObserver -------------------------------------------------------------------
// Reference (/usr/bin/python3, torch 1.13): six batches of 1000 values; values 0 and 1 of every batch
// are -3.0 and 5.0, so torch's histc over [int(min), int(max)] is exact (its int() truncation of
// the range does not bite):
//   A: x = gen(1000, b + 1)                      B: x = (gen(1000, b + 1) - 1) / 4 (float32)
//   h = HistogramObserver(bins=2048, dtype=torch.quint8, qscheme=torch.per_tensor_affine)
//   for b in range(6): h(torch.from_numpy(x_b))
//   h._non_linear_param_search()  A: (-3.0, 4.96875)   B: (-3.0, 4.99609375)
//   h.calculate_qparams()         A: (0.03125, 96)     B: (0.0313572288, 96)
// (The per_tensor_symmetric qint8 search of B gives the same range.) Our fine bins align with
// torch's 2048 bins over [-3, 5], so the resampled histogram is torch's exactly.
std::vector<float> torch_batch(int b, bool variant_b) {
  std::vector<float> x = gen(1000, b + 1);
  if (variant_b)
    for (float& v : x) v = (v - 1.0f) / 4.0f;
  x[0] = -3.0f;
  x[1] = 5.0f;
  return x;
}

TEST(TorchHistogramObserver, MatchesTorch) {
  struct Case {
    bool variant_b;
    float lo, hi, scale;
    int zp;
  };
  for (const Case& c : {Case{false, -3.0f, 4.96875f, 0.03125f, 96},
                        Case{true, -3.0f, 4.99609375f, 0.0313572288f, 96}}) {
    auto obs = make({.method = CalibMethod::kTorchHistogram});
    for (int b = 0; b < 6; ++b) ASSERT_TRUE(obs->update(tensor_of(torch_batch(b, c.variant_b))).ok());
    const Encoding e = compute(*obs, uint8_asym());
    const Encoding want = expected(uint8_asym(), c.lo, c.hi);
    EXPECT_EQ(e.scale, want.scale);
    EXPECT_EQ(e.zero_point, want.zero_point);
    EXPECT_FLOAT_EQ(e.scale[0], c.scale);
    EXPECT_EQ(e.zero_point[0], c.zp);
    QuantSpec sym;  // int8 symmetric: the same searched range, scale max|x| / 127
    EXPECT_EQ(compute(*obs, sym).scale, expected(sym, c.lo, c.hi).scale);
  }
}

// --- Percentile ---------------------------------------------------------------------------------
TEST(PercentileObserver, SymmetricByHand) {
  // |x| = 1..1000, 2048 bins over [0, 1000] of width 1000/2048: the CDF reaches 0.99 with the value
  // 990, in bin floor(990 * 2048 / 1000) = 2027, whose upper edge is 2028 * 1000 / 2048.
  std::vector<float> x;
  for (int i = 1; i <= 1000; ++i) x.push_back(i % 2 ? static_cast<float>(i) : -static_cast<float>(i));
  auto obs = make({.method = CalibMethod::kPercentile, .percentile = 99.0});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  const float t = 2028.0f * 1000.0f / 2048.0f;
  QuantSpec s;
  EXPECT_EQ(compute(*obs, s).scale, expected(s, -t, t).scale);
  // percentile 100 is the max.
  auto all = make({.method = CalibMethod::kPercentile, .percentile = 100.0});
  ASSERT_TRUE(all->update(tensor_of(x)).ok());
  EXPECT_EQ(compute(*all, s).scale, expected(s, -1000, 1000).scale);
}

TEST(PercentileObserver, AsymmetricCutsBothTails) {
  // x = i - 500.5 for i = 1..1000 over [-499.5, 499.5], bins of width 999/2048; percentile 98 cuts
  // 1% (10 values) per side: the 10th value (-490.5) is in bin floor(9 * 2048 / 999) = 18 (lower
  // edge kept), the 990th (489.5) in bin floor(989 * 2048 / 999) = 2027 (upper edge kept).
  std::vector<float> x;
  for (int i = 1; i <= 1000; ++i) x.push_back(static_cast<float>(i) - 500.5f);
  auto obs = make({.method = CalibMethod::kPercentile, .percentile = 98.0});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  const double w = 999.0 / 2048.0;
  const float lo = static_cast<float>(-499.5 + 18 * w), hi = static_cast<float>(-499.5 + 2028 * w);
  const Encoding e = compute(*obs, uint8_asym());
  const Encoding want = expected(uint8_asym(), lo, hi);
  EXPECT_NEAR(e.scale[0], want.scale[0], 1e-6);
  EXPECT_EQ(e.zero_point, want.zero_point);
}

TEST(PercentileObserver, PerChannel) {
  // [1000, 2] along axis 1: channel 0 = +-(1..1000) as above, channel 1 = twice channel 0. The
  // thresholds scale with the data: 2028 * 1000 / 2048 and twice that.
  std::vector<float> x;
  for (int i = 1; i <= 1000; ++i) {
    const float v = i % 2 ? static_cast<float>(i) : -static_cast<float>(i);
    x.push_back(v);
    x.push_back(2 * v);
  }
  auto obs = make({.method = CalibMethod::kPercentile, .per_channel = true, .axis = 1,
                   .percentile = 99.0});
  ASSERT_TRUE(obs->update(tensor_of(x, {1000, 2})).ok());
  QuantSpec s;
  s.granularity = Granularity::kPerChannel;
  s.axis = 1;
  const Encoding e = compute(*obs, s);
  ASSERT_EQ(e.scale.size(), 2u);
  const float t = 2028.0f * 1000.0f / 2048.0f;
  EXPECT_FLOAT_EQ(e.scale[0], t / 127);
  EXPECT_FLOAT_EQ(e.scale[1], 2 * t / 127);
}

// --- Entropy ------------------------------------------------------------------------------------
// numpy reference: the direct O(i) form of the algorithm in histogram_search.cpp (P with outliers
// in its last bin, Q merged into T groups [j*i//T, (j+1)*i//T) and spread over P's support,
// q = 0.9999 * q + 0.0001 / i, KL on normalised distributions, first argmin) on
//   c[k] = floor(1000 * exp(-k / 40)), k < 2048; c[1500] += 7; c[2047] += 3
// gives i = 277 for T = 128 and T = 256, and i = 223 for T = 8.
TEST(EntropySearch, MatchesNumpyReference) {
  std::vector<double> c(2048);
  for (int k = 0; k < 2048; ++k) c[static_cast<size_t>(k)] = std::floor(1000.0 * std::exp(-k / 40.0));
  c[1500] += 7;
  c[2047] += 3;
  EXPECT_EQ(entropy_threshold(c, 2048.0, 128), 277.0);
  EXPECT_EQ(entropy_threshold(c, 2048.0, 256), 277.0);
  EXPECT_EQ(entropy_threshold(c, 2048.0, 8), 223.0);
  EXPECT_EQ(entropy_threshold(c, 2048.0, 4096), 2048.0);  // fewer bins than the target: amax
}

// The coarse-to-fine search finds the exhaustive search's threshold on the histograms of typical
// activations: |N(0,1)| with and without outliers, post-ReLU (half zeros), Laplace, uniform, a
// bimodal mixture, each for 8-bit signed / unsigned targets.
// The entropy search's own log (four lanes at a time where the CPU has AVX2): within one ulp of
// std::log over positive doubles from 1e-300 to 1e300 and around 1, the same bits in every
// variant, and std::log's answer for zero, negative, subnormal, Inf and NaN input.
TEST(EntropySearch, LogIsWithinAnUlpInEveryVariant) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> expo(-690.0, 690.0), near1(0.5, 2.0);
  std::vector<double> x;
  for (int i = 0; i < 100000; ++i) x.push_back(i % 2 ? std::exp(expo(rng)) : near1(rng));
  x.insert(x.end(), {1.0, 2.0, 0.5, std::sqrt(2.0), std::nextafter(std::sqrt(2.0), 2.0), 1e-9,
                     std::numeric_limits<double>::min(), std::numeric_limits<double>::max()});
  const std::vector<double> special = {0.0, -1.0, 4e-320, INFINITY, NAN};
  x.insert(x.end(), special.begin(), special.end());
  const auto variants = calib_internal::log_variants();
  std::vector<std::vector<double>> got;
  for (const auto& v : variants) {
    got.emplace_back(x.size());
    v.fn(x.data(), got.back().data(), static_cast<int64_t>(x.size()));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::log(x[i]);
    for (size_t k = 0; k < variants.size(); ++k) {
      const double y = got[k][i];
      if (std::isnan(ref)) {
        EXPECT_TRUE(std::isnan(y)) << variants[k].name << " log(" << x[i] << ")";
        continue;
      }
      if (std::isinf(ref)) {
        EXPECT_EQ(y, ref) << variants[k].name << " log(" << x[i] << ")";
        continue;
      }
      const double ulp = std::fabs(std::nextafter(ref, INFINITY) - ref);
      EXPECT_LE(std::fabs(y - ref), ulp) << variants[k].name << " log(" << x[i] << ")";
      EXPECT_EQ(std::memcmp(&y, &got[0][i], sizeof y), 0) << variants[k].name << " x " << x[i];
    }
  }
}

TEST(EntropySearch, CoarseToFineMatchesExhaustive) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::exponential_distribution<double> expo(1.0);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  auto hist = [](const std::vector<double>& v) {
    double amax = 0;
    for (double x : v) amax = std::max(amax, std::fabs(x));
    std::vector<double> c(2048, 0.0);
    for (double x : v) c[std::min<size_t>(2047, static_cast<size_t>(std::fabs(x) / amax * 2048))] += 1;
    return std::make_pair(c, amax);
  };
  std::vector<std::vector<double>> sets(6);
  for (int i = 0; i < 200000; ++i) {
    const double g = normal(rng);
    sets[0].push_back(g);
    sets[1].push_back(i % 20000 == 0 ? 40.0 : g);
    sets[2].push_back(std::max(0.0, g));
    sets[3].push_back(expo(rng) * (uni(rng) < 0.5 ? -1 : 1));
    sets[4].push_back(uni(rng));
    sets[5].push_back(uni(rng) < 0.9 ? normal(rng) * 0.2 : 3.0 + normal(rng));
  }
  for (size_t k = 0; k < sets.size(); ++k) {
    auto [c, amax] = hist(sets[k]);
    for (int target : {128, 256}) {
      SCOPED_TRACE("set " + std::to_string(k) + " target " + std::to_string(target));
      EXPECT_EQ(entropy_threshold(c, amax, target), entropy_threshold(c, amax, target, 1, true));
    }
  }
}

TEST(EntropyObserver, ClipsGaussianOutliersUnlikeMinMax) {
  std::vector<float> x = gaussian(100000, 7);
  for (int k = 0; k < 5; ++k) x[static_cast<size_t>(k * 1000)] = 50.0f;
  x[500] = -50.0f;
  auto ent = make({.method = CalibMethod::kEntropy});
  auto mm = make({.method = CalibMethod::kMinMax});
  ASSERT_TRUE(ent->update(tensor_of(x)).ok());
  ASSERT_TRUE(mm->update(tensor_of(x)).ok());
  QuantSpec s;  // int8 symmetric
  const double t_entropy = compute(*ent, s).scale[0] * 127.0;
  const double t_minmax = compute(*mm, s).scale[0] * 127.0;
  EXPECT_NEAR(t_minmax, 50.0, 1e-4);
  EXPECT_LT(t_entropy, 0.5 * 50.0);
  EXPECT_GT(t_entropy, 3.0);  // still covers the bulk of N(0, 1)
  // The bulk (all but the six outliers) is quantized far better than with min-max.
  std::vector<float> bulk;
  for (float v : x)
    if (std::fabs(v) < 49.0f) bulk.push_back(v);
  ASSERT_EQ(bulk.size(), x.size() - 6);
  EXPECT_LT(quant_mse(bulk, compute(*ent, s)), 0.1 * quant_mse(bulk, compute(*mm, s)));
}

TEST(EntropyObserver, UnsignedGridOnNonNegativeData) {
  // ReLU-like data: [0, T] is covered by 2^b levels for uint8 and by 2^(b-1) for int8; both
  // searches must clip the outlier and give a range [0, T].
  std::vector<float> x = gaussian(50000, 9);
  for (float& v : x) v = std::max(v, 0.0f);
  x[3] = 40.0f;
  auto obs = make({.method = CalibMethod::kEntropy});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  const Encoding u = compute(*obs, uint8_asym());
  EXPECT_EQ(u.zero_point[0], 0);
  EXPECT_LT(u.scale[0] * 255.0, 20.0);
  EXPECT_GT(u.scale[0] * 255.0, 2.5);
  const Encoding s = compute(*obs, QuantSpec{});
  EXPECT_LT(s.scale[0] * 127.0, 20.0);
}

// --- MSE ----------------------------------------------------------------------------------------
TEST(MseObserver, SymmetricIsNearTheBestClip) {
  std::vector<float> x = gaussian(20000, 11);
  for (int k = 0; k < 20; ++k) x[static_cast<size_t>(k * 997)] *= 8.0f;  // a heavy tail
  auto obs = make({.method = CalibMethod::kMse});
  auto mm = make({.method = CalibMethod::kMinMax});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  ASSERT_TRUE(mm->update(tensor_of(x)).ok());
  for (int bits : {4, 8}) {
    QuantSpec s;
    s.bits = bits;
    const double chosen = quant_mse(x, compute(*obs, s));
    const float amax = compute(*mm, s).scale[0] * static_cast<float>(s.qmax());
    double best = 1e300;
    for (int k = 1; k <= 400; ++k) {
      const float t = amax * k / 400;
      best = std::min(best, quant_mse(x, expected(s, -t, t)));
    }
    EXPECT_LE(chosen, best * 1.05) << bits << " bits";
    if (bits == 4) {
      EXPECT_LT(chosen, 0.5 * quant_mse(x, compute(*mm, s)));
    }
  }
}

TEST(MseObserver, AsymmetricIsNearTheBestRange) {
  std::vector<float> x = gaussian(20000, 13, 1.0, 1.0);
  x[5] = -9.0f;
  x[6] = 14.0f;
  auto obs = make({.method = CalibMethod::kMse});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  QuantSpec s = uint8_asym();
  s.bits = 4;
  const double chosen = quant_mse(x, compute(*obs, s));
  double best = 1e300;
  for (int a = 0; a <= 60; ++a)
    for (int b = 0; b <= 60; ++b)
      best = std::min(best, quant_mse(x, expected(s, -9.0f * a / 60, 14.0f * b / 60)));
  EXPECT_LE(chosen, best * 1.05);
}

// --- AIMET tf_enhanced --------------------------------------------------------------------------

// The noise of one candidate grid: every variant (AVX2, scalar) gives the same bits, and both agree
// with the sum written out plainly (bin midpoints, round half to even, clipped errors x gamma).
// mse_range's vectorised row search equals the pair loop written out here (first minimum over
// lows, then highs, with the clipping terms computed per pair), to the bit, on skewed two-sided
// histograms.
TEST(MseSearch, RangeMatchesThePairLoop) {
  std::mt19937 rng(11);
  std::normal_distribution<double> nd(0.0, 1.0);
  for (int trial = 0; trial < 6; ++trial) {
    const int n = trial < 3 ? 2048 : 301;
    std::vector<double> counts(static_cast<size_t>(n), 0.0);
    for (int i = 0; i < 200000; ++i) {
      const double v = trial % 2 ? nd(rng) : std::exp(0.7 * nd(rng)) - 1.3;
      const int k = std::clamp(static_cast<int>((v + 3.0) / 8.0 * n), 0, n - 1);
      counts[static_cast<size_t>(k)] += 1.0;
    }
    const double lo = -3.0, hi = 5.0, steps = 255.0;
    const int stride = trial == 2 ? 1 : 2;
    // Reference.
    const double w = (hi - lo) / n;
    auto edge = [&](int k) { return k == n ? hi : lo + w * k; };
    auto sq_dev = [&](int a, int b, double t) {  // the prefix-sum form mse_range uses
      double n0 = 0, n1 = 0, n2 = 0, p0 = 0, p1 = 0, p2 = 0;
      for (int k = 0; k < n; ++k) {
        const double x = lo + (k + 0.5) * w, c = counts[static_cast<size_t>(k)];
        if (k < a) p0 += c, p1 += c * x, p2 += c * x * x;
        if (k < b) n0 += c, n1 += c * x, n2 += c * x * x;
      }
      if (b <= a) return 0.0;
      return std::max(0.0, (n2 - p2) - 2 * t * (n1 - p1) + t * t * (n0 - p0));
    };
    std::vector<double> s0(static_cast<size_t>(n) + 1, 0.0);
    for (int k = 0; k < n; ++k) s0[static_cast<size_t>(k) + 1] = s0[static_cast<size_t>(k)] + counts[static_cast<size_t>(k)];
    std::vector<int> lows, highs;
    for (int a = 0; a < n && edge(a) <= 0; a += stride) lows.push_back(a);
    for (int b = n;; b -= std::min(b, stride)) {
      if (edge(b) < 0 && !highs.empty()) break;
      highs.push_back(b);
      if (b == 0 || edge(b) < 0) break;
    }
    std::vector<double> rb;
    for (int b : highs) rb.push_back(sq_dev(b, n, std::max(edge(b), 0.0)));
    double best = INFINITY;
    std::pair<double, double> expected{lo, hi};
    for (int a : lows) {
      const double l = std::min(edge(a), 0.0), la = sq_dev(0, a, l);
      for (size_t k = 0; k < highs.size() && highs[k] > a; ++k) {
        const double h = std::max(edge(highs[k]), 0.0), st = (h - l) / steps;
        const double err = (s0[static_cast<size_t>(highs[k])] - s0[static_cast<size_t>(a)]) * st * st / 12.0 + la + rb[k];
        if (err < best) best = err, expected = {l, h};
      }
    }
    const auto got = calib_internal::mse_range(counts, lo, hi, steps, stride);
    EXPECT_EQ(got, expected) << "trial " << trial;
  }
}

TEST(TfEnhanced, NoiseVariantsAgreeBitForBit) {
  std::mt19937 rng(3);
  std::exponential_distribution<double> expo(0.05);
  for (int64_t n : {int64_t{1}, int64_t{6}, int64_t{2048}, int64_t{2051}}) {
    std::vector<double> counts(static_cast<size_t>(n));
    for (size_t k = 0; k < counts.size(); ++k) counts[k] = (k % 5 == 0) ? 0.0 : std::floor(expo(rng));
    const double lo = -1.5, w = 6.0 / static_cast<double>(n);
    for (const auto& [delta, offset] : {std::pair{0.02, -64.0}, std::pair{0.005, -200.0}, std::pair{0.1, 0.0}}) {
      double plain = 0;
      for (int64_t k = 0; k < n; ++k) {
        const double x = lo + w / 2 + w * static_cast<double>(k);
        const double q = std::nearbyint(x / delta - offset);
        const double qc = std::clamp(q, 0.0, 255.0);
        const double e = (qc + offset) * delta - x;
        plain += e * e * counts[static_cast<size_t>(k)] * ((q < 0 || q > 255) ? 3.0 : 1.0);
      }
      std::vector<double> got, stopped;
      for (const auto& v : calib_internal::tf_noise_variants()) {
        got.push_back(v.fn(counts.data(), n, lo, w, delta, offset, 255, 3.0, INFINITY));
        EXPECT_NEAR(got.back(), plain, 1e-12 * plain + 1e-300) << v.name << " n " << n;
        // A bound below the noise: a partial sum above the bound and not above the noise.
        stopped.push_back(v.fn(counts.data(), n, lo, w, delta, offset, 255, 3.0, plain * 0.25));
        if (plain > 0) {
          EXPECT_GT(stopped.back(), plain * 0.25) << v.name;
          EXPECT_LE(stopped.back(), got.back()) << v.name;
        }
      }
      for (double g : got) EXPECT_EQ(g, got.front()) << "n " << n << " delta " << delta;
      for (double g : stopped) EXPECT_EQ(g, stopped.front()) << "n " << n << " delta " << delta;
    }
  }
}
// numpy reference: AIMET v2 SqnrEncodingAnalyzer's candidate grid and noise (float64) on
//   c[k] = floor(500 exp(-((k - 300) / 60)^2)) + (4 if k in (900, 1000)), 1024 bins over [-2, 6],
//   num_steps 255, gamma 3:
//   symmetric (delta, offset)            = (0.04470588235294118, -128)
//   unsigned symmetric                   = (0.022588235294117645, 0)
//   asymmetric                           = (0.02661284121491734, -30)
TEST(TfEnhancedSearch, MatchesNumpyReference) {
  std::vector<double> c(1024);
  for (int k = 0; k < 1024; ++k) {
    const double z = (k - 300.0) / 60.0;
    c[static_cast<size_t>(k)] = std::floor(500.0 * std::exp(-z * z)) + (k == 900 || k == 1000 ? 4 : 0);
  }
  struct Case {
    TfEnhancedMode mode;
    double delta, offset;
  };
  for (const Case& t : {Case{TfEnhancedMode::kSymmetric, 0.04470588235294118, -128},
                        Case{TfEnhancedMode::kUnsignedSymmetric, 0.022588235294117645, 0},
                        Case{TfEnhancedMode::kAsymmetric, 0.02661284121491734, -30}}) {
    const auto [delta, offset] = tf_enhanced_search(c, -2.0, 6.0, 255, t.mode);
    EXPECT_NEAR(delta, t.delta, 1e-12);
    EXPECT_EQ(offset, t.offset);
  }
}

TEST(TfEnhancedObserver, GridMapsToTheSpec) {
  // The observer searches the 2048-bin histogram over [min, max]; the symmetric grid's delta
  // becomes the int8 scale, the asymmetric grid's offset the uint8 zero point (qmin - offset).
  std::vector<float> x = gaussian(20000, 17, 0.5, 1.0);
  x[0] = 30.0f;
  auto obs = make({.method = CalibMethod::kTfEnhanced});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  PowerOfTwoHistogram h;
  EXPECT_TRUE(h.add(x.data(), static_cast<int64_t>(x.size())));
  const std::vector<double> counts = calib_internal::signed_counts(h, h.min(), h.max(), 2048);
  const auto [d_sym, o_sym] =
      tf_enhanced_search(counts, h.min(), h.max(), 255, TfEnhancedMode::kSymmetric);
  const auto [d_asym, o_asym] =
      tf_enhanced_search(counts, h.min(), h.max(), 255, TfEnhancedMode::kAsymmetric);
  EXPECT_EQ(o_sym, -128);
  EXPECT_FLOAT_EQ(compute(*obs, QuantSpec{}).scale[0], static_cast<float>(d_sym));
  const Encoding asym = compute(*obs, uint8_asym());
  EXPECT_NEAR(asym.scale[0], d_asym, 1e-6 * d_asym);
  EXPECT_EQ(asym.zero_point[0], -o_asym);
}

TEST(HistogramFamily, MemoryIsFixed) {
  for (CalibMethod m : {CalibMethod::kPercentile, CalibMethod::kEntropy, CalibMethod::kMse,
                        CalibMethod::kTorchHistogram, CalibMethod::kTfEnhanced}) {
    auto obs = make({.method = m});
    ASSERT_TRUE(obs->update(tensor_of(gen(100, 1))).ok());
    const int64_t first = obs->memory_bytes();
    for (int b = 0; b < 10; ++b) ASSERT_TRUE(obs->update(tensor_of(gaussian(50000, b, 0, 1 + b))).ok());
    EXPECT_EQ(obs->memory_bytes(), first) << calib_method_name(m);
    EXPECT_LE(first, 140 * 1024) << calib_method_name(m);
  }
}

}  // namespace
}  // namespace quench
