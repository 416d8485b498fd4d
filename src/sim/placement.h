// quench sim (internal): where quantizers go.
//
// place_quant_points() rewrites the sim model (per-consumer Identity copies for layer-input points)
// and lists the points, in graph order:
//   1. weighted layers: Conv / ConvTranspose / Gemm / MatMul (config.weighted_op_types) whose weight
//      input is an initializer; their weight and bias points;
//   2. float layers: disabled_nodes, keep_first_last_float (first and last weighted layer),
//      LayerRule quantize=false; a float layer gets no quantizer of its own, and the supergroup it
//      heads stays float with it;
//   3. supergroups: chains of ops (Conv -> Relu, MatMul -> Add -> Relu...) linked by values with one
//      consumer; no quantizer on the values inside a chain;
//   4. activation points (Placement::kOutputs): model inputs and op outputs, except outputs of ops
//      that keep their input's grid (Reshape, Transpose, MaxPool...: the input's quantizer already
//      holds), of Add under keep_add_float, of float layers, and graph outputs when
//      quantize_model_outputs is false; (Placement::kLayerInputs): the activation inputs of weighted
//      layers;
//   Non-float values (shapes, indices) are dropped later, when the first calibration batch shows
//   their element types.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/quant_config.h"
#include "sim/quantsim.h"

namespace quench::sim_internal {

// The settings for a quantizer of `kind` owned by `node` (null for a model input) on value `value`,
// by the resolution order of quant_config.h; also whether the node is quantized at all and whether
// its output / inputs are.
struct Resolved {
  TensorQuantConfig config;
  bool node_quantized = true;
  bool output_quantized = true;
  bool inputs_quantized = false;
  BiasMode bias_mode = BiasMode::kInt32;
};
Resolved resolve(const QuantConfig& config, TensorKind kind, const Node* node,
                 const std::string& value);

// The output-channel axis of a weighted node's weight (Conv 0, ConvTranspose 1, Gemm by transB,
// MatMul last), given the weight's rank.
int weight_channel_axis(const Node& node, int weight_rank);

// True for ops whose output values lie on their data input's grid (Reshape, MaxPool, ...).
bool keeps_input_grid(const std::string& op_type);

// Places the points; `model` is rewritten in place (Identity copies). kInvalid when a rule names a
// node that does not exist (disabled_nodes, LayerRule node_name), listing close names.
Result<std::vector<QuantPoint>> place_quant_points(Model& model, const QuantConfig& config,
                                                   std::vector<std::string>* notes);

}  // namespace quench::sim_internal
