// quench config (internal): the resolved vai_q settings of one tensor kind, with the JSON path
// that set each field, and the conflict rules of SPEC B over them.
//
// vai_q layers its settings (built-in default -> overall -> tensor -> layer overall -> layer
// tensor), so a conflict may come from two different places; each field remembers where it was
// set (and how specific that place is), and a conflict names the more specific of the two:
//   VaiqSettings s = vaiq_default_settings(VaiqKind::kActivation);
//   s.set("method", "overall_quantize_config.method", 1);  s.method = "entropy";
//   Status st = check_vaiq_conflicts(settings, listed, "DPU", reader);
#pragma once

#include <array>
#include <map>
#include <string>

#include "config/config_json.h"

namespace quench::config_internal {

// In the order vai_q lists them (quantizable_data_type).
enum class VaiqKind { kInput = 0, kWeights = 1, kBias = 2, kActivation = 3 };
constexpr std::array<std::string_view, 4> kVaiqKindNames = {"input", "weights", "bias",
                                                            "activation"};
inline bool vaiq_has_statistic(VaiqKind k) {
  return k == VaiqKind::kInput || k == VaiqKind::kActivation;
}

struct VaiqOrigin {
  std::string path;  // JSON path of the key; empty for the built-in default
  int rank = 0;      // 0 default, 1 overall, 2 tensor, 3 layer overall, 4 layer tensor
};

struct VaiqSettings {
  std::string datatype = "int";  // int | bfloat16 | float16 | float32
  int bit_width = 8;
  std::string method = "diffs";
  std::string round_mode = "std_round";
  bool symmetry = true;
  bool per_channel = false;
  bool is_signed = true;
  bool narrow_range = false;
  std::string scale_type = "poweroftwo";
  std::string statistic = "modal";  // calib_statistic_method; input and activation only
  double percentage = 99.99;
  std::map<std::string, VaiqOrigin, std::less<>> origin;  // by JSON key name

  void set_origin(std::string_view key, std::string path, int rank) {
    origin[std::string(key)] = {std::move(path), rank};
  }
  const VaiqOrigin& origin_of(std::string_view key) const;
};

// The built-in DPU default of SPEC B: int8 symmetric signed diffs per-tensor power-of-two,
// std_round (half_up for activation), modal statistic.
VaiqSettings vaiq_default_settings(VaiqKind kind);

// Checks the conflict rules of SPEC B for the kinds with listed[k], given the settings of all four
// kinds (the DPU bias/activation bit-width rule compares two kinds).
Status check_vaiq_conflicts(const std::array<VaiqSettings, 4>& settings,
                            const std::array<bool, 4>& listed, const std::string& target_device,
                            const JsonReader& r);

}  // namespace quench::config_internal
