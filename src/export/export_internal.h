// quench export (internal): helpers shared by the exporters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "ir/graph.h"
#include "sim/quantsim.h"

namespace quench::export_internal {

// Checks that the QuantizedModel has a model and that every point names one of its values, and
// that enabled points with an encoding carry a valid one.
Status check_quantized_model(const QuantizedModel& qm, const char* format);

// An enabled point with an encoding: what every exporter writes.
inline bool is_active(const QuantPoint& p) { return p.enabled && p.encoding.has_value(); }

// The spec a point applies, or null when it applies none: disabled, or an integer point without an
// encoding (not calibrated; an int32 bias whose input is float). Float16 / bfloat16 points apply
// their format with or without an encoding.
const QuantSpec* applied_spec(const QuantPoint& p);

// "weights 'conv1.weight' of node 'conv1'" / "activation 'relu1'": the place in messages.
std::string point_label(const QuantPoint& p);

// fix_pos of parameter i when the scale is a power of two (2^-fix_pos), from Encoding::fix_pos or
// from the scale itself.
std::optional<int32_t> fix_pos_of(const Encoding& e, int64_t i);

// AIMET offset: x = (q_unsigned + offset) * scale, q_unsigned = q - qmin_signed_full; i.e.
// -zero_point (unsigned grid) or -zero_point - 2^(bits-1) (signed grid).
int64_t aimet_offset(const Encoding& e, int64_t i);

// Serializes with 2-space indentation and writes atomically.
Status write_json_atomic(const std::string& path, const nlohmann::ordered_json& j);

// A file-name stem for a node or value name: characters outside [A-Za-z0-9_.-] become '_'.
std::string file_stem(const std::string& name);

// The encoding in force on the data input (slot `slot`) of node `node_name`: a point on that
// input (layer-input placement), on the value it reads, or on the value that value was copied or
// reshaped from (ops that keep their input's grid). Null when the input is not quantized.
const Encoding* input_encoding(const QuantizedModel& qm, const std::string& node_name, int slot = 0);

// A value name not yet used in `g` (base, base_1, base_2, ...); `taken` holds names handed out
// but not yet added.
std::string unique_value_name(const Graph& g, const std::string& base);

}  // namespace quench::export_internal
