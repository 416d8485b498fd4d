#include "quant/quant_config.h"

#include <array>
#include <utility>

namespace quench {

namespace {

struct MethodName {
  CalibMethod method;
  const char* name;
};
constexpr std::array<MethodName, 15> kMethodNames = {{
    {CalibMethod::kMinMax, "minmax"},
    {CalibMethod::kMovingAverageMinMax, "moving_average"},
    {CalibMethod::kPercentile, "percentile"},
    {CalibMethod::kMse, "mse"},
    {CalibMethod::kEntropy, "entropy"},
    {CalibMethod::kTorchHistogram, "histogram"},
    {CalibMethod::kSigma, "sigma"},
    {CalibMethod::kTfEnhanced, "tf_enhanced"},
    {CalibMethod::kVaiqMaxmin, "vaiq_maxmin"},
    {CalibMethod::kVaiqDiffs, "vaiq_diffs"},
    {CalibMethod::kVaiqPercentile, "vaiq_percentile"},
    {CalibMethod::kVaiqMse, "vaiq_mse"},
    {CalibMethod::kVaiqEntropy, "vaiq_entropy"},
    {CalibMethod::kIfmr, "ifmr"},
    {CalibMethod::kHfmg, "hfmg"},
}};

// torch.nn class names (as vai_q and modelslim configs write them) and their ONNX op types.
constexpr std::array<std::pair<const char*, const char*>, 22> kOpAliases = {{
    {"Conv1d", "Conv"},
    {"Conv2d", "Conv"},
    {"Conv3d", "Conv"},
    {"ConvTranspose1d", "ConvTranspose"},
    {"ConvTranspose2d", "ConvTranspose"},
    {"ConvTranspose3d", "ConvTranspose"},
    {"Linear", "Gemm"},
    {"BatchNorm1d", "BatchNormalization"},
    {"BatchNorm2d", "BatchNormalization"},
    {"BatchNorm3d", "BatchNormalization"},
    {"ReLU", "Relu"},
    {"ReLU6", "Clip"},
    {"LeakyReLU", "LeakyRelu"},
    {"Hardswish", "HardSwish"},
    {"Hardsigmoid", "HardSigmoid"},
    {"MaxPool2d", "MaxPool"},
    {"AvgPool2d", "AveragePool"},
    {"AdaptiveAvgPool2d", "GlobalAveragePool"},
    {"LayerNorm", "LayerNormalization"},
    {"GELU", "Gelu"},
    {"Softmax", "Softmax"},
    {"Embedding", "Gather"},
}};

}  // namespace

const char* calib_method_name(CalibMethod m) {
  for (const auto& e : kMethodNames)
    if (e.method == m) return e.name;
  return "?";
}

Result<CalibMethod> parse_calib_method(std::string_view s) {
  std::string names;
  for (const auto& e : kMethodNames) {
    if (s == e.name) return e.method;
    names += names.empty() ? "" : ", ";
    names += e.name;
  }
  return Status::invalid("unknown calibration method \"" + std::string(s) + "\" (one of " + names +
                         ")");
}

const char* batch_statistic_name(BatchStatistic s) {
  switch (s) {
    case BatchStatistic::kNone: return "none";
    case BatchStatistic::kModal: return "modal";
    case BatchStatistic::kMax: return "max";
    case BatchStatistic::kMean: return "mean";
    case BatchStatistic::kMedian: return "median";
  }
  return "?";
}

const char* tensor_kind_name(TensorKind k) {
  switch (k) {
    case TensorKind::kInput: return "input";
    case TensorKind::kActivation: return "activation";
    case TensorKind::kWeight: return "weights";
    case TensorKind::kBias: return "bias";
  }
  return "?";
}

std::string canonical_op_type(std::string_view name) {
  std::string_view n = name;
  if (n.starts_with("torch.nn.")) n.remove_prefix(9);
  else if (n.starts_with("nn.")) n.remove_prefix(3);
  for (const auto& [alias, op] : kOpAliases)
    if (n == alias) return op;
  // An ONNX op type is PascalCase; anything the alias table does not know is taken as one when it
  // came without a torch prefix.
  if (n.size() == name.size() && !n.empty() && n[0] >= 'A' && n[0] <= 'Z') return std::string(n);
  return "";
}

ObserverConfig observer_config_for(CalibMethod m) {
  ObserverConfig c;
  c.method = m;
  if (m == CalibMethod::kHfmg) c.num_bins = 4096;  // AMCT num_of_bins default
  return c;
}

QuantConfig default_quant_config() {
  QuantConfig c;
  c.source = "default";
  c.weight.spec.is_signed = true;
  c.weight.spec.symmetric = true;
  c.weight.spec.granularity = Granularity::kPerChannel;
  c.weight.observer.method = CalibMethod::kMinMax;
  c.activation.spec.is_signed = false;
  c.activation.spec.symmetric = false;
  c.activation.observer.method = CalibMethod::kMinMax;
  c.input = c.activation;
  c.bias.spec.bits = 32;
  c.bias_mode = BiasMode::kInt32;
  return c;
}

}  // namespace quench
