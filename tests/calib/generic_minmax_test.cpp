// Min-max, moving-average min-max and sigma observers against hand numbers and PyTorch.
#include <gtest/gtest.h>

#include <cmath>

#include "calib/observer.h"
#include "generic_test_data.h"

namespace quench {
namespace {

using testing::gen;
using testing::tensor_of;

QuantSpec uint8_asym() {
  QuantSpec s;
  s.is_signed = false;
  s.symmetric = false;
  return s;
}

QuantSpec per_channel(QuantSpec s, int axis) {
  s.granularity = Granularity::kPerChannel;
  s.axis = axis;
  return s;
}

std::unique_ptr<Observer> make(ObserverConfig c) {
  auto r = make_observer(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

Encoding expected(const QuantSpec& s, std::vector<float> lo, std::vector<float> hi) {
  auto r = encoding_from_range(s, lo, hi);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(r).value();
}

void expect_same(const Encoding& a, const Encoding& b) {
  EXPECT_EQ(a.scale, b.scale);
  EXPECT_EQ(a.zero_point, b.zero_point);
  EXPECT_EQ(a.param_shape, b.param_shape);
  EXPECT_EQ(a.fix_pos, b.fix_pos);
}

// Scales within 1e-6 relative (moments are combined in another order than the hand formula).
void expect_close(const Encoding& a, const Encoding& b) {
  ASSERT_EQ(a.scale.size(), b.scale.size());
  for (size_t i = 0; i < a.scale.size(); ++i) EXPECT_NEAR(a.scale[i], b.scale[i], 1e-6 * b.scale[i]);
  EXPECT_EQ(a.zero_point, b.zero_point);
}

TEST(MinMaxObserver, RunningMinMaxByHand) {
  auto obs = make({.method = CalibMethod::kMinMax});
  ASSERT_TRUE(obs->update(tensor_of({1.0f, -2.0f, 3.0f})).ok());
  ASSERT_TRUE(obs->update(tensor_of({0.5f, 4.5f})).ok());
  EXPECT_EQ(obs->num_batches(), 2);
  auto e = obs->compute(uint8_asym());
  ASSERT_TRUE(e.ok()) << e.status().message();
  expect_same(*e, expected(uint8_asym(), {-2.0f}, {4.5f}));
  EXPECT_FLOAT_EQ(e->scale[0], 6.5f / 255);
  EXPECT_EQ(e->zero_point[0], 78);  // round(2 / (6.5 / 255)) = round(78.46)
}

TEST(MinMaxObserver, PerChannelAlongAxis1And_1) {
  // [2, 3, 2]: channel c along axis 1 holds x[n][c][k].
  const std::vector<float> x = {0, 1, -5, 2, 3, 4,    //
                                -1, 7, 0, 0, 9, -8};
  auto obs = make({.method = CalibMethod::kMinMax, .per_channel = true, .axis = 1});
  ASSERT_TRUE(obs->update(tensor_of(x, {2, 3, 2})).ok());
  const QuantSpec s = per_channel(QuantSpec{}, 1);
  auto e = obs->compute(s);
  ASSERT_TRUE(e.ok()) << e.status().message();
  expect_same(*e, expected(s, {-1, -5, -8}, {7, 2, 9}));
  EXPECT_EQ(e->param_shape, Shape({3}));
  // The last axis (-1): channels x[n][c][0] and x[n][c][1].
  auto last = make({.method = CalibMethod::kMinMax, .per_channel = true, .axis = -1});
  ASSERT_TRUE(last->update(tensor_of(x, {2, 3, 2})).ok());
  auto e2 = last->compute(per_channel(QuantSpec{}, -1));
  ASSERT_TRUE(e2.ok()) << e2.status().message();
  expect_same(*e2, expected(per_channel(QuantSpec{}, -1), {-5, -8}, {9, 7}));
}

// PyTorch 1.13 reference (/usr/bin/python3):
//   m = MovingAverageMinMaxObserver(averaging_constant=0.1, dtype=torch.quint8,
//                                   qscheme=torch.per_tensor_affine)
//   for b in range(6): m(torch.from_numpy(gen(500, 10 + b) * (1.0 + 0.25 * b)))
//   m.min_val, m.max_val -> -3.956374168395996, 6.602089881896973
//   m.calculate_qparams() -> (0.04140574112534523, 96)
TEST(MovingAverageObserver, MatchesTorch) {
  auto obs = make({.method = CalibMethod::kMovingAverageMinMax, .ema_momentum = 0.1});
  for (int b = 0; b < 6; ++b) {
    std::vector<float> x = gen(500, 10 + b);
    const float f = static_cast<float>(1.0 + 0.25 * b);
    for (float& v : x) v *= f;
    ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  }
  auto e = obs->compute(uint8_asym());
  ASSERT_TRUE(e.ok()) << e.status().message();
  expect_same(*e, expected(uint8_asym(), {-3.956374168395996f}, {6.602089881896973f}));
  EXPECT_FLOAT_EQ(e->scale[0], 0.04140574112534523f);
  EXPECT_EQ(e->zero_point[0], 96);
}

TEST(MovingAverageObserver, FirstBatchSetsTheRange) {
  auto obs = make({.method = CalibMethod::kMovingAverageMinMax, .ema_momentum = 0.5});
  ASSERT_TRUE(obs->update(tensor_of({-1.0f, 1.0f})).ok());
  ASSERT_TRUE(obs->update(tensor_of({-3.0f, 5.0f})).ok());
  // min = -1 + 0.5 (-3 + 1) = -2, max = 1 + 0.5 (5 - 1) = 3
  auto e = obs->compute(uint8_asym());
  ASSERT_TRUE(e.ok());
  expect_same(*e, expected(uint8_asym(), {-2.0f}, {3.0f}));
}

TEST(SigmaObserver, NonNegativeUsesStdOfPositiveValues) {
  // x = {0, 0, 1, 2, 3, 4, 100}: positive part {1, 2, 3, 4, 100}, mean 22, population variance
  // (441 + 400 + 361 + 324 + 6084) / 5 = 1522, std 39.0128...; sigma 2 -> alpha 78.0256 < 100.
  const std::vector<float> x = {0, 0, 1, 2, 3, 4, 100};
  auto obs = make({.method = CalibMethod::kSigma, .sigma = 2});
  ASSERT_TRUE(obs->update(tensor_of(x)).ok());
  const double alpha = 2 * std::sqrt(1522.0);
  auto e = obs->compute(uint8_asym());
  ASSERT_TRUE(e.ok());
  expect_close(*e, expected(uint8_asym(), {0.0f}, {static_cast<float>(alpha)}));
  // sigma 3 -> 117 > max: clamped to the observed max.
  auto wide = make({.method = CalibMethod::kSigma, .sigma = 3});
  ASSERT_TRUE(wide->update(tensor_of(x)).ok());
  expect_close(*wide->compute(uint8_asym()), expected(uint8_asym(), {0.0f}, {100.0f}));
}

TEST(SigmaObserver, SignedDividesBy1_25) {
  // x = {-3, -1, 1, 3, 10}: mean 2, population variance (25 + 9 + 1 + 1 + 64) / 5 = 20,
  // alpha = 2 * sqrt(20) / 1.25 = 7.155...; range [-alpha, alpha].
  const std::vector<float> x = {-3, -1, 1, 3, 10};
  auto obs = make({.method = CalibMethod::kSigma, .sigma = 2});
  ASSERT_TRUE(obs->update(tensor_of({-3, -1})).ok());  // two batches: moments combine
  ASSERT_TRUE(obs->update(tensor_of({1, 3, 10})).ok());
  const float alpha = static_cast<float>(2 * std::sqrt(20.0) / 1.25);
  QuantSpec s;  // int8 symmetric
  auto e = obs->compute(s);
  ASSERT_TRUE(e.ok());
  expect_close(*e, expected(s, {-alpha}, {alpha}));
  EXPECT_NEAR(e->scale[0], 7.1554175f / 127, 1e-7);
}

TEST(SigmaObserver, SigmaZeroIsMinMax) {
  auto obs = make({.method = CalibMethod::kSigma, .sigma = 0});
  ASSERT_TRUE(obs->update(tensor_of({-3, -1, 1, 3, 10})).ok());
  expect_same(*obs->compute(uint8_asym()), expected(uint8_asym(), {-3.0f}, {10.0f}));
}

TEST(SigmaObserver, PerChannel) {
  // [3, 2] along axis 1: channel 0 = {1, 2, 3} (non-negative), channel 1 = {-1, 0, 4}.
  const std::vector<float> x = {1, -1, 2, 0, 3, 4};
  auto obs = make({.method = CalibMethod::kSigma, .per_channel = true, .axis = 1, .sigma = 1});
  ASSERT_TRUE(obs->update(tensor_of(x, {3, 2})).ok());
  const float a0 = static_cast<float>(std::sqrt(2.0 / 3.0));           // std {1, 2, 3}
  const float a1 = static_cast<float>(std::sqrt(14.0 / 3.0) / 1.25);   // std {-1, 0, 4}
  const QuantSpec s = per_channel(uint8_asym(), 1);
  expect_close(*obs->compute(s), expected(s, {0.0f, -a1}, {a0, a1}));
}

TEST(MinMaxFamily, MemoryDoesNotGrowWithElements) {
  for (CalibMethod m : {CalibMethod::kMinMax, CalibMethod::kMovingAverageMinMax,
                        CalibMethod::kSigma}) {
    auto small = make({.method = m});
    auto large = make({.method = m});
    for (int b = 0; b < 4; ++b) {
      ASSERT_TRUE(small->update(tensor_of(gen(10, b))).ok());
      ASSERT_TRUE(large->update(tensor_of(gen(100000, b))).ok());
    }
    EXPECT_EQ(small->memory_bytes(), large->memory_bytes()) << calib_method_name(m);
    EXPECT_LT(large->memory_bytes(), 1024) << calib_method_name(m);
  }
}

}  // namespace
}  // namespace quench
