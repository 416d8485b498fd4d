// EasyQuant: the layer cosine, measured through QuantSim's own runs, never decreases and rises
// where min-max ranges are dominated by an outlier.
#include "algo/easy_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "algo/layer_data.h"
#include "data/dataset.h"
#include "export/tiny_model.h"
#include "onnx/onnx_io.h"
#include "testutil.h"

namespace quench {
namespace {

// cos(FP32 value, quantized value) over all batches, from the sim's full-model runs.
double sim_cosine(QuantSim& sim, const BatchSource& src, const std::string& value) {
  auto q = collect_values(sim, src, -1, {value}, Run::kQuantized);
  auto f = collect_values(sim, src, -1, {value}, Run::kFp32);
  EXPECT_TRUE(q.ok() && f.ok());
  double dot = 0.0, qq = 0.0, ff = 0.0;
  for (size_t b = 0; b < (*q)[0].size(); ++b) {
    const float* a = (*q)[0][b].data<float>();
    const float* c = (*f)[0][b].data<float>();
    for (int64_t i = 0; i < (*q)[0][b].numel(); ++i) {
      dot += double(a[i]) * c[i];
      qq += double(a[i]) * a[i];
      ff += double(c[i]) * c[i];
    }
  }
  return dot / std::sqrt(qq * ff);
}

// y = Gemm(x, W^T): x [32, 64] uniform in [-1, 1] over 4 batches, W [16, 64] in [-0.5, 0.5].
struct GemmCase {
  std::shared_ptr<Model> model;
  std::vector<Executor::Feeds> batches;
};

GemmCase gemm_case(float input_outlier, float weight_outlier) {
  testing::TinyModel t(13);
  Value* x = t.input("x", {32, 64});
  Tensor w = testing::random_tensor({16, 64}, -0.5f, 0.5f, 7);
  w.data<float>()[5 * 64 + 3] = weight_outlier;
  Value* y =
      t.node("Gemm", "fc", {x, t.init("w", w), t.init("b", Tensor::zeros(DType::kFloat32, {16}))},
             "y", {testing::attr_int("transB", 1)});
  t.output(y);
  GemmCase c{t.done(), {}};
  for (uint32_t b = 0; b < 4; ++b) {
    Tensor xb = testing::random_tensor({32, 64}, -1.0f, 1.0f, 100 + b);
    if (b == 0 && input_outlier != 0.0f) xb.data<float>()[0] = input_outlier;
    c.batches.push_back({{"x", xb}});
  }
  return c;
}

QuantConfig layer_input_config(int a_bits, int w_bits, Granularity wg) {
  QuantConfig c = default_quant_config();
  c.placement = Placement::kLayerInputs;  // modelslim: quantizers on the layers' inputs
  c.activation.spec.bits = a_bits;
  c.input = c.activation;
  c.weight.spec.bits = w_bits;
  c.weight.spec.granularity = wg;
  return c;
}

// An input outlier 8x the other values sets a 4-bit input range of [-1, 8]: the step (0.6)
// leaves the typical values with 3 codes. The search narrows the input range, and the model's
// cosine as QuantSim computes it rises, by what the report says.
TEST(EasyQuant, InputOutlierNarrowsTheInputRange) {
  GemmCase g = gemm_case(8.0f, 0.3f);
  auto sim = QuantSim::create(g.model, layer_input_config(4, 8, Granularity::kPerChannel));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  BatchSource src = replay_batches(g.batches);
  ASSERT_TRUE((*sim)->compute_encodings(src).ok());
  const float scale_before = (*sim)->find_point("x")->encoding->scale[0];
  EXPECT_NEAR(scale_before, 9.0f / 15.0f, 1e-4);  // range [min(x) ~ -1, 8]
  const double before = sim_cosine(**sim, src, "y");

  auto r = easy_quant(**sim, src);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 1u);
  const EasyQuantLayer& l = r->layers[0];
  EXPECT_EQ(l.node, "fc");
  EXPECT_EQ(l.output, "y");
  EXPECT_EQ(l.input_point, "x");
  EXPECT_EQ(l.weight, "w");
  EXPECT_LT(l.input_factor, 0.75);
  EXPECT_NEAR((*sim)->find_point("x")->encoding->scale[0], scale_before * l.input_factor, 1e-6);
  const double after = sim_cosine(**sim, src, "y");
  EXPECT_NEAR(l.cos_before, before, 1e-5);
  EXPECT_NEAR(l.cos_after, after, 1e-5);
  EXPECT_GT(after, before + 0.02) << before << " -> " << after;
  EXPECT_GE(l.rounds, 1);
}

// A weight outlier 10x the others sets a per-tensor 4-bit weight range where most weights get
// 1-2 codes; the search shrinks the weight scale.
TEST(EasyQuant, WeightOutlierShrinksThePerTensorWeightScale) {
  GemmCase g = gemm_case(0.0f, 5.0f);
  auto sim = QuantSim::create(g.model, layer_input_config(8, 4, Granularity::kPerTensor));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  BatchSource src = replay_batches(g.batches);
  ASSERT_TRUE((*sim)->compute_encodings(src).ok());
  const float w_before = (*sim)->find_point("w")->encoding->scale[0];
  EXPECT_NEAR(w_before, 5.0f / 7.0f, 1e-6);
  const double before = sim_cosine(**sim, src, "y");
  auto r = easy_quant(**sim, src);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_LT((*sim)->find_point("w")->encoding->scale[0], 0.75f * w_before);
  const double after = sim_cosine(**sim, src, "y");
  EXPECT_NEAR(r->layers[0].cos_after, after, 1e-5);
  EXPECT_GT(after, before + 0.02) << before << " -> " << after;
}

// The bundled CNN at W4A8 (per-channel weights, modelslim placement) on 32 real images: every
// layer's cosine is at least where it started, and the report's cosine is the one QuantSim's
// full-model run gives at that layer's output once all layers are set (later layers do not
// change an earlier layer's output).
TEST(EasyQuant, NeverLowersALayersCosineOnTheBundledModel) {
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  ASSERT_TRUE(m.ok());
  auto model = std::make_shared<const Model>(std::move(m).value());
  DataOptions opt;
  opt.limit = 32;
  auto data = open_dataset("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "", opt);
  ASSERT_TRUE(data.ok()) << data.status().message();
  std::vector<Executor::Feeds> batches;
  InputSpec spec{"input", {-1, 1, 28, 28}, {}};
  while (true) {
    auto b = (*data)->next_batch(16);
    ASSERT_TRUE(b.ok());
    if (!*b) break;
    auto x = fit_to_input((*b)->data, spec);
    ASSERT_TRUE(x.ok());
    batches.push_back({{"input", *x}});
  }
  ASSERT_EQ(batches.size(), 2u);  // 16 + 16 images
  BatchSource src = replay_batches(batches);
  auto sim = QuantSim::create(model, layer_input_config(8, 4, Granularity::kPerChannel));
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(src).ok());
  int64_t progress_calls = 0;
  EasyQuantOptions o;
  o.progress = [&](int64_t, int64_t) { ++progress_calls; };
  o.candidates = 25;  // a coarser search than the paper's 100 keeps the test short
  o.iterations = 2;
  auto r = easy_quant(**sim, src, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 5u);  // 3 Conv + 2 Gemm
  EXPECT_EQ(progress_calls, 5);
  int compared = 0;
  double gain = 0.0;
  for (const EasyQuantLayer& l : r->layers) {
    SCOPED_TRACE(l.node);
    EXPECT_GE(l.cos_after, l.cos_before);
    gain += l.cos_after - l.cos_before;
    EXPECT_FALSE(l.input_point.empty());
    EXPECT_FALSE(l.weight.empty());
    // A value that is itself the next layer's input point comes back quantized from the
    // quantized run; the layer's cosine is measured before that quantizer.
    if ((*sim)->find_point(l.output)) continue;
    EXPECT_NEAR(sim_cosine(**sim, src, l.output), l.cos_after, 2e-4);
    ++compared;
  }
  EXPECT_GE(compared, 3);
  EXPECT_GT(gain, 0.0);
}

// With quantizers on op outputs (the default placement), a residual block's input point feeds
// two convolutions (the block's first conv and its 1x1 projection): the first in graph order
// searches its scale, the other searches its weights only.
TEST(EasyQuant, SharedInputPointIsSearchedByItsFirstConsumer) {
  auto m = onnx::load_model(testing::source_path("models/zoo/resnet_fmnist.onnx"));
  ASSERT_TRUE(m.ok());
  auto model = std::make_shared<const Model>(std::move(m).value());
  QuantConfig c = default_quant_config();
  c.weight.spec.bits = 4;
  auto sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  BatchSource src =
      replay_batches({{{"input", testing::random_tensor({8, 1, 28, 28}, 0.0f, 1.0f, 5)}}});
  ASSERT_TRUE((*sim)->compute_encodings(src).ok());
  EasyQuantOptions o;
  o.candidates = 9;
  o.iterations = 1;
  auto r = easy_quant(**sim, src, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->layers.size(), 10u);  // 9 Conv + Gemm
  std::set<std::string> searched;
  int weights_only = 0;
  for (const EasyQuantLayer& l : r->layers) {
    SCOPED_TRACE(l.node);
    EXPECT_GE(l.cos_after, l.cos_before);
    EXPECT_FALSE(l.weight.empty());
    if (l.input_point.empty()) {
      ++weights_only;
      continue;
    }
    EXPECT_TRUE(searched.insert(l.input_point).second) << l.input_point << " searched twice";
  }
  EXPECT_EQ(weights_only, 2);  // the projections of the two downsampling blocks
}

TEST(EasyQuant, RejectsBadOptions) {
  GemmCase g = gemm_case(0.0f, 0.3f);
  auto sim = QuantSim::create(g.model, layer_input_config(8, 8, Granularity::kPerChannel));
  ASSERT_TRUE(sim.ok());
  BatchSource src = replay_batches(g.batches);
  ASSERT_TRUE((*sim)->compute_encodings(src).ok());
  EasyQuantOptions o;
  o.iterations = 0;
  auto r = easy_quant(**sim, src, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "easy_quant: iterations must be >= 1 (got 0)");
  o.iterations = 1000;
  o.range_min = 1.5;
  r = easy_quant(**sim, src, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "easy_quant: the search range [1.500000, 2.000000] must be positive and contain 1");
  r = easy_quant(**sim, replay_batches({}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("calibration set is empty"), std::string::npos);
}

}  // namespace
}  // namespace quench
