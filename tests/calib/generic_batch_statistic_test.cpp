// Per-batch statistics (vai_q calib_statistic_method) over min-max batches, by hand.
#include <gtest/gtest.h>

#include "calib/observer.h"
#include "generic_test_data.h"

namespace quench {
namespace {

using testing::tensor_of;

// Four batches with max|x| = 1, 3, 2, 10 (min = -max / 2).
std::unique_ptr<Observer> observed(BatchStatistic st) {
  auto obs = std::move(make_observer({.method = CalibMethod::kMinMax, .batch_statistic = st})).value();
  for (float m : {1.0f, 3.0f, 2.0f, 10.0f}) EXPECT_TRUE(obs->update(tensor_of({-m / 2, m})).ok());
  return obs;
}

TEST(BatchStatistic, FloatScalesReduceTheRanges) {
  QuantSpec s;  // int8 symmetric: per batch scale = max / 127; the scales are reduced
  struct Case {
    BatchStatistic st;
    float amax;  // the reduced range's max
  };
  for (const Case& c : {Case{BatchStatistic::kMax, 10.0f}, Case{BatchStatistic::kMean, 4.0f},
                        Case{BatchStatistic::kMedian, 2.5f}}) {
    SCOPED_TRACE(batch_statistic_name(c.st));
    auto e = observed(c.st)->compute(s);
    ASSERT_TRUE(e.ok()) << e.status().message();
    EXPECT_FLOAT_EQ(e->scale[0], c.amax / 127.0f);
    EXPECT_EQ(e->zero_point[0], 0);
  }
  // Asymmetric uint8: reduced [min, max] ends, mean of [-0.5, 1], [-1.5, 3], [-1, 2], [-5, 10].
  QuantSpec u;
  u.is_signed = false;
  u.symmetric = false;
  auto e = observed(BatchStatistic::kMean)->compute(u);
  ASSERT_TRUE(e.ok());
  EXPECT_NEAR(e->range_min(), -2.0f, 0.02f);
  EXPECT_NEAR(e->range_max(), 4.0f, 0.02f);
}

TEST(BatchStatistic, PowerOfTwoReducesFixPositions) {
  // int8 pow2: scale = 2^ceil(log2(max / 127)): max 1 -> 2^-6 (fp 6), 3 -> 2^-5 (5), 2 -> 2^-5 (5),
  // 10 -> 2^-3 (3).
  QuantSpec s;
  s.scale_type = ScaleType::kPowerOfTwo;
  struct Case {
    BatchStatistic st;
    int fix_pos;
  };
  for (const Case& c : {Case{BatchStatistic::kModal, 5}, Case{BatchStatistic::kMax, 3},
                        Case{BatchStatistic::kMean, 5},   // round(19 / 4 = 4.75)
                        Case{BatchStatistic::kMedian, 5}}) {
    SCOPED_TRACE(batch_statistic_name(c.st));
    auto e = observed(c.st)->compute(s);
    ASSERT_TRUE(e.ok()) << e.status().message();
    ASSERT_EQ(e->fix_pos.size(), 1u);
    EXPECT_EQ(e->fix_pos[0], c.fix_pos);
    EXPECT_EQ(e->scale[0], std::ldexp(1.0f, -c.fix_pos));
  }
}

TEST(BatchStatistic, MemoryIsPerBatchNotPerElement) {
  auto small = std::move(make_observer({.batch_statistic = BatchStatistic::kMax})).value();
  auto large = std::move(make_observer({.batch_statistic = BatchStatistic::kMax})).value();
  for (int b = 0; b < 5; ++b) {
    ASSERT_TRUE(small->update(tensor_of(testing::gen(10, b))).ok());
    ASSERT_TRUE(large->update(tensor_of(testing::gen(100000, b))).ok());
  }
  EXPECT_EQ(small->memory_bytes(), large->memory_bytes());
}

}  // namespace
}  // namespace quench
