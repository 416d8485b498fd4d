// SQuant (squant_channel, squant_weights), round_opt and data-free quantization end to end.
#include "algo/squant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "algo/data_free.h"
#include "algo/round_opt.h"
#include "config/config_formats.h"
#include "data/dataset.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"
#include "testutil.h"

namespace quench {
namespace {

constexpr double kTol = 1e-4;  // float W/s summed in double

struct ChannelRun {
  std::vector<float> q;
  SquantChannelStats stats;
};

ChannelRun run_channel(const std::vector<float>& v, int64_t kernel_size, bool k, bool c,
                       float lo = -128.0f, float hi = 127.0f) {
  std::vector<float> vlo(v.size(), lo), vhi(v.size(), hi);
  ChannelRun r;
  r.q.resize(v.size());
  r.stats = squant_channel(v, vlo, vhi, kernel_size, RoundMode::kHalfEven, k, c, r.q);
  return r;
}

// Three kernels of three elements whose flips are worked out by hand:
//   kernel 0: v = 0.1 0.4 1.2   e = -.1 -.4 -.2   sum -.7: flip 0.4 up   -> sum +.3, offers it down
//   (.6) kernel 1: v = 0.2 .45 1.05  e = -.2 -.45 -.05 sum -.7: flip .45 up   -> sum +.3, offers it
//   down (.55) kernel 2: v = .15 .35 1.2   e = -.15 -.35 -.2 sum -.7: flip .35 up   -> sum +.3,
//   offers it down (.65) channel: sum +.9 -> one flip down among the offers: the largest priority,
//   kernel 2's (.65).
const std::vector<float> kHand = {0.1f, 0.4f, 1.2f, 0.2f, 0.45f, 1.05f, 0.15f, 0.35f, 1.2f};

TEST(Squant, HandExampleRoundToNearest) {
  ChannelRun r = run_channel(kHand, 3, false, false);
  EXPECT_EQ(r.q, (std::vector<float>{0, 0, 1, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(r.stats.flipped, 0);
  EXPECT_NEAR(r.stats.channel_error_rtn, 2.1, kTol);
  EXPECT_NEAR(r.stats.kernel_error_rtn, 0.7, kTol);
}

TEST(Squant, HandExampleKernelLevel) {
  ChannelRun r = run_channel(kHand, 3, true, false);
  EXPECT_EQ(r.q, (std::vector<float>{0, 1, 1, 0, 1, 1, 0, 1, 1}));
  EXPECT_EQ(r.stats.flipped, 3);
  EXPECT_NEAR(r.stats.kernel_error, 0.3, kTol);
  EXPECT_NEAR(r.stats.channel_error, 0.9, kTol);
}

TEST(Squant, HandExampleKernelThenChannel) {
  ChannelRun r = run_channel(kHand, 3, true, true);
  EXPECT_EQ(r.q, (std::vector<float>{0, 1, 1, 0, 1, 1, 0, 0, 1}));
  EXPECT_EQ(r.stats.flipped, 2);
  EXPECT_NEAR(r.stats.channel_error, 0.1, kTol);
  EXPECT_NEAR(r.stats.kernel_error, 0.7, kTol);  // kernel 2 back at its RTN sum: < 1, as promised
}

TEST(Squant, HandExampleChannelLevelAlone) {
  // Sum -2.1 over all nine: the two largest |e| of the rounded-down elements (.45 and .4) go up.
  ChannelRun r = run_channel(kHand, 3, false, true);
  EXPECT_EQ(r.q, (std::vector<float>{0, 1, 1, 0, 1, 1, 0, 0, 1}));
  EXPECT_NEAR(r.stats.channel_error, 0.1, kTol);
}

TEST(Squant, FlipsThatLeaveTheGridAreNotCandidates) {
  // Grid [-8, 7]: 7.45 rounds (and clamps) to 7 and cannot go up, so the flip goes to 6.4 although
  // its error is smaller.
  ChannelRun r = run_channel({7.45f, 6.4f}, 2, true, true, -8.0f, 7.0f);
  EXPECT_EQ(r.q, (std::vector<float>{7, 7}));
  // Both elements beyond the top: nothing can move.
  r = run_channel({7.4f, 7.3f}, 2, true, true, -8.0f, 7.0f);
  EXPECT_EQ(r.q, (std::vector<float>{7, 7}));
  EXPECT_EQ(r.stats.flipped, 0);
}

// Random channels: every element is floor or ceil of v (clamped to the grid), K leaves every
// kernel's |sum| <= 0.5, K + C leaves the channel's <= 0.5 and every kernel's < 1. Values beyond
// the grid (range > hi) check that no flip leaves it; the sums are then not always reachable.
TEST(Squant, RandomChannelsMeetTheConstraints) {
  struct Case {
    int64_t kernels, kernel_size;
    float lo, hi, range;
  };
  const Case cases[] = {{16, 9, -8, 7, 7.0f}, {64, 9, -128, 127, 127.0f}, {1, 9, -8, 7, 7.0f},
                        {8, 25, -8, 7, 7.0f}, {32, 1, -8, 7, 7.0f},       {3, 4, 0, 15, 15.0f},
                        {16, 9, -8, 7, 9.0f}, {32, 1, -8, 7, 9.0f}};
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const bool inside = c.range <= c.hi;
    for (int rep = 0; rep < 20; ++rep) {
      const int64_t n = c.kernels * c.kernel_size;
      Tensor t = testing::random_tensor({n}, c.lo == 0 ? 0.0f : -c.range, c.range, seed++);
      std::vector<float> v(t.data<float>(), t.data<float>() + n);
      SCOPED_TRACE(::testing::Message()
                   << c.kernels << "x" << c.kernel_size << " range " << c.range << " rep " << rep);
      ChannelRun k = run_channel(v, c.kernel_size, true, false, c.lo, c.hi);
      ChannelRun kc = run_channel(v, c.kernel_size, true, true, c.lo, c.hi);
      ChannelRun ec = run_channel(v, c.kernel_size, false, true, c.lo, c.hi);
      for (const ChannelRun* r : {&k, &kc, &ec}) {
        for (int64_t i = 0; i < n; ++i) {
          const float q = r->q[static_cast<size_t>(i)], x = v[static_cast<size_t>(i)];
          const float f = std::clamp(std::floor(x), c.lo, c.hi);
          const float u = std::clamp(std::ceil(x), c.lo, c.hi);
          ASSERT_TRUE(q == f || q == u) << "element " << i << ": " << x << " -> " << q;
        }
      }
      if (!inside) continue;
      EXPECT_LE(kc.stats.channel_error, 0.5 + kTol);
      EXPECT_LE(ec.stats.channel_error, 0.5 + kTol);
      if (c.kernel_size > 1) {
        EXPECT_LE(k.stats.kernel_error, 0.5 + kTol);
        EXPECT_LT(kc.stats.kernel_error, 1.0);
      }
    }
  }
}

// A Conv / Gemm / MatMul model with a W4 per-channel sim.
std::unique_ptr<QuantSim> sim_for(std::shared_ptr<Model> model, int bits = 4) {
  QuantConfig c = default_quant_config();
  c.weight.spec.bits = bits;
  auto sim = QuantSim::create(model, c);
  EXPECT_TRUE(sim.ok()) << sim.status().message();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

// Checks the weight `name` of `sim` after SQuant against the original `w`: on the grid, floor or
// ceil of w / s, and the summed perturbation within `kernel_bound` per kernel and 0.5 per output
// channel. `axis` is the output channel axis, `kernel_size` the elements of one kernel.
void check_weight(QuantSim& sim, const std::string& name, const Tensor& w, int axis,
                  int64_t kernel_size, double kernel_bound) {
  const QuantPoint* p = sim.find_point(name);
  ASSERT_TRUE(p && p->encoding);
  const Encoding& e = *p->encoding;
  ASSERT_EQ(e.spec.axis, axis);
  const Tensor nw = sim.quantized_model().model->graph->find_value(name)->constant;
  // The quantizer reproduces the written values exactly.
  auto fq = fake_quantize(nw, e);
  ASSERT_TRUE(fq.ok());
  EXPECT_TENSOR_NEAR(*fq, nw, 0.0);
  const int64_t channels = w.dim(axis), other = w.dim(1 - axis);
  std::vector<double> channel_sum(static_cast<size_t>(channels), 0.0);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 0; k < other; ++k) {
      double kernel_sum = 0.0;
      for (int64_t s = 0; s < kernel_size; ++s) {
        const int64_t i = (axis == 0 ? c * other + k : k * channels + c) * kernel_size + s;
        const float sc = e.scale[static_cast<size_t>(c)];
        const double v = w.data<float>()[i] / sc, q = nw.data<float>()[i] / sc;
        ASSERT_NEAR(q, std::round(q), 1e-3);
        ASSERT_LT(std::fabs(q - v), 1.0 + kTol) << name << " element " << i;
        kernel_sum += q - v;
      }
      if (kernel_size > 1) {
        EXPECT_LT(std::fabs(kernel_sum), kernel_bound + kTol);
      }
      channel_sum[static_cast<size_t>(c)] += kernel_sum;
    }
  for (double s : channel_sum) EXPECT_LE(std::fabs(s), 0.5 + kTol) << name;
}

TEST(SquantWeights, ConvKernelsAndChannels) {
  Tensor x = testing::random_tensor({1, 6, 8, 8}, 0.0f, 1.0f, 3);
  Tensor w = testing::random_tensor({8, 6, 3, 3}, -1.0f, 1.0f, 4);
  auto model = testing::single_op_model({"Conv", {testing::attr_ints("pads", {1, 1, 1, 1})}},
                                        {x, w}, {false, true});
  auto sim = sim_for(model);
  ASSERT_TRUE(sim);
  auto k_only = sim_for(model);
  auto r = squant_weights(*sim);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_EQ(r->layers[0].weight, "in1");
  EXPECT_EQ(r->layers[0].channels, 8);
  EXPECT_EQ(r->layers[0].kernel_size, 9);
  EXPECT_GT(r->layers[0].stats.flipped, 0);
  EXPECT_GT(r->layers[0].stats.channel_error_rtn, 0.5);
  EXPECT_LE(r->layers[0].stats.channel_error, 0.5 + kTol);
  check_weight(*sim, "in1", w, 0, 9, 1.0);
  // SQuant-K alone: every kernel within 0.5.
  SquantOptions o;
  o.channel_level = false;
  ASSERT_TRUE(squant_weights(*k_only, o).ok());
  const QuantPoint* p = k_only->find_point("in1");
  const Tensor kw = k_only->quantized_model().model->graph->find_value("in1")->constant;
  for (int64_t kernel = 0; kernel < 8 * 6; ++kernel) {
    double s = 0.0;
    for (int64_t j = 0; j < 9; ++j) {
      const float sc = p->encoding->scale[static_cast<size_t>(kernel / 6)];
      s += kw.data<float>()[kernel * 9 + j] / sc - w.data<float>()[kernel * 9 + j] / sc;
    }
    EXPECT_LE(std::fabs(s), 0.5 + kTol) << "kernel " << kernel;
  }
}

TEST(SquantWeights, RoundToNearestLevelEqualsTheQuantizer) {
  Tensor x = testing::random_tensor({1, 4, 5, 5}, 0.0f, 1.0f, 5);
  Tensor w = testing::random_tensor({6, 4, 3, 3}, -0.5f, 0.8f, 6);
  auto model = testing::single_op_model({"Conv"}, {x, w}, {false, true});
  auto sim = sim_for(model);
  ASSERT_TRUE(sim);
  const Encoding e = *sim->find_point("in1")->encoding;
  SquantOptions o;
  o.kernel_level = o.channel_level = false;
  auto r = squant_weights(*sim, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->layers[0].stats.flipped, 0);
  auto rtn = fake_quantize(w, e);
  ASSERT_TRUE(rtn.ok());
  EXPECT_TENSOR_NEAR(sim->quantized_model().model->graph->find_value("in1")->constant, *rtn, 0.0);
}

TEST(SquantWeights, DepthwiseGemmAndMatMulLayouts) {
  // Depthwise: one kernel per output channel.
  Tensor x = testing::random_tensor({1, 8, 6, 6}, 0.0f, 1.0f, 7);
  Tensor dw = testing::random_tensor({8, 1, 3, 3}, -1.0f, 1.0f, 8);
  auto dmodel =
      testing::single_op_model({"Conv", {testing::attr_int("group", 8)}}, {x, dw}, {false, true});
  auto dsim = sim_for(dmodel);
  ASSERT_TRUE(dsim);
  ASSERT_TRUE(squant_weights(*dsim).ok());
  check_weight(*dsim, "in1", dw, 0, 9, 1.0);
  // Gemm transB = 1: weight [N, K], channel = row.
  Tensor a = testing::random_tensor({2, 40}, 0.0f, 1.0f, 9);
  Tensor b = testing::random_tensor({12, 40}, -1.0f, 1.0f, 10);
  auto gmodel =
      testing::single_op_model({"Gemm", {testing::attr_int("transB", 1)}}, {a, b}, {false, true});
  auto gsim = sim_for(gmodel);
  ASSERT_TRUE(gsim);
  auto gr = squant_weights(*gsim);
  ASSERT_TRUE(gr.ok());
  EXPECT_EQ(gr->layers[0].kernel_size, 1);
  check_weight(*gsim, "in1", b, 0, 1, 0.0);
  // MatMul: weight [K, N], channel = column.
  Tensor mb = testing::random_tensor({40, 12}, -1.0f, 1.0f, 11);
  auto mmodel = testing::single_op_model({"MatMul"}, {a, mb}, {false, true});
  auto msim = sim_for(mmodel);
  ASSERT_TRUE(msim);
  auto mr = squant_weights(*msim);
  ASSERT_TRUE(mr.ok());
  EXPECT_EQ(mr->layers[0].channels, 12);
  check_weight(*msim, "in1", mb, 1, 1, 0.0);
}

TEST(SquantWeights, SkipsWhatItCannotRoundAndNamesUnknownLayers) {
  Tensor x = testing::random_tensor({1, 4, 5, 5}, 0.0f, 1.0f, 12);
  Tensor w = testing::random_tensor({6, 4, 3, 3}, -1.0f, 1.0f, 13);
  auto model = testing::single_op_model({"Conv"}, {x, w}, {false, true});
  QuantConfig c = default_quant_config();
  c.weight.spec.round_mode = RoundMode::kFloor;
  auto sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok());
  std::vector<std::string> warnings;
  SquantOptions o;
  o.warn = [&](const std::string& m) { warnings.push_back(m); };
  auto r = squant_weights(**sim, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->layers.empty());
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0], "in1: rounding mode floor is not a round-to-nearest mode");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0],
            "SQuant: weight 'in1' of node kept as it was: rounding mode floor is not a "
            "round-to-nearest mode");

  o.layers = {"conv9", "w9"};
  auto missing = squant_weights(**sim, o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "squant: no weight point matches 'conv9', 'w9'");
}

TEST(RoundOpt, SquantWithoutDataAdaRoundWithData) {
  Tensor x = testing::random_tensor({1, 4, 5, 5}, 0.0f, 1.0f, 14);
  Tensor w = testing::random_tensor({6, 4, 3, 3}, -1.0f, 1.0f, 15);
  auto model = testing::single_op_model({"Conv"}, {x, w}, {false, true});
  auto sim = sim_for(model);
  ASSERT_TRUE(sim);
  auto r = round_opt(*sim, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->method, RoundOptMethod::kSquant);
  ASSERT_EQ(r->squant.layers.size(), 1u);
  check_weight(*sim, "in1", w, 0, 9, 1.0);

  // With data: AdaRound (a short schedule: this checks the dispatch, adaround_test the algorithm).
  Tensor xs = testing::random_tensor({16, 4, 5, 5}, 0.0f, 1.0f, 16);
  BatchSource data = [&](int64_t i) -> Result<Executor::Feeds> {
    if (i > 0) return Executor::Feeds{};
    return Executor::Feeds{{"in0", xs}};
  };
  auto sim2 = sim_for(testing::single_op_model({"Conv"}, {xs, w}, {false, true}));
  ASSERT_TRUE(sim2);
  RoundOptOptions o;
  o.adaround.iterations = 20;
  o.adaround.batch_size = 8;
  o.adaround.num_samples = 16;
  auto r2 = round_opt(*sim2, &data, o);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(r2->method, RoundOptMethod::kAdaRound);
  EXPECT_TRUE(r2->squant.layers.empty());
  ASSERT_EQ(r2->adaround.layers.size(), 1u);
  EXPECT_EQ(r2->adaround.layers[0].weight, "in1");
  const Tensor aw = sim2->quantized_model().model->graph->find_value("in1")->constant;
  auto fq = fake_quantize(aw, *sim2->find_point("in1")->encoding);
  ASSERT_TRUE(fq.ok());
  EXPECT_TENSOR_NEAR(*fq, aw, 0.0);  // on the grid
}

// Top-1 on the first `n` Fashion-MNIST test images.
template <class Run>
double fmnist_accuracy(int64_t n, Run run) {
  DataOptions opt;
  opt.limit = n;
  auto ds = open_dataset("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                         "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", opt);
  EXPECT_TRUE(ds.ok()) << ds.status().message();
  if (!ds.ok()) return 0.0;
  int64_t right = 0, total = 0;
  while (true) {
    auto b = (*ds)->next_batch(250);
    EXPECT_TRUE(b.ok());
    if (!b.ok() || !*b) break;
    const int64_t bn = (*b)->data.dim(0);
    auto out = run(Executor::Feeds{{"input", (*b)->data.reshaped({bn, 1, 28, 28})}});
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (!out.ok()) return 0.0;
    const float* p = out->at(0).template data<float>();
    const int64_t* labels = (*b)->labels->data<int64_t>();
    for (int64_t i = 0; i < bn; ++i) {
      for (int64_t j = 0; j < 10; ++j) EXPECT_TRUE(std::isfinite(p[i * 10 + j]));
      right += std::max_element(p + i * 10, p + i * 10 + 10) - (p + i * 10) == labels[i];
    }
    total += bn;
  }
  return 100.0 * static_cast<double>(right) / static_cast<double>(total);
}

TEST(DataFree, FashionCnnEndToEndWithoutData) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  ASSERT_TRUE(m.ok());
  auto model = std::make_shared<const Model>(std::move(m).value());
  auto exec = Executor::create(model);
  ASSERT_TRUE(exec.ok());
  const double fp32 =
      fmnist_accuracy(1000, [&](const Executor::Feeds& f) { return (*exec)->run(f); });

  // examples/modelslim/data_free.json: W8A8, quant_mode 0, input_shape [1, 1, 28, 28], sigma 25.
  auto c = load_quant_config(testing::source_path("examples/modelslim/data_free.json"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_TRUE(c->data_free);
  SquantReport report;
  auto sim = quantize_data_free(model, *c, {}, &report);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  EXPECT_EQ(report.layers.size(), 3u);  // the three Conv / Gemm between the float first and last
  for (const auto& l : report.layers) EXPECT_LE(l.stats.channel_error, 0.5 + kTol) << l.weight;
  int activations = 0;
  for (const QuantPoint& p : (*sim)->points())
    activations += p.kind != TensorKind::kWeight && p.kind != TensorKind::kBias && p.encoding;
  EXPECT_EQ(activations, 3);
  const double w8 = fmnist_accuracy(1000, [&](const Executor::Feeds& f) { return (*sim)->run(f); });
  // Measured: FP32 93.7 %, data-free W8A8 93.8 % on these 1000 images.
  EXPECT_GE(w8, fp32 - 1.0);

  // W4A8 every layer quantized: SQuant beats round-to-nearest (measured 93.6 % vs 91.4 %).
  c->weight.spec.bits = 4;
  c->keep_first_last_float = false;
  DataFreeOptions rtn_opt;
  rtn_opt.squant = false;
  auto rtn = quantize_data_free(model, *c, rtn_opt);
  auto sq = quantize_data_free(model, *c);
  ASSERT_TRUE(rtn.ok() && sq.ok());
  const double a_rtn =
      fmnist_accuracy(1000, [&](const Executor::Feeds& f) { return (*rtn)->run(f); });
  const double a_sq =
      fmnist_accuracy(1000, [&](const Executor::Feeds& f) { return (*sq)->run(f); });
  EXPECT_GT(a_sq, a_rtn + 1.0) << "RTN " << a_rtn << " SQuant " << a_sq;
}

TEST(DataFree, RejectsBadArguments) {
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  ASSERT_TRUE(m.ok());
  auto model = std::make_shared<const Model>(std::move(m).value());
  DataFreeOptions o;
  o.num_batches = 0;
  auto r = quantize_data_free(model, default_quant_config(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "quantize_data_free: num_batches is 0 (at least one random batch is needed)");
}

}  // namespace
}  // namespace quench
