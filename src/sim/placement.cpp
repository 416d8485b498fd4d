#include "sim/placement.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace quench::sim_internal {

namespace {

// Ops whose inputs can swap (PyTorch exports a Linear's bias as Add(bias, MatMul)).
bool is_commutative(std::string_view op) {
  return op == "Add" || op == "Mul" || op == "Sum" || op == "Max" || op == "Min";
}

// An Add of two computed values (a residual join), not an Add with a constant.
bool is_join_add(const Node* n) {
  if (n->op_type != "Add" || n->inputs.size() != 2) return false;
  for (const Value* v : n->inputs)
    if (!v || v->is_constant()) return false;
  return true;
}

const std::vector<std::string> kDefaultWeightedOps = {"Conv", "ConvTranspose", "Gemm", "MatMul"};

// Longest first, so that Conv -> BatchNormalization -> Relu wins over Conv -> BatchNormalization.
const std::vector<std::vector<std::string>> kDefaultSupergroups = {
    {"Conv", "BatchNormalization", "Relu"},
    {"Conv", "BatchNormalization", "Clip"},
    {"MatMul", "Add", "Relu"},
    {"Conv", "BatchNormalization"},
    {"Conv", "Relu"},
    {"Conv", "Clip"},
    {"Conv", "LeakyRelu"},
    {"ConvTranspose", "BatchNormalization"},
    {"ConvTranspose", "Relu"},
    {"Gemm", "Relu"},
    {"Gemm", "Clip"},
    {"MatMul", "Add"},
    {"Add", "Relu"},
    {"BatchNormalization", "Relu"},
};

const std::unordered_set<std::string> kGridKeepingOps = {
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "GlobalMaxPool",
    "Identity", "Dropout", "Slice", "Gather", "Split", "Expand", "Tile", "SpaceToDepth",
    "DepthToSpace", "Pad", "ReduceMax", "ReduceMin",
};

bool rule_matches(const LayerRule& r, const Node& n) {
  if (!r.op_type.empty() && r.op_type != n.op_type && canonical_op_type(r.op_type) != n.op_type)
    return false;
  if (!r.node_name.empty() && r.node_name != n.name) return false;
  return true;
}

bool is_float_dtype_or_unknown(const Value* v) {
  return v->dtype == DType::kUndefined || v->dtype == DType::kFloat32;
}

bool is_graph_output(const Graph& g, const Value* v) {
  return std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
}

// Nodes whose names come closest to `name`, for "did you mean" in messages.
std::string close_names(const Graph& g, const std::string& name) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const Node* n : g.nodes()) {
    size_t common = 0;
    while (common < n->name.size() && common < name.size() && n->name[common] == name[common])
      ++common;
    scored.push_back({common, n->name});
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::string out;
  for (size_t i = 0; i < scored.size() && i < 5; ++i) out += (i ? ", '" : "'") + scored[i].second + "'";
  return out;
}

}  // namespace

bool keeps_input_grid(const std::string& op_type) { return kGridKeepingOps.count(op_type) != 0; }

int weight_channel_axis(const Node& node, int weight_rank) {
  if (node.op_type == "Conv") return 0;
  if (node.op_type == "ConvTranspose") return 1;
  if (node.op_type == "Gemm") return node.attr_int("transB", 0) ? 0 : 1;
  return std::max(weight_rank - 1, 0);  // MatMul: [..., K, N]
}

// The axis the weight is reduced over (per-block quantization blocks run along it).
static int weight_reduction_axis(const Node& node, int weight_rank) {
  if (node.op_type == "Conv") return 1;
  if (node.op_type == "ConvTranspose") return 0;
  if (node.op_type == "Gemm") return node.attr_int("transB", 0) ? 1 : 0;
  return std::max(weight_rank - 2, 0);
}

Resolved resolve(const QuantConfig& config, TensorKind kind, const Node* node,
                 const std::string& value) {
  Resolved r;
  switch (kind) {
    case TensorKind::kInput: r.config = config.input; break;
    case TensorKind::kActivation: r.config = config.activation; break;
    case TensorKind::kWeight: r.config = config.weight; break;
    case TensorKind::kBias: r.config = config.bias; break;
  }
  r.bias_mode = config.bias_mode;
  if (node) {
    for (const LayerRule& rule : config.layers) {
      if (!rule_matches(rule, *node)) continue;
      if (rule.quantize) r.node_quantized = *rule.quantize;
      if (rule.quantize_output) r.output_quantized = *rule.quantize_output;
      if (rule.quantize_inputs) r.inputs_quantized = *rule.quantize_inputs;
      if (rule.bias_mode) r.bias_mode = *rule.bias_mode;
      const std::optional<TensorQuantConfig>* c = nullptr;
      switch (kind) {
        case TensorKind::kInput: c = &rule.input; break;
        case TensorKind::kActivation: c = &rule.activation; break;
        case TensorKind::kWeight: c = &rule.weight; break;
        case TensorKind::kBias: c = &rule.bias; break;
      }
      if (*c) r.config = **c;
    }
    if (std::find(config.disabled_nodes.begin(), config.disabled_nodes.end(), node->name) !=
        config.disabled_nodes.end())
      r.node_quantized = false;
  }
  auto it = config.tensors.find(value);
  if (it != config.tensors.end()) r.config = it->second;
  return r;
}

Result<std::vector<QuantPoint>> place_quant_points(Model& model, const QuantConfig& config,
                                                   std::vector<std::string>* notes) {
  Graph& g = *model.graph;
  auto note = [&](std::string s) {
    if (notes) notes->push_back(std::move(s));
  };
  for (const std::string& name : config.disabled_nodes) {
    bool found = false;
    for (const Node* n : g.nodes()) found |= n->name == name;
    if (!found)
      return Status::invalid("disabled layer '" + name + "' is not a node of the model (closest: " +
                             close_names(g, name) + ")");
  }
  for (const LayerRule& rule : config.layers) {
    if (rule.node_name.empty()) continue;
    bool found = false;
    for (const Node* n : g.nodes()) found |= n->name == rule.node_name;
    if (!found)
      return Status::invalid((rule.origin.empty() ? std::string("layer rule") : rule.origin) +
                             ": layer_name '" + rule.node_name +
                             "' is not a node of the model (closest: " + close_names(g, rule.node_name) +
                             ")");
  }

  const std::vector<std::string>& weighted_types =
      config.weighted_op_types.empty() ? kDefaultWeightedOps : config.weighted_op_types;
  std::vector<Node*> nodes = g.nodes();
  auto is_weighted = [&](const Node* n) {
    if (std::find(weighted_types.begin(), weighted_types.end(), n->op_type) == weighted_types.end())
      return false;
    const Value* w = n->input(1);
    return w && w->is_constant() && w->constant.dtype() == DType::kFloat32;
  };
  std::vector<Node*> weighted;
  for (Node* n : nodes)
    if (is_weighted(n)) weighted.push_back(n);

  // Float layers.
  std::unordered_set<const Node*> float_nodes;
  for (Node* n : nodes)
    if (!resolve(config, TensorKind::kActivation, n, "").node_quantized) float_nodes.insert(n);
  if (config.keep_first_last_float && !weighted.empty()) {
    float_nodes.insert(weighted.front());
    float_nodes.insert(weighted.back());
    note("kept in float as first/last layer: " + weighted.front()->label() +
         (weighted.size() > 1 ? ", " + weighted.back()->label() : ""));
  }

  // Supergroups: head node of each member, values inside a chain.
  const auto& groups = config.supergroups ? *config.supergroups : kDefaultSupergroups;
  std::unordered_map<const Node*, const Node*> head_of;
  std::unordered_map<const Node*, const Node*> tail_of;  // head -> tail
  std::unordered_set<const Value*> inside;
  for (Node* n : nodes) {
    if (head_of.count(n)) continue;
    for (const auto& pattern : groups) {
      if (pattern.empty() || pattern[0] != n->op_type) continue;
      std::vector<Node*> chain = {n};
      bool ok = true;
      for (size_t i = 1; i < pattern.size() && ok; ++i) {
        Node* cur = chain.back();
        Value* out = cur->outputs.empty() ? nullptr : cur->outputs[0];
        ok = out && out->consumers.size() == 1 && !is_graph_output(g, out) &&
             out->consumers[0]->op_type == pattern[i] && !head_of.count(out->consumers[0]) &&
             (out->consumers[0]->input(0) == out ||
              (is_commutative(pattern[i]) && out->consumers[0]->input(1) == out));
        if (ok) chain.push_back(out->consumers[0]);
      }
      if (!ok || chain.size() < 2) continue;
      for (size_t i = 0; i + 1 < chain.size(); ++i) inside.insert(chain[i]->outputs[0]);
      for (Node* m : chain) head_of[m] = n;
      tail_of[n] = chain.back();
      break;
    }
  }
  auto head = [&](const Node* n) {
    auto it = head_of.find(n);
    return it == head_of.end() ? n : it->second;
  };
  auto is_float_node = [&](const Node* n) {
    return float_nodes.count(n) || float_nodes.count(head(n));
  };

  std::vector<QuantPoint> points;
  std::unordered_set<const Value*> on_grid;  // values carrying a quantizer, or inheriting one

  auto add_activation = [&](Value* v, const Node* owner, TensorKind kind, int input_index,
                            const TensorQuantConfig& cfg) {
    QuantPoint p;
    p.value = v->name;
    p.source_value = v->name;
    p.kind = kind;
    p.node = owner ? owner->name : "";
    p.op_type = owner ? owner->op_type : "";
    p.input_index = input_index;
    p.config = cfg;
    points.push_back(std::move(p));
    on_grid.insert(v);
  };

  // A copy of `v` that only `consumer` (input slot `slot`) reads, unless it is its only reader.
  auto private_copy = [&](Node* consumer, int slot) -> Value* {
    Value* v = consumer->inputs[static_cast<size_t>(slot)];
    int uses = 0;
    for (const Node* c : v->consumers) uses += c == consumer ? 0 : 1;
    int own_uses = static_cast<int>(std::count(consumer->inputs.begin(), consumer->inputs.end(), v));
    if (uses == 0 && own_uses == 1 && !is_graph_output(g, v)) return v;
    std::string base = v->name + "/" + (consumer->name.empty() ? consumer->op_type : consumer->name);
    std::string name = base;
    for (int k = 1; g.find_value(name); ++k) name = base + "_" + std::to_string(k);
    Value* copy = g.get_or_add_value(name);
    copy->dtype = v->dtype;
    copy->has_shape = v->has_shape;
    copy->shape = v->shape;
    g.add_node("Identity", name, {v}, {copy});
    consumer->inputs[static_cast<size_t>(slot)] = copy;
    return copy;
  };

  const bool outputs_mode = config.placement == Placement::kOutputs;
  if (outputs_mode && config.quantize_model_inputs) {
    for (Value* in : g.inputs) {
      if (in->is_constant() || !is_float_dtype_or_unknown(in)) continue;
      bool any_quantized_reader = false;
      for (const Node* c : in->consumers) any_quantized_reader |= !is_float_node(c);
      if (!any_quantized_reader) continue;
      Resolved r = resolve(config, TensorKind::kInput, nullptr, in->name);
      if (!r.config.enabled || r.config.spec.format == NumberFormat::kFloat32) continue;
      add_activation(in, nullptr, TensorKind::kInput, -1, r.config);
    }
  }

  for (Node* n : nodes) {
    const bool float_node = is_float_node(n);
    // Layer inputs (modelslim placement, or AIMET is_input_quantized).
    Resolved rin = resolve(config, TensorKind::kActivation, n, "");
    bool want_inputs = !float_node && ((!outputs_mode && is_weighted(n)) || rin.inputs_quantized);
    if (want_inputs) {
      int data_inputs = is_weighted(n) ? 1 : static_cast<int>(n->num_inputs());
      for (int slot = 0; slot < data_inputs; ++slot) {
        Value* v = n->inputs[static_cast<size_t>(slot)];
        if (!v || v->is_constant() || on_grid.count(v) || !is_float_dtype_or_unknown(v)) continue;
        Resolved r = resolve(config, TensorKind::kActivation, n, v->name);
        if (!r.config.enabled || r.config.spec.format == NumberFormat::kFloat32) continue;
        Value* point_value = private_copy(n, slot);
        add_activation(point_value, n, TensorKind::kActivation, slot, r.config);
        points.back().source_value = v->name;
      }
    }
    // Weights and biases.
    if (is_weighted(n) && !float_node) {
      Value* w = n->inputs[1];
      bool seen = false;
      for (const QuantPoint& p : points) seen |= p.value == w->name;
      Resolved rw = resolve(config, TensorKind::kWeight, n, w->name);
      if (!seen && rw.config.enabled && rw.config.spec.format != NumberFormat::kFloat32) {
        QuantPoint p;
        p.value = p.source_value = w->name;
        p.kind = TensorKind::kWeight;
        p.node = n->name;
        p.op_type = n->op_type;
        p.input_index = 1;
        p.config = rw.config;
        const int rank = w->constant.rank();
        if (p.config.spec.granularity == Granularity::kPerChannel) {
          p.config.spec.axis = weight_channel_axis(*n, rank);
        } else if (p.config.spec.granularity == Granularity::kPerBlock) {
          p.config.spec.axis = weight_reduction_axis(*n, rank);
        }
        p.config.observer.per_channel = p.config.spec.granularity == Granularity::kPerChannel;
        p.config.observer.axis = p.config.spec.axis;
        points.push_back(std::move(p));
      }
      Value* b = n->input(2) ? n->inputs[2] : nullptr;
      bool bias_like = b && b->is_constant() && b->constant.rank() == 1 &&
                       b->constant.dtype() == DType::kFloat32 && n->op_type != "MatMul";
      Resolved rb = resolve(config, TensorKind::kBias, n, bias_like ? b->name : "");
      if (bias_like && rb.config.enabled && rb.bias_mode != BiasMode::kFloat) {
        QuantPoint p;
        p.value = p.source_value = b->name;
        p.kind = TensorKind::kBias;
        p.node = n->name;
        p.op_type = n->op_type;
        p.input_index = 2;
        p.config = rb.config;
        if (rb.bias_mode == BiasMode::kInt32) {
          p.config.spec = QuantSpec{};
          p.config.spec.bits = 32;
          p.config.spec.is_signed = true;
          p.config.spec.symmetric = true;
          p.config.spec.round_mode = RoundMode::kHalfEven;
          p.config.spec.granularity = Granularity::kPerChannel;
          p.config.spec.axis = 0;
        }
        points.push_back(std::move(p));
      }
    }
    if (!outputs_mode) continue;
    // Op outputs.
    if (float_node) continue;
    // vai_q keep_add_layer_accuracy: the Adds that join two computed branches (residuals), not a
    // layer's bias Add (MatMul + Add).
    if (config.keep_add_float && (is_join_add(n) || is_join_add(head(n)))) continue;
    for (size_t k = 0; k < n->outputs.size(); ++k) {
      Value* o = n->outputs[k];
      if (!o || inside.count(o) || !is_float_dtype_or_unknown(o)) continue;
      if (!config.quantize_model_outputs && is_graph_output(g, o)) continue;
      if (keeps_input_grid(n->op_type) && n->input(0) && on_grid.count(n->inputs[0])) {
        on_grid.insert(o);
        continue;
      }
      Resolved r = resolve(config, TensorKind::kActivation, head(n), o->name);
      if (head(n) != n) {
        Resolved rt = resolve(config, TensorKind::kActivation, n, o->name);
        r.output_quantized = r.output_quantized && rt.output_quantized;
      }
      if (!r.output_quantized || !r.config.enabled ||
          r.config.spec.format == NumberFormat::kFloat32)
        continue;
      add_activation(o, n, TensorKind::kActivation, -1, r.config);
    }
  }
  g.rebuild_links();
  QUENCH_RETURN_IF_ERROR(g.topological_sort());
  return points;
}

}  // namespace quench::sim_internal

namespace quench {
const std::vector<std::vector<std::string>>& default_supergroups() {
  return sim_internal::kDefaultSupergroups;
}
}  // namespace quench
