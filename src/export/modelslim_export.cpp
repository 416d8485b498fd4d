// modelslim-style quantization parameters (SPEC C "Outputs"; the arrays modelslim's
// Calibrator.export_param saves for every quantized Conv / Linear layer), one set of .npy files per
// weighted layer (a node with an enabled integer weight point), named after the node:
//
//   <layer>.input_scale.npy    float32 [n]     scale of the layer's data input (n = 1 per tensor)
//   <layer>.input_offset.npy   float32 [n]     its zero point (q = round(x / scale) + offset)
//   <layer>.weight_scale.npy   float32 [C]     weight scales (C = 1 per tensor, else channels)
//   <layer>.weight_offset.npy  float32 [C]     weight zero points
//   <layer>.quant_weight.npy   int8 (uint8 for unsigned grids, int16 / uint16 above 8 bits),
//                              the weight's shape: quantize(W, weight encoding)
//   quant_params.json          {"layers": {node: {"file_prefix", "op_type", "weight", "input",
//                                                 "w_bit", "a_bit"}}}
//
// <layer> is the node name with characters outside [A-Za-z0-9_.-] replaced by '_' (a suffix _1,
// _2... when two names collide); quant_params.json maps node names to prefixes. A layer whose
// input is not quantized gets no input_* files ("input": null in the index). modelslim writes
// offsets as floats; so does quench.
#include <filesystem>
#include <set>

#include "data/npy.h"
#include "export/export.h"
#include "export/export_internal.h"
#include "quant/quantize.h"

namespace quench {

namespace {

using export_internal::is_active;
using export_internal::point_label;
using nlohmann::ordered_json;

Tensor float_vector(const std::vector<float>& v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
}

Tensor float_vector(const std::vector<int32_t>& v) {
  std::vector<float> f(v.begin(), v.end());
  return float_vector(f);
}

// Files written so far; removed again unless commit() was called.
class WrittenFiles {
 public:
  ~WrittenFiles() {
    if (committed_) return;
    std::error_code ec;
    for (const std::string& f : files_) std::filesystem::remove(f, ec);
  }
  Status write(const std::string& path, const Tensor& t) {
    QUENCH_RETURN_IF_ERROR(write_npy(path, t));
    files_.push_back(path);
    return Status();
  }
  Status write_json(const std::string& path, const ordered_json& j) {
    QUENCH_RETURN_IF_ERROR(export_internal::write_json_atomic(path, j));
    files_.push_back(path);
    return Status();
  }
  void commit() { committed_ = true; }

 private:
  std::vector<std::string> files_;
  bool committed_ = false;
};

Status make_folder(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Status::io_error("modelslim export: cannot create folder '" + dir + "' (" +
                            ec.message() + ")");
  if (!std::filesystem::is_directory(dir, ec))
    return Status::io_error("modelslim export: '" + dir + "' exists and is not a folder");
  return Status();
}

}  // namespace

Status export_modelslim_params(const QuantizedModel& qm, const std::string& dir) {
  QUENCH_RETURN_IF_ERROR(export_internal::check_quantized_model(qm, "modelslim"));
  QUENCH_RETURN_IF_ERROR(make_folder(dir));
  const Graph& g = *qm.model->graph;
  WrittenFiles files;
  std::set<std::string> stems;
  ordered_json layers = ordered_json::object();
  for (const QuantPoint& p : qm.points) {
    if (p.kind != TensorKind::kWeight || !is_active(p) || !p.encoding->spec.is_int()) continue;
    if (layers.contains(p.node)) continue;
    const Encoding& we = *p.encoding;
    const Value* w = g.find_value(p.value);
    if (!w->is_constant())
      return Status::invalid("modelslim export: " + point_label(p) + " is not an initializer");
    auto q = quantize(w->constant, we);
    if (!q.ok()) return q.status().with_context("modelslim export: " + point_label(p));

    std::string stem = export_internal::file_stem(p.node.empty() ? p.value : p.node);
    for (int k = 1; stems.count(stem); ++k)
      stem = export_internal::file_stem(p.node) + "_" + std::to_string(k);
    stems.insert(stem);
    const std::string prefix = dir + "/" + stem;

    const Encoding* ie = export_internal::input_encoding(qm, p.node, 0);
    if (ie && !ie->spec.is_int()) ie = nullptr;
    if (ie) {
      QUENCH_RETURN_IF_ERROR(files.write(prefix + ".input_scale.npy", float_vector(ie->scale)));
      QUENCH_RETURN_IF_ERROR(
          files.write(prefix + ".input_offset.npy", float_vector(ie->zero_point)));
    }
    QUENCH_RETURN_IF_ERROR(files.write(prefix + ".weight_scale.npy", float_vector(we.scale)));
    QUENCH_RETURN_IF_ERROR(files.write(prefix + ".weight_offset.npy", float_vector(we.zero_point)));
    QUENCH_RETURN_IF_ERROR(files.write(prefix + ".quant_weight.npy", q.value()));

    const Node* node = nullptr;
    for (const Node* n : g.nodes())
      if (n->name == p.node) node = n;
    const Value* in = node ? node->input(0) : nullptr;
    layers[p.node] = {{"file_prefix", stem},
                      {"op_type", p.op_type},
                      {"weight", p.value},
                      {"input", ie && in ? ordered_json(in->name) : ordered_json(nullptr)},
                      {"w_bit", we.spec.bits},
                      {"a_bit", ie ? ordered_json(ie->spec.bits) : ordered_json(nullptr)}};
  }
  QUENCH_RETURN_IF_ERROR(files.write_json(dir + "/quant_params.json", {{"layers", layers}}));
  files.commit();
  return Status();
}

}  // namespace quench
