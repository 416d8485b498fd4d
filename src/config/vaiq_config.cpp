// The vai_q_pytorch JSON front-end (SPEC B).
//
// 1. Start from the built-in DPU default for each tensor kind (input, weights, bias, activation).
// 2. overall_quantize_config applies to every kind in quantizable_data_type (its
//    calib_statistic_method to input and activation only), then tensor_quantize_config.<kind>.
// 3. Each layer_quantize_config entry starts from the result of 2 and applies its own overall and
//    tensor settings to the kinds it lists; entries by layer_type become LayerRules first, entries
//    by layer_name after them, so a name entry wins over a type entry (QuantSim: later wins).
// 4. The conflict rules of the target_device are checked on the global settings and on every
//    layer entry (vaiq_rules.cpp).
#include <optional>
#include <vector>

#include "config/config_json.h"
#include "config/vaiq_settings.h"

namespace quench::config_internal {

namespace {

constexpr std::string_view kTopKeys[] = {
    "convert_relu6_to_relu", "convert_silu_to_hswish", "include_cle",
    "keep_first_last_layer_accuracy", "keep_add_layer_accuracy", "include_bias_corr",
    "target_device", "quantizable_data_type", "overall_quantize_config",
    "tensor_quantize_config", "layer_quantize_config", "onnx_opset_version"};
constexpr std::string_view kQuantKeys[] = {
    "datatype", "bit_width", "method", "round_mode", "symmetry", "per_channel",
    "signed", "narrow_range", "scale_type", "calib_statistic_method", "percentage"};
constexpr std::string_view kLayerKeys[] = {"layer_type", "layer_name", "quantizable_data_type",
                                           "overall_quantize_config", "tensor_quantize_config"};
constexpr std::string_view kDatatypes[] = {"int", "bfloat16", "float16", "float32"};
constexpr std::string_view kMethods[] = {"maxmin", "percentile", "entropy", "mse", "diffs"};
constexpr std::string_view kRoundModes[] = {"half_even", "half_up", "half_down", "std_round"};
constexpr std::string_view kScaleTypes[] = {"float", "poweroftwo"};
constexpr std::string_view kStatistics[] = {"modal", "max", "mean", "median"};
constexpr std::string_view kDevices[] = {"DPU", "CPU", "GPU"};

constexpr int kRankOverall = 1, kRankTensor = 2, kRankLayerOverall = 3, kRankLayerTensor = 4;

using Settings4 = std::array<VaiqSettings, 4>;
using Listed = std::array<bool, 4>;

// The keys one quantize-config object sets, validated.
struct Patch {
  std::string path;
  int rank = 0;
  std::optional<std::string> datatype, method, round_mode, scale_type, statistic;
  std::optional<int> bit_width;
  std::optional<bool> symmetry, per_channel, is_signed, narrow_range;
  std::optional<double> percentage;
};

// `kind` is set for tensor_quantize_config.<kind>, unset for an overall config.
Result<Patch> read_patch(const Json& obj, const std::string& path, int rank,
                         std::optional<VaiqKind> kind, const JsonReader& r) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(obj, path, kQuantKeys));
  Patch p;
  p.path = path;
  p.rank = rank;
  for (const auto& [key, v] : obj.items()) {
    const std::string at = key_path(path, key);
    if (key == "datatype") {
      QUENCH_ASSIGN_OR_RETURN(p.datatype, r.read_enum(v, at, kDatatypes));
    } else if (key == "bit_width") {
      QUENCH_ASSIGN_OR_RETURN(int64_t b, r.read_int_in(v, at, 2, 16));
      p.bit_width = static_cast<int>(b);
    } else if (key == "method") {
      QUENCH_ASSIGN_OR_RETURN(p.method, r.read_enum(v, at, kMethods));
    } else if (key == "round_mode") {
      QUENCH_ASSIGN_OR_RETURN(p.round_mode, r.read_enum(v, at, kRoundModes));
    } else if (key == "symmetry") {
      QUENCH_ASSIGN_OR_RETURN(p.symmetry, r.read_bool(v, at));
    } else if (key == "per_channel") {
      QUENCH_ASSIGN_OR_RETURN(p.per_channel, r.read_bool(v, at));
    } else if (key == "signed") {
      QUENCH_ASSIGN_OR_RETURN(p.is_signed, r.read_bool(v, at));
    } else if (key == "narrow_range") {
      QUENCH_ASSIGN_OR_RETURN(p.narrow_range, r.read_bool(v, at));
    } else if (key == "scale_type") {
      QUENCH_ASSIGN_OR_RETURN(p.scale_type, r.read_enum(v, at, kScaleTypes));
    } else if (key == "calib_statistic_method") {
      QUENCH_ASSIGN_OR_RETURN(p.statistic, r.read_enum(v, at, kStatistics));
      if (kind && !vaiq_has_statistic(*kind))
        return r.error(at, show(v) + " is not used for " +
                               std::string(kVaiqKindNames[static_cast<int>(*kind)]) +
                               " (calib_statistic_method applies to input and activation only)");
    } else if (key == "percentage") {
      QUENCH_ASSIGN_OR_RETURN(double pct, r.read_number(v, at));
      if (!(pct > 0.0 && pct <= 100.0)) return r.error(at, show(v) + " is out of range (0, 100]");
      p.percentage = pct;
    }
  }
  return p;
}

template <class T>
void put(const std::optional<T>& from, T& to, std::string_view key, const Patch& p,
         VaiqSettings& s) {
  if (!from) return;
  to = *from;
  s.set_origin(key, key_path(p.path, key), p.rank);
}

void apply(const Patch& p, VaiqKind kind, VaiqSettings& s) {
  put(p.datatype, s.datatype, "datatype", p, s);
  put(p.bit_width, s.bit_width, "bit_width", p, s);
  put(p.method, s.method, "method", p, s);
  put(p.round_mode, s.round_mode, "round_mode", p, s);
  put(p.symmetry, s.symmetry, "symmetry", p, s);
  put(p.per_channel, s.per_channel, "per_channel", p, s);
  put(p.is_signed, s.is_signed, "signed", p, s);
  put(p.narrow_range, s.narrow_range, "narrow_range", p, s);
  put(p.scale_type, s.scale_type, "scale_type", p, s);
  if (vaiq_has_statistic(kind)) put(p.statistic, s.statistic, "calib_statistic_method", p, s);
  put(p.percentage, s.percentage, "percentage", p, s);
}

Result<Listed> read_kind_list(const Json& v, const std::string& path, const JsonReader& r) {
  if (!v.is_array()) return r.error(path, std::string("expected an array (got ") + show(v) + ")");
  Listed listed{};
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = index_path(path, i);
    QUENCH_ASSIGN_OR_RETURN(std::string name, r.read_enum(v[i], at, kVaiqKindNames));
    size_t k = 0;
    while (kVaiqKindNames[k] != name) ++k;
    if (listed[k]) return r.error(at, show(v[i]) + " is listed twice");
    listed[k] = true;
  }
  return listed;
}

// overall_quantize_config and tensor_quantize_config of one scope (the file or a layer entry)
// applied to `settings`; null counts as absent, as in vai_q.
Status apply_scope(const Json& scope, const std::string& scope_path, const Listed& listed,
                   int overall_rank, Settings4& settings, const JsonReader& r) {
  if (scope.contains("overall_quantize_config") && !scope["overall_quantize_config"].is_null()) {
    QUENCH_ASSIGN_OR_RETURN(Patch p, read_patch(scope["overall_quantize_config"],
                                                key_path(scope_path, "overall_quantize_config"),
                                                overall_rank, std::nullopt, r));
    for (size_t k = 0; k < 4; ++k)
      if (listed[k]) apply(p, static_cast<VaiqKind>(k), settings[k]);
  }
  if (scope.contains("tensor_quantize_config") && !scope["tensor_quantize_config"].is_null()) {
    const Json& tq = scope["tensor_quantize_config"];
    const std::string tq_path = key_path(scope_path, "tensor_quantize_config");
    QUENCH_RETURN_IF_ERROR(r.check_keys(tq, tq_path, kVaiqKindNames));
    for (const auto& [name, obj] : tq.items()) {
      size_t k = 0;
      while (kVaiqKindNames[k] != name) ++k;
      const std::string at = key_path(tq_path, name);
      if (!listed[k])
        return r.error(at, "\"" + name + "\" is not in " +
                               key_path(scope_path, "quantizable_data_type"));
      QUENCH_ASSIGN_OR_RETURN(
          Patch p, read_patch(obj, at, overall_rank + 1, static_cast<VaiqKind>(k), r));
      apply(p, static_cast<VaiqKind>(k), settings[k]);
    }
  }
  return Status();
}

CalibMethod method_of(const std::string& m) {
  if (m == "maxmin") return CalibMethod::kVaiqMaxmin;
  if (m == "percentile") return CalibMethod::kVaiqPercentile;
  if (m == "mse") return CalibMethod::kVaiqMse;
  if (m == "entropy") return CalibMethod::kVaiqEntropy;
  return CalibMethod::kVaiqDiffs;
}

RoundMode round_of(const std::string& m) {
  if (m == "half_up") return RoundMode::kHalfUp;
  if (m == "half_down") return RoundMode::kHalfDown;
  if (m == "std_round") return RoundMode::kHalfAwayFromZero;
  return RoundMode::kHalfEven;
}

BatchStatistic statistic_of(const std::string& s) {
  if (s == "max") return BatchStatistic::kMax;
  if (s == "mean") return BatchStatistic::kMean;
  if (s == "median") return BatchStatistic::kMedian;
  return BatchStatistic::kModal;
}

TensorQuantConfig to_tensor_config(const VaiqSettings& s, VaiqKind kind, bool enabled) {
  TensorQuantConfig t;
  t.enabled = enabled;
  if (s.datatype == "float32") {
    t.enabled = false;
    t.spec.format = NumberFormat::kFloat32;
    t.spec.bits = 32;
    return t;
  }
  if (s.datatype == "bfloat16" || s.datatype == "float16") {
    t.spec.format = s.datatype == "bfloat16" ? NumberFormat::kBFloat16 : NumberFormat::kFloat16;
    t.spec.bits = 16;
    return t;
  }
  // vai_q's integer range: signed+symmetric [-2^(b-1), 2^(b-1)-1] (narrow_range: min + 1),
  // everything else [0, 2^b-1].
  t.spec.format = NumberFormat::kInt;
  t.spec.bits = s.bit_width;
  t.spec.symmetric = s.symmetry;
  t.spec.is_signed = s.is_signed && s.symmetry;
  t.spec.narrow_range = s.narrow_range && t.spec.is_signed;
  t.spec.granularity = s.per_channel ? Granularity::kPerChannel : Granularity::kPerTensor;
  t.spec.scale_type = s.scale_type == "poweroftwo" ? ScaleType::kPowerOfTwo : ScaleType::kFloat;
  t.spec.round_mode = round_of(s.round_mode);
  t.observer.method = method_of(s.method);
  t.observer.per_channel = s.per_channel;
  t.observer.percentile = s.percentage;
  t.observer.batch_statistic =
      vaiq_has_statistic(kind) ? statistic_of(s.statistic) : BatchStatistic::kNone;
  return t;
}

Result<bool> read_flag(const Json& root, std::string_view key, bool fallback, const JsonReader& r) {
  if (!root.contains(key)) return fallback;
  return r.read_bool(root[std::string(key)], std::string(key));
}

// One layer_quantize_config entry as a LayerRule; `by_name` tells which list it goes to.
Result<LayerRule> read_layer(const Json& entry, const std::string& path, const Settings4& global,
                             const std::string& device, bool* by_name, const JsonReader& r) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(entry, path, kLayerKeys));
  auto non_null = [&](const char* key) { return entry.contains(key) && !entry[key].is_null(); };
  const bool has_type = non_null("layer_type"), has_name = non_null("layer_name");
  if (has_type == has_name)
    return r.error(path, std::string("needs exactly one of layer_type and layer_name (got ") +
                             (has_type ? "both" : "neither") + ")");
  LayerRule rule;
  rule.origin = path;
  *by_name = has_name;
  if (has_type) {
    const std::string at = key_path(path, "layer_type");
    QUENCH_ASSIGN_OR_RETURN(std::string type, r.read_string(entry["layer_type"], at));
    rule.op_type = canonical_op_type(type);
    if (rule.op_type.empty())
      return r.error(at, show(entry["layer_type"]) +
                             " is not an ONNX op type or a torch.nn alias of one (e.g. Conv, "
                             "torch.nn.Conv2d)");
  } else {
    const std::string at = key_path(path, "layer_name");
    QUENCH_ASSIGN_OR_RETURN(rule.node_name, r.read_string(entry["layer_name"], at));
    if (rule.node_name.empty()) return r.error(at, "expected a node name (got \"\")");
  }
  if (!entry.contains("quantizable_data_type"))
    return r.error(path, "needs quantizable_data_type (the tensor kinds the entry configures)");
  QUENCH_ASSIGN_OR_RETURN(Listed listed, read_kind_list(entry["quantizable_data_type"],
                                                        key_path(path, "quantizable_data_type"), r));
  Settings4 settings = global;
  QUENCH_RETURN_IF_ERROR(apply_scope(entry, path, listed, kRankLayerOverall, settings, r));
  QUENCH_RETURN_IF_ERROR(check_vaiq_conflicts(settings, listed, device, r));
  for (size_t k = 0; k < 4; ++k) {
    if (!listed[k]) continue;
    TensorQuantConfig t = to_tensor_config(settings[k], static_cast<VaiqKind>(k), true);
    switch (static_cast<VaiqKind>(k)) {
      case VaiqKind::kInput: rule.input = t; break;
      case VaiqKind::kWeights: rule.weight = t; break;
      case VaiqKind::kBias:
        rule.bias = t;
        rule.bias_mode = BiasMode::kQuantized;
        break;
      case VaiqKind::kActivation: rule.activation = t; break;
    }
  }
  return rule;
}

}  // namespace

Result<QuantConfig> vaiq_from_json(const Json& root, const JsonReader& r) {
  static_assert(kRankTensor == kRankOverall + 1 && kRankLayerTensor == kRankLayerOverall + 1);
  QUENCH_RETURN_IF_ERROR(r.check_keys(root, "", kTopKeys));
  QuantConfig c;
  c.source = "vai_q";
  c.placement = Placement::kOutputs;
  QUENCH_ASSIGN_OR_RETURN(c.algorithms.convert_relu6_to_relu,
                          read_flag(root, "convert_relu6_to_relu", false, r));
  QUENCH_ASSIGN_OR_RETURN(c.algorithms.convert_silu_to_hswish,
                          read_flag(root, "convert_silu_to_hswish", false, r));
  QUENCH_ASSIGN_OR_RETURN(c.algorithms.cle, read_flag(root, "include_cle", true, r));
  QUENCH_ASSIGN_OR_RETURN(c.algorithms.bias_correction,
                          read_flag(root, "include_bias_corr", true, r));
  // vai_q corrects biases from the calibration batches as they stream (one pass).
  c.algorithms.bias_correction_kind = BiasCorrectionKind::kInCalibration;
  QUENCH_ASSIGN_OR_RETURN(c.keep_first_last_float,
                          read_flag(root, "keep_first_last_layer_accuracy", false, r));
  QUENCH_ASSIGN_OR_RETURN(c.keep_add_float, read_flag(root, "keep_add_layer_accuracy", false, r));
  c.target_device = "DPU";
  if (root.contains("target_device")) {
    QUENCH_ASSIGN_OR_RETURN(c.target_device,
                            r.read_enum(root["target_device"], "target_device", kDevices));
  }
  if (root.contains("onnx_opset_version"))
    QUENCH_RETURN_IF_ERROR(r.read_int_in(root["onnx_opset_version"], "onnx_opset_version", 7, 30)
                               .status());

  Listed listed = {true, true, true, true};
  if (root.contains("quantizable_data_type")) {
    QUENCH_ASSIGN_OR_RETURN(
        listed, read_kind_list(root["quantizable_data_type"], "quantizable_data_type", r));
  }
  Settings4 global;
  for (size_t k = 0; k < 4; ++k) global[k] = vaiq_default_settings(static_cast<VaiqKind>(k));
  QUENCH_RETURN_IF_ERROR(apply_scope(root, "", listed, kRankOverall, global, r));
  QUENCH_RETURN_IF_ERROR(check_vaiq_conflicts(global, listed, c.target_device, r));

  c.input = to_tensor_config(global[0], VaiqKind::kInput, listed[0]);
  c.weight = to_tensor_config(global[1], VaiqKind::kWeights, listed[1]);
  c.bias = to_tensor_config(global[2], VaiqKind::kBias, listed[2]);
  c.activation = to_tensor_config(global[3], VaiqKind::kActivation, listed[3]);
  c.bias_mode = BiasMode::kQuantized;  // vai_q gives the bias its own fix position
  c.quantize_model_inputs = listed[0];

  if (root.contains("layer_quantize_config") && !root["layer_quantize_config"].is_null()) {
    const Json& layers = root["layer_quantize_config"];
    if (!layers.is_array())
      return r.error("layer_quantize_config", "expected an array (got " + show(layers) + ")");
    std::vector<LayerRule> by_type, by_name;
    for (size_t i = 0; i < layers.size(); ++i) {
      bool named = false;
      QUENCH_ASSIGN_OR_RETURN(LayerRule rule,
                              read_layer(layers[i], index_path("layer_quantize_config", i), global,
                                         c.target_device, &named, r));
      (named ? by_name : by_type).push_back(std::move(rule));
    }
    c.layers = std::move(by_type);
    for (LayerRule& rule : by_name) c.layers.push_back(std::move(rule));
  }
  return c;
}

}  // namespace quench::config_internal
