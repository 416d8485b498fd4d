// Format names, detection of the format from the top-level keys, and the entry points that parse
// the text and hand the object to one front-end.
#include <array>
#include <utility>

#include "config/config_formats.h"
#include "config/config_json.h"
#include "core/file_io.h"

namespace quench {

namespace ci = config_internal;

namespace {

// The keys that mark each format at the top level of the file.
constexpr std::string_view kVaiqMarks[] = {
    "overall_quantize_config", "tensor_quantize_config", "layer_quantize_config",
    "target_device", "quantizable_data_type", "include_cle", "include_bias_corr",
    "convert_relu6_to_relu", "convert_silu_to_hswish", "keep_first_last_layer_accuracy",
    "keep_add_layer_accuracy", "onnx_opset_version"};
constexpr std::string_view kModelslimMarks[] = {
    "w_bit", "a_bit", "w_signed", "a_signed", "w_sym", "a_sym", "input_shape", "act_quant",
    "act_method", "quant_mode", "disable_names", "amp_num", "keep_acc", "sigma"};
constexpr std::string_view kAimetMarks[] = {"defaults", "params", "op_type", "supergroups",
                                            "model_input", "model_output", "default_output_bw",
                                            "default_param_bw"};

struct FormatMarks {
  ConfigFormat format;
  std::span<const std::string_view> keys;
};
const std::array<FormatMarks, 3> kMarks = {{{ConfigFormat::kVaiq, kVaiqMarks},
                                            {ConfigFormat::kModelslim, kModelslimMarks},
                                            {ConfigFormat::kAimet, kAimetMarks}}};

std::string key_list(const ci::Json& root) {
  std::string out;
  for (const auto& [key, value] : root.items()) out += (out.empty() ? "\"" : ", \"") + key + "\"";
  return "[" + out + "]";
}

Result<ConfigFormat> detect(const ci::Json& root, const ci::JsonReader& r) {
  std::array<int, 3> score{};
  std::array<std::string, 3> seen;
  for (const auto& [key, value] : root.items()) {
    for (size_t f = 0; f < kMarks.size(); ++f) {
      for (std::string_view mark : kMarks[f].keys) {
        if (key != mark) continue;
        ++score[f];
        seen[f] += (seen[f].empty() ? "" : ", ") + key;
      }
    }
  }
  size_t best = 0;
  for (size_t f = 1; f < kMarks.size(); ++f)
    if (score[f] > score[best]) best = f;
  int ties = 0;
  for (size_t f = 0; f < kMarks.size(); ++f) ties += score[f] == score[best];
  if (score[best] > 0 && ties == 1) return kMarks[best].format;
  if (score[best] == 0) {
    std::string known;
    for (const FormatMarks& m : kMarks)
      known += std::string(known.empty() ? "" : "; ") + config_format_name(m.format) + ": " +
               std::string(m.keys[0]) + ", " + std::string(m.keys[1]) + ", " +
               std::string(m.keys[2]) + "...";
    return r.error("", "cannot tell the config format from the top-level keys " + key_list(root) +
                           " (" + known + "); pass the format explicitly");
  }
  std::string fits;
  for (size_t f = 0; f < kMarks.size(); ++f)
    if (score[f] == score[best])
      fits += std::string(fits.empty() ? "" : "; ") + config_format_name(kMarks[f].format) +
              ": " + seen[f];
  return r.error("", "the top-level keys fit several config formats equally (" + fits +
                         "); pass the format explicitly");
}

const char* label_of(ConfigFormat f) {
  switch (f) {
    case ConfigFormat::kVaiq: return "vai_q config";
    case ConfigFormat::kModelslim: return "modelslim config";
    case ConfigFormat::kAimet: return "aimet config";
    case ConfigFormat::kAuto: break;
  }
  return "config";
}

Result<QuantConfig> parse_as(const ci::Json& root, ConfigFormat f, std::string_view source_name,
                             int default_output_bw, int default_param_bw) {
  const ci::JsonReader r(ci::make_prefix(source_name, label_of(f)));
  switch (f) {
    case ConfigFormat::kVaiq: return ci::vaiq_from_json(root, r);
    case ConfigFormat::kModelslim: return ci::modelslim_from_json(root, r);
    case ConfigFormat::kAimet:
      return ci::aimet_from_json(root, r, default_output_bw, default_param_bw);
    case ConfigFormat::kAuto: break;
  }
  return Status::internal("config: parse_as called with kAuto");
}

}  // namespace

const char* config_format_name(ConfigFormat f) {
  switch (f) {
    case ConfigFormat::kAuto: return "auto";
    case ConfigFormat::kVaiq: return "vai_q";
    case ConfigFormat::kModelslim: return "modelslim";
    case ConfigFormat::kAimet: return "aimet";
  }
  return "?";
}

Result<ConfigFormat> parse_config_format(std::string_view s) {
  for (ConfigFormat f : {ConfigFormat::kAuto, ConfigFormat::kVaiq, ConfigFormat::kModelslim,
                         ConfigFormat::kAimet})
    if (s == config_format_name(f)) return f;
  return Status::invalid("config format \"" + std::string(s) +
                         "\" is not one of auto, vai_q, modelslim, aimet");
}

Result<ConfigFormat> detect_config_format(std::string_view json_text) {
  const ci::JsonReader r("config");
  QUENCH_ASSIGN_OR_RETURN(ci::Json root, ci::parse_json_object(json_text, r));
  return detect(root, r);
}

Result<QuantConfig> parse_quant_config(std::string_view json_text, ConfigFormat format,
                                       std::string_view source_name, int default_output_bw,
                                       int default_param_bw) {
  const ci::JsonReader r(ci::make_prefix(source_name, label_of(format)));
  QUENCH_ASSIGN_OR_RETURN(ci::Json root, ci::parse_json_object(json_text, r));
  if (format == ConfigFormat::kAuto) {
    QUENCH_ASSIGN_OR_RETURN(format, detect(root, r));
  }
  return parse_as(root, format, source_name, default_output_bw, default_param_bw);
}

Result<QuantConfig> load_quant_config(const std::string& path, ConfigFormat format) {
  QUENCH_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_quant_config(text, format, path);
}

Result<QuantConfig> parse_vaiq_config(std::string_view json_text, std::string_view source_name) {
  return parse_quant_config(json_text, ConfigFormat::kVaiq, source_name);
}

Result<QuantConfig> parse_modelslim_config(std::string_view json_text,
                                           std::string_view source_name) {
  return parse_quant_config(json_text, ConfigFormat::kModelslim, source_name);
}

Result<QuantConfig> parse_aimet_config(std::string_view json_text, int default_output_bw,
                                       int default_param_bw, std::string_view source_name) {
  return parse_quant_config(json_text, ConfigFormat::kAimet, source_name, default_output_bw,
                            default_param_bw);
}

}  // namespace quench
