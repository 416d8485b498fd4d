// quench runtime: the kernel interface.
//
// A kernel implements one ONNX op for one element type. The executor creates one OpKernel per node
// (and per input element type seen), once, through the factory in the registry table
// (runtime/registry.cpp), then calls compute() on every run. A kernel that needs nothing but the
// node's attributes is a plain function wrapped by fn_kernel<>:
//
//   Status relu_f32(KernelContext& ctx) {
//     const Tensor& x = ctx.input(0);
//     Tensor& y = ctx.output_like(0, x);  // may reuse x's buffer when x dies here
//     ...
//     return Status();
//   }
//   // in the family's table: {"", "Relu", 6, kOpsetMax, DType::kFloat32, fn_kernel<relu_f32>}
//
// A kernel that prepares state (packed weights, oneDNN primitives) derives from OpKernel and reads
// constant inputs from KernelInfo.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace quench {

constexpr int kOpsetMax = 1 << 20;

// What a kernel may look at when it is created.
struct KernelInfo {
  const Node& node;
  int64_t opset = 0;  // opset version of the node's domain in the model
  // Per input slot: the constant tensor when that input is an initializer, else nullptr.
  std::vector<const Tensor*> constant_inputs;
  // Activation fused into this kernel by the executor (its op_type and attributes), or nullptr.
  // Only kernels whose KernelDef has kFusesActivation get one. The activation node's output is
  // written to this node's output 0.
  const Node* fused_activation = nullptr;

  const Tensor* constant_input(size_t i) const {
    return i < constant_inputs.size() ? constant_inputs[i] : nullptr;
  }
};

class KernelContext {
 public:
  KernelContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor>& outputs,
                std::vector<bool> reusable, bool blocked_output_allowed)
      : node_(node),
        inputs_(std::move(inputs)),
        outputs_(outputs),
        reusable_(std::move(reusable)),
        blocked_output_allowed_(blocked_output_allowed) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  // True when input i was given (not omitted as optional).
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Tensor& input(size_t i) const { return *inputs_[i]; }
  const Tensor* input_or_null(size_t i) const { return has_input(i) ? inputs_[i] : nullptr; }
  size_t num_outputs() const { return outputs_.size(); }
  // False for an omitted optional output: the kernel may skip computing it.
  bool output_wanted(size_t i) const { return i < node_.outputs.size() && node_.outputs[i]; }

  // Allocates output i (uninitialized) and returns it.
  Tensor& allocate_output(size_t i, DType dtype, Shape shape) {
    outputs_[i] = Tensor::empty(dtype, std::move(shape));
    return outputs_[i];
  }
  // Sets output i to an existing tensor (an alias of an input, for Identity / Reshape).
  void set_output(size_t i, Tensor t) { outputs_[i] = std::move(t); }
  Tensor& output(size_t i) { return outputs_[i]; }

  // True when input i dies at this node and nothing else holds its buffer: the kernel may write
  // its output into it (element-wise ops in place).
  bool can_reuse_input(size_t i) const { return i < reusable_.size() && reusable_[i]; }
  // Output i with the dtype and shape of `like`: input `like_index`'s own buffer when it can be
  // reused (then the output aliases the input), otherwise a new buffer.
  Tensor& output_like(size_t i, size_t like_index) {
    const Tensor& like = input(like_index);
    if (can_reuse_input(like_index) && like.is_plain()) {
      outputs_[i] = like;
      return outputs_[i];
    }
    return allocate_output(i, like.dtype(), like.shape());
  }

  // True when the executor lets this kernel leave output 0 in a runtime layout (all its consumers
  // accept one, it is not a graph output and no tap watches it).
  bool blocked_output_allowed() const { return blocked_output_allowed_; }

  // "Conv 'conv1': " + message, as an invalid-input status.
  Status invalid(const std::string& message) const {
    return Status::invalid(node_.label() + ": " + message);
  }
  Status unsupported(const std::string& message) const {
    return Status::unsupported(node_.label() + ": " + message);
  }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor>& outputs_;
  std::vector<bool> reusable_;
  bool blocked_output_allowed_ = false;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual Status compute(KernelContext& ctx) = 0;
};

using KernelFactory = Result<std::unique_ptr<OpKernel>> (*)(const KernelInfo& info);
using KernelFn = Status (*)(KernelContext& ctx);

namespace detail {
template <KernelFn F>
class FnKernel final : public OpKernel {
 public:
  Status compute(KernelContext& ctx) override { return F(ctx); }
};
}  // namespace detail

template <KernelFn F>
Result<std::unique_ptr<OpKernel>> fn_kernel(const KernelInfo&) {
  return std::unique_ptr<OpKernel>(new detail::FnKernel<F>());
}

// Factory for an OpKernel subclass constructed from KernelInfo (constructor may not fail; do
// validation in compute or write a custom factory).
template <class K>
Result<std::unique_ptr<OpKernel>> class_kernel(const KernelInfo& info) {
  return std::unique_ptr<OpKernel>(new K(info));
}

enum KernelFlags : uint32_t {
  kNoFlags = 0,
  kAcceptsBlocked = 1u << 0,   // inputs may arrive in a runtime layout (see Tensor::layout)
  kFusesActivation = 1u << 1,  // can apply a following Relu/Clip/LeakyRelu/... itself
  // Element i of output 0 depends only on element i of each same-shape input (other inputs are
  // scalars), and the op maps finite values to finite values. When the inputs share one runtime
  // layout, the executor runs the kernel on plain 1-D views of their whole buffers and gives
  // output 0 that layout, so residual Adds and activations between convolutions need no reorder.
  kElementwise = 1u << 2,
};

// One row of the registry table.
struct KernelDef {
  const char* domain;   // "" for the default ONNX domain, "com.microsoft" ...
  const char* op_type;
  int since_version;    // first opset this kernel implements
  int end_version;      // last opset (inclusive); kOpsetMax when still current
  DType dtype;          // element type of input `type_input`; kUndefined matches any type
  KernelFactory create;
  int type_input = 0;   // which input's dtype selects the kernel
  uint32_t flags = kNoFlags;
};

}  // namespace quench
