// prepare_model on the bundled model and the test zoo (FP32 outputs unchanged within 1e-5 of the
// output scale, on random and on real Fashion-MNIST inputs), and constant folding of weight-side
// subgraphs on hand-built graphs.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "algo/prepare.h"
#include "data/idx.h"
#include "ir/builder_testutil.h"
#include "ir/clone.h"
#include "onnx/onnx_io.h"
#include "runtime/constant_folding.h"

namespace quench {
namespace {

using testing::attr_int;
using testing::attr_ints;
using testing::attr_tensor;
using testing::GraphBuilder;
using testing::random_tensor;
using testing::same_outputs;

Tensor test_images(int64_t n) {
  auto reader = open_idx_reader("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  EXPECT_TRUE(reader.ok()) << reader.status().message();
  if (!reader.ok()) return Tensor();
  auto rows = (*reader)->read_rows(n);
  EXPECT_TRUE(rows.ok());
  if (!rows.ok()) return Tensor();
  Tensor x = Tensor::empty(DType::kFloat32, {n, 1, 28, 28});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = rows->data<uint8_t>()[i] / 255.0f;
  return x;
}

struct ZooCase {
  const char* path;
  int batchnorms_folded;
  int constants_folded;
};

TEST(PrepareModel, ZooOutputsUnchangedWithDefaults) {
  const ZooCase cases[] = {
      {"models/fashion_cnn.onnx", 0, 0},
      {"models/zoo/resnet_fmnist.onnx", 9, 2},
      {"models/zoo/mobilenetv2_fmnist.onnx", 0, 28},
      {"models/zoo/vit_fmnist.onnx", 0, 58},
      {"models/zoo/lstm_fmnist.onnx", 0, 6},
  };
  const Tensor real = test_images(32);
  ASSERT_TRUE(real.defined());
  for (const ZooCase& c : cases) {
    SCOPED_TRACE(c.path);
    auto loaded = onnx::load_model(testing::source_path(c.path));
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    Model prepared = clone_model(*loaded);
    auto r = prepare_model(prepared, PrepareOptions{});
    ASSERT_TRUE(r.ok()) << r.status().message();
    std::cout << c.path << ": " << r->batchnorms_folded << " BN folded, " << r->batchnorms_kept
              << " kept, " << r->constants_folded << " constants folded, "
              << loaded->graph->num_nodes() << " -> " << prepared.graph->num_nodes() << " nodes\n";
    for (const std::string& n : r->notes) std::cout << "  note: " << n << "\n";
    EXPECT_EQ(r->batchnorms_folded, c.batchnorms_folded);
    EXPECT_EQ(r->batchnorms_kept, 0);
    EXPECT_EQ(r->constants_folded, c.constants_folded);
    EXPECT_EQ(testing::count_ops(prepared, "BatchNormalization"), 0);
    EXPECT_EQ(testing::count_ops(prepared, "Constant"), 0);
    auto on_random = same_outputs(*loaded, prepared, {{"input", random_tensor({8, 1, 28, 28}, 0, 1, 3)}}, 1e-5);
    auto on_real = same_outputs(*loaded, prepared, {{"input", real}}, 1e-5);
    EXPECT_TRUE(on_random);
    EXPECT_TRUE(on_real);
    std::cout << "  random inputs: " << on_random.message() << "; test images: " << on_real.message() << "\n";
    // What the executor runs by default (its own fast plan) agrees too.
    auto fast = Executor::create(std::make_shared<Model>(clone_model(prepared)));
    ASSERT_TRUE(fast.ok());
    auto y_fast = (*fast)->run({{"input", real}});
    auto y_ref = testing::run_plain(std::make_shared<Model>(clone_model(*loaded)), {{"input", real}});
    ASSERT_TRUE(y_fast.ok() && y_ref.ok());
    EXPECT_LE(testing::max_relative_error(*y_fast, *y_ref), 1e-5);
  }
}

TEST(PrepareModel, ResnetReportsGammaAndBetaPerFoldedLayer) {
  auto loaded = onnx::load_model(testing::source_path("models/zoo/resnet_fmnist.onnx"));
  ASSERT_TRUE(loaded.ok());
  // The BN parameters as the file holds them, by BN node name (the exporter shares equal tensors
  // through Identity nodes).
  auto data = [](const Value* v) {
    while (v->producer && v->producer->op_type == "Identity") v = v->producer->inputs[0];
    return v->constant.to_double_vector();
  };
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> bn;
  for (const Node* n : loaded->graph->nodes())
    if (n->op_type == "BatchNormalization") bn[n->name] = {data(n->inputs[1]), data(n->inputs[2])};
  Model prepared = clone_model(*loaded);
  auto r = prepare_model(prepared, PrepareOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->folded.size(), 9u);
  for (const FoldedBatchNorm& f : r->folded) {
    SCOPED_TRACE(f.batchnorm);
    ASSERT_TRUE(bn.count(f.batchnorm));
    EXPECT_EQ(std::vector<double>(f.gamma.begin(), f.gamma.end()), bn[f.batchnorm].first);
    EXPECT_EQ(std::vector<double>(f.beta.begin(), f.beta.end()), bn[f.batchnorm].second);
    const Value* out = prepared.graph->find_value(f.output);
    ASSERT_NE(out, nullptr);
    ASSERT_NE(out->producer, nullptr);
    EXPECT_EQ(out->producer->name, f.layer);
    EXPECT_EQ(out->producer->op_type, "Conv");
  }
}

TEST(PrepareModel, MobilenetRelu6ConversionCount) {
  auto loaded = onnx::load_model(testing::source_path("models/zoo/mobilenetv2_fmnist.onnx"));
  ASSERT_TRUE(loaded.ok());
  Model prepared = clone_model(*loaded);
  PrepareOptions o;
  o.convert_relu6_to_relu = true;
  auto r = prepare_model(prepared, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->relu6_converted, 14);
  EXPECT_EQ(testing::count_ops(prepared, "Clip"), 0);
  EXPECT_EQ(testing::count_ops(prepared, "Relu"), 14);
  // The model's function changed only where a ReLU6 input exceeded 6; report how far it moved.
  auto before = testing::run_plain(std::make_shared<Model>(clone_model(*loaded)), {{"input", test_images(32)}});
  auto after = testing::run_plain(std::make_shared<Model>(clone_model(prepared)), {{"input", test_images(32)}});
  ASSERT_TRUE(before.ok() && after.ok());
  std::cout << "mobilenetv2 ReLU6 -> ReLU: relative change of logits on 32 test images "
            << testing::max_relative_error(*after, *before) << "\n";
}

TEST(PrepareModel, OptionsFromAlgorithmSwitches) {
  AlgorithmOptions a;
  a.fold_batchnorm = false;
  a.convert_relu6_to_relu = true;
  a.convert_silu_to_hswish = true;
  PrepareOptions o = prepare_options_from(a);
  EXPECT_FALSE(o.fold_batchnorm);
  EXPECT_TRUE(o.convert_relu6_to_relu);
  EXPECT_TRUE(o.convert_silu_to_hswish);
  EXPECT_TRUE(o.fold_constants);
  PrepareOptions d = prepare_options_from(AlgorithmOptions{});
  EXPECT_TRUE(d.fold_batchnorm);
  EXPECT_FALSE(d.convert_relu6_to_relu);
  EXPECT_FALSE(d.convert_silu_to_hswish);
}

TEST(PrepareModel, BrokenGraphIsInvalid) {
  GraphBuilder b;
  Value* x = b.input("x", {2});
  b.node("Add", "add", {x, b.v("ghost")}, {"y"});
  b.output("y");
  auto r = prepare_model(*b.model, PrepareOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_NE(r.status().message().find("prepare: graph 'test' is invalid: node Add 'add' input 1 'ghost' is dangling"),
            std::string::npos)
      << r.status().message();
}

// x [N, 6] -> MatMul(x, Transpose(w [4, 6])) + Constant -> y, and the BN folding that only works
// once the transposed weight is a plain constant.
TEST(ConstantFolding, TransposedWeightAndConstantNodeFold) {
  GraphBuilder b;
  Value* x = b.input("x", {-1, 6});
  b.node("Transpose", "wt", {b.init("w", random_tensor({4, 6}, -1, 1, 2))}, {"w_t"},
         {attr_ints("perm", {1, 0})});
  b.node("MatMul", "mm", {x, b.v("w_t")}, {"t"});
  b.node("Constant", "bias", {}, {"b"}, {attr_tensor("value", random_tensor({4}, -1, 1, 3))});
  b.node("Add", "add", {b.v("t"), b.v("b")}, {"y"});
  b.output("y");
  Model folded = clone_model(*b.model);
  auto r = fold_constants(folded);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->folded, 2);
  EXPECT_TRUE(r->notes.empty());
  std::vector<std::string> ops;
  for (const Node* n : folded.graph->nodes()) ops.push_back(n->op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"MatMul", "Add"}));
  const Value* wt = folded.graph->find_value("w_t");
  ASSERT_TRUE(wt->is_constant());
  EXPECT_EQ(wt->constant.shape(), (Shape{6, 4}));
  // The original weight is no longer an initializer (nothing reads it).
  for (const Value* v : folded.graph->initializers) EXPECT_NE(v->name, "w");
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", random_tensor({5, 6}, -2, 2, 4)}}, 0.0));
}

TEST(ConstantFolding, DequantizedWeightsReshapeAndChainsFoldShapeOfActivationDoesNot) {
  GraphBuilder b;
  Value* x = b.input("x", {2, 3, 4});
  Tensor q = Tensor::empty(DType::kInt8, {12, 2});
  for (int i = 0; i < 24; ++i) q.data<int8_t>()[i] = static_cast<int8_t>(i * 11 - 128);
  b.node("DequantizeLinear", "dq", {b.init("wq", q), b.init("ws", Tensor::scalar<float>(0.02f)),
                                    b.init("wz", Tensor::scalar<int8_t>(3))},
         {"wf"});
  b.node("Reshape", "wr", {b.v("wf"), b.init("shape", Tensor::from_vector<int64_t>({2}, {4, 6}))},
         {"w"});
  b.node("MatMul", "mm", {x, b.v("w")}, {"t"});
  // Shape of an activation: never folded, even though its shape is static.
  b.node("Shape", "shape_of_t", {b.v("t")}, {"st"});
  b.node("Reshape", "same_shape", {b.v("t"), b.v("st")}, {"y"});
  b.output("y");
  Model folded = clone_model(*b.model);
  auto r = fold_constants(folded);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->folded, 2);
  std::vector<std::string> names;
  for (const Node* n : folded.graph->nodes()) names.push_back(n->name);
  EXPECT_EQ(names, (std::vector<std::string>{"mm", "shape_of_t", "same_shape"}));
  EXPECT_EQ(folded.graph->find_value("w")->constant.dtype(), DType::kFloat32);
  EXPECT_TRUE(same_outputs(*b.model, folded, {{"x", random_tensor({2, 3, 4}, -2, 2, 4)}}, 0.0));
}

TEST(ConstantFolding, RandomOpsGraphOutputsOverridableInitializersAndGrowthStay) {
  GraphBuilder b;
  Value* x = b.input("x", {4});
  b.node("RandomNormal", "noise", {}, {"n"}, {attr_ints("shape", {4})});
  b.node("Add", "add", {x, b.v("n")}, {"a"});
  // An initializer that is also a graph input may be fed another value: not a constant.
  Value* d = b.init("d", random_tensor({4}));
  b.g.inputs.push_back(d);
  b.node("Neg", "neg_d", {d}, {"nd"});
  b.node("Add", "add2", {b.v("a"), b.v("nd")}, {"y"});
  // A graph output stays produced by its node.
  b.node("Neg", "neg_c", {b.init("c", random_tensor({4}))}, {"out_c"});
  // A small constant that would grow past the limit.
  b.node("ConstantOfShape", "big", {b.init("big_shape", Tensor::from_vector<int64_t>({1}, {100000}))},
         {"zeros"});
  b.node("ReduceSum", "sum", {b.v("zeros")}, {"s"}, {attr_int("keepdims", 0)});
  b.output("y");
  b.output("out_c");
  b.output("s");
  Model folded = clone_model(*b.model);
  auto r = fold_constants(folded);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->folded, 0);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "ConstantOfShape 'big' has constant inputs but was not folded: its outputs (100000 elements) "
            "would outgrow its inputs (1) by more than 65536");
  EXPECT_EQ(folded.graph->num_nodes(), b.g.num_nodes());
}

TEST(ConstantFolding, KernelErrorLeavesTheNodeWithANote) {
  GraphBuilder b;
  Value* x = b.input("x", {6});
  b.node("Reshape", "bad", {b.init("c", random_tensor({6})), b.init("s", Tensor::from_vector<int64_t>({1}, {5}))},
         {"r"});
  b.node("Add", "add", {x, b.v("r")}, {"y"});
  b.output("y");
  auto r = fold_constants(*b.model);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->folded, 0);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0].rfind("Reshape 'bad' has constant inputs but was not folded: ", 0), 0u) << r->notes[0];
}

TEST(PrepareModel, FoldsConstantsBeforeBatchNorm) {
  // Transpose(w) -> Gemm -> BN: the BN folds only because the weight became a constant first.
  GraphBuilder b(13);
  Value* x = b.input("x", {3, 6});
  b.node("Transpose", "wt", {b.init("w", random_tensor({6, 4}, -1, 1, 2))}, {"w_t"},
         {attr_ints("perm", {1, 0})});
  b.node("Gemm", "fc", {x, b.v("w_t")}, {"t"}, {attr_int("transB", 1)});
  b.batchnorm("bn", b.v("t"), 4, "y");
  b.output("y");
  Model prepared = clone_model(*b.model);
  auto r = prepare_model(prepared, PrepareOptions{});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->constants_folded, 1);
  EXPECT_EQ(r->batchnorms_folded, 1);
  EXPECT_EQ(prepared.graph->num_nodes(), 1u);
  EXPECT_TRUE(same_outputs(*b.model, prepared, {{"x", random_tensor({3, 6}, -2, 2, 4)}}, 1e-5));
  // Without constant folding the Transpose stays and the BN with it, with the reason.
  Model unfolded = clone_model(*b.model);
  PrepareOptions o;
  o.fold_constants = false;
  r = prepare_model(unfolded, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->batchnorms_kept, 1);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "BatchNormalization 'bn' kept: weight 'w_t' of Gemm 'fc' is not a constant (an initializer "
            "no graph input overrides)");
}

}  // namespace
}  // namespace quench
