// quench config: the vai_q, modelslim and AIMET config files, each read into one QuantConfig.
//
// Three front-ends turn the configuration files of the reference tools into the internal
// QuantConfig (quant/quant_config.h) that QuantSim reads; SPEC.md sections B, C and D give their
// exact meaning:
//   - vai_q_pytorch JSON (kVaiq): the built-in DPU default, then overall_quantize_config, then
//     tensor_quantize_config, then layer_quantize_config entries (by layer_type first, then by
//     layer_name), each resolved into full per-tensor settings and checked against every conflict
//     rule of the target_device. A layer entry overrides only the tensor kinds it lists in its
//     quantizable_data_type; a kind with datatype float32 stays float. onnx_opset_version, which
//     the vai_q example files carry, is accepted and has no effect (the QDQ export picks its opset
//     from the bit widths).
//   - modelslim QuantConfig as JSON (kModelslim): the keyword arguments of
//     modelslim.pytorch.quant.ptq_tools.QuantConfig with their Python defaults (null = default),
//     bits 2..16 instead of modelslim's 8 only.
//   - AIMET QuantSim runtime config (kAimet): defaults / params / op_type / supergroups /
//     model_input / model_output, values "True"/"False" (as AIMET writes them) or JSON booleans,
//     plus QuantizationSimModel's default_output_bw / default_param_bw, which may also be given as
//     top-level keys of the file (a quench extension; the file's value wins over the argument).
//     defaults.hw_version is accepted as a label; model_input without is_input_quantized "True"
//     leaves model inputs unquantized, as AIMET does.
// Errors are kInvalid and name the JSON path, the offending value and the rule:
//   vai_q config: layer_quantize_config[1].overall_quantize_config.method: "entropy" needs
//   symmetry=true for int weights on CPU (got false)
// Settings that are valid but not implemented (AIMET supported_kernels) are kUnsupported. Steps a
// config asks for that issue 4 implements (CLE, bias correction, keep_acc, amp_num) are recorded in
// QuantConfig::algorithms; QuantSim decides whether it can honour them.
//
//   Result<QuantConfig> c = load_quant_config("examples/vai_q/int_config.json");  // kAuto
//   if (!c.ok()) return c.status();
//   // c->source == "vai_q", c->target_device == "CPU", c->weight.observer.method == kVaiqMaxmin
//
//   QUENCH_ASSIGN_OR_RETURN(ConfigFormat f, parse_config_format("aimet"));
//   QUENCH_ASSIGN_OR_RETURN(QuantConfig a, parse_quant_config(text, f, "cfg.json", 8, 4));  // W4A8
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "quant/quant_config.h"

namespace quench {

enum class ConfigFormat { kAuto, kVaiq, kModelslim, kAimet };

// "auto", "vai_q", "modelslim", "aimet" (the --config-format values).
Result<ConfigFormat> parse_config_format(std::string_view s);
const char* config_format_name(ConfigFormat f);

// The format whose top-level keys the JSON object has (vai_q: overall_quantize_config,
// target_device, ...; modelslim: w_bit, act_method, disable_names, ...; AIMET: defaults, op_type,
// supergroups, ...). The format with the most matching keys wins; a tie or no match is kInvalid,
// listing the keys seen.
Result<ConfigFormat> detect_config_format(std::string_view json_text);

// Parses `json_text` in `format` (kAuto: detect_config_format). `source_name` (a file name, or
// empty) prefixes every message. default_output_bw / default_param_bw are AIMET's activation and
// parameter bit widths, used by the AIMET front-end only.
Result<QuantConfig> parse_quant_config(std::string_view json_text, ConfigFormat format,
                                       std::string_view source_name = {},
                                       int default_output_bw = 8, int default_param_bw = 8);

// Reads the file at `path` and parses it; messages start with the path.
Result<QuantConfig> load_quant_config(const std::string& path,
                                      ConfigFormat format = ConfigFormat::kAuto);

// The front-ends one by one.
Result<QuantConfig> parse_vaiq_config(std::string_view json_text, std::string_view source_name = {});
Result<QuantConfig> parse_modelslim_config(std::string_view json_text,
                                           std::string_view source_name = {});
Result<QuantConfig> parse_aimet_config(std::string_view json_text, int default_output_bw = 8,
                                       int default_param_bw = 8,
                                       std::string_view source_name = {});

}  // namespace quench
