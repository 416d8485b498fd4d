// Cross-layer equalization and high-bias absorption: hand references, function preservation on
// hand-built graphs and the zoo, skipped candidates, and absorption where it is exact and where
// not.
#include "algo/cle.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ir/clone.h"
#include "onnx/onnx_io.h"
#include "runtime/optimize.h"
#include "testutil.h"

namespace quench {
namespace {

using testing::attr_int;
using testing::attr_ints;

FoldedBatchNorm bn_stats(const std::string& layer, std::vector<float> gamma,
                         std::vector<float> beta) {
  FoldedBatchNorm f;
  f.layer = layer;
  f.gamma = std::move(gamma);
  f.beta = std::move(beta);
  return f;
}

// A tiny graph builder for hand-made models.
struct Builder {
  std::shared_ptr<Model> m = std::make_shared<Model>();
  Graph& g = *m->graph;
  int counter = 0;

  Builder() { m->opset_imports = {{"", 17}}; }
  Value* input(const std::string& name) {
    Value* v = g.get_or_add_value(name);
    v->dtype = DType::kFloat32;
    g.inputs.push_back(v);
    return v;
  }
  Value* init(const std::string& name, Tensor t) {
    Value* v = g.get_or_add_value(name);
    v->dtype = DType::kFloat32;
    v->constant = std::move(t);
    g.initializers.push_back(v);
    return v;
  }
  Value* op(const std::string& type, const std::string& name, std::vector<Value*> ins,
            std::vector<Attribute> attrs = {}) {
    Value* y = g.get_or_add_value(name + "_out");
    Node* n = g.add_node(type, name, std::move(ins), {y});
    n->attributes = std::move(attrs);
    return y;
  }
  std::shared_ptr<Model> finish(Value* out) {
    g.outputs = {out};
    g.rebuild_links();
    EXPECT_TRUE(g.topological_sort().ok());
    return m;
  }
};

Tensor tensor(Shape s, std::vector<float> v) { return Tensor::from_vector<float>(std::move(s), v); }

std::vector<float> floats(const Value* v) {
  std::vector<double> d = v->constant.to_double_vector();
  return std::vector<float>(d.begin(), d.end());
}

Tensor run(const Model& m, const Tensor& x, const std::string& input = "x") {
  auto exec = Executor::create(std::make_shared<const Model>(clone_model(m)));
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  auto out = (*exec)->run({{input, x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out->at(0);
}

// max |a - b| / max |b|
double rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_double_vector(), y = b.to_double_vector();
  double d = 0.0, m = 0.0;
  for (size_t i = 0; i < x.size(); ++i)
    d = std::max(d, std::fabs(x[i] - y[i])), m = std::max(m, std::fabs(y[i]));
  return d / std::max(m, 1e-30);
}

// Per-channel ranges of a Conv weight [O, I/g, k...]: output channel o / input channel i.
std::vector<double> out_ranges(const Tensor& w) {
  std::vector<double> v = w.to_double_vector(), r(static_cast<size_t>(w.dim(0)), 0.0);
  const int64_t per = w.numel() / w.dim(0);
  for (int64_t i = 0; i < w.numel(); ++i) r[i / per] = std::max(r[i / per], std::fabs(v[i]));
  return r;
}
std::vector<double> in_ranges(const Tensor& w) {  // group 1
  std::vector<double> v = w.to_double_vector(), r(static_cast<size_t>(w.dim(1)), 0.0);
  const int64_t sp = w.numel() / (w.dim(0) * w.dim(1));
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t c = (i / sp) % w.dim(1);
    r[c] = std::max(r[c], std::fabs(v[i]));
  }
  return r;
}

// conv1 (3 out, 2 in, 1x1) -> Relu -> conv2 (2 out, 3 in, 1x1): the hand reference.
std::shared_ptr<Model> hand_pair(bool relu = true) {
  Builder b;
  Value* x = b.input("x");
  // channel 0 range 4, channel 1 range 0.5, channel 2 all zero
  Value* w1 = b.init("w1", tensor({3, 2, 1, 1}, {4, -2, 0.5f, 0.25f, 0, 0}));
  Value* b1 = b.init("b1", tensor({3}, {1, 2, 3}));
  // input channel ranges: 1, 8, 1
  Value* w2 = b.init("w2", tensor({2, 3, 1, 1}, {1, 2, 1, -0.25f, 8, 1}));
  Value* b2 = b.init("b2", tensor({2}, {0.5f, -0.5f}));
  Value* h = b.op("Conv", "conv1", {x, w1, b1});
  if (relu) h = b.op("Relu", "relu", {h});
  return b.finish(b.op("Conv", "conv2", {h, w2, b2}));
}

TEST(Cle, PairMatchesHandReference) {
  auto m = hand_pair();
  Tensor x = testing::random_tensor({2, 2, 3, 3}, -1.0f, 1.0f, 7);
  Tensor before = run(*m, x);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pairs, 1);
  EXPECT_EQ(r->triples, 0);
  ASSERT_EQ(r->sets.size(), 1u);
  EXPECT_EQ(r->sets[0].layers, (std::vector<std::string>{"conv1", "conv2"}));
  // s = sqrt(r1 / r2): sqrt(4 / 1) = 2, sqrt(0.5 / 8) = 0.25, zero range: 1.
  ASSERT_EQ(r->sets[0].scales.size(), 1u);
  EXPECT_NEAR(r->sets[0].scales[0][0], 2.0f, 1e-6);
  EXPECT_NEAR(r->sets[0].scales[0][1], 0.25f, 1e-6);
  EXPECT_EQ(r->sets[0].scales[0][2], 1.0f);
  const Graph& g = *m->graph;
  EXPECT_EQ(floats(g.find_value("w1")), (std::vector<float>{2, -1, 2, 1, 0, 0}));
  EXPECT_EQ(floats(g.find_value("b1")), (std::vector<float>{0.5f, 8, 3}));
  EXPECT_EQ(floats(g.find_value("w2")), (std::vector<float>{2, 0.5f, 1, -0.5f, 2, 1}));
  EXPECT_EQ(floats(g.find_value("b2")), (std::vector<float>{0.5f, -0.5f}));
  // r1_i / s_i == r2_i * s_i
  std::vector<double> r1 = out_ranges(g.find_value("w1")->constant),
                      r2 = in_ranges(g.find_value("w2")->constant);
  EXPECT_DOUBLE_EQ(r1[0], r2[0]);
  EXPECT_DOUBLE_EQ(r1[1], r2[1]);
  EXPECT_EQ(r->iterations, 2);  // the second sweep finds nothing to change
  EXPECT_LT(rel_diff(run(*m, x), before), 1e-6);
}

TEST(Cle, SingleSweepWhenAsked) {
  auto m = hand_pair(false);  // direct conv -> conv link
  CleOptions o;
  o.max_iterations = 1;
  auto r = equalize_model(*m, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pairs, 1);
  EXPECT_EQ(r->iterations, 1);
}

// conv0 (2 -> 3, 1x1) -> Relu -> depthwise 3x3 (pads 1) -> Relu -> conv2 (3 -> 2, 1x1)
std::shared_ptr<Model> hand_triple(const std::string& act = "Relu") {
  Builder b;
  Value* x = b.input("x");
  Value* w0 = b.init("w0", testing::random_tensor({3, 2, 1, 1}, -1, 1, 11));
  // make the channels' ranges differ a lot
  std::vector<double> w0v = w0->constant.to_double_vector();
  std::vector<float> w0f;
  for (size_t i = 0; i < w0v.size(); ++i)
    w0f.push_back(static_cast<float>(w0v[i] * (i < 2 ? 10 : i < 4 ? 0.1 : 1)));
  w0->constant = tensor({3, 2, 1, 1}, w0f);
  Value* b0 = b.init("b0", tensor({3}, {0.1f, 0.2f, 0.3f}));
  Value* wd = b.init("wd", testing::random_tensor({3, 1, 3, 3}, -2, 2, 12));
  Value* bd = b.init("bd", tensor({3}, {0.0f, -0.1f, 0.2f}));
  Value* w2 = b.init("w2", testing::random_tensor({2, 3, 1, 1}, -0.5f, 0.5f, 13));
  Value* b2 = b.init("b2", tensor({2}, {0.0f, 1.0f}));
  Value* h = b.op("Conv", "conv0", {x, w0, b0});
  h = b.op(act, "act0", {h});
  h = b.op("Conv", "dw", {h, wd, bd}, {attr_int("group", 3), attr_ints("pads", {1, 1, 1, 1})});
  h = b.op(act, "act1", {h});
  return b.finish(b.op("Conv", "conv2", {h, w2, b2}));
}

TEST(Cle, TripleEqualizesAllThreeRanges) {
  auto m = hand_triple();
  const Graph& g = *m->graph;
  std::vector<double> r0 = out_ranges(g.find_value("w0")->constant),
                      r1 = out_ranges(g.find_value("wd")->constant),
                      r2 = in_ranges(g.find_value("w2")->constant);
  Tensor x = testing::random_tensor({2, 2, 5, 5}, -1.0f, 1.0f, 8);
  Tensor before = run(*m, x);
  CleOptions o;
  o.max_iterations = 1;
  auto r = equalize_model(*m, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->triples, 1);
  EXPECT_EQ(r->pairs, 0);
  ASSERT_EQ(r->sets[0].scales.size(), 2u);
  std::vector<double> q0 = out_ranges(g.find_value("w0")->constant),
                      q1 = out_ranges(g.find_value("wd")->constant),
                      q2 = in_ranges(g.find_value("w2")->constant);
  for (int i = 0; i < 3; ++i) {
    // AIMET: c = cbrt(r0 r1 r2), s12 = r0 / c, s23 = c / r2, and every range becomes c.
    const double c = std::cbrt(r0[i] * r1[i] * r2[i]);
    EXPECT_NEAR(r->sets[0].scales[0][i], r0[i] / c, 1e-5 * r0[i] / c) << i;
    EXPECT_NEAR(r->sets[0].scales[1][i], c / r2[i], 1e-5 * c / r2[i]) << i;
    EXPECT_NEAR(q0[i], c, 1e-5 * c) << i;
    EXPECT_NEAR(q1[i], c, 1e-5 * c) << i;
    EXPECT_NEAR(q2[i], c, 1e-5 * c) << i;
  }
  EXPECT_LT(rel_diff(run(*m, x), before), 1e-5);
}

TEST(Cle, DepthwiseEndingAChainIsPaired) {
  // conv0 -> LeakyRelu -> depthwise (end of the chain): a pair (AIMET drops it); no absorption
  // through LeakyRelu even with BN statistics.
  Builder b;
  Value* x = b.input("x");
  Value* h = b.op("Conv", "conv0",
                  {x, b.init("w0", testing::random_tensor({3, 2, 1, 1}, -3, 3, 14)),
                   b.init("b0", tensor({3}, {5, 5, 5}))});
  h = b.op("LeakyRelu", "act", {h});
  h = b.op("Conv", "dw",
           {h, b.init("wd", testing::random_tensor({3, 1, 3, 3}, -1, 1, 15)),
            b.init("bd", tensor({3}, {0, 0, 0}))},
           {attr_int("group", 3), attr_ints("pads", {1, 1, 1, 1})});
  auto m = b.finish(h);
  Tensor x0 = testing::random_tensor({2, 2, 5, 5}, -1.0f, 1.0f, 16);
  Tensor before = run(*m, x0);
  auto r = equalize_model(*m, {}, {bn_stats("conv0", {0.1f, 0.1f, 0.1f}, {5, 5, 5})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pairs, 1);
  EXPECT_EQ(r->triples, 0);
  EXPECT_EQ(r->absorbed_channels, 0);
  EXPECT_EQ(r->notes.back(),
            "Conv 'conv0' -> Conv 'dw': no high-bias absorption through LeakyRelu / PRelu");
  EXPECT_LT(rel_diff(run(*m, x0), before), 1e-5);
  std::vector<double> r0 = out_ranges(m->graph->find_value("w0")->constant),
                      r1 = out_ranges(m->graph->find_value("wd")->constant);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(r0[i], r1[i], 1e-5 * r1[i]);
}

TEST(Cle, GemmAndMatMulChainsArePreserved) {
  // Gemm(transB=1) -> Relu -> Gemm(transB=0, alpha, beta) -> LeakyRelu -> MatMul + Add -> MatMul
  Builder b;
  Value* x = b.input("x");
  Tensor w1 = testing::random_tensor({6, 4}, -1, 1, 21);
  std::vector<double> w1v = w1.to_double_vector();
  std::vector<float> w1f;
  for (size_t i = 0; i < w1v.size(); ++i)
    w1f.push_back(static_cast<float>(w1v[i] * std::pow(10.0, (i / 4) % 3 - 1.0)));
  Value* h = b.op(
      "Gemm", "g1",
      {x, b.init("w1", tensor({6, 4}, w1f)), b.init("c1", testing::random_tensor({6}, -1, 1, 22))},
      {attr_int("transB", 1)});
  h = b.op("Relu", "r1", {h});
  h = b.op("Gemm", "g2",
           {h, b.init("w2", testing::random_tensor({6, 5}, -1, 1, 23)),
            b.init("c2", tensor({1}, {0.5f}))},
           {testing::attr_float("alpha", 0.5f), testing::attr_float("beta", 2.0f)});
  h = b.op("LeakyRelu", "r2", {h}, {testing::attr_float("alpha", 0.1f)});
  h = b.op("MatMul", "m3", {h, b.init("w3", testing::random_tensor({5, 3}, -3, 3, 24))});
  h = b.op("Add", "a3", {h, b.init("c3", testing::random_tensor({3}, -1, 1, 25))});
  h = b.op("MatMul", "m4", {h, b.init("w4", testing::random_tensor({3, 2}, -1, 1, 26))});
  auto m = b.finish(h);
  Tensor in = testing::random_tensor({8, 4}, -1.0f, 1.0f, 27);
  Tensor before = run(*m, in);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pairs, 3);
  EXPECT_LT(rel_diff(run(*m, in), before), 1e-5);
  EXPECT_EQ(m->graph->find_value("c2")->constant.shape(), (Shape{5}));  // scalar C made per-channel
  // After convergence, g1's rows and g2's rows (its input channels, transB=0) have equal ranges.
  std::vector<double> a = m->graph->find_value("w1")->constant.to_double_vector(),
                      c = m->graph->find_value("w2")->constant.to_double_vector();
  for (int i = 0; i < 6; ++i) {
    double ra = 0, rc = 0;
    for (int k = 0; k < 4; ++k) ra = std::max(ra, std::fabs(a[i * 4 + k]));
    for (int k = 0; k < 5; ++k) rc = std::max(rc, std::fabs(c[i * 5 + k]));
    EXPECT_NEAR(ra, rc, 1e-3 * rc) << i;
  }
}

TEST(Cle, GroupedConvAsSecondLayer) {
  Builder b;
  Value* x = b.input("x");
  Value* h = b.op("Conv", "c1",
                  {x, b.init("w1", testing::random_tensor({4, 3, 3, 3}, -1, 1, 31)),
                   b.init("b1", testing::random_tensor({4}, -1, 1, 32))});
  h = b.op("Relu", "r", {h});
  h = b.op("MaxPool", "p", {h}, {attr_ints("kernel_shape", {2, 2})});
  h = b.op("Conv", "c2", {h, b.init("w2", testing::random_tensor({6, 2, 3, 3}, -5, 5, 33))},
           {attr_int("group", 2)});
  auto m = b.finish(h);
  Tensor in = testing::random_tensor({2, 3, 9, 9}, -1.0f, 1.0f, 34);
  Tensor before = run(*m, in);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pairs, 1);
  EXPECT_LT(rel_diff(run(*m, in), before), 1e-5);
}

// Equalized FP32 zoo models compute the same outputs, and every equalized pair ends with equal
// per-channel ranges.
void expect_preserved(const std::string& path, int pairs, int triples) {
  auto loaded = onnx::load_model(testing::source_path(path));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  Model m = std::move(loaded).value();
  optimize_for_inference(m);
  Tensor x = testing::random_tensor({4, 1, 28, 28}, 0.0f, 1.0f, 41);
  Tensor before = run(m, x, "input");
  auto r = equalize_model(m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pairs, pairs) << path;
  EXPECT_EQ(r->triples, triples) << path;
  EXPECT_LT(rel_diff(run(m, x, "input"), before), 1e-4) << path;
  for (const CleSet& s : r->sets) {
    if (s.layers.size() != 2) continue;
    const Node* a = nullptr;
    const Node* c = nullptr;
    for (const Node* n : m.graph->nodes()) {
      if (n->name == s.layers[0]) a = n;
      if (n->name == s.layers[1]) c = n;
    }
    ASSERT_TRUE(a && c);
    if (a->op_type != "Conv" || c->op_type != "Conv") continue;
    std::vector<double> r1 = out_ranges(a->inputs[1]->constant),
                        r2 = in_ranges(c->inputs[1]->constant);
    for (size_t i = 0; i < r1.size(); ++i)
      if (r1[i] > 0) {
        EXPECT_NEAR(r1[i] / r2[i], 1.0, 1e-3) << s.layers[0] << " channel " << i;
      }
  }
}

// conv0 -> Relu -> MaxPool -> conv4 -> ... -> conv8 -> Relu -> MaxPool -> Flatten -> Gemm -> Relu
// -> Gemm
TEST(Cle, PreservesFashionCnn) { expect_preserved("models/fashion_cnn.onnx", 4, 0); }
TEST(Cle, PreservesResnetAfterBatchNormFold) {
  expect_preserved("models/zoo/resnet_fmnist.onnx", 3, 0);
}

TEST(Cle, MobileNetV2ClipBlocksAllButTheLinearLink) {
  auto loaded = onnx::load_model(testing::source_path("models/zoo/mobilenetv2_fmnist.onnx"));
  ASSERT_TRUE(loaded.ok());
  Model m = std::move(loaded).value();
  optimize_for_inference(m);
  Tensor x = testing::random_tensor({4, 1, 28, 28}, 0.0f, 1.0f, 42);
  Tensor before = run(m, x, "input");
  auto r = equalize_model(m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // The last block has no residual: its linear projection feeds the 1x1 head conv directly.
  EXPECT_EQ(r->pairs, 1);
  EXPECT_EQ(r->triples, 0);
  EXPECT_EQ(r->sets[0].layers,
            (std::vector<std::string>{"/net/net.8/body/body.6/Conv", "/net/net.9/Conv"}));
  EXPECT_LT(rel_diff(run(m, x, "input"), before), 1e-4);
  bool clip_note = false, split_note = false;
  for (const std::string& n : r->notes) {
    clip_note |= n ==
                 "Conv '/net/net.3/body/body.0/Conv' -> Conv '/net/net.3/body/body.3/Conv': not "
                 "equalized, Clip '/net/net.3/body/body.2/Clip' between them is not "
                 "scale-equivariant (ReLU6 and other bounded Clips: convert them to Relu first)";
    split_note |= n.find(
                      "Conv '/net/net.4/body/body.6/Conv' -> Conv '/net/net.5/body/body.0/Conv': "
                      "not equalized, value '/net/net.4/body/body.6/Conv_output_0' has 2 "
                      "consumers (a split)") == 0;
  }
  EXPECT_TRUE(clip_note);
  EXPECT_TRUE(split_note);
}

// Clip(0, 6) -> Relu, standing in for the convert_relu6_to_relu pass.
int relu6_to_relu(Model& m) {
  int n = 0;
  for (Node* node : m.graph->nodes()) {
    if (node->op_type != "Clip") continue;
    node->op_type = "Relu";
    node->inputs.resize(1);
    ++n;
  }
  m.graph->rebuild_links();
  return n;
}

TEST(Cle, MobileNetV2WithReluFindsTheDepthwiseTriples) {
  auto loaded = onnx::load_model(testing::source_path("models/zoo/mobilenetv2_fmnist.onnx"));
  ASSERT_TRUE(loaded.ok());
  Model m = std::move(loaded).value();
  optimize_for_inference(m);
  ASSERT_EQ(relu6_to_relu(m), 14);
  Tensor x = testing::random_tensor({4, 1, 28, 28}, 0.0f, 1.0f, 43);
  Tensor before = run(m, x, "input");
  auto r = equalize_model(m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // six expand -> depthwise -> project triples; net.8's projection -> head conv -> (GAP, Flatten)
  // Gemm
  EXPECT_EQ(r->triples, 6);
  EXPECT_EQ(r->pairs, 2);
  EXPECT_EQ(r->sets.back().layers,
            (std::vector<std::string>{"/net/net.9/Conv", "/net/net.14/Gemm"}));
  EXPECT_LT(rel_diff(run(m, x, "input"), before), 1e-4);
}

TEST(Cle, FlattenLinksAConvToAGemm) {
  // conv (3 channels, 2x2 output) -> Relu -> Flatten -> Gemm over 12 features: channel c of the
  // conv is features 4c..4c+3 of the Gemm.
  Builder b;
  Value* x = b.input("x");
  Tensor w1 = testing::random_tensor({3, 1, 2, 2}, -1, 1, 35);
  std::vector<double> w1v = w1.to_double_vector();
  std::vector<float> w1f;
  for (size_t i = 0; i < w1v.size(); ++i)
    w1f.push_back(static_cast<float>(w1v[i] * std::pow(10.0, (i / 4) - 1.0)));
  Value* h = b.op(
      "Conv", "c1",
      {x, b.init("w1", tensor({3, 1, 2, 2}, w1f)), b.init("b1", tensor({3}, {0.1f, 0.2f, 0.3f}))});
  h = b.op("Relu", "r", {h});
  h = b.op("Flatten", "f", {h});
  h = b.op("Gemm", "g",
           {h, b.init("w2", testing::random_tensor({5, 12}, -1, 1, 36)),
            b.init("c2", testing::random_tensor({5}, -1, 1, 37))},
           {attr_int("transB", 1)});
  auto m = b.finish(h);
  Tensor in = testing::random_tensor({4, 1, 3, 3}, -1.0f, 1.0f, 38);
  Tensor before = run(*m, in);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->pairs, 1);
  EXPECT_LT(rel_diff(run(*m, in), before), 1e-5);
  std::vector<double> r1 = out_ranges(m->graph->find_value("w1")->constant);
  std::vector<double> w2 = m->graph->find_value("w2")->constant.to_double_vector();
  for (int c = 0; c < 3; ++c) {
    double r2 = 0;
    for (int o = 0; o < 5; ++o)
      for (int k = 0; k < 4; ++k) r2 = std::max(r2, std::fabs(w2[o * 12 + c * 4 + k]));
    EXPECT_NEAR(r1[c], r2, 1e-5 * r2) << c;
  }
}

TEST(Cle, NothingToEqualizeIsANoteNotAnError) {
  Builder b;
  Value* x = b.input("x");
  auto m = b.finish(b.op("Sigmoid", "s", {b.op("Relu", "r", {x})}));
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pairs + r->triples, 0);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "cross-layer equalization: no equalizable layer pairs (conv->conv, "
            "conv->depthwise->conv, gemm->gemm) in the model");
}

TEST(Cle, SkipsUnfoldedBatchNormAndRelu6) {
  Builder b;
  Value* x = b.input("x");
  Value* h = b.op("Conv", "c1", {x, b.init("w1", testing::random_tensor({2, 1, 1, 1}, -1, 1, 51))});
  h = b.op("BatchNormalization", "bn",
           {h, b.init("s", tensor({2}, {1, 2})), b.init("bb", tensor({2}, {0, 1})),
            b.init("mu", tensor({2}, {0, 0})), b.init("var", tensor({2}, {1, 1}))});
  h = b.op("Conv", "c2", {h, b.init("w2", testing::random_tensor({2, 2, 1, 1}, -1, 1, 52))});
  h = b.op("Clip", "relu6",
           {h, b.init("lo", Tensor::scalar<float>(0)), b.init("hi", Tensor::scalar<float>(6))});
  h = b.op("Conv", "c3", {h, b.init("w3", testing::random_tensor({2, 2, 1, 1}, -1, 1, 53))});
  auto m = b.finish(h);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->notes.size(), 3u);
  EXPECT_EQ(r->notes[0],
            "Conv 'c1' -> Conv 'c2': not equalized, BatchNormalization 'bn' between "
            "them is not folded (fold batch norms first)");
  EXPECT_EQ(r->notes[1],
            "Conv 'c2' -> Conv 'c3': not equalized, Clip 'relu6' between them is not "
            "scale-equivariant (ReLU6 and other bounded Clips: convert them to Relu first)");
}

TEST(Cle, SkipsSharedWeightsAndChannelMismatch) {
  Builder b;
  Value* x = b.input("x");
  Value* w = b.init("w", testing::random_tensor({2, 2, 1, 1}, -1, 1, 61));
  Value* h = b.op("Conv", "c1", {x, w});
  h = b.op("Conv", "c2", {h, w});  // the same weight twice
  auto m = b.finish(h);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pairs, 0);
  ASSERT_GE(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "Conv 'c1' -> Conv 'c2': not equalized, Conv 'c1': weight 'w' is shared "
            "with another node");
}

TEST(Cle, BadBatchNormStatsAreInvalid) {
  auto m = hand_pair();
  auto r = equalize_model(*m, {}, {bn_stats("conv1", {1, 1}, {0, 0})});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "cross-layer equalization: batch-norm statistics of Conv 'conv1' have 2 gamma and 2 "
            "beta values; the layer has 3 output channels");
}

// conv1 (2 -> 2, 1x1) -> Relu -> conv2 (2 -> 3, 3x3, no padding). Channel 0 of conv1's
// pre-activation lies in [4, 6] for inputs in [0, 1]; channel 1 in [-1, 1].
std::shared_ptr<Model> hba_model(bool relu = true) {
  Builder b;
  Value* x = b.input("x");
  Value* h = b.op(
      "Conv", "conv1",
      {x, b.init("w1", tensor({2, 2, 1, 1}, {1, 1, 1, -1})), b.init("b1", tensor({2}, {4, 0}))});
  if (relu) h = b.op("Relu", "relu", {h});
  return b.finish(b.op("Conv", "conv2",
                       {h, b.init("w2", testing::random_tensor({3, 2, 3, 3}, -1, 1, 71)),
                        b.init("b2", tensor({3}, {0.1f, 0.2f, 0.3f}))}));
}

TEST(Cle, HighBiasAbsorptionIsExactWhereThePreActivationStaysAboveIt) {
  auto m = hba_model();
  const std::vector<float> w2 = floats(m->graph->find_value("w2"));
  Tensor x = testing::random_tensor({4, 2, 6, 6}, 0.0f, 1.0f, 72);
  Tensor before = run(*m, x);
  CleOptions o;
  o.max_iterations = 1;
  // BN said: channel 0 ~ N(5, 1/3) -> absorb 5 - 3/3 = 4 <= min pre-activation; channel 1 ~ N(0,
  // 1).
  auto r = equalize_model(*m, o, {bn_stats("conv1", {1.0f / 3, 1.0f}, {5, 0})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->absorbed_channels, 1);
  ASSERT_EQ(r->sets[0].absorbed.size(), 1u);
  const float s0 = r->sets[0].scales[0][0];
  EXPECT_NEAR(r->sets[0].absorbed[0][0], 4.0f / s0, 1e-5);  // beta and gamma scaled with channel 0
  EXPECT_EQ(r->sets[0].absorbed[0][1], 0.0f);
  EXPECT_NEAR(floats(m->graph->find_value("b1"))[0], 0.0f, 1e-5);  // 4/s0 - 4/s0
  // b2[o] += sum over the kernel of W2[o, 0] * s0 * 4 / s0
  const std::vector<float> b2 = floats(m->graph->find_value("b2"));
  for (int o2 = 0; o2 < 3; ++o2) {
    double sum = 0;
    for (int k = 0; k < 9; ++k) sum += w2[(o2 * 2 + 0) * 9 + k];
    EXPECT_NEAR(b2[o2], 0.1f * (o2 + 1) + 4.0 * sum, 1e-4) << o2;
  }
  EXPECT_LT(rel_diff(run(*m, x), before), 1e-5);
}

TEST(Cle, HighBiasAbsorptionChangesOutputsWhenTheStatisticsLie) {
  // The same model, but the BN claims channel 0 ~ N(8, 1/3): absorb 7 > the pre-activation's 4..6,
  // so Relu(x - 7) != Relu(x) - 7 and the outputs move.
  auto m = hba_model();
  Tensor x = testing::random_tensor({4, 2, 6, 6}, 0.0f, 1.0f, 72);
  Tensor before = run(*m, x);
  auto r = equalize_model(*m, {}, {bn_stats("conv1", {1.0f / 3, 1.0f}, {8, 0})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->absorbed_channels, 1);
  EXPECT_GT(rel_diff(run(*m, x), before), 0.05);
}

TEST(Cle, AbsorbsTheWholeBiasWithoutActivation) {
  auto m = hba_model(false);
  Tensor x = testing::random_tensor({4, 2, 6, 6}, -1.0f, 1.0f, 73);
  Tensor before = run(*m, x);
  auto r = equalize_model(*m, {}, {bn_stats("conv1", {1, 1}, {-2, 3})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->absorbed_channels, 2);  // beta itself, negative too
  EXPECT_LT(rel_diff(run(*m, x), before), 1e-5);
}

TEST(Cle, MeasuredStatisticsAbsorbWithoutBatchNorm) {
  auto m = hba_model();
  std::vector<Executor::Feeds> batches;
  for (uint32_t i = 0; i < 4; ++i)
    batches.push_back({{"x", testing::random_tensor({8, 2, 6, 6}, 0.0f, 1.0f, 80 + i)}});
  int64_t calls = 0;
  BatchSource src = [&](int64_t i) -> Result<Executor::Feeds> {
    ++calls;
    return i < 4 ? batches[static_cast<size_t>(i)] : Executor::Feeds{};
  };
  Tensor before = run(*m, batches[0][0].second);
  CleOptions o;
  o.max_iterations = 1;
  auto r = equalize_model(*m, o, {}, src);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(r->absorbed_channels, 1);
  // Channel 0 = 4 + x0 + x1, mean 5, std sqrt(2/12): absorb about 5 - 3 * 0.408 = 3.78 (< 4).
  const float s0 = r->sets[0].scales[0][0];
  EXPECT_NEAR(r->sets[0].absorbed[0][0] * s0, 5.0f - 3.0f * std::sqrt(2.0f / 12), 0.05f);
  EXPECT_LT(rel_diff(run(*m, batches[0][0].second), before), 1e-5);

  // Without data, and without BN statistics, nothing is absorbed and a note says why.
  auto m2 = hba_model();
  auto r2 = equalize_model(*m2, o);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->absorbed_channels, 0);
  EXPECT_EQ(r2->notes.back(),
            "high-bias absorption: 1 equalized link(s) have no batch-norm "
            "statistics; give calibration data to measure them");
}

TEST(Cle, EmptyCalibrationIsInvalid) {
  auto m = hba_model();
  auto r = equalize_model(*m, {}, {},
                          [](int64_t) -> Result<Executor::Feeds> { return Executor::Feeds{}; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "high-bias absorption: calibration set is empty");
}

TEST(Cle, RepairsAPerTensorCollapse) {
  // conv1 -> conv2 where conv1's output channels were multiplied by 1e-2 .. 1e2 and conv2's input
  // channels by the inverse: same function, but a per-tensor int8 grid for conv1 rounds its small
  // channels to zero. CLE brings both layers back to equal per-channel ranges.
  Builder b;
  Value* x = b.input("x");
  const int C = 8;
  std::vector<float> w1 = [] {
    std::vector<double> v = testing::random_tensor({8, 4, 1, 1}, -1, 1, 91).to_double_vector();
    return std::vector<float>(v.begin(), v.end());
  }();
  std::vector<float> w2 = [] {
    std::vector<double> v = testing::random_tensor({4, 8, 1, 1}, -1, 1, 92).to_double_vector();
    return std::vector<float>(v.begin(), v.end());
  }();
  for (int c = 0; c < C; ++c) {
    const double f = std::pow(10.0, -2.0 + 4.0 * c / (C - 1));
    for (int k = 0; k < 4; ++k) w1[c * 4 + k] = static_cast<float>(w1[c * 4 + k] * f);
    for (int o = 0; o < 4; ++o) w2[o * C + c] = static_cast<float>(w2[o * C + c] / f);
  }
  Value* h = b.op("Conv", "c1", {x, b.init("w1", tensor({C, 4, 1, 1}, w1))});
  h = b.op("Conv", "c2", {h, b.init("w2", tensor({4, C, 1, 1}, w2))});
  auto m = b.finish(h);
  auto r = equalize_model(*m, {});
  ASSERT_TRUE(r.ok());
  std::vector<double> r1 = out_ranges(m->graph->find_value("w1")->constant);
  const double lo = *std::min_element(r1.begin(), r1.end()),
               hi = *std::max_element(r1.begin(), r1.end());
  EXPECT_GT(lo / hi, 0.1);  // was about 1e-4
}

}  // namespace
}  // namespace quench
