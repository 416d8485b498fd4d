// diff_models: field-by-field comparison of two serialized models, used by the round-trip tests and
// by anyone checking that quench wrote back what it read.
//
// Export writes every tensor as raw_data, so before comparing, every inline tensor holding typed
// fields (float_data, int32_data, ...) is rewritten as raw_data: two models are equal when every
// tensor has the same dtype, shape and bits, whatever field carried them.
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstring>
#include <limits>
#include <vector>

#include "onnx/onnx_io.h"
#include "onnx/proto_internal.h"

namespace quench::onnx {
namespace {

namespace pb = detail::pb;

void normalize_graph(pb::GraphProto& g);

void normalize_tensor(pb::TensorProto& t) {
  if (t.data_location() == pb::TensorProto::EXTERNAL || t.has_raw_data()) return;
  Result<Tensor> value = detail::tensor_from_proto(t, "", "tensor");
  if (!value.ok()) return;  // strings and the like: compare them as they are
  pb::TensorProto raw;
  if (!detail::tensor_to_proto(*value, &raw).ok()) return;
  t.clear_float_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_double_data();
  t.clear_uint64_data();
  t.set_raw_data(raw.raw_data());
}

void normalize_nodes(google::protobuf::RepeatedPtrField<pb::NodeProto>& nodes) {
  for (pb::NodeProto& n : nodes) {
    for (pb::AttributeProto& a : *n.mutable_attribute()) {
      if (a.has_t()) normalize_tensor(*a.mutable_t());
      for (pb::TensorProto& t : *a.mutable_tensors()) normalize_tensor(t);
      if (a.has_g()) normalize_graph(*a.mutable_g());
      for (pb::GraphProto& g : *a.mutable_graphs()) normalize_graph(g);
    }
  }
}

void normalize_graph(pb::GraphProto& g) {
  for (pb::TensorProto& t : *g.mutable_initializer()) normalize_tensor(t);
  normalize_nodes(*g.mutable_node());
}

// Clears every singular field that holds its default value, recursively, so that "set to the
// default" and "unset" compare equal while unknown fields are still compared (MessageDifferencer's
// EQUIVALENT mode would ignore unknown fields altogether).
void clear_default_fields(google::protobuf::Message& m) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) clear_default_fields(*r->MutableRepeatedMessage(&m, f, i));
      } else {
        clear_default_fields(*r->MutableMessage(&m, f));
      }
      continue;
    }
    if (f->is_repeated()) continue;
    bool is_default = false;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: is_default = r->GetInt32(m, f) == f->default_value_int32(); break;
      case FieldDescriptor::CPPTYPE_INT64: is_default = r->GetInt64(m, f) == f->default_value_int64(); break;
      case FieldDescriptor::CPPTYPE_UINT32: is_default = r->GetUInt32(m, f) == f->default_value_uint32(); break;
      case FieldDescriptor::CPPTYPE_UINT64: is_default = r->GetUInt64(m, f) == f->default_value_uint64(); break;
      case FieldDescriptor::CPPTYPE_BOOL: is_default = r->GetBool(m, f) == f->default_value_bool(); break;
      case FieldDescriptor::CPPTYPE_ENUM: is_default = r->GetEnumValue(m, f) == f->default_value_enum()->number(); break;
      case FieldDescriptor::CPPTYPE_STRING: is_default = r->GetString(m, f) == f->default_value_string(); break;
      case FieldDescriptor::CPPTYPE_FLOAT: {
        float v = r->GetFloat(m, f), d = f->default_value_float();
        is_default = std::memcmp(&v, &d, sizeof v) == 0;
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        double v = r->GetDouble(m, f), d = f->default_value_double();
        is_default = std::memcmp(&v, &d, sizeof v) == 0;
        break;
      }
      default: break;
    }
    if (is_default) r->ClearField(&m, f);
  }
}

Status parse_for_diff(std::string_view bytes, const char* which, pb::ModelProto& m) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::invalid(std::string("diff_models: the ") + which +
                           " model is not an ONNX model: failed to parse ModelProto");
  }
  if (m.has_graph()) normalize_graph(*m.mutable_graph());
  for (pb::FunctionProto& f : *m.mutable_functions()) normalize_nodes(*f.mutable_node());
  clear_default_fields(m);
  return Status();
}

}  // namespace

Result<std::string> diff_models(std::string_view a_bytes, std::string_view b_bytes) {
  pb::ModelProto a, b;
  QUENCH_RETURN_IF_ERROR(parse_for_diff(a_bytes, "first", a));
  QUENCH_RETURN_IF_ERROR(parse_for_diff(b_bytes, "second", b));
  using google::protobuf::util::DefaultFieldComparator;
  using google::protobuf::util::MessageDifferencer;
  DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  differencer.set_message_field_comparison(MessageDifferencer::EQUAL);
  differencer.set_repeated_field_comparison(MessageDifferencer::AS_LIST);
  std::string report;
  differencer.ReportDifferencesToString(&report);
  if (differencer.Compare(a, b)) return std::string();
  constexpr size_t kMaxReport = 4000;
  if (report.empty()) report = "the models differ";
  if (report.size() > kMaxReport) report = report.substr(0, kMaxReport) + "\n... (truncated)";
  return report;
}

}  // namespace quench::onnx
