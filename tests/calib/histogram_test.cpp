// PowerOfTwoHistogram: binning, exact range growth, bit-exact merge, resampling.
#include "calib/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "calib/scan.h"
#include "generic_test_data.h"

namespace quench {
namespace {

using Sides = PowerOfTwoHistogram::Sides;

double sum_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

TEST(PowerOfTwoHistogram, BinsByHand) {
  // 4 bins per side: after 3.0 the range is [-4, 4) (3 < 2^2), bins of width 1.
  PowerOfTwoHistogram h(Sides::kSigned, 4);
  const std::vector<float> x = {0.5f, -0.5f, 3.0f, -4.0f + 1e-6f, 0.0f, 1.0f};
  EXPECT_TRUE(h.add(x.data(), static_cast<int64_t>(x.size())));
  EXPECT_EQ(h.exponent(), 2);
  EXPECT_EQ(h.bin_width(), 1.0);
  EXPECT_EQ(h.lower_edge(), -4.0);
  // bins: [-4,-3) [-3,-2) [-2,-1) [-1,0) [0,1) [1,2) [2,3) [3,4)
  const std::vector<uint64_t> expected = {1, 0, 0, 1, 2, 1, 0, 1};
  EXPECT_EQ(h.bins(), expected);
  EXPECT_EQ(h.total(), 6);
  EXPECT_EQ(h.min(), -4.0f + 1e-6f);
  EXPECT_EQ(h.max(), 3.0f);
  EXPECT_FLOAT_EQ(h.abs_max(), 4.0f - 1e-6f);
}

TEST(PowerOfTwoHistogram, RefusesNonFiniteBatchesWhole) {
  for (int64_t n : {int64_t{37}, int64_t{300000}}) {  // serial and threaded first pass
    PowerOfTwoHistogram h(Sides::kSigned);
    std::vector<float> x(static_cast<size_t>(n), 0.25f);
    ASSERT_TRUE(h.add(x.data(), n));
    const std::vector<uint64_t> bins = h.bins();
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      x[static_cast<size_t>(n - 1)] = bad;
      EXPECT_FALSE(h.add(x.data(), n)) << n << " " << bad;
      EXPECT_EQ(h.total(), n);
      EXPECT_EQ(h.bins(), bins);
      EXPECT_EQ(h.max(), 0.25f);
    }
  }
}

// add() bins a batch by one of four paths (plain loop, in place, interleaved scratch copies, and
// those on two threads) by its size against the bins it spans; each must give the bins of adding
// the values one at a time (the plain loop in double).
TEST(PowerOfTwoHistogram, EveryBinningPathMatchesOneAtATime) {
  for (Sides sides : {Sides::kSigned, Sides::kAbs}) {
    for (int64_t n : {int64_t{3000}, int64_t{20000}, int64_t{90000}, int64_t{600000}}) {
      SCOPED_TRACE("n " + std::to_string(n) + (sides == Sides::kAbs ? " abs" : " signed"));
      std::vector<float> x = testing::gaussian(static_cast<size_t>(n), 11, 0.5, 2.0);
      for (size_t i = 0; i < x.size(); i += 3) x[i] = std::max(0.0f, x[i]);  // runs of zeros
      PowerOfTwoHistogram batch(sides), single(sides);
      EXPECT_TRUE(batch.add(x.data(), n));
      for (const float& v : x) EXPECT_TRUE(single.add(&v, 1));
      EXPECT_EQ(batch.exponent(), single.exponent());
      EXPECT_EQ(batch.bins(), single.bins());
      EXPECT_EQ(batch.total(), n);
    }
  }
}

// Once a range exists, a batch that fits it is binned in one pass (scan_bin, on every thread for
// large batches); one that does not, or holds a NaN, is handed back and binned (or refused) by the
// two-pass path. Every outcome must equal adding the values one at a time, and a refused batch
// must leave nothing behind in the scratch counters that the next batch would pick up.
TEST(PowerOfTwoHistogram, OnePassBinningMatchesOneAtATime) {
  for (Sides sides : {Sides::kSigned, Sides::kAbs}) {
    for (int64_t n : {int64_t{5000}, int64_t{70000}, int64_t{600000}}) {
      SCOPED_TRACE("n " + std::to_string(n) + (sides == Sides::kAbs ? " abs" : " signed"));
      std::vector<float> first = testing::gaussian(static_cast<int>(n), 5, 0.0, 2.0);
      std::vector<float> fits = testing::gaussian(static_cast<int>(n), 6, 0.0, 0.5);
      for (size_t i = 0; i < fits.size(); i += 2) fits[i] = std::max(0.0f, fits[i]);  // zeros
      fits[1] = -0.0f;
      std::vector<float> grows = testing::gaussian(static_cast<int>(n), 7, 0.0, 1.0);
      grows[n / 2] = 100.0f;  // needs a larger exponent
      std::vector<float> bad = fits;
      bad[n / 3] = std::numeric_limits<float>::quiet_NaN();
      PowerOfTwoHistogram batch(sides), single(sides);
      EXPECT_TRUE(batch.add(first.data(), n));
      EXPECT_TRUE(batch.add(fits.data(), n));
      EXPECT_FALSE(batch.add(bad.data(), n));
      EXPECT_TRUE(batch.add(fits.data(), n));  // after the refused batch: scratch must be clean
      EXPECT_TRUE(batch.add(grows.data(), n));
      EXPECT_TRUE(batch.add(fits.data(), n));
      for (const auto* v : {&first, &fits, &fits, &grows, &fits})
        for (const float& x : *v) ASSERT_TRUE(single.add(&x, 1));
      EXPECT_EQ(batch.exponent(), single.exponent());
      EXPECT_EQ(batch.bins(), single.bins());
      EXPECT_EQ(batch.total(), 5 * n);
      EXPECT_EQ(batch.min(), single.min());
      EXPECT_EQ(batch.max(), single.max());
    }
  }
}

// Every scan_bin variant the CPU runs (AVX-512, AVX2, scalar) against a reference written out
// here: the extremes, the finiteness flag, the zero count and the bins of the non-zero values.
TEST(ScanBin, EveryVariantMatchesTheReference) {
  using calib_internal::BinScan;
  using calib_internal::kBinCopies;
  const int64_t b = 64;
  for (bool abs : {false, true}) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{17}, int64_t{1000}, int64_t{4099}}) {
      std::vector<float> x = testing::gaussian(static_cast<int>(n), 9 + static_cast<uint32_t>(n), 0.0, 3.0);
      for (size_t i = 0; i < x.size(); i += 3) x[i] = (i % 2 == 0) ? 0.0f : -0.0f;
      if (n > 10) {
        x[4] = 8.0f;     // the top edge: clamped into the last bin
        x[5] = -8.0f;    // the bottom edge: the first bin
        x[7] = 0.125f;   // on a bin edge
        x[8] = -0.125f;  // on a bin edge, below zero: floor, not truncation
        x[10] = 1e-30f;  // tiny: bin 0 (or -1 below zero)
      }
      const float scale = 8.0f;  // 64 bins per side over [-8, 8)
      const float t_lo = abs ? 0.0f : -static_cast<float>(b), t_hi = static_cast<float>(b - 1);
      const int32_t offset = abs ? 0 : static_cast<int32_t>(b);
      const int64_t nb = abs ? b : 2 * b;
      // Reference.
      std::vector<uint32_t> expected(static_cast<size_t>(nb), 0);
      float lo = INFINITY, hi = -INFINITY;
      int64_t zeros = 0;
      for (float v : x) {
        if (abs) v = std::fabs(v);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        if (v == 0.0f) {
          ++zeros;
          continue;
        }
        const double t = std::clamp(std::floor(static_cast<double>(v) * scale), double{t_lo}, double{t_hi});
        ++expected[static_cast<size_t>(static_cast<int64_t>(t) + offset)];
      }
      for (const auto& variant : calib_internal::scan_bin_variants()) {
        SCOPED_TRACE(std::string(variant.name) + " n " + std::to_string(n) + (abs ? " abs" : " signed"));
        std::vector<uint32_t> counts(static_cast<size_t>(kBinCopies * nb), 0);
        const BinScan r = variant.fn(x.data(), n, abs, scale, t_lo, t_hi, offset, counts.data(), nb);
        std::vector<uint32_t> summed(static_cast<size_t>(nb), 0);
        for (int c = 0; c < kBinCopies; ++c)
          for (int64_t j = 0; j < nb; ++j) summed[static_cast<size_t>(j)] += counts[static_cast<size_t>(c * nb + j)];
        EXPECT_EQ(summed, expected);
        EXPECT_EQ(r.min, lo);
        EXPECT_EQ(r.max, hi);
        EXPECT_EQ(r.zeros, zeros);
        EXPECT_TRUE(r.finite);
        // A NaN or an Inf anywhere, including the scalar tail, clears `finite`; the bins it
        // reaches stay inside the buffer (the caller discards them).
        for (float bad : {NAN, INFINITY, -INFINITY}) {
          for (int64_t at : {int64_t{0}, n - 1}) {
            std::vector<float> y = x;
            y[static_cast<size_t>(at)] = bad;
            std::fill(counts.begin(), counts.end(), 0u);
            EXPECT_FALSE(variant.fn(y.data(), n, abs, scale, t_lo, t_hi, offset, counts.data(), nb).finite)
                << bad << " at " << at;
          }
        }
      }
    }
  }
}

TEST(PowerOfTwoHistogram, ValueAtThePowerOfTwoNeedsTheNextExponent) {
  // Ranges are half-open: 4.0 does not fit [-4, 4) and needs e = 3.
  PowerOfTwoHistogram h(Sides::kAbs, 4);
  const std::vector<float> x = {4.0f, -1.0f};
  EXPECT_TRUE(h.add(x.data(), 2));
  EXPECT_EQ(h.exponent(), 3);
  const std::vector<uint64_t> expected = {1, 0, 1, 0};  // |x| bins of width 2 over [0, 8)
  EXPECT_EQ(h.bins(), expected);
}

TEST(PowerOfTwoHistogram, RangeGrowthEqualsAFreshHistogram) {
  // Small values first, then a value 1000x larger: the pairwise-merged bins must equal those of a
  // histogram that saw the large value first.
  const std::vector<float> small = testing::gaussian(5000, 3, 0.0, 0.01);
  const std::vector<float> big = {7.5f, -12.0f};
  PowerOfTwoHistogram grown, fresh;
  EXPECT_TRUE(grown.add(small.data(), static_cast<int64_t>(small.size())));
  const int e_small = grown.exponent();
  EXPECT_TRUE(grown.add(big.data(), 2));
  EXPECT_TRUE(fresh.add(big.data(), 2));
  EXPECT_TRUE(fresh.add(small.data(), static_cast<int64_t>(small.size())));
  EXPECT_LT(e_small, grown.exponent());
  EXPECT_EQ(grown.exponent(), 4);
  EXPECT_EQ(grown.bins(), fresh.bins());
  EXPECT_EQ(grown.min(), fresh.min());
  EXPECT_EQ(grown.max(), fresh.max());
}

TEST(PowerOfTwoHistogram, ZerosBeforeAnyRangeAreKept) {
  PowerOfTwoHistogram a(Sides::kSigned, 8), b(Sides::kSigned, 8);
  const std::vector<float> zeros(5, 0.0f), x = {0.3f, -0.2f};
  EXPECT_TRUE(a.add(zeros.data(), 5));
  EXPECT_TRUE(a.add(x.data(), 2));
  EXPECT_TRUE(b.add(x.data(), 2));
  EXPECT_TRUE(b.add(zeros.data(), 5));
  EXPECT_EQ(a.bins(), b.bins());
  EXPECT_EQ(a.total(), 7);
  // e = -1 (0.3 < 2^-1), w = 1/16: zeros in relative bin 0 (index 8), 0.3 in 4, -0.2 in -4.
  EXPECT_EQ(a.exponent(), -1);
  EXPECT_EQ(a.bins()[8], 5u);
  EXPECT_EQ(a.bins()[12], 1u);
  EXPECT_EQ(a.bins()[4], 1u);
}

struct SplitCase {
  const char* name;
  Sides sides;
  std::vector<int> split;  // batches seen by each part, in order
};

TEST(PowerOfTwoHistogram, MergeOfSplitBatchesIsBitExact) {
  // Six batches of very different scales, observed in one histogram or split into parts that are
  // merged in order and out of order.
  std::vector<std::vector<float>> batches;
  for (int b = 0; b < 6; ++b)
    batches.push_back(testing::gaussian(3000, 10 + b, 0.1 * b, std::pow(4.0, b - 2)));
  const std::vector<SplitCase> cases = {
      {"2+4", Sides::kSigned, {2, 4}}, {"3+3", Sides::kSigned, {3, 3}},
      {"1+1+4", Sides::kSigned, {1, 1, 4}}, {"abs 2+4", Sides::kAbs, {2, 4}},
      {"abs 5+1", Sides::kAbs, {5, 1}}};
  for (const SplitCase& c : cases) {
    SCOPED_TRACE(c.name);
    PowerOfTwoHistogram all(c.sides);
    for (const auto& b : batches) EXPECT_TRUE(all.add(b.data(), static_cast<int64_t>(b.size())));
    std::vector<PowerOfTwoHistogram> parts;
    size_t next = 0;
    for (int count : c.split) {
      parts.emplace_back(c.sides);
      for (int k = 0; k < count; ++k, ++next)
        EXPECT_TRUE(parts.back().add(batches[next].data(), static_cast<int64_t>(batches[next].size())));
    }
    PowerOfTwoHistogram forward = parts[0];
    for (size_t p = 1; p < parts.size(); ++p) forward.merge(parts[p]);
    PowerOfTwoHistogram backward = parts.back();
    for (size_t p = parts.size() - 1; p-- > 0;) backward.merge(parts[p]);
    for (const PowerOfTwoHistogram* m : {&forward, &backward}) {
      EXPECT_EQ(m->bins(), all.bins());
      EXPECT_EQ(m->exponent(), all.exponent());
      EXPECT_EQ(m->total(), all.total());
      EXPECT_EQ(m->min(), all.min());
      EXPECT_EQ(m->max(), all.max());
    }
  }
}

TEST(PowerOfTwoHistogram, MergeWithEmptyAndZeroOnly) {
  const std::vector<float> x = testing::gen(100, 1), zeros(3, 0.0f);
  PowerOfTwoHistogram a, empty, z;
  EXPECT_TRUE(a.add(x.data(), 100));
  EXPECT_TRUE(z.add(zeros.data(), 3));
  PowerOfTwoHistogram expected = a;
  EXPECT_TRUE(expected.add(zeros.data(), 3));
  a.merge(empty);
  a.merge(z);
  EXPECT_EQ(a.bins(), expected.bins());
  PowerOfTwoHistogram e2;
  e2.merge(expected);
  EXPECT_EQ(e2.bins(), expected.bins());
  EXPECT_EQ(e2.total(), 103);
}

TEST(PowerOfTwoHistogram, ResampleConservesMass) {
  const std::vector<float> x = testing::gaussian(20000, 5, 0.5, 2.0);
  PowerOfTwoHistogram h;
  EXPECT_TRUE(h.add(x.data(), static_cast<int64_t>(x.size())));
  // Inside the data range, over it, and a narrow window (the rest goes to the end bins).
  for (auto [lo, hi, n] : std::vector<std::tuple<double, double, int>>{
           {h.min(), h.max(), 2048}, {-20.0, 20.0, 100}, {-0.5, 0.5, 7}, {0.0, h.abs_max(), 2048}}) {
    const std::vector<double> r = h.resample(lo, hi, n);
    ASSERT_EQ(r.size(), static_cast<size_t>(n));
    EXPECT_NEAR(sum_of(r), 20000.0, 1e-6);
  }
}

TEST(PowerOfTwoHistogram, ResampleSplitsABinByOverlap) {
  // One value in fine bin [1, 2) (width 1); target bins over [0, 4) of width 0.5 and 2.
  PowerOfTwoHistogram h(Sides::kAbs, 4);
  const std::vector<float> x = {1.25f, 3.5f};  // e = 2: bins [0,1) [1,2) [2,3) [3,4)
  EXPECT_TRUE(h.add(x.data(), 2));
  const std::vector<double> fine = h.resample(0.0, 4.0, 8);
  const std::vector<double> expected = {0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5};
  for (size_t i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(fine[i], expected[i]) << i;
  const std::vector<double> narrow = h.resample(1.5, 3.0, 3);  // outside mass to the end bins
  EXPECT_DOUBLE_EQ(narrow[0], 1.0);  // [1, 1.5) of the first value + [1.5, 2.0)
  EXPECT_DOUBLE_EQ(narrow[1], 0.0);
  EXPECT_DOUBLE_EQ(narrow[2], 1.0);  // the value in [3, 4)
}

TEST(PowerOfTwoHistogram, MemoryIsFixed) {
  PowerOfTwoHistogram h;
  const int64_t before = h.memory_bytes();
  for (int b = 0; b < 20; ++b) {
    const std::vector<float> x = testing::gaussian(10000, b, 0.0, 1.0 + b);
    EXPECT_TRUE(h.add(x.data(), static_cast<int64_t>(x.size())));
  }
  EXPECT_EQ(h.memory_bytes(), before);
  EXPECT_LE(before, 2 * PowerOfTwoHistogram::kFineBinsPerSide * 8 + 256);
}

}  // namespace
}  // namespace quench
