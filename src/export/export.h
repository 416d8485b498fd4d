// quench export: a quantized model in the formats other tools read.
//
// Every exporter takes a QuantizedModel (sim/quantsim.h: the sim model plus its quantization points
// with their encodings) and writes files atomically (a temporary file, then a rename): a failed
// export never leaves a half-written file behind.
//
//   QDQ ONNX       QuantizeLinear -> DequantizeLinear on every enabled activation / input point,
//                  integer weights (+ DequantizeLinear, per-channel axis, per-block block_size), int32
//                  biases. Opset 13 when every integer grid fits int8 / uint8; opset 21 (INT4 / UINT4
//                  / INT16 / UINT16, block_size) otherwise. onnxruntime loads the result.
//   AIMET          the .encodings JSON in the 0.6.1 layout (name -> list of per-channel dicts) or the
//                  1.0.0 layout (list of {name, dtype, enc_type, bw, is_sym, scale[], offset[]}).
//   vai_q          quant_info.json: {"param", "output", "input"} -> [[bit_width, fix_pos]] (DPU,
//                  power-of-two scales) or [[bit_width, scale, zero_point, float_max], ...].
//   modelslim      per weighted layer: <layer>.input_scale / input_offset / weight_scale /
//                  weight_offset / quant_weight .npy, and an index quant_params.json.
//
// Names: encodings are keyed by the value names of the sim model, which the QDQ model keeps (a QDQ
// model and its encodings files describe the same tensors).
//
// QDQ details:
//   - an activation point on value v: the producer writes "v_fp", Q/DQ follow, and the
//     DequantizeLinear output is named v, so consumers and graph outputs read the quantized value;
//     a model input keeps its name and its consumers read "<v>_dequantized" instead;
//   - grids that do not fill their storage type (int8 narrow range, 2..7 bits stored in int8,
//     9..15 bits in int16) get a Clip to the grid's float range before QuantizeLinear, so that
//     onnxruntime reproduces the narrow grid; weights are already on the grid;
//   - float16 / bfloat16 points become Cast(to float16 / bfloat16) -> Cast(to float): the rounding
//     the format implies, in a model that still computes in float; float16 / bfloat16 weights are
//     stored in that type with a Cast to float after them;
//   - QuantizeLinear rounds half to even: encodings with another rounding mode (vai_q half_up on
//     activations) differ from the simulation on exact ties only;
//   - moving a model from opset 13..20 to 21 rewrites the ops whose meaning changed in between
//     (Reduce* axes attribute -> input, Split num_outputs, RoiAlign's default
//     coordinate_transformation_mode, GridSample mode names) and fails with kUnsupported naming any
//     other changed op (DFT, GroupNormalization, training-mode BatchNormalization).
//
//   QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, default_quant_config()));
//   QUENCH_RETURN_IF_ERROR(sim->compute_encodings(batches));
//   QuantizedModel qm = sim->quantized_model();
//   QUENCH_RETURN_IF_ERROR(export_qdq_onnx(qm, "out/model_qdq.onnx"));
//   QUENCH_RETURN_IF_ERROR(export_aimet_encodings(qm, "out/model.encodings",
//                                                 AimetEncodingVersion::k1_0_0));
//   QUENCH_RETURN_IF_ERROR(export_vaiq_quant_info(qm, "out/quant_info.json"));
//   QUENCH_RETURN_IF_ERROR(export_modelslim_params(qm, "out/modelslim"));
#pragma once

#include <string>

#include "core/status.h"
#include "ir/graph.h"
#include "sim/quantsim.h"

namespace quench {

struct QdqExportOptions {
  // Default-domain opset of the exported model. 0 = automatic (13, or 21 when an encoding needs
  // it, never below the model's own); 13..21 asks for that opset, and fails (kInvalid) when an
  // encoding needs a higher one.
  int opset = 0;
};

// The QDQ model in memory (also what export_qdq_onnx writes).
Result<Model> make_qdq_model(const QuantizedModel& qm, const QdqExportOptions& o = {});
Status export_qdq_onnx(const QuantizedModel& qm, const std::string& path,
                       const QdqExportOptions& o = {});

enum class AimetEncodingVersion { k0_6_1, k1_0_0 };
const char* aimet_encoding_version_name(AimetEncodingVersion v);  // "0.6.1", "1.0.0"

// AIMET offsets follow AIMET: x = (q_unsigned + offset) * scale, i.e. offset = -zero_point for an
// unsigned grid and -zero_point - 2^(bits-1) for a signed one (int8 symmetric: -128).
Status export_aimet_encodings(const QuantizedModel& qm, const std::string& path,
                              AimetEncodingVersion v);
Status export_vaiq_quant_info(const QuantizedModel& qm, const std::string& path);
// Writes into `dir` (created when missing). On failure the files this call wrote are removed.
Status export_modelslim_params(const QuantizedModel& qm, const std::string& dir);

}  // namespace quench
