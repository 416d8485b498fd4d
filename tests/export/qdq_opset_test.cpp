// Opset upgrade of the QDQ export (13..20 -> 21 when an encoding needs INT4 / INT16): the ops whose
// meaning changed are rewritten, or refused by name.
#include <gtest/gtest.h>

#include "export/export.h"
#include "quant/quantize.h"
#include "tiny_model.h"

namespace quench {
namespace {

using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::point_on;
using testing::run_all;
using testing::TinyModel;

const Node* node_named(const Graph& g, const std::string& name) {
  for (const Node* n : g.nodes())
    if (n->name == name) return n;
  return nullptr;
}

QuantSpec int4() {
  QuantSpec s;
  s.bits = 4;
  return s;
}

// Adds x2[2,6] -> MatMul(w[6,3]) -> "y" with a 4-bit weight point, which forces opset 21.
void add_int4_matmul(TinyModel& t, QuantizedModel& qm, Value* x, const Tensor& w) {
  t.output(t.node("MatMul", "mm", {x, t.init("w", w)}, "y"));
  QuantSpec s = int4();
  qm.points.push_back(point_on("w", TensorKind::kWeight, "mm", 1, s,
                               encoding_from_range(s, {-1.0f}, {1.0f}).value()));
}

TEST(QdqOpset, ReduceAxesAndSplitAreRewrittenFor21) {
  Tensor x = testing::random_tensor({2, 4, 6}, -1.0f, 1.0f, 21);
  Tensor w = testing::random_tensor({6, 3}, -1.0f, 1.0f, 22);
  TinyModel t(13);
  QuantizedModel qm;
  Value* xv = t.input("x", {2, 4, 6});
  t.output(t.node("ReduceMean", "mean", {xv}, "m", {attr_ints("axes", {2}), attr_int("keepdims", 1)}));
  t.output(t.node("ReduceMax", "max", {xv}, "mx", {attr_ints("axes", {1, 2}), attr_int("keepdims", 0)}));
  t.output(t.node("ReduceMin", "min_all", {xv}, "mn"));  // no axes: all axes, in both opsets
  std::vector<Value*> halves = t.node_n("Split", "split", {xv}, {"s1", "s2"}, {attr_int("axis", 1)});
  t.output(halves[1]);
  add_int4_matmul(t, qm, halves[0], w);
  qm.model = t.done();

  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->opset(""), 21);
  EXPECT_EQ(m->ir_version, 10);
  const Graph& g = *m->graph;
  const Node* mean = node_named(g, "mean");
  ASSERT_EQ(mean->inputs.size(), 2u);
  EXPECT_FALSE(mean->has_attr("axes"));
  EXPECT_EQ(mean->inputs[1]->constant.to_int64_vector(), std::vector<int64_t>{2});
  EXPECT_EQ(node_named(g, "max")->inputs[1]->constant.to_int64_vector(),
            (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(node_named(g, "min_all")->inputs.size(), 1u);
  EXPECT_EQ(node_named(g, "split")->attr_int("num_outputs", 0), 2);

  // Same results as the original model with the weight fake-quantized.
  std::vector<Tensor> got = run_all(*m, {{"x", x}});
  auto fq = std::make_shared<Model>(clone_model(*qm.model));
  Value* wv = fq->graph->find_value("w");
  wv->constant = fake_quantize(wv->constant, *qm.points[0].encoding).value();
  std::vector<Tensor> want = run_all(*fq, {{"x", x}});
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TENSOR_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(QdqOpset, AttributeRenamesFor16And20) {
  struct Case {
    const char* op;
    int64_t opset;
    std::vector<Attribute> attrs;
    const char* attr;
    const char* want;
  };
  const Case cases[] = {
      {"RoiAlign", 13, {}, "coordinate_transformation_mode", "output_half_pixel"},
      {"RoiAlign", 13, {attr_string("coordinate_transformation_mode", "half_pixel")},
       "coordinate_transformation_mode", "half_pixel"},
      {"GridSample", 16, {attr_string("mode", "bilinear")}, "mode", "linear"},
      {"GridSample", 16, {attr_string("mode", "bicubic")}, "mode", "cubic"},
      {"GridSample", 16, {attr_string("mode", "nearest")}, "mode", "nearest"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.op) + " " + (c.attrs.empty() ? "" : c.attrs[0].s));
    TinyModel t(c.opset);
    QuantizedModel qm;
    Value* xv = t.input("x", {2, 6});
    t.output(t.node(c.op, "op", {xv}, "o", c.attrs));
    add_int4_matmul(t, qm, xv, testing::random_tensor({6, 3}));
    qm.model = t.done();
    auto m = make_qdq_model(qm);
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ(node_named(*m->graph, "op")->attr_string(c.attr, ""), c.want);
  }
}

TEST(QdqOpset, ChangedOpsWithoutARewriteAreRefused) {
  struct Case {
    const char* op;
    int64_t opset;
    int outputs;
    const char* message;
  };
  const Case cases[] = {
      {"GroupNormalization", 18, 1,
       "opset upgrade 18 -> 21: GroupNormalization 'op': GroupNormalization takes per-channel "
       "scale and bias from opset 21 (per-group before); quench does not rewrite it (export with "
       "8-bit encodings to keep the model's opset)"},
      {"DFT", 17, 1,
       "opset upgrade 17 -> 21: DFT 'op': DFT moved its axis attribute to an input at opset 20; "
       "quench does not rewrite it (export with 8-bit encodings to keep the model's opset)"},
      {"BatchNormalization", 13, 3,
       "opset upgrade 13 -> 21: BatchNormalization 'op': a BatchNormalization with "
       "running-statistics outputs (training mode) changed meaning at opset 14; quench does not "
       "rewrite it (export with 8-bit encodings to keep the model's opset)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    TinyModel t(c.opset);
    QuantizedModel qm;
    Value* xv = t.input("x", {2, 6});
    std::vector<std::string> outs;
    for (int i = 0; i < c.outputs; ++i) outs.push_back(std::string(1, static_cast<char>('a' + i)));
    t.output(t.node_n(c.op, "op", {xv}, outs)[0]);
    add_int4_matmul(t, qm, xv, testing::random_tensor({6, 3}));
    qm.model = t.done();
    auto m = make_qdq_model(qm);
    EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(m.status().message(), c.message);
    // 8-bit encodings keep the model's opset: nothing to rewrite.
    qm.points[0].config.spec.bits = 8;
    qm.points[0].encoding = encoding_from_range(qm.points[0].config.spec, {-1.0f}, {1.0f}).value();
    auto kept = make_qdq_model(qm);
    ASSERT_TRUE(kept.ok()) << kept.status().message();
    EXPECT_EQ(kept->opset(""), c.opset);
  }
}

TEST(QdqOpset, SubgraphsAreUpgradedToo) {
  // If(cond) { then: ReduceMean(x, axes=[1]) } else { ReduceMean(x, axes=[0]) }
  auto branch = [](int64_t axis) {
    auto g = std::make_shared<Graph>();
    const std::string suffix = axis == 0 ? "0" : "1";
    Value* out = g->get_or_add_value("r" + suffix);
    Value* x = g->get_or_add_value("x");
    Node* n = g->add_node("ReduceMean", "mean" + suffix, {x}, {out});
    n->attributes = {attr_ints("axes", {axis})};
    g->outputs.push_back(out);
    return g;
  };
  TinyModel t(13);
  QuantizedModel qm;
  Value* xv = t.input("x", {2, 6});
  Tensor flag = Tensor::zeros(DType::kBool, {});
  *static_cast<uint8_t*>(flag.raw_data()) = 1;
  Value* cond = t.init("cond", flag);
  Attribute then_branch, else_branch;
  then_branch.name = "then_branch";
  then_branch.type = AttrType::kGraph;
  then_branch.g = branch(1);
  else_branch.name = "else_branch";
  else_branch.type = AttrType::kGraph;
  else_branch.g = branch(0);
  t.output(t.node("If", "if", {cond}, "o", {then_branch, else_branch}));
  add_int4_matmul(t, qm, xv, testing::random_tensor({6, 3}));
  qm.model = t.done();
  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Node* iff = node_named(*m->graph, "if");
  const Graph& then_g = *iff->attr("then_branch")->g;
  const Node* mean = then_g.nodes().at(0);
  EXPECT_FALSE(mean->has_attr("axes"));
  ASSERT_EQ(mean->inputs.size(), 2u);
  EXPECT_EQ(mean->inputs[1]->constant.to_int64_vector(), std::vector<int64_t>{1});
  // The original model is untouched.
  EXPECT_TRUE(node_named(*qm.model->graph, "if")->attr("then_branch")->g->nodes().at(0)->has_attr("axes"));
}

}  // namespace
}  // namespace quench
