// AIMET encodings JSON (the .encodings file of QuantizationSimModel.export), layouts 0.6.1 and
// 1.0.0, from AIMET's encoding format specification and its exporter (quic/aimet
// aimet_torch/v2/quantization/affine/encoding.py, aimet_torch/_base/quantsim export utilities):
//
//   0.6.1  {"version": "0.6.1",
//           "activation_encodings": {name: [{bitwidth, dtype: "int", is_symmetric: "True"|"False",
//                                            max, min, offset, scale}, ... one per channel]},
//           "param_encodings": {...same...}, "excluded_layers": [...], "quantizer_args": {...}}
//          float tensors: [{"bitwidth": 16, "dtype": "float"}]
//   1.0.0  {"version": "1.0.0",
//           "activation_encodings": [{name, dtype: "INT", enc_type: "PER_TENSOR"|"PER_CHANNEL"|
//                                     "PER_BLOCK", bw, is_sym: bool, scale: [...], offset: [...],
//                                     block_size (per-block)}],
//           "param_encodings": [...], "excluded_layers": [...], "quantizer_args": {...}}
//          float tensors: {name, dtype: "FLOAT", enc_type: "PER_TENSOR", bw: 16}
// Offsets are AIMET's (export.h): -zero_point on unsigned grids, -zero_point - 2^(bits-1) on
// signed ones; min / max are the float range of the grid.
#include <set>

#include "export/export.h"
#include "export/export_internal.h"

namespace quench {

namespace {

using export_internal::point_label;
using nlohmann::ordered_json;

const char* py_bool(bool b) { return b ? "True" : "False"; }

const char* enc_type(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor: return "PER_TENSOR";
    case Granularity::kPerChannel: return "PER_CHANNEL";
    case Granularity::kPerBlock: return "PER_BLOCK";
  }
  return "PER_TENSOR";
}

// AIMET names for quench's range-setting methods where AIMET has one.
std::string quant_scheme(CalibMethod m) {
  switch (m) {
    case CalibMethod::kMinMax: return "post_training_tf";
    case CalibMethod::kTfEnhanced: return "post_training_tf_enhanced";
    case CalibMethod::kPercentile: return "post_training_percentile";
    default: return calib_method_name(m);
  }
}

// AIMET writes float encodings for float16 only; everything else it cannot express is refused.
Status check_format(const QuantPoint& p, const QuantSpec& s) {
  const NumberFormat f = s.format;
  if (f == NumberFormat::kInt || f == NumberFormat::kFloat16 || f == NumberFormat::kFloat32)
    return Status();
  return Status::unsupported("AIMET encodings export: " + point_label(p) + " uses " +
                             number_format_name(f) +
                             "; AIMET encodings describe integer and float16 tensors only");
}

ordered_json legacy_float_entries() {
  ordered_json list = ordered_json::array();
  list.push_back({{"bitwidth", 16}, {"dtype", "float"}});
  return list;
}

ordered_json legacy_entries(const Encoding& e) {
  ordered_json list = ordered_json::array();
  for (int64_t i = 0; i < e.num_params(); ++i) {
    list.push_back({{"bitwidth", e.spec.bits},
                    {"dtype", "int"},
                    {"is_symmetric", py_bool(e.spec.symmetric)},
                    {"max", e.range_max(i)},
                    {"min", e.range_min(i)},
                    {"offset", export_internal::aimet_offset(e, i)},
                    {"scale", e.scale[static_cast<size_t>(i)]}});
  }
  return list;
}

ordered_json v1_float_entry(const std::string& name) {
  return {{"name", name}, {"dtype", "FLOAT"}, {"enc_type", "PER_TENSOR"}, {"bw", 16}};
}

ordered_json v1_entry(const std::string& name, const Encoding& e) {
  ordered_json j = {{"name", name},
                    {"dtype", "INT"},
                    {"enc_type", enc_type(e.spec.granularity)},
                    {"bw", e.spec.bits},
                    {"is_sym", e.spec.symmetric}};
  ordered_json scale = ordered_json::array(), offset = ordered_json::array();
  for (int64_t i = 0; i < e.num_params(); ++i) {
    scale.push_back(e.scale[static_cast<size_t>(i)]);
    offset.push_back(export_internal::aimet_offset(e, i));
  }
  j["scale"] = std::move(scale);
  j["offset"] = std::move(offset);
  if (e.spec.granularity == Granularity::kPerBlock) j["block_size"] = e.spec.block_size;
  return j;
}

}  // namespace

Status export_aimet_encodings(const QuantizedModel& qm, const std::string& path,
                              AimetEncodingVersion v) {
  QUENCH_RETURN_IF_ERROR(export_internal::check_quantized_model(qm, "AIMET encodings"));
  const bool legacy = v == AimetEncodingVersion::k0_6_1;
  ordered_json acts = legacy ? ordered_json::object() : ordered_json::array();
  ordered_json params = legacy ? ordered_json::object() : ordered_json::array();
  std::set<std::string> written;
  // Layers with quantization points, all of them disabled, count as excluded (as AIMET lists
  // the layers it kept in float), and so do the config's disabled nodes.
  std::set<std::string> with_points, with_active;
  for (const QuantPoint& p : qm.points) {
    if (!p.node.empty()) with_points.insert(p.node);
    const QuantSpec* spec = export_internal::applied_spec(p);
    if (!spec || spec->format == NumberFormat::kFloat32) continue;
    if (!p.node.empty()) with_active.insert(p.node);
    QUENCH_RETURN_IF_ERROR(check_format(p, *spec));
    if (!written.insert(p.value).second) continue;  // a shared weight: once
    const bool is_param = p.kind == TensorKind::kWeight || p.kind == TensorKind::kBias;
    ordered_json& dst = is_param ? params : acts;
    const bool is_float = spec->format == NumberFormat::kFloat16;
    if (legacy) {
      dst[p.value] = is_float ? legacy_float_entries() : legacy_entries(*p.encoding);
    } else {
      dst.push_back(is_float ? v1_float_entry(p.value) : v1_entry(p.value, *p.encoding));
    }
  }
  std::set<std::string> excluded(qm.config.disabled_nodes.begin(), qm.config.disabled_nodes.end());
  for (const std::string& n : with_points)
    if (!with_active.count(n)) excluded.insert(n);

  const QuantConfig& c = qm.config;
  ordered_json args = {
      {"activation_bitwidth", c.activation.spec.bits},
      {"dtype", c.activation.spec.is_int() ? "int" : "float"},
      {"is_symmetric", py_bool(c.weight.spec.symmetric)},
      {"param_bitwidth", c.weight.spec.bits},
      {"per_channel_quantization", py_bool(c.weight.spec.granularity == Granularity::kPerChannel)},
      {"quant_scheme", quant_scheme(c.activation.observer.method)}};
  ordered_json j = {{"version", aimet_encoding_version_name(v)},
                    {"activation_encodings", std::move(acts)},
                    {"param_encodings", std::move(params)},
                    {"excluded_layers", ordered_json(std::vector<std::string>(excluded.begin(),
                                                                              excluded.end()))},
                    {"quantizer_args", std::move(args)}};
  return export_internal::write_json_atomic(path, j);
}

}  // namespace quench
