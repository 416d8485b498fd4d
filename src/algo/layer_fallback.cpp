// Layer fallback: per-layer sensitivity ranking, modelslim amp_num and an accuracy budget.
//
// Sensitivity ranking (AIMET QuantAnalyzer's per-layer analysis, "Quantization analysis" of the
// AIMET PTQ debugging flow; modelslim amp_num):
//   1. Units: every node owning enabled quantization points, with the output point of the
//      supergroup it heads; the model-input quantizers form one unit.
//   2. Reference: the FP32 outputs of the first N batches.
//   3. For each unit L, set the enabled points to "only L's" (kOnlyLayerQuantized) or "all but
//      L's" (kAllButLayer), run the N batches quantized, and measure the model-output SQNR
//      10 log10(sum fp^2 / sum (fp - q)^2); or, modelslim style (kLayerOutput), run once with
//      everything quantized and take the SQNR of each unit's own output.
//   4. Sort: lowest SQNR first (kOnlyLayerQuantized, kLayerOutput), highest first (kAllButLayer).
//   The points are restored afterwards.
// amp_num = k: rank, then disable the k first units.
// Accuracy budget (greedy fallback by sensitivity, in the spirit of mixed-precision search by
// per-layer sensitivity, e.g. HAWQ (Dong et al., ICCV 2019) ranks layers by a sensitivity measure
// before assigning precision; here the measure is measured, not a Hessian trace):
//   1. Target: metric(FP32) - max_drop (metric run with the sim in bypass), or min_sqnr_db.
//   2. Evaluate the sim as calibrated; done when it meets the target.
//   3. Rank; fall back one unit at a time, most sensitive first, evaluating after each, until the
//      target is met or the layer limit / the candidates run out.
//   4. Backward pass: from the least sensitive fallback up, quantize it again and keep it
//      quantized if the target still holds. (The last unit added is skipped: without it the
//      greedy pass already failed.)
//   5. Not met: keep the step with the best metric (fewest fallbacks on a tie) and say why.
#include "algo/layer_fallback.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

#include "algo/layer_data.h"

namespace quench {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();


bool consecutive_in_group(const std::vector<std::vector<std::string>>& groups,
                          const std::string& a, const std::string& b) {
  for (const auto& g : groups)
    for (size_t i = 0; i + 1 < g.size(); ++i)
      if (g[i] == a && g[i + 1] == b) return true;
  return false;
}

// Squared-signal and squared-error sums, for SQNR over several batches.
struct SqnrAcc {
  double signal = 0.0;
  double noise = 0.0;
  void add(const Tensor& ref, const Tensor& got) {
    const std::vector<double> r = ref.to_double_vector();
    const std::vector<double> q = got.to_double_vector();
    const size_t n = std::min(r.size(), q.size());
    for (size_t i = 0; i < n; ++i) {
      signal += r[i] * r[i];
      const double d = r[i] - q[i];
      noise += d * d;
    }
  }
  double db() const {
    if (noise == 0.0) return kInf;
    if (signal == 0.0) return -kInf;
    return 10.0 * std::log10(signal / noise);
  }
};

std::vector<bool> enabled_state(const QuantSim& sim) {
  std::vector<bool> s;
  for (const QuantPoint& p : sim.points()) s.push_back(p.enabled);
  return s;
}

// Sets exactly the given enabled flags. set_enabled matches a name against the value, the source
// value and the node of every point, so it can flip points beyond the one meant (a per-consumer
// copy shares its source value); those are put right directly, and the sim is told about the
// change through set_encoding with an unchanged encoding.
Status apply_state(QuantSim& sim, const std::vector<bool>& want) {
  const std::vector<QuantPoint>& pts = sim.points();
  if (pts.size() != want.size())
    return Status::internal("layer fallback: the sim's points changed during the search");
  for (size_t i = 0; i < pts.size(); ++i)
    if (pts[i].enabled != want[i]) sim.set_enabled(pts[i].value, want[i]);
  bool exact = true;
  for (size_t i = 0; i < pts.size(); ++i) exact = exact && pts[i].enabled == want[i];
  if (exact) return Status();
  const QuantPoint* any = nullptr;
  for (size_t i = 0; i < pts.size(); ++i) {
    QuantPoint* p = sim.find_point(pts[i].value);
    if (p) p->enabled = want[i];
    if (!any && pts[i].encoding) any = &pts[i];
  }
  if (any) {
    const Encoding e = *any->encoding;
    QUENCH_RETURN_IF_ERROR(sim.set_encoding(any->value, e));
  }
  return Status();
}

// Restores the enabled points of the sim on scope exit unless released.
class StateGuard {
 public:
  explicit StateGuard(QuantSim& sim) : sim_(sim), saved_(enabled_state(sim)) {}
  ~StateGuard() {
    if (armed_) (void)apply_state(sim_, saved_);
  }
  const std::vector<bool>& saved() const { return saved_; }
  void release() { armed_ = false; }

 private:
  QuantSim& sim_;
  std::vector<bool> saved_;
  bool armed_ = true;
};

std::unordered_map<std::string, size_t> point_index(const QuantSim& sim) {
  std::unordered_map<std::string, size_t> idx;
  for (size_t i = 0; i < sim.points().size(); ++i) idx[sim.points()[i].value] = i;
  return idx;
}

// `base` with the points of `layer` set to `enabled`.
std::vector<bool> with_layer(std::vector<bool> base, const FallbackLayer& layer,
                             const std::unordered_map<std::string, size_t>& idx, bool enabled) {
  for (const std::string& v : layer.points) {
    auto it = idx.find(v);
    if (it != idx.end()) base[it->second] = enabled;
  }
  return base;
}

Status check_calibrated(const QuantSim& sim) {
  for (const QuantPoint& p : sim.points())
    if (p.enabled && !p.encoding &&
        (p.kind == TensorKind::kActivation || p.kind == TensorKind::kInput))
      return Status::invalid("layer fallback: quantizer '" + p.value +
                             "' has no encoding yet; run compute_encodings before ranking layers");
  return Status();
}

using Outputs = std::vector<std::vector<Tensor>>;  // [batch][output]

Result<Outputs> fp32_outputs(QuantSim& sim, const std::vector<Executor::Feeds>& batches) {
  Outputs out;
  for (size_t b = 0; b < batches.size(); ++b) {
    auto r = sim.run_fp32(batches[b]);
    if (!r.ok()) return r.status().with_context("batch " + std::to_string(b));
    out.push_back(std::move(r).value());
  }
  return out;
}

Result<double> sqnr_against(QuantSim& sim, const std::vector<Executor::Feeds>& batches,
                            const Outputs& ref) {
  SqnrAcc acc;
  for (size_t b = 0; b < batches.size(); ++b) {
    auto r = sim.run(batches[b]);
    if (!r.ok()) return r.status().with_context("batch " + std::to_string(b));
    for (size_t k = 0; k < r->size() && k < ref[b].size(); ++k) acc.add(ref[b][k], (*r)[k]);
  }
  return acc.db();
}

bool more_sensitive_first(SensitivityMeasure m) { return m != SensitivityMeasure::kAllButLayer; }

Result<SensitivityReport> rank_on(QuantSim& sim, const std::vector<Executor::Feeds>& batches,
                                  const SensitivityOptions& o) {
  QUENCH_RETURN_IF_ERROR(check_calibrated(sim));
  std::vector<FallbackLayer> layers = fallback_layers(sim, o.weighted_only);
  if (layers.empty())
    return Status::invalid(std::string("layer fallback: the sim has no enabled ") +
                           (o.weighted_only ? "weighted " : "") + "layer to rank");
  StateGuard guard(sim);
  const auto idx = point_index(sim);
  QUENCH_ASSIGN_OR_RETURN(Outputs ref, fp32_outputs(sim, batches));

  SensitivityReport rep;
  rep.measure = o.measure;
  rep.num_batches = static_cast<int64_t>(batches.size());
  QUENCH_ASSIGN_OR_RETURN(rep.all_quantized_sqnr_db, sqnr_against(sim, batches, ref));
  rep.evaluations = 1;
  const int64_t total = static_cast<int64_t>(layers.size());

  std::vector<double> sqnr(layers.size(), 0.0);
  if (o.measure == SensitivityMeasure::kLayerOutput) {
    std::vector<std::string> names;
    for (const FallbackLayer& l : layers) names.push_back(l.output);
    std::vector<SqnrAcc> acc(layers.size());
    for (size_t b = 0; b < batches.size(); ++b) {
      auto q = sim.run(batches[b], names);
      if (!q.ok()) return q.status().with_context("batch " + std::to_string(b));
      auto f = sim.run_fp32(batches[b], names);
      if (!f.ok()) return f.status().with_context("batch " + std::to_string(b));
      for (size_t i = 0; i < layers.size(); ++i) acc[i].add((*f)[i], (*q)[i]);
      if (o.progress) o.progress(static_cast<int64_t>(b + 1), rep.num_batches);
    }
    for (size_t i = 0; i < layers.size(); ++i) sqnr[i] = acc[i].db();
    rep.evaluations += 1;
  } else {
    std::vector<bool> none(guard.saved().size(), false);
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::vector<bool> want =
          o.measure == SensitivityMeasure::kOnlyLayerQuantized
              ? with_layer(none, layers[i], idx, true)
              : with_layer(guard.saved(), layers[i], idx, false);
      QUENCH_RETURN_IF_ERROR(apply_state(sim, want));
      auto s = sqnr_against(sim, batches, ref);
      if (!s.ok()) return s.status().with_context("layer '" + layers[i].name + "'");
      sqnr[i] = *s;
      ++rep.evaluations;
      if (o.progress) o.progress(static_cast<int64_t>(i + 1), total);
    }
  }
  std::vector<size_t> order(layers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const bool ascending = more_sensitive_first(o.measure);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ascending ? sqnr[a] < sqnr[b] : sqnr[a] > sqnr[b];
  });
  for (size_t i : order) rep.layers.push_back({layers[i], sqnr[i]});
  return rep;
}

std::string fmt_num(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

const char* sensitivity_measure_name(SensitivityMeasure m) {
  switch (m) {
    case SensitivityMeasure::kOnlyLayerQuantized: return "only_layer";
    case SensitivityMeasure::kAllButLayer: return "all_but_layer";
    case SensitivityMeasure::kLayerOutput: return "layer_output";
  }
  return "?";
}

const char* fallback_action_name(FallbackStep::Action a) {
  switch (a) {
    case FallbackStep::Action::kStart: return "start";
    case FallbackStep::Action::kFallback: return "fallback";
    case FallbackStep::Action::kRestored: return "restored";
    case FallbackStep::Action::kRejected: return "rejected";
  }
  return "?";
}

std::vector<FallbackLayer> fallback_layers(const QuantSim& sim, bool weighted_only) {
  const Graph& g = *sim.sim_model().graph;
  const std::vector<QuantPoint>& pts = sim.points();
  std::unordered_map<std::string, const Node*> by_name;
  std::unordered_map<const Node*, size_t> position;
  const std::vector<Node*> nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    by_name[nodes[i]->name] = nodes[i];
    position[nodes[i]] = i;
  }
  std::set<std::string> point_values;
  for (const QuantPoint& p : pts) point_values.insert(p.value);
  const auto& groups = sim.config().supergroups ? *sim.config().supergroups : default_supergroups();
  auto is_graph_output = [&](const Value* v) {
    return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
  };

  // The head of the supergroup whose output `p` quantizes (the producer itself otherwise).
  auto owner = [&](const QuantPoint& p) -> const Node* {
    auto it = by_name.find(p.node);
    if (it == by_name.end()) return nullptr;
    const Node* x = it->second;
    if (p.kind != TensorKind::kActivation || p.input_index != -1) return x;
    for (int depth = 0; depth < 4; ++depth) {
      // The one computed input of the next chain member (Add(bias, MatMul) has the constant first).
      const Value* v = nullptr;
      int computed = 0;
      for (const Value* in : x->inputs)
        if (in && !in->is_constant()) v = in, ++computed;
      if (computed != 1 || !v->producer || point_values.count(v->name) || v->consumers.size() != 1 ||
          is_graph_output(v) || !consecutive_in_group(groups, v->producer->op_type, x->op_type))
        break;
      x = v->producer;
    }
    return x;
  };

  struct Entry {
    size_t order;
    FallbackLayer layer;
  };
  std::map<std::string, Entry> units;  // key: node name, or "input:" + value for model inputs
  for (const QuantPoint& p : pts) {
    if (!p.enabled) continue;
    const Node* n = p.node.empty() ? nullptr : owner(p);
    const std::string key = n ? n->name : "input:" + p.value;
    auto [it, fresh] = units.try_emplace(key);
    Entry& e = it->second;
    if (fresh) {
      e.order = n ? position[n] + 1 : 0;
      e.layer.name = n ? n->name : p.value;
      e.layer.op_type = n ? n->op_type : "";
      e.layer.output = n && !n->outputs.empty() && n->outputs[0] ? n->outputs[0]->name : p.value;
    }
    e.layer.points.push_back(p.value);
    if (p.kind == TensorKind::kWeight) e.layer.weighted = true;
    if (p.kind == TensorKind::kActivation && p.input_index == -1) e.layer.output = p.value;
  }
  std::vector<Entry> sorted;
  for (auto& [key, e] : units)
    if (!weighted_only || e.layer.weighted) sorted.push_back(std::move(e));
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Entry& a, const Entry& b) { return a.order < b.order; });
  std::vector<FallbackLayer> out;
  for (Entry& e : sorted) out.push_back(std::move(e.layer));
  return out;
}

std::vector<std::string> fallback_report_lines(const FallbackReport& r) {
  auto layers = [](size_t n) { return std::to_string(n) + (n == 1 ? " layer" : " layers"); };
  std::vector<std::string> out;
  const bool budget = !r.steps.empty();
  std::string head = budget ? "accuracy budget: " + r.metric_name + " >= " + fmt_num(r.target)
                            : "amp_num: " + layers(r.fallbacks.size()) + " in float";
  if (r.fp32_metric) head += " (fp32 " + fmt_num(*r.fp32_metric) + ")";
  if (budget) {
    head += r.budget_met ? ": met" : ": NOT met";
    head += " with " + layers(r.fallbacks.size()) + " in float, " + r.metric_name +
            " " + fmt_num(r.final_metric) + " after " + std::to_string(r.evaluations) +
            " evaluations";
  } else {
    head += "; " + r.metric_name + " " + fmt_num(r.final_metric);
  }
  out.push_back(head);
  if (!r.fallbacks.empty()) {
    const char* meaning = r.ranking.measure == SensitivityMeasure::kOnlyLayerQuantized
                              ? "output SQNR with only this layer quantized"
                          : r.ranking.measure == SensitivityMeasure::kAllButLayer
                              ? "output SQNR with all but this layer quantized"
                              : "SQNR of this layer's output, all quantized";
    out.push_back("  layers in float (" + std::string(meaning) + ", all quantized: " +
                  fmt_num(r.ranking.all_quantized_sqnr_db) + " dB):");
    for (const LayerSensitivity& l : r.fallbacks)
      out.push_back("    " + l.layer.name + (l.layer.op_type.empty() ? " (model input)" : " (" + l.layer.op_type + ")") +
                    ": " + fmt_num(l.sqnr_db) + " dB, " + std::to_string(l.layer.points.size()) +
                    " quantizers");
  }
  for (const FallbackStep& s : r.steps)
    out.push_back("  " + std::string(fallback_action_name(s.action)) +
                  (s.layer.empty() ? "" : " " + s.layer) + ": " + fmt_num(s.metric) + " (" +
                  std::to_string(s.num_float) + " in float" + (s.budget_met ? ", meets the budget)" : ")"));
  if (!r.note.empty()) out.push_back("  " + r.note);
  return out;
}

Result<double> output_sqnr_db(QuantSim& sim, const std::vector<Executor::Feeds>& batches) {
  QUENCH_ASSIGN_OR_RETURN(Outputs ref, fp32_outputs(sim, batches));
  return sqnr_against(sim, batches, ref);
}

Result<SensitivityReport> rank_layer_sensitivity(QuantSim& sim, const BatchSource& source,
                                                 const SensitivityOptions& options) {
  if (options.num_batches == 0)
    return Status::invalid("layer fallback: num_batches must be > 0 (or < 0 for all batches)");
  QUENCH_ASSIGN_OR_RETURN(auto batches, read_batches(source, options.num_batches));
  return rank_on(sim, batches, options);
}

Result<FallbackReport> apply_amp_num(QuantSim& sim, const BatchSource& source, int amp_num,
                                     const SensitivityOptions& options) {
  if (amp_num < 0)
    return Status::invalid("amp_num must be >= 0 (got " + std::to_string(amp_num) + ")");
  if (options.num_batches == 0)
    return Status::invalid("layer fallback: num_batches must be > 0 (or < 0 for all batches)");
  QUENCH_ASSIGN_OR_RETURN(auto batches, read_batches(source, options.num_batches));
  FallbackReport rep;
  rep.metric_name = "output SQNR (dB)";
  if (amp_num == 0) {
    QUENCH_ASSIGN_OR_RETURN(rep.final_metric, output_sqnr_db(sim, batches));
    rep.evaluations = 1;
    return rep;
  }
  QUENCH_ASSIGN_OR_RETURN(rep.ranking, rank_on(sim, batches, options));
  StateGuard guard(sim);
  const auto idx = point_index(sim);
  std::vector<bool> want = guard.saved();
  const size_t k = std::min(static_cast<size_t>(amp_num), rep.ranking.layers.size());
  for (size_t i = 0; i < k; ++i) {
    want = with_layer(std::move(want), rep.ranking.layers[i].layer, idx, false);
    rep.fallbacks.push_back(rep.ranking.layers[i]);
  }
  QUENCH_RETURN_IF_ERROR(apply_state(sim, want));
  QUENCH_ASSIGN_OR_RETURN(rep.final_metric, output_sqnr_db(sim, batches));
  rep.evaluations = 1;
  guard.release();
  return rep;
}

Result<FallbackReport> fallback_to_budget(QuantSim& sim, const BatchSource& source,
                                          const BudgetOptions& o, const MetricFn& metric) {
  if (o.max_drop_points.has_value() == o.min_sqnr_db.has_value())
    return Status::invalid("accuracy budget: give exactly one of max_drop_points and min_sqnr_db");
  if (o.max_drop_points) {
    if (!metric)
      return Status::invalid("accuracy budget: max_drop_points needs an accuracy metric (labelled "
                             "evaluation data); without labels use min_sqnr_db");
    if (!(*o.max_drop_points >= 0.0) || std::isinf(*o.max_drop_points))
      return Status::invalid("accuracy budget: max_drop_points must be a finite number >= 0 (got " +
                             fmt_num(*o.max_drop_points) + ")");
  }
  if (o.min_sqnr_db && !std::isfinite(*o.min_sqnr_db))
    return Status::invalid("accuracy budget: min_sqnr_db must be finite (got " +
                           fmt_num(*o.min_sqnr_db) + ")");
  const int64_t rank_n = o.sensitivity.num_batches;
  if (rank_n <= 0)
    return Status::invalid("accuracy budget: sensitivity.num_batches must be > 0 (got " +
                           std::to_string(rank_n) + ")");
  if (o.min_sqnr_db && o.sqnr_batches <= 0)
    return Status::invalid("accuracy budget: sqnr_batches must be > 0 (got " +
                           std::to_string(o.sqnr_batches) + ")");
  QUENCH_RETURN_IF_ERROR(check_calibrated(sim));

  // Ranking batches first, then the held-out ones for the SQNR budget.
  QUENCH_ASSIGN_OR_RETURN(auto all, read_batches(source, rank_n + (o.min_sqnr_db ? o.sqnr_batches : 0)));
  const size_t split = std::min(all.size(), static_cast<size_t>(rank_n));
  std::vector<Executor::Feeds> rank_batches(all.begin(), all.begin() + static_cast<long>(split));
  std::vector<Executor::Feeds> held(all.begin() + static_cast<long>(split), all.end());
  if (o.min_sqnr_db && held.empty()) {
    if (o.warn)
      o.warn("accuracy budget: the source has no batches beyond the " + std::to_string(split) +
             " used for ranking; the SQNR budget is measured on those same batches");
    held = rank_batches;
  }

  FallbackReport rep;
  StateGuard guard(sim);
  Outputs held_ref;
  if (o.min_sqnr_db) {
    rep.metric_name = "output SQNR (dB)";
    rep.target = *o.min_sqnr_db;
    QUENCH_ASSIGN_OR_RETURN(held_ref, fp32_outputs(sim, held));
  } else {
    rep.metric_name = "accuracy";
    sim.set_bypass(true);
    auto fp = metric(sim);
    sim.set_bypass(false);
    if (!fp.ok()) return fp.status().with_context("accuracy budget: FP32 metric");
    rep.fp32_metric = *fp;
    rep.target = *fp - *o.max_drop_points;
    ++rep.evaluations;
  }
  // Tolerates the rounding of "fp32 - drop" against an accuracy computed as a ratio.
  auto meets = [&](double v) { return v >= rep.target - 1e-9; };
  int64_t planned = 2;
  auto evaluate = [&]() -> Result<double> {
    Result<double> v = o.min_sqnr_db ? sqnr_against(sim, held, held_ref) : metric(sim);
    ++rep.evaluations;
    if (o.progress) o.progress(rep.evaluations, std::max(planned, rep.evaluations));
    return v;
  };
  auto step = [&](FallbackStep::Action a, const std::string& layer, double v, int num_float) {
    FallbackStep s;
    s.action = a;
    s.layer = layer;
    s.metric = v;
    if (o.min_sqnr_db) s.sqnr_db = v;
    s.budget_met = meets(v);
    s.num_float = num_float;
    rep.steps.push_back(s);
  };

  QUENCH_ASSIGN_OR_RETURN(double current, evaluate());
  step(FallbackStep::Action::kStart, "", current, 0);
  rep.final_metric = current;
  if (meets(current)) {
    guard.release();
    return rep;
  }

  QUENCH_ASSIGN_OR_RETURN(rep.ranking, rank_on(sim, rank_batches, o.sensitivity));
  const auto idx = point_index(sim);
  const std::vector<LayerSensitivity>& ranked = rep.ranking.layers;
  size_t limit = ranked.size();
  if (o.max_fallback_layers >= 0) limit = std::min(limit, static_cast<size_t>(o.max_fallback_layers));
  planned = rep.evaluations + static_cast<int64_t>(limit);

  // Greedy pass: prefixes of the ranking.
  std::vector<bool> state = guard.saved();
  double best = current;
  size_t best_k = 0;
  size_t k = 0;
  bool met = false;
  while (k < limit && !met) {
    state = with_layer(std::move(state), ranked[k].layer, idx, false);
    QUENCH_RETURN_IF_ERROR(apply_state(sim, state));
    QUENCH_ASSIGN_OR_RETURN(current, evaluate());
    ++k;
    step(FallbackStep::Action::kFallback, ranked[k - 1].layer.name, current, static_cast<int>(k));
    met = meets(current);
    if (current > best || met) {
      best = current;
      best_k = k;
    }
  }

  if (!met) {
    rep.budget_met = false;
    std::string why;
    if (k < ranked.size()) {
      why = "the limit of " + std::to_string(limit) + " fallback layers was reached";
    } else if (o.sensitivity.weighted_only) {
      why = "all " + std::to_string(k) +
            " weighted layers are in float; the other quantizers (activations of non-weighted "
            "ops) still cost more than the budget";
    } else {
      why = "every layer is in float, which is the FP32 model: the FP32 model itself misses the "
            "target";
    }
    rep.note = "budget not met: " + rep.metric_name + " target " + fmt_num(rep.target) +
               ", best " + fmt_num(best) + " with " + std::to_string(best_k) +
               " layers in float; " + why;
    std::vector<bool> keep = guard.saved();
    for (size_t i = 0; i < best_k; ++i) keep = with_layer(std::move(keep), ranked[i].layer, idx, false);
    QUENCH_RETURN_IF_ERROR(apply_state(sim, keep));
    for (size_t i = 0; i < best_k; ++i) rep.fallbacks.push_back(ranked[i]);
    rep.final_metric = best;
    guard.release();
    return rep;
  }

  // Backward pass over the fallbacks but the last, least sensitive first.
  std::vector<bool> in_float(k, true);
  double final_metric = current;
  if (o.backward_pass && k >= 2) {
    planned = rep.evaluations + static_cast<int64_t>(k - 1);
    int num_float = static_cast<int>(k);
    for (size_t j = k - 1; j-- > 0;) {
      std::vector<bool> trial = with_layer(state, ranked[j].layer, idx, true);
      QUENCH_RETURN_IF_ERROR(apply_state(sim, trial));
      QUENCH_ASSIGN_OR_RETURN(double v, evaluate());
      if (meets(v)) {
        state = std::move(trial);
        in_float[j] = false;
        final_metric = v;
        --num_float;
        step(FallbackStep::Action::kRestored, ranked[j].layer.name, v, num_float);
      } else {
        step(FallbackStep::Action::kRejected, ranked[j].layer.name, v, num_float);
      }
    }
    QUENCH_RETURN_IF_ERROR(apply_state(sim, state));
  }
  for (size_t i = 0; i < k; ++i)
    if (in_float[i]) rep.fallbacks.push_back(ranked[i]);
  rep.final_metric = final_metric;
  guard.release();
  return rep;
}

}  // namespace quench
