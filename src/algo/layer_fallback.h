// quench algo: layer fallback, leaving the layers that hurt accuracy most in float.
//
// A "layer" here is the unit that falls back: a node of the sim model together with every
// quantization point it owns (QuantPoint::node); the output point of a supergroup (Conv+Relu,
// MatMul+Add) belongs to the group's head, so a Conv falls back with its weight, bias and the Relu
// output after it, as a fused kernel would. Nodes without weights that own points (Add, Softmax,
// LayerNormalization, Mul...) are layers too, and the model-input quantizers form one layer named
// after the input, so that with every layer in float the model is exactly FP32.
//
// Three entry points:
//   rank_layer_sensitivity  measures, on a few batches, the error each layer adds (SQNR of the
//                           model output against FP32 with only that layer quantized, by default)
//                           and ranks the layers, worst first;
//   apply_amp_num           modelslim amp_num: the amp_num worst layers fall back;
//   fallback_to_budget      the fewest layers needed to meet an accuracy budget (a drop of at most
//                           max_drop points of a caller-given metric, or an output SQNR of at least
//                           min_sqnr_db), falling back greedily in sensitivity order, then restoring
//                           the fallbacks that turn out not to be needed.
// Layers the caller had already disabled stay disabled and are not candidates.
//
//   QUENCH_RETURN_IF_ERROR(sim->compute_encodings(calib));
//   BudgetOptions b;
//   b.max_drop_points = 0.5;
//   AccuracyFn top1 = [&](QuantSim& s) { return evaluate_top1(s, eval_set); };  // percent
//   QUENCH_ASSIGN_OR_RETURN(FallbackReport r, fallback_to_budget(*sim, calib, b, top1));
//   for (const LayerSensitivity& l : r.fallbacks) ...  // the layers left in float, and why
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/quantsim.h"

namespace quench {

// One unit of fallback.
struct FallbackLayer {
  std::string name;     // node name (the model input's value name for model-input quantizers)
  std::string op_type;  // "" for model inputs
  bool weighted = false;  // Conv / ConvTranspose / Gemm / MatMul with a weight point
  std::vector<std::string> points;  // values of its quantization points
  std::string output;   // the value the layer hands on (its output point, else its node's output)
};

// The candidate layers of `sim`: every node owning at least one enabled point (with only its
// enabled points), in graph order, model inputs first. weighted_only keeps the weighted layers
// (modelslim amp_num looks only at Conv and Linear layers).
std::vector<FallbackLayer> fallback_layers(const QuantSim& sim, bool weighted_only = false);

enum class SensitivityMeasure {
  // AIMET QuantAnalyzer per_layer_quant_enabled: model-output SQNR vs FP32 with only this layer
  // quantized; lower = more sensitive. One quantized run per layer and batch.
  kOnlyLayerQuantized,
  // AIMET per_layer_quant_disabled: model-output SQNR with every layer but this one quantized;
  // higher = more sensitive (falling it back gains the most).
  kAllButLayer,
  // modelslim amp: everything quantized, SQNR of this layer's own output vs its FP32 output;
  // lower = more sensitive. Two runs in all, but the error of a layer includes that of the layers
  // before it.
  kLayerOutput,
};
const char* sensitivity_measure_name(SensitivityMeasure m);  // "only_layer", "all_but_layer", ...

struct SensitivityOptions {
  SensitivityMeasure measure = SensitivityMeasure::kOnlyLayerQuantized;
  int64_t num_batches = 4;      // the first batches of the source
  bool weighted_only = false;   // candidates: weighted layers only
  std::function<void(int64_t done, int64_t total)> progress;
};

struct LayerSensitivity {
  FallbackLayer layer;
  // The measured SQNR in dB (its meaning follows the measure; +inf when the outputs are equal).
  double sqnr_db = 0.0;
};

struct SensitivityReport {
  SensitivityMeasure measure = SensitivityMeasure::kOnlyLayerQuantized;
  std::vector<LayerSensitivity> layers;  // most sensitive first
  double all_quantized_sqnr_db = 0.0;    // model output, every candidate quantized
  int64_t num_batches = 0;               // batches measured on
  int64_t evaluations = 0;               // quantized passes over those batches
};

// Ranks the layers of a calibrated sim; the enabled points are as before on return. kInvalid for
// an empty source or a sim without encodings (compute_encodings first).
Result<SensitivityReport> rank_layer_sensitivity(QuantSim& sim, const BatchSource& source,
                                                 const SensitivityOptions& options = {});

// One evaluation of the budget search.
struct FallbackStep {
  enum class Action {
    kStart,      // every candidate quantized
    kFallback,   // `layer` went to float
    kRestored,   // backward pass: `layer` quantized again, the budget still held: kept quantized
    kRejected,   // backward pass: quantizing `layer` again broke the budget: it stays float
  };
  Action action = Action::kStart;
  std::string layer;
  double metric = 0.0;   // the budget metric after the step (accuracy, or SQNR in dB)
  double sqnr_db = std::numeric_limits<double>::quiet_NaN();  // output SQNR (budget by SQNR)
  bool budget_met = false;
  int num_float = 0;     // layers in float after the step
};
const char* fallback_action_name(FallbackStep::Action a);  // "start", "fallback", ...

struct FallbackReport {
  std::vector<LayerSensitivity> fallbacks;  // layers left in float, in the order they fell back
  std::vector<FallbackStep> steps;          // budget mode: every evaluation, in order
  SensitivityReport ranking;
  // Budget mode: what the metric is ("accuracy" or "output SQNR (dB)"), the FP32 reference
  // (accuracy only), the target and the final value.
  std::string metric_name;
  std::optional<double> fp32_metric;
  double target = 0.0;
  double final_metric = 0.0;
  bool budget_met = true;
  std::string note;            // why the budget was not met, when it was not
  int64_t evaluations = 0;     // budget metric evaluations (the ranking's are in `ranking`)
};

// modelslim amp_num: ranks the layers and leaves the `amp_num` most sensitive in float (all of
// them when there are fewer). final_metric = output SQNR on the ranking batches afterwards.
Result<FallbackReport> apply_amp_num(QuantSim& sim, const BatchSource& source, int amp_num,
                                     const SensitivityOptions& options = {});

// A caller-supplied metric of the sim as it is now (quantized; the search sets bypass for the
// FP32 reference), higher is better: top-1 in percent for the CLI, so max_drop_points = 0.5 means
// half a point.
using MetricFn = std::function<Result<double>(QuantSim&)>;

struct BudgetOptions {
  // Exactly one of the two. max_drop_points needs a metric; min_sqnr_db is measured on the
  // batches that follow the ranking's in the source (the ranking's own when the source has no
  // more, with a warning).
  std::optional<double> max_drop_points;
  std::optional<double> min_sqnr_db;
  int max_fallback_layers = -1;    // < 0: no limit
  int64_t sqnr_batches = 8;        // batches for the SQNR budget
  bool backward_pass = true;       // try quantizing the fallbacks again, least sensitive first
  SensitivityOptions sensitivity;  // ranking settings (its progress reports the ranking)
  std::function<void(int64_t done, int64_t total)> progress;  // budget evaluations
  std::function<void(const std::string&)> warn;
};

// Falls back the fewest layers (greedily, most sensitive first) for the budget. When it cannot be
// met (layer limit, weighted_only candidates, a budget the FP32 model itself misses) the report
// says so in `note` and the sim is left at the best metric found (fewest fallbacks on a tie).
Result<FallbackReport> fallback_to_budget(QuantSim& sim, const BatchSource& source,
                                          const BudgetOptions& options,
                                          const MetricFn& metric = nullptr);

// The report as text lines for a front-end to print: the budget and its outcome, each layer left
// in float with its measured sensitivity, and the metric after every step.
std::vector<std::string> fallback_report_lines(const FallbackReport& report);

// Model-output SQNR of the sim's quantized run against its FP32 run over `batches`:
// 10 log10(sum fp^2 / sum (fp - q)^2) over every output element (+inf when equal).
Result<double> output_sqnr_db(QuantSim& sim, const std::vector<Executor::Feeds>& batches);

}  // namespace quench
