// AdaRound: the hand-derived gradient against finite differences, the layer forward against the
// executor, the optimisation against round-to-nearest, and the driver on small models (every op
// kind, NaN fallback, no weights).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "algo/adaround.h"
#include "algo/layer_data.h"
#include "export/tiny_model.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"
#include "testutil.h"

namespace quench {
namespace {

using testing::attr_int;
using testing::attr_ints;

// One layer of the tables below: the node (in its own model), weight, bias, activation, input.
struct LayerCase {
  std::string name;
  std::string op;
  std::vector<Attribute> attrs;
  Shape w_shape;
  int64_t bias = 0;       // bias elements (0: none)
  Shape sample_input;     // without the batch axis
  ActivationKind act = ActivationKind::kNone;
  int axis = 0;           // per-channel axis of the weight
};

void PrintTo(const LayerCase& c, std::ostream* os) { *os << c.name; }

std::vector<LayerCase> layer_cases() {
  return {
      {"conv_relu", "Conv", {attr_ints("pads", {1, 1, 1, 1})}, {3, 2, 3, 3}, 3, {2, 5, 5},
       ActivationKind::kRelu, 0},
      {"conv_group2_stride2", "Conv", {attr_int("group", 2), attr_ints("strides", {2, 2})},
       {4, 2, 3, 3}, 0, {4, 7, 7}, ActivationKind::kNone, 0},
      {"depthwise_clip", "Conv", {attr_int("group", 4), attr_ints("pads", {1, 1, 1, 1})},
       {4, 1, 3, 3}, 4, {4, 5, 5}, ActivationKind::kClip, 0},
      {"conv_transpose", "ConvTranspose", {attr_ints("strides", {2, 2})}, {3, 2, 3, 3}, 2,
       {3, 4, 4}, ActivationKind::kNone, 1},
      {"gemm_transb1", "Gemm", {attr_int("transB", 1)}, {5, 6}, 5, {6}, ActivationKind::kRelu, 0},
      {"gemm_transb0", "Gemm", {}, {6, 5}, 0, {6}, ActivationKind::kNone, 1},
      {"matmul_3d", "MatMul", {}, {6, 5}, 0, {3, 6}, ActivationKind::kNone, 1},
  };
}

FusedActivation make_act(ActivationKind k) {
  FusedActivation a;
  a.kind = k;
  if (k == ActivationKind::kClip) a.alpha = 0.0f, a.beta = 0.5f;
  return a;
}

// 4-bit signed symmetric per-channel encoding of w along `axis`.
Encoding int4_per_channel(const Tensor& w, int axis) {
  QuantSpec s;
  s.bits = 4;
  s.granularity = Granularity::kPerChannel;
  s.axis = axis;
  const int64_t c = w.dim(axis);
  int64_t inner = 1;
  for (int i = axis + 1; i < w.rank(); ++i) inner *= w.dim(i);
  std::vector<float> mn(static_cast<size_t>(c), 0.0f), mx(static_cast<size_t>(c), 0.0f);
  for (int64_t e = 0; e < w.numel(); ++e) {
    const size_t ch = static_cast<size_t>((e / inner) % c);
    mn[ch] = std::min(mn[ch], w.data<float>()[e]);
    mx[ch] = std::max(mx[ch], w.data<float>()[e]);
  }
  return encoding_from_range(s, mn, mx).value();
}

struct Built {
  std::shared_ptr<Model> model;
  const Node* node = nullptr;
  Tensor w, b;
};

Built build(const LayerCase& c, int64_t batch) {
  testing::TinyModel t(17);
  Shape xs{batch};
  xs.insert(xs.end(), c.sample_input.begin(), c.sample_input.end());
  Built out;
  out.w = testing::random_tensor(c.w_shape, -1.0f, 1.0f, 11);
  std::vector<Value*> in{t.input("x", xs), t.init("w", out.w)};
  if (c.bias) {
    out.b = testing::random_tensor({c.bias}, -0.5f, 0.5f, 12);
    in.push_back(t.init("b", out.b));
  }
  Value* y = t.node(c.op, "layer", in, "y", c.attrs);
  t.output(y);
  out.model = t.done();
  out.node = out.model->graph->nodes()[0];
  return out;
}

std::unique_ptr<AdaRoundLayer> make_layer(const LayerCase& c, const Built& b, int64_t batch) {
  AdaRoundLayer::Spec spec;
  spec.node = b.node;
  spec.weight = b.w;
  spec.bias = b.b;
  spec.encoding = int4_per_channel(b.w, c.axis);
  spec.activation = make_act(c.act);
  spec.sample_input = c.sample_input;
  spec.batch = batch;
  auto layer = AdaRoundLayer::create(spec);
  EXPECT_TRUE(layer.ok()) << c.name << ": " << layer.status().message();
  return layer.ok() ? std::move(layer).value() : nullptr;
}

class AdaRoundLayerTable : public ::testing::TestWithParam<LayerCase> {};

// The layer's forward (oneDNN / sgemm) is the executor's: with the FP32 weights and the executor's
// output as target, the recon loss is ~0; a wrong output shifts it by the squared error.
TEST_P(AdaRoundLayerTable, ForwardMatchesExecutor) {
  const LayerCase& c = GetParam();
  const int64_t batch = 4;
  Built b = build(c, batch);
  auto layer = make_layer(c, b, batch);
  ASSERT_TRUE(layer);
  Shape xs{batch};
  xs.insert(xs.end(), c.sample_input.begin(), c.sample_input.end());
  Tensor x = testing::random_tensor(xs, -1.0f, 1.0f, 21);
  auto y = testing::run_all(*b.model, {{"x", x}});
  ASSERT_EQ(y.size(), 1u);
  Tensor t = y[0].clone();
  make_act(c.act).apply(t.data<float>(), t.numel());
  ASSERT_EQ(t.numel(), batch * layer->sample_output_numel());
  LayerSamples data{x.data<float>(), t.data<float>(), batch};
  const double exact = layer->recon_loss(data, b.w.data<float>());
  double scale = 0.0;
  for (int64_t i = 0; i < t.numel(); ++i) scale += t.data<float>()[i] * t.data<float>()[i];
  EXPECT_LT(exact, 1e-9 * scale + 1e-12) << c.name;
  // Nearest rounding: the loss equals the executor's own error with fake-quantized weights.
  Tensor wq = layer->nearest_weight();
  Built bq = b;
  bq.model = std::make_shared<Model>(clone_model(*b.model));
  bq.model->graph->find_value("w")->constant = wq;
  auto yq = testing::run_all(*bq.model, {{"x", x}});
  Tensor aq = yq[0].clone();
  make_act(c.act).apply(aq.data<float>(), aq.numel());
  double direct = 0.0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double d = aq.data<float>()[i] - t.data<float>()[i];
    direct += d * d;
  }
  direct /= static_cast<double>(t.numel() / (c.op == "Conv" || c.op == "ConvTranspose" ? y[0].dim(1) : y[0].dim(-1)));
  EXPECT_NEAR(layer->recon_loss(data, wq.data<float>()), direct, 1e-5 * direct) << c.name;
}

// dL/dV from loss_and_grad against central differences of the same loss, element by element:
// the recon part alone (lambda 0), then with the regulariser (beta 3, lambda 0.05).
TEST_P(AdaRoundLayerTable, GradientMatchesFiniteDifferences) {
  const LayerCase& c = GetParam();
  const int64_t batch = 4;
  Built b = build(c, batch);
  auto layer = make_layer(c, b, batch);
  ASSERT_TRUE(layer);
  Shape xs{batch};
  xs.insert(xs.end(), c.sample_input.begin(), c.sample_input.end());
  Tensor x = testing::random_tensor(xs, -1.0f, 1.0f, 31);
  Shape ts{batch};
  ts.insert(ts.end(), layer->sample_output().begin(), layer->sample_output().end());
  Tensor t = testing::random_tensor(ts, 0.0f, 0.4f, 32);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);  // h stays inside (0, 1): no clamp kink
  for (float& v : layer->v()) v = u(rng);
  const double beta = 3.0;
  const int64_t n = layer->weight_numel();
  for (double lambda : {0.0, 0.05}) {
    std::vector<float> grad(static_cast<size_t>(n)), scratch(static_cast<size_t>(n));
    double recon = 0.0;
    layer->loss_and_grad(x.data<float>(), t.data<float>(), beta, lambda, grad.data(), &recon);
    // The training pass (samples in oneDNN's layouts) computes the loss of the plain evaluation.
    const double plain = layer->recon_loss(LayerSamples{x.data<float>(), t.data<float>(), batch},
                                           layer->soft_weight().data<float>());
    EXPECT_NEAR(recon, plain, 1e-5 * plain) << c.name;
    float gmax = 0.0f;
    for (float g : grad) gmax = std::max(gmax, std::abs(g));
    ASSERT_GT(gmax, 0.0f);
    const float eps = 1e-2f;
    double worst = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      float& v = layer->v()[static_cast<size_t>(i)];
      const float v0 = v;
      v = v0 + eps;
      const double lp = layer->loss_and_grad(x.data<float>(), t.data<float>(), beta, lambda, scratch.data());
      v = v0 - eps;
      const double lm = layer->loss_and_grad(x.data<float>(), t.data<float>(), beta, lambda, scratch.data());
      v = v0;
      worst = std::max(worst, std::abs((lp - lm) / (2.0 * eps) - grad[static_cast<size_t>(i)]));
    }
    EXPECT_LT(worst, 2e-3 * gmax) << c.name << " lambda " << lambda << ": max |fd - grad| " << worst
                                  << ", max |grad| " << gmax;
  }
}

// Optimised rounding reconstructs the layer at least as well as round-to-nearest, and every
// decision is floor or ceil of w / s (clamped to the grid).
TEST_P(AdaRoundLayerTable, BeatsNearestWithFloorOrCeil) {
  const LayerCase& c = GetParam();
  const int64_t batch = 8, n = 64;
  Built b = build(c, batch);
  auto layer = make_layer(c, b, batch);
  ASSERT_TRUE(layer);
  Shape xs{n};
  xs.insert(xs.end(), c.sample_input.begin(), c.sample_input.end());
  Tensor x = testing::random_tensor(xs, -1.0f, 1.0f, 41);
  Built bn = build(c, n);
  auto y = testing::run_all(*bn.model, {{"x", x}});
  Tensor t = y[0].clone();
  make_act(c.act).apply(t.data<float>(), t.numel());
  AdaRoundSchedule sch;
  sch.iterations = 1500;
  sch.lr = 1e-2;
  auto r = layer->optimize(LayerSamples{x.data<float>(), t.data<float>(), n}, sch);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->diverged);
  EXPECT_LE(r->recon_final, r->recon_nearest * 1.0001) << c.name;
  EXPECT_LT(r->recon_soft, r->recon_nearest) << c.name;
  Encoding e = int4_per_channel(b.w, c.axis);
  Tensor hard = layer->hard_weight();
  int64_t inner = 1;
  for (int i = c.axis + 1; i < b.w.rank(); ++i) inner *= b.w.dim(i);
  for (int64_t i = 0; i < b.w.numel(); ++i) {
    const float s = e.scale[static_cast<size_t>((i / inner) % b.w.dim(c.axis))];
    const float q = hard.data<float>()[i] / s, fl = std::floor(b.w.data<float>()[i] / s);
    const float lo = std::max<float>(fl, e.spec.qmin()), hi = std::min<float>(fl + 1, e.spec.qmax());
    EXPECT_TRUE(std::abs(q - lo) < 1e-4 || std::abs(q - hi) < 1e-4)
        << c.name << " element " << i << ": w/s " << b.w.data<float>()[i] / s << " rounded to " << q;
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, AdaRoundLayerTable, ::testing::ValuesIn(layer_cases()),
                         [](const auto& info) { return info.param.name; });

// Per-block grids (one scale per 4 input features of each output row): every element is rounded
// down or up on its own block's grid.
TEST(AdaRoundLayerGrid, PerBlockRoundsDownOrUpOnItsBlock) {
  LayerCase c{"gemm_block", "Gemm", {attr_int("transB", 1)}, {4, 8}, 0, {8}, ActivationKind::kNone, 0};
  const int64_t n = 64;
  Built b = build(c, 8);
  QuantSpec spec;
  spec.bits = 4;
  spec.granularity = Granularity::kPerBlock;
  spec.axis = 1;
  spec.block_size = 4;
  std::vector<float> mn(8, 0.0f), mx(8, 0.0f);
  for (int64_t i = 0; i < 32; ++i) {
    const size_t p = static_cast<size_t>((i / 8) * 2 + (i % 8) / 4);
    mn[p] = std::min(mn[p], b.w.data<float>()[i]);
    mx[p] = std::max(mx[p], b.w.data<float>()[i]);
  }
  AdaRoundLayer::Spec ls;
  ls.node = b.node;
  ls.weight = b.w;
  ls.encoding = encoding_from_range(spec, mn, mx, {4, 2}).value();
  ls.sample_input = {8};
  ls.batch = 8;
  auto layer = AdaRoundLayer::create(ls);
  ASSERT_TRUE(layer.ok()) << layer.status().message();
  Tensor x = testing::random_tensor({n, 8}, -1.0f, 1.0f, 51);
  Built bn = build(c, n);
  Tensor t = testing::run_all(*bn.model, {{"x", x}})[0];
  AdaRoundSchedule sch;
  sch.iterations = 1000;
  sch.lr = 1e-2;
  auto r = (*layer)->optimize(LayerSamples{x.data<float>(), t.data<float>(), n}, sch);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LE(r->recon_final, r->recon_nearest * 1.0001);
  Tensor hard = (*layer)->hard_weight();
  for (int64_t i = 0; i < 32; ++i) {
    const float s = ls.encoding.scale[static_cast<size_t>((i / 8) * 2 + (i % 8) / 4)];
    const float q = hard.data<float>()[i] / s, w = b.w.data<float>()[i] / s;
    EXPECT_TRUE(std::abs(q - std::floor(w)) < 1e-4 || std::abs(q - std::floor(w) - 1) < 1e-4)
        << "element " << i << ": w/s " << w << " rounded to " << q;
  }
}

TEST(AdaRoundSchedule, BetaIsCosineAnnealedAfterWarmStart) {
  AdaRoundSchedule s;
  s.iterations = 1000;
  EXPECT_DOUBLE_EQ(adaround_beta(s, 200), 20.0);
  EXPECT_NEAR(adaround_beta(s, 600), 11.0, 1e-12);
  EXPECT_NEAR(adaround_beta(s, 1000), 2.0, 1e-12);
}

// A model with every op kind: Conv+Relu, depthwise Conv+Clip, ConvTranspose, Flatten, MatMul.
std::shared_ptr<Model> mixed_model() {
  testing::TinyModel t(17);
  Value* x = t.input("x", {-1, 2, 6, 6});
  Value* c1 = t.node("Conv", "conv", {x, t.init("w1", testing::random_tensor({4, 2, 3, 3}, -1, 1, 1)),
                                     t.init("b1", testing::random_tensor({4}, -0.2f, 0.2f, 2))},
                     "c1", {attr_ints("pads", {1, 1, 1, 1})});
  Value* r1 = t.node("Relu", "relu", {c1}, "r1");
  Value* c2 = t.node("Conv", "dw", {r1, t.init("w2", testing::random_tensor({4, 1, 3, 3}, -1, 1, 3))}, "c2",
                     {attr_int("group", 4), attr_ints("pads", {1, 1, 1, 1})});
  Value* r2 = t.node("Clip", "clip", {c2, t.init("lo", Tensor::scalar(0.0f)), t.init("hi", Tensor::scalar(6.0f))}, "r2");
  Value* c3 = t.node("ConvTranspose", "up", {r2, t.init("w3", testing::random_tensor({4, 2, 2, 2}, -1, 1, 4))},
                     "c3", {attr_ints("strides", {2, 2})});
  Value* f = t.node("Flatten", "flat", {c3}, "f");
  Value* y = t.node("MatMul", "fc", {f, t.init("w4", testing::random_tensor({288, 5}, -0.2f, 0.2f, 5))}, "y");
  t.output(y);
  return t.done();
}

QuantConfig w4a8() {
  QuantConfig c = default_quant_config();
  c.weight.spec.bits = 4;
  return c;
}

std::vector<Executor::Feeds> random_batches(int count, int64_t rows, uint32_t seed) {
  std::vector<Executor::Feeds> out;
  for (int i = 0; i < count; ++i)
    out.push_back({{"x", testing::random_tensor({rows, 2, 6, 6}, 0.0f, 1.0f, seed + static_cast<uint32_t>(i))}});
  return out;
}

TEST(AdaRound, RoundsEveryLayerKindOfAModel) {
  auto model = mixed_model();
  std::vector<std::string> warnings;
  auto sim = QuantSim::create(model, w4a8());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  BatchSource src = replay_batches(random_batches(4, 16, 100));
  ASSERT_TRUE((*sim)->compute_encodings(src).ok());
  AdaRoundOptions o;
  o.iterations = 300;
  o.num_samples = 48;  // 3 of the 4 batches
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  int64_t last_progress = 0;
  o.progress = [&](const std::string&, int64_t it, int64_t total) {
    EXPECT_EQ(total, 300);
    last_progress = it;
  };
  auto r = adaround(**sim, src, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(warnings.empty()) << warnings[0];
  EXPECT_EQ(last_progress, 300);
  EXPECT_EQ(r->samples, 48);
  ASSERT_EQ(r->layers.size(), 4u);
  const char* nodes[] = {"conv", "dw", "up", "fc"};
  const char* acts[] = {"Relu", "Clip(0, 6)", "", ""};
  const char* targets[] = {"r1", "r2", "c3", "y"};
  for (size_t i = 0; i < 4; ++i) {
    const AdaRoundLayerReport& l = r->layers[i];
    EXPECT_EQ(l.node, nodes[i]);
    EXPECT_EQ(l.activation, acts[i]);
    EXPECT_EQ(l.target, targets[i]);
    EXPECT_EQ(l.samples, 48);
    EXPECT_TRUE(l.applied);
    // The quantized (exported) weight is the hard-rounded one: on the grid, the encoding
    // unchanged; the FP32 model keeps its weight.
    const QuantPoint* p = (*sim)->find_point(l.weight);
    ASSERT_TRUE(p && p->encoding);
    const Tensor w = (*sim)->quantized_model().model->graph->find_value(l.weight)->constant;
    EXPECT_NE(w.to_double_vector(),
              (*sim)->sim_model().graph->find_value(l.weight)->constant.to_double_vector());
    auto wq = fake_quantize(w, *p->encoding);
    ASSERT_TRUE(wq.ok());
    EXPECT_TENSOR_NEAR(*wq, w, 1e-6);
  }
  auto out = (*sim)->run(random_batches(1, 2, 7)[0]);
  ASSERT_TRUE(out.ok()) << out.status().message();
}

TEST(AdaRound, NanLossKeepsNearestRoundingWithAWarning) {
  auto model = mixed_model();
  auto sim = QuantSim::create(model, w4a8());
  ASSERT_TRUE(sim.ok());
  ASSERT_TRUE((*sim)->compute_encodings(replay_batches(random_batches(2, 16, 200))).ok());
  const Tensor w1 = (*sim)->sim_model().graph->find_value("w1")->constant.clone();
  // An infinite pixel in every image: the first layer's targets hold Inf (a fused Relu may turn
  // NaN into 0, so NaN in the data would not reliably reach the loss).
  auto bad = random_batches(2, 16, 300);
  for (auto& f : bad)
    for (int64_t n = 0; n < 16; ++n) f[0].second.data<float>()[n * 72 + 7] = INFINITY;
  std::vector<std::string> warnings;
  AdaRoundOptions o;
  o.iterations = 50;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto r = adaround(**sim, replay_batches(bad), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_FALSE(warnings.empty());
  EXPECT_EQ(warnings[0],
            "AdaRound: layer 'conv' (Conv): the loss became NaN or Inf at iteration 1 of 50; the layer "
            "keeps round-to-nearest weights");
  ASSERT_FALSE(r->layers.empty());
  EXPECT_FALSE(r->layers[0].applied);
  EXPECT_TRUE(r->layers[0].outcome.diverged);
  EXPECT_TENSOR_NEAR((*sim)->sim_model().graph->find_value("w1")->constant, w1, 0.0);
}

TEST(AdaRound, ModelWithoutWeightsSaysSoAndContinues) {
  testing::TinyModel t(17);
  Value* x = t.input("x", {-1, 2, 6, 6});
  t.output(t.node("Relu", "relu", {x}, "y"));
  auto sim = QuantSim::create(t.done(), w4a8());
  ASSERT_TRUE(sim.ok());
  std::vector<std::string> warnings;
  AdaRoundOptions o;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto r = adaround(**sim, replay_batches(random_batches(1, 4, 1)), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->layers.empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0],
            "AdaRound: the model has no Conv / ConvTranspose / Gemm / MatMul layer with quantized "
            "constant weights; nothing to round");
}

TEST(AdaRound, SkipLayersAndTooFewSamples) {
  auto model = mixed_model();
  auto sim = QuantSim::create(model, w4a8());
  ASSERT_TRUE(sim.ok());
  AdaRoundOptions o;
  o.iterations = 20;
  o.skip_layers = {"conv", "w2", "up"};
  auto r = adaround(**sim, replay_batches(random_batches(2, 16, 9)), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_EQ(r->layers[0].node, "fc");
  EXPECT_EQ(r->skipped.size(), 3u);
  o.skip_layers.clear();
  auto few = adaround(**sim, replay_batches(random_batches(1, 8, 9)), o);
  ASSERT_FALSE(few.ok());
  EXPECT_EQ(few.status().message(),
            "AdaRound: the calibration set has 8 samples, fewer than the batch size 32");
}

}  // namespace
}  // namespace quench
