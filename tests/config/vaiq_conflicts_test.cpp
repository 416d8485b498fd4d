// Every conflict rule of vai_q (SPEC B) as one row: a config that breaks it and the exact message,
// which names the JSON path of the more specific of the two settings, its value and the rule.
#include <gtest/gtest.h>

#include "config/config_formats.h"

namespace quench {
namespace {

struct ConflictCase {
  const char* name;
  const char* json;
  const char* message;
};

class VaiqConflicts : public ::testing::TestWithParam<ConflictCase> {};

TEST_P(VaiqConflicts, AreErrorsNamingPathValueAndRule) {
  Result<QuantConfig> r = parse_vaiq_config(GetParam().json);
  ASSERT_FALSE(r.ok()) << "parsed";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(r.status().message(), GetParam().message);
}

// A valid CPU int8 setting that rows then break one field at a time.
#define CPU_FLOAT                                                                   \
  R"("target_device": "CPU", "overall_quantize_config": {"method": "maxmin", )" \
  R"("scale_type": "float", "calib_statistic_method": "max"})"

const ConflictCase kCases[] = {
    // DPU + int: one allowed value per field.
    {"DpuSymmetry", R"({"overall_quantize_config": {"symmetry": false}})",
     "vai_q config: overall_quantize_config.symmetry: false is not allowed for int input on "
     "target_device DPU (allowed: true)"},
    {"DpuMethod", R"({"tensor_quantize_config": {"activation": {"method": "entropy"}}})",
     "vai_q config: tensor_quantize_config.activation.method: \"entropy\" is not allowed for int "
     "activation on target_device DPU (allowed: diffs, maxmin)"},
    {"DpuPerChannel",
     R"({"target_device": "DPU", "tensor_quantize_config": {"weights": {"per_channel": true}}})",
     "vai_q config: tensor_quantize_config.weights.per_channel: true is not allowed for int "
     "weights on target_device DPU (allowed: false)"},
    {"DpuScaleType", R"({"tensor_quantize_config": {"bias": {"scale_type": "float"}}})",
     "vai_q config: tensor_quantize_config.bias.scale_type: \"float\" is not allowed for int bias "
     "on target_device DPU (allowed: poweroftwo)"},
    {"DpuNarrowRange", R"({"tensor_quantize_config": {"weights": {"narrow_range": true}}})",
     "vai_q config: tensor_quantize_config.weights.narrow_range: true is not allowed for int "
     "weights on target_device DPU (allowed: false)"},
    {"DpuStatistic",
     R"({"tensor_quantize_config": {"input": {"calib_statistic_method": "median"}}})",
     "vai_q config: tensor_quantize_config.input.calib_statistic_method: \"median\" is not "
     "allowed for int input on target_device DPU (allowed: modal)"},
    {"DpuActivationRounding",
     R"({"tensor_quantize_config": {"activation": {"round_mode": "std_round"}}})",
     "vai_q config: tensor_quantize_config.activation.round_mode: \"std_round\" is not allowed "
     "for int activation on target_device DPU (allowed: half_up)"},
    {"DpuInputRounding", R"({"overall_quantize_config": {"round_mode": "half_up"}})",
     "vai_q config: overall_quantize_config.round_mode: \"half_up\" is not allowed for int input "
     "on target_device DPU (allowed: std_round)"},
    {"DpuBiasBitWidth", R"({"tensor_quantize_config": {"bias": {"bit_width": 16}}})",
     "vai_q config: tensor_quantize_config.bias.bit_width: 16 is not allowed for int bias on "
     "target_device DPU (allowed: the activation bit_width, 8)"},
    {"DpuActivationBitWidth",
     R"({"overall_quantize_config": {"bit_width": 4},
         "tensor_quantize_config": {"activation": {"bit_width": 8}}})",
     "vai_q config: tensor_quantize_config.activation.bit_width: 8 is not allowed for int "
     "activation on target_device DPU (allowed: the bias bit_width, 4)"},
    {"DpuInLayer",
     R"({"layer_quantize_config": [{"layer_type": "Gemm", "quantizable_data_type": ["weights"],
         "tensor_quantize_config": {"weights": {"per_channel": true}}}]})",
     "vai_q config: layer_quantize_config[0].tensor_quantize_config.weights.per_channel: true is "
     "not allowed for int weights on target_device DPU (allowed: false)"},

    // CPU / GPU + int.
    {"PerChannelActivation", "{" CPU_FLOAT R"(,
         "tensor_quantize_config": {"activation": {"per_channel": true}}})",
     "vai_q config: tensor_quantize_config.activation.per_channel: true is not allowed for int "
     "activation on target_device CPU (allowed: false; per_channel is for weights only)"},
    {"PerChannelFloatNeedsMaxmin", "{" CPU_FLOAT R"(,
         "tensor_quantize_config": {"weights": {"per_channel": true, "method": "mse"}}})",
     "vai_q config: tensor_quantize_config.weights.method: \"mse\" needs per_channel=false when "
     "scale_type is float for int weights on CPU (got true)"},
    {"PerChannelFloatNeedsMaxminReportsTheLayerSetting",
     R"({"target_device": "GPU", "quantizable_data_type": ["weights"],
         "overall_quantize_config": {"method": "mse", "scale_type": "float"},
         "layer_quantize_config": [{"layer_name": "fc", "quantizable_data_type": ["weights"],
           "tensor_quantize_config": {"weights": {"per_channel": true}}}]})",
     "vai_q config: layer_quantize_config[0].tensor_quantize_config.weights.per_channel: true "
     "needs method maxmin when scale_type is float for int weights on GPU (got \"mse\")"},
    {"PowerOfTwoMethod", R"({"target_device": "CPU",
         "overall_quantize_config": {"method": "entropy"}})",
     "vai_q config: overall_quantize_config.method: \"entropy\" needs scale_type float for int "
     "input on CPU (got \"poweroftwo\")"},
    {"PowerOfTwoMethodReportsScaleType",
     R"({"target_device": "GPU", "quantizable_data_type": ["weights"],
         "overall_quantize_config": {"method": "mse", "scale_type": "float"},
         "tensor_quantize_config": {"weights": {"scale_type": "poweroftwo"}}})",
     "vai_q config: tensor_quantize_config.weights.scale_type: \"poweroftwo\" needs method diffs "
     "or maxmin for int weights on GPU (got \"mse\")"},
    {"PowerOfTwoPerChannelMethod",
     R"({"target_device": "CPU", "quantizable_data_type": ["weights"],
         "tensor_quantize_config": {"weights": {"per_channel": true, "method": "percentile"}}})",
     "vai_q config: tensor_quantize_config.weights.method: \"percentile\" needs scale_type float "
     "for int weights on CPU (got \"poweroftwo\")"},
    {"PowerOfTwoAsymmetric",
     R"({"target_device": "CPU", "overall_quantize_config": {"symmetry": false}})",
     "vai_q config: overall_quantize_config.symmetry: false needs scale_type float for int input "
     "on CPU (got \"poweroftwo\")"},
    {"PowerOfTwoUnsigned",
     R"({"target_device": "CPU", "tensor_quantize_config": {"weights": {"signed": false}}})",
     "vai_q config: tensor_quantize_config.weights.signed: false needs scale_type float for int "
     "weights on CPU (got \"poweroftwo\")"},
    {"PowerOfTwoStatistic",
     R"({"target_device": "CPU", "overall_quantize_config": {"calib_statistic_method": "max"}})",
     "vai_q config: overall_quantize_config.calib_statistic_method: \"max\" needs scale_type float "
     "for int input on CPU (got \"poweroftwo\")"},
    {"FloatScaleDiffs",
     R"({"target_device": "CPU", "overall_quantize_config": {"scale_type": "float",
         "calib_statistic_method": "max"}})",
     "vai_q config: overall_quantize_config.scale_type: \"float\" needs method maxmin, "
     "percentile, mse or entropy for int input on CPU (got \"diffs\")"},
    {"FloatScaleDefaultModal",
     R"({"target_device": "CPU", "overall_quantize_config": {"scale_type": "float",
         "method": "maxmin"}})",
     "vai_q config: overall_quantize_config.scale_type: \"float\" needs calib_statistic_method "
     "max, mean or median for int input on CPU (got \"modal\")"},
    {"FloatScaleModal", "{" CPU_FLOAT R"(,
         "tensor_quantize_config": {"activation": {"calib_statistic_method": "modal"}}})",
     "vai_q config: tensor_quantize_config.activation.calib_statistic_method: \"modal\" needs "
     "scale_type poweroftwo for int activation on CPU (got \"float\")"},
    {"AsymmetricEntropy", "{" CPU_FLOAT R"(,
         "layer_quantize_config": [
           {"layer_type": "Gemm", "quantizable_data_type": ["weights", "activation"]},
           {"layer_name": "fc", "quantizable_data_type": ["activation"],
            "overall_quantize_config": {"method": "entropy", "symmetry": false}}]})",
     "vai_q config: layer_quantize_config[1].overall_quantize_config.method: \"entropy\" needs "
     "symmetry=true for int activation on CPU (got false)"},
    {"AsymmetricMseReportsSymmetry", "{" CPU_FLOAT R"(,
         "tensor_quantize_config": {"activation": {"method": "mse"}},
         "layer_quantize_config": [{"layer_name": "fc", "quantizable_data_type": ["activation"],
            "tensor_quantize_config": {"activation": {"symmetry": false}}}]})",
     "vai_q config: layer_quantize_config[0].tensor_quantize_config.activation.symmetry: false "
     "needs method maxmin for int activation on CPU (got \"mse\")"},
};

INSTANTIATE_TEST_SUITE_P(Table, VaiqConflicts, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(VaiqConflicts, NonIntDatatypesAndValidCombinationsPass) {
  for (const char* json : {
           R"({"overall_quantize_config": {"datatype": "bfloat16", "symmetry": false,
                                           "method": "entropy"}})",
           R"({"target_device": "CPU", "overall_quantize_config": {"symmetry": false,
               "method": "maxmin", "scale_type": "float", "calib_statistic_method": "mean"}})",
           R"({"target_device": "CPU", "tensor_quantize_config": {"weights": {
               "per_channel": true, "method": "maxmin"}}})",
           R"({"target_device": "GPU", "overall_quantize_config": {"method": "entropy",
               "scale_type": "float", "calib_statistic_method": "median"}})",
       }) {
    Result<QuantConfig> r = parse_vaiq_config(json);
    EXPECT_TRUE(r.ok()) << json << "\n" << r.status().message();
  }
}

}  // namespace
}  // namespace quench
