// BatchNormalization folding: the folded model computes what the original computes (within 1e-5
// of the output scale), for every layer kind and layout; BNs that cannot fold stay, with a note.
#include <gtest/gtest.h>

#include "ir/builder_testutil.h"
#include "ir/clone.h"
#include "ir/passes.h"
#include "runtime/optimize.h"

namespace quench {
namespace {

using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::GraphBuilder;
using testing::random_tensor;
using testing::same_outputs;

// Folds a copy of b's model; checks one fold, the node names and equal outputs on x.
void expect_folds(GraphBuilder& b, const Tensor& x, const std::string& layer,
                  const std::string& layer_op) {
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  EXPECT_EQ(r.kept, 0);
  EXPECT_EQ(r.folded[0].layer, layer);
  EXPECT_EQ(r.folded[0].batchnorm, "bn");
  EXPECT_EQ(r.folded[0].output, "y");
  EXPECT_EQ(testing::count_ops(folded, "BatchNormalization"), 0);
  EXPECT_EQ(testing::count_ops(folded, layer_op), 1);
  // gamma / beta are the BN's own parameters, for high-bias absorption.
  const Tensor& gamma = b.g.find_value("bn_scale")->constant;
  EXPECT_EQ(r.folded[0].gamma, std::vector<float>(gamma.data<float>(), gamma.data<float>() + gamma.numel()));
  const Tensor& beta = b.g.find_value("bn_bias")->constant;
  EXPECT_EQ(r.folded[0].beta, std::vector<float>(beta.data<float>(), beta.data<float>() + beta.numel()));
  EXPECT_TRUE(verify_graph(*folded.graph).ok()) << verify_graph(*folded.graph).message();
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", x}}, 1e-5));
}

struct ConvCase {
  const char* label;
  int64_t cin, cout, group;
  bool bias;
};

TEST(FoldBatchNorm, ConvGroupsDepthwiseAndNoBias) {
  const ConvCase cases[] = {
      {"plain with bias", 3, 8, 1, true},
      {"plain without bias", 3, 8, 1, false},
      {"two groups", 4, 6, 2, true},
      {"depthwise without bias", 6, 6, 6, false},
      {"depthwise multiplier 2", 4, 8, 4, true},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.label);
    GraphBuilder b;
    Value* x = b.input("x", {2, c.cin, 9, 9});
    std::vector<Value*> ins = {x, b.init("w", random_tensor({c.cout, c.cin / c.group, 3, 3}, -1, 1, 2))};
    if (c.bias) ins.push_back(b.init("b", random_tensor({c.cout}, -1, 1, 3)));
    b.node("Conv", "conv", ins, {"t"},
           {attr_int("group", c.group), attr_ints("pads", {1, 1, 1, 1}), attr_ints("strides", {2, 2})});
    b.batchnorm("bn", b.v("t"), c.cout, "y");
    b.output("y");
    expect_folds(b, random_tensor({2, c.cin, 9, 9}, -2, 2, 4), "conv", "Conv");
  }
}

TEST(FoldBatchNorm, ConvTransposeGroupOneAndTwo) {
  const ConvCase cases[] = {
      {"group 1 with bias", 4, 6, 1, true},
      {"group 1 without bias", 4, 6, 1, false},
      {"group 2 with bias", 4, 6, 2, true},
      {"group 2 without bias", 6, 4, 2, false},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.label);
    GraphBuilder b;
    Value* x = b.input("x", {2, c.cin, 5, 5});
    // ConvTranspose weights are [Cin, Cout / group, k, k].
    std::vector<Value*> ins = {x, b.init("w", random_tensor({c.cin, c.cout / c.group, 3, 3}, -1, 1, 2))};
    if (c.bias) ins.push_back(b.init("b", random_tensor({c.cout}, -1, 1, 3)));
    b.node("ConvTranspose", "deconv", ins, {"t"},
           {attr_int("group", c.group), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})});
    b.batchnorm("bn", b.v("t"), c.cout, "y");
    b.output("y");
    expect_folds(b, random_tensor({2, c.cin, 5, 5}, -2, 2, 4), "deconv", "ConvTranspose");
  }
}

TEST(FoldBatchNorm, GemmTransposedOrNotWithAndWithoutC) {
  struct Case {
    const char* label;
    int trans_b;
    Shape c_shape;  // empty: no C
  };
  const Case cases[] = {
      {"transB 0, no C", 0, {}},      {"transB 1, no C", 1, {}},
      {"transB 0, C [F]", 0, {5}},    {"transB 1, C [1, F]", 1, {1, 5}},
      {"transB 1, C [M, F]", 1, {3, 5}}, {"transB 0, C [M, 1]", 0, {3, 1}},
      {"transB 0, scalar C", 0, {1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    GraphBuilder b;
    Value* x = b.input("x", {3, 7});
    Shape w_shape = c.trans_b ? Shape{5, 7} : Shape{7, 5};
    std::vector<Value*> ins = {x, b.init("w", random_tensor(w_shape, -1, 1, 2))};
    if (!c.c_shape.empty()) ins.push_back(b.init("c", random_tensor(c.c_shape, -1, 1, 3)));
    b.node("Gemm", "fc", ins, {"t"},
           {attr_int("transB", c.trans_b), attr_float("alpha", 0.75f), attr_float("beta", 0.5f)});
    b.batchnorm("bn", b.v("t"), 5, "y");
    b.output("y");
    expect_folds(b, random_tensor({3, 7}, -2, 2, 4), "fc", "Gemm");
  }
}

TEST(FoldBatchNorm, MatMulWithConstantWeightBecomesGemm) {
  GraphBuilder b;
  Value* x = b.input("x", {-1, 7});
  b.node("MatMul", "mm", {x, b.init("w", random_tensor({7, 5}, -1, 1, 2))}, {"t"});
  b.batchnorm("bn", b.v("t"), 5, "y");
  b.output("y");
  expect_folds(b, random_tensor({4, 7}, -2, 2, 4), "mm", "Gemm");
}

TEST(FoldBatchNorm, MatMulOfUnknownRankIsKept) {
  GraphBuilder b;
  Value* x = b.v("x");  // no shape: a [B, T, K] input would put T on the BN channel axis
  x->dtype = DType::kFloat32;
  b.g.inputs.push_back(x);
  b.node("MatMul", "mm", {x, b.init("w", random_tensor({7, 5}, -1, 1, 2))}, {"t"});
  b.batchnorm("bn", b.v("t"), 5, "y");
  b.output("y");
  BatchNormFoldReport r = fold_batchnorms(*b.model);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0],
            "BatchNormalization 'bn' kept: input 'x' of MatMul 'mm' is not known to be 2-D, so the BN "
            "channel axis may not be its feature axis");
}

TEST(FoldBatchNorm, BatchNormWithNothingBeforeIsKept) {
  GraphBuilder b;
  Value* x = b.input("x", {2, 4, 5, 5});
  b.node("Relu", "relu", {x}, {"r"});
  b.batchnorm("bn", b.v("r"), 4, "y");
  b.batchnorm("bn0", x, 4, "z", 9);
  b.output("y");
  b.output("z");
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  EXPECT_TRUE(r.folded.empty());
  EXPECT_EQ(r.kept, 2);
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_EQ(r.notes[0],
            "BatchNormalization 'bn' kept: its input 'r' comes from Relu 'relu', not from a Conv, "
            "ConvTranspose, Gemm or MatMul, so there is nothing to fold into");
  EXPECT_EQ(r.notes[1],
            "BatchNormalization 'bn0' kept: its input 'x' is not produced by a Conv, ConvTranspose, "
            "Gemm or MatMul, so there is nothing to fold into");
  EXPECT_EQ(testing::count_ops(folded, "BatchNormalization"), 2);
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", random_tensor({2, 4, 5, 5}, -2, 2, 4)}}, 0.0));
}

TEST(FoldBatchNorm, ConvOutputWithTwoConsumersIsKept) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2))}, {"t"});
  b.batchnorm("bn", b.v("t"), 4, "y");
  b.node("Relu", "side", {b.v("t")}, {"s"});
  b.output("y");
  b.output("s");
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0], "BatchNormalization 'bn' kept: the output 't' of Conv 'conv' has other consumers");
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", random_tensor({1, 3, 6, 6}, -2, 2, 4)}}, 0.0));
}

TEST(FoldBatchNorm, ConvOutputThatIsAGraphOutputIsKept) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2))}, {"t"});
  b.batchnorm("bn", b.v("t"), 4, "y");
  b.output("y");
  b.output("t");
  BatchNormFoldReport r = fold_batchnorms(*b.model);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0], "BatchNormalization 'bn' kept: the output 't' of Conv 'conv' is a graph output");
}

TEST(FoldBatchNorm, NonConstantScaleIsLeftAloneWithANote) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2))}, {"t"});
  Value* scale = b.input("bn_gamma", {4});
  b.node("BatchNormalization", "bn",
         {b.v("t"), scale, b.init("beta", random_tensor({4})), b.init("mean", random_tensor({4})),
          b.init("var", random_tensor({4}, 0.5f, 1.0f))},
         {"y"});
  b.output("y");
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  EXPECT_TRUE(r.folded.empty());
  EXPECT_EQ(r.kept, 1);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0],
            "BatchNormalization 'bn' kept: scale 'bn_gamma' of BatchNormalization 'bn' is not a constant "
            "(an initializer no graph input overrides)");
  // Untouched: the weight keeps its data, the graph computes as before.
  EXPECT_TRUE(folded.graph->find_value("w")->constant.shares_storage(b.g.find_value("w")->constant));
  EXPECT_TRUE(same_outputs(*b.model, folded,
                           {{"x", random_tensor({1, 3, 6, 6}, -2, 2, 4)},
                            {"bn_gamma", random_tensor({4}, 0.5f, 1.5f, 8)}},
                           0.0));
}

TEST(FoldBatchNorm, ParametersFromConstantNodesFoldAndTheNodesGo) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2))}, {"t"});
  std::vector<Value*> ins = {b.v("t")};
  const char* names[] = {"g", "b", "m", "v"};
  for (int i = 0; i < 4; ++i) {
    Tensor t = i == 3 ? random_tensor({4}, 0.1f, 1.0f, 20 + i) : random_tensor({4}, -1, 1, 20 + i);
    b.node("Constant", names[i], {}, {names[i]}, {testing::attr_tensor("value", t)});
    ins.push_back(b.v(names[i]));
  }
  b.node("BatchNormalization", "bn", ins, {"y"});
  b.output("y");
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  ASSERT_EQ(r.folded.size(), 1u);
  EXPECT_EQ(folded.graph->num_nodes(), 1u);  // the four Constant nodes went with the BN
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", random_tensor({1, 3, 6, 6}, -2, 2, 4)}}, 1e-5));
}

TEST(FoldBatchNorm, NegativeVarianceIsKept) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({2, 3, 3, 3}, -1, 1, 2))}, {"t"});
  b.node("BatchNormalization", "bn",
         {b.v("t"), b.init("g", random_tensor({2})), b.init("b", random_tensor({2})),
          b.init("m", random_tensor({2})), b.init("v", Tensor::from_vector<float>({2}, {1.0f, -0.5f}))},
         {"y"});
  b.output("y");
  BatchNormFoldReport r = fold_batchnorms(*b.model);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0],
            "BatchNormalization 'bn' kept: var 'v' + epsilon is not positive in channel 1 (-0.500000)");
}

TEST(FoldBatchNorm, InitializerThatIsAlsoAGraphInputIsNotAConstant) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  Value* w = b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2));
  b.g.inputs.push_back(w);  // a feed may replace it
  b.node("Conv", "conv", {x, w}, {"t"});
  b.batchnorm("bn", b.v("t"), 4, "y");
  b.output("y");
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0],
            "BatchNormalization 'bn' kept: weight 'w' of Conv 'conv' is also a graph input, which a feed "
            "may replace (onnxruntime does not fold such initializers either; remove it from the graph "
            "inputs to allow folding)");
  // Before IR version 4 every initializer was listed as an input: those are constants.
  folded = clone_model(*b.model);
  folded.ir_version = 3;
  EXPECT_EQ(fold_batchnorms(folded).folded.size(), 1u);
  EXPECT_EQ(folded.graph->nodes()[0]->inputs[1]->name, "conv/folded_bn_weight");  // w itself stays
  EXPECT_TRUE(folded.graph->find_value("w")->constant.shares_storage(w->constant));
}

TEST(FoldBatchNorm, TrainingModeIsKept) {
  GraphBuilder b(15);
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2))}, {"t"});
  b.batchnorm("bn", b.v("t"), 4, "y")->attributes.push_back(attr_int("training_mode", 1));
  b.output("y");
  BatchNormFoldReport r = fold_batchnorms(*b.model);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0], "BatchNormalization 'bn' kept: training_mode=1");
}

TEST(FoldBatchNorm, SharedWeightGetsANewInitializerAndChainedBatchNormsFold) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 4, 6, 6});
  Value* w = b.init("w", random_tensor({4, 4, 3, 3}, -1, 1, 2));
  b.node("Conv", "conv1", {x, w}, {"t"}, {attr_ints("pads", {1, 1, 1, 1})});
  b.batchnorm("bn", b.v("t"), 4, "u");
  b.batchnorm("bn2", b.v("u"), 4, "y", 11);  // folds into conv1 after bn did
  b.node("Conv", "conv2", {b.v("y"), w}, {"z"});
  b.output("z");
  Model folded = clone_model(*b.model);
  BatchNormFoldReport r = fold_batchnorms(folded);
  ASSERT_EQ(r.folded.size(), 2u);
  EXPECT_EQ(r.folded[0].layer, "conv1");
  EXPECT_EQ(r.folded[1].layer, "conv1");
  const Node* conv1 = nullptr;
  for (const Node* n : folded.graph->nodes())
    if (n->name == "conv1") conv1 = n;
  ASSERT_NE(conv1, nullptr);
  EXPECT_EQ(conv1->inputs[1]->name, "conv1/folded_bn_weight");
  EXPECT_EQ(conv1->inputs[2]->name, "conv1/folded_bn_bias");
  EXPECT_EQ(conv1->outputs[0]->name, "y");
  // conv2 still reads the original weight; BN parameters are gone from the initializers.
  EXPECT_TRUE(folded.graph->find_value("w")->constant.shares_storage(b.g.find_value("w")->constant));
  for (const Value* v : folded.graph->initializers) EXPECT_NE(v->name.rfind("bn", 0), 0u) << v->name;
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", random_tensor({1, 4, 6, 6}, -2, 2, 4)}}, 1e-5));
}

TEST(FoldBatchNorm, WeightOwnedByTheLayerKeepsItsName) {
  GraphBuilder b;
  Value* x = b.input("x", {1, 3, 6, 6});
  b.node("Conv", "conv", {x, b.init("conv.weight", random_tensor({4, 3, 3, 3}, -1, 1, 2)),
                          b.init("conv.bias", random_tensor({4}))},
         {"t"});
  b.batchnorm("bn", b.v("t"), 4, "y");
  b.output("y");
  Model folded = clone_model(*b.model);
  ASSERT_EQ(fold_batchnorms(folded).folded.size(), 1u);
  const Node* conv = folded.graph->nodes()[0];
  EXPECT_EQ(conv->inputs[1]->name, "conv.weight");
  EXPECT_EQ(conv->inputs[2]->name, "conv.bias");
  // The original model's tensors are not written into (clones share storage).
  EXPECT_FALSE(conv->inputs[1]->constant.shares_storage(b.g.find_value("conv.weight")->constant));
  EXPECT_EQ(folded.graph->initializers.size(), 2u);
}

TEST(FoldBatchNorm, ExecutorFastPlanUsesTheSameFold) {
  GraphBuilder b;
  Value* x = b.input("x", {2, 4, 5, 5});
  b.node("ConvTranspose", "deconv", {x, b.init("w", random_tensor({4, 3, 3, 3}, -1, 1, 2))}, {"t"},
         {attr_int("group", 2)});
  b.batchnorm("bn", b.v("t"), 6, "y");
  b.output("y");
  Model copy = clone_model(*b.model);
  EXPECT_EQ(optimize_for_inference(copy).batchnorms_folded, 1);
  Tensor in = random_tensor({2, 4, 5, 5}, -2, 2, 4);
  auto fast = Executor::create(b.model);
  ASSERT_TRUE(fast.ok());
  auto y_fast = (*fast)->run({{"x", in}});
  auto y_plain = testing::run_plain(b.model, {{"x", in}});
  ASSERT_TRUE(y_fast.ok() && y_plain.ok());
  EXPECT_LE(testing::max_relative_error(*y_fast, *y_plain), 1e-5);
}

}  // namespace
}  // namespace quench
