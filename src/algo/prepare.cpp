// Graph preparation before quantization (algo/prepare.h).
//
// Steps:
//   1. Check the graph (verify_graph); a broken model is the user's to fix.
//   2. Constant folding (runtime/constant_folding.h): every deterministic node whose inputs are all
//      constants is run once and becomes an initializer, so that Constant nodes, transposed or
//      dequantized weights and reshaped constants look like plain weights to the later steps.
//   3. BatchNormalization folding (ir/passes.h fold_batchnorms) into the Conv, ConvTranspose, Gemm
//      or MatMul before it: W' = W * gamma / sqrt(var + eps), b' = (b - mean) * gamma /
//      sqrt(var + eps) + beta, per output channel (Jacob et al., "Quantization and Training of
//      Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018, section 3.2).
//      The BNs' gamma and beta are returned for high-bias absorption.
//   4. Optional ReLU6 -> ReLU (Clip(0, 6) -> Relu): cross-layer equalization rescales channels by
//      positive factors, which a ReLU commutes with and a clip at 6 does not (Nagel et al.,
//      "Data-Free Quantization Through Weight Equalization and Bias Correction", ICCV 2019,
//      section 4.1; vai_q's convert_relu6_to_relu).
//   5. Optional SiLU -> HardSwish (vai_q's convert_silu_to_hswish): x * Sigmoid(x) becomes
//      x * clamp(x / 6 + 1/2, 0, 1) (Howard et al., "Searching for MobileNetV3", ICCV 2019).
//   6. Re-sort and re-check the graph; a failure there is a bug in a pass (kInternal).
#include "algo/prepare.h"

#include "runtime/constant_folding.h"

namespace quench {

Result<PrepareReport> prepare_model(Model& model, const PrepareOptions& options) {
  if (!model.graph) return Status::invalid("prepare: no model");
  Graph& g = *model.graph;
  QUENCH_RETURN_IF_ERROR(verify_graph(g).with_context("prepare"));
  PrepareReport report;
  if (options.fold_constants) {
    ConstantFoldOptions co;
    co.num_threads = options.num_threads;
    QUENCH_ASSIGN_OR_RETURN(ConstantFoldReport c, fold_constants(model, co));
    report.constants_folded = c.folded;
    for (std::string& n : c.notes) report.notes.push_back(std::move(n));
  }
  if (options.fold_batchnorm) {
    BatchNormFoldReport b = fold_batchnorms(model);
    report.batchnorms_folded = static_cast<int>(b.folded.size());
    report.batchnorms_kept = b.kept;
    report.folded = std::move(b.folded);
    for (std::string& n : b.notes) report.notes.push_back(std::move(n));
  } else {
    for (const Node* n : g.nodes())
      report.batchnorms_kept += n->op_type == "BatchNormalization" && n->domain.empty();
  }
  if (options.convert_relu6_to_relu) {
    RewriteReport r = convert_relu6_to_relu(model);
    report.relu6_converted = r.converted;
    for (std::string& n : r.notes) report.notes.push_back(std::move(n));
  }
  if (options.convert_silu_to_hswish) {
    RewriteReport r = convert_silu_to_hswish(model);
    report.silu_converted = r.converted;
    for (std::string& n : r.notes) report.notes.push_back(std::move(n));
  }
  Status sorted = g.topological_sort();
  if (sorted.ok()) sorted = verify_graph(g);
  if (!sorted.ok()) return Status::internal("prepare: a pass broke the graph: " + sorted.message());
  return report;
}

PrepareOptions prepare_options_from(const AlgorithmOptions& algorithms) {
  PrepareOptions o;
  o.fold_batchnorm = algorithms.fold_batchnorm;
  o.convert_relu6_to_relu = algorithms.convert_relu6_to_relu;
  o.convert_silu_to_hswish = algorithms.convert_silu_to_hswish;
  o.fold_constants = true;
  return o;
}

}  // namespace quench
