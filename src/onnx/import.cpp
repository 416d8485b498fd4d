// ModelProto -> Model.
//
// Steps per graph (subgraphs of If / Loop / Scan recurse through their attributes):
//   1. inputs, outputs, value_info become Values; the first declaration with a type sets the
//      Value's dtype and shape.
//   2. initializers get their data (inline, typed fields or external file); an initializer that is
//      also a graph input (IR version < 4 style) stays in both lists, as in the file.
//   3. nodes: every input / output name becomes a Value of this graph, including names of the outer
//      scope (subgraphs) and names nobody produces (verify_graph reports those later).
//   4. what the IR cannot express is kept as opaque bytes (see proto_internal.h).
//   5. topological_sort(): a cycle is an error here; dangling inputs are not (verify_graph's job).
#include <limits>
#include <set>

#include "core/file_io.h"
#include "onnx/onnx_io.h"
#include "onnx/proto_internal.h"

namespace quench::onnx {
namespace detail {

namespace {

Status import_graph(pb::GraphProto& gp, Graph& g, const std::string& base_dir);

std::string node_place(const pb::NodeProto& np, int index) {
  std::string place = "node " + np.op_type();
  if (!np.name().empty()) return place + " '" + np.name() + "'";
  if (np.output_size() > 0) return place + " (output '" + np.output(0) + "')";
  return place + " #" + std::to_string(index);
}

// Old exporters leave AttributeProto.type unset; the set field tells the kind.
AttrType infer_attr_type(const pb::AttributeProto& a) {
  if (a.has_f()) return AttrType::kFloat;
  if (a.has_i()) return AttrType::kInt;
  if (a.has_s()) return AttrType::kString;
  if (a.has_t()) return AttrType::kTensor;
  if (a.has_g()) return AttrType::kGraph;
  if (a.floats_size()) return AttrType::kFloats;
  if (a.ints_size()) return AttrType::kInts;
  if (a.strings_size()) return AttrType::kStrings;
  if (a.tensors_size()) return AttrType::kTensors;
  if (a.graphs_size()) return AttrType::kGraphs;
  return AttrType::kUndefined;
}

// The fields of `a` that the IR attribute does not hold, as an AttributeProto fragment.
pb::AttributeProto attribute_leftovers(const pb::AttributeProto& a, AttrType type) {
  pb::AttributeProto rest;
  if (a.has_f() && type != AttrType::kFloat) rest.set_f(a.f());
  if (a.has_i() && type != AttrType::kInt) rest.set_i(a.i());
  if (a.has_s() && type != AttrType::kString) rest.set_s(a.s());
  if (a.has_t()) {
    if (type != AttrType::kTensor) {
      *rest.mutable_t() = a.t();
    } else {
      pb::TensorProto meta = tensor_metadata(a.t());
      if (a.t().has_name()) meta.set_name(a.t().name());
      if (meta.ByteSizeLong() > 0) *rest.mutable_t() = meta;
    }
  }
  if (a.has_g() && type != AttrType::kGraph) *rest.mutable_g() = a.g();
  if (type != AttrType::kFloats) *rest.mutable_floats() = a.floats();
  if (type != AttrType::kInts) *rest.mutable_ints() = a.ints();
  if (type != AttrType::kStrings) *rest.mutable_strings() = a.strings();
  if (type != AttrType::kTensors) {
    *rest.mutable_tensors() = a.tensors();
  } else {
    // One entry per tensor (empty when nothing is left) so that export can merge by index.
    bool any = false;
    pb::AttributeProto metas;
    for (const pb::TensorProto& t : a.tensors()) {
      pb::TensorProto* meta = metas.add_tensors();
      *meta = tensor_metadata(t);
      if (t.has_name()) meta->set_name(t.name());
      any = any || meta->ByteSizeLong() > 0;
    }
    if (any) *rest.mutable_tensors() = metas.tensors();
  }
  if (type != AttrType::kGraphs) *rest.mutable_graphs() = a.graphs();
  if (a.has_sparse_tensor()) *rest.mutable_sparse_tensor() = a.sparse_tensor();
  *rest.mutable_sparse_tensors() = a.sparse_tensors();
  if (a.has_tp()) *rest.mutable_tp() = a.tp();
  *rest.mutable_type_protos() = a.type_protos();
  rest.mutable_unknown_fields()->MergeFrom(a.unknown_fields());
  return rest;
}

Status import_attribute(pb::AttributeProto& ap, Attribute& a, const std::string& base_dir,
                        const std::string& place) {
  a.name = ap.name();
  a.ref_attr_name = ap.ref_attr_name();
  a.doc_string = ap.doc_string();
  AttrType type = ap.has_type() ? static_cast<AttrType>(ap.type()) : infer_attr_type(ap);
  if (static_cast<int>(type) < 0 || static_cast<int>(type) > 14) {
    return Status::invalid(place + ": unknown attribute type " + std::to_string(ap.type()));
  }
  a.type = type;
  const std::string what = place + " attribute '" + a.name + "'";
  switch (type) {
    case AttrType::kFloat: a.f = ap.f(); break;
    case AttrType::kInt: a.i = ap.i(); break;
    case AttrType::kString: a.s = ap.s(); break;
    case AttrType::kTensor: {
      QUENCH_ASSIGN_OR_RETURN(a.t, tensor_from_proto(ap.t(), base_dir, what));
      break;
    }
    case AttrType::kGraph: {
      a.g = std::make_shared<Graph>();
      QUENCH_RETURN_IF_ERROR(import_graph(*ap.mutable_g(), *a.g, base_dir).with_context(what));
      break;
    }
    case AttrType::kFloats: a.floats.assign(ap.floats().begin(), ap.floats().end()); break;
    case AttrType::kInts: a.ints.assign(ap.ints().begin(), ap.ints().end()); break;
    case AttrType::kStrings: a.strings.assign(ap.strings().begin(), ap.strings().end()); break;
    case AttrType::kTensors:
      for (int i = 0; i < ap.tensors_size(); ++i) {
        QUENCH_ASSIGN_OR_RETURN(
            Tensor t, tensor_from_proto(ap.tensors(i), base_dir, what + " tensor " + std::to_string(i)));
        a.tensors.push_back(std::move(t));
      }
      break;
    case AttrType::kGraphs:
      for (int i = 0; i < ap.graphs_size(); ++i) {
        auto g = std::make_shared<Graph>();
        QUENCH_RETURN_IF_ERROR(import_graph(*ap.mutable_graphs(i), *g, base_dir)
                                   .with_context(what + " graph " + std::to_string(i)));
        a.graphs.push_back(std::move(g));
      }
      break;
    default: break;  // sparse tensors and type protos: kept whole in `opaque` below
  }
  pb::AttributeProto rest = attribute_leftovers(ap, type);
  if (rest.ByteSizeLong() > 0) a.opaque = rest.SerializeAsString();
  return Status();
}

// Sets dtype / shape / doc of a Value from its first declaration that has them.
void apply_value_info(const pb::ValueInfoProto& vi, Value& v, std::set<const Value*>& typed) {
  if (v.doc_string.empty()) v.doc_string = vi.doc_string();
  if (!vi.has_type() || !vi.type().has_tensor_type() || typed.count(&v)) return;
  const pb::TypeProto::Tensor& tt = vi.type().tensor_type();
  typed.insert(&v);
  v.dtype = dtype_is_known(tt.elem_type()) ? static_cast<DType>(tt.elem_type()) : DType::kUndefined;
  v.has_shape = tt.has_shape();
  v.shape.clear();
  for (const pb::TensorShapeProto::Dimension& d : tt.shape().dim()) {
    Dim dim;
    if (d.has_dim_value() && d.dim_value() >= 0) dim.value = d.dim_value();
    if (d.has_dim_param()) dim.symbol = d.dim_param();
    v.shape.push_back(std::move(dim));
  }
}

Status import_graph(pb::GraphProto& gp, Graph& g, const std::string& base_dir) {
  g.name = gp.name();
  g.doc_string = gp.doc_string();
  std::set<const Value*> typed;
  for (const pb::ValueInfoProto& vi : gp.input()) {
    Value* v = g.get_or_add_value(vi.name());
    g.inputs.push_back(v);
    apply_value_info(vi, *v, typed);
  }
  for (const pb::ValueInfoProto& vi : gp.output()) {
    Value* v = g.get_or_add_value(vi.name());
    g.outputs.push_back(v);
    apply_value_info(vi, *v, typed);
  }
  for (const pb::ValueInfoProto& vi : gp.value_info()) {
    Value* v = g.get_or_add_value(vi.name());
    g.value_infos.push_back(v);
    apply_value_info(vi, *v, typed);
  }

  pb::GraphProto tensor_meta;
  for (pb::TensorProto& tp : *gp.mutable_initializer()) {
    const std::string what = "initializer '" + tp.name() + "'";
    Value* v = g.get_or_add_value(tp.name());
    if (v->is_constant()) return Status::invalid(what + " is defined twice");
    QUENCH_ASSIGN_OR_RETURN(v->constant, tensor_from_proto(tp, base_dir, what));
    tp.clear_raw_data();  // the data now lives in the Tensor; free the copy early
    g.initializers.push_back(v);
    if (!typed.count(v)) {
      v->dtype = v->constant.dtype();
      v->has_shape = true;
      v->shape.clear();
      for (int64_t d : v->constant.shape()) v->shape.push_back(Dim{d, ""});
    }
    pb::TensorProto meta = tensor_metadata(tp);
    if (meta.ByteSizeLong() > 0) {
      meta.set_name(tp.name());
      *tensor_meta.add_initializer() = std::move(meta);
    }
  }

  pb::GraphProto node_extras;
  for (int ni = 0; ni < gp.node_size(); ++ni) {
    pb::NodeProto& np = *gp.mutable_node(ni);
    std::vector<Value*> ins, outs;
    for (const std::string& name : np.input()) ins.push_back(name.empty() ? nullptr : g.get_or_add_value(name));
    for (const std::string& name : np.output()) outs.push_back(name.empty() ? nullptr : g.get_or_add_value(name));
    Node* n = g.add_node(np.op_type(), np.name(), std::move(ins), std::move(outs), np.domain());
    n->doc_string = np.doc_string();
    if (!np.unknown_fields().empty()) {
      pb::NodeProto* extra = node_extras.add_node();
      extra->set_name(node_key(np.name(), np.output_size() ? np.output(0) : ""));
      extra->mutable_unknown_fields()->MergeFrom(np.unknown_fields());
    }
    const std::string place = node_place(np, ni);
    n->attributes.resize(static_cast<size_t>(np.attribute_size()));
    for (int ai = 0; ai < np.attribute_size(); ++ai) {
      QUENCH_RETURN_IF_ERROR(import_attribute(*np.mutable_attribute(ai),
                                              n->attributes[static_cast<size_t>(ai)], base_dir, place));
    }
  }

  // Declarations the Values cannot reproduce exactly are kept whole (see kValueInfoOverrides).
  pb::GraphProto overrides;
  auto keep_if_lossy = [](const google::protobuf::RepeatedPtrField<pb::ValueInfoProto>& list,
                          const std::vector<Value*>& values,
                          google::protobuf::RepeatedPtrField<pb::ValueInfoProto>* out) {
    for (int i = 0; i < list.size(); ++i) {
      pb::ValueInfoProto projection;
      value_to_proto(*values[static_cast<size_t>(i)], &projection);
      if (projection.SerializeAsString() == list.Get(i).SerializeAsString()) continue;
      *out->Add() = list.Get(i);
      *out->Add() = std::move(projection);
    }
  };
  keep_if_lossy(gp.input(), g.inputs, overrides.mutable_input());
  keep_if_lossy(gp.output(), g.outputs, overrides.mutable_output());
  keep_if_lossy(gp.value_info(), g.value_infos, overrides.mutable_value_info());
  if (overrides.ByteSizeLong() > 0) {
    overrides.set_name(kValueInfoOverrides);
    g.opaque_fields.push_back(overrides.SerializeAsString());
  }
  if (tensor_meta.ByteSizeLong() > 0) {
    tensor_meta.set_name(kTensorMetadata);
    g.opaque_fields.push_back(tensor_meta.SerializeAsString());
  }
  if (node_extras.node_size() > 0) {
    node_extras.set_name(kNodeExtras);
    g.opaque_fields.push_back(node_extras.SerializeAsString());
  }
  pb::GraphProto rest;
  *rest.mutable_sparse_initializer() = gp.sparse_initializer();
  *rest.mutable_quantization_annotation() = gp.quantization_annotation();
  rest.mutable_unknown_fields()->MergeFrom(gp.unknown_fields());
  if (rest.ByteSizeLong() > 0) g.opaque_fields.push_back(rest.SerializeAsString());

  const std::string graph_place = "graph '" + g.name + "'";
  return g.topological_sort().with_context(graph_place);
}

}  // namespace

Status import_model(pb::ModelProto& proto, const std::string& base_dir, Model& model) {
  if (!proto.has_graph()) {
    return Status::invalid("not an ONNX model: ModelProto has no graph (ir_version " +
                           std::to_string(proto.ir_version()) + ")");
  }
  model.ir_version = proto.ir_version();
  model.opset_imports.clear();
  for (const pb::OperatorSetIdProto& o : proto.opset_import()) {
    model.opset_imports.push_back(OpsetImport{o.domain(), o.version()});
  }
  model.producer_name = proto.producer_name();
  model.producer_version = proto.producer_version();
  model.domain = proto.domain();
  model.model_version = proto.model_version();
  model.doc_string = proto.doc_string();
  for (const pb::StringStringEntryProto& e : proto.metadata_props()) {
    model.metadata_props.emplace_back(e.key(), e.value());
  }
  model.graph = std::make_shared<Graph>();
  QUENCH_RETURN_IF_ERROR(import_graph(*proto.mutable_graph(), *model.graph, base_dir));

  pb::ModelProto rest;
  *rest.mutable_functions() = proto.functions();
  *rest.mutable_training_info() = proto.training_info();
  rest.mutable_unknown_fields()->MergeFrom(proto.unknown_fields());
  if (rest.ByteSizeLong() > 0) model.opaque_fields.push_back(rest.SerializeAsString());
  return Status();
}

}  // namespace detail

namespace {
Status parse_proto(std::string_view bytes, detail::pb::ModelProto& proto) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::invalid("not an ONNX model: " + std::to_string(bytes.size()) +
                           " bytes is over protobuf's 2 GB limit (weights over 2 GB must be in "
                           "an external data file)");
  }
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::invalid(
        "not an ONNX model: failed to parse ModelProto (truncated or corrupt file?)");
  }
  return Status();
}
}  // namespace

Result<Model> parse_model(std::string_view bytes, const std::string& base_dir) {
  detail::pb::ModelProto proto;
  QUENCH_RETURN_IF_ERROR(parse_proto(bytes, proto));
  Model model;
  QUENCH_RETURN_IF_ERROR(detail::import_model(proto, base_dir, model));
  return model;
}

Result<Model> load_model(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(std::string bytes, read_file(path));  // names the path itself
  detail::pb::ModelProto proto;
  QUENCH_RETURN_IF_ERROR(parse_proto(bytes, proto).with_context(path));
  std::string().swap(bytes);  // a large model does not need the file bytes once parsed
  Model model;
  QUENCH_RETURN_IF_ERROR(
      detail::import_model(proto, detail::parent_dir(path), model).with_context(path));
  return model;
}

}  // namespace quench::onnx
