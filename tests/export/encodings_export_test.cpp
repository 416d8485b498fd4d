// AIMET encodings (0.6.1 and 1.0.0) and vai_q quant_info.json: the files are parsed back and every
// number is checked against the encodings they came from.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "export/export.h"
#include "fashion_qm.h"
#include "tiny_model.h"

namespace quench {
namespace {

using nlohmann::json;
using testing::fashion_activations;
using testing::fashion_layers;

json read_json(const std::string& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text.ok()) << text.status().message();
  return json::parse(text.ok() ? *text : "{}");
}

const Encoding& encoding_of(const QuantizedModel& qm, const std::string& value) {
  for (const QuantPoint& p : qm.points)
    if (p.value == value) return *p.encoding;
  ADD_FAILURE() << "no point " << value;
  return *qm.points.front().encoding;
}

// AIMET offset: relative to the unsigned grid.
int64_t aimet_offset(const Encoding& e, size_t i) {
  return e.spec.is_signed ? -int64_t{e.zero_point[i]} - (int64_t{1} << (e.spec.bits - 1))
                          : -int64_t{e.zero_point[i]};
}

std::vector<std::string> all_values(const QuantizedModel& qm) {
  std::vector<std::string> v;
  for (const QuantPoint& p : qm.points) v.push_back(p.value);
  return v;
}

TEST(AimetEncodings, Layout061MatchesEncodings) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("aimet061");
  ASSERT_TRUE(export_aimet_encodings(qm, dir.file("m.encodings"), AimetEncodingVersion::k0_6_1).ok());
  json j = read_json(dir.file("m.encodings"));
  EXPECT_EQ(nlohmann::ordered_json::parse(read_file(dir.file("m.encodings")).value()).begin().key(),
            "version");
  EXPECT_EQ(j["version"], "0.6.1");
  EXPECT_EQ(j["excluded_layers"], json::array());
  EXPECT_EQ(j["quantizer_args"]["activation_bitwidth"], 8);
  EXPECT_EQ(j["quantizer_args"]["per_channel_quantization"], "True");
  const json& acts = j["activation_encodings"];
  const json& params = j["param_encodings"];
  ASSERT_TRUE(acts.is_object());
  EXPECT_EQ(acts.size(), 6u);     // model input + 5 activations
  EXPECT_EQ(params.size(), 10u);  // 5 weights + 5 biases
  for (const std::string& name : all_values(qm)) {
    SCOPED_TRACE(name);
    const Encoding& e = encoding_of(qm, name);
    const json& list = acts.contains(name) ? acts[name] : params[name];
    ASSERT_EQ(list.size(), static_cast<size_t>(e.num_params()));
    for (size_t i = 0; i < list.size(); ++i) {
      const json& c = list[i];
      EXPECT_EQ(c["bitwidth"], e.spec.bits);
      EXPECT_EQ(c["dtype"], "int");
      EXPECT_EQ(c["is_symmetric"], e.spec.symmetric ? "True" : "False");
      EXPECT_EQ(c["scale"].get<float>(), e.scale[i]);
      EXPECT_EQ(c["offset"].get<int64_t>(), aimet_offset(e, i));
      EXPECT_EQ(c["min"].get<float>(), e.range_min(static_cast<int64_t>(i)));
      EXPECT_EQ(c["max"].get<float>(), e.range_max(static_cast<int64_t>(i)));
    }
  }
  // Spot values: int8 symmetric weights have offset -128; a uint8 activation's offset is -zp.
  EXPECT_EQ(params["onnx::Conv_40"][0]["offset"], -128);
  EXPECT_EQ(params["onnx::Conv_41"][0]["bitwidth"], 32);
  EXPECT_EQ(acts["input"][0]["offset"], 0);
  EXPECT_EQ(acts["input"][0]["min"], 0.0);
  EXPECT_FLOAT_EQ(acts["input"][0]["max"].get<float>(), 1.0f);
}

TEST(AimetEncodings, Layout100MatchesEncodings) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("aimet100");
  ASSERT_TRUE(export_aimet_encodings(qm, dir.file("m.encodings"), AimetEncodingVersion::k1_0_0).ok());
  json j = read_json(dir.file("m.encodings"));
  EXPECT_EQ(j["version"], "1.0.0");
  ASSERT_TRUE(j["activation_encodings"].is_array());
  ASSERT_TRUE(j["param_encodings"].is_array());
  EXPECT_EQ(j["activation_encodings"].size(), 6u);
  EXPECT_EQ(j["param_encodings"].size(), 10u);
  std::map<std::string, json> by_name;
  for (const json& e : j["activation_encodings"]) by_name[e["name"]] = e;
  for (const json& e : j["param_encodings"]) by_name[e["name"]] = e;
  for (const std::string& name : all_values(qm)) {
    SCOPED_TRACE(name);
    const Encoding& e = encoding_of(qm, name);
    ASSERT_TRUE(by_name.count(name));
    const json& c = by_name[name];
    std::set<std::string> keys;
    for (auto it = c.begin(); it != c.end(); ++it) keys.insert(it.key());
    EXPECT_EQ(keys, (std::set<std::string>{"name", "dtype", "enc_type", "bw", "is_sym", "scale",
                                           "offset"}));
    EXPECT_EQ(c["dtype"], "INT");
    EXPECT_EQ(c["enc_type"], e.spec.granularity == Granularity::kPerChannel ? "PER_CHANNEL"
                                                                             : "PER_TENSOR");
    EXPECT_EQ(c["bw"], e.spec.bits);
    EXPECT_EQ(c["is_sym"], e.spec.symmetric);
    ASSERT_EQ(c["scale"].size(), static_cast<size_t>(e.num_params()));
    for (size_t i = 0; i < e.scale.size(); ++i) {
      EXPECT_EQ(c["scale"][i].get<float>(), e.scale[i]);
      EXPECT_EQ(c["offset"][i].get<int64_t>(), aimet_offset(e, i));
    }
  }
}

TEST(AimetEncodings, PerBlockFloatAndUnsupportedFormats) {
  Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 31);
  testing::TinyModel t(13);
  Value* x = t.input("x", {2, 16});
  Value* h = t.node("MatMul", "mm", {x, t.init("w", w)}, "h");
  t.output(t.node("Relu", "relu", {h}, "y"));
  QuantSpec blocked;
  blocked.bits = 4;
  blocked.granularity = Granularity::kPerBlock;
  blocked.axis = 0;
  blocked.block_size = 8;
  std::vector<float> mn(16, -1.0f), mx(16, 1.0f);
  QuantSpec half;
  half.format = NumberFormat::kFloat16;
  half.bits = 16;
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(testing::point_on("w", TensorKind::kWeight, "mm", 1, blocked,
                                        encoding_from_range(blocked, mn, mx, {2, 8}).value()));
  qm.points.push_back(testing::point_on("y", TensorKind::kActivation, "relu", -1, half, std::nullopt));
  testing::TempDir dir("aimet_block");
  ASSERT_TRUE(export_aimet_encodings(qm, dir.file("v1.json"), AimetEncodingVersion::k1_0_0).ok());
  json j = read_json(dir.file("v1.json"));
  const json& wj = j["param_encodings"][0];
  EXPECT_EQ(wj["enc_type"], "PER_BLOCK");
  EXPECT_EQ(wj["block_size"], 8);
  EXPECT_EQ(wj["scale"].size(), 16u);
  EXPECT_EQ(wj["offset"][0], -8);
  EXPECT_EQ(j["activation_encodings"][0],
            json({{"name", "y"}, {"dtype", "FLOAT"}, {"enc_type", "PER_TENSOR"}, {"bw", 16}}));
  ASSERT_TRUE(export_aimet_encodings(qm, dir.file("v0.json"), AimetEncodingVersion::k0_6_1).ok());
  json j0 = read_json(dir.file("v0.json"));
  EXPECT_EQ(j0["activation_encodings"]["y"], json::parse(R"([{"bitwidth": 16, "dtype": "float"}])"));
  EXPECT_EQ(j0["param_encodings"]["w"].size(), 16u);

  qm.points[1].config.spec.format = NumberFormat::kBFloat16;
  Status s = export_aimet_encodings(qm, dir.file("bf16.json"), AimetEncodingVersion::k1_0_0);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_EQ(s.message(),
            "AIMET encodings export: activation 'y' uses bfloat16; AIMET encodings describe "
            "integer and float16 tensors only");
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"v0.json", "v1.json"}));
}

TEST(AimetEncodings, DisabledLayersAreExcluded) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  for (QuantPoint& p : qm.points)
    if (p.node == "/classifier/classifier.4/Gemm") p.enabled = false;
  testing::TempDir dir("aimet_excluded");
  ASSERT_TRUE(export_aimet_encodings(qm, dir.file("m.encodings"), AimetEncodingVersion::k0_6_1).ok());
  json j = read_json(dir.file("m.encodings"));
  EXPECT_EQ(j["excluded_layers"], json({"/classifier/classifier.4/Gemm"}));
  EXPECT_FALSE(j["param_encodings"].contains("classifier.4.weight"));
  EXPECT_FALSE(j["activation_encodings"].contains("logits"));
}

TEST(VaiqQuantInfo, FloatScalesGiveBitWidthScaleZeroPointMax) {
  QuantizedModel qm = testing::fashion_quantized_model(testing::fashion_w8a8());
  testing::TempDir dir("vaiq_float");
  ASSERT_TRUE(export_vaiq_quant_info(qm, dir.file("quant_info.json")).ok());
  json j = read_json(dir.file("quant_info.json"));
  EXPECT_EQ(j["fast_finetuned"], false);
  EXPECT_EQ(j["input"], json::object());
  EXPECT_EQ(j["param"].size(), 10u);
  EXPECT_EQ(j["output"].size(), 6u);  // model input + 5 activations
  for (const QuantPoint& p : qm.points) {
    SCOPED_TRACE(p.value);
    const Encoding& e = *p.encoding;
    const bool param = p.kind == TensorKind::kWeight || p.kind == TensorKind::kBias;
    const json& entries = j[param ? "param" : "output"][p.value];
    ASSERT_EQ(entries.size(), static_cast<size_t>(e.num_params()));
    for (size_t i = 0; i < entries.size(); ++i) {
      ASSERT_EQ(entries[i].size(), 4u);
      EXPECT_EQ(entries[i][0], e.spec.bits);
      EXPECT_EQ(entries[i][1].get<float>(), e.scale[i]);
      EXPECT_EQ(entries[i][2], e.zero_point[i]);
      EXPECT_EQ(entries[i][3].get<float>(), e.range_max(static_cast<int64_t>(i)));
    }
  }
}

QuantizedModel pow2_model(const std::string& target) {
  // x -> Conv-less stand-in: MatMul with a power-of-two weight, Relu output, all per tensor.
  Tensor w = testing::random_tensor({16, 8}, -1.0f, 1.0f, 41);
  testing::TinyModel t(13);
  Value* x = t.input("x", {2, 16});
  Value* h = t.node("MatMul", "mm", {x, t.init("w", w)}, "h");
  t.output(t.node("Relu", "relu", {h}, "y"));
  QuantSpec s;
  s.scale_type = ScaleType::kPowerOfTwo;
  QuantizedModel qm;
  qm.model = t.done();
  qm.points.push_back(testing::point_on("x", TensorKind::kInput, "", -1, s,
                                        encoding_from_fix_pos(s, {6}).value()));
  qm.points.push_back(testing::point_on("w", TensorKind::kWeight, "mm", 1, s,
                                        encoding_from_fix_pos(s, {7}).value()));
  qm.points.push_back(testing::point_on("y", TensorKind::kActivation, "relu", -1, s,
                                        encoding_from_fix_pos(s, {4}).value()));
  qm.config.target_device = target;
  return qm;
}

TEST(VaiqQuantInfo, PowerOfTwoScalesGiveBitWidthFixPos) {
  testing::TempDir dir("vaiq_dpu");
  for (const char* target : {"DPU", ""}) {
    SCOPED_TRACE(target);
    ASSERT_TRUE(export_vaiq_quant_info(pow2_model(target), dir.file("q.json")).ok());
    json j = read_json(dir.file("q.json"));
    EXPECT_EQ(j["param"], json::parse(R"({"w": [[8, 7]]})"));
    EXPECT_EQ(j["output"], json::parse(R"({"x": [[8, 6]], "y": [[8, 4]]})"));
  }
  // CPU / GPU write float scales even for powers of two.
  ASSERT_TRUE(export_vaiq_quant_info(pow2_model("CPU"), dir.file("cpu.json")).ok());
  EXPECT_EQ(read_json(dir.file("cpu.json"))["param"], json::parse(R"({"w": [[8, 0.0078125, 0, 0.9921875]]})"));

  QuantizedModel bad = pow2_model("DPU");
  QuantSpec f;
  bad.points[2].encoding = encoding_from_range(f, {-1.0f}, {1.0f}).value();
  Status s = export_vaiq_quant_info(bad, dir.file("bad.json"));
  EXPECT_EQ(s.code(), StatusCode::kInvalid);
  EXPECT_EQ(s.message(), "vai_q quant_info export: activation 'y' has encoding " +
                             bad.points[2].encoding->describe() +
                             ", but target_device DPU needs a per-tensor symmetric power-of-two "
                             "scale ([bit_width, fix_pos])");
}

TEST(VaiqQuantInfo, LayerInputPointsGoToInput) {
  QuantizedModel qm = pow2_model("");
  qm.points[0].kind = TensorKind::kActivation;  // modelslim-style layer input of "mm"
  qm.points[0].node = "mm";
  qm.points[0].input_index = 0;
  testing::TempDir dir("vaiq_input");
  ASSERT_TRUE(export_vaiq_quant_info(qm, dir.file("q.json")).ok());
  json j = read_json(dir.file("q.json"));
  EXPECT_EQ(j["input"], json::parse(R"({"x": [[8, 6]]})"));
  EXPECT_EQ(j["output"], json::parse(R"({"y": [[8, 4]]})"));
}

}  // namespace
}  // namespace quench
