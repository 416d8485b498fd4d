// Test helper: a QuantizedModel of models/fashion_cnn.onnx built by hand, the way QuantSim would
// build it (model input, Relu outputs and logits as activation points; Conv / Gemm weights per
// channel on axis 0; int32 biases at s_in * s_w), so that the exporters can be tested without
// QuantSim. Activation ranges come from an FP32 run on the first Fashion-MNIST training images
// (uniform noise when the data set is not installed).
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/idx.h"
#include "ir/graph.h"
#include "onnx/onnx_io.h"
#include "quant/encoding.h"
#include "runtime/executor.h"
#include "sim/quantsim.h"
#include "testutil.h"

namespace quench::testing {

struct FashionLayer {
  const char* node;
  const char* op_type;
  const char* weight;
  const char* bias;
  const char* input;  // the value whose encoding the layer's input carries
};

inline const std::vector<FashionLayer>& fashion_layers() {
  static const std::vector<FashionLayer> kLayers = {
      {"/features/features.0/Conv", "Conv", "onnx::Conv_40", "onnx::Conv_41", "input"},
      {"/features/features.4/Conv", "Conv", "onnx::Conv_43", "onnx::Conv_44",
       "/features/features.2/Relu_output_0"},
      {"/features/features.8/Conv", "Conv", "onnx::Conv_46", "onnx::Conv_47",
       "/features/features.6/Relu_output_0"},
      {"/classifier/classifier.1/Gemm", "Gemm", "classifier.1.weight", "classifier.1.bias",
       "/features/features.10/Relu_output_0"},
      {"/classifier/classifier.4/Gemm", "Gemm", "classifier.4.weight", "classifier.4.bias",
       "/classifier/classifier.2/Relu_output_0"},
  };
  return kLayers;
}

// (producer node, value) of the activation points.
inline const std::vector<std::pair<std::string, std::string>>& fashion_activations() {
  static const std::vector<std::pair<std::string, std::string>> kActs = {
      {"/features/features.2/Relu", "/features/features.2/Relu_output_0"},
      {"/features/features.6/Relu", "/features/features.6/Relu_output_0"},
      {"/features/features.10/Relu", "/features/features.10/Relu_output_0"},
      {"/classifier/classifier.2/Relu", "/classifier/classifier.2/Relu_output_0"},
      {"/classifier/classifier.4/Gemm", "logits"},
  };
  return kActs;
}

struct FashionQmOptions {
  QuantSpec weight;      // axis is set to 0 for per-channel
  QuantSpec activation;  // per tensor
  bool int32_bias = true;
};

inline FashionQmOptions fashion_w8a8() {
  FashionQmOptions o;
  o.weight.granularity = Granularity::kPerChannel;
  o.activation.is_signed = false;
  o.activation.symmetric = false;
  return o;
}

inline FashionQmOptions fashion_w4a8() {
  FashionQmOptions o = fashion_w8a8();
  o.weight.bits = 4;
  return o;
}

// Images [n, 1, 28, 28] in [0, 1]: the Fashion-MNIST file `file` from row `start`, or noise.
inline Tensor fashion_images(const std::string& file, int64_t start, int64_t n) {
  auto reader = open_idx_reader("/usr/share/datasets/fashion-mnist/" + file);
  if (reader.ok() && (start == 0 || (*reader)->read_rows(start).ok())) {
    auto rows = (*reader)->read_rows(n);
    if (rows.ok() && rows->numel() == n * 784) {
      Tensor x = Tensor::empty(DType::kFloat32, {n, 1, 28, 28});
      const uint8_t* src = rows->data<uint8_t>();
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = src[i] / 255.0f;
      return x;
    }
  }
  return random_tensor({n, 1, 28, 28}, 0.0f, 1.0f, 7);
}

inline QuantPoint make_point(const std::string& value, TensorKind kind, const std::string& node,
                             const std::string& op_type, int input_index, Encoding e) {
  QuantPoint p;
  p.value = p.source_value = value;
  p.kind = kind;
  p.node = node;
  p.op_type = op_type;
  p.input_index = input_index;
  p.config.spec = e.spec;
  p.encoding = std::move(e);
  return p;
}

// Per-channel (axis 0) or per-tensor weight encoding from the weight's own min / max.
inline Encoding weight_encoding(const Tensor& w, QuantSpec spec) {
  const int64_t c = w.dim(0), inner = w.numel() / c;
  std::vector<float> mn, mx;
  const float* d = w.data<float>();
  if (spec.granularity == Granularity::kPerChannel) {
    spec.axis = 0;
    for (int64_t i = 0; i < c; ++i) {
      mn.push_back(*std::min_element(d + i * inner, d + (i + 1) * inner));
      mx.push_back(*std::max_element(d + i * inner, d + (i + 1) * inner));
    }
  } else {
    mn.push_back(*std::min_element(d, d + w.numel()));
    mx.push_back(*std::max_element(d, d + w.numel()));
  }
  return encoding_from_range(spec, mn, mx).value();
}

inline Encoding bias_encoding(int64_t channels, float s_in, const Encoding& w) {
  Encoding e;
  e.spec.bits = 32;
  e.spec.granularity = Granularity::kPerChannel;
  e.spec.axis = 0;
  e.param_shape = {channels};
  for (int64_t c = 0; c < channels; ++c) {
    e.scale.push_back(s_in * w.scale[w.num_params() == 1 ? 0 : static_cast<size_t>(c)]);
    e.zero_point.push_back(0);
  }
  return e;
}

inline std::shared_ptr<Model> load_fashion_cnn() {
  auto m = onnx::load_model(source_path("models/fashion_cnn.onnx"));
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::make_shared<Model>(std::move(m).value());
}

inline QuantizedModel fashion_quantized_model(const FashionQmOptions& o) {
  std::shared_ptr<Model> model = load_fashion_cnn();
  QuantizedModel qm;
  qm.model = model;
  Graph& g = *model->graph;

  // Activation ranges from an FP32 run.
  std::vector<std::string> fetch;
  for (const auto& a : fashion_activations()) fetch.push_back(a.second);
  auto exec = Executor::create(model, {.num_threads = 1});
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  auto outs = (*exec)->run({{"input", fashion_images("train-images-idx3-ubyte.gz", 0, 64)}}, fetch);
  EXPECT_TRUE(outs.ok()) << outs.status().message();
  std::map<std::string, Encoding> act;
  act["input"] = encoding_from_range(o.activation, {0.0f}, {1.0f}).value();
  for (size_t i = 0; i < fetch.size(); ++i) {
    const Tensor& t = (*outs)[i];
    const float* d = t.data<float>();
    float mn = *std::min_element(d, d + t.numel()), mx = *std::max_element(d, d + t.numel());
    act[fetch[i]] = encoding_from_range(o.activation, {mn}, {mx}).value();
  }

  qm.points.push_back(make_point("input", TensorKind::kInput, "", "", -1, act["input"]));
  for (const FashionLayer& l : fashion_layers()) {
    const Tensor& w = g.find_value(l.weight)->constant;
    Encoding we = weight_encoding(w, o.weight);
    qm.points.push_back(make_point(l.weight, TensorKind::kWeight, l.node, l.op_type, 1, we));
    if (o.int32_bias) {
      const Tensor& b = g.find_value(l.bias)->constant;
      qm.points.push_back(make_point(l.bias, TensorKind::kBias, l.node, l.op_type, 2,
                                     bias_encoding(b.numel(), act[l.input].scale[0], we)));
    }
  }
  for (const auto& [node, value] : fashion_activations()) {
    const std::string op = node.find("Gemm") != std::string::npos ? "Gemm" : "Relu";
    qm.points.push_back(make_point(value, TensorKind::kActivation, node, op, -1, act[value]));
  }
  qm.config = default_quant_config();
  return qm;
}

}  // namespace quench::testing
