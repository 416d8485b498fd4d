// The AIMET QuantSim runtime-config front-end (SPEC D; aimet_common/quantsim_config, schema in
// quantsim_config_schema.py). AIMET resolves, from general to specific: defaults -> params (per
// parameter name) -> op_type (per ONNX op type, with its own params) -> supergroups ->
// model_input / model_output. quench maps:
// 1. defaults.ops -> the activation spec (asymmetric unless is_symmetric; the unsigned grid with
//    an offset when asymmetric, the signed grid when symmetric), default_output_bw bits, AIMET's
//    default quant scheme post_training_tf_enhanced -> CalibMethod::kTfEnhanced.
// 2. defaults.params + params.weight / params.bias -> the weight and bias specs (symmetric unless
//    is_symmetric is "False"), default_param_bw bits, min-max ranges; per_channel_quantization ->
//    per-channel weights (and biases); a quantized bias has its own range (BiasMode::kQuantized),
//    an unquantized one stays float (AIMET's default config).
// 3. strict_symmetric / unsigned_symmetric -> the flags of every symmetric spec.
// 4. op_type.<Op> -> one LayerRule per op type: is_input_quantized, is_output_quantized,
//    is_symmetric (its activations), per_channel_quantization and params (its weight and bias).
// 5. supergroups -> QuantConfig::supergroups; model_input.is_input_quantized ->
//    quantize_model_inputs (AIMET leaves model-input quantizers off unless it says "True");
//    model_output.is_output_quantized -> quantize_model_outputs (on unless "False").
// Rounding is round-half-away-from-zero, as AIMET's "nearest".
#include <optional>
#include <vector>

#include "config/config_json.h"

namespace quench::config_internal {

namespace {

constexpr std::string_view kTopKeys[] = {"defaults",    "params",       "op_type",
                                         "supergroups", "model_input",  "model_output",
                                         "default_output_bw", "default_param_bw"};
constexpr std::string_view kDefaultsKeys[] = {"ops",
                                              "params",
                                              "strict_symmetric",
                                              "unsigned_symmetric",
                                              "per_channel_quantization",
                                              "supported_kernels",
                                              "hw_version"};
constexpr std::string_view kOpsKeys[] = {"is_input_quantized", "is_output_quantized",
                                         "is_symmetric"};
constexpr std::string_view kParamKeys[] = {"is_quantized", "is_symmetric"};
constexpr std::string_view kParamNames[] = {"weight", "bias"};
constexpr std::string_view kOpTypeKeys[] = {"is_input_quantized", "is_output_quantized",
                                            "is_symmetric",       "per_channel_quantization",
                                            "params",             "supported_kernels",
                                            "encoding_constraints"};
constexpr std::string_view kSupergroupKeys[] = {"op_list"};
constexpr std::string_view kModelInputKeys[] = {"is_input_quantized"};
constexpr std::string_view kModelOutputKeys[] = {"is_output_quantized"};

// An optional "True"/"False" (or boolean) key of `obj`.
Result<std::optional<bool>> opt_flag(const Json& obj, const std::string& path, const char* key,
                                     const JsonReader& r) {
  if (!obj.contains(key)) return std::optional<bool>();
  QUENCH_ASSIGN_OR_RETURN(bool b, r.read_py_bool(obj[key], key_path(path, key)));
  return std::optional<bool>(b);
}

struct ParamFlags {
  std::optional<bool> quantized, symmetric;
};

Result<ParamFlags> read_param_flags(const Json& obj, const std::string& path, const JsonReader& r) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(obj, path, kParamKeys));
  ParamFlags f;
  QUENCH_ASSIGN_OR_RETURN(f.quantized, opt_flag(obj, path, "is_quantized", r));
  QUENCH_ASSIGN_OR_RETURN(f.symmetric, opt_flag(obj, path, "is_symmetric", r));
  return f;
}

// params {"weight": {...}, "bias": {...}} at `path`.
Status read_params(const Json& obj, const std::string& path, ParamFlags& weight, ParamFlags& bias,
                   const JsonReader& r) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(obj, path, kParamNames));
  if (obj.contains("weight")) {
    QUENCH_ASSIGN_OR_RETURN(weight, read_param_flags(obj["weight"], key_path(path, "weight"), r));
  }
  if (obj.contains("bias")) {
    QUENCH_ASSIGN_OR_RETURN(bias, read_param_flags(obj["bias"], key_path(path, "bias"), r));
  }
  return Status();
}

Status unsupported_key(const Json& obj, const std::string& path, const char* key,
                       const JsonReader& r) {
  if (!obj.contains(key)) return Status();
  return Status::unsupported(r.prefix() + ": " + key_path(path, key) +
                             ": not supported by quench yet (remove it to simulate without it)");
}

Result<std::string> read_op_type(const Json& name_json, const std::string& path,
                                 const JsonReader& r) {
  QUENCH_ASSIGN_OR_RETURN(std::string name, r.read_string(name_json, path));
  std::string op = canonical_op_type(name);
  if (op.empty())
    return r.error(path, show(name_json) + " is not an ONNX op type (e.g. Conv, Gemm, Relu)");
  return op;
}

Result<int> read_bw(const Json& root, const char* key, int fallback, const JsonReader& r) {
  if (root.contains(key)) {
    QUENCH_ASSIGN_OR_RETURN(int64_t b, r.read_int_in(root[key], key, 2, 16));
    return static_cast<int>(b);
  }
  if (fallback < 2 || fallback > 16)
    return r.error(key, std::to_string(fallback) + " is out of range [2, 16]");
  return fallback;
}

// The spec and observer settings the rest of the file refines.
struct Base {
  int output_bw = 8, param_bw = 8;
  bool strict = false, unsigned_symmetric = true;
};

QuantSpec make_spec(const Base& b, int bits, bool symmetric, bool per_channel) {
  QuantSpec s;
  s.format = NumberFormat::kInt;
  s.bits = bits;
  s.symmetric = symmetric;
  s.is_signed = symmetric;  // AIMET's asymmetric grid is unsigned with an offset
  s.strict_symmetric = symmetric && b.strict;
  s.unsigned_symmetric = symmetric && b.unsigned_symmetric;
  s.granularity = per_channel ? Granularity::kPerChannel : Granularity::kPerTensor;
  s.axis = 0;
  s.round_mode = RoundMode::kHalfAwayFromZero;
  return s;
}

TensorQuantConfig activation_config(const Base& b, bool symmetric) {
  TensorQuantConfig t;
  t.spec = make_spec(b, b.output_bw, symmetric, false);
  t.observer.method = CalibMethod::kTfEnhanced;
  return t;
}

TensorQuantConfig param_config(const Base& b, bool quantized, bool symmetric, bool per_channel) {
  TensorQuantConfig t;
  t.enabled = quantized;
  t.spec = make_spec(b, b.param_bw, symmetric, per_channel);
  t.observer.method = CalibMethod::kMinMax;
  t.observer.per_channel = per_channel;
  return t;
}

// Global settings a rule refines when it sets only some of a param's flags.
struct ParamDefaults {
  bool weight_quantized = true, weight_symmetric = true;
  bool bias_quantized = true, bias_symmetric = true;
  bool per_channel = false;
  bool act_symmetric = false;
};

Result<LayerRule> read_op_rule(const Json& obj, const std::string& path, const std::string& op,
                               const Base& base, const ParamDefaults& d, const JsonReader& r) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(obj, path, kOpTypeKeys));
  QUENCH_RETURN_IF_ERROR(unsupported_key(obj, path, "supported_kernels", r));
  QUENCH_RETURN_IF_ERROR(unsupported_key(obj, path, "encoding_constraints", r));
  LayerRule rule;
  rule.op_type = op;
  rule.origin = path;
  QUENCH_ASSIGN_OR_RETURN(rule.quantize_inputs, opt_flag(obj, path, "is_input_quantized", r));
  QUENCH_ASSIGN_OR_RETURN(rule.quantize_output, opt_flag(obj, path, "is_output_quantized", r));
  QUENCH_ASSIGN_OR_RETURN(std::optional<bool> sym, opt_flag(obj, path, "is_symmetric", r));
  QUENCH_ASSIGN_OR_RETURN(std::optional<bool> per_channel,
                          opt_flag(obj, path, "per_channel_quantization", r));
  ParamFlags weight, bias;
  if (obj.contains("params"))
    QUENCH_RETURN_IF_ERROR(read_params(obj["params"], key_path(path, "params"), weight, bias, r));
  if (sym) {
    rule.activation = activation_config(base, *sym);
    rule.input = rule.activation;
  }
  const bool pc = per_channel.value_or(d.per_channel);
  if (weight.quantized || weight.symmetric || per_channel) {
    rule.weight = param_config(base, weight.quantized.value_or(d.weight_quantized),
                               weight.symmetric.value_or(d.weight_symmetric), pc);
  }
  if (bias.quantized || bias.symmetric || per_channel) {
    const bool q = bias.quantized.value_or(d.bias_quantized);
    rule.bias = param_config(base, q, bias.symmetric.value_or(d.bias_symmetric), pc);
    rule.bias_mode = q ? BiasMode::kQuantized : BiasMode::kFloat;
  }
  return rule;
}

Result<std::vector<std::vector<std::string>>> read_supergroups(const Json& v, const JsonReader& r) {
  if (!v.is_array()) return r.error("supergroups", "expected an array (got " + show(v) + ")");
  std::vector<std::vector<std::string>> groups;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = index_path("supergroups", i);
    QUENCH_RETURN_IF_ERROR(r.check_keys(v[i], at, kSupergroupKeys));
    const std::string list_at = key_path(at, "op_list");
    if (!v[i].contains("op_list")) return r.error(at, "needs op_list");
    const Json& ops = v[i]["op_list"];
    if (!ops.is_array()) return r.error(list_at, "expected an array (got " + show(ops) + ")");
    if (ops.size() < 2)
      return r.error(list_at, show(ops) + " has fewer than 2 op types (a supergroup fuses a chain)");
    std::vector<std::string> group;
    for (size_t k = 0; k < ops.size(); ++k) {
      QUENCH_ASSIGN_OR_RETURN(std::string op, read_op_type(ops[k], index_path(list_at, k), r));
      group.push_back(std::move(op));
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

}  // namespace

Result<QuantConfig> aimet_from_json(const Json& root, const JsonReader& r, int default_output_bw,
                                    int default_param_bw) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(root, "", kTopKeys));
  if (!root.contains("defaults")) return r.error("", "needs a \"defaults\" section");
  const Json& defaults = root["defaults"];
  QUENCH_RETURN_IF_ERROR(r.check_keys(defaults, "defaults", kDefaultsKeys));
  for (const char* key : {"ops", "params"})
    if (!defaults.contains(key)) return r.error("defaults", std::string("needs \"") + key + "\"");
  QUENCH_RETURN_IF_ERROR(unsupported_key(defaults, "defaults", "supported_kernels", r));
  if (defaults.contains("hw_version"))  // a label for AIMET's own backend checks
    QUENCH_RETURN_IF_ERROR(r.read_string(defaults["hw_version"], "defaults.hw_version").status());

  Base base;
  QUENCH_ASSIGN_OR_RETURN(base.output_bw, read_bw(root, "default_output_bw", default_output_bw, r));
  QUENCH_ASSIGN_OR_RETURN(base.param_bw, read_bw(root, "default_param_bw", default_param_bw, r));
  QUENCH_ASSIGN_OR_RETURN(auto strict, opt_flag(defaults, "defaults", "strict_symmetric", r));
  QUENCH_ASSIGN_OR_RETURN(auto unsigned_sym, opt_flag(defaults, "defaults", "unsigned_symmetric", r));
  QUENCH_ASSIGN_OR_RETURN(auto per_channel,
                          opt_flag(defaults, "defaults", "per_channel_quantization", r));
  base.strict = strict.value_or(false);
  base.unsigned_symmetric = unsigned_sym.value_or(true);

  const Json& ops = defaults["ops"];
  QUENCH_RETURN_IF_ERROR(r.check_keys(ops, "defaults.ops", kOpsKeys));
  QUENCH_ASSIGN_OR_RETURN(auto out_q, opt_flag(ops, "defaults.ops", "is_output_quantized", r));
  QUENCH_ASSIGN_OR_RETURN(auto in_q, opt_flag(ops, "defaults.ops", "is_input_quantized", r));
  QUENCH_ASSIGN_OR_RETURN(auto act_sym, opt_flag(ops, "defaults.ops", "is_symmetric", r));
  QUENCH_ASSIGN_OR_RETURN(ParamFlags dparams,
                          read_param_flags(defaults["params"], "defaults.params", r));
  ParamFlags weight, bias;
  if (root.contains("params"))
    QUENCH_RETURN_IF_ERROR(read_params(root["params"], "params", weight, bias, r));

  ParamDefaults d;
  d.per_channel = per_channel.value_or(false);
  d.act_symmetric = act_sym.value_or(false);
  d.weight_quantized = weight.quantized.value_or(dparams.quantized.value_or(true));
  d.weight_symmetric = weight.symmetric.value_or(dparams.symmetric.value_or(true));
  d.bias_quantized = bias.quantized.value_or(dparams.quantized.value_or(true));
  d.bias_symmetric = bias.symmetric.value_or(dparams.symmetric.value_or(true));

  QuantConfig c;
  c.source = "aimet";
  c.placement = Placement::kOutputs;
  c.activation = activation_config(base, d.act_symmetric);
  c.input = c.activation;
  c.weight = param_config(base, d.weight_quantized, d.weight_symmetric, d.per_channel);
  c.bias = param_config(base, d.bias_quantized, d.bias_symmetric, d.per_channel);
  c.bias_mode = d.bias_quantized ? BiasMode::kQuantized : BiasMode::kFloat;
  if ((out_q && !*out_q) || (in_q && *in_q)) {
    LayerRule all;
    all.origin = "defaults.ops";
    if (out_q) all.quantize_output = *out_q;
    if (in_q) all.quantize_inputs = *in_q;
    c.layers.push_back(std::move(all));
  }

  if (root.contains("op_type")) {
    const Json& op_types = root["op_type"];
    QUENCH_RETURN_IF_ERROR(r.expect_object(op_types, "op_type"));
    for (const auto& [name, obj] : op_types.items()) {
      const std::string at = key_path("op_type", name);
      QUENCH_ASSIGN_OR_RETURN(std::string op, read_op_type(Json(name), at, r));
      QUENCH_ASSIGN_OR_RETURN(LayerRule rule, read_op_rule(obj, at, op, base, d, r));
      c.layers.push_back(std::move(rule));
    }
  }
  if (root.contains("supergroups")) {
    QUENCH_ASSIGN_OR_RETURN(c.supergroups, read_supergroups(root["supergroups"], r));
  }
  c.quantize_model_inputs = false;
  if (root.contains("model_input")) {
    QUENCH_RETURN_IF_ERROR(r.check_keys(root["model_input"], "model_input", kModelInputKeys));
    QUENCH_ASSIGN_OR_RETURN(auto q, opt_flag(root["model_input"], "model_input",
                                             "is_input_quantized", r));
    c.quantize_model_inputs = q.value_or(false);
  }
  if (root.contains("model_output")) {
    QUENCH_RETURN_IF_ERROR(r.check_keys(root["model_output"], "model_output", kModelOutputKeys));
    QUENCH_ASSIGN_OR_RETURN(auto q, opt_flag(root["model_output"], "model_output",
                                             "is_output_quantized", r));
    c.quantize_model_outputs = q.value_or(true);
  }
  return c;
}

}  // namespace quench::config_internal
