// External data: tensors whose bytes live in a separate file next to the model (models over
// protobuf's 2 GB limit). A TensorProto with data_location EXTERNAL carries key/value pairs:
// "location" (a path relative to the model's folder), "offset" and "length" (bytes; length
// defaults to the rest of the file) and an optional "checksum" (SHA-1, not checked).
//
// A location is a path an attacker can choose, so it must stay inside the model's folder: absolute
// paths and '..' components are refused (as onnxruntime and onnx.checker do).
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include "onnx/onnx_io.h"
#include "onnx/proto_internal.h"

namespace quench::onnx {
namespace detail {

namespace {

struct ExternalRef {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;  // -1: to the end of the file
};

Result<int64_t> parse_count(const std::string& key, const std::string& text,
                            const std::string& what) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) {
    return Status::invalid(what + ": external data " + key + " '" + text +
                           "' is not a non-negative integer");
  }
  return v;
}

Status check_location(const std::string& location, const std::string& what) {
  if (location.empty()) return Status::invalid(what + ": external data has no 'location'");
  bool absolute = location[0] == '/' || location[0] == '\\' ||
                  (location.size() > 1 && location[1] == ':');  // "C:\..." written on Windows
  bool dotdot = false;
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0) dotdot = true;
    start = end + 1;
  }
  if (absolute || dotdot) {
    return Status::invalid(what + ": external data location '" + location +
                           "' escapes the model's folder (absolute paths and '..' are refused)");
  }
  return Status();
}

Result<ExternalRef> parse_ref(const pb::TensorProto& p, const std::string& what) {
  ExternalRef ref;
  bool has_location = false;
  for (const pb::StringStringEntryProto& e : p.external_data()) {
    if (e.key() == "location") {
      ref.location = e.value();
      has_location = true;
    } else if (e.key() == "offset") {
      QUENCH_ASSIGN_OR_RETURN(ref.offset, parse_count("offset", e.value(), what));
    } else if (e.key() == "length") {
      QUENCH_ASSIGN_OR_RETURN(ref.length, parse_count("length", e.value(), what));
    }
  }
  if (!has_location) return Status::invalid(what + ": external data has no 'location' key");
  QUENCH_RETURN_IF_ERROR(check_location(ref.location, what));
  return ref;
}

}  // namespace

Result<std::string> read_external_data(const pb::TensorProto& p, const std::string& base_dir,
                                       const std::string& what, int64_t expected_bytes) {
  QUENCH_ASSIGN_OR_RETURN(ExternalRef ref, parse_ref(p, what));
  const std::string path = base_dir.empty() ? ref.location : base_dir + "/" + ref.location;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    return Status::not_found(what + ": external data file '" + path + "' cannot be opened (" +
                             std::strerror(errno) + ")");
  }
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  if (ref.offset > file_size) {
    return Status::invalid(what + ": external data offset " + std::to_string(ref.offset) +
                           " is past the end of '" + path + "' (" + std::to_string(file_size) +
                           " bytes)");
  }
  const int64_t length = ref.length < 0 ? file_size - ref.offset : ref.length;
  if (ref.offset + length > file_size) {
    return Status::invalid(what + ": external data needs bytes [" + std::to_string(ref.offset) +
                           ", " + std::to_string(ref.offset + length) + ") of '" + path +
                           "', which has only " + std::to_string(file_size) + " bytes");
  }
  if (length != expected_bytes) {
    return Status::invalid(what + ": external data length is " + std::to_string(length) +
                           " bytes, expected " + std::to_string(expected_bytes));
  }
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(ref.offset);
  if (length > 0 && !in.read(bytes.data(), static_cast<std::streamsize>(length))) {
    return Status::io_error(what + ": reading external data from '" + path + "' failed");
  }
  return bytes;
}

Status ExternalDataWriter::add(const Tensor& t, pb::TensorProto* p) {
  // Large tensors start on a page boundary so that a reader can mmap them (onnx's
  // save_as_external_data aligns the same way); small ones on a cache line.
  const int64_t nbytes = serialized_nbytes(t.dtype(), t.numel());
  const size_t align = nbytes >= (int64_t{1} << 20) ? 4096 : 64;
  data_.resize((data_.size() + align - 1) / align * align, '\0');
  const size_t offset = data_.size();
  QUENCH_RETURN_IF_ERROR(append_tensor_bytes(t, &data_));
  p->clear_raw_data();
  p->set_data_location(pb::TensorProto::EXTERNAL);
  auto add_entry = [&](const char* key, const std::string& value) {
    pb::StringStringEntryProto* e = p->add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  add_entry("location", location_);
  add_entry("offset", std::to_string(offset));
  add_entry("length", std::to_string(data_.size() - offset));
  return Status();
}

}  // namespace detail

int64_t external_data_threshold_for(int64_t inline_model_bytes, const SaveOptions& options) {
  if (options.external_data_threshold > 0) return options.external_data_threshold;
  return inline_model_bytes > kProtobufLimitBytes ? kAutoExternalMinBytes : 0;
}

}  // namespace quench::onnx
