// QDQ ONNX export.
//
//   1. Check the points and pick the opset: 13 when every integer grid is stored in int8 / uint8
//      (or int32 for biases), 21 when a grid needs INT4 / UINT4 / INT16 / UINT16 or a weight is
//      per-block; never below the model's own opset (which must be >= 13).
//   2. Copy the sim model and, when the opset goes up, rewrite the ops whose meaning changed
//      (opset_upgrade.h).
//   3. Weights and biases: the float initializer W becomes an integer initializer (quantize()),
//      scale and zero-point initializers and a DequantizeLinear whose output is named W, so every
//      consumer reads the dequantized weight. A weight shared by several nodes is quantized once.
//   4. Activations and model inputs: [Clip ->] QuantizeLinear -> DequantizeLinear on the value;
//      the DequantizeLinear output keeps the value's name (the producer writes "<v>_fp" instead),
//      except for model inputs, whose consumers are rewired to "<v>_dequantized".
//   5. float16 / bfloat16 points: Cast -> Cast (activations), typed initializer + Cast (weights).
//   6. Drop initializers no node reads (BatchNormalization parameters left over after folding:
//      onnxruntime warns about each), re-sort and verify the graph.
// Reference: the QDQ format of ONNX Runtime's static quantizer (onnxruntime/python/tools/
// quantization, QuantFormat.QDQ), ONNX QuantizeLinear / DequantizeLinear 13 and 21.
#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "export/export.h"
#include "export/export_internal.h"
#include "export/opset_upgrade.h"
#include "ir/clone.h"
#include "onnx/onnx_io.h"
#include "quant/quantize.h"

namespace quench {

namespace {

using export_internal::point_label;

constexpr int64_t kQdqOpset8Bit = 13;
constexpr int64_t kQdqOpsetWide = 21;

// The spec a point applies: its encoding's (the grid calibration settled on) or its config's.
const QuantSpec& point_spec(const QuantPoint& p) {
  return p.encoding ? p.encoding->spec : p.config.spec;
}

// What the export does with a point: nothing (disabled, kFloat32, bias without encoding), Q/DQ,
// or a float cast.
enum class Action { kSkip, kInteger, kFloatCast };

Result<Action> action_for(const QuantPoint& p) {
  if (!p.enabled) return Action::kSkip;
  const QuantSpec& s = point_spec(p);
  switch (s.format) {
    case NumberFormat::kFloat32: return Action::kSkip;
    case NumberFormat::kFloat16:
    case NumberFormat::kBFloat16: return Action::kFloatCast;
    case NumberFormat::kFloat8E4M3:
    case NumberFormat::kFloat8E5M2:
      return Status::unsupported("QDQ export: " + point_label(p) + " uses " +
                                 number_format_name(s.format) +
                                 ", which the QDQ export does not write yet");
    case NumberFormat::kInt: break;
  }
  if (p.encoding) return Action::kInteger;
  // An int32 bias has no encoding when its input is not quantized: it stays float.
  if (p.kind == TensorKind::kBias) return Action::kSkip;
  return Status::invalid("QDQ export: " + point_label(p) +
                         " is enabled but has no encoding; run compute_encodings first");
}

// The ONNX element type holding an integer grid: INT4 / UINT4 for 4 bits, int8 / uint8 up to 8
// bits, int16 / uint16 up to 16, int32 for 32-bit biases.
DType onnx_qtype(const QuantSpec& s) {
  if (s.bits > 16) return DType::kInt32;
  if (s.bits == 4) return s.is_signed ? DType::kInt4 : DType::kUInt4;
  if (s.bits <= 8) return s.is_signed ? DType::kInt8 : DType::kUInt8;
  return s.is_signed ? DType::kInt16 : DType::kUInt16;
}

bool needs_wide_opset(const Encoding& e) {
  const DType t = onnx_qtype(e.spec);
  return t == DType::kInt4 || t == DType::kUInt4 || t == DType::kInt16 || t == DType::kUInt16 ||
         e.spec.granularity == Granularity::kPerBlock;
}

std::pair<int64_t, int64_t> dtype_range(DType t) {
  switch (t) {
    case DType::kInt4: return {-8, 7};
    case DType::kUInt4: return {0, 15};
    case DType::kInt8: return {-128, 127};
    case DType::kUInt8: return {0, 255};
    case DType::kInt16: return {-32768, 32767};
    case DType::kUInt16: return {0, 65535};
    default: return {INT32_MIN, INT32_MAX};
  }
}

bool same_encoding(const Encoding& a, const Encoding& b) {
  return a.spec == b.spec && a.param_shape == b.param_shape && a.scale == b.scale &&
         a.zero_point == b.zero_point;
}

// Parameter shape for QuantizeLinear / DequantizeLinear: a scalar per tensor (a 1-element 1-D
// tensor would read as per-axis along the default axis 1).
Shape qdq_param_shape(const Encoding& e) {
  return e.spec.granularity == Granularity::kPerTensor ? Shape{} : e.param_shape;
}

template <class T>
void fill_zero_points(Tensor& t, const std::vector<int32_t>& zp) {
  T* d = t.data<T>();
  for (size_t i = 0; i < zp.size(); ++i) d[i] = static_cast<T>(zp[i]);
}

Tensor zero_point_tensor(const Encoding& e, DType t) {
  Tensor z = Tensor::empty(t, qdq_param_shape(e));
  switch (t) {
    case DType::kInt4: case DType::kInt8: fill_zero_points<int8_t>(z, e.zero_point); break;
    case DType::kUInt4: case DType::kUInt8: fill_zero_points<uint8_t>(z, e.zero_point); break;
    case DType::kInt16: fill_zero_points<int16_t>(z, e.zero_point); break;
    case DType::kUInt16: fill_zero_points<uint16_t>(z, e.zero_point); break;
    default: fill_zero_points<int32_t>(z, e.zero_point); break;
  }
  return z;
}

Tensor scale_tensor(const Encoding& e) {
  return Tensor::from_vector<float>(qdq_param_shape(e), e.scale);
}

Attribute int_attr(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kInt;
  a.i = v;
  return a;
}

// Adds nodes, values and initializers with names that collide with nothing in the graph.
class GraphEditor {
 public:
  explicit GraphEditor(Graph& g) : g_(g) {
    for (const Node* n : g.nodes()) node_names_.insert(n->name);
  }

  Value* new_value(const std::string& base, DType dtype, const Value* shape_like) {
    Value* v = g_.get_or_add_value(export_internal::unique_value_name(g_, base));
    v->dtype = dtype;
    if (shape_like) {
      v->has_shape = shape_like->has_shape;
      v->shape = shape_like->shape;
    }
    return v;
  }

  Value* new_initializer(const std::string& base, Tensor t) {
    Value* v = new_value(base, t.dtype(), nullptr);
    v->has_shape = true;
    for (int64_t d : t.shape()) v->shape.push_back(Dim{d, ""});
    v->constant = std::move(t);
    g_.initializers.push_back(v);
    return v;
  }

  Node* add_node(const std::string& op, const std::string& base, std::vector<Value*> inputs,
                 Value* output, std::vector<Attribute> attrs = {}) {
    std::string name = base;
    for (int k = 1; node_names_.count(name); ++k) name = base + "_" + std::to_string(k);
    node_names_.insert(name);
    Node* n = g_.add_node(op, name, std::move(inputs), {output});
    n->attributes = std::move(attrs);
    return n;
  }

  // Replaces a float initializer by the output of a node: the constant and its entries in the
  // initializer and (old IR) input lists go.
  void detach_initializer(Value* w) {
    w->constant = Tensor();
    auto drop = [w](std::vector<Value*>& list) {
      list.erase(std::remove(list.begin(), list.end(), w), list.end());
    };
    drop(g_.initializers);
    drop(g_.inputs);
  }

  Graph& graph() { return g_; }

 private:
  Graph& g_;
  std::unordered_set<std::string> node_names_;
};

// Integer storage in the ONNX type: quantize() writes int8 / uint8 for 4-bit grids, INT4 / UINT4
// hold one element per byte in memory as well, so the bytes carry over.
Result<Tensor> quantized_initializer(const Tensor& w, const Encoding& e) {
  QUENCH_ASSIGN_OR_RETURN(Tensor q, quantize(w, e));
  const DType t = onnx_qtype(e.spec);
  if (t == q.dtype()) return q;
  Tensor r = Tensor::empty(t, q.shape());
  std::memcpy(r.raw_data(), q.raw_data(), q.nbytes());
  return r;
}

std::vector<Attribute> axis_attrs(const Encoding& e) {
  std::vector<Attribute> attrs;
  if (e.spec.granularity == Granularity::kPerTensor) return attrs;
  attrs.push_back(int_attr("axis", e.spec.axis));
  if (e.spec.granularity == Granularity::kPerBlock)
    attrs.push_back(int_attr("block_size", e.spec.block_size));
  return attrs;
}

DType cast_type(NumberFormat f) {
  return f == NumberFormat::kFloat16 ? DType::kFloat16 : DType::kBFloat16;
}

const char* cast_suffix(NumberFormat f) {
  return f == NumberFormat::kFloat16 ? "_float16" : "_bfloat16";
}

Status export_constant_point(GraphEditor& ed, const QuantPoint& p, Action action) {
  Value* w = ed.graph().find_value(p.value);
  if (!w->is_constant())
    return Status::invalid("QDQ export: " + point_label(p) + " is not an initializer");
  if (w->constant.dtype() != DType::kFloat32)
    return Status::unsupported("QDQ export: " + point_label(p) + " is " + w->constant.describe() +
                               "; only float32 weights are quantized");
  const Tensor original = w->constant;
  ed.detach_initializer(w);
  if (action == Action::kFloatCast) {
    const NumberFormat f = point_spec(p).format;
    Tensor t = Tensor::empty(cast_type(f), original.shape());
    QUENCH_RETURN_IF_ERROR(convert_tensor(original, t));
    Value* stored = ed.new_initializer(p.value + cast_suffix(f), std::move(t));
    ed.add_node("Cast", p.value + "_Cast", {stored}, w,
                {int_attr("to", static_cast<int64_t>(DType::kFloat32))});
    return Status();
  }
  const Encoding& e = *p.encoding;
  auto q = quantized_initializer(original, e);
  if (!q.ok()) return q.status().with_context("QDQ export: " + point_label(p));
  Value* qv = ed.new_initializer(p.value + "_quantized", std::move(q).value());
  Value* scale = ed.new_initializer(p.value + "_scale", scale_tensor(e));
  Value* zp = ed.new_initializer(p.value + "_zero_point", zero_point_tensor(e, onnx_qtype(e.spec)));
  ed.add_node("DequantizeLinear", p.value + "_DequantizeLinear", {qv, scale, zp}, w, axis_attrs(e));
  return Status();
}

bool is_graph_input(const Graph& g, const Value* v) {
  return std::find(g.inputs.begin(), g.inputs.end(), v) != g.inputs.end();
}

Status export_activation_point(GraphEditor& ed, const QuantPoint& p, Action action) {
  Graph& g = ed.graph();
  Value* v = g.find_value(p.value);
  if (v->is_constant())
    return Status::invalid("QDQ export: " + point_label(p) + " is an initializer, not an activation");
  // src: where the float value comes from; dst: the value consumers read after the Q/DQ pair.
  Value* src = nullptr;
  Value* dst = nullptr;
  if (v->producer) {
    src = ed.new_value(p.value + "_fp", v->dtype, v);
    for (Value*& o : v->producer->outputs)
      if (o == v) o = src;
    dst = v;
  } else if (is_graph_input(g, v)) {
    src = v;
    dst = ed.new_value(p.value + "_dequantized", v->dtype, v);
    for (Node* n : g.nodes())
      for (Value*& in : n->inputs)
        if (in == v) in = dst;
  } else {
    return Status::invalid("QDQ export: " + point_label(p) +
                           " is neither a model input nor a node output");
  }

  if (action == Action::kFloatCast) {
    const NumberFormat f = point_spec(p).format;
    Value* c = ed.new_value(p.value + cast_suffix(f), cast_type(f), v);
    ed.add_node("Cast", p.value + cast_suffix(f) + "_Cast", {src},
                c, {int_attr("to", static_cast<int64_t>(cast_type(f)))});
    ed.add_node("Cast", p.value + "_Cast", {c}, dst,
                {int_attr("to", static_cast<int64_t>(DType::kFloat32))});
    return Status();
  }

  const Encoding& e = *p.encoding;
  const DType qt = onnx_qtype(e.spec);
  Value* x = src;
  const auto [tmin, tmax] = dtype_range(qt);
  if (e.spec.qmin() != tmin || e.spec.qmax() != tmax) {
    // The grid is narrower than the storage type: QuantizeLinear alone would saturate at the
    // type's bounds, so clip to the grid's float range first.
    if (e.num_params() != 1)
      return Status::unsupported("QDQ export: " + point_label(p) + ": a " + e.spec.describe() +
                                 " grid narrower than " + std::string(dtype_name(qt)) +
                                 " needs a per-tensor encoding on activations");
    Value* lo = ed.new_initializer(p.value + "_clip_min", Tensor::scalar<float>(e.range_min(0)));
    Value* hi = ed.new_initializer(p.value + "_clip_max", Tensor::scalar<float>(e.range_max(0)));
    Value* clipped = ed.new_value(p.value + "_clipped", DType::kFloat32, v);
    ed.add_node("Clip", p.value + "_Clip", {x, lo, hi}, clipped);
    x = clipped;
  }
  Value* scale = ed.new_initializer(p.value + "_scale", scale_tensor(e));
  Value* zp = ed.new_initializer(p.value + "_zero_point", zero_point_tensor(e, qt));
  Value* q = ed.new_value(p.value + "_quantized", qt, v);
  ed.add_node("QuantizeLinear", p.value + "_QuantizeLinear", {x, scale, zp}, q, axis_attrs(e));
  ed.add_node("DequantizeLinear", p.value + "_DequantizeLinear", {q, scale, zp}, dst,
              axis_attrs(e));
  return Status();
}

// Names read by the nodes of `g` and of its subgraphs (which may read outer-scope values).
void collect_read_names(const Graph& g, std::unordered_set<std::string>& names) {
  for (const Node* n : g.nodes()) {
    for (const Value* v : n->inputs)
      if (v) names.insert(v->name);
    for (const Attribute& a : n->attributes) {
      if (a.g) collect_read_names(*a.g, names);
      for (const auto& sub : a.graphs)
        if (sub) collect_read_names(*sub, names);
    }
  }
  for (const Value* v : g.outputs) names.insert(v->name);
}

void drop_unread_initializers(Graph& g) {
  std::unordered_set<std::string> read;
  collect_read_names(g, read);
  std::unordered_set<const Value*> dropped;
  for (const Value* v : g.initializers)
    if (!read.count(v->name) && !is_graph_input(g, v)) dropped.insert(v);
  if (dropped.empty()) return;
  auto gone = [&](const Value* v) { return dropped.count(v) != 0; };
  g.initializers.erase(std::remove_if(g.initializers.begin(), g.initializers.end(), gone),
                       g.initializers.end());
  g.value_infos.erase(std::remove_if(g.value_infos.begin(), g.value_infos.end(), gone),
                      g.value_infos.end());
}

// Step 1: the opset the export writes.
Result<int64_t> choose_opset(const QuantizedModel& qm, const std::vector<const QuantPoint*>& pts,
                             const QdqExportOptions& o) {
  const int64_t model_opset = qm.model->opset("");
  const QuantPoint* wide = nullptr;
  for (const QuantPoint* p : pts)
    if (p->encoding && p->encoding->spec.is_int() && needs_wide_opset(*p->encoding)) {
      wide = p;
      break;
    }
  if (o.opset != 0 && (o.opset < kQdqOpset8Bit || o.opset > kQdqOpsetWide))
    return Status::invalid("QDQ export: opset " + std::to_string(o.opset) +
                           " is out of range: QuantizeLinear / DequantizeLinear exports take 13..21 "
                           "(0 = automatic)");
  if (wide && o.opset != 0 && o.opset < kQdqOpsetWide)
    return Status::invalid("QDQ export: " + point_label(*wide) + " (" +
                           wide->encoding->spec.describe() + ") needs opset 21 (INT4 / INT16 types, "
                           "block_size), but opset " + std::to_string(o.opset) + " was asked for");
  if (model_opset < kQdqOpset8Bit)
    return Status::unsupported("QDQ export: the model's default opset is " +
                               std::to_string(model_opset) +
                               "; per-channel QuantizeLinear / DequantizeLinear need opset 13 and "
                               "quench does not upgrade models from below 13");
  int64_t target = o.opset != 0 ? o.opset : (wide ? kQdqOpsetWide : model_opset);
  if (target < model_opset)
    return Status::unsupported("QDQ export: opset " + std::to_string(target) +
                               " was asked for, but the model is at opset " +
                               std::to_string(model_opset) + " and quench does not downgrade");
  return target;
}

}  // namespace

Result<Model> make_qdq_model(const QuantizedModel& qm, const QdqExportOptions& o) {
  QUENCH_RETURN_IF_ERROR(export_internal::check_quantized_model(qm, "QDQ"));

  // Points to write, one per value (a weight shared by two nodes is one point).
  std::vector<const QuantPoint*> pts;
  std::vector<Action> actions;
  std::unordered_map<std::string, const QuantPoint*> by_value;
  for (const QuantPoint& p : qm.points) {
    QUENCH_ASSIGN_OR_RETURN(Action a, action_for(p));
    if (a == Action::kSkip) continue;
    auto [it, fresh] = by_value.emplace(p.value, &p);
    if (!fresh) {
      const QuantPoint& first = *it->second;
      const bool same = point_spec(first) == point_spec(p) &&
                        (!first.encoding || !p.encoding ||
                         same_encoding(*first.encoding, *p.encoding));
      if (!same)
        return Status::invalid("QDQ export: value '" + p.value + "' has two quantization points ('" +
                               first.node + "' and '" + p.node +
                               "') with different encodings; give one consumer its own copy");
      continue;
    }
    pts.push_back(&p);
    actions.push_back(a);
  }
  QUENCH_ASSIGN_OR_RETURN(int64_t opset, choose_opset(qm, pts, o));

  Model m = clone_model(*qm.model);
  if (opset > m.opset("")) QUENCH_RETURN_IF_ERROR(export_internal::upgrade_opset(m, opset));

  GraphEditor ed(*m.graph);
  for (size_t i = 0; i < pts.size(); ++i) {
    const QuantPoint& p = *pts[i];
    if (p.kind == TensorKind::kWeight || p.kind == TensorKind::kBias) {
      QUENCH_RETURN_IF_ERROR(export_constant_point(ed, p, actions[i]));
    } else {
      QUENCH_RETURN_IF_ERROR(export_activation_point(ed, p, actions[i]));
    }
  }
  Graph& g = *m.graph;
  drop_unread_initializers(g);
  g.rebuild_links();
  QUENCH_RETURN_IF_ERROR(g.topological_sort().with_context("QDQ export"));
  Status ok = verify_graph(g);
  if (!ok.ok()) return Status::internal("QDQ export produced a broken graph: " + ok.message());
  return m;
}

Status export_qdq_onnx(const QuantizedModel& qm, const std::string& path,
                       const QdqExportOptions& o) {
  QUENCH_ASSIGN_OR_RETURN(Model m, make_qdq_model(qm, o));
  return onnx::save_model(m, path);
}

}  // namespace quench
