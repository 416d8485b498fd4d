// Bias correction: Nagel, van Baalen, Blankevoort, Welling, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", ICCV 2019, section 4.2; AIMET bias_correction (empirical and
// BN-based analytical); vai_q_pytorch include_bias_corr (in-calibration).
//
// With y = W x + b and quantization error eps = W~ - W, E[y~] - E[y] = eps E[x] per output
// channel; subtracting that from b makes the quantized layer unbiased.
//
//  1. Layers: every Conv / ConvTranspose / Gemm / MatMul with a constant float weight, in
//     topological order, except those in layers_to_ignore. The bias is input 2 (Gemm: C with numel
//     = output features, scaled by beta); a MatMul's bias is the constant of the Add that alone
//     consumes its output. Layers without a bias are noted and skipped.
//  2. Batches: the first `num_batches` batches of the source, read once and kept in memory.
//  3. Reference: one FP32 pass over the batches, fetching the layer outputs (in chunks, to bound
//     memory), reduced to per-channel means over every axis but the channel axis (N, H, W). Taken
//     before any correction, since set_parameter changes the FP32 sim model as well.
//  4a. Empirical, per layer in order: the layer's own output quantizer is switched off, so that
//     the fetched value is its accumulator output (before rounding, as AIMET's pre-activation
//     output); the quantized sim runs every batch (earlier layers already corrected) and
//     shift_c = mean_q_c - mean_fp_c; bias_c = b~_c - shift_c / beta, from the bias b~ as the
//     quantized model applied it (int32 rounding included); the quantizer is switched back on.
//     Every layer re-runs the whole model over every batch: L * B runs, O(L^2) node runs for L
//     layers (the executor does not stop at the fetched value), a few seconds for the zoo models.
//     Outputs are reduced to per-channel sums batch by batch (collect_values would hold them all).
//  4b. Analytical (layers whose input comes from a BatchNormalization, through Identity, Relu or
//     Clip): eps[o, i] = sum over the kernel of (W~ - W); E[x_i] = E[clamp(N(beta_i, gamma_i^2),
//     lo, hi)] with (lo, hi) = (-inf, inf), (0, inf) for Relu, the Clip bounds for Clip;
//     shift_o = sum_i eps[o, i] E[x_i] over the input channels of o's group. Border effects of
//     padding are ignored (as in AIMET). Other layers: empirical (4a) when there is data.
//  4c. In-calibration (vai_q's include_bias_corr, which corrects while calibration batches
//     stream): one pass; batch t is run quantized and FP32 fetching every layer output as the
//     quantized model produces it (after its quantizer, if it has one), and every layer's bias
//     moves by its measured shift / (t + 1) at once. Cheaper than 4a (two runs per batch instead
//     of one per layer and batch), but a layer's measurement mixes states of its predecessors
//     from earlier batches, so it lands less close to unbiased than 4a. vai_q's own rate (0.05,
//     halved on an SQNR test) assumes hundreds of batches.
//  5. Each new bias goes through QuantSim::set_parameter (int32 bias encodings are re-derived).
#include "algo/bias_correction.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "algo/layer_data.h"
#include "quant/quantize.h"

namespace quench {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// FP32 reference outputs fetched per run: bounds the tensors held at once.
constexpr size_t kFetchChunk = 16;

struct Layer {
  const Node* node = nullptr;
  std::string name;        // node name, or its output's name for an unnamed node
  std::string output;      // the value measured
  std::string bias;        // bias value; "" when the layer has none
  double bias_gain = 1.0;  // d output / d bias (Gemm: beta)
  int channel_axis = 1;    // of the output; -1 = last
  int64_t channels = 0;
};

bool is_f32_constant(const Value* v) {
  return v && v->is_constant() && v->constant.dtype() == DType::kFloat32 && v->constant.is_plain();
}

bool is_model_output(const Graph& g, const Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

// The weighted layers of the sim model, with their biases; notes for those left alone.
std::vector<Layer> find_layers(const Model& model, std::vector<std::string>& notes) {
  const Graph& g = *model.graph;
  std::vector<Layer> layers;
  for (const Node* n : g.nodes()) {
    const std::string& op = n->op_type;
    if (!n->domain.empty() ||
        (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul"))
      continue;
    const Value* w = n->input(1);
    if (!n->input(0) || !is_f32_constant(w) || n->outputs.empty() || !n->outputs[0]) continue;
    const Tensor& wt = w->constant;
    Layer l;
    l.node = n;
    l.output = n->outputs[0]->name;
    l.name = n->name.empty() ? l.output : n->name;
    if (op == "Conv" && wt.rank() >= 3) {
      l.channels = wt.dim(0);
    } else if (op == "ConvTranspose" && wt.rank() >= 3) {
      l.channels = wt.dim(1) * n->attr_int("group", 1);
    } else if (op == "Gemm" && wt.rank() == 2) {
      l.channels = n->attr_int("transB", 0) ? wt.dim(0) : wt.dim(1);
    } else if (op == "MatMul" && wt.rank() >= 2) {
      l.channels = wt.dim(-1);
      l.channel_axis = -1;
    } else {
      notes.push_back("bias correction: " + n->label() + ": weight " + wt.describe() +
                      " has an unexpected rank; skipped");
      continue;
    }
    const Value* b = nullptr;
    const Node* bias_user = n;
    if (op == "MatMul") {
      const Value* y = n->outputs[0];
      const Node* add = y->consumers.size() == 1 ? y->consumers[0] : nullptr;
      if (add && add->op_type == "Add" && add->domain.empty() && !is_model_output(g, y) &&
          add->num_inputs() == 2) {
        b = add->input(0) == y ? add->input(1) : add->input(0);
        bias_user = add;
      }
    } else if (n->num_inputs() > 2) {
      b = n->input(2);
      if (op == "Gemm") l.bias_gain = n->attr_float("beta", 1.0f);
    }
    std::string why;
    if (!b) {
      why = "has no bias (QuantSim cannot add a bias input yet)";
    } else if (!is_f32_constant(b)) {
      why = "bias '" + b->name + "' is not a float constant";
    } else if (b->constant.numel() != l.channels || b->constant.rank() < 1 ||
               b->constant.dim(-1) != l.channels) {
      why = "bias '" + b->name + "' " + b->constant.describe() +
            " is not one value per output channel (" + std::to_string(l.channels) + ")";
    } else if (b->consumers.size() != 1 || b->consumers[0] != bias_user) {
      why = "bias '" + b->name + "' is shared with other nodes";
    } else if (l.bias_gain == 0.0) {
      why = "Gemm beta is 0: the bias has no effect";
    }
    if (!why.empty()) {
      notes.push_back("bias correction: " + n->label() + " " + why + "; skipped");
      continue;
    }
    l.bias = b->name;
    layers.push_back(std::move(l));
  }
  return layers;
}

// Per-channel sums of a layer output over every other axis.
struct ChannelMean {
  std::vector<double> sum;
  int64_t count = 0;  // elements per channel so far

  Status add(const Tensor& t, const Layer& l) {
    if (t.dtype() != DType::kFloat32 || !t.is_plain() || t.rank() < 1)
      return Status::unsupported("bias correction: output '" + l.output + "' of " +
                                 l.node->label() + " is " + t.describe() + ", not float32");
    const int axis = l.channel_axis < 0 ? t.rank() - 1 : l.channel_axis;
    if (axis >= t.rank() || t.dim(axis) != l.channels)
      return Status::unsupported("bias correction: output '" + l.output + "' of " +
                                 l.node->label() + " is " + t.describe() + ", expected " +
                                 std::to_string(l.channels) + " channels on axis " +
                                 std::to_string(axis));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= t.dim(i);
    for (int i = axis + 1; i < t.rank(); ++i) inner *= t.dim(i);
    sum.resize(static_cast<size_t>(l.channels), 0.0);
    const float* x = t.data<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < l.channels; ++c) {
        const float* p = x + (o * l.channels + c) * inner;
        double s = 0.0;
        for (int64_t i = 0; i < inner; ++i) s += p[i];
        sum[static_cast<size_t>(c)] += s;
      }
    count += outer * inner;
    return Status();
  }

  double mean(size_t c) const { return count ? sum[c] / static_cast<double>(count) : 0.0; }
};

// Per-channel output means of `layers` over `batches`, FP32 or quantized, fetching at most
// kFetchChunk values per run.
Result<std::vector<ChannelMean>> output_means(QuantSim& sim,
                                              const std::vector<Executor::Feeds>& batches,
                                              const std::vector<const Layer*>& layers, Run run) {
  std::vector<ChannelMean> means(layers.size());
  for (size_t start = 0; start < layers.size(); start += kFetchChunk) {
    const size_t end = std::min(layers.size(), start + kFetchChunk);
    std::vector<std::string> names;
    for (size_t k = start; k < end; ++k) names.push_back(layers[k]->output);
    for (size_t b = 0; b < batches.size(); ++b) {
      auto got = run == Run::kFp32 ? sim.run_fp32(batches[b], names) : sim.run(batches[b], names);
      if (!got.ok())
        return got.status().with_context("bias correction: batch " + std::to_string(b));
      for (size_t k = start; k < end; ++k)
        QUENCH_RETURN_IF_ERROR(means[k].add((*got)[k - start], *layers[k]));
    }
  }
  return means;
}

// Switches the activation quantizer on a layer's output off for the lifetime of the object, so
// that the quantized run returns the accumulator output. QuantSim rebuilds its quantized executor
// when an encoding is (re)set, which is how the change is made visible.
class OutputQuantizerOff {
 public:
  static Result<OutputQuantizerOff> create(QuantSim& sim, const std::string& value) {
    OutputQuantizerOff off;
    QuantPoint* p = sim.find_point(value);
    if (!p || !p->enabled || !p->encoding ||
        (p->kind != TensorKind::kActivation && p->kind != TensorKind::kInput))
      return off;
    p->enabled = false;
    off.sim_ = &sim;  // from here on the destructor switches it back on
    off.value_ = value;
    const Encoding e = *p->encoding;  // set_encoding assigns into *p
    QUENCH_RETURN_IF_ERROR(sim.set_encoding(value, e));
    return off;
  }
  OutputQuantizerOff(OutputQuantizerOff&& o) noexcept : sim_(o.sim_), value_(std::move(o.value_)) {
    o.sim_ = nullptr;
  }
  OutputQuantizerOff& operator=(OutputQuantizerOff&&) = delete;
  ~OutputQuantizerOff() { (void)restore(); }

  Status restore() {
    if (!sim_) return Status();
    QuantSim* sim = sim_;
    sim_ = nullptr;
    QuantPoint* p = sim->find_point(value_);
    if (!p || !p->encoding) return Status();
    p->enabled = true;
    const Encoding e = *p->encoding;
    return sim->set_encoding(value_, e);
  }

 private:
  OutputQuantizerOff() = default;
  QuantSim* sim_ = nullptr;
  std::string value_;
};

// bias -= shift / gain; returns the mean |change|. The shift was measured with the bias as the
// quantized model applies it, so the update starts from that value: the output mean is then off
// by the new bias's own rounding only (half a step), not by the old one's as well.
Result<double> apply_shift(QuantSim& sim, const Layer& l, const std::vector<double>& shift) {
  const Value* bv = sim.sim_model().graph->find_value(l.bias);
  Tensor nb = bv->constant.clone();
  const QuantPoint* bp = sim.find_point(l.bias);
  if (bp && bp->enabled && bp->encoding) {
    QUENCH_ASSIGN_OR_RETURN(nb, fake_quantize(bv->constant, *bp->encoding));
  }
  float* b = nb.data<float>();
  double total = 0.0;
  for (int64_t c = 0; c < l.channels; ++c) {
    const double d = shift[static_cast<size_t>(c)] / l.bias_gain;
    b[c] = static_cast<float>(static_cast<double>(b[c]) - d);
    total += std::abs(d);
  }
  QUENCH_RETURN_IF_ERROR(sim.set_parameter(l.bias, std::move(nb), false)
                             .with_context("bias correction: " + l.node->label()));
  return l.channels ? total / static_cast<double>(l.channels) : 0.0;
}

// 4c: batch t updates every layer by (its quantized - FP32 output mean on batch t) / (t + 1), the
// quantized model carrying the updates of the batches before. For one layer the result is the mean
// over the batches, as in 4a. Rate 1 on every batch oscillates (mobilenetv2_fmnist W4A8: top-1
// agreement with FP32 falls to 8%); measuring all layers once and correcting them together
// over-corrects (fashion_cnn W4A8 top-1 89.8% -> 80.6%).
Status correct_streaming(QuantSim& sim, const std::vector<Executor::Feeds>& batches,
                         const std::vector<const Layer*>& layers, BiasCorrectionReport& report,
                         const std::function<void(int64_t, int64_t)>& progress) {
  // FP32 references per batch, before any change (set_parameter changes the FP32 model too).
  std::vector<std::vector<ChannelMean>> fp(batches.size());
  for (size_t t = 0; t < batches.size(); ++t) {
    QUENCH_ASSIGN_OR_RETURN(fp[t], output_means(sim, {batches[t]}, layers, Run::kFp32));
  }
  std::vector<std::vector<double>> moved(layers.size());
  for (size_t k = 0; k < layers.size(); ++k)
    moved[k].assign(static_cast<size_t>(layers[k]->channels), 0.0);
  for (size_t t = 0; t < batches.size(); ++t) {
    QUENCH_ASSIGN_OR_RETURN(auto q, output_means(sim, {batches[t]}, layers, Run::kQuantized));
    const double rate = 1.0 / static_cast<double>(t + 1);
    for (size_t k = 0; k < layers.size(); ++k) {
      std::vector<double> shift(moved[k].size());
      for (size_t c = 0; c < shift.size(); ++c) {
        shift[c] = rate * (q[k].mean(c) - fp[t][k].mean(c));
        moved[k][c] += shift[c] / layers[k]->bias_gain;
      }
      QUENCH_RETURN_IF_ERROR(apply_shift(sim, *layers[k], shift).status());
    }
    if (progress) progress(static_cast<int64_t>(t) + 1, static_cast<int64_t>(batches.size()));
  }
  for (size_t k = 0; k < layers.size(); ++k) {
    double total = 0.0;
    for (double m : moved[k]) total += std::abs(m);
    report.layers.push_back({layers[k]->name, total / static_cast<double>(moved[k].size()),
                             static_cast<int>(layers[k]->channels), "in-calibration"});
  }
  return Status();
}

// ---- analytical ----

double normal_pdf(double x) {
  if (std::isinf(x)) return 0.0;
  return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
}
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// A constant scalar input or attribute of a Clip, or `dflt`.
double clip_bound(const Node* clip, size_t input, const char* attr, double dflt) {
  if (const Value* v = clip->input(input)) {
    if (is_f32_constant(v) && v->constant.numel() == 1) return v->constant.data<float>()[0];
    return std::numeric_limits<double>::quiet_NaN();  // a bound computed at run time
  }
  return clip->attr_float(attr, static_cast<float>(dflt));
}

// E[x] per input channel of `l` when its input is a BN output (through Identity / Relu / Clip):
// from a BatchNormalization node in the sim model or from `bn` (BNs folded into the producer).
// Empty when the pattern does not hold.
std::vector<double> input_mean_from_bn(
    const Layer& l, const std::unordered_map<std::string, const BatchNormStats*>& bn) {
  double lo = -kInf, hi = kInf;
  bool activation = false;
  const Value* v = l.node->input(0);
  const std::vector<float>* gamma = nullptr;
  const std::vector<float>* beta = nullptr;
  std::vector<float> node_gamma, node_beta;
  for (int depth = 0; v && v->producer && depth < 16; ++depth) {
    const Node* p = v->producer;
    if (p->op_type == "Identity") {
      v = p->input(0);
      continue;
    }
    if ((p->op_type == "Relu" || p->op_type == "Clip") && !activation) {
      activation = true;
      if (p->op_type == "Relu") {
        lo = 0.0;
      } else {
        lo = clip_bound(p, 1, "min", -kInf);
        hi = clip_bound(p, 2, "max", kInf);
        if (std::isnan(lo) || std::isnan(hi)) return {};
      }
      v = p->input(0);
      continue;
    }
    if (p->op_type == "BatchNormalization" && is_f32_constant(p->input(1)) &&
        is_f32_constant(p->input(2))) {
      const Tensor& s = p->input(1)->constant;
      const Tensor& b = p->input(2)->constant;
      node_gamma.assign(s.data<float>(), s.data<float>() + s.numel());
      node_beta.assign(b.data<float>(), b.data<float>() + b.numel());
      gamma = &node_gamma;
      beta = &node_beta;
    } else if (auto it = bn.find(p->name); it != bn.end() && !p->name.empty()) {
      gamma = &it->second->gamma;
      beta = &it->second->beta;
    }
    break;
  }
  if (!gamma || gamma->size() != beta->size()) return {};
  std::vector<double> ex(gamma->size());
  for (size_t i = 0; i < ex.size(); ++i)
    ex[i] = clamped_normal_mean((*beta)[i], std::abs(static_cast<double>((*gamma)[i])), lo, hi);
  return ex;
}

// shift_o = sum_i (sum over the kernel of (W~ - W)[o, i]) E[x_i]. Empty with `why` set when the
// layer's form is not handled.
std::vector<double> analytical_shift(QuantSim& sim, const Layer& l, const std::vector<double>& ex,
                                     std::string& why) {
  const Node* n = l.node;
  const Value* wv = n->input(1);
  const Tensor& w = wv->constant;
  const QuantPoint* wp = sim.find_point(wv->name);
  std::vector<double> shift(static_cast<size_t>(l.channels), 0.0);
  if (!wp || !wp->enabled || !wp->encoding) return shift;  // float weights: no error to correct
  auto wq = fake_quantize(w, *wp->encoding);
  if (!wq.ok()) {
    why = wq.status().message();
    return {};
  }
  const float* a = w.data<float>();
  const float* q = wq->data<float>();
  const int64_t ex_n = static_cast<int64_t>(ex.size());
  if (n->op_type == "Conv") {
    const int64_t group = n->attr_int("group", 1);
    const int64_t cout = w.dim(0), cin_g = w.dim(1), k = w.numel() / (cout * cin_g);
    if (group <= 0 || cout % group || cin_g * group != ex_n) {
      why = "BN has " + std::to_string(ex_n) + " channels, the layer reads " +
            std::to_string(cin_g * group);
      return {};
    }
    const int64_t cout_g = cout / group;
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < cin_g; ++i) {
        double eps = 0.0;
        for (int64_t j = 0; j < k; ++j) {
          const int64_t idx = (o * cin_g + i) * k + j;
          eps += static_cast<double>(q[idx]) - static_cast<double>(a[idx]);
        }
        shift[static_cast<size_t>(o)] += eps * ex[static_cast<size_t>((o / cout_g) * cin_g + i)];
      }
  } else if (n->op_type == "ConvTranspose") {
    const int64_t group = n->attr_int("group", 1);
    const int64_t cin = w.dim(0), cout_g = w.dim(1), k = w.numel() / (cin * cout_g);
    if (group <= 0 || cin % group || cin != ex_n) {
      why = "BN has " + std::to_string(ex_n) + " channels, the layer reads " + std::to_string(cin);
      return {};
    }
    const int64_t cin_g = cin / group;
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t j = 0; j < cout_g; ++j) {
        double eps = 0.0;
        for (int64_t s = 0; s < k; ++s) {
          const int64_t idx = (i * cout_g + j) * k + s;
          eps += static_cast<double>(q[idx]) - static_cast<double>(a[idx]);
        }
        shift[static_cast<size_t>((i / cin_g) * cout_g + j)] += eps * ex[static_cast<size_t>(i)];
      }
  } else if (n->op_type == "Gemm" && n->attr_int("transA", 0) == 0) {
    const bool tb = n->attr_int("transB", 0) != 0;
    const int64_t kdim = tb ? w.dim(1) : w.dim(0);
    if (kdim != ex_n) {
      why = "BN has " + std::to_string(ex_n) + " channels, the layer reads " + std::to_string(kdim);
      return {};
    }
    const double alpha = n->attr_float("alpha", 1.0f);
    for (int64_t o = 0; o < l.channels; ++o)
      for (int64_t i = 0; i < kdim; ++i) {
        const int64_t idx = tb ? o * kdim + i : i * l.channels + o;
        shift[static_cast<size_t>(o)] +=
            alpha * (static_cast<double>(q[idx]) - static_cast<double>(a[idx])) *
            ex[static_cast<size_t>(i)];
      }
  } else {
    why = "analytical correction handles Conv, ConvTranspose and Gemm (transA = 0)";
    return {};
  }
  return shift;
}

}  // namespace

const char* bias_correction_mode_name(BiasCorrectionMode m) {
  switch (m) {
    case BiasCorrectionMode::kEmpirical: return "empirical";
    case BiasCorrectionMode::kAnalytical: return "analytical";
    case BiasCorrectionMode::kInCalibration: return "in-calibration";
  }
  return "?";
}

double clamped_normal_mean(double mean, double stddev, double lo, double hi) {
  if (!(stddev > 0.0)) return std::clamp(mean, lo, hi);
  const double a = (lo - mean) / stddev, b = (hi - mean) / stddev;
  const double pa = normal_cdf(a), pb = normal_cdf(b);
  // mean * P(lo < x < hi) + stddev * (pdf(a) - pdf(b)) + lo * P(x < lo) + hi * P(x > hi)
  double e = mean * (pb - pa) + stddev * (normal_pdf(a) - normal_pdf(b));
  if (!std::isinf(lo)) e += lo * pa;
  if (!std::isinf(hi)) e += hi * (1.0 - pb);
  return e;
}

Result<BiasCorrectionReport> correct_bias(QuantSim& sim, const BatchSource& source,
                                          const BiasCorrectionOptions& options,
                                          const std::vector<BatchNormStats>& bn) {
  BiasCorrectionReport report;
  std::vector<Layer> layers = find_layers(sim.sim_model(), report.notes);
  const bool had_layers = !layers.empty();
  std::erase_if(layers, [&](const Layer& l) {
    const auto& skip = options.layers_to_ignore;
    if (std::find(skip.begin(), skip.end(), l.node->name) == skip.end()) return false;
    report.notes.push_back("bias correction: " + l.node->label() + " ignored as asked");
    return true;
  });
  if (layers.empty()) {
    if (had_layers) return report;
    if (report.notes.empty())
      report.notes.push_back("bias correction: no Conv/Gemm/MatMul layer with weights");
    return report;
  }
  const int64_t total = static_cast<int64_t>(layers.size());
  auto progress = [&](int64_t done) {
    if (options.progress) options.progress(done, total);
  };

  // Analytical candidates first: with only those, no data is needed.
  std::unordered_map<std::string, const BatchNormStats*> bn_by_layer;
  for (const BatchNormStats& s : bn) bn_by_layer[s.layer] = &s;
  std::vector<std::vector<double>> ex(layers.size());
  bool need_data = true;
  if (options.mode == BiasCorrectionMode::kAnalytical) {
    need_data = false;
    for (size_t k = 0; k < layers.size(); ++k) {
      ex[k] = input_mean_from_bn(layers[k], bn_by_layer);
      need_data |= ex[k].empty();
    }
  }
  std::vector<Executor::Feeds> batches;
  for (int64_t i = 0; need_data && (options.num_batches < 0 || i < options.num_batches); ++i) {
    QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, source(i));
    if (feeds.empty()) break;
    batches.push_back(std::move(feeds));
  }
  if (need_data && batches.empty()) {
    if (options.mode != BiasCorrectionMode::kAnalytical)
      return Status::invalid("bias correction: calibration set is empty: no batch to measure on");
    // Data-free analytical run: layers without a BN before them stay as they are.
    report.notes.push_back(
        "bias correction: no calibration data; only layers after a "
        "BatchNormalization are corrected (analytically)");
  }

  // FP32 reference means of every layer, before any bias changes (set_parameter changes the FP32
  // sim model too). Analytical layers are included: one that turns out unusable is measured.
  std::vector<const Layer*> all;
  for (const Layer& l : layers) all.push_back(&l);
  std::vector<ChannelMean> fp;
  if (!batches.empty() && options.mode != BiasCorrectionMode::kInCalibration) {
    QUENCH_ASSIGN_OR_RETURN(fp, output_means(sim, batches, all, Run::kFp32));
  }

  if (options.mode == BiasCorrectionMode::kInCalibration) {
    QUENCH_RETURN_IF_ERROR(correct_streaming(sim, batches, all, report, options.progress));
    return report;
  }

  for (size_t k = 0; k < layers.size(); ++k) {
    const Layer& l = layers[k];
    std::vector<double> shift;
    std::string method;
    if (!ex[k].empty()) {
      std::string why;
      shift = analytical_shift(sim, l, ex[k], why);
      method = "analytical";
      if (shift.empty())
        report.notes.push_back("bias correction: " + l.node->label() + ": " + why +
                               (batches.empty() ? "; skipped" : "; corrected empirically"));
    } else if (batches.empty()) {
      report.notes.push_back("bias correction: " + l.node->label() +
                             ": no BatchNormalization before it and no data; skipped");
    }
    if (shift.empty() && !batches.empty()) {
      QUENCH_ASSIGN_OR_RETURN(OutputQuantizerOff off, OutputQuantizerOff::create(sim, l.output));
      QUENCH_ASSIGN_OR_RETURN(auto q, output_means(sim, batches, {&l}, Run::kQuantized));
      QUENCH_RETURN_IF_ERROR(off.restore());
      const ChannelMean& f = fp[k];
      shift.resize(static_cast<size_t>(l.channels));
      for (size_t c = 0; c < shift.size(); ++c) shift[c] = q[0].mean(c) - f.mean(c);
      method = "empirical";
    }
    if (!shift.empty()) {
      QUENCH_ASSIGN_OR_RETURN(double moved, apply_shift(sim, l, shift));
      report.layers.push_back({l.name, moved, static_cast<int>(l.channels), method});
    }
    progress(static_cast<int64_t>(k) + 1);
  }
  return report;
}

}  // namespace quench
