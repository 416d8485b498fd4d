// quench runtime: the executor.
//
// Runs a Model on the CPU. create() checks that every node has a kernel (naming each unsupported op
// and node) and plans the run: the order of nodes, the last use of every value (its buffer is freed
// right after, so peak memory stays near the largest live set), which activations fuse into the
// convolution or matrix product before them, and where tensors may stay in oneDNN's blocked layout
// between consecutive convolutions.
//
// The tap sees every value the executor produces, graph inputs included, in execution order, and
// may replace it: quantization simulation and calibration hang off it. While a tap is set, fusion
// and blocked layouts are off for the values it sees, so that it sees exactly the ONNX values, in
// plain layout; a tap with a watch list sees only those values and keeps the fast plan when it
// can (set_tap). With no tap set the check costs one branch per node.
//
//   QUENCH_ASSIGN_OR_RETURN(auto exec, Executor::create(model, {.num_threads = 2}));
//   exec->set_tap([](const TapEvent& e) {
//     if (e.producer && e.producer->op_type == "Relu") observe(e.name, *e.tensor);
//     return Status();
//   });
//   QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, exec->run({{"input", x}}));
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace quench {

struct ExecutorOptions {
  int num_threads = 0;   // intra-op threads; <= 0 means all cores
  bool optimize = true;  // fusion and blocked layouts (results equal up to float reassociation)
  bool profile = false;  // time every kernel call (RunStats::op_seconds)
};

struct TapEvent {
  std::string_view name;   // the value's name
  const Node* producer;    // null for a graph input
  int output_index;        // index among the producer's outputs (0 for graph inputs)
  Tensor* tensor;          // plain; assign a new tensor to *tensor to replace the value
                           // downstream (writing into its buffer is not enough: the tensor may
                           // be a plain copy of a blocked value)
  // True when *tensor holds the value's elements in another order, flattened to 1-D: the raw
  // buffer of a blocked value without padding, given for a value in set_tap's `any_order` list.
  // Such a tensor must not be replaced; it is a view of the value's own buffer (which a kernel
  // made for this value alone), so writing into it changes the value downstream, element by
  // element (a per-tensor fake quantizer).
  bool any_order = false;
};
using Tap = std::function<Status(const TapEvent&)>;

struct RunStats {
  int64_t peak_tensor_bytes = 0;  // peak bytes held by tensors during the last run (weights excluded)
  double seconds = 0.0;           // wall time of the last run
  // With ExecutorOptions::profile: seconds per op type in the last run, fused activations counted
  // with the op they were fused into ("Conv+Relu").
  std::vector<std::pair<std::string, double>> op_seconds;
};

class Executor {
 public:
  using Feeds = std::vector<std::pair<std::string, Tensor>>;

  static Result<std::unique_ptr<Executor>> create(std::shared_ptr<const Model> model,
                                                  ExecutorOptions options = {});
  ~Executor();

  // Runs with the given graph inputs (by name; every non-initializer input must be fed, with
  // a dtype and a shape matching the model's declaration where it gives one). Returns the graph
  // outputs in graph order.
  Result<std::vector<Tensor>> run(const Feeds& feeds);
  // Runs and returns the named values (graph outputs or intermediates) in the given order, as
  // plain tensors. The fast plan serves them when it computes every one (none fused into a
  // convolution or bypassed); otherwise the run takes the plain plan.
  Result<std::vector<Tensor>> run(const Feeds& feeds, const std::vector<std::string>& fetches);

  // An empty function removes the tap. With a `watch` list the tap is called only for those
  // values, and the run keeps the fast plan (fusion, blocked layouts) when every watched value is
  // still materialized there (not fused into a convolution, not bypassed): the tap then gets a
  // plain copy of a blocked value, and what it assigns is read downstream. Otherwise the run falls
  // back to the plain plan, as with no watch list.
  // `any_order` names watched values whose element order the tap does not need (min / max,
  // histograms): a blocked one without padding reaches the tap as its raw buffer, with no copy.
  void set_tap(Tap tap, std::vector<std::string> watch = {},
               std::vector<std::string> any_order = {});
  bool has_tap() const;

  const Model& model() const;
  const RunStats& last_run_stats() const;
  const ExecutorOptions& options() const;

  // Ops of the model with no kernel, as "OpType (node 'name')" strings; empty when all are
  // supported. Used by `quench inspect` without failing.
  static std::vector<std::string> unsupported_ops(const Model& model);

 private:
  struct Impl;
  explicit Executor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quench
