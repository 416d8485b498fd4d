// QDQ ONNX export: structure of the exported fashion_cnn (W8A8 per channel at opset 13, W4A8 at
// opset 21), equality with a fake-quantization reference run, special grids and formats, and the
// opset upgrade.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "export/export.h"
#include "fashion_qm.h"
#include "ir/clone.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"
#include "testutil.h"

namespace quench {
namespace {

using testing::fashion_activations;
using testing::fashion_layers;
using testing::make_point;

const Node* producer_of(const Graph& g, const std::string& value) {
  const Value* v = g.find_value(value);
  return v ? v->producer : nullptr;
}

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op_type == op;
  return n;
}

const Tensor& constant_of(const Value* v) {
  static const Tensor kNone;
  return v && v->is_constant() ? v->constant : kNone;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

const QuantPoint& point(const QuantizedModel& qm, const std::string& value) {
  for (const QuantPoint& p : qm.points)
    if (p.value == value) return p;
  ADD_FAILURE() << "no point " << value;
  return qm.points.front();
}

// Reference: the FP32 model with weights and biases fake-quantized and every activation point
// fake-quantized through the tap (what QuantSim runs).
Tensor simulate(const QuantizedModel& qm, const Tensor& x) {
  auto model = std::make_shared<Model>(clone_model(*qm.model));
  std::map<std::string, Encoding> acts;
  std::vector<std::string> watch;
  for (const QuantPoint& p : qm.points) {
    if (p.kind == TensorKind::kWeight || p.kind == TensorKind::kBias) {
      Value* v = model->graph->find_value(p.value);
      v->constant = fake_quantize(v->constant, *p.encoding).value();
    } else {
      acts[p.value] = *p.encoding;
      watch.push_back(p.value);
    }
  }
  auto exec = Executor::create(model, {.num_threads = 1}).value();
  exec->set_tap([&](const TapEvent& e) -> Status {
    auto it = acts.find(std::string(e.name));
    if (it == acts.end()) return Status();
    return fake_quantize_inplace(*e.tensor = e.tensor->clone(), it->second);
  }, watch);
  auto out = exec->run({{"input", x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out->at(0);
}

Tensor run_model(const Model& m, const Tensor& x) {
  auto exec = Executor::create(std::make_shared<Model>(clone_model(m)), {.num_threads = 1});
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  auto out = (*exec)->run({{m.graph->inputs[0]->name, x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out->at(0);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    d = std::max(d, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
  return d;
}

// Checks the weight, bias and activation parts of an exported fashion_cnn.
void check_fashion_structure(const QuantizedModel& qm, const Model& m, DType wtype) {
  const Graph& g = *m.graph;
  for (const testing::FashionLayer& l : fashion_layers()) {
    SCOPED_TRACE(l.node);
    const Encoding& we = *point(qm, l.weight).encoding;
    const Node* dq = producer_of(g, l.weight);
    ASSERT_NE(dq, nullptr);
    EXPECT_EQ(dq->op_type, "DequantizeLinear");
    EXPECT_EQ(dq->attr_int("axis", -99), 0);
    const Tensor& q = constant_of(dq->inputs[0]);
    EXPECT_EQ(q.dtype(), wtype);
    Tensor expected = quantize(qm.model->graph->find_value(l.weight)->constant, we).value();
    EXPECT_TRUE(same_bytes(q, expected)) << "weights != quantize(W)";
    EXPECT_EQ(constant_of(dq->inputs[1]).to_double_vector(),
              std::vector<double>(we.scale.begin(), we.scale.end()));
    const Tensor& zp = constant_of(dq->inputs[2]);
    EXPECT_EQ(zp.dtype(), wtype);
    EXPECT_EQ(zp.shape(), Shape{we.num_params()});
    EXPECT_EQ(zp.to_int64_vector(), std::vector<int64_t>(we.zero_point.begin(), we.zero_point.end()));
    EXPECT_EQ(g.find_value(l.weight)->is_constant(), false);

    const Encoding& be = *point(qm, l.bias).encoding;
    const Node* bdq = producer_of(g, l.bias);
    ASSERT_NE(bdq, nullptr);
    EXPECT_EQ(bdq->op_type, "DequantizeLinear");
    const Tensor& bq = constant_of(bdq->inputs[0]);
    EXPECT_EQ(bq.dtype(), DType::kInt32);
    EXPECT_TRUE(same_bytes(bq, quantize(qm.model->graph->find_value(l.bias)->constant, be).value()));
    std::vector<double> bscale = constant_of(bdq->inputs[1]).to_double_vector();
    const float s_in = point(qm, l.input).encoding->scale[0];
    for (size_t c = 0; c < bscale.size(); ++c)
      EXPECT_FLOAT_EQ(bscale[c], s_in * we.scale[c]) << "channel " << c;
    EXPECT_EQ(constant_of(bdq->inputs[2]).dtype(), DType::kInt32);
    EXPECT_EQ(constant_of(bdq->inputs[2]).to_int64_vector(), std::vector<int64_t>(bscale.size(), 0));
  }
  for (const auto& [node, value] : fashion_activations()) {
    SCOPED_TRACE(value);
    const Encoding& e = *point(qm, value).encoding;
    const Node* dq = producer_of(g, value);
    ASSERT_NE(dq, nullptr);
    EXPECT_EQ(dq->op_type, "DequantizeLinear");
    const Node* q = dq->inputs[0]->producer;
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->op_type, "QuantizeLinear");
    EXPECT_EQ(q->inputs[0]->name, value + "_fp");
    ASSERT_NE(q->inputs[0]->producer, nullptr);
    EXPECT_EQ(q->inputs[0]->producer->name, node);
    const Tensor& zp = constant_of(q->inputs[2]);
    EXPECT_EQ(zp.dtype(), DType::kUInt8);
    EXPECT_EQ(zp.shape(), Shape{});
    EXPECT_EQ(zp.to_int64_vector(), std::vector<int64_t>{e.zero_point[0]});
    EXPECT_EQ(constant_of(q->inputs[1]).to_double_vector(), std::vector<double>{e.scale[0]});
    EXPECT_EQ(dq->inputs[1], q->inputs[1]);
    EXPECT_EQ(dq->inputs[2], q->inputs[2]);
  }
  // The model input keeps its name; the first Conv reads its dequantized copy.
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0]->name, "input");
  const Value* conv_in = nullptr;
  for (const Node* n : g.nodes())
    if (n->name == fashion_layers()[0].node) conv_in = n->inputs[0];
  ASSERT_NE(conv_in, nullptr);
  EXPECT_EQ(conv_in->name, "input_dequantized");
  EXPECT_EQ(conv_in->producer->op_type, "DequantizeLinear");
  EXPECT_EQ(conv_in->producer->inputs[0]->producer->inputs[0]->name, "input");
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0]->name, "logits");
}

TEST(QdqExport, FashionW8A8PerChannelAtOpset13) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->opset(""), 13);
  EXPECT_EQ(m->ir_version, qm.model->ir_version);
  const Graph& g = *m->graph;
  EXPECT_EQ(count_op(g, "QuantizeLinear"), 6);     // model input + 5 activations
  EXPECT_EQ(count_op(g, "DequantizeLinear"), 16);  // + 5 weights + 5 biases
  EXPECT_EQ(count_op(g, "Clip"), 0);
  EXPECT_EQ(static_cast<int>(g.num_nodes()), 13 + 22);
  check_fashion_structure(qm, *m, DType::kInt8);
  // No float copy of a quantized weight is left behind.
  for (const Value* v : g.initializers)
    for (const testing::FashionLayer& l : fashion_layers())
      EXPECT_TRUE(v->name != l.weight && v->name != l.bias) << v->name;
}

TEST(QdqExport, FashionW4A8UsesInt4AtOpset21) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w4a8());
  auto m = make_qdq_model(qm);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->opset(""), 21);
  EXPECT_GE(m->ir_version, 10);
  EXPECT_EQ(count_op(*m->graph, "QuantizeLinear"), 6);
  EXPECT_EQ(count_op(*m->graph, "DequantizeLinear"), 16);
  check_fashion_structure(qm, *m, DType::kInt4);
  // 4-bit values stay in [-8, 7] (symmetric signed: [-7, 7] used).
  for (const testing::FashionLayer& l : fashion_layers()) {
    const Tensor& q = constant_of(producer_of(*m->graph, l.weight)->inputs[0]);
    for (int64_t v : q.to_int64_vector()) ASSERT_TRUE(v >= -8 && v <= 7) << l.weight << " " << v;
  }
}

TEST(QdqExport, RunsLikeTheFakeQuantizedSimulation) {
  Tensor x = testing::fashion_images("t10k-images-idx3-ubyte.gz", 0, 32);
  for (auto opts : {testing::fashion_w8a8(), testing::fashion_w4a8()}) {
    SCOPED_TRACE(opts.weight.bits);
    QuantizedModel qm = testing::fashion_quantized_model(opts);
    auto m = make_qdq_model(qm);
    ASSERT_TRUE(m.ok()) << m.status().message();
    Tensor got = run_model(*m, x);
    Tensor want = simulate(qm, x);
    // Same grid, same rounding (half even), same kernels on the dequantized weights: equal (0 when
    // written); the margin only absorbs float reassociation, far below one output step.
    const float step = point(qm, "logits").encoding->scale[0];
    EXPECT_LE(max_abs_diff(got, want), 1e-3 * step);
  }
}

TEST(QdqExport, FileRoundTripKeepsInt4Weights) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w4a8());
  testing::TempDir dir("qdq_file");
  ASSERT_TRUE(export_qdq_onnx(qm, dir.file("w4a8.onnx")).ok());
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"w4a8.onnx"});
  auto loaded = onnx::load_model(dir.file("w4a8.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto mem = make_qdq_model(qm).value();
  for (const testing::FashionLayer& l : fashion_layers()) {
    const Tensor& a = constant_of(producer_of(*loaded->graph, l.weight)->inputs[0]);
    const Tensor& b = constant_of(producer_of(*mem.graph, l.weight)->inputs[0]);
    EXPECT_EQ(a.dtype(), DType::kInt4);
    EXPECT_TRUE(same_bytes(a, b)) << l.weight;
  }
  Tensor x = testing::fashion_images("t10k-images-idx3-ubyte.gz", 0, 8);
  EXPECT_EQ(max_abs_diff(run_model(*loaded, x), run_model(mem, x)), 0.0);
}

TEST(QdqExport, OpsetChoiceAndErrors) {
  QuantizedModel w8 = testing::fashion_quantized_model(testing::fashion_w8a8());
  QuantizedModel w4 = testing::fashion_quantized_model(testing::fashion_w4a8());
  auto at17 = make_qdq_model(w8, {.opset = 17});
  ASSERT_TRUE(at17.ok()) << at17.status().message();
  EXPECT_EQ(at17->opset(""), 17);

  auto low = make_qdq_model(w4, {.opset = 13});
  ASSERT_EQ(low.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(low.status().message(),
            "QDQ export: weights 'onnx::Conv_40' of node '/features/features.0/Conv' (int4 sym "
            "per-channel(axis 0) half_even) needs opset 21 (INT4 / INT16 types, block_size), but "
            "opset 13 was asked for");
  auto out_of_range = make_qdq_model(w8, {.opset = 22});
  ASSERT_EQ(out_of_range.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(out_of_range.status().message(),
            "QDQ export: opset 22 is out of range: QuantizeLinear / DequantizeLinear exports take "
            "13..21 (0 = automatic)");

  auto old = std::make_shared<Model>(clone_model(*w8.model));
  old->opset_imports = {{"", 12}};
  QuantizedModel qm12 = w8;
  qm12.model = old;
  auto r12 = make_qdq_model(qm12);
  ASSERT_EQ(r12.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(r12.status().message(),
            "QDQ export: the model's default opset is 12; per-channel QuantizeLinear / "
            "DequantizeLinear need opset 13 and quench does not upgrade models from below 13");
}

TEST(QdqExport, BadPoints) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  QuantizedModel missing = qm;
  missing.points[0].value = "no_such_value";
  missing.points[0].kind = TensorKind::kActivation;
  EXPECT_EQ(make_qdq_model(missing).status().message(),
            "QDQ export: activation 'no_such_value' is not a value of the model");

  QuantizedModel uncalibrated = qm;
  for (QuantPoint& p : uncalibrated.points)
    if (p.value == "logits") p.encoding.reset();
  auto r = make_qdq_model(uncalibrated);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(r.status().message(),
            "QDQ export: activation 'logits' is enabled but has no encoding; run "
            "compute_encodings first");

  QuantizedModel fp8 = qm;
  for (QuantPoint& p : fp8.points)
    if (p.value == "logits") {
      p.config.spec.format = NumberFormat::kFloat8E4M3;
      p.config.spec.bits = 8;
      p.encoding = encoding_from_range(p.config.spec, {-1.0f}, {1.0f}).value();
    }
  auto r8 = make_qdq_model(fp8);
  EXPECT_EQ(r8.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(r8.status().message(),
            "QDQ export: activation 'logits' uses float8_e4m3fn, which the QDQ export does not write "
            "yet");

  // Disabled points and int32 biases without an encoding are left in float.
  QuantizedModel partial = qm;
  for (QuantPoint& p : partial.points) {
    if (p.kind == TensorKind::kActivation) p.enabled = false;
    if (p.kind == TensorKind::kBias) p.encoding.reset();
  }
  auto m = make_qdq_model(partial);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(count_op(*m->graph, "QuantizeLinear"), 1);
  EXPECT_EQ(count_op(*m->graph, "DequantizeLinear"), 1 + 5);
  EXPECT_TRUE(m->graph->find_value("onnx::Conv_41")->is_constant());
}

}  // namespace
}  // namespace quench
