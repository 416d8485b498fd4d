// QuantSim: placement of the quantization points, bypass == FP32 bit for bit, calibration, the
// fake-quantized run against a hand-computed reference, and the errors for bad calibration data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "data/dataset.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"
#include "sim/quantsim.h"
#include "testutil.h"

namespace quench {
namespace {

std::shared_ptr<const Model> load(const std::string& rel) {
  auto m = onnx::load_model(testing::source_path(rel));
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::make_shared<const Model>(std::move(m).value());
}

// Batches of `batch` random images in [0, 1) for a [N, 1, 28, 28] input.
BatchSource random_images(int64_t batches, int64_t batch = 8, const std::string& name = "input") {
  return [=](int64_t i) -> Result<Executor::Feeds> {
    if (i >= batches) return Executor::Feeds{};
    return Executor::Feeds{
        {name, testing::random_tensor({batch, 1, 28, 28}, 0.0f, 1.0f, 100 + static_cast<uint32_t>(i))}};
  };
}

const QuantPoint* point_on(const QuantSim& sim, const std::string& value) {
  for (const QuantPoint& p : sim.points())
    if (p.value == value) return &p;
  return nullptr;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(QuantSim, PlacesPointsOnFashionCnnOutsideSupergroups) {
  auto model = load("models/fashion_cnn.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  const QuantSim& s = **sim;
  // Conv -> Relu is a supergroup: no quantizer on the conv output, one on the relu output.
  EXPECT_EQ(point_on(s, "/features/features.0/Conv_output_0"), nullptr);
  ASSERT_NE(point_on(s, "/features/features.2/Relu_output_0"), nullptr);
  // MaxPool and Flatten keep their input's grid.
  EXPECT_EQ(point_on(s, "/features/features.3/MaxPool_output_0"), nullptr);
  EXPECT_EQ(point_on(s, "/classifier/classifier.0/Flatten_output_0"), nullptr);
  ASSERT_NE(point_on(s, "input"), nullptr);
  EXPECT_EQ(point_on(s, "input")->kind, TensorKind::kInput);
  ASSERT_NE(point_on(s, "logits"), nullptr);
  // Weights: per channel on axis 0, encoded at creation; biases wait for calibration.
  const QuantPoint* w = point_on(s, "onnx::Conv_40");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, TensorKind::kWeight);
  ASSERT_TRUE(w->encoding.has_value());
  EXPECT_EQ(w->encoding->spec.granularity, Granularity::kPerChannel);
  EXPECT_EQ(w->encoding->param_shape, (Shape{w->encoding->num_params()}));
  const Tensor& wt = s.sim_model().graph->find_value("onnx::Conv_40")->constant;
  EXPECT_EQ(w->encoding->num_params(), wt.dim(0));
  const QuantPoint* b = point_on(s, "onnx::Conv_41");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->kind, TensorKind::kBias);
  EXPECT_FALSE(b->encoding.has_value());
  // Gemm weights with transB=1 are per channel on axis 0 too.
  const QuantPoint* fc = point_on(s, "classifier.1.weight");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->config.spec.axis, 0);
}

TEST(QuantSim, BypassReproducesFp32BitForBit) {
  for (const char* rel : {"models/fashion_cnn.onnx", "models/zoo/resnet_fmnist.onnx",
                          "models/zoo/mobilenetv2_fmnist.onnx", "models/zoo/vit_fmnist.onnx"}) {
    SCOPED_TRACE(rel);
    auto model = load(rel);
    auto sim = QuantSim::create(model, default_quant_config());
    ASSERT_TRUE(sim.ok()) << sim.status().message();
    ASSERT_TRUE((*sim)->compute_encodings(random_images(2)).ok());
    Tensor x = testing::random_tensor({4, 1, 28, 28}, 0.0f, 1.0f, 7);
    auto exec = Executor::create(model);
    ASSERT_TRUE(exec.ok());
    auto ref = (*exec)->run({{"input", x}});
    ASSERT_TRUE(ref.ok());
    (*sim)->set_bypass(true);
    auto got = (*sim)->run({{"input", x}});
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_TRUE(bitwise_equal(got->at(0), ref->at(0)));
    (*sim)->set_bypass(false);
    auto q = (*sim)->run({{"input", x}});
    ASSERT_TRUE(q.ok()) << q.status().message();
    EXPECT_FALSE(bitwise_equal(q->at(0), ref->at(0))) << "quantization changed nothing";
  }
}

TEST(QuantSim, QuantizedRunMatchesHandComputedFakeQuant) {
  // x -> Relu -> Sigmoid: min-max encodings of x, relu out and sigmoid out, then the quantized run
  // must equal fq(sigmoid(fq(relu(fq(x))))) with those encodings.
  auto m = std::make_shared<Model>();
  m->opset_imports = {{"", 17}};
  Graph& g = *m->graph;
  Value* x = g.get_or_add_value("x");
  x->dtype = DType::kFloat32;
  Value* r = g.get_or_add_value("r");
  Value* y = g.get_or_add_value("y");
  g.add_node("Relu", "relu", {x}, {r});
  g.add_node("Sigmoid", "sig", {r}, {y});
  g.inputs = {x};
  g.outputs = {y};
  g.rebuild_links();
  QuantConfig c = default_quant_config();
  auto sim = QuantSim::create(m, c);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  Tensor calib = testing::random_tensor({64}, -3.0f, 2.0f, 3);
  ASSERT_TRUE((*sim)
                  ->compute_encodings([&](int64_t i) -> Result<Executor::Feeds> {
                    if (i > 0) return Executor::Feeds{};
                    return Executor::Feeds{{"x", calib}};
                  })
                  .ok());
  const Encoding ex = *point_on(**sim, "x")->encoding;
  const Encoding er = *point_on(**sim, "r")->encoding;
  const Encoding ey = *point_on(**sim, "y")->encoding;
  // Min-max, asymmetric uint8: the input range is the data's.
  float lo = 0, hi = 0;
  for (float v : calib.to_double_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_FLOAT_EQ(ex.scale[0], (hi - lo) / 255.0f);
  Tensor t = testing::random_tensor({32}, -4.0f, 4.0f, 9);
  auto got = (*sim)->run({{"x", t}});
  ASSERT_TRUE(got.ok()) << got.status().message();
  auto a = fake_quantize(t, ex);
  ASSERT_TRUE(a.ok());
  std::vector<float> expect;
  for (double v : a->to_double_vector()) expect.push_back(std::max(0.0f, static_cast<float>(v)));
  auto b = fake_quantize(Tensor::from_vector<float>({32}, expect), er);
  ASSERT_TRUE(b.ok());
  expect.clear();
  for (double v : b->to_double_vector()) expect.push_back(1.0f / (1.0f + std::exp(-static_cast<float>(v))));
  auto e = fake_quantize(Tensor::from_vector<float>({32}, expect), ey);
  ASSERT_TRUE(e.ok());
  EXPECT_TENSOR_NEAR(got->at(0), *e, ey.scale[0] * 1.01);
}

// Fetch runs return intermediates as the ops downstream read them (quantized in run(), float in
// run_fp32()); set_parameter replaces a weight in both runs, keeping or recomputing its encoding.
TEST(QuantSim, FetchIntermediatesAndReplaceParameters) {
  auto model = load("models/fashion_cnn.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(random_images(2)).ok());
  const QuantPoint* act = nullptr;
  const QuantPoint* weight = nullptr;
  for (const QuantPoint& p : (*sim)->points()) {
    if (!act && p.kind == TensorKind::kActivation && p.encoding) act = &p;
    if (!weight && p.kind == TensorKind::kWeight && p.op_type == "Conv") weight = &p;
  }
  ASSERT_TRUE(act && weight);
  const std::string act_name = act->value, w_name = weight->value;
  const Encoding act_enc = *act->encoding, w_enc = *weight->encoding;
  Tensor x = testing::random_tensor({2, 1, 28, 28}, 0.0f, 1.0f, 5);
  auto q = (*sim)->run({{"input", x}}, {act_name});
  auto f = (*sim)->run_fp32({{"input", x}}, {act_name});
  ASSERT_TRUE(q.ok() && f.ok()) << q.status().message() << f.status().message();
  // The quantized value lies on its point's grid (fake-quantizing it again changes nothing) and
  // near the float one (upstream quantization moves it by a few steps at most).
  auto fq = fake_quantize(q->at(0), act_enc);
  ASSERT_TRUE(fq.ok());
  EXPECT_TRUE(bitwise_equal(q->at(0), *fq));
  EXPECT_TENSOR_NEAR(q->at(0), f->at(0), act_enc.scale[0] * 4);
  EXPECT_FALSE(bitwise_equal(q->at(0), f->at(0)));

  // Doubling the weight, encoding kept: the quantized weight saturates at the old grid's ends.
  const Tensor w = (*sim)->sim_model().graph->find_value(w_name)->constant;
  std::vector<float> doubled;
  for (double v : w.to_double_vector()) doubled.push_back(static_cast<float>(2 * v));
  Tensor w2 = Tensor::from_vector<float>(w.shape(), doubled);
  auto before = (*sim)->run_fp32({{"input", x}});
  ASSERT_TRUE((*sim)->set_parameter(w_name, w2, /*keep_encoding=*/true).ok());
  EXPECT_EQ((*sim)->find_point(w_name)->encoding->scale, w_enc.scale);
  auto after = (*sim)->run_fp32({{"input", x}});
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_FALSE(bitwise_equal(before->at(0), after->at(0))) << "the FP32 run did not see the new weight";
  ASSERT_TRUE((*sim)->set_parameter(w_name, w2, /*keep_encoding=*/false).ok());
  const Encoding& re = *(*sim)->find_point(w_name)->encoding;
  for (size_t c = 0; c < re.scale.size(); ++c) EXPECT_FLOAT_EQ(re.scale[c], 2 * w_enc.scale[c]);

  Tensor wrong = testing::random_tensor({3}, 0.0f, 1.0f, 1);
  auto bad = (*sim)->set_parameter(w_name, wrong);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("'" + w_name + "' is"), std::string::npos) << bad.message();
  EXPECT_FALSE((*sim)->set_parameter("no_such_value", w2).ok());
}

// The quantized run keeps the executor's fast plan: a per-tensor activation quantizer on a
// blocked value (a convolution's output) fake-quantizes that value's own buffer in place. It must
// give what the plain plan gives (fetching a value the fast plan fuses away, the first Conv's
// output before its Relu, forces it: plain values, quantized as copies). 4-bit activations make a
// skipped or misplaced quantizer show at the logits.
TEST(QuantSim, InPlaceQuantizersOnBlockedValuesMatchThePlainPlan) {
  auto model = load("models/fashion_cnn.onnx");
  QuantConfig c = default_quant_config();
  c.activation.spec.bits = 4;
  auto sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(random_images(2)).ok());
  const QuantPoint* act = nullptr;
  for (const QuantPoint& p : (*sim)->points())
    if (!act && p.kind == TensorKind::kActivation && p.encoding) act = &p;
  ASSERT_TRUE(act);
  const Encoding out_enc = *point_on(**sim, "logits")->encoding;
  Tensor x = testing::random_tensor({16, 1, 28, 28}, 0.0f, 1.0f, 7);
  auto fast = (*sim)->run({{"input", x}});
  std::string conv_out;
  for (const Node* n : (*sim)->sim_model().graph->nodes())
    if (conv_out.empty() && n->op_type == "Conv") conv_out = n->outputs[0]->name;
  auto plain = (*sim)->run({{"input", x}}, {conv_out, "logits"});
  auto fp32 = (*sim)->run_fp32({{"input", x}});
  ASSERT_TRUE(fast.ok() && plain.ok() && fp32.ok());
  const std::vector<double> a = fast->at(0).to_double_vector(), b = plain->at(1).to_double_vector(),
                            f = fp32->at(0).to_double_vector();
  ASSERT_EQ(a.size(), b.size());
  double differ = 0, mean_differ = 0, mean_off_fp32 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    differ = std::max(differ, std::fabs(a[i] - b[i]));
    mean_differ += std::fabs(a[i] - b[i]) / static_cast<double>(a.size());
    mean_off_fp32 += std::fabs(a[i] - f[i]) / static_cast<double>(a.size());
  }
  // The blocked and plain convolutions round differently, which can move a value across a
  // 4-bit rounding edge now and then: a step of the output grid at most, and rarely, against the
  // quantization error itself.
  EXPECT_LE(differ, 1.01 * out_enc.scale[0]) << "fast vs plain plan";
  EXPECT_LT(mean_differ, 0.05 * mean_off_fp32) << "fast vs plain " << mean_differ << ", vs fp32 " << mean_off_fp32;
  EXPECT_GT(mean_off_fp32, 0.1 * out_enc.scale[0]) << "the 4-bit quantizers changed nothing";
}

// A rounding chosen per element (AdaRound, SQuant) changes the quantized run and the exported
// model, never the FP32 run.
TEST(QuantSim, QuantizedWeightLeavesTheFp32RunAlone) {
  auto model = load("models/fashion_cnn.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(random_images(2)).ok());
  std::string w_name;
  for (const QuantPoint& p : (*sim)->points())
    if (w_name.empty() && p.kind == TensorKind::kWeight) w_name = p.value;
  const Tensor w = (*sim)->sim_model().graph->find_value(w_name)->constant;
  const Encoding enc = *(*sim)->find_point(w_name)->encoding;
  // Round every element up: on the grid, different from round-to-nearest.
  auto q = quantize(w, enc);
  ASSERT_TRUE(q.ok());
  std::vector<float> up;
  const std::vector<double> wv = w.to_double_vector();
  auto nearest = fake_quantize(w, enc);
  ASSERT_TRUE(nearest.ok());
  const std::vector<double> nv = nearest->to_double_vector();
  const int64_t per = w.numel() / w.dim(0);
  for (size_t i = 0; i < wv.size(); ++i) {
    const float s = enc.scale[enc.num_params() == 1 ? 0 : i / static_cast<size_t>(per)];
    up.push_back(static_cast<float>(nv[i] + (wv[i] > nv[i] ? s : 0.0)));
  }
  Tensor x = testing::random_tensor({2, 1, 28, 28}, 0.0f, 1.0f, 5);
  auto fp_before = (*sim)->run_fp32({{"input", x}});
  auto q_before = (*sim)->run({{"input", x}});
  ASSERT_TRUE((*sim)->set_quantized_weight(w_name, Tensor::from_vector<float>(w.shape(), up)).ok());
  auto fp_after = (*sim)->run_fp32({{"input", x}});
  auto q_after = (*sim)->run({{"input", x}});
  ASSERT_TRUE(fp_before.ok() && q_before.ok() && fp_after.ok() && q_after.ok());
  EXPECT_TRUE(bitwise_equal(fp_before->at(0), fp_after->at(0)));
  EXPECT_FALSE(bitwise_equal(q_before->at(0), q_after->at(0)));
  const QuantizedModel qm = (*sim)->quantized_model();
  EXPECT_EQ(qm.model->graph->find_value(w_name)->constant.to_double_vector(),
            Tensor::from_vector<float>(w.shape(), up).to_double_vector());
  EXPECT_EQ((*sim)->sim_model().graph->find_value(w_name)->constant.to_double_vector(), wv);
  EXPECT_FALSE((*sim)->set_quantized_weight("input", w).ok());
}

TEST(QuantSim, BiasIsInt32AtInputTimesWeightScale) {
  auto model = load("models/fashion_cnn.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok());
  ASSERT_TRUE((*sim)->compute_encodings(random_images(2)).ok());
  // The second conv reads MaxPool(Relu): the relu output's encoding holds for its input.
  const QuantPoint* b = point_on(**sim, "onnx::Conv_44");
  const QuantPoint* w = point_on(**sim, "onnx::Conv_43");
  const QuantPoint* in = point_on(**sim, "/features/features.2/Relu_output_0");
  ASSERT_TRUE(b && w && in && b->encoding && w->encoding && in->encoding);
  EXPECT_EQ(b->encoding->spec.bits, 32);
  ASSERT_EQ(b->encoding->num_params(), w->encoding->num_params());
  for (int64_t c = 0; c < b->encoding->num_params(); ++c) {
    EXPECT_FLOAT_EQ(b->encoding->scale[static_cast<size_t>(c)],
                    in->encoding->scale[0] * w->encoding->scale[static_cast<size_t>(c)]);
    EXPECT_EQ(b->encoding->zero_point[static_cast<size_t>(c)], 0);
  }
}

TEST(QuantSim, ShapeValuesAreNeverQuantized) {
  auto model = load("models/zoo/vit_fmnist.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(random_images(1)).ok());
  const Graph& g = *(*sim)->sim_model().graph;
  int activations = 0;
  for (const QuantPoint& p : (*sim)->points()) {
    if (p.kind != TensorKind::kActivation) continue;
    ++activations;
    const Value* v = g.find_value(p.value);
    ASSERT_NE(v, nullptr);
    if (v->producer) {
      EXPECT_NE(v->producer->op_type, "Shape") << p.value;
      EXPECT_NE(v->producer->op_type, "Gather") << p.value;  // gathers here index shapes
    }
    EXPECT_TRUE(p.encoding.has_value()) << p.value;
  }
  EXPECT_GT(activations, 20);
}

TEST(QuantSim, LayerInputPlacementCopiesSharedValues) {
  // modelslim style: a value read by a weighted layer and by a float Add gets a private copy for
  // the layer, so the Add still sees the float value.
  auto model = load("models/zoo/resnet_fmnist.onnx");
  QuantConfig c = default_quant_config();
  c.placement = Placement::kLayerInputs;
  auto sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  int copies = 0;
  for (const QuantPoint& p : (*sim)->points()) {
    if (p.kind != TensorKind::kActivation) continue;
    EXPECT_TRUE(p.op_type == "Conv" || p.op_type == "Gemm") << p.op_type;
    if (p.value != p.source_value) {
      ++copies;
      const Value* v = (*sim)->sim_model().graph->find_value(p.value);
      ASSERT_TRUE(v && v->producer);
      EXPECT_EQ(v->producer->op_type, "Identity");
      ASSERT_EQ(v->consumers.size(), 1u);
      EXPECT_EQ(v->consumers[0]->name, p.node);
    }
  }
  EXPECT_GT(copies, 0);
  ASSERT_TRUE((*sim)->compute_encodings(random_images(1)).ok());
  (*sim)->set_bypass(true);
  Tensor x = testing::random_tensor({2, 1, 28, 28}, 0.0f, 1.0f, 5);
  auto exec = Executor::create(model);
  ASSERT_TRUE(exec.ok());
  auto ref = (*exec)->run({{"input", x}});
  auto got = (*sim)->run({{"input", x}});
  ASSERT_TRUE(ref.ok() && got.ok());
  EXPECT_TRUE(bitwise_equal(got->at(0), ref->at(0)));
}

TEST(QuantSim, FirstLastFallbackAndDisabledNodes) {
  auto model = load("models/fashion_cnn.onnx");
  QuantConfig c = default_quant_config();
  c.keep_first_last_float = true;
  auto sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(point_on(**sim, "onnx::Conv_40"), nullptr);         // first conv weight
  EXPECT_EQ(point_on(**sim, "classifier.4.weight"), nullptr);   // last gemm weight
  EXPECT_EQ(point_on(**sim, "logits"), nullptr);
  EXPECT_NE(point_on(**sim, "onnx::Conv_43"), nullptr);

  c = default_quant_config();
  c.disabled_nodes = {"/features/features.4/Conv"};
  sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(point_on(**sim, "onnx::Conv_43"), nullptr);
  EXPECT_EQ(point_on(**sim, "/features/features.6/Relu_output_0"), nullptr);  // its group's output

  c.disabled_nodes = {"/features/features.4/Conf"};
  auto bad = QuantSim::create(model, c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("disabled layer '/features/features.4/Conf' is not a node"),
            std::string::npos)
      << bad.status().message();
}

TEST(QuantSim, LayerRulesAndTensorOverridesByOpTypeAndName) {
  auto model = load("models/fashion_cnn.onnx");
  QuantConfig c = default_quant_config();
  // torch.nn.Linear is an alias of Gemm: 4-bit weights for both fully connected layers ...
  LayerRule linear;
  linear.op_type = "torch.nn.Linear";
  linear.weight = c.weight;
  linear.weight->spec.bits = 4;
  c.layers.push_back(linear);
  // ... except the last one, named, which goes back to 8 bits (a later rule wins).
  LayerRule last;
  last.node_name = "/classifier/classifier.4/Gemm";
  last.weight = c.weight;
  c.layers.push_back(last);
  // One tensor by name: the input gets a symmetric int8 grid.
  TensorQuantConfig input = c.input;
  input.spec.is_signed = true;
  input.spec.symmetric = true;
  c.tensors["input"] = input;
  auto sim = QuantSim::create(model, c);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  ASSERT_TRUE((*sim)->compute_encodings(random_images(1)).ok());
  EXPECT_EQ(point_on(**sim, "classifier.1.weight")->encoding->spec.bits, 4);
  EXPECT_EQ(point_on(**sim, "classifier.4.weight")->encoding->spec.bits, 8);
  EXPECT_EQ(point_on(**sim, "onnx::Conv_40")->encoding->spec.bits, 8);
  const Encoding& in = *point_on(**sim, "input")->encoding;
  EXPECT_TRUE(in.spec.is_signed);
  EXPECT_EQ(in.zero_point[0], 0);
  EXPECT_EQ(point_on(**sim, "/features/features.2/Relu_output_0")->encoding->spec.symmetric, false);
}

TEST(QuantSim, EnableDisableByNameAndOpType) {
  auto model = load("models/fashion_cnn.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok());
  ASSERT_TRUE((*sim)->compute_encodings(random_images(2)).ok());
  Tensor x = testing::random_tensor({2, 1, 28, 28}, 0.0f, 1.0f, 11);
  auto fp = (*sim)->run_fp32({{"input", x}});
  // Everything off by kind == FP32 (through the quantized executor, so not necessarily the same
  // bits as the fused FP32 plan, but within float rounding).
  for (TensorKind k : {TensorKind::kInput, TensorKind::kActivation, TensorKind::kWeight, TensorKind::kBias})
    (*sim)->set_enabled_by_kind(k, false);
  auto off = (*sim)->run({{"input", x}});
  ASSERT_TRUE(fp.ok() && off.ok());
  EXPECT_TENSOR_NEAR(off->at(0), fp->at(0), 1e-4);
  EXPECT_GT((*sim)->set_enabled_by_op_type("Conv", true), 0);
  auto convs = (*sim)->run({{"input", x}});
  ASSERT_TRUE(convs.ok());
  EXPECT_FALSE(bitwise_equal(convs->at(0), off->at(0)));
  EXPECT_EQ((*sim)->set_enabled("no_such_value", true), 0);
}

TEST(QuantSim, CalibrationErrors) {
  auto model = load("models/fashion_cnn.onnx");
  auto sim = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(sim.ok());
  Status empty = (*sim)->compute_encodings(random_images(0));
  EXPECT_EQ(empty.code(), StatusCode::kInvalid);
  EXPECT_EQ(empty.message(), "calibration set is empty: no batch to calibrate on");

  auto with_nan = [](int64_t i) -> Result<Executor::Feeds> {
    if (i >= 3) return Executor::Feeds{};
    Tensor t = testing::random_tensor({2, 1, 28, 28}, 0.0f, 1.0f, 50 + static_cast<uint32_t>(i));
    if (i == 1) t.data<float>()[17] = NAN;
    return Executor::Feeds{{"input", t}};
  };
  Status nan = (*sim)->compute_encodings(with_nan);
  EXPECT_EQ(nan.code(), StatusCode::kInvalid);
  EXPECT_NE(nan.message().find("calibration batch 1: value 'input' (model input) holds NaN at element 17"),
            std::string::npos)
      << nan.message();

  // Skip mode: the bad batch is dropped and reported; the result equals calibrating on the good
  // batches only.
  std::vector<std::string> warnings;
  QuantSimOptions o;
  o.skip_bad_batches = true;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto skip = QuantSim::create(model, default_quant_config(), o);
  ASSERT_TRUE(skip.ok());
  ASSERT_TRUE((*skip)->compute_encodings(with_nan).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("batch skipped"), std::string::npos);
  auto good_only = QuantSim::create(model, default_quant_config());
  ASSERT_TRUE(good_only.ok());
  ASSERT_TRUE((*good_only)
                  ->compute_encodings([&](int64_t i) -> Result<Executor::Feeds> {
                    if (i >= 2) return Executor::Feeds{};
                    return with_nan(i == 0 ? 0 : 2);
                  })
                  .ok());
  const QuantPoint* a = point_on(**skip, "/features/features.2/Relu_output_0");
  const QuantPoint* b = point_on(**good_only, "/features/features.2/Relu_output_0");
  ASSERT_TRUE(a && b && a->encoding && b->encoding);
  EXPECT_EQ(a->encoding->scale, b->encoding->scale);
  EXPECT_EQ(a->encoding->zero_point, b->encoding->zero_point);
}

TEST(QuantSim, DataFreeRandomSource) {
  auto model = load("models/fashion_cnn.onnx");
  auto src = random_batch_source(*model, {1, 28, 28}, 2);
  ASSERT_TRUE(src.ok()) << src.status().message();
  auto b0 = (*src)(0);
  ASSERT_TRUE(b0.ok());
  ASSERT_EQ(b0->size(), 1u);
  EXPECT_EQ(b0->at(0).second.shape(), (Shape{1, 1, 28, 28}));
  EXPECT_TRUE((*src)(2)->empty());
  auto bad = random_batch_source(*model, {1, 0, 28}, 1);
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace quench
