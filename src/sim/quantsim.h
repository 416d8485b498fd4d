// quench sim: QuantSim, the quantization simulator.
//
// QuantSim takes an FP32 model and a QuantConfig, decides where quantizers go (the quantization
// points), calibrates them on data and then runs the model with every enabled quantizer applied, in
// float (fake quantization), through the executor's tap. The exporters (src/export) turn the result
// into a QDQ ONNX model and encodings files.
//
// Points:
//   - model inputs and op outputs (Placement::kOutputs) or the activation inputs of the weighted
//     layers (Placement::kLayerInputs); never inside a supergroup (Conv+Relu, Gemm+Relu, Add+Relu,
//     MatMul+Add...), never on shape values (Shape, the shape input of Reshape / Expand / Tile, the
//     indices of Gather on shapes) or on non-float values;
//   - weights of Conv / ConvTranspose / Gemm / MatMul (constant inputs), per channel on the output
//     channel axis when the spec asks for it; biases as int32 (scale = s_in * s_w), float, or
//     quantized with their own spec.
//   When a point must apply to one consumer only (a layer input whose value also feeds a float op),
//   QuantSim gives that consumer its own copy of the value through an Identity node, so the point
//   is still a value of the sim model.
//
//   QUENCH_ASSIGN_OR_RETURN(auto sim, QuantSim::create(model, default_quant_config()));
//   QUENCH_RETURN_IF_ERROR(sim->compute_encodings(calib_batches));
//   QUENCH_ASSIGN_OR_RETURN(auto logits, sim->run({{"input", x}}));
//   sim->set_enabled_by_op_type("Add", false);
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "quant/encoding.h"
#include "quant/quant_config.h"
#include "runtime/executor.h"

namespace quench {

struct QuantPoint {
  std::string value;         // the quantized value in the sim model (input, output, initializer or copy)
  std::string source_value;  // its name in the original model
  TensorKind kind = TensorKind::kActivation;
  std::string node;          // owning node: producer (activation), consumer (weight, bias, layer input)
  std::string op_type;       // op type of `node` ("" for a model input)
  int input_index = -1;      // weight / bias / layer input: the input slot of `node`
  TensorQuantConfig config;  // resolved settings (spec with the channel axis filled in)
  std::optional<Encoding> encoding;  // set by compute_encodings (weights and biases: at once)
  bool enabled = true;
};

// A quantized model as the exporters see it: the sim model (the FP32 model after QuantSim's
// rewrites: BatchNormalization folded, per-consumer copies added), in float, and its points.
struct QuantizedModel {
  std::shared_ptr<const Model> model;
  std::vector<QuantPoint> points;
  QuantConfig config;
};

struct QuantSimOptions {
  int num_threads = 0;
  // NaN / Inf in calibration data: fail (default) or skip the batch with a warning.
  bool skip_bad_batches = false;
  // Progress on stderr while calibrating ("" = no progress): the CLI passes a label when stderr is
  // a terminal.
  std::function<void(int64_t done, int64_t total)> progress;
  // Messages that are not errors (skipped batches, layers kept float), for the CLI to print.
  std::function<void(const std::string&)> warn;
};

// A calibration batch source: called with i = 0, 1, ... until it returns an empty Feeds.
using BatchSource = std::function<Result<Executor::Feeds>(int64_t i)>;

// True for ops whose output lies on their data input's grid (Reshape, Transpose, MaxPool,
// Flatten...): QuantSim gives them no quantizer of their own when their input has one.
bool op_keeps_input_grid(std::string_view op_type);

// The supergroups QuantSim uses when the config sets none (Conv+BatchNormalization+Relu, Gemm+Relu,
// MatMul+Add, Add+Relu...): no quantizer sits inside one; its output point belongs to its head.
const std::vector<std::vector<std::string>>& default_supergroups();

// Data-free calibration (modelslim quant_mode 0 without data): `num_batches` batches of uniform
// random values in [0, 1) for the model's single float input, shaped `input_shape` (a batch
// dimension is prepended to a rank-3 shape). Deterministic for a seed.
Result<BatchSource> random_batch_source(const Model& model, const Shape& input_shape,
                                        int64_t num_batches, uint64_t seed = 0);

class QuantSim {
 public:
  static Result<std::unique_ptr<QuantSim>> create(std::shared_ptr<const Model> fp32,
                                                  const QuantConfig& config,
                                                  QuantSimOptions options = {});
  ~QuantSim();

  // Runs `num_batches` batches (or until the source ends when < 0) in FP32, feeding every enabled
  // activation point's observer, then sets their encodings and the bias encodings. kInvalid for an
  // empty source ("calibration set is empty"), for NaN / Inf (naming the tensor and batch) unless
  // skip_bad_batches.
  Status compute_encodings(const BatchSource& source, int64_t num_batches = -1);

  // Runs the quantized model (every enabled point with an encoding applied).
  Result<std::vector<Tensor>> run(const Executor::Feeds& feeds);
  // FP32 run of the same sim model (all quantizers bypassed: bit-identical to the original model).
  Result<std::vector<Tensor>> run_fp32(const Executor::Feeds& feeds);
  // The same two runs returning the named values of the sim model (intermediates or outputs) in
  // the given order; in the quantized run a value with an activation point is returned quantized,
  // as the ops downstream read it. For the algorithms that need per-layer inputs and targets.
  Result<std::vector<Tensor>> run(const Executor::Feeds& feeds,
                                  const std::vector<std::string>& fetches);
  Result<std::vector<Tensor>> run_fp32(const Executor::Feeds& feeds,
                                       const std::vector<std::string>& fetches);
  // Bypass mode: run() behaves as run_fp32().
  void set_bypass(bool bypass);

  // Enables or disables quantizers; returns how many points matched (0 is not an error).
  int set_enabled(std::string_view value_or_node_name, bool enabled);
  int set_enabled_by_op_type(std::string_view op_type, bool enabled);
  int set_enabled_by_kind(TensorKind kind, bool enabled);

  const std::vector<QuantPoint>& points() const;
  QuantPoint* find_point(std::string_view value);
  // Replaces a point's encoding (AdaRound, manual overrides); weights are re-quantized.
  Status set_encoding(std::string_view value, const Encoding& e);
  // Replaces a constant of the sim model (a weight or bias after AdaRound, bias correction, CLE)
  // with a float tensor of the same shape. A weight point keeps its encoding when
  // `keep_encoding` (AdaRound: the rounding was chosen for that grid); otherwise its encoding is
  // recomputed from the new values. Both executors see the new value at their next run.
  Status set_parameter(std::string_view value, Tensor t, bool keep_encoding = true);
  // The quantized run (and the exported model) uses `t` for weight point `value`, the FP32 run keeps
  // the model's values: for AdaRound and SQuant, which choose the rounding of each element. `t` is
  // fake-quantized with the point's encoding, so values off its grid are rounded to it.
  Status set_quantized_weight(std::string_view value, Tensor t);

  const Model& sim_model() const;
  std::shared_ptr<const Model> sim_model_ptr() const;
  const QuantConfig& config() const;
  QuantizedModel quantized_model() const;

 private:
  struct Impl;
  explicit QuantSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quench
