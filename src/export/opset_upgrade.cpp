// Opset upgrade for the QDQ export.
//
// Default-domain ops whose meaning changed between opset 13 and 21 (ONNX Changelog); every other
// change in that range only adds types or optional attributes / inputs whose defaults keep the old
// behaviour (Reshape allowzero, Shape start / end, LSTM layout, Pad / Resize / AveragePool
// extensions, Cast saturate, ...), so those nodes are kept as they are.
//
//   op                         at   rewrite
//   Reduce{L1,L2,LogSum,LogSumExp,Max,Mean,Min,Prod,SumSquare}
//                              18   `axes` attribute -> int64 initializer input
//   Split                      18   no `split` input: num_outputs = number of outputs
//   RoiAlign                   16   default coordinate_transformation_mode became half_pixel:
//                                   write the old default (output_half_pixel) explicitly
//   GridSample                 20   mode "bilinear" -> "linear", "bicubic" -> "cubic"
//   DFT                        20   unsupported (axis attribute -> input, onesided rules)
//   GroupNormalization         21   unsupported (scale / bias per channel instead of per group)
//   BatchNormalization         14   training mode (more than one output): unsupported
#include <algorithm>
#include <array>
#include <string_view>

#include "export/export_internal.h"
#include "export/opset_upgrade.h"

namespace quench::export_internal {

namespace {

constexpr std::array<std::string_view, 9> kReduceAxesAt18 = {
    "ReduceL1",  "ReduceL2",  "ReduceLogSum",  "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd",   "ReduceSumSquare"};

bool is_default_domain(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

Status unsupported(const Node& n, int64_t from, int64_t to, const std::string& why) {
  return Status::unsupported("opset upgrade " + std::to_string(from) + " -> " + std::to_string(to) +
                             ": " + n.label() + ": " + why +
                             "; quench does not rewrite it (export with 8-bit encodings to keep "
                             "the model's opset)");
}

void erase_attr(Node& n, std::string_view name) {
  n.attributes.erase(std::remove_if(n.attributes.begin(), n.attributes.end(),
                                    [&](const Attribute& a) { return a.name == name; }),
                     n.attributes.end());
}

Attribute* find_attr(Node& n, std::string_view name) {
  for (Attribute& a : n.attributes)
    if (a.name == name) return &a;
  return nullptr;
}

Status upgrade_node(Graph& g, Node& n, int64_t from, int64_t to) {
  const std::string& op = n.op_type;
  const bool crosses_18 = from < 18 && to >= 18;
  if (crosses_18 && std::find(kReduceAxesAt18.begin(), kReduceAxesAt18.end(), op) !=
                        kReduceAxesAt18.end()) {
    const Attribute* axes = n.attr("axes");
    if (!axes) return Status();  // no axes: reduce over all axes in both versions
    std::vector<int64_t> values = axes->ints;
    Value* v = g.get_or_add_value(unique_value_name(g, (n.name.empty() ? op : n.name) + "_axes"));
    v->constant = Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
    v->dtype = DType::kInt64;
    v->has_shape = true;
    v->shape = {Dim{static_cast<int64_t>(values.size()), ""}};
    g.initializers.push_back(v);
    n.inputs.resize(1);
    n.inputs.push_back(v);
    erase_attr(n, "axes");
    return Status();
  }
  if (crosses_18 && op == "Split") {
    if (n.input(1) || n.has_attr("num_outputs")) return Status();
    Attribute a;
    a.name = "num_outputs";
    a.type = AttrType::kInt;
    a.i = static_cast<int64_t>(n.outputs.size());
    n.attributes.push_back(std::move(a));
    return Status();
  }
  if (from < 16 && to >= 16 && op == "RoiAlign") {
    if (n.has_attr("coordinate_transformation_mode")) return Status();
    Attribute a;
    a.name = "coordinate_transformation_mode";
    a.type = AttrType::kString;
    a.s = "output_half_pixel";
    n.attributes.push_back(std::move(a));
    return Status();
  }
  if (from < 20 && to >= 20 && op == "GridSample") {
    if (Attribute* mode = find_attr(n, "mode")) {
      if (mode->s == "bilinear") mode->s = "linear";
      if (mode->s == "bicubic") mode->s = "cubic";
    }
    return Status();
  }
  if (from < 20 && to >= 20 && op == "DFT")
    return unsupported(n, from, to, "DFT moved its axis attribute to an input at opset 20");
  if (from < 21 && to >= 21 && op == "GroupNormalization")
    return unsupported(n, from, to,
                       "GroupNormalization takes per-channel scale and bias from opset 21 "
                       "(per-group before)");
  if (from < 14 && to >= 14 && op == "BatchNormalization" && n.outputs.size() > 1)
    return unsupported(n, from, to,
                       "a BatchNormalization with running-statistics outputs (training mode) "
                       "changed meaning at opset 14");
  return Status();
}

Status upgrade_graph(Graph& g, int64_t from, int64_t to) {
  for (Node* n : g.nodes()) {
    for (Attribute& a : n->attributes) {
      if (a.g) QUENCH_RETURN_IF_ERROR(upgrade_graph(*a.g, from, to));
      for (auto& sub : a.graphs)
        if (sub) QUENCH_RETURN_IF_ERROR(upgrade_graph(*sub, from, to));
    }
    if (is_default_domain(*n)) QUENCH_RETURN_IF_ERROR(upgrade_node(g, *n, from, to));
  }
  g.rebuild_links();
  return Status();
}

}  // namespace

Status upgrade_opset(Model& model, int64_t target) {
  const int64_t from = model.opset("");
  if (from == target) return Status();
  if (from > target)
    return Status::unsupported("opset upgrade: the model's opset " + std::to_string(from) +
                               " is above the requested " + std::to_string(target));
  if (from < kMinUpgradableOpset)
    return Status::unsupported("opset upgrade: the model's default opset is " +
                               std::to_string(from) + "; quench upgrades from " +
                               std::to_string(kMinUpgradableOpset) + " or later only");
  QUENCH_RETURN_IF_ERROR(upgrade_graph(*model.graph, from, target));
  bool found = false;
  for (OpsetImport& o : model.opset_imports)
    if (o.domain.empty() || o.domain == "ai.onnx") {
      o.version = target;
      found = true;
    }
  if (!found) model.opset_imports.push_back({"", target});
  // IR version 10 brings INT4 / UINT4 (opset 21); 9 goes with opset 19 / 20, 8 with 18.
  const int64_t ir = target >= 21 ? 10 : target >= 19 ? 9 : 8;
  model.ir_version = std::max(model.ir_version, ir);
  return Status();
}

}  // namespace quench::export_internal
