#include <cmath>
#include <unordered_map>

#include "core/file_io.h"
#include "export/export.h"
#include "export/export_internal.h"

namespace quench {

const char* aimet_encoding_version_name(AimetEncodingVersion v) {
  return v == AimetEncodingVersion::k0_6_1 ? "0.6.1" : "1.0.0";
}

namespace export_internal {

std::string point_label(const QuantPoint& p) {
  std::string s = std::string(tensor_kind_name(p.kind)) + " '" + p.value + "'";
  if (!p.node.empty() && p.kind != TensorKind::kActivation) s += " of node '" + p.node + "'";
  return s;
}

const QuantSpec* applied_spec(const QuantPoint& p) {
  if (!p.enabled) return nullptr;
  if (p.encoding) return &p.encoding->spec;
  const NumberFormat f = p.config.spec.format;
  return f == NumberFormat::kFloat16 || f == NumberFormat::kBFloat16 ? &p.config.spec : nullptr;
}

Status check_quantized_model(const QuantizedModel& qm, const char* format) {
  const std::string where = std::string(format) + " export";
  if (!qm.model || !qm.model->graph) return Status::invalid(where + ": the QuantizedModel has no model");
  const Graph& g = *qm.model->graph;
  for (const QuantPoint& p : qm.points) {
    const Value* v = g.find_value(p.value);
    if (!v)
      return Status::invalid(where + ": " + point_label(p) + " is not a value of the model");
    if (!is_active(p)) continue;
    const Shape* shape = v->is_constant() ? &v->constant.shape() : nullptr;
    QUENCH_RETURN_IF_ERROR(p.encoding->validate(shape).with_context(where + ": " + point_label(p)));
  }
  return Status();
}

std::optional<int32_t> fix_pos_of(const Encoding& e, int64_t i) {
  const size_t k = static_cast<size_t>(i);
  if (k < e.fix_pos.size()) return e.fix_pos[k];
  if (k >= e.scale.size()) return std::nullopt;
  int exp = 0;
  const double m = std::frexp(static_cast<double>(e.scale[k]), &exp);  // scale = m * 2^exp
  if (m != 0.5) return std::nullopt;
  return -(exp - 1);  // scale = 2^(exp-1) = 2^-fix_pos
}

int64_t aimet_offset(const Encoding& e, int64_t i) {
  const int64_t zp = e.zero_point[static_cast<size_t>(i)];
  return e.spec.is_signed ? -zp - (int64_t{1} << (e.spec.bits - 1)) : -zp;
}

Status write_json_atomic(const std::string& path, const nlohmann::ordered_json& j) {
  std::string text;
  try {
    text = j.dump(2);
  } catch (const nlohmann::json::exception& ex) {
    // Non-UTF-8 tensor names are the only way to get here.
    return Status::invalid(path + ": cannot serialize the JSON (" + ex.what() + ")");
  }
  text += '\n';
  return write_file_atomic(path, text);
}

std::string file_stem(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

const Encoding* input_encoding(const QuantizedModel& qm, const std::string& node_name, int slot) {
  std::unordered_map<std::string, const QuantPoint*> by_value;
  for (const QuantPoint& p : qm.points)
    if (p.kind == TensorKind::kInput || p.kind == TensorKind::kActivation) by_value[p.value] = &p;
  const Node* node = nullptr;
  for (const Node* n : qm.model->graph->nodes())
    if (n->name == node_name) node = n;
  if (!node || !node->input(static_cast<size_t>(slot))) return nullptr;
  const Value* v = node->input(static_cast<size_t>(slot));
  for (int depth = 0; v && depth < 64; ++depth) {
    auto it = by_value.find(v->name);
    if (it != by_value.end()) return is_active(*it->second) ? &*it->second->encoding : nullptr;
    // QuantSim's per-consumer copies and grid-keeping ops (Reshape, MaxPool...) pass the grid on.
    if (!v->producer) return nullptr;
    const std::string& op = v->producer->op_type;
    if (op != "Identity" && !op_keeps_input_grid(op)) return nullptr;
    v = v->producer->input(0);
  }
  return nullptr;
}

std::string unique_value_name(const Graph& g, const std::string& base) {
  if (!g.find_value(base)) return base;
  for (int k = 1;; ++k) {
    std::string name = base + "_" + std::to_string(k);
    if (!g.find_value(name)) return name;
  }
}

}  // namespace export_internal
}  // namespace quench
