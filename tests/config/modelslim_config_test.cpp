// modelslim QuantConfig as JSON: the defaults of the Python class, the data-free and label-free
// examples (examples/modelslim), the mapping of act_method / sigma to observers, keep_acc and
// amp_num, and the validation messages.
#include <gtest/gtest.h>

#include "config/config_formats.h"
#include "testutil.h"

namespace quench {
namespace {

QuantConfig parse_ok(std::string_view json) {
  Result<QuantConfig> r = parse_modelslim_config(json);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : QuantConfig{};
}

QuantConfig load_example(const std::string& name) {
  Result<QuantConfig> r = load_quant_config(testing::source_path("examples/modelslim/" + name),
                                            ConfigFormat::kModelslim);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : QuantConfig{};
}

void expect_defaults(const QuantConfig& c) {
  EXPECT_EQ(c.source, "modelslim");
  EXPECT_EQ(c.placement, Placement::kLayerInputs);
  EXPECT_EQ(c.weighted_op_types, (std::vector<std::string>{"Conv", "Gemm", "MatMul"}));
  EXPECT_EQ(c.weight.spec.bits, 8);
  EXPECT_TRUE(c.weight.spec.is_signed);
  EXPECT_TRUE(c.weight.spec.symmetric);
  EXPECT_EQ(c.weight.spec.granularity, Granularity::kPerChannel);
  EXPECT_EQ(c.weight.observer.method, CalibMethod::kMinMax);
  EXPECT_EQ(c.activation.spec.bits, 8);
  EXPECT_FALSE(c.activation.spec.is_signed);
  EXPECT_FALSE(c.activation.spec.symmetric);
  EXPECT_EQ(c.activation.spec.granularity, Granularity::kPerTensor);
  EXPECT_TRUE(c.activation.enabled);
  EXPECT_EQ(c.bias_mode, BiasMode::kInt32);
  EXPECT_TRUE(c.algorithms.fold_batchnorm);
  EXPECT_EQ(c.algorithms.amp_num, 0);
  EXPECT_FALSE(c.algorithms.admm);
  EXPECT_EQ(c.algorithms.admm_iterations, 1000);
  EXPECT_FALSE(c.algorithms.easy_quant);
  EXPECT_EQ(c.algorithms.easy_quant_iterations, 1000);
  EXPECT_FALSE(c.algorithms.round_opt);
}

TEST(ModelslimConfig, EmptyObjectIsTheDataFreeDefault) {
  QuantConfig c = parse_ok("{}");
  expect_defaults(c);
  EXPECT_TRUE(c.data_free);  // quant_mode 0
  EXPECT_TRUE(c.input_shape.empty());
  EXPECT_EQ(c.activation.observer.method, CalibMethod::kSigma);
  EXPECT_EQ(c.activation.observer.sigma, 25);
  EXPECT_TRUE(c.keep_first_last_float);  // disable_names empty
  EXPECT_TRUE(c.disabled_nodes.empty());
}

TEST(ModelslimConfig, NullMeansThePythonDefault) {
  QuantConfig c = parse_ok(R"({"input_shape": null, "disable_names": null, "keep_acc": null,
                               "sigma": null, "w_bit": null})");
  expect_defaults(c);
  EXPECT_EQ(c.activation.observer.sigma, 25);
}

TEST(ModelslimConfig, DataFreeExample) {
  QuantConfig c = load_example("data_free.json");
  expect_defaults(c);
  EXPECT_TRUE(c.data_free);
  EXPECT_EQ(c.input_shape, (Shape{1, 1, 28, 28}));
  EXPECT_EQ(c.activation.observer.method, CalibMethod::kSigma);
  EXPECT_EQ(c.activation.observer.sigma, 25);
  EXPECT_TRUE(c.keep_first_last_float);
}

TEST(ModelslimConfig, LabelFreeExample) {
  QuantConfig c = load_example("label_free.json");
  EXPECT_FALSE(c.data_free);
  EXPECT_EQ(c.activation.observer.method, CalibMethod::kTorchHistogram);
  EXPECT_TRUE(c.activation.spec.is_signed);
  EXPECT_FALSE(c.keep_first_last_float);
  EXPECT_EQ(c.disabled_nodes, (std::vector<std::string>{"/classifier/classifier.4/Gemm"}));
}

TEST(ModelslimConfig, ActivationObserverFollowsActMethodAndSigma) {
  struct Row {
    const char* json;
    CalibMethod method;
    bool data_free;
  };
  for (const Row& row : {
           Row{R"({"sigma": 0})", CalibMethod::kMinMax, true},
           Row{R"({"sigma": 40})", CalibMethod::kSigma, true},
           Row{R"({"quant_mode": 1, "act_method": 1})", CalibMethod::kMinMax, false},
           Row{R"({"quant_mode": 1, "act_method": 2})", CalibMethod::kTorchHistogram, false},
           Row{R"({"quant_mode": 1, "act_method": 0, "sigma": 25})", CalibMethod::kSigma, false},
       }) {
    SCOPED_TRACE(row.json);
    QuantConfig c = parse_ok(row.json);
    EXPECT_EQ(c.activation.observer.method, row.method);
    EXPECT_EQ(c.input.observer.method, row.method);
    EXPECT_EQ(c.data_free, row.data_free);
  }
  EXPECT_EQ(parse_ok(R"({"sigma": 40})").activation.observer.sigma, 40);
}

TEST(ModelslimConfig, BitsSignednessAndSymmetry) {
  QuantConfig c = parse_ok(R"({"w_bit": 4, "a_bit": 16, "w_signed": false, "a_signed": true,
                               "w_sym": false, "a_sym": true, "act_quant": true})");
  EXPECT_EQ(c.weight.spec.bits, 4);
  EXPECT_FALSE(c.weight.spec.is_signed);
  EXPECT_FALSE(c.weight.spec.symmetric);
  EXPECT_EQ(c.activation.spec.bits, 16);
  EXPECT_TRUE(c.activation.spec.is_signed);
  EXPECT_TRUE(c.activation.spec.symmetric);
  EXPECT_EQ(c.input.spec.bits, 16);
  QuantConfig w_only = parse_ok(R"({"act_quant": false})");
  EXPECT_FALSE(w_only.activation.enabled);
  EXPECT_FALSE(w_only.input.enabled);
  EXPECT_TRUE(w_only.weight.enabled);
}

TEST(ModelslimConfig, KeepAccAndAmpNumGoToAlgorithms) {
  QuantConfig c = parse_ok(R"({"amp_num": 5, "keep_acc": {"admm": [true, 300],
                               "easy_quant": [true, 50], "round_opt": [true]}})");
  EXPECT_EQ(c.algorithms.amp_num, 5);
  EXPECT_TRUE(c.algorithms.admm);
  EXPECT_EQ(c.algorithms.admm_iterations, 300);
  EXPECT_TRUE(c.algorithms.easy_quant);
  EXPECT_EQ(c.algorithms.easy_quant_iterations, 50);
  EXPECT_TRUE(c.algorithms.round_opt);
  EXPECT_TRUE(parse_ok(R"({"keep_acc": {"round_opt": true}})").algorithms.round_opt);
}

struct ErrorCase {
  const char* name;
  const char* json;
  const char* message;
};

class ModelslimConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ModelslimConfigErrors, NameTheKeyTheValueAndTheRule) {
  Result<QuantConfig> r = parse_modelslim_config(GetParam().json);
  ASSERT_FALSE(r.ok()) << "parsed";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(r.status().message(), GetParam().message);
}

const ErrorCase kErrorCases[] = {
    {"Sigma101", R"({"sigma": 101})", "modelslim config: sigma: 101 is out of range [0, 100]"},
    {"SigmaNegative", R"({"sigma": -1})", "modelslim config: sigma: -1 is out of range [0, 100]"},
    {"SigmaFloat", R"({"sigma": 2.5})", "modelslim config: sigma: expected an integer (got 2.5)"},
    {"ActMethod3", R"({"quant_mode": 1, "act_method": 3})",
     "modelslim config: act_method: 3 is not one of 0, 1, 2"},
    {"QuantMode2", R"({"quant_mode": 2})", "modelslim config: quant_mode: 2 is not one of 0, 1"},
    {"DataFreeWithActMethod1", R"({"quant_mode": 0, "act_method": 1})",
     "modelslim config: act_method: 1 needs quant_mode=1 (got quant_mode=0: data-free mode takes "
     "act_method 0)"},
    {"DefaultModeWithActMethod2", R"({"act_method": 2})",
     "modelslim config: act_method: 2 needs quant_mode=1 (got quant_mode=0: data-free mode takes "
     "act_method 0)"},
    {"InputShapeLength2", R"({"input_shape": [1, 28]})",
     "modelslim config: input_shape: [1,28] has 2 dimensions (allowed: 0, 3, 4 or 5)"},
    {"InputShapeZeroDim", R"({"input_shape": [1, 0, 28, 28]})",
     "modelslim config: input_shape[1]: 0 is not a positive dimension"},
    {"InputShapeString", R"({"input_shape": "1,1,28,28"})",
     "modelslim config: input_shape: expected an array (got \"1,1,28,28\")"},
    {"WBit1", R"({"w_bit": 1})", "modelslim config: w_bit: 1 is out of range [2, 16]"},
    {"ABit32", R"({"a_bit": 32})", "modelslim config: a_bit: 32 is out of range [2, 16]"},
    {"WBitString", R"({"w_bit": "8"})", "modelslim config: w_bit: expected an integer (got \"8\")"},
    {"SignedAsInt", R"({"w_signed": 1})", "modelslim config: w_signed: expected a boolean (got 1)"},
    {"AmpNumNegative", R"({"amp_num": -1})", "modelslim config: amp_num: -1 must be >= 0"},
    {"DisableNamesNotStrings", R"({"disable_names": ["conv1", 2]})",
     "modelslim config: disable_names[1]: expected a string (got 2)"},
    {"UnknownKey", R"({"w_bits": 8})",
     "modelslim config: w_bits: unknown key (allowed: w_bit, a_bit, w_signed, a_signed, w_sym, "
     "a_sym, input_shape, act_quant, act_method, quant_mode, disable_names, amp_num, keep_acc, "
     "sigma)"},
    {"UnknownKeepAccKey", R"({"keep_acc": {"adaround": [true, 10]}})",
     "modelslim config: keep_acc.adaround: unknown key (allowed: admm, easy_quant, round_opt)"},
    {"KeepAccPairTooShort", R"({"keep_acc": {"admm": [true]}})",
     "modelslim config: keep_acc.admm: expected [enabled, iterations] (got [true])"},
    {"KeepAccIterations", R"({"keep_acc": {"easy_quant": [true, 0]}})",
     "modelslim config: keep_acc.easy_quant[1]: 0 is out of range [1, 1000000]"},
    {"KeepAccRoundOpt", R"({"keep_acc": {"round_opt": "yes"}})",
     "modelslim config: keep_acc.round_opt: expected a boolean or [boolean] (got \"yes\")"},
};

INSTANTIATE_TEST_SUITE_P(Table, ModelslimConfigErrors, ::testing::ValuesIn(kErrorCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quench
