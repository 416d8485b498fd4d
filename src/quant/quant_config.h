// quench quant: QuantConfig, the one internal form of every quantization config.
//
// The vai_q JSON, modelslim QuantConfig and AIMET runtime-config front-ends (src/config) all produce
// a QuantConfig; QuantSim (src/sim) reads only this. A QuantConfig holds complete settings, never
// partial ones: a front-end resolves its own layering (vai_q overall -> tensor -> layer) into full
// TensorQuantConfig values, so the meaning of every field here is self-contained.
//
// How QuantSim resolves the settings of one quantizer (kind K of node N, value V):
//   1. start from the default of kind K (input / activation / weight / bias);
//   2. apply every LayerRule matching N, in order (a rule matches when its op_type, if set, names
//      N's op type or an alias of it, and its node_name, if set, is N's name); a later rule wins;
//   3. apply `tensors[V]` if present;
//   4. a node in disabled_nodes, or kept float by keep_first_last_float / keep_add_float, gets no
//      quantizers at all.
//
//   QuantConfig c;                                   // W8A8: per-channel weights, min-max activations
//   c.weight.spec.granularity = Granularity::kPerChannel;
//   c.activation.observer.method = CalibMethod::kEntropy;
//   c.layers.push_back({.node_name = "fc2", .quantize = false});   // keep fc2 in float
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "quant/encoding.h"

namespace quench {

// Range-setting methods. Each names the reference whose behaviour it reproduces (SPEC.md).
enum class CalibMethod {
  kMinMax,               // running global min / max
  kMovingAverageMinMax,  // PyTorch MovingAverageMinMaxObserver (averaging_constant = ema_momentum)
  kPercentile,           // |x| percentile from a histogram (ONNX Runtime "Percentile")
  kMse,                  // histogram search for the clip minimising the quantization MSE
  kEntropy,              // KL divergence, 2048-bin |x| histogram searched over 128-bin targets
  kTorchHistogram,       // PyTorch HistogramObserver: L2 search over [min, max] (modelslim act_method 2)
  kSigma,                // modelslim sigma statistic: alpha = sigma * std
  kTfEnhanced,           // AIMET tf_enhanced: SQNR-based search over candidate ranges
  kVaiqMaxmin,           // vai_q "maxmin" (SPEC B)
  kVaiqDiffs,            // vai_q "diffs": power-of-two fix-position search (SPEC B)
  kVaiqPercentile,       // vai_q "percentile" (SPEC B)
  kVaiqMse,              // vai_q "mse" (SPEC B)
  kVaiqEntropy,          // vai_q "entropy" (SPEC B)
  kIfmr,                 // AMCT IFMR (SPEC A.2)
  kHfmg,                 // AMCT HFMG (SPEC A.3)
};
const char* calib_method_name(CalibMethod m);  // "minmax", "moving_average", "percentile", ...
Result<CalibMethod> parse_calib_method(std::string_view s);

// How per-batch results are reduced over batches (vai_q calib_statistic_method). kNone observes
// all batches as one stream.
enum class BatchStatistic { kNone, kModal, kMax, kMean, kMedian };
const char* batch_statistic_name(BatchStatistic s);

struct ObserverConfig;
// The observer settings a method starts from: its reference tool's defaults (HFMG: 4096 bins).
ObserverConfig observer_config_for(CalibMethod m);

struct ObserverConfig {
  CalibMethod method = CalibMethod::kMinMax;
  BatchStatistic batch_statistic = BatchStatistic::kNone;
  // Per-channel statistics along `axis` (activations in NCHW use axis 1; AMCT kv-cache uses the
  // last axis, -1). Per-tensor when false.
  bool per_channel = false;
  int axis = 1;
  int batch_num = 0;              // observe only the first batch_num batches (AMCT); 0 = all
  double ema_momentum = 0.01;     // kMovingAverageMinMax
  double percentile = 99.99;      // kPercentile / kVaiqPercentile, in (0, 100]
  int num_bins = 2048;            // histogram methods (kHfmg: num_of_bins, default 4096)
  int num_quantized_bins = 128;   // reserved: kEntropy takes its target bin count from the spec
                                  // (2^(b-1) signed, 2^b unsigned) and tries every threshold
  int sigma = 25;                 // kSigma, integer in [0, 100]
  // kIfmr (SPEC A.2)
  double ifmr_max_percentile = 0.999999;
  double ifmr_min_percentile = 0.999999;
  double ifmr_search_start = 0.7;
  double ifmr_search_end = 1.3;
  double ifmr_search_step = 0.01;
};

enum class TensorKind { kInput, kActivation, kWeight, kBias };
const char* tensor_kind_name(TensorKind k);  // "input", "activation", "weights", "bias"

struct TensorQuantConfig {
  bool enabled = true;
  QuantSpec spec;
  ObserverConfig observer;
};

enum class BiasMode {
  kInt32,      // int32 with scale = input scale * weight scale (per channel), zero point 0 (ONNX QDQ)
  kFloat,      // bias left in float
  kQuantized,  // quantized with its own spec and range (vai_q bias settings)
};

// Where activation quantizers go.
enum class Placement {
  kOutputs,      // every quantizable op's output and the model inputs (AIMET, vai_q)
  kLayerInputs,  // the activation inputs of the weighted layers only (modelslim)
};

struct LayerRule {
  std::string op_type;    // "" = any op type; ONNX op type or an alias (torch.nn.Conv2d)
  std::string node_name;  // "" = any node
  std::optional<bool> quantize;         // false: the layer stays float (no quantizer of its own)
  std::optional<bool> quantize_output;  // AIMET is_output_quantized
  std::optional<bool> quantize_inputs;  // AIMET is_input_quantized
  std::optional<TensorQuantConfig> input, activation, weight, bias;
  std::optional<BiasMode> bias_mode;
  std::string origin;     // where the rule came from, for messages ("layer_quantize_config[1]")
};

// Accuracy-recovery steps a config (or the command line) asks for. QuantSim itself applies none of
// them but BatchNormalization folding; algo/ptq.h (quantize_model) runs them in order.
enum class BiasCorrectionKind { kEmpirical, kAnalytical, kInCalibration };

struct AlgorithmOptions {
  bool fold_batchnorm = true;
  bool convert_relu6_to_relu = false;
  bool convert_silu_to_hswish = false;
  bool cle = false;                     // implies ReLU6 -> ReLU (AIMET) so that CLE passes Clip(0, 6)
  bool high_bias_absorption = true;     // with cle
  bool bias_correction = false;
  BiasCorrectionKind bias_correction_kind = BiasCorrectionKind::kEmpirical;
  bool adaround = false;
  int64_t adaround_iterations = 0;      // 0 = AIMET's default (10000; 15000 below 8 bits)
  int64_t adaround_samples = 0;         // 0 = AdaRound's default
  bool admm = false;
  int admm_iterations = 1000;
  bool easy_quant = false;
  int easy_quant_iterations = 1000;
  bool round_opt = false;               // AdaRound with data, SQuant without
  bool squant = false;                  // SQuant weight rounding (data-free mode uses it anyway)
  int amp_num = 0;
  // Accuracy budget: fall back the fewest layers so that the top-1 drop stays within
  // max_drop_points (needs labelled evaluation data) or the output SQNR reaches min_sqnr_db.
  std::optional<double> max_drop_points;
  std::optional<double> min_sqnr_db;
};

struct QuantConfig {
  // Defaults per kind of tensor. Weights default to per-tensor symmetric int8; QuantSim resolves the
  // channel axis of per-channel weights from the op (Conv: 0, ConvTranspose: 1, Gemm transB=1: 0,
  // Gemm transB=0 and MatMul: last).
  TensorQuantConfig input, activation, weight, bias;
  BiasMode bias_mode = BiasMode::kInt32;
  Placement placement = Placement::kOutputs;
  // Op types whose weights are quantized (and, for kLayerInputs, whose activation inputs are).
  // Empty = Conv, ConvTranspose, Gemm, MatMul.
  std::vector<std::string> weighted_op_types;
  bool quantize_model_inputs = true;
  bool quantize_model_outputs = true;
  std::vector<LayerRule> layers;
  std::map<std::string, TensorQuantConfig> tensors;  // by value name
  std::vector<std::string> disabled_nodes;           // modelslim disable_names
  bool keep_first_last_float = false;  // first and last weighted layers stay float
  bool keep_add_float = false;         // Add outputs stay float (vai_q keep_add_layer_accuracy)
  // Op-type chains fused by backends: no quantizer between their members (only after the last).
  // Unset = the built-in list (Conv+BatchNormalization+Relu/Clip, Gemm+Relu, Add+Relu,
  // MatMul+Add...); an empty list means no supergroups (an AIMET file with "supergroups": []).
  std::optional<std::vector<std::vector<std::string>>> supergroups;
  AlgorithmOptions algorithms;
  std::string target_device;  // vai_q DPU / CPU / GPU; "" when the format has none
  // Data-free calibration (modelslim quant_mode 0 without data): random inputs of this shape.
  bool data_free = false;
  Shape input_shape;
  std::string source;  // "default", "vai_q", "modelslim", "aimet": for reports
};

// The ONNX op type for an alias ("torch.nn.Conv2d" -> "Conv", "Conv2d" -> "Conv"); the input itself
// when it is already an ONNX op type; empty when unknown.
std::string canonical_op_type(std::string_view name);

// W8A8 defaults (those of ONNX Runtime's QDQ quantizer and AIMET): int8 symmetric per-channel
// weights, uint8 asymmetric min-max activations and model inputs, int32 biases.
QuantConfig default_quant_config();

}  // namespace quench
