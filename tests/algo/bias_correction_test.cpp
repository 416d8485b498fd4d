// Bias correction: the corrected quantized layer is unbiased on the calibration data (empirical),
// the analytical correction is eps * E[x] from the BN statistics, and on the zoo models with 4-bit
// weights the quantized logits move closer to the FP32 ones.
#include "algo/bias_correction.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "algo/layer_data.h"
#include "data/idx.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"
#include "testutil.h"

namespace quench {
namespace {

constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist/";

Value* add_input(Graph& g, const std::string& name, Shape shape) {
  Value* v = g.get_or_add_value(name);
  v->dtype = DType::kFloat32;
  v->has_shape = true;
  for (size_t i = 0; i < shape.size(); ++i)
    v->shape.push_back(i == 0 ? Dim{-1, "N"} : Dim{shape[i], ""});
  g.inputs.push_back(v);
  return v;
}

Value* add_init(Graph& g, const std::string& name, Tensor t) {
  Value* v = g.get_or_add_value(name);
  v->dtype = t.dtype();
  v->constant = std::move(t);
  g.initializers.push_back(v);
  return v;
}

std::shared_ptr<Model> new_model() {
  auto m = std::make_shared<Model>();
  m->opset_imports.push_back({"", 17});
  return m;
}

// x [N, cin, 8, 8] -> Conv(w, b, group) -> y. An undefined b gives a Conv without bias.
std::shared_ptr<Model> conv_model(const Tensor& w, const Tensor& b, int64_t group = 1) {
  auto m = new_model();
  Graph& g = *m->graph;
  Value* x = add_input(g, "x", {1, w.dim(1) * group, 8, 8});
  std::vector<Value*> ins = {x, add_init(g, "w", w)};
  if (b.defined()) ins.push_back(add_init(g, "b", b));
  Value* y = g.get_or_add_value("y");
  g.add_node("Conv", "conv", ins, {y})->attributes = {testing::attr_int("group", group)};
  g.outputs.push_back(y);
  return m;
}

struct Bn {
  std::vector<float> gamma, beta, mean, var;
};

// x -> BatchNormalization -> Relu -> Conv(w, b, group) -> y
std::shared_ptr<Model> bn_relu_conv_model(const Bn& bn, const Tensor& w, const Tensor& b,
                                          int64_t group) {
  auto m = new_model();
  Graph& g = *m->graph;
  const int64_t c = static_cast<int64_t>(bn.gamma.size());
  Value* x = add_input(g, "x", {1, c, 8, 8});
  auto vec = [&](const std::vector<float>& v) { return Tensor::from_vector<float>({c}, v); };
  Value* n = g.get_or_add_value("bn_out");
  g.add_node("BatchNormalization", "bn",
             {x, add_init(g, "gamma", vec(bn.gamma)), add_init(g, "beta", vec(bn.beta)),
              add_init(g, "mean", vec(bn.mean)), add_init(g, "var", vec(bn.var))},
             {n});
  Value* r = g.get_or_add_value("relu_out");
  g.add_node("Relu", "relu", {n}, {r});
  Value* y = g.get_or_add_value("y");
  g.add_node("Conv", "conv", {r, add_init(g, "w", w), add_init(g, "b", b)}, {y})->attributes = {
      testing::attr_int("group", group)};
  g.outputs.push_back(y);
  return m;
}

std::vector<Executor::Feeds> uniform_batches(int n, Shape shape, uint32_t seed) {
  std::vector<Executor::Feeds> out;
  for (int i = 0; i < n; ++i)
    out.push_back(
        {{"x", testing::random_tensor(shape, 0.0f, 1.0f, seed + static_cast<uint32_t>(i))}});
  return out;
}

// mean over batches, N, H, W of (a - b) per channel (axis 1).
std::vector<double> channel_shift(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  const int64_t c = a[0].dim(1);
  std::vector<double> sum(static_cast<size_t>(c), 0.0);
  int64_t count = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    const int64_t n = a[k].dim(0), inner = a[k].numel() / (n * c);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t j = 0; j < inner; ++j) {
          const int64_t idx = (i * c + ch) * inner + j;
          sum[static_cast<size_t>(ch)] += a[k].data<float>()[idx] - b[k].data<float>()[idx];
        }
    count += n * inner;
  }
  for (double& s : sum) s /= static_cast<double>(count);
  return sum;
}

// Outputs of the model (not the sim: bias correction changes the sim's FP32 model too).
std::vector<Tensor> reference_outputs(std::shared_ptr<const Model> m,
                                      const std::vector<Executor::Feeds>& batches) {
  auto exec = Executor::create(m);
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  std::vector<Tensor> out;
  for (const auto& f : batches) out.push_back((*exec)->run(f)->at(0));
  return out;
}

std::vector<Tensor> quantized_outputs(QuantSim& sim, const std::vector<Executor::Feeds>& batches) {
  std::vector<Tensor> out;
  for (const auto& f : batches) {
    auto r = sim.run(f);
    EXPECT_TRUE(r.ok()) << r.status().message();
    out.push_back(r->at(0));
  }
  return out;
}

// 3-bit per-tensor weights; the conv output is not quantized so that its raw value is seen.
QuantConfig w3_config(BiasMode bias) {
  QuantConfig c = default_quant_config();
  c.weight.spec.bits = 3;
  c.weight.spec.granularity = Granularity::kPerTensor;
  c.quantize_model_outputs = false;
  c.bias_mode = bias;
  return c;
}

TEST(BiasCorrection, EmpiricalMakesTheQuantizedConvUnbiasedOnTheCalibrationData) {
  const Tensor w = testing::random_tensor({4, 3, 3, 3}, -1.0f, 1.0f, 11);
  const Tensor b = testing::random_tensor({4}, -0.5f, 0.5f, 12);
  auto model = conv_model(w, b);
  const auto batches = uniform_batches(4, {8, 3, 8, 8}, 100);
  const auto fp = reference_outputs(model, batches);
  double range = 0.0;
  for (const Tensor& t : fp)
    for (int64_t i = 0; i < t.numel(); ++i)
      range = std::max(range, std::abs(double(t.data<float>()[i])));

  auto sim = QuantSim::create(model, w3_config(BiasMode::kFloat));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(replay_batches(batches)).ok());
  const std::vector<double> before = channel_shift(quantized_outputs(**sim, batches), fp);
  double worst_before = 0.0, mean_abs_before = 0.0;
  for (double s : before) {
    worst_before = std::max(worst_before, std::abs(s));
    mean_abs_before += std::abs(s) / static_cast<double>(before.size());
  }
  ASSERT_GT(worst_before, 0.02 * range) << "3-bit weights should shift the output mean";

  BiasCorrectionOptions o;
  int64_t calls = 0;
  o.progress = [&](int64_t done, int64_t total) {
    ++calls;
    EXPECT_EQ(total, 1);
    EXPECT_EQ(done, 1);
  };
  auto r = correct_bias(**sim, replay_batches(batches), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_EQ(r->layers[0].node, "conv");
  EXPECT_EQ(r->layers[0].method, "empirical");
  EXPECT_EQ(r->layers[0].channels, 4);
  EXPECT_NEAR(r->layers[0].mean_abs_shift, mean_abs_before, 1e-5);

  // The defining property: mean(q_out - fp_out) per channel is 0 on the calibration data.
  const std::vector<double> after = channel_shift(quantized_outputs(**sim, batches), fp);
  for (size_t c = 0; c < after.size(); ++c)
    EXPECT_LE(std::abs(after[c]), 1e-4 * range) << "channel " << c << " was " << before[c];
  // The FP32 bias moved by exactly the measured shift.
  const Tensor& nb = (*sim)->sim_model().graph->find_value("b")->constant;
  for (int64_t c = 0; c < 4; ++c)
    EXPECT_NEAR(nb.data<float>()[c], b.data<float>()[c] - before[static_cast<size_t>(c)], 1e-5);
}

TEST(BiasCorrection, Int32BiasLeavesLessThanHalfABiasStep) {
  const Tensor w = testing::random_tensor({4, 3, 3, 3}, -1.0f, 1.0f, 21);
  const Tensor b = testing::random_tensor({4}, -0.5f, 0.5f, 22);
  auto model = conv_model(w, b);
  const auto batches = uniform_batches(4, {8, 3, 8, 8}, 200);
  const auto fp = reference_outputs(model, batches);
  auto sim = QuantSim::create(model, w3_config(BiasMode::kInt32));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(replay_batches(batches)).ok());
  auto r = correct_bias(**sim, replay_batches(batches), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const QuantPoint* bp = (*sim)->find_point("b");
  ASSERT_TRUE(bp && bp->encoding);  // s_in * s_w, re-derived after the update
  const std::vector<double> after = channel_shift(quantized_outputs(**sim, batches), fp);
  for (size_t c = 0; c < after.size(); ++c)
    EXPECT_LE(std::abs(after[c]), 0.5 * bp->encoding->scale[c] + 1e-5) << "channel " << c;
}

// Hand computation: E[relu(N(beta, gamma^2))] per input channel, eps = sum over the kernel of
// (W~ - W), shift_o = sum_i eps[o, i] E[x_(group of o) + i].
std::vector<double> hand_shift(const Tensor& w, const Tensor& wq, const Bn& bn, int64_t group) {
  const int64_t cout = w.dim(0), cin_g = w.dim(1), k = w.numel() / (cout * cin_g);
  std::vector<double> ex;
  for (size_t i = 0; i < bn.gamma.size(); ++i) {
    const double g = std::abs(bn.gamma[i]), m = bn.beta[i], z = -m / g;
    const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
    const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
    ex.push_back(m * (1.0 - cdf) + g * pdf);
  }
  std::vector<double> shift(static_cast<size_t>(cout), 0.0);
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < cin_g; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t idx = (o * cin_g + i) * k + j;
        shift[static_cast<size_t>(o)] += (double(wq.data<float>()[idx]) - w.data<float>()[idx]) *
                                         ex[static_cast<size_t>((o / (cout / group)) * cin_g + i)];
      }
  return shift;
}

const Bn kBn = {{0.8f, -1.5f, 0.3f, 2.0f},
                {0.5f, -0.7f, 1.2f, 0.1f},
                {0.2f, -0.1f, 0.4f, 0.0f},
                {1.0f, 0.5f, 2.0f, 1.5f}};

TEST(BiasCorrection, AnalyticalIsEpsTimesTheExpectedInputBehindBnAndRelu) {
  for (int64_t group : {1, 2, 4}) {
    SCOPED_TRACE("group " + std::to_string(group));
    const Tensor w = testing::random_tensor({4, 4 / group, 3, 3}, -1.0f, 1.0f, 31);
    const Tensor b = testing::random_tensor({4}, -0.5f, 0.5f, 32);
    auto sim = QuantSim::create(bn_relu_conv_model(kBn, w, b, group), w3_config(BiasMode::kFloat));
    ASSERT_TRUE(sim.ok()) << sim.status().message();
    const QuantPoint* wp = (*sim)->find_point("w");
    ASSERT_TRUE(wp && wp->encoding);
    auto wq = fake_quantize(w, *wp->encoding);
    ASSERT_TRUE(wq.ok());
    const std::vector<double> shift = hand_shift(w, *wq, kBn, group);

    BiasCorrectionOptions o;
    o.mode = BiasCorrectionMode::kAnalytical;
    auto r = correct_bias(**sim, replay_batches({}), o);  // data-free
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->layers.size(), 1u);
    EXPECT_EQ(r->layers[0].method, "analytical");
    const Tensor& nb = (*sim)->sim_model().graph->find_value("b")->constant;
    double moved = 0.0;
    for (int64_t c = 0; c < 4; ++c) {
      EXPECT_NEAR(nb.data<float>()[c], b.data<float>()[c] - shift[static_cast<size_t>(c)], 1e-5);
      moved += std::abs(shift[static_cast<size_t>(c)]) / 4.0;
    }
    EXPECT_GT(moved, 0.01);
    EXPECT_NEAR(r->layers[0].mean_abs_shift, moved, 1e-6);
  }
}

// BN statistics of a BN folded away (ir/passes.h FoldedBatchNorm): the layer before is a Conv.
TEST(BiasCorrection, AnalyticalReadsFoldedBnStatisticsOfTheLayerBefore) {
  auto m = new_model();
  Graph& g = *m->graph;
  Value* x = add_input(g, "x", {1, 2, 8, 8});
  const Tensor w1 = testing::random_tensor({4, 2, 1, 1}, -1.0f, 1.0f, 41);
  const Tensor w2 = testing::random_tensor({3, 4, 3, 3}, -1.0f, 1.0f, 42);
  Value* h = g.get_or_add_value("h");
  g.add_node("Conv", "conv1",
             {x, add_init(g, "w1", w1), add_init(g, "b1", Tensor::zeros(DType::kFloat32, {4}))},
             {h});
  Value* r6 = g.get_or_add_value("r6");
  g.add_node("Clip", "relu6",
             {h, add_init(g, "lo", Tensor::scalar(0.0f)), add_init(g, "hi", Tensor::scalar(6.0f))},
             {r6});
  Value* y = g.get_or_add_value("y");
  g.add_node("Conv", "conv2",
             {r6, add_init(g, "w2", w2), add_init(g, "b2", Tensor::zeros(DType::kFloat32, {3}))},
             {y});
  g.outputs.push_back(y);
  auto sim = QuantSim::create(m, w3_config(BiasMode::kFloat));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  const QuantPoint* wp = (*sim)->find_point("w2");
  ASSERT_TRUE(wp && wp->encoding);
  auto wq = fake_quantize(w2, *wp->encoding);
  ASSERT_TRUE(wq.ok());
  const std::vector<float> gamma = {1.0f, 2.0f, 0.5f, 3.0f}, beta = {5.5f, -1.0f, 0.25f, 2.0f};
  std::vector<double> shift(3, 0.0);
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t i = 0; i < 4; ++i) {
      const double ex = clamped_normal_mean(beta[i], gamma[i], 0.0, 6.0);
      for (int64_t j = 0; j < 9; ++j) {
        const int64_t idx = (o * 4 + i) * 9 + j;
        shift[o] += (double(wq->data<float>()[idx]) - w2.data<float>()[idx]) * ex;
      }
    }
  BiasCorrectionOptions o;
  o.mode = BiasCorrectionMode::kAnalytical;
  BatchNormStats stats;
  stats.layer = "conv1";
  stats.gamma = gamma;
  stats.beta = beta;
  auto r = correct_bias(**sim, replay_batches({}), o, {stats});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 1u);  // conv1 has no BN before it and there is no data
  EXPECT_EQ(r->layers[0].node, "conv2");
  bool noted = false;
  for (const std::string& n : r->notes) noted |= n.find("Conv 'conv1'") != std::string::npos;
  EXPECT_TRUE(noted);
  const Tensor& nb = (*sim)->sim_model().graph->find_value("b2")->constant;
  for (int64_t c = 0; c < 3; ++c) EXPECT_NEAR(nb.data<float>()[c], -shift[c], 1e-5);
}

TEST(BiasCorrection, ClampedNormalMean) {
  EXPECT_NEAR(clamped_normal_mean(0.0, 1.0, 0.0, INFINITY), 1.0 / std::sqrt(2.0 * M_PI), 1e-12);
  EXPECT_NEAR(clamped_normal_mean(0.7, 2.0, -INFINITY, INFINITY), 0.7, 1e-12);
  EXPECT_NEAR(clamped_normal_mean(50.0, 1.0, 0.0, 6.0), 6.0, 1e-12);
  EXPECT_NEAR(clamped_normal_mean(-50.0, 1.0, 0.0, INFINITY), 0.0, 1e-12);
  EXPECT_NEAR(clamped_normal_mean(3.0, 0.0, 0.0, 2.0), 2.0, 0.0);
  // Against a Riemann sum of clamp(x) N(x; 1, 1.5^2).
  double sum = 0.0;
  const double dx = 1e-4;
  for (double x = 1.0 - 15.0; x < 1.0 + 15.0; x += dx) {
    const double z = (x - 1.0) / 1.5;
    sum += std::clamp(x, 0.0, 6.0) * std::exp(-0.5 * z * z) / (1.5 * std::sqrt(2.0 * M_PI)) * dx;
  }
  EXPECT_NEAR(clamped_normal_mean(1.0, 1.5, 0.0, 6.0), sum, 1e-5);
}

// On data drawn as the analytical model assumes (BN outputs Gaussian with mean beta and standard
// deviation |gamma|), the measured shift matches the predicted one.
TEST(BiasCorrection, AnalyticalAgreesWithEmpiricalOnDataTheBnDescribes) {
  const Tensor w = testing::random_tensor({4, 4, 3, 3}, -1.0f, 1.0f, 51);
  const Tensor b = testing::random_tensor({4}, -0.5f, 0.5f, 52);
  auto model = bn_relu_conv_model(kBn, w, b, 1);
  // Weights only: the analytical correction covers the weight error alone.
  QuantConfig c = w3_config(BiasMode::kFloat);
  c.activation.enabled = false;
  c.input.enabled = false;
  std::mt19937 rng(5);
  std::normal_distribution<float> z(0.0f, 1.0f);
  std::vector<Executor::Feeds> batches;
  for (int k = 0; k < 16; ++k) {
    Tensor x = Tensor::empty(DType::kFloat32, {16, 4, 8, 8});
    for (int64_t i = 0; i < x.numel(); ++i) {
      const size_t ch = static_cast<size_t>((i / 64) % 4);
      x.data<float>()[i] = kBn.mean[ch] + std::sqrt(kBn.var[ch] + 1e-5f) * z(rng);
    }
    batches.push_back({{"x", x}});
  }
  std::vector<float> got[2];
  for (int k = 0; k < 2; ++k) {
    auto sim = QuantSim::create(model, c);
    ASSERT_TRUE(sim.ok()) << sim.status().message();
    BiasCorrectionOptions o;
    o.mode = k == 0 ? BiasCorrectionMode::kAnalytical : BiasCorrectionMode::kEmpirical;
    auto r = correct_bias(**sim, replay_batches(batches), o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->layers.size(), 1u);
    const Tensor& nb = (*sim)->sim_model().graph->find_value("b")->constant;
    got[k].assign(nb.data<float>(), nb.data<float>() + 4);
  }
  for (int ch = 0; ch < 4; ++ch) {
    const double analytical = b.data<float>()[ch] - got[0][ch];
    const double empirical = b.data<float>()[ch] - got[1][ch];
    EXPECT_NEAR(analytical, empirical, 0.01 + 0.05 * std::abs(analytical)) << "channel " << ch;
  }
}

TEST(BiasCorrection, InCalibrationEqualsEmpiricalForOneLayer) {
  const Tensor w = testing::random_tensor({4, 3, 3, 3}, -1.0f, 1.0f, 61);
  const Tensor b = testing::random_tensor({4}, -0.5f, 0.5f, 62);
  auto model = conv_model(w, b);
  const auto batches = uniform_batches(3, {8, 3, 8, 8}, 300);
  std::vector<float> got[2];
  for (int k = 0; k < 2; ++k) {
    auto sim = QuantSim::create(model, w3_config(BiasMode::kFloat));
    ASSERT_TRUE(sim.ok());
    ASSERT_TRUE((*sim)->compute_encodings(replay_batches(batches)).ok());
    BiasCorrectionOptions o;
    o.mode = k == 0 ? BiasCorrectionMode::kEmpirical : BiasCorrectionMode::kInCalibration;
    auto r = correct_bias(**sim, replay_batches(batches), o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->layers.size(), 1u);
    EXPECT_EQ(r->layers[0].method, k == 0 ? "empirical" : "in-calibration");
    const Tensor& nb = (*sim)->sim_model().graph->find_value("b")->constant;
    got[k].assign(nb.data<float>(), nb.data<float>() + 4);
  }
  for (int ch = 0; ch < 4; ++ch) EXPECT_NEAR(got[0][ch], got[1][ch], 1e-6);
}

// Gemm (transB = 1, beta = 0.5: the bias change is scaled) and MatMul + Add (the Add's constant
// is the bias) in one model: x -> Gemm -> Relu -> MatMul -> Add -> y.
TEST(BiasCorrection, EmpiricalCorrectsGemmAndMatMulAdd) {
  auto m = new_model();
  Graph& g = *m->graph;
  Value* x = add_input(g, "x", {1, 12});
  Value* h = g.get_or_add_value("h");
  g.add_node("Gemm", "gemm",
             {x, add_init(g, "w1", testing::random_tensor({6, 12}, -1.0f, 1.0f, 71)),
              add_init(g, "c1", testing::random_tensor({6}, -0.5f, 0.5f, 72))},
             {h})
      ->attributes = {testing::attr_int("transB", 1), testing::attr_float("beta", 0.5f)};
  Value* r = g.get_or_add_value("r");
  g.add_node("Relu", "relu", {h}, {r});
  Value* p = g.get_or_add_value("p");
  g.add_node("MatMul", "matmul",
             {r, add_init(g, "w2", testing::random_tensor({6, 5}, -1.0f, 1.0f, 73))}, {p});
  Value* y = g.get_or_add_value("y");
  g.add_node("Add", "add", {p, add_init(g, "c2", testing::random_tensor({5}, -0.5f, 0.5f, 74))},
             {y});
  g.outputs.push_back(y);
  std::vector<Executor::Feeds> batches;
  for (uint32_t k = 0; k < 4; ++k)
    batches.push_back({{"x", testing::random_tensor({64, 12}, 0.0f, 1.0f, 400 + k)}});
  const auto fp = reference_outputs(m, batches);
  auto sim = QuantSim::create(m, w3_config(BiasMode::kFloat));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(replay_batches(batches)).ok());
  const std::vector<double> before = channel_shift(quantized_outputs(**sim, batches), fp);
  double worst = 0.0;
  for (double v : before) worst = std::max(worst, std::abs(v));
  ASSERT_GT(worst, 0.05);
  auto rep = correct_bias(**sim, replay_batches(batches), {});
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  ASSERT_EQ(rep->layers.size(), 2u);
  EXPECT_EQ(rep->layers[0].node, "gemm");
  EXPECT_EQ(rep->layers[1].node, "matmul");
  EXPECT_EQ(rep->layers[1].channels, 5);
  const std::vector<double> after = channel_shift(quantized_outputs(**sim, batches), fp);
  for (size_t c = 0; c < after.size(); ++c) EXPECT_LE(std::abs(after[c]), 1e-4) << "channel " << c;
  // The Gemm's own output is unbiased too (its C was moved by shift / beta).
  auto qh = collect_values(**sim, replay_batches(batches), -1, {"h"}, Run::kQuantized);
  ASSERT_TRUE(qh.ok());
  auto exec = Executor::create(m);
  ASSERT_TRUE(exec.ok());
  std::vector<Tensor> fh;
  for (const auto& f : batches) fh.push_back((*exec)->run(f, {"h"})->at(0));
  for (double v : channel_shift(qh->at(0), fh)) EXPECT_LE(std::abs(v), 1e-4);
}

TEST(BiasCorrection, IgnoredLayersKeepTheirBias) {
  const Tensor b = testing::random_tensor({4}, -0.5f, 0.5f, 82);
  auto model = conv_model(testing::random_tensor({4, 3, 3, 3}, -1.0f, 1.0f, 81), b);
  auto sim = QuantSim::create(model, w3_config(BiasMode::kFloat));
  ASSERT_TRUE(sim.ok());
  BiasCorrectionOptions o;
  o.layers_to_ignore = {"conv"};
  auto r = correct_bias(**sim, replay_batches(uniform_batches(2, {4, 3, 8, 8}, 500)), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->layers.empty());
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0], "bias correction: Conv 'conv' ignored as asked");
  EXPECT_TENSOR_NEAR((*sim)->sim_model().graph->find_value("b")->constant, b, 0.0);
}

TEST(BiasCorrection, BadInputs) {
  // No weighted layer: a note, no change.
  auto relu = testing::single_op_model({"Relu"}, {testing::random_tensor({2, 3})});
  auto sim = QuantSim::create(relu, default_quant_config());
  ASSERT_TRUE(sim.ok());
  auto r = correct_bias(**sim, replay_batches({}), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->layers.empty());
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0], "bias correction: no Conv/Gemm/MatMul layer with weights");

  // Empty source.
  auto conv = conv_model(testing::random_tensor({2, 3, 3, 3}), testing::random_tensor({2}));
  auto sim2 = QuantSim::create(conv, default_quant_config());
  ASSERT_TRUE(sim2.ok());
  for (auto mode : {BiasCorrectionMode::kEmpirical, BiasCorrectionMode::kInCalibration}) {
    BiasCorrectionOptions o;
    o.mode = mode;
    auto e = correct_bias(**sim2, replay_batches({}), o);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), StatusCode::kInvalid);
    EXPECT_NE(e.status().message().find("calibration set is empty"), std::string::npos)
        << e.status().message();
  }

  // A Conv without bias: skipped with a note naming it.
  auto nobias = conv_model(testing::random_tensor({2, 3, 3, 3}), Tensor());
  auto sim3 = QuantSim::create(nobias, default_quant_config());
  ASSERT_TRUE(sim3.ok());
  auto r3 = correct_bias(**sim3, replay_batches(uniform_batches(1, {2, 3, 8, 8}, 1)), {});
  ASSERT_TRUE(r3.ok()) << r3.status().message();
  EXPECT_TRUE(r3->layers.empty());
  ASSERT_EQ(r3->notes.size(), 1u);
  EXPECT_EQ(
      r3->notes[0],
      "bias correction: Conv 'conv' has no bias (QuantSim cannot add a bias input yet); skipped");
}

// ---- zoo models with real data ----

bool have_fashion() {
  return std::filesystem::exists(std::string(kFashionDir) + "train-images-idx3-ubyte.gz");
}

std::vector<Executor::Feeds> fashion_batches(const std::string& file, int64_t start, int n,
                                             int64_t batch) {
  auto reader = open_idx_reader(std::string(kFashionDir) + file);
  EXPECT_TRUE(reader.ok());
  if (start) {
    EXPECT_TRUE((*reader)->read_rows(start).ok());
  }
  std::vector<Executor::Feeds> out;
  for (int i = 0; i < n; ++i) {
    auto rows = (*reader)->read_rows(batch);
    EXPECT_TRUE(rows.ok());
    Tensor x = Tensor::empty(DType::kFloat32, {batch, 1, 28, 28});
    for (int64_t k = 0; k < x.numel(); ++k) x.data<float>()[k] = rows->data<uint8_t>()[k] / 255.0f;
    out.push_back({{"input", x}});
  }
  return out;
}

QuantConfig w4a8_per_tensor() {
  QuantConfig c = default_quant_config();
  c.weight.spec.bits = 4;
  c.weight.spec.granularity = Granularity::kPerTensor;
  return c;
}

struct LogitError {
  double mse = 0;        // mean squared difference of the logits
  double bias = 0;       // mean over classes of |mean over images of the difference|
  double agreement = 0;  // fraction of images whose top-1 class matches FP32
};

LogitError logit_error(QuantSim& sim, const std::vector<Executor::Feeds>& batches,
                       const std::vector<Tensor>& fp) {
  LogitError e;
  const int64_t classes = fp[0].dim(1);
  std::vector<double> diff(static_cast<size_t>(classes), 0.0);
  int64_t images = 0;
  for (size_t k = 0; k < batches.size(); ++k) {
    auto q = sim.run(batches[k]);
    EXPECT_TRUE(q.ok());
    for (int64_t i = 0; i < fp[k].dim(0); ++i, ++images) {
      const float* a = q->at(0).data<float>() + i * classes;
      const float* b = fp[k].data<float>() + i * classes;
      for (int64_t c = 0; c < classes; ++c) {
        diff[static_cast<size_t>(c)] += a[c] - b[c];
        e.mse += (a[c] - b[c]) * double(a[c] - b[c]);
      }
      e.agreement +=
          (std::max_element(a, a + classes) - a) == (std::max_element(b, b + classes) - b);
    }
  }
  e.mse /= static_cast<double>(images * classes);
  e.agreement /= static_cast<double>(images);
  for (double d : diff)
    e.bias += std::abs(d / static_cast<double>(images)) / static_cast<double>(classes);
  return e;
}

struct ZooCase {
  const char* path;
  // The logit MSE drops on resnet and mobilenet. On fashion_cnn it rises (1.37 -> 2.35 here): its
  // first conv sees mostly-zero background where the quantized and FP32 outputs agree exactly, and
  // the mean shift learnt from the foreground is applied there too (ignoring that layer: 0.88).
  bool mse_drops;
};

class BiasCorrectionZoo : public ::testing::TestWithParam<ZooCase> {};

// W4A8 per-tensor, held-out test images: the mean logit error (what bias correction removes) drops
// by far, the top-1 agreement with FP32 does not fall, and the logit MSE drops where noted.
TEST_P(BiasCorrectionZoo, EmpiricalReducesTheLogitBiasOfW4A8) {
  if (!have_fashion()) GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionDir;
  auto loaded = onnx::load_model(testing::source_path(GetParam().path));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto model = std::make_shared<const Model>(std::move(loaded).value());
  const auto calib = fashion_batches("train-images-idx3-ubyte.gz", 0, 4, 16);
  const auto held_out = fashion_batches("t10k-images-idx3-ubyte.gz", 0, 4, 64);
  const auto fp = reference_outputs(model, held_out);
  auto sim = QuantSim::create(model, w4a8_per_tensor());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(replay_batches(calib)).ok());
  const LogitError before = logit_error(**sim, held_out, fp);
  auto r = correct_bias(**sim, replay_batches(calib), {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->layers.empty());
  const LogitError after = logit_error(**sim, held_out, fp);
  std::printf(
      "%s: logit MSE %.4f -> %.4f, mean |bias| %.4f -> %.4f, top-1 agreement %.3f -> %.3f\n",
      GetParam().path, before.mse, after.mse, before.bias, after.bias, before.agreement,
      after.agreement);
  EXPECT_LT(after.bias, 0.5 * before.bias);
  EXPECT_GE(after.agreement, before.agreement);
  if (GetParam().mse_drops) {
    EXPECT_LT(after.mse, 0.6 * before.mse);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BiasCorrectionZoo,
                         ::testing::Values(ZooCase{"models/fashion_cnn.onnx", false},
                                           ZooCase{"models/zoo/resnet_fmnist.onnx", true},
                                           ZooCase{"models/zoo/mobilenetv2_fmnist.onnx", true}));

}  // namespace
}  // namespace quench

namespace quench {
namespace {

// Top-1 accuracy on the 10k Fashion-MNIST test images.
double test_accuracy(
    const std::function<Result<std::vector<Tensor>>(const Executor::Feeds&)>& run) {
  auto labels = read_idx(std::string(kFashionDir) + "t10k-labels-idx1-ubyte.gz");
  EXPECT_TRUE(labels.ok());
  const auto batches = fashion_batches("t10k-images-idx3-ubyte.gz", 0, 50, 200);
  int64_t right = 0, seen = 0;
  for (const auto& f : batches) {
    auto out = run(f);
    EXPECT_TRUE(out.ok()) << out.status().message();
    const Tensor& y = out->at(0);
    for (int64_t i = 0; i < y.dim(0); ++i, ++seen) {
      const float* row = y.data<float>() + i * y.dim(1);
      const int64_t best = std::max_element(row, row + y.dim(1)) - row;
      right += best == static_cast<int64_t>(labels->data<uint8_t>()[seen]);
    }
  }
  return static_cast<double>(right) / static_cast<double>(seen);
}

// The accuracy table of the report (minutes): per-tensor min-max W8A8 and W4A8, 512 training
// images for calibration and bias correction, without and with correction.
TEST(BiasCorrectionAccuracy, DISABLED_FashionMnistTable) {
  if (!have_fashion()) GTEST_SKIP();
  const auto calib = fashion_batches("train-images-idx3-ubyte.gz", 0, 16, 32);
  const char* mode_env = std::getenv("QUENCH_BC_MODE");
  const std::string mode = mode_env ? mode_env : "empirical";
  for (const char* path : {"models/fashion_cnn.onnx", "models/zoo/resnet_fmnist.onnx",
                           "models/zoo/mobilenetv2_fmnist.onnx"}) {
    auto loaded = onnx::load_model(testing::source_path(path));
    ASSERT_TRUE(loaded.ok());
    auto model = std::make_shared<const Model>(std::move(loaded).value());
    auto exec = Executor::create(model);
    ASSERT_TRUE(exec.ok());
    std::printf("%-36s fp32 %.2f%%\n", path,
                100.0 * test_accuracy([&](const Executor::Feeds& f) { return (*exec)->run(f); }));
    for (int bits : {8, 4}) {
      QuantConfig c = w4a8_per_tensor();
      c.weight.spec.bits = bits;
      auto sim = QuantSim::create(model, c);
      ASSERT_TRUE(sim.ok());
      ASSERT_TRUE((*sim)->compute_encodings(replay_batches(calib)).ok());
      auto run = [&](const Executor::Feeds& f) { return (*sim)->run(f); };
      const double plain = test_accuracy(run);
      BiasCorrectionOptions o;
      o.mode = mode == "in-calibration" ? BiasCorrectionMode::kInCalibration
                                        : BiasCorrectionMode::kEmpirical;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = correct_bias(**sim, replay_batches(calib), o);
      ASSERT_TRUE(r.ok()) << r.status().message();
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%-36s W%dA8 per-tensor  %.2f%% -> %.2f%% with %s BC (%zu layers, %.1fs)\n", path,
                  bits, 100.0 * plain, 100.0 * test_accuracy(run), mode.c_str(), r->layers.size(),
                  secs);
      std::fflush(stdout);
    }
  }
}

}  // namespace
}  // namespace quench
