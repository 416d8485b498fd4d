#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <exception>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "core/parallel.h"
#include "ir/clone.h"
#include "runtime/optimize.h"
#include "runtime/registry.h"

namespace quench {

namespace {

constexpr int kNone = -1;

// Activations a convolution or matrix product may apply itself (see kFusesActivation).
bool is_fusable_activation(const Node& n) {
  static const std::unordered_set<std::string> kOps = {
      "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu"};
  return n.domain.empty() && kOps.count(n.op_type) > 0;
}

std::string dims_to_string(const Value& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.shape.size(); ++i) {
    if (i) s += ", ";
    const Dim& d = v.shape[i];
    s += d.known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol);
  }
  return s + "]";
}

struct Step {
  const Node* node = nullptr;
  std::vector<int> inputs;   // value ids; kNone for an omitted optional input
  std::vector<int> outputs;  // value ids; kNone for an omitted optional output
  std::vector<const KernelDef*> candidates;
  std::vector<const Tensor*> constant_inputs;
  const Node* fused_activation = nullptr;  // its output replaces outputs[0]
  bool blocked_output_allowed = false;
  std::vector<int> release_after;  // values whose last use is this step
  std::vector<bool> last_use;      // per input slot: the value dies here
  // Kernels created so far, one per element type met.
  std::vector<std::pair<const KernelDef*, std::unique_ptr<OpKernel>>> kernels;
};

// A plan runs one model: the user's (plain plan: every ONNX value materialized in plain layout, as a
// tap needs) or the executor's optimized copy (fast plan: folded, fused, blocked layouts).
struct Plan {
  std::shared_ptr<const Model> model;
  bool fast = false;
  std::vector<const Value*> values;  // by id
  std::unordered_map<const Value*, int> ids;
  std::vector<bool> is_graph_output;
  std::vector<int> graph_inputs;  // ids of inputs that must or may be fed
  std::vector<bool> has_default;  // per graph_inputs entry: an initializer gives a default
  std::vector<int> graph_outputs;
  std::vector<Step> steps;

  int id_of(const Value* v) const { return v ? ids.at(v) : kNone; }
  int id_of(std::string_view name) const {
    const Value* v = model->graph->find_value(name);
    return v ? id_of(v) : kNone;
  }
};

}  // namespace

struct Executor::Impl {
  std::shared_ptr<const Model> model;      // the user's
  std::shared_ptr<const Model> optimized;  // the executor's rewritten copy (optimize_for_inference)
  ExecutorOptions options;
  Tap tap;
  std::unordered_set<std::string> watch;  // empty: the tap sees every value
  std::unordered_set<std::string> any_order;  // watched values the tap may see in raw order
  std::vector<std::string> fetches_checked;    // the last fetch list checked against the fast plan
  bool fetches_fit_fast_cached = false;
  bool watch_fits_fast = false;  // every watched value is materialized by the fast plan
  bool watch_checked = false;    // watch_fits_fast is up to date
  RunStats stats;
  std::unique_ptr<Plan> plain_plan;
  std::unique_ptr<Plan> fast_plan;

  Result<std::unique_ptr<Plan>> build_plan(std::shared_ptr<const Model> m, bool fast) {
    auto plan = std::make_unique<Plan>();
    plan->model = std::move(m);
    plan->fast = fast;
    Plan& p = *plan;
    const Graph& g = *p.model->graph;
    for (const auto& v : g.values()) {
      p.ids.emplace(v.get(), static_cast<int>(p.values.size()));
      p.values.push_back(v.get());
    }
    p.is_graph_output.assign(p.values.size(), false);
    for (const Value* v : g.outputs) {
      p.is_graph_output[p.id_of(v)] = true;
      p.graph_outputs.push_back(p.id_of(v));
    }
    for (const Value* v : g.inputs) {
      p.graph_inputs.push_back(p.id_of(v));
      p.has_default.push_back(v->is_constant());
    }
    // Values fetched beyond the graph outputs are kept alive at run time (run() skips releasing
    // them), so one plan serves every fetch list.
    const std::vector<bool>& kept = p.is_graph_output;
    std::unordered_set<const Node*> absorbed;
    for (const Node* n : g.nodes()) {
      if (absorbed.count(n)) continue;
      Step s;
      s.node = n;
      int64_t opset = p.model->opset(n->domain);
      s.candidates = find_kernels(n->domain, n->op_type, opset);
      if (s.candidates.empty()) {
        return Status::unsupported("unsupported op '" + n->op_type + "' (node '" + n->name +
                                   "', opset " + std::to_string(opset) + ")");
      }
      for (const Value* v : n->inputs) {
        s.inputs.push_back(p.id_of(v));
        s.constant_inputs.push_back(v && v->is_constant() ? &v->constant : nullptr);
      }
      for (const Value* v : n->outputs) s.outputs.push_back(p.id_of(v));
      if (fast) try_fuse(p, s, kept, absorbed);
      p.steps.push_back(std::move(s));
    }
    plan_lifetimes(p, kept);
    return plan;
  }

  // Conv/Gemm/MatMul followed by its only consumer, an activation: the kernel applies it.
  void try_fuse(const Plan& p, Step& s, const std::vector<bool>& kept,
                std::unordered_set<const Node*>& absorbed) {
    const Node* n = s.node;
    if (s.outputs.empty() || s.outputs[0] == kNone || kept[s.outputs[0]]) return;
    const KernelDef* def = nullptr;
    for (const KernelDef* k : s.candidates)
      if (k->dtype == DType::kFloat32 && (k->flags & kFusesActivation)) def = k;
    if (!def) return;
    const Value* out = n->outputs[0];
    if (out->consumers.size() != 1) return;
    const Node* act = out->consumers[0];
    if (!is_fusable_activation(*act) || act->inputs.empty() || act->inputs[0] != out) return;
    for (size_t i = 1; i < act->inputs.size(); ++i)  // Clip min/max must be constants
      if (act->inputs[i] && !act->inputs[i]->is_constant()) return;
    if (act->outputs.empty() || !act->outputs[0]) return;
    KernelInfo info{*n, p.model->opset(n->domain), s.constant_inputs, act};
    auto kernel = def->create(info);
    if (!kernel.ok()) return;  // the kernel declines this activation: run it separately
    s.fused_activation = act;
    s.outputs[0] = p.id_of(act->outputs[0]);
    s.kernels.emplace_back(def, std::move(kernel).value());
    absorbed.insert(act);
  }

  void plan_lifetimes(Plan& plan, const std::vector<bool>& kept) {
    const std::vector<const Value*>& values = plan.values;
    const size_t nv = values.size();
    std::vector<int> last(nv, kNone);
    for (size_t i = 0; i < plan.steps.size(); ++i)
      for (int id : plan.steps[i].inputs)
        if (id != kNone) last[id] = static_cast<int>(i);
    // A value may stay blocked when every step that reads it accepts blocked inputs, or is an
    // element-wise step whose own output may stay blocked. Walking backwards settles a step's
    // outputs before its inputs.
    std::vector<bool> blocked_ok(nv, plan.fast);
    for (size_t id = 0; id < nv; ++id)
      if (kept[id]) blocked_ok[id] = false;
    for (size_t i = plan.steps.size(); i-- > 0;) {
      const Step& s = plan.steps[i];
      auto all_have = [&](uint32_t flag) {
        return std::all_of(s.candidates.begin(), s.candidates.end(),
                           [&](const KernelDef* k) { return (k->flags & flag) != 0; });
      };
      if (all_have(kAcceptsBlocked)) continue;
      const bool passes_through = all_have(kElementwise) && !s.outputs.empty() &&
                                  s.outputs[0] != kNone && blocked_ok[s.outputs[0]];
      if (passes_through) continue;
      for (int id : s.inputs)
        if (id != kNone) blocked_ok[id] = false;
    }
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      Step& s = plan.steps[i];
      s.last_use.assign(s.inputs.size(), false);
      for (size_t k = 0; k < s.inputs.size(); ++k) {
        int id = s.inputs[k];
        if (id == kNone || kept[id] || values[id]->is_constant()) continue;
        if (last[id] == static_cast<int>(i)) s.last_use[k] = true;
      }
      for (size_t k = 0; k < s.inputs.size(); ++k) {
        int id = s.inputs[k];
        if (s.last_use[k] && std::find(s.release_after.begin(), s.release_after.end(), id) ==
                                 s.release_after.end()) {
          s.release_after.push_back(id);
        }
      }
      // Outputs nobody reads (and nobody asked for) die at once.
      for (int id : s.outputs)
        if (id != kNone && last[id] == kNone && !kept[id]) s.release_after.push_back(id);
      int out0 = s.outputs.empty() ? kNone : s.outputs[0];
      s.blocked_output_allowed = plan.fast && out0 != kNone && !kept[out0] && last[out0] != kNone &&
                                 blocked_ok[out0];
    }
  }

  // The first blocked input when every blocked input shares its layout, dtype and shape and every
  // plain input is a scalar (the case kElementwise kernels can run on raw buffers); else null.
  static const Tensor* same_layout_inputs(const std::vector<const Tensor*>& inputs) {
    const Tensor* first = nullptr;
    for (const Tensor* t : inputs) {
      if (!t || t->is_plain()) continue;
      if (!first) {
        first = t;
        continue;
      }
      if (t->dtype() != first->dtype() || t->shape() != first->shape() ||
          !t->layout()->same_as(*first->layout()) || t->storage_bytes() != first->storage_bytes())
        return nullptr;
    }
    if (!first) return nullptr;
    for (const Tensor* t : inputs)
      if (t && t->is_plain() && t->numel() != 1) return nullptr;
    return first;
  }

  Result<OpKernel*> kernel_for(const Plan& p, Step& s, const std::vector<Tensor>& slots) {
    // The element type of the input each candidate dispatches on.
    const KernelDef* chosen = nullptr;
    const KernelDef* any = nullptr;
    DType seen = DType::kUndefined;
    for (const KernelDef* k : s.candidates) {
      DType t = DType::kUndefined;
      if (k->type_input < static_cast<int>(s.inputs.size()) && s.inputs[k->type_input] != kNone)
        t = slots[s.inputs[k->type_input]].dtype();
      if (seen == DType::kUndefined) seen = t;
      if (k->dtype == t && k->dtype != DType::kUndefined) {
        chosen = k;
        break;
      }
      if (k->dtype == DType::kUndefined && !any) any = k;
    }
    if (!chosen) chosen = any;
    if (!chosen) {
      return Status::unsupported(s.node->label() + ": no kernel for element type " +
                                 std::string(dtype_name(seen)) + " (opset " +
                                 std::to_string(p.model->opset(s.node->domain)) + ")");
    }
    for (auto& [def, kernel] : s.kernels)
      if (def == chosen) return kernel.get();
    KernelInfo info{*s.node, p.model->opset(s.node->domain), s.constant_inputs, s.fused_activation};
    auto created = chosen->create(info);
    if (!created.ok()) return created.status();
    s.kernels.emplace_back(chosen, std::move(created).value());
    return s.kernels.back().second.get();
  }

  static Status check_feed(const Value& v, const Tensor& t) {
    if (v.dtype != DType::kUndefined && t.dtype() != v.dtype) {
      return Status::invalid("input '" + v.name + "': data has element type " +
                             std::string(dtype_name(t.dtype())) + " but the model expects " +
                             std::string(dtype_name(v.dtype)));
    }
    if (!v.has_shape) return Status();
    bool ok = static_cast<size_t>(t.rank()) == v.shape.size();
    for (size_t i = 0; ok && i < v.shape.size(); ++i)
      if (v.shape[i].known() && v.shape[i].value != t.shape()[i]) ok = false;
    if (!ok) {
      return Status::invalid("input '" + v.name + "': data has shape " +
                             shape_to_string(t.shape()) + " but the model expects " +
                             dims_to_string(v));
    }
    return Status();
  }

  // True when every watched value that the user's model has is produced by some step of `p` (or
  // fed as a graph input): nothing watched was fused away or bypassed.
  static bool materializes(const Plan& p, const std::unordered_set<std::string>& names) {
    std::unordered_set<std::string> made;
    for (int id : p.graph_inputs) made.insert(p.values[id]->name);
    for (const Step& s : p.steps)
      for (int id : s.outputs)
        if (id != kNone) made.insert(p.values[id]->name);
    for (const std::string& n : names)
      if (!made.count(n)) return false;
    return true;
  }

  Status call_tap(const Plan& p, std::vector<Tensor>& slots, int id, const Node* producer, int index) {
    Tensor& t = slots[id];
    if (!t.defined()) return Status();
    if (t.is_plain()) return tap(TapEvent{p.values[id]->name, producer, index, &t});
    if (!any_order.empty() && any_order.count(p.values[id]->name)) {
      Tensor raw = t.storage_view();
      if (raw.numel() == t.numel()) {  // no padding: the buffer holds exactly the elements
        TapEvent e{p.values[id]->name, producer, index, &raw};
        e.any_order = true;
        return tap(e);
      }
    }
    // A blocked value: the tap sees a plain copy. When it only looks (calibration), the blocked
    // original stays for the next kernels, which would otherwise have to reorder it back.
    QUENCH_ASSIGN_OR_RETURN(Tensor plain, to_plain(t));
    const void* seen = plain.raw_data();
    QUENCH_RETURN_IF_ERROR(tap(TapEvent{p.values[id]->name, producer, index, &plain}));
    if (plain.raw_data() != seen || !plain.is_plain() || plain.shape() != t.shape()) t = plain;
    return Status();
  }

  Result<std::vector<Tensor>> run(const Feeds& feeds, const std::vector<std::string>* fetches) {
    auto t0 = std::chrono::steady_clock::now();
    set_num_threads(options.num_threads);
    // Intermediate values exist only in the plain plan.
    bool intermediates = false;
    if (fetches) {
      for (const std::string& name : *fetches) {
        const Value* v = model->graph->find_value(name);
        if (!v) return Status::not_found("fetch: the model has no value named '" + name + "'");
        bool is_output = false;
        for (const Value* o : model->graph->outputs) is_output |= o == v;
        intermediates |= !is_output;
      }
    }
    if (((tap && !watch.empty()) || intermediates) && options.optimize && !fast_plan) {
      QUENCH_ASSIGN_OR_RETURN(fast_plan, build_plan(optimized, true));
    }
    if (tap && !watch.empty() && fast_plan && !watch_checked) {
      watch_fits_fast = materializes(*fast_plan, watch);
      watch_checked = true;
    }
    // Fetched intermediates come from the fast plan too when it computes them (they are not
    // fused into a convolution or bypassed), as plain copies at the end of the run.
    bool fetches_fit_fast = true;
    if (intermediates && fast_plan) {
      if (fetches_checked != *fetches) {
        fetches_fit_fast_cached =
            materializes(*fast_plan, std::unordered_set<std::string>(fetches->begin(), fetches->end()));
        fetches_checked = *fetches;
      }
      fetches_fit_fast = fetches_fit_fast_cached;
    }
    const bool use_fast = options.optimize && (!tap || (!watch.empty() && watch_fits_fast)) &&
                          (!intermediates || fetches_fit_fast);
    std::unique_ptr<Plan>& plan_ref = use_fast ? fast_plan : plain_plan;
    if (!plan_ref) {
      QUENCH_ASSIGN_OR_RETURN(plan_ref, build_plan(use_fast ? optimized : model, use_fast));
    }
    Plan& plan = *plan_ref;
    // Ids the tap is called for (all when there is no watch list).
    std::vector<bool> tapped;
    if (tap) {
      tapped.assign(plan.values.size(), watch.empty());
      for (size_t id = 0; id < plan.values.size() && !watch.empty(); ++id)
        tapped[id] = watch.count(plan.values[id]->name) != 0;
    }
    const std::vector<const Value*>& values = plan.values;
    std::vector<int> fetch_ids = plan.graph_outputs;
    if (fetches) {
      fetch_ids.clear();
      for (const std::string& name : *fetches) fetch_ids.push_back(plan.id_of(name));
    }
    std::vector<bool> keep(values.size(), false);
    for (int id : fetch_ids) keep[id] = true;
    const std::vector<int>& graph_inputs = plan.graph_inputs;

    std::vector<Tensor> slots(values.size());
    for (const Value* v : plan.model->graph->initializers) slots[plan.id_of(v)] = v->constant;
    std::vector<bool> fed(values.size(), false);
    for (const auto& [name, tensor] : feeds) {
      auto it = std::find_if(graph_inputs.begin(), graph_inputs.end(),
                             [&](int id) { return values[id]->name == name; });
      if (it == graph_inputs.end()) {
        std::string expected;
        for (int id : graph_inputs)
          if (!values[id]->is_constant()) expected += (expected.empty() ? "'" : ", '") + values[id]->name + "'";
        return Status::invalid("the model has no input named '" + name + "' (inputs: " + expected + ")");
      }
      if (!tensor.defined()) return Status::invalid("input '" + name + "' is empty");
      QUENCH_RETURN_IF_ERROR(check_feed(*values[*it], tensor));
      QUENCH_ASSIGN_OR_RETURN(slots[*it], to_plain(tensor));
      fed[*it] = true;
    }
    for (size_t i = 0; i < graph_inputs.size(); ++i) {
      int id = graph_inputs[i];
      if (!fed[id] && !plan.has_default[i])
        return Status::invalid("input '" + values[id]->name + "' was not given");
    }
    reset_peak_memory();
    const int64_t base_bytes = memory_stats().current_bytes;
    if (tap) {
      for (int id : graph_inputs)
        if (fed[id] && tapped[id]) QUENCH_RETURN_IF_ERROR(call_tap(plan, slots, id, nullptr, 0));
    }

    std::map<std::string, double> profile;
    std::vector<Tensor> outputs;
    std::vector<const Tensor*> in_ptrs;
    std::vector<bool> reusable;
    for (Step& s : plan.steps) {
      in_ptrs.assign(s.inputs.size(), nullptr);
      reusable.assign(s.inputs.size(), false);
      for (size_t k = 0; k < s.inputs.size(); ++k) {
        int id = s.inputs[k];
        if (id == kNone) continue;
        if (!slots[id].defined()) {
          return Status::internal(s.node->label() + ": input '" + values[id]->name +
                                  "' has no value (an optional output that was not produced?)");
        }
        in_ptrs[k] = &slots[id];
        reusable[k] = s.last_use[k] && !keep[id] && slots[id].use_count() == 1 &&
                      std::count(s.inputs.begin(), s.inputs.end(), id) == 1;
      }
      QUENCH_ASSIGN_OR_RETURN(OpKernel * kernel, kernel_for(plan, s, slots));
      // Kernels that take only plain inputs get plain copies of blocked ones, except element-wise
      // kernels whose inputs share one layout: they run on the raw buffers.
      std::vector<Tensor> plain_copies;
      const KernelDef* def = nullptr;
      for (auto& [d, k] : s.kernels)
        if (k.get() == kernel) def = d;
      const Tensor* layout_source = nullptr;
      if ((def->flags & kElementwise) && !(def->flags & kAcceptsBlocked)) {
        layout_source = same_layout_inputs(in_ptrs);
        if (layout_source) {
          plain_copies.reserve(in_ptrs.size());
          for (size_t k = 0; k < in_ptrs.size(); ++k) {
            if (in_ptrs[k] && !in_ptrs[k]->is_plain()) {
              plain_copies.push_back(in_ptrs[k]->storage_view());
              in_ptrs[k] = &plain_copies.back();
            }
          }
        }
      }
      if (!layout_source && !(def->flags & kAcceptsBlocked)) {
        plain_copies.reserve(in_ptrs.size());
        for (size_t k = 0; k < in_ptrs.size(); ++k) {
          if (in_ptrs[k] && !in_ptrs[k]->is_plain()) {
            QUENCH_ASSIGN_OR_RETURN(Tensor p, to_plain(*in_ptrs[k]));
            plain_copies.push_back(std::move(p));
            in_ptrs[k] = &plain_copies.back();
            reusable[k] = false;
          }
        }
      }
      outputs.assign(s.outputs.size(), Tensor());
      {
        KernelContext ctx(*s.node, in_ptrs, outputs, reusable, s.blocked_output_allowed);
        Status st;
        // Kernels return errors as values; an exception (out of memory, a library throwing) is
        // turned into one here so that a bad model never takes the host process down.
        try {
          if (options.profile) {
            auto k0 = std::chrono::steady_clock::now();
            st = kernel->compute(ctx);
            std::string key = s.node->op_type;
            if (s.fused_activation) key += "+" + s.fused_activation->op_type;
            profile[key] += std::chrono::duration<double>(std::chrono::steady_clock::now() - k0).count();
          } else {
            st = kernel->compute(ctx);
          }
        } catch (const std::bad_alloc&) {
          st = Status::invalid(s.node->label() + ": out of memory computing its outputs");
        } catch (const std::exception& e) {
          st = Status::internal(s.node->label() + ": " + e.what());
        }
        if (!st.ok()) return st;
      }
      if (layout_source) {
        if (outputs.empty() || !outputs[0].is_plain() ||
            outputs[0].numel() != layout_source->storage_view().numel()) {
          return Status::internal(s.node->label() + ": element-wise kernel changed the element count");
        }
        outputs[0] = outputs[0].viewed_as(layout_source->shape(), layout_source->layout());
      }
      for (size_t k = 0; k < s.outputs.size(); ++k) {
        int id = s.outputs[k];
        if (id == kNone) continue;
        if (!outputs[k].defined()) {
          // Optional outputs a kernel chose not to compute stay empty unless someone reads them.
          if (k == 0) return Status::internal(s.node->label() + ": kernel produced no output");
          continue;
        }
        slots[id] = std::move(outputs[k]);
      }
      for (int id : s.release_after)
        if (!keep[id]) slots[id] = Tensor();
      if (tap) {
        for (size_t k = 0; k < s.outputs.size(); ++k)
          if (s.outputs[k] != kNone && tapped[s.outputs[k]]) {
            // A fused step's output 0 is its activation's output: report that node.
            const Node* producer = k == 0 && s.fused_activation ? s.fused_activation : s.node;
            QUENCH_RETURN_IF_ERROR(call_tap(plan, slots, s.outputs[k], producer, static_cast<int>(k)));
          }
      }
    }

    std::vector<Tensor> result;
    result.reserve(fetch_ids.size());
    for (int id : fetch_ids) {
      if (!slots[id].defined()) {
        return Status::invalid("value '" + values[id]->name + "' was not computed by this run");
      }
      QUENCH_ASSIGN_OR_RETURN(Tensor t, to_plain(slots[id]));
      result.push_back(std::move(t));
    }
    stats.peak_tensor_bytes = memory_stats().peak_bytes - base_bytes;
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats.op_seconds.assign(profile.begin(), profile.end());
    std::sort(stats.op_seconds.begin(), stats.op_seconds.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    return result;
  }
};

Executor::Executor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Executor::~Executor() = default;

Result<std::unique_ptr<Executor>> Executor::create(std::shared_ptr<const Model> model,
                                                   ExecutorOptions options) {
  if (!model || !model->graph) return Status::invalid("executor: no model");
  QUENCH_RETURN_IF_ERROR(verify_graph(*model->graph));
  std::vector<std::string> missing = unsupported_ops(*model);
  if (!missing.empty()) {
    std::string msg = "unsupported op " + missing[0];
    if (missing.size() > 1) {
      msg += " and " + std::to_string(missing.size() - 1) + " more:";
      for (size_t i = 1; i < missing.size() && i < 6; ++i) msg += " " + missing[i] + ";";
    }
    return Status::unsupported(msg);
  }
  auto impl = std::make_unique<Impl>();
  impl->model = std::move(model);
  impl->options = options;
  if (options.optimize) {
    auto copy = std::make_shared<Model>(clone_model(*impl->model));
    optimize_for_inference(*copy);
    QUENCH_RETURN_IF_ERROR(verify_graph(*copy->graph).with_context("executor: after optimization"));
    impl->optimized = std::move(copy);
  }
  return std::unique_ptr<Executor>(new Executor(std::move(impl)));
}

Result<std::vector<Tensor>> Executor::run(const Feeds& feeds) { return impl_->run(feeds, nullptr); }

Result<std::vector<Tensor>> Executor::run(const Feeds& feeds,
                                          const std::vector<std::string>& fetches) {
  return impl_->run(feeds, &fetches);
}

void Executor::set_tap(Tap tap, std::vector<std::string> watch, std::vector<std::string> any_order) {
  impl_->tap = std::move(tap);
  impl_->watch = std::unordered_set<std::string>(watch.begin(), watch.end());
  impl_->any_order = std::unordered_set<std::string>(any_order.begin(), any_order.end());
  if (!impl_->tap) {
    impl_->watch.clear();
    impl_->any_order.clear();
  }
  impl_->watch_checked = false;
}
bool Executor::has_tap() const { return static_cast<bool>(impl_->tap); }
const Model& Executor::model() const { return *impl_->model; }
const RunStats& Executor::last_run_stats() const { return impl_->stats; }
const ExecutorOptions& Executor::options() const { return impl_->options; }

std::vector<std::string> Executor::unsupported_ops(const Model& model) {
  std::vector<std::string> out;
  for (const Node* n : model.graph->nodes()) {
    int64_t opset = model.opset(n->domain);
    if (!find_kernels(n->domain, n->op_type, opset).empty()) continue;
    std::string op = (n->domain.empty() ? "" : n->domain + ".") + n->op_type;
    out.push_back("'" + op + "' (node '" + n->name + "')");
  }
  return out;
}

}  // namespace quench
