// ReLU6 -> ReLU and SiLU -> HardSwish. Both change the model's function, so the tests check the
// rewritten graph against the function it is meant to compute: ReLU6 and ReLU agree wherever no
// input exceeds 6; the SiLU pattern becomes exactly x * clamp(x / 6 + 1/2, 0, 1).
#include <gtest/gtest.h>

#include <algorithm>

#include "ir/builder_testutil.h"
#include "ir/clone.h"
#include "ir/passes.h"

namespace quench {
namespace {

using testing::attr_float;
using testing::attr_tensor;
using testing::GraphBuilder;
using testing::random_tensor;

// Clip(x, 0, 6) three ways (opset 13): bounds as initializers, as Constant nodes, and a Clip(0, 5)
// that must stay.
GraphBuilder clip_graph() {
  GraphBuilder b(13);
  Value* x = b.input("x", {2, 3, 4, 4});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 1, 1}, -1, 1, 2))}, {"c"});
  b.node("Clip", "relu6_init", {b.v("c"), b.init("zero", Tensor::scalar<float>(0.0f)),
                                b.init("six", Tensor::scalar<float>(6.0f))},
         {"r1"});
  b.node("Constant", "lo", {}, {"lo_v"}, {attr_tensor("value", Tensor::scalar<float>(0.0f))});
  b.node("Constant", "hi", {}, {"hi_v"}, {attr_float("value_float", 6.0f)});
  b.node("Clip", "relu6_const", {b.v("r1"), b.v("lo_v"), b.v("hi_v")}, {"r2"});
  b.node("Clip", "clip5", {b.v("r2"), b.v("zero"), b.init("five", Tensor::scalar<float>(5.0f))},
         {"y"});
  b.node("Clip", "min_only", {b.v("r2"), b.v("zero")}, {"z"});
  b.output("y");
  b.output("z");
  return b;
}

TEST(Relu6ToRelu, ConvertsClipZeroSixOnlyAndReportsTheCount) {
  GraphBuilder b = clip_graph();
  Model m = clone_model(*b.model);
  RewriteReport r = convert_relu6_to_relu(m);
  EXPECT_EQ(r.converted, 2);
  std::vector<std::string> ops;
  for (const Node* n : m.graph->nodes()) ops.push_back(n->name + ":" + n->op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"conv:Conv", "relu6_init:Relu", "relu6_const:Relu",
                                           "clip5:Clip", "min_only:Clip"}));
  // The bounds nobody reads any more are gone; "zero" still feeds the other Clips.
  EXPECT_EQ(m.graph->find_value("six")->consumers.size(), 0u);
  std::vector<std::string> inits;
  for (const Value* v : m.graph->initializers) inits.push_back(v->name);
  EXPECT_EQ(inits, (std::vector<std::string>{"w", "zero", "five"}));
  EXPECT_TRUE(verify_graph(*m.graph).ok()) << verify_graph(*m.graph).message();
}

TEST(Relu6ToRelu, SameOutputsWhereNothingExceedsSixDifferentAbove) {
  GraphBuilder b = clip_graph();
  Model m = clone_model(*b.model);
  ASSERT_EQ(convert_relu6_to_relu(m).converted, 2);
  // |w| < 1, three 1x1 input channels: |conv| < 3 * 1.9 < 6 for inputs in [-1.9, 1.9].
  Tensor small = random_tensor({2, 3, 4, 4}, -1.9f, 1.9f, 4);
  EXPECT_TRUE(testing::same_outputs(*b.model, m, {{"x", small}}, 0.0));
  // Above 6 the functions part: the Relu passes 6.5 where ReLU6 gave 6 (seen through min_only).
  GraphBuilder one(13);
  Value* x = one.input("x", {3});
  one.node("Clip", "c", {x, one.init("lo", Tensor::scalar<float>(0.0f)),
                         one.init("hi", Tensor::scalar<float>(6.0f))},
           {"y"});
  one.output("y");
  Model relu = clone_model(*one.model);
  ASSERT_EQ(convert_relu6_to_relu(relu).converted, 1);
  auto y = testing::run_plain(std::make_shared<Model>(std::move(relu)),
                              {{"x", Tensor::from_vector<float>({3}, {-1.0f, 2.0f, 6.5f})}});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ((*y)[0].to_double_vector(), (std::vector<double>{0.0, 2.0, 6.5}));
}

TEST(Relu6ToRelu, AttributeFormBeforeOpset11) {
  GraphBuilder b(10);
  Value* x = b.input("x", {8});
  b.node("Clip", "relu6", {x}, {"a"}, {attr_float("min", 0.0f), attr_float("max", 6.0f)});
  b.node("Clip", "clip_neg", {b.v("a")}, {"c"}, {attr_float("min", -1.0f), attr_float("max", 6.0f)});
  b.node("Clip", "max_only", {b.v("c")}, {"y"}, {attr_float("max", 6.0f)});
  b.output("y");
  Model m = clone_model(*b.model);
  EXPECT_EQ(convert_relu6_to_relu(m).converted, 1);
  EXPECT_EQ(m.graph->nodes()[0]->op_type, "Relu");
  EXPECT_TRUE(m.graph->nodes()[0]->attributes.empty());
  EXPECT_EQ(testing::count_ops(m, "Clip"), 2);
  EXPECT_TRUE(testing::same_outputs(*b.model, m, {{"x", random_tensor({8}, -5.0f, 5.9f, 3)}}, 0.0));
}

// HardSwish as ONNX defines it.
std::vector<double> hardswish(const Tensor& x) {
  std::vector<double> out;
  for (double v : x.to_double_vector())
    out.push_back(static_cast<float>(v) * std::clamp(static_cast<float>(v) / 6.0f + 0.5f, 0.0f, 1.0f));
  return out;
}

// y = x * Sigmoid(x) and z = Sigmoid(x2) * x2 on the output of a Conv.
GraphBuilder silu_graph(int64_t opset) {
  GraphBuilder b(opset);
  Value* x = b.input("x", {64});
  b.node("Sigmoid", "sig1", {x}, {"s1"});
  b.node("Mul", "silu1", {x, b.v("s1")}, {"y"});
  b.node("Neg", "neg", {b.v("y")}, {"x2"});
  b.node("Sigmoid", "sig2", {b.v("x2")}, {"s2"});
  b.node("Mul", "silu2", {b.v("s2"), b.v("x2")}, {"z"});
  b.output("y");
  b.output("z");
  return b;
}

void expect_hardswish_outputs(const Model& m) {
  Tensor x = random_tensor({64}, -8.0f, 8.0f, 6);
  auto out = testing::run_plain(std::make_shared<Model>(clone_model(m)), {{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  std::vector<double> y = hardswish(x);
  std::vector<double> got_y = (*out)[0].to_double_vector(), got_z = (*out)[1].to_double_vector();
  Tensor x2 = Tensor::empty(DType::kFloat32, {64});
  for (int i = 0; i < 64; ++i) x2.data<float>()[i] = -static_cast<float>(got_y[i]);
  std::vector<double> z = hardswish(x2);
  for (int i = 0; i < 64; ++i) {
    EXPECT_NEAR(got_y[i], y[i], 1e-6 * (1 + std::abs(y[i]))) << i;
    EXPECT_NEAR(got_z[i], z[i], 1e-6 * (1 + std::abs(z[i]))) << i;
  }
}

TEST(SiluToHardSwish, Opset14BecomesHardSwishInEitherInputOrder) {
  GraphBuilder b = silu_graph(17);
  Model m = clone_model(*b.model);
  RewriteReport r = convert_silu_to_hswish(m);
  EXPECT_EQ(r.converted, 2);
  std::vector<std::string> ops;
  for (const Node* n : m.graph->nodes()) ops.push_back(n->name + ":" + n->op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"silu1:HardSwish", "neg:Neg", "silu2:HardSwish"}));
  EXPECT_TRUE(verify_graph(*m.graph).ok()) << verify_graph(*m.graph).message();
  expect_hardswish_outputs(m);
  // And it is an approximation: the original SiLU differs by up to ~0.14 on [-8, 8].
  EXPECT_FALSE(testing::same_outputs(*b.model, m, {{"x", random_tensor({64}, -8.0f, 8.0f, 6)}}, 1e-3));
}

TEST(SiluToHardSwish, BeforeOpset14TheSigmoidBecomesHardSigmoid) {
  GraphBuilder b = silu_graph(13);
  Model m = clone_model(*b.model);
  RewriteReport r = convert_silu_to_hswish(m);
  EXPECT_EQ(r.converted, 2);
  EXPECT_EQ(testing::count_ops(m, "HardSigmoid"), 2);
  EXPECT_EQ(testing::count_ops(m, "Sigmoid"), 0);
  EXPECT_EQ(testing::count_ops(m, "Mul"), 2);
  expect_hardswish_outputs(m);
}

TEST(SiluToHardSwish, SigmoidWithOtherUsers) {
  for (int64_t opset : {13, 17}) {
    SCOPED_TRACE(opset);
    GraphBuilder b(opset);
    Value* x = b.input("x", {16});
    b.node("Sigmoid", "sig", {x}, {"s"});
    b.node("Mul", "silu", {x, b.v("s")}, {"y"});
    b.node("Add", "gate", {b.v("s"), x}, {"g"});
    b.output("y");
    b.output("g");
    Model m = clone_model(*b.model);
    RewriteReport r = convert_silu_to_hswish(m);
    Tensor in = random_tensor({16}, -4, 4, 3);
    auto before = testing::run_plain(b.model, {{"x", in}});
    auto after = testing::run_plain(std::make_shared<Model>(clone_model(m)), {{"x", in}});
    ASSERT_TRUE(before.ok() && after.ok());
    // The Add still sees the exact Sigmoid.
    EXPECT_EQ((*after)[1].to_double_vector(), (*before)[1].to_double_vector());
    if (opset >= 14) {
      EXPECT_EQ(r.converted, 1);
      EXPECT_EQ(testing::count_ops(m, "Sigmoid"), 1);
      EXPECT_EQ(testing::count_ops(m, "HardSwish"), 1);
    } else {
      EXPECT_EQ(r.converted, 0);
      ASSERT_EQ(r.notes.size(), 1u);
      EXPECT_EQ(r.notes[0],
                "Sigmoid 'sig' kept: its output also feeds other nodes than x * Sigmoid(x), and "
                "HardSwish needs opset 14 (the model has 13)");
    }
  }
}

}  // namespace
}  // namespace quench
