// quench ONNX I/O: the only place that sees protobuf and the ONNX headers (Debian libonnx-dev).
//
// Import reads any ONNX model of opset 7 to 21 (default domain; other domains are kept as they are)
// into the IR: initializers, Constant nodes (kept as nodes), external data files (models over
// 2 GB), value_info, metadata. Export writes the IR back; import -> export -> import keeps every
// node, attribute and weight bit for bit. Parts of the format quench does not model are carried
// through as opaque bytes.
//
//   QUENCH_ASSIGN_OR_RETURN(Model m, onnx::load_model("resnet.onnx"));
//   QUENCH_RETURN_IF_ERROR(onnx::save_model(m, "out/resnet.onnx"));   // temp file + rename
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace quench::onnx {

// Reads a model file. External data is resolved relative to the model file's folder.
Result<Model> load_model(const std::string& path);
// Parses serialized ModelProto bytes; `base_dir` resolves external data ("" = current folder).
Result<Model> parse_model(std::string_view bytes, const std::string& base_dir = "");

struct SaveOptions {
  // Write initializers of at least this many bytes to an external data file "<model>.data" next
  // to the model. 0 = automatic: only when the model would exceed protobuf's 2 GB limit.
  int64_t external_data_threshold = 0;
};
// protobuf refuses messages over 2 GB - 1 byte.
inline constexpr int64_t kProtobufLimitBytes = 2147483647;
// In automatic mode, the smallest initializer that goes to the external data file.
inline constexpr int64_t kAutoExternalMinBytes = 1024;
// The threshold save_model uses, given the size the model would have with all data inline:
// options.external_data_threshold when set, else kAutoExternalMinBytes when the model would exceed
// kProtobufLimitBytes, else 0 (no external data).
int64_t external_data_threshold_for(int64_t inline_model_bytes, const SaveOptions& options);

// Serializes a model (all data inline; fails when over 2 GB: use save_model).
Result<std::string> serialize_model(const Model& model);
// Writes a model atomically (temporary file, then rename), with external data when needed.
Status save_model(const Model& model, const std::string& path, const SaveOptions& options = {});

// A single TensorProto (the .pb files of the ONNX backend tests).
Result<Tensor> load_tensor(const std::string& path);
Result<Tensor> parse_tensor(std::string_view bytes);
Result<std::string> serialize_tensor(const Tensor& tensor, const std::string& name = "");

// Compares two serialized models field by field after rewriting every tensor's typed data fields
// (float_data, int32_data, ...) as raw_data, so a model equals its re-export. Returns "" when they
// are equal, else a report of the differences (truncated to a few kB). Fields set to their default
// value count as unset; unknown fields (from newer ONNX versions) are compared; float attributes
// that are NaN on both sides are equal.
Result<std::string> diff_models(std::string_view a_bytes, std::string_view b_bytes);

}  // namespace quench::onnx
