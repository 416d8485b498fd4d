// AdaRound: adaptive rounding of weights.
// Paper: Nagel, Amjad, van Baalen, Louizos, Blankevoort, "Up or Down? Adaptive Rounding for
// Post-Training Quantization", ICML 2020. Defaults: AIMET's (SPEC.md D).
//
// Steps:
//  1. Pick the layers: Conv, ConvTranspose, Gemm, MatMul with a constant weight that has an
//     enabled integer encoding in the sim, in topological order, minus options.skip_layers.
//  2. Read up to num_samples samples from the source once; the targets come from the sim's FP32
//     run, which the chosen roundings never change (QuantSim::set_quantized_weight).
//  3. For each layer, with the earlier layers already rounded in the sim:
//     a. the target value: the layer output, or the output of the Relu / LeakyRelu / Clip that
//        alone consumes it (the activation is then applied to the layer output in the loss);
//     b. cache the layer input from the quantized sim (QuantSim::run with fetches) and the target
//        from the FP32 executor, over the samples;
//     c. V is initialised so that h(V) = frac(w / s), h(V) = clamp(sigmoid(V)(zeta - gamma) +
//        gamma, 0, 1), zeta = 1.1, gamma = -0.1, w~ = s (clamp(floor(w / s) + h(V) + z) - z);
//     d. for `iterations` steps: draw batch_size distinct cached samples, loss = (1/P)
//        ||act(y(w~)) - t||^2 + lambda sum(1 - |2h - 1|^beta) (P = output positions; the
//        regulariser is off for the first warm_start of the steps, beta cosine-annealed from 20
//        to 2), gradient derived by hand (adaround_layer.h), Adam step on V;
//     e. a NaN / Inf loss stops the layer: it keeps round-to-nearest, with a warning;
//     f. hard rounding h = 1[V >= 0]; the weight s (clamp(floor(w / s) + h + z) - z) replaces the
//        layer's weight in the sim, its encoding kept.
#include "algo/adaround.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/clock.h"
#include "ir/clone.h"
#include "runtime/executor.h"

namespace quench {

namespace {

bool is_adaround_op(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}

struct Layer {
  const Node* node = nullptr;
  std::string weight, bias;  // bias: "" when none
  Encoding encoding;
};

// Step 1: the eligible layers; the others go to `skipped` with the reason.
std::vector<Layer> eligible_layers(QuantSim& sim, const AdaRoundOptions& o,
                                   std::vector<std::string>& skipped) {
  std::vector<Layer> out;
  for (const Node* n : sim.sim_model().graph->nodes()) {
    if (!is_adaround_op(n->op_type) || n->inputs.size() < 2 || !n->inputs[1]) continue;
    const std::string where = "node '" + n->name + "' (" + n->op_type + ")";
    const Value* w = n->inputs[1];
    if (!w->is_constant() || w->constant.dtype() != DType::kFloat32) {
      skipped.push_back(where + ": no constant float weight");
      continue;
    }
    if (std::find(o.skip_layers.begin(), o.skip_layers.end(), n->name) != o.skip_layers.end() ||
        std::find(o.skip_layers.begin(), o.skip_layers.end(), w->name) != o.skip_layers.end()) {
      skipped.push_back(where + ": in skip_layers");
      continue;
    }
    const QuantPoint* p = sim.find_point(w->name);
    if (!p || p->kind != TensorKind::kWeight || !p->enabled || !p->encoding) {
      skipped.push_back(where + ": weight '" + w->name + "' is not quantized");
      continue;
    }
    if (!p->encoding->spec.is_int()) {
      skipped.push_back(where + ": weight grid " + p->encoding->spec.describe() + " is not integer");
      continue;
    }
    Layer l{n, w->name, "", *p->encoding};
    const int bias_slot = n->op_type == "MatMul" ? -1 : 2;
    if (bias_slot > 0 && static_cast<int>(n->inputs.size()) > bias_slot && n->inputs[2]) {
      if (!n->inputs[2]->is_constant()) {
        skipped.push_back(where + ": bias '" + n->inputs[2]->name + "' is not constant");
        continue;
      }
      l.bias = n->inputs[2]->name;
    }
    out.push_back(std::move(l));
  }
  return out;
}

// Step 3a: the activation that alone consumes the layer's output, when it is one AdaRound can
// fold into the loss.
const Node* following_activation(const Model& m, const Node& layer, FusedActivation* act) {
  const Value* y = layer.outputs.empty() ? nullptr : layer.outputs[0];
  if (!y || y->consumers.size() != 1) return nullptr;
  for (const Value* out : m.graph->outputs)
    if (out == y) return nullptr;
  const Node* c = y->consumers[0];
  if (c->op_type != "Relu" && c->op_type != "LeakyRelu" && c->op_type != "Clip") return nullptr;
  auto a = fused_activation_from_node(c);
  if (!a.ok()) return nullptr;  // a Clip with computed bounds
  *act = *a;
  return c;
}

int64_t batch_rows(const Executor::Feeds& f) {
  return f.empty() || f[0].second.rank() == 0 ? 0 : f[0].second.dim(0);
}

// Appends the rows of t (plain float32 [b, ...]) to `cache`, at most `max_rows`; checks that the
// sample shape matches the first batch's.
Status append_rows(const Tensor& t, const std::string& name, Shape& sample, std::vector<float>& cache,
                   int64_t max_rows, int64_t* rows) {
  if (t.dtype() != DType::kFloat32 || t.rank() < 1)
    return Status::invalid("AdaRound: value '" + name + "' is " + t.describe() + ", not float32 [N, ...]");
  QUENCH_ASSIGN_OR_RETURN(Tensor p, to_plain(t));
  Shape s(p.shape().begin() + 1, p.shape().end());
  if (sample.empty() && cache.empty()) sample = s;
  if (s != sample)
    return Status::invalid("AdaRound: value '" + name + "' has sample shape " + shape_to_string(s) +
                           " in one batch and " + shape_to_string(sample) + " in another");
  const int64_t per = shape_numel(s), take = std::min(p.dim(0), max_rows);
  cache.insert(cache.end(), p.data<float>(), p.data<float>() + take * per);
  *rows = take;
  return Status();
}

}  // namespace

Result<AdaRoundReport> adaround(QuantSim& sim, const BatchSource& source, const AdaRoundOptions& o) {
  const double t_start = now_seconds();
  auto warn = [&](const std::string& m) {
    if (o.warn) o.warn(m);
  };
  if (o.batch_size < 1 || o.num_samples < 1)
    return Status::invalid("AdaRound: batch_size (" + std::to_string(o.batch_size) + ") and num_samples (" +
                           std::to_string(o.num_samples) + ") must be >= 1");
  if (!(o.warm_start >= 0.0 && o.warm_start < 1.0))
    return Status::invalid("AdaRound: warm_start " + std::to_string(o.warm_start) + " must be in [0, 1)");
  AdaRoundReport report;
  // Step 1.
  std::vector<Layer> layers = eligible_layers(sim, o, report.skipped);
  if (layers.empty()) {
    warn("AdaRound: the model has no Conv / ConvTranspose / Gemm / MatMul layer with quantized "
         "constant weights; nothing to round");
    return report;
  }
  int min_bits = 32;
  for (const Layer& l : layers) min_bits = std::min(min_bits, l.encoding.spec.bits);
  report.iterations = o.iterations > 0 ? o.iterations : (min_bits < 8 ? 15000 : 10000);

  // Step 2.
  std::vector<Executor::Feeds> batches;
  for (int64_t i = 0; report.samples < o.num_samples; ++i) {
    QUENCH_ASSIGN_OR_RETURN(Executor::Feeds f, source(i));
    if (f.empty()) break;
    report.samples += batch_rows(f);
    batches.push_back(std::move(f));
  }
  if (batches.empty()) return Status::invalid("AdaRound: calibration set is empty: no batch to learn from");
  if (report.samples < o.batch_size)
    return Status::invalid("AdaRound: the calibration set has " + std::to_string(report.samples) +
                           " samples, fewer than the batch size " + std::to_string(o.batch_size));

  // Step 3.
  for (const Layer& l : layers) {
    const double t_layer = now_seconds();
    const Node& node = *l.node;
    const std::string label = "AdaRound: layer '" + node.name + "' (" + node.op_type + ")";
    AdaRoundLayerReport r;
    r.node = node.name;
    r.op_type = node.op_type;
    r.weight = l.weight;
    FusedActivation act;
    const Node* act_node = following_activation(sim.sim_model(), node, &act);
    r.target = act_node ? act_node->outputs[0]->name : node.outputs[0]->name;
    r.activation = act_node ? act.describe() : "";
    const std::string x_name = node.inputs[0]->name;

    // Step 3b.
    std::vector<float> xs, ts;
    Shape x_sample, t_sample;
    int64_t cached = 0, cap = o.num_samples;
    for (size_t b = 0; b < batches.size() && cached < cap; ++b) {
      auto q = sim.run(batches[b], {x_name});
      if (!q.ok()) return q.status().with_context(label + ": batch " + std::to_string(b));
      auto f = sim.run_fp32(batches[b], {r.target});
      if (!f.ok()) return f.status().with_context(label + ": batch " + std::to_string(b));
      int64_t rows_x = 0, rows_t = 0;
      QUENCH_RETURN_IF_ERROR(append_rows((*q)[0], x_name, x_sample, xs, cap - cached, &rows_x));
      QUENCH_RETURN_IF_ERROR(append_rows((*f)[0], r.target, t_sample, ts, cap - cached, &rows_t));
      if (rows_x != rows_t)
        return Status::invalid(label + ": input '" + x_name + "' has " + std::to_string(rows_x) +
                               " rows but target '" + r.target + "' has " + std::to_string(rows_t));
      cached += rows_x;
      if (b == 0) {
        const int64_t per_sample = (shape_numel(x_sample) + shape_numel(t_sample)) * 4;
        const int64_t fit = std::max<int64_t>(1, o.max_cache_bytes / std::max<int64_t>(per_sample, 1));
        if (fit < cap) {
          warn(label + ": " + std::to_string(cap) + " samples of " + std::to_string(per_sample) +
               " bytes exceed max_cache_bytes; caching " + std::to_string(fit));
          cap = fit;
          if (cached > cap) {
            xs.resize(static_cast<size_t>(cap * shape_numel(x_sample)));
            ts.resize(static_cast<size_t>(cap * shape_numel(t_sample)));
            cached = cap;
          }
        }
      }
    }
    r.samples = cached;
    if (cached < o.batch_size) {
      report.skipped.push_back("node '" + node.name + "' (" + node.op_type + "): only " +
                               std::to_string(cached) + " samples fit max_cache_bytes");
      warn(label + ": skipped, only " + std::to_string(cached) + " samples fit max_cache_bytes");
      continue;
    }

    // Steps 3c-3e.
    const Model& m = sim.sim_model();
    AdaRoundLayer::Spec spec;
    spec.node = &node;
    spec.weight = m.graph->find_value(l.weight)->constant;
    if (!l.bias.empty()) spec.bias = m.graph->find_value(l.bias)->constant;
    spec.encoding = l.encoding;
    spec.activation = act;
    spec.sample_input = x_sample;
    spec.batch = o.batch_size;
    auto layer = AdaRoundLayer::create(spec);
    if (!layer.ok()) {
      report.skipped.push_back("node '" + node.name + "' (" + node.op_type + "): " + layer.status().message());
      warn(label + ": skipped: " + layer.status().message());
      continue;
    }
    if ((*layer)->sample_output_numel() != shape_numel(t_sample))
      return Status::internal(label + ": layer output sample " + shape_to_string((*layer)->sample_output()) +
                              " does not match target '" + r.target + "' " + shape_to_string(t_sample));
    AdaRoundSchedule sch;
    sch.iterations = report.iterations;
    sch.reg_lambda = o.reg_lambda;
    sch.beta_start = o.beta_start;
    sch.beta_end = o.beta_end;
    sch.warm_start = o.warm_start;
    sch.lr = o.lr;
    sch.seed = o.seed + 7919u * report.layers.size();
    if (o.progress) sch.progress = [&](int64_t it, int64_t total) { o.progress(node.name, it, total); };
    QUENCH_ASSIGN_OR_RETURN(r.outcome, (*layer)->optimize(LayerSamples{xs.data(), ts.data(), cached}, sch));
    r.weight_numel = (*layer)->weight_numel();

    // Step 3f.
    if (r.outcome.diverged) {
      warn(label + ": the loss became NaN or Inf at iteration " + std::to_string(r.outcome.diverged_at + 1) +
           " of " + std::to_string(report.iterations) + "; the layer keeps round-to-nearest weights");
    } else {
      QUENCH_RETURN_IF_ERROR(sim.set_quantized_weight(l.weight, (*layer)->hard_weight()).with_context(label));
      r.applied = true;
    }
    r.seconds = now_seconds() - t_layer;
    report.layers.push_back(std::move(r));
  }
  report.seconds = now_seconds() - t_start;
  return report;
}

}  // namespace quench
