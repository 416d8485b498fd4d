// Bad input to the generic observers: config fields out of range, NaN / Inf in a batch, no data,
// mismatched merges and layouts, specs that do not suit the observer.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "calib/observer.h"
#include "generic_test_data.h"

namespace quench {
namespace {

using testing::tensor_of;

struct BadConfig {
  ObserverConfig config;
  const char* message;
};

TEST(MakeObserver, RejectsFieldsOutOfRange) {
  const std::vector<BadConfig> cases = {
      {{.method = CalibMethod::kPercentile, .percentile = 120},
       "observer.percentile: 120 is out of range (0, 100]"},
      {{.method = CalibMethod::kPercentile, .percentile = 0},
       "observer.percentile: 0 is out of range (0, 100]"},
      {{.method = CalibMethod::kPercentile, .percentile = std::nan("")},
       "observer.percentile: nan is out of range (0, 100]"},
      {{.method = CalibMethod::kEntropy, .num_bins = 8},
       "observer.num_bins: 8 is out of range [16, 65536]"},
      {{.method = CalibMethod::kMse, .num_bins = 100000},
       "observer.num_bins: 100000 is out of range [16, 65536]"},
      {{.method = CalibMethod::kSigma, .sigma = 101}, "observer.sigma: 101 is out of range [0, 100]"},
      {{.method = CalibMethod::kSigma, .sigma = -1}, "observer.sigma: -1 is out of range [0, 100]"},
      {{.method = CalibMethod::kMovingAverageMinMax, .ema_momentum = 0},
       "observer.ema_momentum: 0 is out of range (0, 1]"},
      {{.method = CalibMethod::kMovingAverageMinMax, .ema_momentum = 1.5},
       "observer.ema_momentum: 1.5 is out of range (0, 1]"},
      {{.method = CalibMethod::kMinMax, .batch_num = -2}, "observer.batch_num: -2 must be >= 0"},
      {{.method = CalibMethod::kEntropy, .num_quantized_bins = 0},
       "observer.num_quantized_bins: 0 must be >= 1"},
  };
  for (const BadConfig& c : cases) {
    auto r = make_observer(c.config);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(r.status().message(), c.message);
  }
  // The edges are accepted.
  for (const ObserverConfig& ok :
       {ObserverConfig{.percentile = 100}, ObserverConfig{.num_bins = 16},
        ObserverConfig{.num_bins = 65536}, ObserverConfig{.ema_momentum = 1},
        ObserverConfig{.sigma = 0}, ObserverConfig{.sigma = 100}}) {
    EXPECT_TRUE(make_observer(ok).ok());
  }
}

const std::vector<CalibMethod> kGeneric = {
    CalibMethod::kMinMax,     CalibMethod::kMovingAverageMinMax, CalibMethod::kSigma,
    CalibMethod::kPercentile, CalibMethod::kEntropy,             CalibMethod::kMse,
    CalibMethod::kTorchHistogram, CalibMethod::kTfEnhanced};

// Per tensor the check rides on the observers' first pass over the data (on two threads for large
// batches): both sizes, with the bad element in the last chunk for the large one.
TEST(ObserverUpdate, NonFiniteValuesNameTheElementAndLeaveTheState) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (CalibMethod m : kGeneric) {
    for (bool per_batch : {false, true}) {
      for (size_t size : {size_t{10000}, size_t{200000}}) {
        SCOPED_TRACE(std::string(calib_method_name(m)) + (per_batch ? " per-batch max" : "") +
                     " size " + std::to_string(size));
        ObserverConfig c{.method = m};
        if (per_batch) c.batch_statistic = BatchStatistic::kMax;
        auto obs = std::move(make_observer(c)).value();
        ASSERT_TRUE(obs->update(tensor_of({1.0f, -2.0f})).ok());
        const Encoding before = *obs->compute(QuantSpec{});
        std::vector<float> x(size, 0.5f);
        const size_t at = size - 2223;
        x[at] = nan;
        Status s = obs->update(tensor_of(x));
        EXPECT_EQ(s.code(), StatusCode::kInvalid);
        EXPECT_EQ(s.message(), "element " + std::to_string(at) + " is NaN (calibration data must be finite)");
        x[at] = 1.0f;
        x[4] = inf;
        EXPECT_EQ(obs->update(tensor_of(x)).message(),
                  "element 4 is Inf (calibration data must be finite)");
        x[4] = -inf;
        EXPECT_EQ(obs->update(tensor_of(x)).message(),
                  "element 4 is -Inf (calibration data must be finite)");
        EXPECT_EQ(obs->num_batches(), 1);
        EXPECT_EQ(obs->compute(QuantSpec{})->scale, before.scale);
      }
    }
  }
}

TEST(ObserverCompute, EmptyObserverHasNoData) {
  for (CalibMethod m : kGeneric) {
    auto obs = std::move(make_observer({.method = m})).value();
    auto r = obs->compute(QuantSpec{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(r.status().message(), "no calibration data was observed") << calib_method_name(m);
    // An empty tensor is no data either.
    ASSERT_TRUE(obs->update(Tensor::zeros(DType::kFloat32, {0, 3})).ok());
    EXPECT_FALSE(obs->compute(QuantSpec{}).ok());
  }
  auto per_batch = std::move(make_observer({.batch_statistic = BatchStatistic::kMean})).value();
  EXPECT_EQ(per_batch->compute(QuantSpec{}).status().message(), "no calibration data was observed");
}

TEST(ObserverUpdate, RejectsOtherDtypesAndChannelChanges) {
  auto obs = std::move(make_observer({.method = CalibMethod::kMinMax})).value();
  Status s = obs->update(Tensor::zeros(DType::kInt32, {2, 2}));
  EXPECT_EQ(s.message(), "the batch is int32[2, 2], observers take float32");
  auto pc = std::move(make_observer({.per_channel = true, .axis = 1})).value();
  ASSERT_TRUE(pc->update(Tensor::zeros(DType::kFloat32, {2, 3, 4})).ok());
  EXPECT_EQ(pc->update(Tensor::zeros(DType::kFloat32, {2, 5, 4})).message(),
            "the batch float32[2, 5, 4] has 5 channels along axis 1 (rank 3); earlier batches had "
            "3 (rank 3)");
  EXPECT_EQ(pc->update(Tensor::zeros(DType::kFloat32, {4})).message(),
            "channel axis 1 is out of range for a rank-1 batch [4]");
}

TEST(ObserverCompute, SpecMustMatchTheGranularity) {
  auto pt = std::move(make_observer({.method = CalibMethod::kMinMax})).value();
  ASSERT_TRUE(pt->update(tensor_of({1, 2, 3}, {1, 3})).ok());
  QuantSpec channel;
  channel.granularity = Granularity::kPerChannel;
  channel.axis = 1;
  EXPECT_EQ(pt->compute(channel).status().message(),
            "a per-tensor observer cannot give the per-channel encoding " + channel.describe() +
                " (set observer.per_channel)");
  auto pc = std::move(make_observer({.per_channel = true, .axis = 1})).value();
  ASSERT_TRUE(pc->update(tensor_of({1, 2, 3}, {1, 3})).ok());
  EXPECT_EQ(pc->compute(QuantSpec{}).status().message(),
            "a per-channel observer (3 channels) cannot give the per-tensor encoding " +
                QuantSpec{}.describe());
  channel.axis = 0;
  EXPECT_EQ(pc->compute(channel).status().message(),
            "the spec's channel axis 0 differs from the observer's axis 1 (rank 2)");
  QuantSpec block;
  block.granularity = Granularity::kPerBlock;
  block.block_size = 2;
  EXPECT_EQ(pt->compute(block).status().code(), StatusCode::kUnsupported);
}

TEST(ObserverMerge, RejectsDifferentConfigs) {
  auto a = std::move(make_observer({.method = CalibMethod::kMinMax})).value();
  auto b = std::move(make_observer({.method = CalibMethod::kEntropy})).value();
  auto c = std::move(make_observer({.method = CalibMethod::kEntropy, .num_bins = 1024})).value();
  EXPECT_EQ(a->merge(*b).message(),
            "cannot merge a entropy observer into a minmax observer: merge needs observers made "
            "from the same config");
  EXPECT_EQ(b->merge(*c).code(), StatusCode::kInvalid);
  EXPECT_EQ(b->merge(*b).message(), "an observer cannot merge itself");
  auto p = std::move(make_observer({.per_channel = true, .axis = 0})).value();
  auto q = std::move(make_observer({.per_channel = true, .axis = 0})).value();
  ASSERT_TRUE(p->update(Tensor::zeros(DType::kFloat32, {3, 2})).ok());
  ASSERT_TRUE(q->update(Tensor::zeros(DType::kFloat32, {4, 2})).ok());
  EXPECT_EQ(p->merge(*q).message(),
            "cannot merge an observer of 4 channels (rank 2) into one of 3 channels (rank 2)");
}

TEST(BatchStatistic, ModalNeedsPowerOfTwo) {
  auto obs = std::move(make_observer({.batch_statistic = BatchStatistic::kModal})).value();
  ASSERT_TRUE(obs->update(tensor_of({1, 2})).ok());
  QuantSpec s;
  EXPECT_EQ(obs->compute(s).status().message(),
            "observer.batch_statistic: modal needs power-of-two scales (fix positions); use max, "
            "mean or median with " + s.describe());
}

}  // namespace
}  // namespace quench
