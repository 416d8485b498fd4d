#include "sim/quantsim.h"

#include <cmath>
#include <cstring>
#include <random>
#include <unordered_map>

#include "calib/observer.h"
#include "core/parallel.h"
#include "ir/clone.h"
#include "quant/quantize.h"
#include "runtime/optimize.h"
#include "sim/placement.h"

namespace quench {

namespace {

std::string describe_bad_value(const Tensor& t, int64_t index) {
  const float v = t.data<float>()[index];
  return std::string(std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf")) + " at element " +
         std::to_string(index) + " of " + t.describe();
}

// Per-block min / max of a weight (blocks of spec.block_size along spec.axis), for per-block
// encodings; param_shape is the data shape with dim(axis) -> ceil(dim / block).
Result<Encoding> per_block_encoding(const Tensor& w, const QuantSpec& spec) {
  const int rank = w.rank();
  const int axis = spec.axis < 0 ? spec.axis + rank : spec.axis;
  if (axis < 0 || axis >= rank)
    return Status::invalid("block axis " + std::to_string(spec.axis) + " is out of range for " +
                           w.describe());
  const int64_t dim = w.dim(axis), block = spec.block_size;
  const int64_t nblocks = (dim + block - 1) / block;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= w.dim(i);
  for (int i = axis + 1; i < rank; ++i) inner *= w.dim(i);
  Shape pshape = w.shape();
  pshape[static_cast<size_t>(axis)] = nblocks;
  const int64_t nparams = outer * nblocks * inner;
  std::vector<float> mn(static_cast<size_t>(nparams), INFINITY), mx(static_cast<size_t>(nparams), -INFINITY);
  const float* x = w.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < inner; ++i) {
        const float v = x[(o * dim + d) * inner + i];
        const size_t p = static_cast<size_t>((o * nblocks + d / block) * inner + i);
        mn[p] = std::min(mn[p], v);
        mx[p] = std::max(mx[p], v);
      }
  return encoding_from_range(spec, mn, mx, pshape);
}

}  // namespace

bool op_keeps_input_grid(std::string_view op_type) {
  return sim_internal::keeps_input_grid(std::string(op_type));
}

Result<BatchSource> random_batch_source(const Model& model, const Shape& input_shape,
                                        int64_t num_batches, uint64_t seed) {
  const Value* input = nullptr;
  for (const Value* v : model.graph->inputs) {
    if (v->is_constant()) continue;
    if (input)
      return Status::unsupported("data-free calibration needs a model with one input (found '" +
                                 input->name + "' and '" + v->name + "')");
    input = v;
  }
  if (!input) return Status::invalid("data-free calibration: the model has no input");
  if (input->dtype != DType::kFloat32 && input->dtype != DType::kUndefined)
    return Status::unsupported("data-free calibration: input '" + input->name + "' is " +
                               std::string(dtype_name(input->dtype)) + ", not float32");
  Shape shape = input_shape;
  if (shape.size() == 3) shape.insert(shape.begin(), 1);
  if (shape.empty()) {
    // No input_shape: the model's declared shape with symbolic dimensions set to 1.
    if (!input->has_shape)
      return Status::invalid("data-free calibration: input '" + input->name +
                             "' has no declared shape; give input_shape");
    for (const Dim& d : input->shape) shape.push_back(d.known() ? d.value : 1);
  }
  for (int64_t d : shape)
    if (d <= 0)
      return Status::invalid("data-free calibration: input_shape " + shape_to_string(shape) +
                             " has a dimension <= 0");
  std::string name = input->name;
  return BatchSource([name, shape, num_batches, seed](int64_t i) -> Result<Executor::Feeds> {
    if (i >= num_batches) return Executor::Feeds{};
    std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(i));
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    Tensor t = Tensor::empty(DType::kFloat32, shape);
    float* p = t.data<float>();
    for (int64_t k = 0; k < t.numel(); ++k) p[k] = dist(rng);
    return Executor::Feeds{{name, t}};
  });
}

struct QuantSim::Impl {
  QuantConfig config;
  QuantSimOptions options;
  std::shared_ptr<Model> sim;
  std::vector<QuantPoint> points;
  std::unordered_map<std::string, size_t> index;  // point value -> points[i]
  std::unique_ptr<Executor> fp32_exec;
  std::unique_ptr<Executor> q_exec;  // weights fake-quantized, activations through the tap
  std::unordered_map<std::string, Tensor> q_weights;  // set_quantized_weight: quantized-run values
  bool q_dirty = true;
  bool bypass = false;

  void warn(const std::string& m) const {
    if (options.warn) options.warn(m);
  }

  void reindex() {
    index.clear();
    for (size_t i = 0; i < points.size(); ++i) index[points[i].value] = i;
  }

  // The encoding that holds for value `name` in the quantized run: its own point's, or that of
  // the value it was copied or reshaped from (grid-keeping producers).
  const Encoding* effective_encoding(const std::string& name) const {
    const Value* v = sim->graph->find_value(name);
    for (int depth = 0; v && depth < 64; ++depth) {
      auto it = index.find(v->name);
      if (it != index.end()) {
        const QuantPoint& p = points[it->second];
        return p.enabled && p.encoding ? &*p.encoding : nullptr;
      }
      if (!v->producer || !sim_internal::keeps_input_grid(v->producer->op_type)) return nullptr;
      v = v->producer->input(0);
    }
    return nullptr;
  }

  Status quantize_weights() {
    for (QuantPoint& p : points) QUENCH_RETURN_IF_ERROR(quantize_weight(p));
    return Status();
  }

  // A weight's (or non-int32 bias's) encoding from its values; other points are left alone.
  Status quantize_weight(QuantPoint& p) {
    if (p.kind != TensorKind::kWeight && !(p.kind == TensorKind::kBias && p.config.spec.bits != 32))
      return Status();
    const Value* v = sim->graph->find_value(p.value);
    const Tensor& w = v->constant;
    int64_t bad = first_non_finite(w.data<float>(), w.numel());
    if (bad >= 0)
      return Status::invalid(std::string(tensor_kind_name(p.kind)) + " '" + p.value + "' of " +
                             p.node + ": " + describe_bad_value(w, bad));
    if (p.config.spec.granularity == Granularity::kPerBlock) {
      QUENCH_ASSIGN_OR_RETURN(p.encoding, per_block_encoding(w, p.config.spec));
      return Status();
    }
    QUENCH_ASSIGN_OR_RETURN(auto obs, make_observer(p.config.observer));
    QUENCH_RETURN_IF_ERROR(obs->update(w).with_context("'" + p.value + "'"));
    auto e = obs->compute(p.config.spec);
    if (!e.ok()) return e.status().with_context("'" + p.value + "' of node '" + p.node + "'");
    p.encoding = std::move(e).value();
    return Status();
  }

  // int32 biases: scale = input scale * weight scale (per output channel), zero point 0.
  void set_bias_encodings() {
    for (QuantPoint& p : points) {
      if (p.kind != TensorKind::kBias || p.config.spec.bits != 32) continue;
      p.encoding.reset();
      const Node* node = nullptr;
      for (const Node* n : sim->graph->nodes())
        if (n->name == p.node) node = n;
      if (!node || !node->input(0) || !node->input(1)) continue;
      const Encoding* ein = effective_encoding(node->inputs[0]->name);
      auto wit = index.find(node->inputs[1]->name);
      if (!ein || ein->num_params() != 1 || wit == index.end()) continue;
      const QuantPoint& wp = points[wit->second];
      if (!wp.enabled || !wp.encoding || wp.encoding->spec.granularity == Granularity::kPerBlock)
        continue;
      const Tensor& b = sim->graph->find_value(p.value)->constant;
      Encoding e;
      e.spec = p.config.spec;
      e.param_shape = {b.numel()};
      for (int64_t c = 0; c < b.numel(); ++c) {
        const float sw = wp.encoding->scale[wp.encoding->num_params() == 1 ? 0 : static_cast<size_t>(c)];
        e.scale.push_back(ein->scale[0] * sw);
        e.zero_point.push_back(0);
      }
      if (wp.encoding->num_params() != 1 && wp.encoding->num_params() != b.numel()) continue;
      p.encoding = std::move(e);
    }
  }

  // Biases follow their input and weight encodings; the quantized executor is rebuilt lazily.
  void encodings_changed() {
    set_bias_encodings();
    q_dirty = true;
  }

  Status build_q_exec() {
    auto qmodel = std::make_shared<Model>(clone_model(*sim));
    for (const QuantPoint& p : points) {
      if ((p.kind != TensorKind::kWeight && p.kind != TensorKind::kBias) || !p.enabled ||
          !p.encoding)
        continue;
      Value* v = qmodel->graph->find_value(p.value);
      auto ov = q_weights.find(p.value);
      const Tensor& src = ov == q_weights.end() ? v->constant : ov->second;
      QUENCH_ASSIGN_OR_RETURN(v->constant, fake_quantize(src, *p.encoding));
    }
    ExecutorOptions eo;
    eo.num_threads = options.num_threads;
    QUENCH_ASSIGN_OR_RETURN(q_exec, Executor::create(qmodel, eo));
    // The tap applies the activation quantizers; points are looked up by name.
    std::unordered_map<std::string, const Encoding*> active;
    std::vector<std::string> watch, any_order;
    for (const QuantPoint& p : points)
      if ((p.kind == TensorKind::kActivation || p.kind == TensorKind::kInput) && p.enabled &&
          p.encoding) {
        active[p.value] = &*p.encoding;
        watch.push_back(p.value);
        // One scale for the whole tensor: element by element, so a blocked value can be
        // fake-quantized in its own buffer, without a plain copy and a reorder back.
        if (p.encoding->spec.granularity == Granularity::kPerTensor) any_order.push_back(p.value);
      }
    q_dirty = false;
    if (watch.empty()) return Status();  // weights only: no tap, the fast plan as it is
    q_exec->set_tap([active = std::move(active)](const TapEvent& e) -> Status {
      auto it = active.find(std::string(e.name));
      if (it == active.end() || e.tensor->dtype() != DType::kFloat32) return Status();
      // A blocked value's own buffer (produced by a kernel for this value alone): in place.
      if (e.any_order) return fake_quantize_inplace(*e.tensor, *it->second);
      // Otherwise a new tensor: a plain value may alias a caller's feed or another value (Reshape).
      QUENCH_ASSIGN_OR_RETURN(*e.tensor, fake_quantize(*e.tensor, *it->second));
      return Status();
    }, std::move(watch), std::move(any_order));
    q_dirty = false;
    return Status();
  }
};

QuantSim::QuantSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QuantSim::~QuantSim() = default;

Result<std::unique_ptr<QuantSim>> QuantSim::create(std::shared_ptr<const Model> fp32,
                                                   const QuantConfig& config,
                                                   QuantSimOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = std::move(options);
  // The accuracy-recovery steps of config.algorithms are algo/ptq.h's (quantize_model); QuantSim
  // only folds BatchNormalization.
  const AlgorithmOptions& a = config.algorithms;

  struct Named {
    const char* name;
    const TensorQuantConfig* c;
  };
  for (Named n : {Named{"input", &config.input}, Named{"activation", &config.activation},
                  Named{"weights", &config.weight}}) {
    if (!n.c->enabled) continue;
    QUENCH_RETURN_IF_ERROR(n.c->spec.validate().with_context(std::string("config: ") + n.name));
  }

  impl->sim = std::make_shared<Model>(clone_model(*fp32));
  if (a.fold_batchnorm) optimize_for_inference(*impl->sim);
  std::vector<std::string> notes;
  QUENCH_ASSIGN_OR_RETURN(impl->points,
                          sim_internal::place_quant_points(*impl->sim, config, &notes));
  for (const std::string& n : notes) impl->warn(n);
  for (const QuantPoint& p : impl->points) {
    if (p.config.spec.bits == 32) continue;  // int32 bias, derived
    QUENCH_RETURN_IF_ERROR(p.config.spec.validate().with_context(
        std::string(tensor_kind_name(p.kind)) + " '" + p.value + "'"));
    QUENCH_ASSIGN_OR_RETURN(auto probe, make_observer(p.config.observer));
    (void)probe;
  }
  impl->reindex();
  QUENCH_RETURN_IF_ERROR(impl->quantize_weights());
  ExecutorOptions eo;
  eo.num_threads = impl->options.num_threads;
  QUENCH_ASSIGN_OR_RETURN(impl->fp32_exec, Executor::create(impl->sim, eo));
  return std::unique_ptr<QuantSim>(new QuantSim(std::move(impl)));
}

Status QuantSim::compute_encodings(const BatchSource& source, int64_t num_batches) {
  Impl& m = *impl_;
  std::vector<size_t> act;  // activation / input points
  for (size_t i = 0; i < m.points.size(); ++i)
    if (m.points[i].kind == TensorKind::kActivation || m.points[i].kind == TensorKind::kInput)
      act.push_back(i);
  std::vector<std::unique_ptr<Observer>> observers(act.size());
  std::unordered_map<std::string, size_t> slot;  // value -> position in act
  std::vector<std::string> watch, any_order;
  for (size_t k = 0; k < act.size(); ++k) {
    const QuantPoint& p = m.points[act[k]];
    QUENCH_ASSIGN_OR_RETURN(observers[k], make_observer(p.config.observer));
    slot[p.value] = k;
    watch.push_back(p.value);
    // Per-tensor statistics do not depend on the order of the elements: the executor may hand
    // over a blocked buffer as it is instead of reordering it.
    if (!p.config.observer.per_channel) any_order.push_back(p.value);
  }
  std::vector<bool> seen(act.size(), false), non_float(act.size(), false);

  int64_t batch_index = 0;
  m.fp32_exec->set_tap([&](const TapEvent& e) -> Status {
    auto it = slot.find(std::string(e.name));
    if (it == slot.end()) return Status();
    const size_t k = it->second;
    if (e.tensor->dtype() != DType::kFloat32) {
      non_float[k] = true;
      return Status();
    }
    seen[k] = true;
    return observers[k]->update(*e.tensor).with_context(
        "calibration batch " + std::to_string(batch_index) + ": value '" + std::string(e.name) +
        "'" + (e.producer ? " (output of " + e.producer->label() + ")" : ""));
  }, std::move(watch), std::move(any_order));
  struct ClearTap {
    Executor* e;
    ~ClearTap() { e->set_tap({}); }
  } clear{m.fp32_exec.get()};

  int64_t used = 0, skipped = 0;
  for (; num_batches < 0 || batch_index < num_batches; ++batch_index) {
    QUENCH_ASSIGN_OR_RETURN(Executor::Feeds feeds, source(batch_index));
    if (feeds.empty()) break;
    // The data is checked before the run, so that a bad batch is skipped before any observer saw
    // part of it; NaN / Inf that arise inside the model are reported by the observers.
    std::string bad;
    for (const auto& [name, t] : feeds) {
      if (t.dtype() != DType::kFloat32 || !t.is_plain()) continue;
      const int64_t badi = first_non_finite(t.data<float>(), t.numel());
      if (badi >= 0) {
        bad = "calibration batch " + std::to_string(batch_index) + ": value '" + name +
              "' (model input) holds " + describe_bad_value(t, badi);
        break;
      }
    }
    if (!bad.empty()) {
      if (!m.options.skip_bad_batches) return Status::invalid(bad);
      m.warn(bad + "; batch skipped");
      ++skipped;
      continue;
    }
    QUENCH_RETURN_IF_ERROR(m.fp32_exec->run(feeds).status());
    ++used;
    if (m.options.progress) m.options.progress(batch_index + 1, num_batches);
  }
  if (batch_index == 0) return Status::invalid("calibration set is empty: no batch to calibrate on");
  if (used == 0)
    return Status::invalid("every calibration batch (" + std::to_string(skipped) +
                           ") held NaN or Inf: nothing to calibrate on");

  // Range searches (entropy, mse, ...) are independent per point: one thread each.
  std::vector<std::optional<Result<Encoding>>> computed(act.size());
  parallel_for(static_cast<int64_t>(act.size()), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const size_t kk = static_cast<size_t>(k);
      if (non_float[kk] || !seen[kk]) continue;
      computed[kk] = observers[kk]->compute(m.points[act[kk]].config.spec);
    }
  });
  std::vector<QuantPoint> kept;
  for (size_t i = 0, k = 0; i < m.points.size(); ++i) {
    QuantPoint& p = m.points[i];
    const bool is_act = k < act.size() && act[k] == i;
    if (!is_act) {
      kept.push_back(std::move(p));
      continue;
    }
    const size_t kk = k++;
    if (non_float[kk]) continue;  // shapes, indices: never quantized
    if (!seen[kk]) {
      m.warn("value '" + p.value + "' was never computed during calibration; left unquantized");
      continue;
    }
    if (!computed[kk]->ok()) return computed[kk]->status().with_context("value '" + p.value + "'");
    p.encoding = std::move(*computed[kk]).value();
    kept.push_back(std::move(p));
  }
  m.points = std::move(kept);
  m.reindex();
  m.set_bias_encodings();
  m.q_dirty = true;
  return Status();
}

Result<std::vector<Tensor>> QuantSim::run(const Executor::Feeds& feeds) {
  Impl& m = *impl_;
  if (m.bypass) return m.fp32_exec->run(feeds);
  if (m.q_dirty || !m.q_exec) QUENCH_RETURN_IF_ERROR(m.build_q_exec());
  return m.q_exec->run(feeds);
}

Result<std::vector<Tensor>> QuantSim::run_fp32(const Executor::Feeds& feeds) {
  return impl_->fp32_exec->run(feeds);
}

Result<std::vector<Tensor>> QuantSim::run(const Executor::Feeds& feeds,
                                          const std::vector<std::string>& fetches) {
  Impl& m = *impl_;
  if (m.bypass) return m.fp32_exec->run(feeds, fetches);
  if (m.q_dirty || !m.q_exec) QUENCH_RETURN_IF_ERROR(m.build_q_exec());
  return m.q_exec->run(feeds, fetches);
}

Result<std::vector<Tensor>> QuantSim::run_fp32(const Executor::Feeds& feeds,
                                               const std::vector<std::string>& fetches) {
  return impl_->fp32_exec->run(feeds, fetches);
}

void QuantSim::set_bypass(bool bypass) { impl_->bypass = bypass; }

// Sets `enabled` on the points `match` selects; int32 biases follow their input and weight.
template <class Match>
static int set_enabled_where(std::vector<QuantPoint>& points, bool enabled, Match match) {
  int n = 0;
  for (QuantPoint& p : points)
    if (match(p)) {
      p.enabled = enabled;
      ++n;
    }
  return n;
}

int QuantSim::set_enabled(std::string_view name, bool enabled) {
  const int n = set_enabled_where(impl_->points, enabled, [&](const QuantPoint& p) {
    return p.value == name || p.source_value == name || p.node == name;
  });
  if (n) impl_->encodings_changed();
  return n;
}

int QuantSim::set_enabled_by_op_type(std::string_view op_type, bool enabled) {
  const int n = set_enabled_where(impl_->points, enabled,
                                  [&](const QuantPoint& p) { return p.op_type == op_type; });
  if (n) impl_->encodings_changed();
  return n;
}

int QuantSim::set_enabled_by_kind(TensorKind kind, bool enabled) {
  const int n =
      set_enabled_where(impl_->points, enabled, [&](const QuantPoint& p) { return p.kind == kind; });
  if (n) impl_->encodings_changed();
  return n;
}

const std::vector<QuantPoint>& QuantSim::points() const { return impl_->points; }

QuantPoint* QuantSim::find_point(std::string_view value) {
  auto it = impl_->index.find(std::string(value));
  return it == impl_->index.end() ? nullptr : &impl_->points[it->second];
}

Status QuantSim::set_encoding(std::string_view value, const Encoding& e) {
  QuantPoint* p = find_point(value);
  if (!p) return Status::not_found("no quantization point on value '" + std::string(value) + "'");
  const Value* v = impl_->sim->graph->find_value(p->value);
  const Shape* shape = v && v->is_constant() ? &v->constant.shape() : nullptr;
  QUENCH_RETURN_IF_ERROR(e.validate(shape).with_context("encoding for '" + std::string(value) + "'"));
  p->encoding = e;
  impl_->encodings_changed();
  return Status();
}

Status QuantSim::set_parameter(std::string_view value, Tensor t, bool keep_encoding) {
  Impl& m = *impl_;
  Value* v = m.sim->graph->find_value(std::string(value));
  if (!v || !v->is_constant())
    return Status::not_found("set_parameter: the sim model has no constant '" + std::string(value) + "'");
  if (t.dtype() != v->constant.dtype() || t.shape() != v->constant.shape())
    return Status::invalid("set_parameter: '" + std::string(value) + "' is " +
                           v->constant.describe() + ", the new value is " + t.describe());
  if (t.dtype() == DType::kFloat32) {
    const int64_t bad = first_non_finite(t.data<float>(), t.numel());
    if (bad >= 0)
      return Status::invalid("set_parameter: new value of '" + std::string(value) + "' holds " +
                             describe_bad_value(t, bad));
  }
  v->constant = std::move(t);
  m.q_weights.erase(std::string(value));  // a new model value replaces an earlier rounding
  QuantPoint* p = find_point(value);
  if (p && !keep_encoding) QUENCH_RETURN_IF_ERROR(m.quantize_weight(*p));
  // The FP32 executor holds its own plan of the constants: rebuild it.
  ExecutorOptions eo;
  eo.num_threads = m.options.num_threads;
  QUENCH_ASSIGN_OR_RETURN(m.fp32_exec, Executor::create(m.sim, eo));
  m.encodings_changed();
  return Status();
}

Status QuantSim::set_quantized_weight(std::string_view value, Tensor t) {
  Impl& m = *impl_;
  QuantPoint* p = find_point(value);
  if (!p || p->kind != TensorKind::kWeight)
    return Status::not_found("set_quantized_weight: no weight point on '" + std::string(value) + "'");
  const Tensor& w = m.sim->graph->find_value(p->value)->constant;
  if (t.dtype() != w.dtype() || t.shape() != w.shape())
    return Status::invalid("set_quantized_weight: '" + std::string(value) + "' is " + w.describe() +
                           ", the new value is " + t.describe());
  const int64_t bad = first_non_finite(t.data<float>(), t.numel());
  if (bad >= 0)
    return Status::invalid("set_quantized_weight: new value of '" + std::string(value) + "' holds " +
                           describe_bad_value(t, bad));
  m.q_weights[p->value] = std::move(t);
  m.q_dirty = true;
  return Status();
}

const Model& QuantSim::sim_model() const { return *impl_->sim; }
std::shared_ptr<const Model> QuantSim::sim_model_ptr() const { return impl_->sim; }
const QuantConfig& QuantSim::config() const { return impl_->config; }

QuantizedModel QuantSim::quantized_model() const {
  const Impl& m = *impl_;
  if (m.q_weights.empty()) return QuantizedModel{m.sim, m.points, m.config};
  // The exporters quantize the model's constants: give them the chosen roundings.
  auto model = std::make_shared<Model>(clone_model(*m.sim));
  for (const QuantPoint& p : m.points) {
    auto ov = m.q_weights.find(p.value);
    if (ov != m.q_weights.end() && p.enabled) model->graph->find_value(p.value)->constant = ov->second;
  }
  return QuantizedModel{model, m.points, m.config};
}

}  // namespace quench
