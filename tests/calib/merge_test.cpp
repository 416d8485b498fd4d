// merge() of observers that saw parts of the batches gives, bit for bit, the encoding of one
// observer that saw them all: for every generic method, per tensor and per channel, and for the
// per-batch statistics. Six batches of growing and shrinking scale are split 2+4 and 3+3 (and
// 1+2+3, merged left to right).
#include <gtest/gtest.h>

#include <string>

#include "calib/observer.h"
#include "generic_test_data.h"

namespace quench {
namespace {

struct MergeCase {
  std::string name;
  ObserverConfig config;
  std::vector<QuantSpec> specs;
};

QuantSpec spec(bool is_signed, bool symmetric, int bits = 8, bool per_channel = false,
               bool pow2 = false) {
  QuantSpec s;
  s.is_signed = is_signed;
  s.symmetric = symmetric;
  s.bits = bits;
  if (per_channel) {
    s.granularity = Granularity::kPerChannel;
    s.axis = 1;
  }
  if (pow2) s.scale_type = ScaleType::kPowerOfTwo;
  return s;
}

std::vector<MergeCase> cases() {
  const std::vector<QuantSpec> tensor_specs = {spec(true, true), spec(false, false),
                                               spec(true, true, 4), spec(false, false, 3)};
  const std::vector<QuantSpec> channel_specs = {spec(true, true, 8, true),
                                                spec(false, false, 8, true)};
  std::vector<MergeCase> out;
  const std::vector<std::pair<const char*, CalibMethod>> methods = {
      {"minmax", CalibMethod::kMinMax},
      {"moving_average", CalibMethod::kMovingAverageMinMax},
      {"sigma", CalibMethod::kSigma},
      {"percentile", CalibMethod::kPercentile},
      {"entropy", CalibMethod::kEntropy},
      {"mse", CalibMethod::kMse},
      {"torch_histogram", CalibMethod::kTorchHistogram},
      {"tf_enhanced", CalibMethod::kTfEnhanced}};
  for (const auto& [name, m] : methods) {
    ObserverConfig c{.method = m, .ema_momentum = 0.2, .percentile = 99.5, .sigma = 3};
    out.push_back({name, c, tensor_specs});
    c.per_channel = true;
    out.push_back({std::string(name) + " per-channel", c, channel_specs});
  }
  out.push_back({"sigma 25", {.method = CalibMethod::kSigma, .sigma = 25}, tensor_specs});
  out.push_back({"sigma 0", {.method = CalibMethod::kSigma, .sigma = 0}, tensor_specs});
  for (BatchStatistic st : {BatchStatistic::kMax, BatchStatistic::kMean, BatchStatistic::kMedian}) {
    out.push_back({std::string("minmax per-batch ") + batch_statistic_name(st),
                   {.method = CalibMethod::kMinMax, .batch_statistic = st},
                   {spec(true, true), spec(false, false), spec(true, true, 8, false, true)}});
    out.push_back({std::string("entropy per-batch ") + batch_statistic_name(st),
                   {.method = CalibMethod::kEntropy, .batch_statistic = st},
                   {spec(true, true)}});
  }
  out.push_back({"minmax per-batch modal",
                 {.method = CalibMethod::kMinMax, .batch_statistic = BatchStatistic::kModal},
                 {spec(true, true, 8, false, true), spec(true, true, 4, false, true)}});
  return out;
}

// Batch b: shape [4, 3, 50], values of scale 2^(b - 2) with a per-channel offset.
Tensor batch(int b) {
  std::vector<float> x = testing::gen(600, 31 + b);
  const float scale = std::ldexp(1.0f, (b * 5) % 6 - 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] * scale + static_cast<float>((i / 50) % 3) - 1.0f;
  return testing::tensor_of(x, {4, 3, 50});
}

std::unique_ptr<Observer> observe(const ObserverConfig& c, int first, int last) {
  auto r = make_observer(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  auto obs = std::move(r).value();
  for (int b = first; b < last; ++b) EXPECT_TRUE(obs->update(batch(b)).ok());
  return obs;
}

TEST(ObserverMerge, SplitBatchesGiveTheSameEncoding) {
  const std::vector<std::vector<int>> splits = {{2, 4}, {3, 3}, {1, 2, 3}};
  for (const MergeCase& mc : cases()) {
    SCOPED_TRACE(mc.name);
    auto all = observe(mc.config, 0, 6);
    for (const auto& split : splits) {
      std::unique_ptr<Observer> merged;
      int next = 0;
      for (int count : split) {
        auto part = observe(mc.config, next, next + count);
        next += count;
        if (!merged) {
          merged = std::move(part);
        } else {
          ASSERT_TRUE(merged->merge(*part).ok());
        }
      }
      EXPECT_EQ(merged->num_batches(), 6);
      for (const QuantSpec& s : mc.specs) {
        SCOPED_TRACE(s.describe());
        auto a = all->compute(s);
        auto m = merged->compute(s);
        ASSERT_TRUE(a.ok()) << a.status().message();
        ASSERT_TRUE(m.ok()) << m.status().message();
        EXPECT_EQ(a->scale, m->scale);
        EXPECT_EQ(a->zero_point, m->zero_point);
        EXPECT_EQ(a->fix_pos, m->fix_pos);
        EXPECT_EQ(a->param_shape, m->param_shape);
      }
    }
  }
}

TEST(ObserverMerge, MergingIntoAnEmptyCloneCopies) {
  for (const MergeCase& mc : cases()) {
    SCOPED_TRACE(mc.name);
    auto full = observe(mc.config, 0, 6);
    auto copy = full->clone_empty();
    EXPECT_EQ(copy->num_batches(), 0);
    EXPECT_FALSE(copy->compute(mc.specs[0]).ok());
    ASSERT_TRUE(copy->merge(*full).ok());
    EXPECT_EQ(copy->compute(mc.specs[0])->scale, full->compute(mc.specs[0])->scale);
  }
}

TEST(ObserverMerge, BatchNumLimit) {
  // batch_num 4: one observer keeps the first four batches; merging 2 + 2 is the same; 3 + 3 would
  // exceed the limit for observers that cannot drop batches.
  ObserverConfig c{.method = CalibMethod::kMinMax, .batch_num = 4};
  auto all = observe(c, 0, 6);
  EXPECT_EQ(all->num_batches(), 4);
  auto ref = observe({.method = CalibMethod::kMinMax}, 0, 4);
  const QuantSpec s = spec(false, false);
  EXPECT_EQ(all->compute(s)->scale, ref->compute(s)->scale);
  auto a = observe(c, 0, 2), b = observe(c, 2, 4);
  ASSERT_TRUE(a->merge(*b).ok());
  EXPECT_EQ(a->compute(s)->scale, ref->compute(s)->scale);
  auto p = observe(c, 0, 3), q = observe(c, 3, 6);
  Status st = p->merge(*q);
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_EQ(st.message(),
            "observer.batch_num: merging 3 batches into an observer holding 3 would exceed the "
            "limit of 4; give each part at most its share of the batches");
  // The moving average keeps per-batch values and drops the surplus instead.
  ObserverConfig ema{.method = CalibMethod::kMovingAverageMinMax, .batch_num = 4};
  auto e_all = observe(ema, 0, 6), e_p = observe(ema, 0, 3), e_q = observe(ema, 3, 6);
  ASSERT_TRUE(e_p->merge(*e_q).ok());
  EXPECT_EQ(e_p->num_batches(), 4);
  EXPECT_EQ(e_p->compute(s)->scale, e_all->compute(s)->scale);
}

}  // namespace
}  // namespace quench
