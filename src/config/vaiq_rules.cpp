// The conflict rules of vai_q_pytorch (SPEC B; nndct_shared/quantization/quant_config.py), for
// int tensors only:
//   DPU: symmetric, method diffs|maxmin, per_tensor, poweroftwo, narrow_range false, statistic
//        modal, round half_up (activation) / std_round (weights, bias, input), and activation and
//        bias of equal bit width.
//   CPU / GPU: per_channel only for weights; per_channel with float scale needs maxmin;
//        poweroftwo needs diffs|maxmin, symmetric and signed (and, per tensor, statistic modal);
//        per_tensor float scale needs maxmin|percentile|mse|entropy and statistic max|mean|median;
//        asymmetric float per_tensor rejects percentile, entropy and mse.
// A rule between two fields reports the one set in the more specific place (a layer entry over
// the overall settings over the built-in default), so the message points at what the user wrote.
#include "config/vaiq_settings.h"

#include <algorithm>
#include <initializer_list>

namespace quench::config_internal {

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string value_of(const VaiqSettings& s, std::string_view key) {
  if (key == "datatype") return quoted(s.datatype);
  if (key == "bit_width") return std::to_string(s.bit_width);
  if (key == "method") return quoted(s.method);
  if (key == "round_mode") return quoted(s.round_mode);
  if (key == "symmetry") return s.symmetry ? "true" : "false";
  if (key == "per_channel") return s.per_channel ? "true" : "false";
  if (key == "signed") return s.is_signed ? "true" : "false";
  if (key == "narrow_range") return s.narrow_range ? "true" : "false";
  if (key == "scale_type") return quoted(s.scale_type);
  if (key == "calib_statistic_method") return quoted(s.statistic);
  return "?";
}

// Where a field was set, for the message: its JSON path, or "<kind>.<key> (built-in default)".
std::string place_of(const VaiqSettings& s, std::string_view key, VaiqKind kind) {
  const VaiqOrigin& o = s.origin_of(key);
  if (!o.path.empty()) return o.path;
  return std::string(kVaiqKindNames[static_cast<int>(kind)]) + "." + std::string(key) +
         " (built-in default)";
}

bool in(const std::string& v, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

class RuleChecker {
 public:
  RuleChecker(const VaiqSettings& s, VaiqKind kind, const std::string& device, const JsonReader& r)
      : s_(s), kind_(kind), device_(device), r_(r) {}

  // One field with a fixed set of allowed values (the DPU rules).
  Status not_allowed(std::string_view key, const std::string& allowed) const {
    return Status::invalid(r_.prefix() + ": " + place_of(s_, key, kind_) + ": " +
                           value_of(s_, key) + " is not allowed for int " + kind_name() +
                           " on target_device " + device_ + " (allowed: " + allowed + ")");
  }

  // Two fields that conflict; `need_a` is what field a's value needs of field b and vice versa.
  Status conflict(std::string_view key_a, const std::string& need_a, std::string_view key_b,
                  const std::string& need_b) const {
    const bool b_first = s_.origin_of(key_b).rank > s_.origin_of(key_a).rank;
    const std::string_view p = b_first ? key_b : key_a;
    const std::string_view q = b_first ? key_a : key_b;
    const std::string& need = b_first ? need_b : need_a;
    return Status::invalid(r_.prefix() + ": " + place_of(s_, p, kind_) + ": " + value_of(s_, p) +
                           " needs " + need + " for int " + kind_name() + " on " + device_ +
                           " (got " + value_of(s_, q) + ")");
  }

  Status check_dpu() const {
    if (!s_.symmetry) return not_allowed("symmetry", "true");
    if (!in(s_.method, {"diffs", "maxmin"})) return not_allowed("method", "diffs, maxmin");
    if (s_.per_channel) return not_allowed("per_channel", "false");
    if (s_.scale_type != "poweroftwo") return not_allowed("scale_type", "poweroftwo");
    if (s_.narrow_range) return not_allowed("narrow_range", "false");
    if (vaiq_has_statistic(kind_) && s_.statistic != "modal")
      return not_allowed("calib_statistic_method", "modal");
    const char* round = kind_ == VaiqKind::kActivation ? "half_up" : "std_round";
    if (s_.round_mode != round) return not_allowed("round_mode", round);
    return Status();
  }

  Status check_cpu_gpu() const {
    if (s_.per_channel && kind_ != VaiqKind::kWeights)
      return not_allowed("per_channel", "false; per_channel is for weights only");
    const bool pow2 = s_.scale_type == "poweroftwo";
    if (s_.per_channel && !pow2 && s_.method != "maxmin")
      return conflict("method", "per_channel=false when scale_type is float", "per_channel",
                      "method maxmin when scale_type is float");
    if (pow2) {
      if (!in(s_.method, {"diffs", "maxmin"}))
        return conflict("method", "scale_type float", "scale_type", "method diffs or maxmin");
      if (!s_.symmetry) return conflict("symmetry", "scale_type float", "scale_type", "symmetry=true");
      if (!s_.is_signed) return conflict("signed", "scale_type float", "scale_type", "signed=true");
      if (!s_.per_channel && vaiq_has_statistic(kind_) && s_.statistic != "modal")
        return conflict("calib_statistic_method", "scale_type float", "scale_type",
                        "calib_statistic_method modal");
      return Status();
    }
    if (s_.per_channel) return Status();
    if (!in(s_.method, {"maxmin", "percentile", "mse", "entropy"}))
      return conflict("method", "scale_type poweroftwo", "scale_type",
                      "method maxmin, percentile, mse or entropy");
    if (vaiq_has_statistic(kind_) && s_.statistic == "modal")
      return conflict("calib_statistic_method", "scale_type poweroftwo", "scale_type",
                      "calib_statistic_method max, mean or median");
    if (!s_.symmetry && in(s_.method, {"percentile", "entropy", "mse"}))
      return conflict("method", "symmetry=true", "symmetry", "method maxmin");
    return Status();
  }

 private:
  std::string kind_name() const { return std::string(kVaiqKindNames[static_cast<int>(kind_)]); }

  const VaiqSettings& s_;
  VaiqKind kind_;
  const std::string& device_;
  const JsonReader& r_;
};

}  // namespace

const VaiqOrigin& VaiqSettings::origin_of(std::string_view key) const {
  static const VaiqOrigin kDefault;
  auto it = origin.find(key);
  return it == origin.end() ? kDefault : it->second;
}

VaiqSettings vaiq_default_settings(VaiqKind kind) {
  VaiqSettings s;
  if (kind == VaiqKind::kActivation) s.round_mode = "half_up";
  return s;
}

Status check_vaiq_conflicts(const std::array<VaiqSettings, 4>& settings,
                            const std::array<bool, 4>& listed, const std::string& target_device,
                            const JsonReader& r) {
  for (int k = 0; k < 4; ++k) {
    const VaiqSettings& s = settings[static_cast<size_t>(k)];
    if (!listed[static_cast<size_t>(k)] || s.datatype != "int") continue;
    RuleChecker checker(s, static_cast<VaiqKind>(k), target_device, r);
    if (target_device == "DPU") {
      QUENCH_RETURN_IF_ERROR(checker.check_dpu());
    } else {
      QUENCH_RETURN_IF_ERROR(checker.check_cpu_gpu());
    }
  }
  // DPU: bias is added in the accumulator at the activation's fix position width.
  const size_t kb = static_cast<size_t>(VaiqKind::kBias);
  const size_t ka = static_cast<size_t>(VaiqKind::kActivation);
  const VaiqSettings& bias = settings[kb];
  const VaiqSettings& act = settings[ka];
  if (target_device == "DPU" && (listed[kb] || listed[ka]) && bias.datatype == "int" &&
      act.datatype == "int" && bias.bit_width != act.bit_width) {
    const bool act_first = act.origin_of("bit_width").rank > bias.origin_of("bit_width").rank;
    const VaiqSettings& p = act_first ? act : bias;
    const VaiqSettings& q = act_first ? bias : act;
    const VaiqKind pk = act_first ? VaiqKind::kActivation : VaiqKind::kBias;
    const char* pname = act_first ? "activation" : "bias";
    const char* qname = act_first ? "bias" : "activation";
    return Status::invalid(r.prefix() + ": " + place_of(p, "bit_width", pk) + ": " +
                           std::to_string(p.bit_width) + " is not allowed for int " + pname +
                           " on target_device DPU (allowed: the " + qname + " bit_width, " +
                           std::to_string(q.bit_width) + ")");
  }
  return Status();
}

}  // namespace quench::config_internal
