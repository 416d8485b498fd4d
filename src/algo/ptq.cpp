#include "algo/ptq.h"

#include <fmt/format.h>

#include <cmath>

#include "algo/adaround.h"
#include "algo/admm.h"
#include "algo/bias_correction.h"
#include "algo/cle.h"
#include "algo/easy_quant.h"
#include "algo/prepare.h"
#include "algo/squant.h"
#include "core/clock.h"
#include "ir/clone.h"

namespace quench {

namespace {

// Times a step and collects its lines.
class StepTimer {
 public:
  StepTimer(PtqReport& r, std::string name) : report_(r), t0_(now_seconds()) { step_.name = std::move(name); }
  ~StepTimer() {
    step_.seconds = now_seconds() - t0_;
    report_.steps.push_back(std::move(step_));
  }
  void line(std::string s) { step_.lines.push_back(std::move(s)); }
  void lines(const std::vector<std::string>& v) {
    for (const std::string& s : v) line(s);
  }

 private:
  PtqReport& report_;
  PtqStep step_;
  double t0_;
};

std::function<void(int64_t, int64_t)> step_progress(const PtqOptions& o, const std::string& step) {
  if (!o.progress) return nullptr;
  return [p = o.progress, step](int64_t done, int64_t total) { p(step, done, total); };
}

void warn(const PtqOptions& o, const std::string& m) {
  if (o.sim.warn) o.sim.warn(m);
}

bool uses_data(const AlgorithmOptions& a) {
  return a.adaround || a.easy_quant || (a.bias_correction &&
                                        a.bias_correction_kind != BiasCorrectionKind::kAnalytical) ||
         a.amp_num > 0 || a.max_drop_points || a.min_sqnr_db;
}

BiasCorrectionMode bias_mode(BiasCorrectionKind k) {
  switch (k) {
    case BiasCorrectionKind::kAnalytical: return BiasCorrectionMode::kAnalytical;
    case BiasCorrectionKind::kInCalibration: return BiasCorrectionMode::kInCalibration;
    case BiasCorrectionKind::kEmpirical: break;
  }
  return BiasCorrectionMode::kEmpirical;
}

}  // namespace

std::vector<std::string> PtqReport::lines() const {
  std::vector<std::string> out;
  for (const PtqStep& s : steps) {
    out.push_back(fmt::format("{} ({:.2f} s)", s.name, s.seconds));
    for (const std::string& l : s.lines) out.push_back("  " + l);
  }
  return out;
}

Result<PtqResult> quantize_model(std::shared_ptr<const Model> fp32, const QuantConfig& config,
                                 const BatchSource* calib, const PtqOptions& o) {
  const AlgorithmOptions& a = config.algorithms;
  PtqResult r;
  if (a.max_drop_points && a.min_sqnr_db)
    return Status::invalid("accuracy budget: give a maximum top-1 drop or a minimum SQNR, not both");
  if (a.max_drop_points && !o.metric)
    return Status::invalid("accuracy budget: a maximum top-1 drop needs labelled evaluation data");
  if (a.amp_num < 0) return Status::invalid("amp_num " + std::to_string(a.amp_num) + " must be >= 0");

  // Data: the caller's batches, or one random batch of input_shape (modelslim data-free).
  BatchSource source;
  const bool data_free = calib == nullptr;
  if (data_free) {
    if (!config.data_free)
      return Status::invalid("no calibration data: give calibration data or a data-free config "
                             "(modelslim quant_mode 0 with input_shape)");
    QUENCH_ASSIGN_OR_RETURN(source, random_batch_source(*fp32, config.input_shape, 1));
    if (uses_data(a))
      warn(o, "data-free mode: AdaRound, EasyQuant, empirical bias correction and layer fallback "
              "learn from the random calibration batch, not from real data");
  } else {
    source = *calib;
  }
  BatchSource limited = source;
  if (o.calib_batches >= 0)
    limited = [source, n = o.calib_batches](int64_t i) -> Result<Executor::Feeds> {
      if (i >= n) return Executor::Feeds{};
      return source(i);
    };

  // 1. Graph preparation.
  auto model = std::make_shared<Model>(clone_model(*fp32));
  std::vector<FoldedBatchNorm> folded;
  {
    StepTimer t(r.report, "prepare");
    PrepareOptions po = prepare_options_from(a);
    po.num_threads = o.sim.num_threads;
    QUENCH_ASSIGN_OR_RETURN(PrepareReport pr, prepare_model(*model, po));
    t.line(fmt::format("{} BatchNormalization folded, {} kept; {} constant nodes folded",
                       pr.batchnorms_folded, pr.batchnorms_kept, pr.constants_folded));
    if (po.convert_relu6_to_relu) t.line(fmt::format("{} Clip(0, 6) -> Relu", pr.relu6_converted));
    if (po.convert_silu_to_hswish) t.line(fmt::format("{} SiLU -> HardSwish", pr.silu_converted));
    t.lines(pr.notes);
    folded = std::move(pr.folded);
  }

  // 2. Cross-layer equalization.
  if (a.cle) {
    StepTimer t(r.report, "cle");
    CleOptions co;
    co.high_bias_absorption = a.high_bias_absorption;
    co.num_threads = o.sim.num_threads;
    co.calibration_batches = 4;
    co.progress = step_progress(o, "cle statistics");
    QUENCH_ASSIGN_OR_RETURN(CleReport cr, equalize_model(*model, co, folded, limited));
    t.line(fmt::format("{} layer pairs and {} conv -> depthwise -> conv triples equalized in {} sweeps; "
                       "{} channels absorbed high biases",
                       cr.pairs, cr.triples, cr.iterations, cr.absorbed_channels));
    t.lines(cr.notes);
  }
  r.prepared = model;

  // 3. QuantSim and the weight-only steps.
  QuantSimOptions so = o.sim;
  QUENCH_ASSIGN_OR_RETURN(r.sim, QuantSim::create(model, config, so));
  QuantSim& sim = *r.sim;
  if (a.admm) {
    StepTimer t(r.report, "admm");
    AdmmOptions ao;
    ao.iterations = a.admm_iterations;
    ao.progress = step_progress(o, "admm");
    ao.warn = o.sim.warn;
    QUENCH_ASSIGN_OR_RETURN(AdmmReport ar, admm_weights(sim, ao));
    if (ar.layers.empty()) t.line("no quantized weights: nothing to fit");
    for (const AdmmLayer& l : ar.layers)
      t.line(fmt::format("{} ({}): weight MSE {:.3g} -> {:.3g}", l.node, l.weight, l.mse_before,
                         l.mse_after));
  }
  const bool want_squant = a.squant || (a.round_opt && data_free) || (data_free && !a.adaround);
  if (want_squant) {
    StepTimer t(r.report, "squant");
    SquantOptions qo;
    qo.progress = step_progress(o, "squant");
    qo.warn = o.sim.warn;
    QUENCH_ASSIGN_OR_RETURN(SquantReport sr, squant_weights(sim, qo));
    int64_t flipped = 0, elements = 0;
    for (const SquantLayerReport& l : sr.layers) {
      flipped += l.stats.flipped;
      elements += l.elements;
    }
    t.line(fmt::format("{} weights rounded, {} of {} elements flipped from round-to-nearest",
                       sr.layers.size(), flipped, elements));
    t.lines(sr.skipped);
  }

  // 4. Activation calibration.
  {
    StepTimer t(r.report, "calibrate");
    QUENCH_RETURN_IF_ERROR(sim.compute_encodings(limited));
    int n = 0;
    for (const QuantPoint& p : sim.points())
      if (p.enabled && p.encoding && (p.kind == TensorKind::kActivation || p.kind == TensorKind::kInput)) ++n;
    t.line(fmt::format("{} activation encodings ({})", n,
                       calib_method_name(config.activation.observer.method)));
  }

  // 5. AdaRound, bias correction; then the activations follow the new weights.
  bool weights_changed = false;
  if (a.adaround || (a.round_opt && !data_free)) {
    StepTimer t(r.report, "adaround");
    AdaRoundOptions ao;
    if (a.adaround_iterations > 0) ao.iterations = a.adaround_iterations;
    if (a.adaround_samples > 0) ao.num_samples = a.adaround_samples;
    ao.warn = o.sim.warn;
    if (o.progress)
      ao.progress = [p = o.progress](const std::string& layer, int64_t it, int64_t total) {
        p("adaround " + layer, it, total);
      };
    QUENCH_ASSIGN_OR_RETURN(AdaRoundReport ar, adaround(sim, limited, ao));
    if (ar.layers.empty()) t.line("no layer with quantized weights: nothing to round");
    for (const AdaRoundLayerReport& l : ar.layers) {
      if (!l.applied) {
        t.line(fmt::format("{} ({}): diverged at iteration {}, nearest rounding kept", l.node,
                           l.op_type, l.outcome.diverged_at));
        continue;
      }
      weights_changed = true;
      t.line(fmt::format("{} ({}): reconstruction MSE {:.4g} (nearest) -> {:.4g}, {:.1f} % of "
                         "roundings changed, {:.1f} s",
                         l.node, l.op_type, l.outcome.recon_nearest, l.outcome.recon_final,
                         100 * l.outcome.changed_fraction, l.seconds));
    }
    t.lines(ar.skipped);
  }
  if (a.bias_correction) {
    StepTimer t(r.report, "bias_correction");
    BiasCorrectionOptions bo;
    bo.mode = bias_mode(a.bias_correction_kind);
    bo.progress = step_progress(o, "bias correction");
    QUENCH_ASSIGN_OR_RETURN(BiasCorrectionReport br, correct_bias(sim, limited, bo, folded));
    for (const BiasCorrectionReport::Layer& l : br.layers) {
      weights_changed = true;
      t.line(fmt::format("{} ({}): mean |bias shift| {:.3g} over {} channels", l.node, l.method,
                         l.mean_abs_shift, l.channels));
    }
    t.lines(br.notes);
  }
  if (weights_changed) {
    StepTimer t(r.report, "recalibrate");
    QUENCH_RETURN_IF_ERROR(sim.compute_encodings(limited));
    t.line("activation encodings recomputed for the new weights and biases");
  }

  // 6. EasyQuant.
  if (a.easy_quant) {
    StepTimer t(r.report, "easy_quant");
    EasyQuantOptions eo;
    eo.iterations = a.easy_quant_iterations;
    eo.progress = step_progress(o, "easy_quant");
    eo.warn = o.sim.warn;
    QUENCH_ASSIGN_OR_RETURN(EasyQuantReport er, easy_quant(sim, limited, eo));
    if (er.layers.empty()) t.line("no layer to search");
    for (const EasyQuantLayer& l : er.layers)
      t.line(fmt::format("{} ({}): output cosine {:.6f} -> {:.6f}", l.node, l.op_type, l.cos_before,
                         l.cos_after));
  }

  // 7. Layer fallback.
  if (a.amp_num > 0) {
    StepTimer t(r.report, "amp_num");
    SensitivityOptions so2;
    so2.progress = step_progress(o, "layer sensitivity");
    QUENCH_ASSIGN_OR_RETURN(FallbackReport fr, apply_amp_num(sim, limited, a.amp_num, so2));
    t.lines(fallback_report_lines(fr));
  }
  if (a.max_drop_points || a.min_sqnr_db) {
    StepTimer t(r.report, "accuracy_budget");
    BudgetOptions bo;
    bo.max_drop_points = a.max_drop_points;
    bo.min_sqnr_db = a.min_sqnr_db;
    bo.sensitivity.progress = step_progress(o, "layer sensitivity");
    bo.progress = step_progress(o, "accuracy budget");
    bo.warn = o.sim.warn;
    QUENCH_ASSIGN_OR_RETURN(FallbackReport fr,
                            fallback_to_budget(sim, limited, bo, a.max_drop_points ? o.metric : nullptr));
    t.lines(fallback_report_lines(fr));
    if (!fr.budget_met) warn(o, "accuracy budget not met: " + fr.note);
  }
  return r;
}

}  // namespace quench
