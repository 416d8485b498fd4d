// QDQ export of grids, formats and graph shapes beyond plain int8: narrow grids (Clip), 4 / 16-bit
// types at opset 21, float16 / bfloat16 casts, per-block weights, shared weights, per-consumer
// Identity copies.
#include <gtest/gtest.h>

#include "export/export.h"
#include "quant/quantize.h"
#include "tiny_model.h"

namespace quench {
namespace {

using testing::point_on;
using testing::run_all;
using testing::TinyModel;

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op_type == op;
  return n;
}

const Node* find_node(const Graph& g, const std::string& op) {
  for (const Node* n : g.nodes())
    if (n->op_type == op) return n;
  return nullptr;
}

// x -> Identity -> v (the graph output), with one activation point on v.
QuantizedModel identity_model(const QuantSpec& spec, std::optional<Encoding> e) {
  TinyModel t(13);
  Value* x = t.input("x", {4, 64});
  t.output(t.node("Identity", "id", {x}, "v"));
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(point_on("v", TensorKind::kActivation, "id", -1, spec, std::move(e)));
  return qm;
}

struct GridCase {
  int bits;
  bool is_signed, symmetric, narrow;
  int64_t opset;
  DType zp_type;
  bool clip;
};

// What each grid becomes: storage type, opset, and whether a Clip restores the grid's range.
const GridCase kGridCases[] = {
    {8, false, false, false, 13, DType::kUInt8, false},
    {8, true, true, false, 13, DType::kInt8, false},
    {8, true, true, true, 13, DType::kInt8, true},     // narrow range [-127, 127]
    {6, false, false, false, 13, DType::kUInt8, true},  // [0, 63] stored in uint8
    {3, true, true, false, 13, DType::kInt8, true},     // [-4, 3] stored in int8
    {4, false, false, false, 21, DType::kUInt4, false},
    {4, true, true, false, 21, DType::kInt4, false},
    {12, false, false, false, 21, DType::kUInt16, true},
    {16, true, true, false, 21, DType::kInt16, false},
};

TEST(QdqGrids, StorageTypeOpsetAndClipPerGrid) {
  Tensor x = testing::random_tensor({4, 64}, -3.0f, 3.0f, 3);
  for (const GridCase& c : kGridCases) {
    QuantSpec s;
    s.bits = c.bits;
    s.is_signed = c.is_signed;
    s.symmetric = c.symmetric;
    s.narrow_range = c.narrow;
    SCOPED_TRACE(s.describe());
    Encoding e = encoding_from_range(s, {-2.0f}, {2.0f}).value();
    auto m = make_qdq_model(identity_model(s, e));
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ(m->opset(""), c.opset);
    const Node* q = find_node(*m->graph, "QuantizeLinear");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->inputs[2]->constant.dtype(), c.zp_type);
    EXPECT_EQ(q->inputs[2]->constant.to_int64_vector(), std::vector<int64_t>{e.zero_point[0]});
    EXPECT_EQ(count_op(*m->graph, "Clip"), c.clip ? 1 : 0);
    if (c.clip) {
      const Node* clip = find_node(*m->graph, "Clip");
      EXPECT_EQ(clip->inputs[1]->constant.to_double_vector(), std::vector<double>{e.range_min(0)});
      EXPECT_EQ(clip->inputs[2]->constant.to_double_vector(), std::vector<double>{e.range_max(0)});
    }
    // The exported model reproduces fake quantization on the encoding's grid, saturation included.
    std::vector<Tensor> out = run_all(*m, {{"x", x}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TENSOR_NEAR(out[0], fake_quantize(x, e).value(), 0.0);
  }
}

TEST(QdqGrids, Float16AndBFloat16Casts) {
  Tensor x = testing::random_tensor({4, 64}, -3.0f, 3.0f, 5);
  for (NumberFormat f : {NumberFormat::kFloat16, NumberFormat::kBFloat16}) {
    SCOPED_TRACE(number_format_name(f));
    QuantSpec s;
    s.format = f;
    s.bits = 16;
    auto m = make_qdq_model(identity_model(s, std::nullopt));
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ(m->opset(""), 13);
    ASSERT_EQ(count_op(*m->graph, "Cast"), 2);
    const Node* last = m->graph->find_value("v")->producer;
    EXPECT_EQ(last->op_type, "Cast");
    EXPECT_EQ(last->attr_int("to", 0), static_cast<int64_t>(DType::kFloat32));
    EXPECT_EQ(last->inputs[0]->dtype, f == NumberFormat::kFloat16 ? DType::kFloat16 : DType::kBFloat16);
    Encoding e;
    e.spec = s;
    std::vector<Tensor> out = run_all(*m, {{"x", x}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TENSOR_NEAR(out[0], fake_quantize(x, e).value(), 0.0);
  }
}

// x[2,16] -> MatMul(w[16,8]) -> y with one weight point.
QuantizedModel matmul_model(const Tensor& w, const QuantSpec& spec, std::optional<Encoding> e) {
  TinyModel t(13);
  Value* x = t.input("x", {2, 16});
  t.output(t.node("MatMul", "mm", {x, t.init("w", w)}, "y"));
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(point_on("w", TensorKind::kWeight, "mm", 1, spec, std::move(e)));
  return qm;
}

Tensor matmul_ref(const Tensor& x, const Tensor& w) {
  TinyModel t(13);
  Value* xv = t.input("x", {2, 16});
  t.output(t.node("MatMul", "mm", {xv, t.init("w", w)}, "y"));
  return run_all(*t.done(), {{"x", x}}).at(0);
}

TEST(QdqGrids, Float16WeightIsStoredAsFloat16) {
  Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 9);
  Tensor x = testing::random_tensor({2, 16}, -1.0f, 1.0f, 10);
  QuantSpec s;
  s.format = NumberFormat::kFloat16;
  s.bits = 16;
  auto m = make_qdq_model(matmul_model(w, s, std::nullopt));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Node* cast = m->graph->find_value("w")->producer;
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->op_type, "Cast");
  EXPECT_EQ(cast->inputs[0]->constant.dtype(), DType::kFloat16);
  Encoding e;
  e.spec = s;
  EXPECT_TENSOR_NEAR(run_all(*m, {{"x", x}}).at(0), matmul_ref(x, fake_quantize(w, e).value()), 0.0);
}

TEST(QdqGrids, PerBlockWeightUsesBlockSizeAtOpset21) {
  Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 11);
  Tensor x = testing::random_tensor({2, 16}, -1.0f, 1.0f, 12);
  QuantSpec s;
  s.bits = 4;
  s.granularity = Granularity::kPerBlock;
  s.axis = 0;
  s.block_size = 4;
  // Blocks of 4 rows: param shape [4, 8], one range per block.
  std::vector<float> mn(32), mx(32);
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t c = 0; c < 8; ++c) {
      const float v = w.data<float>()[r * 8 + c];
      const size_t p = static_cast<size_t>((r / 4) * 8 + c);
      mn[p] = r % 4 == 0 ? v : std::min(mn[p], v);
      mx[p] = r % 4 == 0 ? v : std::max(mx[p], v);
    }
  Encoding e = encoding_from_range(s, mn, mx, {4, 8}).value();
  auto m = make_qdq_model(matmul_model(w, s, e));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->opset(""), 21);
  const Node* dq = m->graph->find_value("w")->producer;
  ASSERT_NE(dq, nullptr);
  EXPECT_EQ(dq->attr_int("axis", -1), 0);
  EXPECT_EQ(dq->attr_int("block_size", 0), 4);
  EXPECT_EQ(dq->inputs[1]->constant.shape(), (Shape{4, 8}));
  EXPECT_EQ(dq->inputs[0]->constant.dtype(), DType::kInt4);
  EXPECT_TENSOR_NEAR(run_all(*m, {{"x", x}}).at(0), matmul_ref(x, fake_quantize(w, e).value()),
                     1e-6);
}

TEST(QdqGrids, SharedWeightIsQuantizedOnce) {
  Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 13);
  TinyModel t(13);
  Value* x = t.input("x", {2, 16});
  Value* wv = t.init("w", w);
  t.output(t.node("MatMul", "mm1", {x, wv}, "a"));
  t.output(t.node("MatMul", "mm2", {x, wv}, "b"));
  QuantSpec s;
  Encoding e = encoding_from_range(s, {-1.0f}, {1.0f}).value();
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(point_on("w", TensorKind::kWeight, "mm1", 1, s, e));
  qm.points.push_back(point_on("w", TensorKind::kWeight, "mm2", 1, s, e));
  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(count_op(*m->graph, "DequantizeLinear"), 1);
  EXPECT_EQ(m->graph->find_value("w")->consumers.size(), 2u);

  qm.points[1].encoding = encoding_from_range(s, {-2.0f}, {2.0f}).value();
  auto bad = make_qdq_model(qm);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(bad.status().message(),
            "QDQ export: value 'w' has two quantization points ('mm1' and 'mm2') with different "
            "encodings; give one consumer its own copy");
}

TEST(QdqGrids, PerConsumerIdentityCopy) {
  // QuantSim's layout for a layer input that also feeds a float op: r -> Identity -> "r/mm" ->
  // MatMul, and r -> Sigmoid unquantized.
  Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 14);
  Tensor x = testing::random_tensor({2, 16}, -2.0f, 2.0f, 15);
  TinyModel t(13);
  Value* xv = t.input("x", {2, 16});
  Value* r = t.node("Relu", "relu", {xv}, "r");
  Value* rc = t.node("Identity", "r/mm", {r}, "r/mm");
  t.output(t.node("MatMul", "mm", {rc, t.init("w", w)}, "y"));
  t.output(t.node("Sigmoid", "sig", {r}, "s"));
  QuantSpec s;
  s.is_signed = false;
  s.symmetric = false;
  Encoding e = encoding_from_range(s, {0.0f}, {1.5f}).value();
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(point_on("r/mm", TensorKind::kActivation, "mm", 0, s, e));
  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Graph& g = *m->graph;
  EXPECT_EQ(g.find_value("r/mm")->producer->op_type, "DequantizeLinear");
  EXPECT_EQ(g.find_value("r/mm_fp")->producer->op_type, "Identity");
  for (const Node* n : g.nodes()) {
    if (n->name == "sig") {
      EXPECT_EQ(n->inputs[0]->name, "r");
    }
  }
  std::vector<Tensor> out = run_all(*m, {{"x", x}});
  ASSERT_EQ(out.size(), 2u);
  Tensor relu_x = x.clone();
  for (int64_t i = 0; i < relu_x.numel(); ++i)
    relu_x.data<float>()[i] = std::max(relu_x.data<float>()[i], 0.0f);
  EXPECT_TENSOR_NEAR(out[0], matmul_ref(fake_quantize(relu_x, e).value(), w), 1e-6);
  std::vector<Tensor> fp = run_all(*qm.model, {{"x", x}});
  EXPECT_TENSOR_NEAR(out[1], fp.at(1), 0.0);
}

TEST(QdqGrids, InitializersNoNodeReadsAreDropped) {
  // BatchNormalization folding leaves the BN parameters behind; onnxruntime warns about each.
  TinyModel t(13);
  Value* x = t.input("x", {2, 16});
  t.init("left_over", testing::random_tensor({4}));
  t.output(t.node("MatMul", "mm", {x, t.init("w", testing::random_tensor({16, 8}))}, "y"));
  QuantizedModel qm;
  qm.model = t.done();
  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->graph->initializers.size(), 1u);
  EXPECT_EQ(m->graph->initializers[0]->name, "w");
}

}  // namespace
}  // namespace quench
