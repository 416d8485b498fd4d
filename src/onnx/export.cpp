// Model -> ModelProto, serialize_model and save_model.
//
// Export writes what the IR holds, then merges back the opaque fragments import kept (see
// proto_internal.h), so import -> export reproduces the file field for field; tensors always come
// out as raw_data. save_model decides between inline and external data:
//   1. export with initializers of at least the threshold (options, or 1 KiB in automatic mode)
//      left without data;
//   2. the size with everything inline = the proto's size + the left-out bytes;
//   3. external_data_threshold_for() picks inline or "<model file>.data";
//   4. the data file is written first, then the model (each atomically), so a model file never
//      points at a data file that is not there yet.
#include <map>

#include "core/file_io.h"
#include "onnx/onnx_io.h"
#include "onnx/proto_internal.h"

namespace quench::onnx {
namespace detail {

namespace {

using ValueInfoList = google::protobuf::RepeatedPtrField<pb::ValueInfoProto>;
// Per value name: [original, projection] pairs from a kValueInfoOverrides fragment, in file order.
using OverrideMap = std::map<std::string, std::vector<std::pair<pb::ValueInfoProto, pb::ValueInfoProto>>>;

Status export_graph(const Graph& g, pb::GraphProto* gp, ExportContext& ctx);

void collect_overrides(const ValueInfoList& list, OverrideMap& out) {
  for (int i = 0; i + 1 < list.size(); i += 2) {
    out[list.Get(i).name()].emplace_back(list.Get(i), list.Get(i + 1));
  }
}

Status write_value_list(const std::vector<Value*>& values, const OverrideMap& overrides,
                        const std::string& place, ValueInfoList* out) {
  std::map<std::string, size_t> used;
  for (const Value* v : values) {
    if (!v) return Status::internal(place + ": null Value in a graph input/output/value_info list");
    pb::ValueInfoProto generated;
    value_to_proto(*v, &generated);
    pb::ValueInfoProto* dst = out->Add();
    auto it = overrides.find(v->name);
    if (it != overrides.end()) {
      const std::string projected = generated.SerializeAsString();
      size_t& k = used[v->name];
      while (k < it->second.size()) {
        const auto& [original, projection] = it->second[k++];
        if (projection.SerializeAsString() == projected) {
          *dst = original;
          break;
        }
      }
      if (dst->has_name()) continue;
    }
    *dst = std::move(generated);
  }
  return Status();
}

Status export_tensor(const Tensor& t, pb::TensorProto* p, ExportContext& ctx, bool deferrable) {
  if (deferrable && serialized_nbytes(t.dtype(), t.numel()) >= ctx.defer_min_bytes) {
    QUENCH_RETURN_IF_ERROR(tensor_header_to_proto(t, p));
    ctx.deferred.emplace_back(p, t);
    return Status();
  }
  return tensor_to_proto(t, p);
}

Status export_attribute(const Attribute& a, pb::AttributeProto* ap, ExportContext& ctx,
                        const std::string& place) {
  const std::string what = place + " attribute '" + a.name + "'";
  ap->set_name(a.name);
  if (!a.ref_attr_name.empty()) ap->set_ref_attr_name(a.ref_attr_name);
  if (!a.doc_string.empty()) ap->set_doc_string(a.doc_string);
  if (a.type != AttrType::kUndefined) {
    ap->set_type(static_cast<pb::AttributeProto::AttributeType>(a.type));
  }
  switch (a.type) {
    case AttrType::kFloat: ap->set_f(a.f); break;
    case AttrType::kInt: ap->set_i(a.i); break;
    case AttrType::kString: ap->set_s(a.s); break;
    case AttrType::kTensor:
      QUENCH_RETURN_IF_ERROR(tensor_to_proto(a.t, ap->mutable_t()).with_context(what));
      break;
    case AttrType::kGraph:
      if (!a.g) return Status::invalid(what + " has no graph");
      QUENCH_RETURN_IF_ERROR(export_graph(*a.g, ap->mutable_g(), ctx).with_context(what));
      break;
    case AttrType::kFloats: ap->mutable_floats()->Add(a.floats.begin(), a.floats.end()); break;
    case AttrType::kInts: ap->mutable_ints()->Add(a.ints.begin(), a.ints.end()); break;
    case AttrType::kStrings:
      for (const std::string& s : a.strings) ap->add_strings(s);
      break;
    case AttrType::kTensors:
      for (const Tensor& t : a.tensors) {
        QUENCH_RETURN_IF_ERROR(tensor_to_proto(t, ap->add_tensors()).with_context(what));
      }
      break;
    case AttrType::kGraphs:
      for (const auto& g : a.graphs) {
        if (!g) return Status::invalid(what + " holds a null graph");
        QUENCH_RETURN_IF_ERROR(export_graph(*g, ap->add_graphs(), ctx).with_context(what));
      }
      break;
    default: break;  // sparse tensors, type protos: in `opaque`
  }
  if (a.opaque.empty()) return Status();
  pb::AttributeProto rest;
  if (!rest.ParseFromString(a.opaque)) {
    return Status::internal(what + ": opaque bytes are not an AttributeProto");
  }
  // Tensor metadata (name, doc_string) merges into the tensors written above, by index.
  if (rest.has_t()) {
    ap->mutable_t()->MergeFrom(rest.t());
    rest.clear_t();
  }
  for (int i = 0; i < rest.tensors_size(); ++i) {
    if (i < ap->tensors_size()) {
      ap->mutable_tensors(i)->MergeFrom(rest.tensors(i));
    } else {
      *ap->add_tensors() = rest.tensors(i);
    }
  }
  rest.clear_tensors();
  ap->MergeFrom(rest);
  return Status();
}

Status export_graph(const Graph& g, pb::GraphProto* gp, ExportContext& ctx) {
  const std::string place = "graph '" + g.name + "'";
  OverrideMap input_overrides, output_overrides, value_info_overrides;
  std::map<std::string, pb::TensorProto> tensor_meta;
  std::map<std::string, std::vector<pb::NodeProto>> node_extras;
  std::vector<pb::GraphProto> rest;
  for (const std::string& bytes : g.opaque_fields) {
    pb::GraphProto frag;
    if (!frag.ParseFromString(bytes)) {
      return Status::internal(place + ": an opaque field is not a GraphProto fragment");
    }
    if (frag.name() == kValueInfoOverrides) {
      collect_overrides(frag.input(), input_overrides);
      collect_overrides(frag.output(), output_overrides);
      collect_overrides(frag.value_info(), value_info_overrides);
    } else if (frag.name() == kNodeExtras) {
      for (const pb::NodeProto& n : frag.node()) node_extras[n.name()].push_back(n);
    } else if (frag.name() == kTensorMetadata) {
      for (const pb::TensorProto& t : frag.initializer()) tensor_meta[t.name()] = t;
    } else {
      rest.push_back(std::move(frag));
    }
  }

  if (!g.name.empty()) gp->set_name(g.name);
  if (!g.doc_string.empty()) gp->set_doc_string(g.doc_string);
  size_t index = 0;
  for (const auto& np : g.node_list()) {
    const Node& n = *np;
    pb::NodeProto* out = gp->add_node();
    for (const Value* v : n.inputs) out->add_input(v ? v->name : "");
    for (const Value* v : n.outputs) out->add_output(v ? v->name : "");
    if (!n.name.empty()) out->set_name(n.name);
    out->set_op_type(n.op_type);
    if (!n.domain.empty()) out->set_domain(n.domain);
    if (!n.doc_string.empty()) out->set_doc_string(n.doc_string);
    if (!node_extras.empty()) {
      const Value* first = n.outputs.empty() ? nullptr : n.outputs[0];
      auto it = node_extras.find(node_key(n.name, first ? first->name : ""));
      if (it != node_extras.end() && !it->second.empty()) {
        out->mutable_unknown_fields()->MergeFrom(it->second.front().unknown_fields());
        it->second.erase(it->second.begin());
      }
    }
    const std::string node_place =
        place + " node " + (n.name.empty() ? n.op_type + " #" + std::to_string(index) : n.label());
    for (const Attribute& a : n.attributes) {
      QUENCH_RETURN_IF_ERROR(export_attribute(a, out->add_attribute(), ctx, node_place));
    }
    ++index;
  }
  for (const Value* v : g.initializers) {
    if (!v || !v->is_constant()) {
      return Status::invalid(place + ": initializer '" + (v ? v->name : "") + "' has no data");
    }
    pb::TensorProto* t = gp->add_initializer();
    QUENCH_RETURN_IF_ERROR(
        export_tensor(v->constant, t, ctx, true).with_context(place + " initializer '" + v->name + "'"));
    t->set_name(v->name);
    auto it = tensor_meta.find(v->name);
    if (it != tensor_meta.end()) t->MergeFrom(it->second);
  }
  QUENCH_RETURN_IF_ERROR(write_value_list(g.inputs, input_overrides, place, gp->mutable_input()));
  QUENCH_RETURN_IF_ERROR(write_value_list(g.outputs, output_overrides, place, gp->mutable_output()));
  QUENCH_RETURN_IF_ERROR(
      write_value_list(g.value_infos, value_info_overrides, place, gp->mutable_value_info()));
  for (const pb::GraphProto& frag : rest) gp->MergeFrom(frag);
  return Status();
}

// Bytes a raw_data field of n bytes adds to a TensorProto: tag, length varint, data.
int64_t raw_field_bytes(int64_t n) {
  int64_t varint = 1;
  for (uint64_t v = static_cast<uint64_t>(n); v >= 128; v >>= 7) ++varint;
  return 1 + varint + n;
}

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status size_error(size_t bytes, const std::string& advice) {
  return Status::invalid("model serializes to " + std::to_string(bytes) +
                         " bytes, over protobuf's 2 GB limit: " + advice);
}

}  // namespace

void value_to_proto(const Value& v, pb::ValueInfoProto* p) {
  p->set_name(v.name);
  if (v.dtype != DType::kUndefined || v.has_shape) {
    pb::TypeProto::Tensor* tt = p->mutable_type()->mutable_tensor_type();
    if (v.dtype != DType::kUndefined) tt->set_elem_type(static_cast<int32_t>(v.dtype));
    if (v.has_shape) {
      pb::TensorShapeProto* shape = tt->mutable_shape();
      for (const Dim& d : v.shape) {
        pb::TensorShapeProto::Dimension* dim = shape->add_dim();
        if (d.known()) {
          dim->set_dim_value(d.value);
        } else if (!d.symbol.empty()) {
          dim->set_dim_param(d.symbol);
        }
      }
    }
  }
  if (!v.doc_string.empty()) p->set_doc_string(v.doc_string);
}

Status export_model(const Model& model, pb::ModelProto* p, ExportContext& ctx) {
  if (!model.graph) return Status::invalid("model has no graph");
  // A model built in memory may leave ir_version 0; 8 goes with opsets up to 18 and every
  // onnxruntime release since 1.10.
  p->set_ir_version(model.ir_version > 0 ? model.ir_version : 8);
  for (const OpsetImport& o : model.opset_imports) {
    pb::OperatorSetIdProto* op = p->add_opset_import();
    op->set_domain(o.domain);
    op->set_version(o.version);
  }
  if (!model.producer_name.empty()) p->set_producer_name(model.producer_name);
  if (!model.producer_version.empty()) p->set_producer_version(model.producer_version);
  if (!model.domain.empty()) p->set_domain(model.domain);
  if (model.model_version != 0) p->set_model_version(model.model_version);
  if (!model.doc_string.empty()) p->set_doc_string(model.doc_string);
  for (const auto& [key, value] : model.metadata_props) {
    pb::StringStringEntryProto* e = p->add_metadata_props();
    e->set_key(key);
    e->set_value(value);
  }
  QUENCH_RETURN_IF_ERROR(export_graph(*model.graph, p->mutable_graph(), ctx));
  for (const std::string& bytes : model.opaque_fields) {
    pb::ModelProto frag;
    if (!frag.ParseFromString(bytes)) {
      return Status::internal("model: an opaque field is not a ModelProto fragment");
    }
    p->MergeFrom(frag);
  }
  return Status();
}

}  // namespace detail

Result<std::string> serialize_model(const Model& model) {
  detail::pb::ModelProto p;
  detail::ExportContext ctx;
  QUENCH_RETURN_IF_ERROR(detail::export_model(model, &p, ctx));
  const size_t size = p.ByteSizeLong();
  if (size > static_cast<size_t>(kProtobufLimitBytes)) {
    return detail::size_error(size, "use save_model, which moves the weights to an external data file");
  }
  std::string out;
  if (!p.SerializeToString(&out)) return Status::internal("ModelProto serialization failed");
  return out;
}

Status save_model(const Model& model, const std::string& path, const SaveOptions& options) {
  detail::pb::ModelProto p;
  detail::ExportContext ctx;
  ctx.defer_min_bytes = options.external_data_threshold > 0 ? options.external_data_threshold
                                                            : kAutoExternalMinBytes;
  QUENCH_RETURN_IF_ERROR(detail::export_model(model, &p, ctx).with_context(path));

  int64_t inline_bytes = static_cast<int64_t>(p.ByteSizeLong());
  int64_t deferred_bytes = 0;
  for (const auto& [proto, tensor] : ctx.deferred) {
    int64_t n = detail::serialized_nbytes(tensor.dtype(), tensor.numel());
    // + 10: the enclosing TensorProto and GraphProto length prefixes may grow by a few bytes.
    inline_bytes += detail::raw_field_bytes(n) + 10;
    deferred_bytes += n + 4096;
  }
  const int64_t threshold = external_data_threshold_for(inline_bytes, options);

  // Every deferred tensor is at least the threshold in both modes (see defer_min_bytes above).
  detail::ExternalDataWriter writer(detail::base_name(path) + ".data");
  if (threshold > 0) writer.reserve(static_cast<size_t>(deferred_bytes));
  for (const auto& [proto, tensor] : ctx.deferred) {
    if (threshold > 0) {
      QUENCH_RETURN_IF_ERROR(writer.add(tensor, proto).with_context(path + ": initializer '" +
                                                                     proto->name() + "'"));
    } else {
      QUENCH_RETURN_IF_ERROR(detail::append_tensor_bytes(tensor, proto->mutable_raw_data()));
    }
  }
  ctx.deferred.clear();

  const size_t size = p.ByteSizeLong();
  if (size > static_cast<size_t>(kProtobufLimitBytes)) {
    return detail::size_error(size, "even with initializers in external data (the rest is too "
                                    "big: large Constant nodes?)").with_context(path);
  }
  std::string bytes;
  if (!p.SerializeToString(&bytes)) return Status::internal(path + ": serialization failed");
  if (!writer.empty()) QUENCH_RETURN_IF_ERROR(write_file_atomic(path + ".data", writer.bytes()));
  return write_file_atomic(path, bytes);
}

}  // namespace quench::onnx
