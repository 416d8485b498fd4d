// ADMM weight quantization: the alternation on hand examples, on random data, and on the bundled
// model's weights through QuantSim.
#include "algo/admm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "onnx/onnx_io.h"
#include "quant/quantize.h"
#include "testutil.h"

namespace quench {
namespace {

QuantSpec int_spec(int bits, bool is_signed, bool symmetric) {
  QuantSpec s;
  s.bits = bits;
  s.is_signed = is_signed;
  s.symmetric = symmetric;
  return s;
}

// W = {1, 2, 3, 10} on the signed 4-bit grid [-8, 7] from min-max s = 10/7: Q = round(W / s) =
// {1, 1, 2, 7}; the least-squares scale for those codes is <W, Q> / <Q, Q> = 79 / 55, for which
// the codes are the same (a fixed point). Errors: {-3/7, 4/7, 1/7, 0}^2 -> 26/49 before,
// (1 - 79/55)^2 + (2 - 79/55)^2 + (3 - 158/55)^2 + (10 - 553/55)^2 = 29/55 after.
TEST(Admm, SymmetricLeastSquaresStepByHand) {
  const float w[] = {1.0f, 2.0f, 3.0f, 10.0f};
  AdmmFit f = admm_fit(w, 4, 10.0f / 7.0f, 0, int_spec(4, true, true), 1000);
  EXPECT_NEAR(f.scale, 79.0 / 55.0, 1e-6);
  EXPECT_EQ(f.zero_point, 0);
  EXPECT_NEAR(f.sse_before, 26.0 / 49.0, 1e-6);
  EXPECT_NEAR(f.sse_after, 29.0 / 55.0, 1e-6);
  EXPECT_EQ(f.steps, 1);
}

// Asymmetric, unsigned 3-bit [0, 7]: W = {1.55, 1.11, 2.09, 2.18}, min-max over [0, 2.18]:
// s = 2.18 / 7, z = 0; Q = {5, 4, 7, 7}. The regression W ~ a Q + b gives a = 2.2325 / 6.75,
// b = mean(W) - a mean(Q) = 1.7325 - 5.75 a, z = round(-b / a) = round(0.512) = 1; for z = 1 the
// scale is <W, Q - 1> / ||Q - 1||^2 = 35.15 / 97, and the codes stay.
TEST(Admm, AsymmetricStepMovesTheZeroPoint) {
  const float w[] = {1.55f, 1.11f, 2.09f, 2.18f};
  const QuantSpec spec = int_spec(3, false, false);
  auto start = encoding_from_range(spec, {0.0f}, {2.18f});
  ASSERT_TRUE(start.ok());
  ASSERT_EQ(start->zero_point[0], 0);
  AdmmFit f = admm_fit(w, 4, start->scale[0], start->zero_point[0], spec, 1000);
  EXPECT_NEAR(f.scale, 35.15 / 97.0, 1e-6);
  EXPECT_EQ(f.zero_point, 1);
  EXPECT_NEAR(f.sse_before, 0.0265694, 1e-6);
  EXPECT_NEAR(f.sse_after, 0.0177546, 1e-6);
  EXPECT_EQ(f.steps, 1);
}

TEST(Admm, IterationsCapTheSteps) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(512);
  for (float& v : w) v = d(rng);
  float mx = 0.0f;
  for (float v : w) mx = std::max(mx, std::abs(v));
  const QuantSpec spec = int_spec(4, true, true);
  AdmmFit one = admm_fit(w.data(), 512, mx / 7.0f, 0, spec, 1);
  AdmmFit all = admm_fit(w.data(), 512, mx / 7.0f, 0, spec, 1000);
  EXPECT_EQ(one.steps, 1);
  EXPECT_GT(all.steps, 1);
  EXPECT_LT(all.sse_after, one.sse_after);
}

// Random data, a table of grids and distributions: the fit never does worse than min-max, does
// much better where min-max wastes the grid on the tails, and ends at a fixed point (one more
// code + least-squares step does not lower the error).
TEST(Admm, NeverWorseThanMinMaxOnRandomData) {
  struct Case {
    int bits;
    bool symmetric;
    const char* dist;
    double max_ratio;  // sse_after / sse_before must be at most this
  };
  const Case cases[] = {
      {4, true, "laplace", 0.6}, {4, false, "laplace", 0.8}, {3, true, "normal", 0.6},
      {4, true, "normal", 1.0},  {8, true, "normal", 1.0},   {4, false, "uniform", 1.0},
      {2, false, "normal", 1.0}, {8, false, "laplace", 1.0},
  };
  std::mt19937 rng(11);
  for (const Case& c : cases) {
    std::vector<float> w(1024);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::exponential_distribution<float> expo(1.0f);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    for (float& v : w) {
      if (std::string(c.dist) == "normal")
        v = normal(rng);
      else if (std::string(c.dist) == "laplace")
        v = (uni(rng) < 0 ? -1.0f : 1.0f) * expo(rng);
      else
        v = uni(rng);
    }
    const QuantSpec spec = int_spec(c.bits, true, c.symmetric);
    float mn = 0.0f, mx = 0.0f;
    for (float v : w) {
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
    auto start = encoding_from_range(spec, {mn}, {mx});
    ASSERT_TRUE(start.ok());
    SCOPED_TRACE(std::to_string(c.bits) + (c.symmetric ? " sym " : " asym ") + c.dist);
    AdmmFit f = admm_fit(w.data(), 1024, start->scale[0], start->zero_point[0], spec, 1000);
    // sse_before is the min-max encoding's error, measured by the library's fake-quantizer.
    auto fq = fake_quantize(Tensor::from_vector<float>({1024}, w), *start);
    ASSERT_TRUE(fq.ok());
    double ref = 0.0;
    for (int i = 0; i < 1024; ++i) ref += std::pow(double(w[i]) - fq->data<float>()[i], 2);
    EXPECT_NEAR(f.sse_before, ref, 1e-6 * ref);
    EXPECT_LE(f.sse_after, f.sse_before);
    EXPECT_LE(f.sse_after, c.max_ratio * f.sse_before);
    AdmmFit again = admm_fit(w.data(), 1024, f.scale, f.zero_point, spec, 1000);
    EXPECT_GE(again.sse_after, f.sse_after * (1 - 1e-9));
  }
}

double weight_mse(const Tensor& w, const Encoding& e) {
  auto q = fake_quantize(w, e);
  EXPECT_TRUE(q.ok());
  double s = 0.0;
  for (int64_t i = 0; i < w.numel(); ++i)
    s += std::pow(double(w.data<float>()[i]) - q->data<float>()[i], 2);
  return s / double(w.numel());
}

// The bundled model at 4-bit weights, per channel and per tensor: every layer's weight error is
// at most min-max's, the sim holds the new encodings, and the report's numbers are what the
// library's fake-quantizer measures with them.
TEST(Admm, RealWeightsThroughQuantSim) {
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  ASSERT_TRUE(m.ok());
  auto model = std::make_shared<const Model>(std::move(m).value());
  for (Granularity g : {Granularity::kPerChannel, Granularity::kPerTensor}) {
    QuantConfig c = default_quant_config();
    c.weight.spec.bits = 4;
    c.weight.spec.granularity = g;
    auto sim = QuantSim::create(model, c);
    ASSERT_TRUE(sim.ok()) << sim.status().message();
    std::map<std::string, Encoding> minmax;
    for (const QuantPoint& p : (*sim)->points())
      if (p.kind == TensorKind::kWeight) minmax[p.value] = *p.encoding;
    ASSERT_EQ(minmax.size(), 5u);  // 3 Conv + 2 Gemm
    int64_t progress_calls = 0;
    AdmmOptions o;
    o.progress = [&](int64_t, int64_t total) {
      ++progress_calls;
      EXPECT_EQ(total, 5);
    };
    auto r = admm_weights(**sim, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->layers.size(), 5u);
    EXPECT_EQ(progress_calls, 5);
    double ratio_sum = 0.0;
    for (const AdmmLayer& l : r->layers) {
      SCOPED_TRACE(l.weight);
      const Tensor& w = (*sim)->sim_model().graph->find_value(l.weight)->constant;
      const QuantPoint* p = (*sim)->find_point(l.weight);
      ASSERT_TRUE(p && p->encoding);
      EXPECT_NEAR(l.mse_before, weight_mse(w, minmax[l.weight]), 1e-6 * l.mse_before);
      EXPECT_NEAR(l.mse_after, weight_mse(w, *p->encoding), 1e-6 * l.mse_after);
      EXPECT_LE(l.mse_after, l.mse_before);
      EXPECT_EQ(l.num_params, g == Granularity::kPerChannel ? w.dim(0) : 1);
      ratio_sum += l.mse_after / l.mse_before;
    }
    // Trained weights have tails that min-max spends the 4-bit grid on: the error falls by a
    // quarter per layer on average per channel (0.86 ... 0.63) and by more than half per tensor.
    const double mean_ratio = ratio_sum / double(r->layers.size());
    EXPECT_LT(mean_ratio, g == Granularity::kPerChannel ? 0.8 : 0.5);
  }
}

TEST(Admm, RejectsZeroIterations) {
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  ASSERT_TRUE(m.ok());
  auto sim =
      QuantSim::create(std::make_shared<const Model>(std::move(m).value()), default_quant_config());
  ASSERT_TRUE(sim.ok());
  AdmmOptions o;
  o.iterations = 0;
  auto r = admm_weights(**sim, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "admm: iterations must be >= 1 (got 0)");
}

}  // namespace
}  // namespace quench
