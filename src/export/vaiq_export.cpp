// vai_q_pytorch-style quant_info.json (SPEC B "Outputs"; the file torch_quantizer's
// export_quant_config() writes):
//
//   {"param":  {"<weight or bias>": [[bit_width, fix_pos]]},
//    "output": {"<activation>":     [[bit_width, fix_pos]]},   model inputs and op outputs
//    "input":  {"<layer input>":    [[bit_width, fix_pos]]},   layer-input points (modelslim
//                                                              placement, AIMET input quantizers)
//    "fast_finetuned": false, "bias_corrected": false, "version": "quench"}
//
// [bit_width, fix_pos] (scale = 2^-fix_pos) is the DPU form. With float scales (target_device CPU
// / GPU, or any encoding that is not a power of two) every entry is
// [bit_width, scale, zero_point, float_max] instead, one per channel for per-channel weights
// (float_max = the largest float the grid reaches, (qmax - zero_point) * scale). The form is one
// per file: DPU when target_device is DPU, float when it is CPU / GPU, and otherwise DPU exactly
// when every entry has a per-tensor power-of-two scale. Float-format tensors (bfloat16, float16)
// are not integer-quantized and are left out, as vai_q leaves them out.
#include "export/export.h"
#include "export/export_internal.h"

namespace quench {

namespace {

using export_internal::is_active;
using export_internal::point_label;
using nlohmann::ordered_json;

bool has_dpu_form(const Encoding& e) {
  return e.spec.granularity == Granularity::kPerTensor && e.num_params() == 1 &&
         e.zero_point[0] == 0 && export_internal::fix_pos_of(e, 0).has_value();
}

}  // namespace

Status export_vaiq_quant_info(const QuantizedModel& qm, const std::string& path) {
  QUENCH_RETURN_IF_ERROR(export_internal::check_quantized_model(qm, "vai_q quant_info"));
  std::vector<const QuantPoint*> pts;
  for (const QuantPoint& p : qm.points)
    if (is_active(p) && p.encoding->spec.is_int()) pts.push_back(&p);

  const std::string& target = qm.config.target_device;
  bool dpu = target == "DPU";
  if (target.empty()) {
    dpu = true;
    for (const QuantPoint* p : pts) dpu = dpu && has_dpu_form(*p->encoding);
  }
  if (dpu)
    for (const QuantPoint* p : pts)
      if (!has_dpu_form(*p->encoding))
        return Status::invalid("vai_q quant_info export: " + point_label(*p) + " has encoding " +
                               p->encoding->describe() +
                               ", but target_device DPU needs a per-tensor symmetric power-of-two "
                               "scale ([bit_width, fix_pos])");

  ordered_json param = ordered_json::object(), output = ordered_json::object(),
               input = ordered_json::object();
  for (const QuantPoint* p : pts) {
    const Encoding& e = *p->encoding;
    ordered_json entries = ordered_json::array();
    if (dpu) {
      entries.push_back({e.spec.bits, *export_internal::fix_pos_of(e, 0)});
    } else {
      for (int64_t i = 0; i < e.num_params(); ++i)
        entries.push_back({e.spec.bits, e.scale[static_cast<size_t>(i)],
                           e.zero_point[static_cast<size_t>(i)], e.range_max(i)});
    }
    ordered_json* dst = &output;
    if (p->kind == TensorKind::kWeight || p->kind == TensorKind::kBias) dst = &param;
    if (p->kind == TensorKind::kActivation && p->input_index >= 0) dst = &input;
    if (!dst->contains(p->value)) (*dst)[p->value] = std::move(entries);
  }
  ordered_json j = {{"param", std::move(param)},
                    {"output", std::move(output)},
                    {"input", std::move(input)},
                    {"fast_finetuned", false},
                    {"bias_corrected", false},
                    {"version", "quench"}};
  return export_internal::write_json_atomic(path, j);
}

}  // namespace quench
