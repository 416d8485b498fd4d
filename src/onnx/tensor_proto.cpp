// TensorProto <-> Tensor.
//
// ONNX stores tensor data either as raw_data (little-endian bytes, 4-bit types packed two per byte,
// low nibble first) or in a typed repeated field whose element type is wider than the tensor's:
// int32_data carries int8/uint8/int16/uint16/bool/float16/bfloat16/float8 (one element per entry,
// 16-bit floats as their bit pattern) and int4/uint4 (one packed byte per entry), uint64_data
// carries uint32/uint64. Import accepts all of them; export always writes raw_data, which is what
// onnxruntime and the onnx Python package write themselves.
#include <cstring>
#include <limits>

#include "core/file_io.h"
#include "onnx/onnx_io.h"
#include "onnx/proto_internal.h"

namespace quench::onnx {
namespace detail {

bool is_4bit(DType t) { return t == DType::kInt4 || t == DType::kUInt4; }

int64_t serialized_nbytes(DType t, int64_t numel) {
  if (is_4bit(t)) return (numel + 1) / 2;
  return numel * static_cast<int64_t>(dtype_size(t));
}

namespace {

std::string describe_dims(DType t, const Shape& s) {
  return std::string(dtype_name(t)) + shape_to_string(s);
}

// The dtype of a TensorProto, or why a Tensor cannot hold it.
Result<DType> proto_dtype(int32_t data_type, const std::string& what) {
  if (data_type == static_cast<int32_t>(DType::kString)) {
    return Status::unsupported(what + ": string tensors are not supported");
  }
  if (data_type == static_cast<int32_t>(DType::kComplex64) ||
      data_type == static_cast<int32_t>(DType::kComplex128)) {
    return Status::unsupported(what + ": " +
                               std::string(dtype_name(static_cast<DType>(data_type))) +
                               " tensors are not supported");
  }
  if (data_type == 0) return Status::invalid(what + ": data_type is not set (UNDEFINED)");
  if (!dtype_is_known(data_type)) {
    return Status::unsupported(what + ": data_type " + std::to_string(data_type) +
                               " is not supported (quench knows ONNX types 1 to 22)");
  }
  return static_cast<DType>(data_type);
}

Result<Shape> proto_shape(const pb::TensorProto& p, const std::string& what) {
  Shape s;
  s.reserve(static_cast<size_t>(p.dims_size()));
  int64_t numel = 1;
  for (int64_t d : p.dims()) {
    if (d < 0) {
      return Status::invalid(what + ": dimension " + std::to_string(s.size()) + " is " +
                             std::to_string(d) + " (must be >= 0)");
    }
    // 2^48 elements is far beyond any memory; it keeps numel * 8 bytes from overflowing.
    if (d > 0 && numel > (int64_t{1} << 48) / d) {
      return Status::invalid(what + ": shape has too many elements");
    }
    numel *= d;
    s.push_back(d);
  }
  return s;
}

void unpack_4bit(const uint8_t* src, int64_t n, bool is_signed, uint8_t* dst) {
  for (int64_t i = 0; i < n; ++i) {
    uint8_t nib = static_cast<uint8_t>((src[i / 2] >> (4 * (i % 2))) & 0x0f);
    dst[i] = is_signed ? static_cast<uint8_t>(static_cast<int8_t>(nib << 4) >> 4) : nib;
  }
}

void pack_4bit(const uint8_t* src, int64_t n, uint8_t* dst) {
  for (int64_t i = 0; i < (n + 1) / 2; ++i) dst[i] = 0;
  for (int64_t i = 0; i < n; ++i) {
    dst[i / 2] = static_cast<uint8_t>(dst[i / 2] | ((src[i] & 0x0f) << (4 * (i % 2))));
  }
}

// The typed field that carries a dtype, and how many entries it holds.
struct TypedField {
  const char* name;
  int count;
};
TypedField typed_field(const pb::TensorProto& p, DType t) {
  switch (t) {
    case DType::kFloat32: return {"float_data", p.float_data_size()};
    case DType::kFloat64: return {"double_data", p.double_data_size()};
    case DType::kInt64: return {"int64_data", p.int64_data_size()};
    case DType::kUInt32: case DType::kUInt64: return {"uint64_data", p.uint64_data_size()};
    default: return {"int32_data", p.int32_data_size()};
  }
}

// Copies a typed repeated field into the tensor (sizes already checked), narrowing each entry to
// the element type E.
template <class E, class Field>
void copy_field(const Field& field, Tensor& t) {
  E* dst = static_cast<E*>(t.raw_data());
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<E>(field.Get(i));
}

void copy_typed_fields(const pb::TensorProto& p, Tensor& t) {
  switch (t.dtype()) {
    case DType::kFloat32: return copy_field<float>(p.float_data(), t);
    case DType::kFloat64: return copy_field<double>(p.double_data(), t);
    case DType::kInt64: return copy_field<int64_t>(p.int64_data(), t);
    case DType::kUInt64: return copy_field<uint64_t>(p.uint64_data(), t);
    case DType::kUInt32: return copy_field<uint32_t>(p.uint64_data(), t);
    case DType::kInt32: return copy_field<int32_t>(p.int32_data(), t);
    case DType::kInt16: case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16:
      return copy_field<uint16_t>(p.int32_data(), t);
    case DType::kInt4: case DType::kUInt4: {
      // One packed byte per entry.
      std::string bytes(static_cast<size_t>(p.int32_data_size()), '\0');
      for (int i = 0; i < p.int32_data_size(); ++i) bytes[static_cast<size_t>(i)] = static_cast<char>(p.int32_data(i));
      copy_serialized_bytes(bytes, t);
      return;
    }
    default:  // 8-bit types (int8, uint8, bool, float8)
      return copy_field<uint8_t>(p.int32_data(), t);
  }
}

bool has_typed_data(const pb::TensorProto& p) {
  return p.float_data_size() || p.int32_data_size() || p.int64_data_size() ||
         p.double_data_size() || p.uint64_data_size() || p.string_data_size();
}

}  // namespace

void copy_serialized_bytes(std::string_view src, Tensor& dst) {
  if (is_4bit(dst.dtype())) {
    unpack_4bit(reinterpret_cast<const uint8_t*>(src.data()), dst.numel(),
                dst.dtype() == DType::kInt4, static_cast<uint8_t*>(dst.raw_data()));
  } else if (!src.empty()) {
    std::memcpy(dst.raw_data(), src.data(), src.size());
  }
}

Status append_tensor_bytes(const Tensor& t, std::string* out) {
  QUENCH_ASSIGN_OR_RETURN(Tensor plain, to_plain(t));
  if (dtype_size(plain.dtype()) == 0) {
    return Status::internal("cannot serialize a tensor of type " +
                            std::string(dtype_name(plain.dtype())));
  }
  const size_t n = static_cast<size_t>(serialized_nbytes(plain.dtype(), plain.numel()));
  const size_t old = out->size();
  out->resize(old + n);
  if (n == 0) return Status();
  uint8_t* dst = reinterpret_cast<uint8_t*>(out->data() + old);
  if (is_4bit(plain.dtype())) {
    pack_4bit(static_cast<const uint8_t*>(plain.raw_data()), plain.numel(), dst);
  } else {
    std::memcpy(dst, plain.raw_data(), n);
  }
  return Status();
}

Result<Tensor> tensor_from_proto(const pb::TensorProto& p, const std::string& base_dir,
                                 const std::string& what) {
  QUENCH_ASSIGN_OR_RETURN(DType dtype, proto_dtype(p.data_type(), what));
  QUENCH_ASSIGN_OR_RETURN(Shape shape, proto_shape(p, what));
  if (p.has_segment()) {
    return Status::unsupported(what + ": segmented tensors (TensorProto.segment) are not supported");
  }
  // Sizes are checked against the data present before allocating: a corrupt file must not be
  // able to ask for terabytes.
  const int64_t numel = shape_numel(shape);
  const int64_t expected = serialized_nbytes(dtype, numel);
  if (p.data_location() == pb::TensorProto::EXTERNAL) {
    QUENCH_ASSIGN_OR_RETURN(std::string bytes, read_external_data(p, base_dir, what, expected));
    Tensor t = Tensor::empty(dtype, std::move(shape));
    copy_serialized_bytes(bytes, t);
    return t;
  }
  if (p.has_raw_data()) {
    if (static_cast<int64_t>(p.raw_data().size()) != expected) {
      return Status::invalid(what + ": raw_data holds " + std::to_string(p.raw_data().size()) +
                             " bytes, expected " + std::to_string(expected) + " for " +
                             describe_dims(dtype, shape));
    }
    Tensor t = Tensor::empty(dtype, std::move(shape));
    copy_serialized_bytes(p.raw_data(), t);
    return t;
  }
  if (!has_typed_data(p) && numel > 0) {
    return Status::invalid(what + ": holds no data (expected " + std::to_string(numel) +
                           " values for " + describe_dims(dtype, shape) + ")");
  }
  const TypedField field = typed_field(p, dtype);
  // 4-bit types: one packed byte (two elements) per entry.
  const int64_t entries = is_4bit(dtype) ? expected : numel;
  if (field.count != entries) {
    return Status::invalid(what + ": " + field.name + " holds " + std::to_string(field.count) +
                           " values, expected " + std::to_string(entries) +
                           (is_4bit(dtype) ? " (two elements per entry)" : "") + " for " +
                           describe_dims(dtype, shape));
  }
  Tensor t = Tensor::empty(dtype, std::move(shape));
  copy_typed_fields(p, t);
  return t;
}

Status tensor_header_to_proto(const Tensor& t, pb::TensorProto* p) {
  if (!t.defined()) return Status::invalid("cannot serialize an empty (undefined) tensor");
  for (int64_t d : t.shape()) p->add_dims(d);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  return Status();
}

Status tensor_to_proto(const Tensor& t, pb::TensorProto* p) {
  QUENCH_RETURN_IF_ERROR(tensor_header_to_proto(t, p));
  std::string* raw = p->mutable_raw_data();
  raw->clear();
  return append_tensor_bytes(t, raw);
}

pb::TensorProto tensor_metadata(const pb::TensorProto& p) {
  pb::TensorProto meta;
  if (p.has_doc_string()) meta.set_doc_string(p.doc_string());
  if (!p.unknown_fields().empty()) meta.mutable_unknown_fields()->MergeFrom(p.unknown_fields());
  return meta;
}

}  // namespace detail

namespace {
Result<Tensor> parse_tensor_in(std::string_view bytes, const std::string& base_dir) {
  detail::pb::TensorProto p;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::invalid("not an ONNX tensor: failed to parse TensorProto (truncated or corrupt "
                           "file?)");
  }
  std::string what = p.name().empty() ? std::string("tensor") : "tensor '" + p.name() + "'";
  return detail::tensor_from_proto(p, base_dir, what);
}
}  // namespace

Result<Tensor> parse_tensor(std::string_view bytes) { return parse_tensor_in(bytes, ""); }

Result<Tensor> load_tensor(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  Result<Tensor> t = parse_tensor_in(bytes, detail::parent_dir(path));
  if (!t.ok()) return t.status().with_context(path);
  return t;
}

Result<std::string> serialize_tensor(const Tensor& tensor, const std::string& name) {
  detail::pb::TensorProto p;
  QUENCH_RETURN_IF_ERROR(detail::tensor_to_proto(tensor, &p));
  if (!name.empty()) p.set_name(name);
  std::string out;
  if (!p.SerializeToString(&out)) {
    return Status::invalid("tensor '" + name + "' (" + tensor.describe() +
                           ") cannot be serialized: over protobuf's 2 GB limit?");
  }
  return out;
}

}  // namespace quench::onnx
