// AIMET runtime config: AIMET's default and per-channel configs (examples/aimet), bit widths from
// default_output_bw / default_param_bw, op_type rules, supergroups, model input/output flags and
// the messages for unknown keys, bad "True"/"False" values and bad bit widths.
#include <gtest/gtest.h>

#include "config/config_formats.h"
#include "testutil.h"

namespace quench {
namespace {

QuantConfig parse_ok(std::string_view json, int output_bw = 8, int param_bw = 8) {
  Result<QuantConfig> r = parse_aimet_config(json, output_bw, param_bw);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : QuantConfig{};
}

QuantConfig load_example(const std::string& name) {
  Result<QuantConfig> r =
      load_quant_config(testing::source_path("examples/aimet/" + name), ConfigFormat::kAimet);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : QuantConfig{};
}

// The smallest file AIMET's schema accepts, with `extra` keys spliced in at the top level.
std::string minimal(const std::string& extra = "") {
  return R"({"defaults": {"ops": {}, "params": {}})" + (extra.empty() ? "" : ", " + extra) + "}";
}

TEST(AimetConfig, DefaultConfigExample) {
  QuantConfig c = load_example("default_config.json");
  EXPECT_EQ(c.source, "aimet");
  EXPECT_EQ(c.placement, Placement::kOutputs);
  // Activations: 8-bit asymmetric (unsigned grid with an offset), tf_enhanced ranges.
  EXPECT_TRUE(c.activation.enabled);
  EXPECT_EQ(c.activation.spec.bits, 8);
  EXPECT_FALSE(c.activation.spec.symmetric);
  EXPECT_FALSE(c.activation.spec.is_signed);
  EXPECT_EQ(c.activation.spec.granularity, Granularity::kPerTensor);
  EXPECT_EQ(c.activation.spec.round_mode, RoundMode::kHalfAwayFromZero);
  EXPECT_EQ(c.activation.observer.method, CalibMethod::kTfEnhanced);
  EXPECT_EQ(c.input.spec, c.activation.spec);
  // Weights: 8-bit symmetric per tensor, unsigned_symmetric on, strict off, min-max.
  EXPECT_TRUE(c.weight.enabled);
  EXPECT_EQ(c.weight.spec.bits, 8);
  EXPECT_TRUE(c.weight.spec.symmetric);
  EXPECT_TRUE(c.weight.spec.is_signed);
  EXPECT_TRUE(c.weight.spec.unsigned_symmetric);
  EXPECT_FALSE(c.weight.spec.strict_symmetric);
  EXPECT_EQ(c.weight.spec.granularity, Granularity::kPerTensor);
  EXPECT_EQ(c.weight.observer.method, CalibMethod::kMinMax);
  // params.bias.is_quantized False: biases stay float.
  EXPECT_EQ(c.bias_mode, BiasMode::kFloat);
  EXPECT_FALSE(c.bias.enabled);
  EXPECT_TRUE(c.layers.empty());
  EXPECT_EQ(*c.supergroups, (std::vector<std::vector<std::string>>{
                               {"Conv", "Relu"}, {"Add", "Relu"}, {"Gemm", "Relu"}}));
  EXPECT_TRUE(c.quantize_model_inputs);
  EXPECT_TRUE(c.quantize_model_outputs);
}

TEST(AimetConfig, PerChannelExample) {
  QuantConfig c = load_example("per_channel_config.json");
  EXPECT_EQ(c.weight.spec.granularity, Granularity::kPerChannel);
  EXPECT_TRUE(c.weight.observer.per_channel);
  EXPECT_TRUE(c.weight.spec.symmetric);
  ASSERT_EQ(c.layers.size(), 3u);
  const char* ops[] = {"Squeeze", "Pad", "Mean"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.layers[i].op_type, ops[i]);
    EXPECT_EQ(c.layers[i].origin, std::string("op_type.") + ops[i]);
    EXPECT_EQ(c.layers[i].quantize_output, std::optional<bool>(false));
    EXPECT_FALSE(c.layers[i].quantize_inputs.has_value());
    EXPECT_FALSE(c.layers[i].weight.has_value());
  }
  ASSERT_TRUE(c.supergroups.has_value());
  ASSERT_EQ(c.supergroups->size(), 5u);
  EXPECT_EQ((*c.supergroups)[2],
            (std::vector<std::string>{"Conv", "BatchNormalization", "Relu"}));
}

TEST(AimetConfig, BitWidthsComeFromTheArgumentsOrTheFile) {
  QuantConfig c = parse_ok(minimal(), 16, 4);
  EXPECT_EQ(c.activation.spec.bits, 16);
  EXPECT_EQ(c.input.spec.bits, 16);
  EXPECT_EQ(c.weight.spec.bits, 4);
  EXPECT_EQ(c.bias.spec.bits, 4);
  QuantConfig f = parse_ok(minimal(R"("default_output_bw": 4, "default_param_bw": 16)"), 8, 8);
  EXPECT_EQ(f.activation.spec.bits, 4);
  EXPECT_EQ(f.weight.spec.bits, 16);
  // The dispatcher passes the CLI's values through.
  Result<QuantConfig> d = parse_quant_config(minimal(), ConfigFormat::kAimet, "", 16, 8);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->activation.spec.bits, 16);
}

TEST(AimetConfig, MissingSectionsTakeAimetsDefaults) {
  QuantConfig c = parse_ok(minimal());
  EXPECT_FALSE(c.quantize_model_inputs);  // AIMET leaves input quantizers off unless asked
  EXPECT_TRUE(c.quantize_model_outputs);
  EXPECT_EQ(c.bias_mode, BiasMode::kQuantized);  // params default to quantized
  EXPECT_TRUE(c.bias.spec.symmetric);
  EXPECT_FALSE(c.supergroups.has_value());
  EXPECT_TRUE(c.weight.spec.unsigned_symmetric);
}

TEST(AimetConfig, DefaultsSetSymmetryStrictnessAndTheGlobalRule) {
  QuantConfig c = parse_ok(R"({"defaults": {
      "ops": {"is_output_quantized": false, "is_symmetric": "True", "is_input_quantized": "True"},
      "params": {"is_quantized": "True", "is_symmetric": "False"},
      "strict_symmetric": "True", "unsigned_symmetric": "False"},
    "params": {"weight": {"is_symmetric": "True"}},
    "model_input": {"is_input_quantized": "False"},
    "model_output": {"is_output_quantized": "False"}})");
  EXPECT_TRUE(c.activation.spec.symmetric);
  EXPECT_TRUE(c.activation.spec.is_signed);
  EXPECT_TRUE(c.activation.spec.strict_symmetric);
  EXPECT_FALSE(c.activation.spec.unsigned_symmetric);
  EXPECT_EQ(c.activation.spec.qmin(), -127);  // strict symmetric grid
  EXPECT_TRUE(c.weight.spec.symmetric);        // params.weight beats defaults.params
  EXPECT_FALSE(c.bias.spec.symmetric);         // defaults.params
  EXPECT_FALSE(c.bias.spec.is_signed);
  EXPECT_FALSE(c.bias.spec.strict_symmetric);  // strictness is for symmetric grids only
  ASSERT_EQ(c.layers.size(), 1u);
  EXPECT_EQ(c.layers[0].op_type, "");
  EXPECT_EQ(c.layers[0].origin, "defaults.ops");
  EXPECT_EQ(c.layers[0].quantize_output, std::optional<bool>(false));
  EXPECT_EQ(c.layers[0].quantize_inputs, std::optional<bool>(true));
  EXPECT_FALSE(c.quantize_model_inputs);
  EXPECT_FALSE(c.quantize_model_outputs);
}

TEST(AimetConfig, OpTypeEntriesBecomeLayerRules) {
  QuantConfig c = parse_ok(minimal(R"("params": {"bias": {"is_quantized": "False"}},
      "op_type": {
        "Conv": {"is_input_quantized": "True", "is_symmetric": "True",
                 "per_channel_quantization": "True",
                 "params": {"bias": {"is_quantized": "True"}}},
        "Gemm": {"params": {"weight": {"is_quantized": "False"}}},
        "Softmax": {"is_output_quantized": "True"}})"), 8, 4);
  ASSERT_EQ(c.layers.size(), 3u);
  const LayerRule& conv = c.layers[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.quantize_inputs, std::optional<bool>(true));
  EXPECT_FALSE(conv.quantize_output.has_value());
  ASSERT_TRUE(conv.activation && conv.input && conv.weight && conv.bias);
  EXPECT_TRUE(conv.activation->spec.symmetric);
  EXPECT_EQ(conv.activation->observer.method, CalibMethod::kTfEnhanced);
  EXPECT_EQ(conv.weight->spec.granularity, Granularity::kPerChannel);
  EXPECT_EQ(conv.weight->spec.bits, 4);
  EXPECT_TRUE(conv.bias->enabled);
  EXPECT_EQ(conv.bias->spec.granularity, Granularity::kPerChannel);
  EXPECT_EQ(conv.bias_mode, std::optional<BiasMode>(BiasMode::kQuantized));
  const LayerRule& gemm = c.layers[1];
  ASSERT_TRUE(gemm.weight.has_value());
  EXPECT_FALSE(gemm.weight->enabled);
  EXPECT_FALSE(gemm.bias.has_value());
  EXPECT_FALSE(gemm.activation.has_value());
  EXPECT_EQ(c.layers[2].quantize_output, std::optional<bool>(true));
  EXPECT_EQ(c.bias_mode, BiasMode::kFloat);
}

struct ErrorCase {
  const char* name;
  std::string json;
  StatusCode code;
  const char* message;
};

class AimetConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(AimetConfigErrors, NameThePathTheValueAndTheRule) {
  Result<QuantConfig> r = parse_aimet_config(GetParam().json);
  ASSERT_FALSE(r.ok()) << "parsed";
  EXPECT_EQ(r.status().code(), GetParam().code);
  EXPECT_EQ(r.status().message(), GetParam().message);
}

const StatusCode kInvalid = StatusCode::kInvalid;

const ErrorCase kErrorCases[] = {
    {"UnknownTopLevelKey", minimal(R"("op_types": {})"), kInvalid,
     "aimet config: op_types: unknown key (allowed: defaults, params, op_type, supergroups, "
     "model_input, model_output, default_output_bw, default_param_bw)"},
    {"UnknownOpTypeKey", minimal(R"("op_type": {"Conv": {"is_quantised": "True"}})"), kInvalid,
     "aimet config: op_type.Conv.is_quantised: unknown key (allowed: is_input_quantized, "
     "is_output_quantized, is_symmetric, per_channel_quantization, params, supported_kernels, "
     "encoding_constraints)"},
    {"UnknownDefaultsOpsKey", R"({"defaults": {"ops": {"is_quantized": "True"}, "params": {}}})",
     kInvalid,
     "aimet config: defaults.ops.is_quantized: unknown key (allowed: is_input_quantized, "
     "is_output_quantized, is_symmetric)"},
    {"UnknownParamName", minimal(R"("params": {"weights": {"is_quantized": "True"}})"), kInvalid,
     "aimet config: params.weights: unknown key (allowed: weight, bias)"},
    {"LowercaseTrue",
     R"({"defaults": {"ops": {"is_output_quantized": "true"}, "params": {}}})", kInvalid,
     "aimet config: defaults.ops.is_output_quantized: expected \"True\", \"False\" or a boolean "
     "(got \"true\")"},
    {"FlagAsInt", minimal(R"("model_input": {"is_input_quantized": 1})"), kInvalid,
     "aimet config: model_input.is_input_quantized: expected \"True\", \"False\" or a boolean "
     "(got 1)"},
    {"OutputBitWidth", minimal(R"("default_output_bw": 40)"), kInvalid,
     "aimet config: default_output_bw: 40 is out of range [2, 16]"},
    {"ParamBitWidthType", minimal(R"("default_param_bw": "8")"), kInvalid,
     "aimet config: default_param_bw: expected an integer (got \"8\")"},
    {"NoDefaults", R"({"op_type": {}})", kInvalid, "aimet config: needs a \"defaults\" section"},
    {"NoDefaultsParams", R"({"defaults": {"ops": {}}})", kInvalid,
     "aimet config: defaults: needs \"params\""},
    {"LowercaseOpType", minimal(R"("op_type": {"conv": {}})"), kInvalid,
     "aimet config: op_type.conv: \"conv\" is not an ONNX op type (e.g. Conv, Gemm, Relu)"},
    {"SupergroupOfOne", minimal(R"("supergroups": [{"op_list": ["Conv"]}])"), kInvalid,
     "aimet config: supergroups[0].op_list: [\"Conv\"] has fewer than 2 op types (a supergroup "
     "fuses a chain)"},
    {"SupergroupOpType", minimal(R"("supergroups": [{"op_list": ["Conv", "relu"]}])"), kInvalid,
     "aimet config: supergroups[0].op_list[1]: \"relu\" is not an ONNX op type (e.g. Conv, Gemm, "
     "Relu)"},
    {"SupergroupKey", minimal(R"("supergroups": [{"ops": ["Conv", "Relu"]}])"), kInvalid,
     "aimet config: supergroups[0].ops: unknown key (allowed: op_list)"},
    {"SupportedKernels",
     R"({"defaults": {"ops": {}, "params": {}, "supported_kernels": [{"activation":
         {"bitwidth": 8, "dtype": "int"}, "param": {"bitwidth": 8, "dtype": "int"}}]}})",
     StatusCode::kUnsupported,
     "aimet config: defaults.supported_kernels: not supported by quench yet (remove it to "
     "simulate without it)"},
};

INSTANTIATE_TEST_SUITE_P(Table, AimetConfigErrors, ::testing::ValuesIn(kErrorCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AimetConfig, BitWidthArgumentsAreCheckedToo) {
  Result<QuantConfig> r = parse_aimet_config(minimal(), 1, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "aimet config: default_output_bw: 1 is out of range [2, 16]");
}

}  // namespace
}  // namespace quench
