// The example configs on the bundled model: QuantSim places the points each one asks for (the
// layer names of the examples are the ONNX node names of models/fashion_cnn.onnx).
#include <gtest/gtest.h>

#include "config/config_formats.h"
#include "onnx/onnx_io.h"
#include "sim/quantsim.h"
#include "testutil.h"

namespace quench {
namespace {

std::unique_ptr<QuantSim> sim_for(const std::string& example) {
  auto m = onnx::load_model(testing::source_path("models/fashion_cnn.onnx"));
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return nullptr;
  Result<QuantConfig> c = load_quant_config(testing::source_path(example));
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (!c.ok()) return nullptr;
  auto sim = QuantSim::create(std::make_shared<const Model>(std::move(m).value()), *c);
  EXPECT_TRUE(sim.ok()) << sim.status().message();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

const QuantPoint* point_on(const QuantSim& sim, const std::string& source_value) {
  for (const QuantPoint& p : sim.points())
    if (p.source_value == source_value) return &p;
  return nullptr;
}

TEST(ConfigOnModel, VaiqMixedPrecisionIntConvsBfloat16Gemms) {
  auto sim = sim_for("examples/vai_q/mix_precision_config.json");
  ASSERT_NE(sim, nullptr);
  // First conv (layer_name entry): int8 per-tensor weights, half_up activation after its Relu.
  const QuantPoint* w0 = point_on(*sim, "onnx::Conv_40");
  ASSERT_NE(w0, nullptr);
  EXPECT_EQ(w0->config.spec.format, NumberFormat::kInt);
  EXPECT_EQ(w0->config.spec.granularity, Granularity::kPerTensor);
  const QuantPoint* a0 = point_on(*sim, "/features/features.2/Relu_output_0");
  ASSERT_NE(a0, nullptr);
  EXPECT_EQ(a0->config.spec.round_mode, RoundMode::kHalfUp);
  // Other convs (layer_type entry): per-channel weights, entropy activations.
  const QuantPoint* w1 = point_on(*sim, "onnx::Conv_43");
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(w1->config.spec.granularity, Granularity::kPerChannel);
  const QuantPoint* a1 = point_on(*sim, "/features/features.6/Relu_output_0");
  ASSERT_NE(a1, nullptr);
  EXPECT_EQ(a1->config.observer.method, CalibMethod::kVaiqEntropy);
  // Gemm: the overall bfloat16.
  const QuantPoint* fc = point_on(*sim, "classifier.1.weight");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->config.spec.format, NumberFormat::kBFloat16);
}

TEST(ConfigOnModel, ModelslimKeepsFirstAndLastLayersFloat) {
  auto sim = sim_for("examples/modelslim/data_free.json");
  ASSERT_NE(sim, nullptr);
  EXPECT_EQ(point_on(*sim, "onnx::Conv_40"), nullptr);
  EXPECT_EQ(point_on(*sim, "classifier.4.weight"), nullptr);
  ASSERT_NE(point_on(*sim, "onnx::Conv_43"), nullptr);
  for (const QuantPoint& p : sim->points())
    EXPECT_TRUE(p.kind == TensorKind::kWeight || p.kind == TensorKind::kBias ||
                p.input_index == 0)
        << p.value << ": layer-input placement only";
}

TEST(ConfigOnModel, AimetDefaultQuantizesInputsOutputsAndWeightsNotBiases) {
  auto sim = sim_for("examples/aimet/default_config.json");
  ASSERT_NE(sim, nullptr);
  ASSERT_NE(point_on(*sim, "input"), nullptr);
  ASSERT_NE(point_on(*sim, "logits"), nullptr);
  ASSERT_NE(point_on(*sim, "onnx::Conv_40"), nullptr);
  for (const QuantPoint& p : sim->points()) EXPECT_NE(p.kind, TensorKind::kBias) << p.value;
}

}  // namespace
}  // namespace quench
