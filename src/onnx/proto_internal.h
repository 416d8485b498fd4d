// Private to src/onnx: conversions between the IR and the ONNX protobuf messages, shared by
// import.cpp, export.cpp, tensor_proto.cpp, external_data.cpp and diff.cpp. Nothing outside
// src/onnx includes this header (it pulls in protobuf).
//
// How parts that the IR does not model survive a round trip ("opaque" bytes):
//   Model::opaque_fields      each entry is a serialized ModelProto fragment (functions,
//                             training_info, unknown fields); export merges it into the model.
//   Graph::opaque_fields      each entry is a serialized GraphProto fragment. Fragments named
//                             kValueInfoOverrides / kTensorMetadata / kNodeExtras are read by
//                             export (below);
//                             any other fragment (sparse_initializer, quantization_annotation,
//                             unknown fields) is merged into the graph as it is.
//   Attribute::opaque         a serialized AttributeProto fragment with the fields the IR does not
//                             hold for that attribute (sparse tensors, type protos, unknown
//                             fields, the name / doc_string of its tensors); export merges it.
#pragma once

// onnx_pb.h defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1 comes from the onnx_proto target).
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace quench::onnx::detail {

namespace pb = ::onnx;

// A graph fragment holding ValueInfoProtos that the IR cannot express (sequence / optional types,
// missing types, denotations, unknown fields, a second declaration that disagrees with the first).
// Each of its input / output / value_info lists holds pairs [original, projection]: projection is
// what export would write from the Value as imported; export writes the original instead as long
// as the Value still projects to the same thing (a pass that retyped the value wins).
inline constexpr const char* kValueInfoOverrides = "quench.value_info_overrides";
// A graph fragment whose initializer list holds, per initializer name, the TensorProto fields the IR
// does not hold (doc_string, unknown fields); export merges them into that initializer.
inline constexpr const char* kTensorMetadata = "quench.tensor_metadata";
// A graph fragment whose node list holds the unknown fields of nodes (fields newer ONNX versions
// added, such as NodeProto.metadata_props), each entry named by node_key(); export merges them back
// into the node with the same key.
inline constexpr const char* kNodeExtras = "quench.node_extras";

// Identifies a node across import and export: its name, else its first output.
inline std::string node_key(const std::string& name, const std::string& first_output) {
  return name.empty() ? "output:" + first_output : "name:" + name;
}

// The folder part of a file path ("" for a bare file name), for resolving external data.
inline std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// ---- tensors (tensor_proto.cpp) ----

bool is_4bit(DType t);
// Bytes of the serialized data: numel * size, or ceil(numel / 2) for 4-bit types.
int64_t serialized_nbytes(DType t, int64_t numel);
// Serialized (4-bit packed, little-endian) bytes of a tensor, appended to `out`.
Status append_tensor_bytes(const Tensor& t, std::string* out);
// Fills `dst` (already sized numel * dtype_size) from serialized bytes (unpacking 4-bit types).
void copy_serialized_bytes(std::string_view src, Tensor& dst);

// `what` names the tensor in messages ("initializer 'conv1.weight'"); `base_dir` resolves
// external data.
Result<Tensor> tensor_from_proto(const pb::TensorProto& p, const std::string& base_dir,
                                 const std::string& what);
// dims, data_type and raw_data (the name is the caller's).
Status tensor_to_proto(const Tensor& t, pb::TensorProto* p);
// dims and data_type only; the data is added later (inline or external).
Status tensor_header_to_proto(const Tensor& t, pb::TensorProto* p);
// The TensorProto fields the IR does not hold (doc_string, unknown fields).
pb::TensorProto tensor_metadata(const pb::TensorProto& p);

// ---- external data (external_data.cpp) ----

// Reads the bytes of a tensor stored with data_location EXTERNAL; checks that the location stays
// inside base_dir and that the region holds exactly expected_bytes.
Result<std::string> read_external_data(const pb::TensorProto& p, const std::string& base_dir,
                                       const std::string& what, int64_t expected_bytes);

// Collects tensor bytes for one external data file.
class ExternalDataWriter {
 public:
  explicit ExternalDataWriter(std::string location) : location_(std::move(location)) {}
  // Appends the tensor's bytes (aligned) and points the TensorProto at them.
  Status add(const Tensor& t, pb::TensorProto* p);
  void reserve(size_t nbytes) { data_.reserve(nbytes); }
  const std::string& bytes() const { return data_; }
  bool empty() const { return data_.empty(); }

 private:
  std::string location_;
  std::string data_;
};

// ---- import / export (import.cpp, export.cpp) ----

Status import_model(pb::ModelProto& proto, const std::string& base_dir, Model& model);

// Export keeps initializers of at least defer_min_bytes without data and lists them in
// `deferred`, so that save_model can decide between inline and external data knowing the size of
// everything else.
struct ExportContext {
  int64_t defer_min_bytes = INT64_MAX;
  std::vector<std::pair<pb::TensorProto*, Tensor>> deferred;
};
Status export_model(const Model& model, pb::ModelProto* proto, ExportContext& ctx);

// What export writes for a Value in a graph's input / output / value_info list.
void value_to_proto(const Value& v, pb::ValueInfoProto* p);

}  // namespace quench::onnx::detail
