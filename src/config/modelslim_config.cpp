// The modelslim QuantConfig front-end (SPEC C): the keyword arguments of
// modelslim.pytorch.quant.ptq_tools.QuantConfig as a JSON object, with the same names and
// defaults (null = the default, as Python's None).
//
// 1. Read and validate every key (bits 2..16 where modelslim allows 8 only; sigma integer in
//    [0, 100]; amp_num >= 0; input_shape of length 0, 3, 4 or 5; act_method in {0, 1, 2};
//    quant_mode in {0, 1}; quant_mode 0 requires act_method 0).
// 2. Map to QuantConfig: quantizers on the inputs and weights of Conv / Gemm / MatMul
//    (Placement::kLayerInputs), weights per channel (UNVERIFIED: modelslim writes one weight_scale
//    per output channel for CV models), int32 biases, BN folded.
// 3. Activation observer: act_method 0 -> sigma statistic (min-max when sigma == 0),
//    1 -> running min-max, 2 -> PyTorch-style histogram L2 search.
// 4. disable_names empty -> first and last weighted layers stay float; otherwise exactly those
//    nodes stay float. amp_num and keep_acc go to QuantConfig::algorithms.
#include <vector>

#include "config/config_json.h"

namespace quench::config_internal {

namespace {

constexpr std::string_view kKeys[] = {"w_bit",      "a_bit",      "w_signed",    "a_signed",
                                      "w_sym",      "a_sym",      "input_shape", "act_quant",
                                      "act_method", "quant_mode", "disable_names", "amp_num",
                                      "keep_acc",   "sigma"};
constexpr std::string_view kKeepAccKeys[] = {"admm", "easy_quant", "round_opt"};

bool present(const Json& root, std::string_view key) {
  return root.contains(key) && !root[std::string(key)].is_null();
}

Result<int> read_bits(const Json& root, const char* key, const JsonReader& r) {
  if (!present(root, key)) return 8;
  QUENCH_ASSIGN_OR_RETURN(int64_t b, r.read_int_in(root[key], key, 2, 16));
  return static_cast<int>(b);
}

Result<bool> read_flag(const Json& root, const char* key, bool fallback, const JsonReader& r) {
  if (!present(root, key)) return fallback;
  return r.read_bool(root[key], key);
}

Result<int64_t> read_choice(const Json& root, const char* key, std::vector<int64_t> allowed,
                            const JsonReader& r) {
  if (!present(root, key)) return 0;
  QUENCH_ASSIGN_OR_RETURN(int64_t v, r.read_int(root[key], key));
  std::string names;
  for (int64_t a : allowed) {
    if (v == a) return v;
    names += (names.empty() ? "" : ", ") + std::to_string(a);
  }
  return r.error(key, std::to_string(v) + " is not one of " + names);
}

Result<Shape> read_input_shape(const Json& root, const JsonReader& r) {
  if (!present(root, "input_shape")) return Shape{};
  const Json& v = root["input_shape"];
  if (!v.is_array()) return r.error("input_shape", "expected an array (got " + show(v) + ")");
  Shape shape;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = index_path("input_shape", i);
    QUENCH_ASSIGN_OR_RETURN(int64_t d, r.read_int(v[i], at));
    if (d <= 0) return r.error(at, std::to_string(d) + " is not a positive dimension");
    shape.push_back(d);
  }
  const size_t n = shape.size();
  if (n != 0 && n != 3 && n != 4 && n != 5)
    return r.error("input_shape", show(v) + " has " + std::to_string(n) +
                                      " dimensions (allowed: 0, 3, 4 or 5)");
  return shape;
}

Result<std::vector<std::string>> read_names(const Json& root, const JsonReader& r) {
  std::vector<std::string> names;
  if (!present(root, "disable_names")) return names;
  const Json& v = root["disable_names"];
  if (!v.is_array()) return r.error("disable_names", "expected an array (got " + show(v) + ")");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = index_path("disable_names", i);
    QUENCH_ASSIGN_OR_RETURN(std::string name, r.read_string(v[i], at));
    if (name.empty()) return r.error(at, "expected a node name (got \"\")");
    names.push_back(std::move(name));
  }
  return names;
}

// keep_acc {"admm": [bool, iterations], "easy_quant": [bool, iterations], "round_opt": bool}.
// round_opt may also be [bool], as the modelslim page types it.
Status read_keep_acc(const Json& root, AlgorithmOptions& a, const JsonReader& r) {
  if (!present(root, "keep_acc")) return Status();
  const Json& v = root["keep_acc"];
  QUENCH_RETURN_IF_ERROR(r.check_keys(v, "keep_acc", kKeepAccKeys));
  auto read_pair = [&](const char* key, bool& on, int& iterations) -> Status {
    if (!v.contains(key)) return Status();
    const std::string at = key_path("keep_acc", key);
    const Json& p = v[key];
    if (!p.is_array() || p.size() != 2)
      return r.error(at, "expected [enabled, iterations] (got " + show(p) + ")");
    QUENCH_ASSIGN_OR_RETURN(on, r.read_bool(p[0], index_path(at, 0)));
    QUENCH_ASSIGN_OR_RETURN(int64_t it, r.read_int_in(p[1], index_path(at, 1), 1, 1000000));
    iterations = static_cast<int>(it);
    return Status();
  };
  QUENCH_RETURN_IF_ERROR(read_pair("admm", a.admm, a.admm_iterations));
  QUENCH_RETURN_IF_ERROR(read_pair("easy_quant", a.easy_quant, a.easy_quant_iterations));
  if (v.contains("round_opt")) {
    const std::string at = key_path("keep_acc", "round_opt");
    const Json& p = v["round_opt"];
    if (p.is_array() && p.size() == 1) {
      QUENCH_ASSIGN_OR_RETURN(a.round_opt, r.read_bool(p[0], index_path(at, 0)));
    } else if (p.is_boolean()) {
      a.round_opt = p.get<bool>();
    } else {
      return r.error(at, "expected a boolean or [boolean] (got " + show(p) + ")");
    }
  }
  return Status();
}

}  // namespace

Result<QuantConfig> modelslim_from_json(const Json& root, const JsonReader& r) {
  QUENCH_RETURN_IF_ERROR(r.check_keys(root, "", kKeys));
  QuantConfig c;
  c.source = "modelslim";
  c.placement = Placement::kLayerInputs;
  c.weighted_op_types = {"Conv", "Gemm", "MatMul"};
  c.bias_mode = BiasMode::kInt32;
  c.algorithms.fold_batchnorm = true;

  QUENCH_ASSIGN_OR_RETURN(c.weight.spec.bits, read_bits(root, "w_bit", r));
  QUENCH_ASSIGN_OR_RETURN(c.activation.spec.bits, read_bits(root, "a_bit", r));
  QUENCH_ASSIGN_OR_RETURN(c.weight.spec.is_signed, read_flag(root, "w_signed", true, r));
  QUENCH_ASSIGN_OR_RETURN(c.activation.spec.is_signed, read_flag(root, "a_signed", false, r));
  QUENCH_ASSIGN_OR_RETURN(c.weight.spec.symmetric, read_flag(root, "w_sym", true, r));
  QUENCH_ASSIGN_OR_RETURN(c.activation.spec.symmetric, read_flag(root, "a_sym", false, r));
  QUENCH_ASSIGN_OR_RETURN(c.input_shape, read_input_shape(root, r));
  QUENCH_ASSIGN_OR_RETURN(bool act_quant, read_flag(root, "act_quant", true, r));
  QUENCH_ASSIGN_OR_RETURN(int64_t act_method, read_choice(root, "act_method", {0, 1, 2}, r));
  QUENCH_ASSIGN_OR_RETURN(int64_t quant_mode, read_choice(root, "quant_mode", {0, 1}, r));
  QUENCH_ASSIGN_OR_RETURN(c.disabled_nodes, read_names(root, r));
  int64_t sigma = 25;
  if (present(root, "sigma")) {
    QUENCH_ASSIGN_OR_RETURN(sigma, r.read_int_in(root["sigma"], "sigma", 0, 100));
  }
  if (present(root, "amp_num")) {
    QUENCH_ASSIGN_OR_RETURN(int64_t amp, r.read_int(root["amp_num"], "amp_num"));
    if (amp < 0) return r.error("amp_num", std::to_string(amp) + " must be >= 0");
    if (amp > 1000000) return r.error("amp_num", std::to_string(amp) + " is too large");
    c.algorithms.amp_num = static_cast<int>(amp);
  }
  QUENCH_RETURN_IF_ERROR(read_keep_acc(root, c.algorithms, r));
  if (quant_mode == 0 && act_method != 0)
    return r.error("act_method", std::to_string(act_method) +
                                     " needs quant_mode=1 (got quant_mode=0: data-free mode "
                                     "takes act_method 0)");

  c.weight.spec.granularity = Granularity::kPerChannel;
  c.weight.observer.method = CalibMethod::kMinMax;
  c.activation.spec.granularity = Granularity::kPerTensor;
  if (act_method == 0) {
    c.activation.observer.method = sigma > 0 ? CalibMethod::kSigma : CalibMethod::kMinMax;
    c.activation.observer.sigma = static_cast<int>(sigma);
  } else if (act_method == 1) {
    c.activation.observer.method = CalibMethod::kMinMax;
  } else {
    c.activation.observer.method = CalibMethod::kTorchHistogram;
  }
  c.activation.enabled = act_quant;
  c.input = c.activation;
  c.bias.spec.bits = 32;
  c.data_free = quant_mode == 0;
  c.keep_first_last_float = c.disabled_nodes.empty();
  return c;
}

}  // namespace quench::config_internal
