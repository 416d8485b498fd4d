// vai_q JSON front-end: the built-in default, the three example files of the Vitis AI guide
// (examples/vai_q), the layering overall -> tensor -> layer, and the messages for unknown keys,
// wrong types and bad values. The conflict rules have their own table (vaiq_conflicts_test.cpp).
#include <gtest/gtest.h>

#include "config/config_formats.h"
#include "testutil.h"

namespace quench {
namespace {

QuantConfig parse_ok(std::string_view json) {
  Result<QuantConfig> r = parse_vaiq_config(json);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : QuantConfig{};
}

std::string parse_error(std::string_view json) {
  Result<QuantConfig> r = parse_vaiq_config(json);
  if (r.ok()) return "<parsed>";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  return r.status().message();
}

QuantConfig load_example(const std::string& name) {
  Result<QuantConfig> r = load_quant_config(testing::source_path("examples/vai_q/" + name),
                                            ConfigFormat::kVaiq);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : QuantConfig{};
}

// The fields a vai_q int setting maps to, compared in one go.
struct IntExpect {
  int bits;
  bool is_signed, symmetric, per_channel, pow2;
  RoundMode round;
  CalibMethod method;
  BatchStatistic statistic;
};

void expect_int(const TensorQuantConfig& t, const IntExpect& e, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.spec.format, NumberFormat::kInt);
  EXPECT_EQ(t.spec.bits, e.bits);
  EXPECT_EQ(t.spec.is_signed, e.is_signed);
  EXPECT_EQ(t.spec.symmetric, e.symmetric);
  EXPECT_FALSE(t.spec.narrow_range);
  EXPECT_EQ(t.spec.granularity, e.per_channel ? Granularity::kPerChannel : Granularity::kPerTensor);
  EXPECT_EQ(t.observer.per_channel, e.per_channel);
  EXPECT_EQ(t.spec.scale_type, e.pow2 ? ScaleType::kPowerOfTwo : ScaleType::kFloat);
  EXPECT_EQ(t.spec.round_mode, e.round);
  EXPECT_EQ(t.observer.method, e.method);
  EXPECT_EQ(t.observer.batch_statistic, e.statistic);
}

TEST(VaiqConfig, EmptyFileIsTheBuiltInDpuDefault) {
  QuantConfig c = parse_ok("{}");
  EXPECT_EQ(c.source, "vai_q");
  EXPECT_EQ(c.target_device, "DPU");
  EXPECT_EQ(c.placement, Placement::kOutputs);
  const RoundMode std_round = RoundMode::kHalfAwayFromZero;
  expect_int(c.input, {8, true, true, false, true, std_round, CalibMethod::kVaiqDiffs,
                       BatchStatistic::kModal}, "input");
  expect_int(c.weight, {8, true, true, false, true, std_round, CalibMethod::kVaiqDiffs,
                        BatchStatistic::kNone}, "weights");
  expect_int(c.bias, {8, true, true, false, true, std_round, CalibMethod::kVaiqDiffs,
                      BatchStatistic::kNone}, "bias");
  expect_int(c.activation, {8, true, true, false, true, RoundMode::kHalfUp,
                            CalibMethod::kVaiqDiffs, BatchStatistic::kModal}, "activation");
  EXPECT_EQ(c.bias_mode, BiasMode::kQuantized);
  EXPECT_TRUE(c.quantize_model_inputs);
  EXPECT_TRUE(c.algorithms.cle);
  EXPECT_TRUE(c.algorithms.bias_correction);
  EXPECT_FALSE(c.algorithms.convert_relu6_to_relu);
  EXPECT_FALSE(c.algorithms.convert_silu_to_hswish);
  EXPECT_FALSE(c.keep_first_last_float);
  EXPECT_FALSE(c.keep_add_float);
  EXPECT_TRUE(c.layers.empty());
}

TEST(VaiqConfig, IntExampleGivesInt8MaxminFloatScalesEverywhere) {
  QuantConfig c = load_example("int_config.json");
  EXPECT_EQ(c.target_device, "CPU");
  const IntExpect per_tensor = {8, true, true, false, false, RoundMode::kHalfEven,
                                CalibMethod::kVaiqMaxmin, BatchStatistic::kMax};
  IntExpect params = per_tensor;
  params.statistic = BatchStatistic::kNone;  // calib_statistic_method: input and activation only
  expect_int(c.input, per_tensor, "input");
  expect_int(c.activation, per_tensor, "activation");
  expect_int(c.weight, params, "weights");
  expect_int(c.bias, params, "bias");
  EXPECT_FALSE(c.algorithms.cle);
  EXPECT_FALSE(c.algorithms.bias_correction);
  EXPECT_TRUE(c.layers.empty());
}

TEST(VaiqConfig, Bfloat16ExampleMakesEveryTensorBfloat16) {
  QuantConfig c = load_example("bfloat16_config.json");
  for (const TensorQuantConfig* t : {&c.input, &c.weight, &c.bias, &c.activation}) {
    EXPECT_TRUE(t->enabled);
    EXPECT_EQ(t->spec.format, NumberFormat::kBFloat16);
    EXPECT_EQ(t->spec.bits, 16);
  }
  EXPECT_TRUE(c.layers.empty());
}

TEST(VaiqConfig, MixedPrecisionExampleLayersIntConvsOverBfloat16) {
  QuantConfig c = load_example("mix_precision_config.json");
  EXPECT_EQ(c.activation.spec.format, NumberFormat::kBFloat16);
  EXPECT_EQ(c.weight.spec.format, NumberFormat::kBFloat16);
  EXPECT_EQ(c.bias.spec.format, NumberFormat::kFloat16);  // tensor_quantize_config.bias
  EXPECT_EQ(c.bias.spec.bits, 16);
  ASSERT_EQ(c.layers.size(), 2u);

  // By type: all Conv layers int8, per-channel weights, entropy activations.
  const LayerRule& conv = c.layers[0];
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.node_name, "");
  EXPECT_EQ(conv.origin, "layer_quantize_config[0]");
  EXPECT_FALSE(conv.input.has_value());  // not in the entry's quantizable_data_type
  ASSERT_TRUE(conv.weight && conv.bias && conv.activation);
  expect_int(*conv.weight, {8, true, true, true, false, RoundMode::kHalfEven,
                            CalibMethod::kVaiqMaxmin, BatchStatistic::kNone}, "conv weights");
  expect_int(*conv.bias, {8, true, true, false, false, RoundMode::kHalfEven,
                          CalibMethod::kVaiqMaxmin, BatchStatistic::kNone}, "conv bias");
  expect_int(*conv.activation, {8, true, true, false, false, RoundMode::kHalfEven,
                                CalibMethod::kVaiqEntropy, BatchStatistic::kMax}, "conv act");
  EXPECT_EQ(conv.bias_mode, BiasMode::kQuantized);

  // By name, after the type rules: the first conv rounds its activation half_up and, starting
  // from the global settings rather than the Conv rule, has per-tensor weights.
  const LayerRule& first = c.layers[1];
  EXPECT_EQ(first.op_type, "");
  EXPECT_EQ(first.node_name, "/features/features.0/Conv");
  ASSERT_TRUE(first.weight && first.activation);
  expect_int(*first.activation, {8, true, true, false, false, RoundMode::kHalfUp,
                                 CalibMethod::kVaiqMaxmin, BatchStatistic::kMax}, "conv0 act");
  EXPECT_EQ(first.weight->spec.granularity, Granularity::kPerTensor);
}

TEST(VaiqConfig, TensorSettingsOverrideOverallOnes) {
  QuantConfig c = parse_ok(R"({
    "target_device": "CPU",
    "overall_quantize_config": {"method": "maxmin", "scale_type": "float",
                                "calib_statistic_method": "mean", "bit_width": 8},
    "tensor_quantize_config": {
      "weights": {"bit_width": 4, "per_channel": true},
      "activation": {"method": "percentile", "percentage": 99.9, "round_mode": "half_down"},
      "input": {"symmetry": false, "calib_statistic_method": "median"}
    }})");
  EXPECT_EQ(c.weight.spec.bits, 4);
  EXPECT_EQ(c.weight.spec.granularity, Granularity::kPerChannel);
  EXPECT_EQ(c.bias.spec.bits, 8);
  EXPECT_EQ(c.activation.observer.method, CalibMethod::kVaiqPercentile);
  EXPECT_DOUBLE_EQ(c.activation.observer.percentile, 99.9);
  EXPECT_EQ(c.activation.spec.round_mode, RoundMode::kHalfDown);
  EXPECT_EQ(c.activation.observer.batch_statistic, BatchStatistic::kMean);
  // vai_q's asymmetric grid is [0, 2^b - 1] whatever `signed` says.
  EXPECT_FALSE(c.input.spec.symmetric);
  EXPECT_FALSE(c.input.spec.is_signed);
  EXPECT_EQ(c.input.spec.qmin(), 0);
  EXPECT_EQ(c.input.spec.qmax(), 255);
  EXPECT_EQ(c.input.observer.batch_statistic, BatchStatistic::kMedian);
}

TEST(VaiqConfig, IntegerGridsFollowSignedSymmetryAndNarrowRange) {
  QuantConfig c = parse_ok(R"({
    "target_device": "GPU",
    "overall_quantize_config": {"method": "maxmin", "scale_type": "float",
                                "calib_statistic_method": "max"},
    "tensor_quantize_config": {
      "weights": {"narrow_range": true},
      "activation": {"signed": false},
      "bias": {"signed": false, "symmetry": false, "narrow_range": true}
    }})");
  EXPECT_EQ(c.weight.spec.qmin(), -127);
  EXPECT_EQ(c.weight.spec.qmax(), 127);
  EXPECT_TRUE(c.activation.spec.symmetric);  // unsigned symmetric: [0, 255], zero point 0
  EXPECT_EQ(c.activation.spec.qmin(), 0);
  EXPECT_EQ(c.activation.spec.qmax(), 255);
  EXPECT_FALSE(c.bias.spec.narrow_range);  // narrow_range only narrows a signed symmetric grid
  EXPECT_EQ(c.bias.spec.qmin(), 0);
}

TEST(VaiqConfig, QuantizableDataTypeListsTheQuantizedKinds) {
  QuantConfig c = parse_ok(R"({"quantizable_data_type": ["weights", "activation"]})");
  EXPECT_FALSE(c.input.enabled);
  EXPECT_FALSE(c.bias.enabled);
  EXPECT_TRUE(c.weight.enabled);
  EXPECT_TRUE(c.activation.enabled);
  EXPECT_FALSE(c.quantize_model_inputs);
  EXPECT_EQ(parse_error(R"({"quantizable_data_type": ["weights"],
                            "tensor_quantize_config": {"bias": {"bit_width": 8}}})"),
            "vai_q config: tensor_quantize_config.bias: \"bias\" is not in quantizable_data_type");
  EXPECT_EQ(parse_error(R"({"quantizable_data_type": ["weights", "weight"]})"),
            "vai_q config: quantizable_data_type[1]: \"weight\" is not one of input, weights, "
            "bias, activation");
  EXPECT_EQ(parse_error(R"({"quantizable_data_type": ["bias", "bias"]})"),
            "vai_q config: quantizable_data_type[1]: \"bias\" is listed twice");
}

TEST(VaiqConfig, Float32DatatypeKeepsTheKindFloat) {
  QuantConfig c = parse_ok(R"({"tensor_quantize_config": {"bias": {"datatype": "float32"}},
                               "layer_quantize_config": [
                                 {"layer_name": "fc", "quantizable_data_type": ["activation"],
                                  "overall_quantize_config": {"datatype": "float32"}}]})");
  EXPECT_FALSE(c.bias.enabled);
  EXPECT_EQ(c.bias.spec.format, NumberFormat::kFloat32);
  ASSERT_EQ(c.layers.size(), 1u);
  ASSERT_TRUE(c.layers[0].activation.has_value());
  EXPECT_FALSE(c.layers[0].activation->enabled);
  EXPECT_FALSE(c.layers[0].weight.has_value());  // not listed: the global weights apply
}

TEST(VaiqConfig, TopLevelFlagsMapToAlgorithmsAndFloatLayers) {
  QuantConfig c = parse_ok(R"({"convert_relu6_to_relu": true, "convert_silu_to_hswish": true,
                               "include_cle": false, "include_bias_corr": false,
                               "keep_first_last_layer_accuracy": true,
                               "keep_add_layer_accuracy": true, "onnx_opset_version": 14})");
  EXPECT_TRUE(c.algorithms.convert_relu6_to_relu);
  EXPECT_TRUE(c.algorithms.convert_silu_to_hswish);
  EXPECT_FALSE(c.algorithms.cle);
  EXPECT_FALSE(c.algorithms.bias_correction);
  EXPECT_TRUE(c.keep_first_last_float);
  EXPECT_TRUE(c.keep_add_float);
}

TEST(VaiqConfig, TorchLayerTypesAreAliasesOfOnnxOpTypes) {
  QuantConfig c = parse_ok(R"({"layer_quantize_config": [
      {"layer_name": "fc", "layer_type": null, "quantizable_data_type": ["weights"]},
      {"layer_type": "torch.nn.Conv2d", "quantizable_data_type": ["weights"]},
      {"layer_type": "torch.nn.Linear", "layer_name": null, "quantizable_data_type": ["weights"]},
      {"layer_type": "Conv2d", "quantizable_data_type": ["weights"]},
      {"layer_type": "MatMul", "quantizable_data_type": ["weights"]}]})");
  ASSERT_EQ(c.layers.size(), 5u);
  // Type entries first, in file order, then name entries.
  EXPECT_EQ(c.layers[0].op_type, "Conv");
  EXPECT_EQ(c.layers[0].origin, "layer_quantize_config[1]");
  EXPECT_EQ(c.layers[1].op_type, "Gemm");
  EXPECT_EQ(c.layers[2].op_type, "Conv");
  EXPECT_EQ(c.layers[3].op_type, "MatMul");
  EXPECT_EQ(c.layers[4].node_name, "fc");
  EXPECT_EQ(c.layers[4].origin, "layer_quantize_config[0]");
  EXPECT_EQ(parse_error(R"({"layer_quantize_config": [
                {"layer_type": "torch.nn.Frobnicate", "quantizable_data_type": []}]})"),
            "vai_q config: layer_quantize_config[0].layer_type: \"torch.nn.Frobnicate\" is not an "
            "ONNX op type or a torch.nn alias of one (e.g. Conv, torch.nn.Conv2d)");
}

struct ErrorCase {
  const char* name;
  const char* json;
  const char* message;
};

class VaiqConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(VaiqConfigErrors, NameThePathTheValueAndTheRule) {
  EXPECT_EQ(parse_error(GetParam().json), GetParam().message);
}

const ErrorCase kErrorCases[] = {
    {"UnknownTopLevelKey", R"({"include_cl": false})",
     "vai_q config: include_cl: unknown key (allowed: convert_relu6_to_relu, "
     "convert_silu_to_hswish, include_cle, keep_first_last_layer_accuracy, "
     "keep_add_layer_accuracy, include_bias_corr, target_device, quantizable_data_type, "
     "overall_quantize_config, tensor_quantize_config, layer_quantize_config, "
     "onnx_opset_version)"},
    {"UnknownNestedKey",
     R"({"layer_quantize_config": [{"layer_type": "Conv", "quantizable_data_type": ["weights"],
         "tensor_quantize_config": {"weights": {"bitwidth": 4}}}]})",
     "vai_q config: layer_quantize_config[0].tensor_quantize_config.weights.bitwidth: unknown key "
     "(allowed: datatype, bit_width, method, round_mode, symmetry, per_channel, signed, "
     "narrow_range, scale_type, calib_statistic_method, percentage)"},
    {"UnknownTensorKind", R"({"tensor_quantize_config": {"output": {}}})",
     "vai_q config: tensor_quantize_config.output: unknown key (allowed: input, weights, bias, "
     "activation)"},
    {"UnknownLayerKey",
     R"({"layer_quantize_config": [{"layer_type": "Conv", "quantizable_data_type": [],
         "per_channel": true}]})",
     "vai_q config: layer_quantize_config[0].per_channel: unknown key (allowed: layer_type, "
     "layer_name, quantizable_data_type, overall_quantize_config, tensor_quantize_config)"},
    {"BoolAsString", R"({"include_cle": "yes"})",
     "vai_q config: include_cle: expected a boolean (got \"yes\")"},
    {"BitWidthAsString", R"({"overall_quantize_config": {"bit_width": "8"}})",
     "vai_q config: overall_quantize_config.bit_width: expected an integer (got \"8\")"},
    {"BitWidthAsFloat", R"({"overall_quantize_config": {"bit_width": 8.0}})",
     "vai_q config: overall_quantize_config.bit_width: expected an integer (got 8.0)"},
    {"BitWidthOutOfRange", R"({"tensor_quantize_config": {"weights": {"bit_width": 1}}})",
     "vai_q config: tensor_quantize_config.weights.bit_width: 1 is out of range [2, 16]"},
    {"SymmetryAsString", R"({"overall_quantize_config": {"symmetry": "true"}})",
     "vai_q config: overall_quantize_config.symmetry: expected a boolean (got \"true\")"},
    {"MethodCase", R"({"overall_quantize_config": {"method": "Entropy"}})",
     "vai_q config: overall_quantize_config.method: \"Entropy\" is not one of maxmin, percentile, "
     "entropy, mse, diffs"},
    {"Datatype", R"({"overall_quantize_config": {"datatype": "int4"}})",
     "vai_q config: overall_quantize_config.datatype: \"int4\" is not one of int, bfloat16, "
     "float16, float32"},
    {"RoundMode", R"({"overall_quantize_config": {"round_mode": "floor"}})",
     "vai_q config: overall_quantize_config.round_mode: \"floor\" is not one of half_even, "
     "half_up, half_down, std_round"},
    {"ScaleType", R"({"overall_quantize_config": {"scale_type": "pow2"}})",
     "vai_q config: overall_quantize_config.scale_type: \"pow2\" is not one of float, poweroftwo"},
    {"Statistic", R"({"overall_quantize_config": {"calib_statistic_method": "min"}})",
     "vai_q config: overall_quantize_config.calib_statistic_method: \"min\" is not one of modal, "
     "max, mean, median"},
    {"PercentageZero", R"({"overall_quantize_config": {"percentage": 0}})",
     "vai_q config: overall_quantize_config.percentage: 0 is out of range (0, 100]"},
    {"PercentageAbove100", R"({"overall_quantize_config": {"percentage": 100.5}})",
     "vai_q config: overall_quantize_config.percentage: 100.5 is out of range (0, 100]"},
    {"StatisticOnWeights",
     R"({"tensor_quantize_config": {"weights": {"calib_statistic_method": "modal"}}})",
     "vai_q config: tensor_quantize_config.weights.calib_statistic_method: \"modal\" is not used "
     "for weights (calib_statistic_method applies to input and activation only)"},
    {"TargetDevice", R"({"target_device": "NPU"})",
     "vai_q config: target_device: \"NPU\" is not one of DPU, CPU, GPU"},
    {"OverallNotObject", R"({"overall_quantize_config": [8]})",
     "vai_q config: overall_quantize_config: expected an object (got [8])"},
    {"LayersNotArray", R"({"layer_quantize_config": {"layer_type": "Conv"}})",
     "vai_q config: layer_quantize_config: expected an array (got {\"layer_type\":\"Conv\"})"},
    {"LayerTypeAndName",
     R"({"layer_quantize_config": [{"layer_type": "Conv", "layer_name": "c1",
         "quantizable_data_type": []}]})",
     "vai_q config: layer_quantize_config[0]: needs exactly one of layer_type and layer_name "
     "(got both)"},
    {"LayerWithoutTarget",
     R"({"layer_quantize_config": [{"layer_type": null, "quantizable_data_type": []}]})",
     "vai_q config: layer_quantize_config[0]: needs exactly one of layer_type and layer_name "
     "(got neither)"},
    {"LayerWithoutKinds", R"({"layer_quantize_config": [{"layer_name": "c1"}]})",
     "vai_q config: layer_quantize_config[0]: needs quantizable_data_type (the tensor kinds the "
     "entry configures)"},
    {"LayerNameType", R"({"layer_quantize_config": [{"layer_name": 3,
         "quantizable_data_type": []}]})",
     "vai_q config: layer_quantize_config[0].layer_name: expected a string (got 3)"},
    {"LayerTensorNotListed",
     R"({"layer_quantize_config": [{"layer_name": "c1", "quantizable_data_type": ["weights"],
         "tensor_quantize_config": {"activation": {"bit_width": 8}}}]})",
     "vai_q config: layer_quantize_config[0].tensor_quantize_config.activation: \"activation\" is "
     "not in layer_quantize_config[0].quantizable_data_type"},
};

INSTANTIATE_TEST_SUITE_P(Table, VaiqConfigErrors, ::testing::ValuesIn(kErrorCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(VaiqConfig, SourceNamePrefixesMessages) {
  Result<QuantConfig> r = parse_vaiq_config(R"({"include_cle": 1})", "cfg/my.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cfg/my.json: vai_q config: include_cle: expected a boolean (got 1)");
}

}  // namespace
}  // namespace quench
