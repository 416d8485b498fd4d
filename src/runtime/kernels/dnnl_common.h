// quench runtime: oneDNN plumbing for the kernel files (conv.cpp, gemm.cpp, pool.cpp) and for
// AdaRound's per-layer problem (algo/adaround_layer.cpp), the one user outside src/runtime/kernels
// (it pulls in oneDNN, which only quench_runtime and quench_algo link).
//
//   dnnl::memory::desc md = tensor_md(x);            // plain row-major, or x's blocked layout
//   dnnl::memory src = make_memory(md, x.raw_data());
//   dnnl::primitive_attr attr = make_attr(act);      // user scratchpad + activation post-op
//   ...
//   execute(prim, pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, ...});   // + scratchpad, waits
//
// Every oneDNN C++ call may throw dnnl::error; kernel code catches it at its boundary and turns it
// into a Status (dnnl_error_status) or falls back to the reference kernel.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/tensor.h"
#include "runtime/kernel.h"
#include "runtime/kernels/dnnl_kernels.h"

namespace quench {

struct ConvGeometry;  // runtime/kernels/conv_ref.h

// The CPU engine, created once.
dnnl::engine& dnnl_engine();
// An in-order CPU stream for the calling thread.
dnnl::stream& dnnl_stream();

dnnl::memory::dims to_dims(const Shape& shape);
// Row-major float32 memory descriptor of a plain tensor of this shape.
dnnl::memory::desc plain_md(const Shape& shape);
// The descriptor of t: its DnnlLayout's, or plain_md(t.shape()).
dnnl::memory::desc tensor_md(const Tensor& t);
// An ONNX Conv / ConvTranspose weight as oneDNN sees weights: [G,] OC/G, IC/G, k... Conv's
// W [M, C/G, k] is that shape in row-major order; ConvTranspose's W [C, M/G, k] = [G][C/G][M/G][k]
// swaps OC and IC, so it is described with explicit strides.
dnnl::memory::desc conv_weights_md(const ConvGeometry& g);
bool is_plain_md(const dnnl::memory::desc& md);

inline dnnl::memory make_memory(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, dnnl_engine(), const_cast<void*>(data));
}

// A oneDNN layout kept in a Tensor (Tensor::layout()). One object is shared by every tensor a
// kernel produces for one shape, so the reorder primitive it builds for reorder_to_plain() is
// created once.
class DnnlLayout final : public TensorLayout {
 public:
  explicit DnnlLayout(dnnl::memory::desc md) : md_(std::move(md)) {}
  const dnnl::memory::desc& md() const { return md_; }
  std::string describe() const override;
  Status reorder_to_plain(const Tensor& src, Tensor& dst) const override;
  bool same_as(const TensorLayout& other) const override;

 private:
  dnnl::memory::desc md_;
  mutable std::mutex mu_;
  mutable std::optional<dnnl::reorder> to_plain_;
};

// A new tensor of `shape` laid out as `layout` (storage: layout->md().get_size() bytes).
Tensor make_blocked_tensor(const Shape& shape, const std::shared_ptr<const DnnlLayout>& layout);
// A scratch buffer of md.get_size() bytes (a Tensor, so it is counted in memory_stats()).
Tensor make_scratch_tensor(const dnnl::memory::desc& md);
// Where a primitive writes output 0 of `dst_shape`: a new output tensor in `keep_layout` when
// that is set, a scratch buffer of dst_md (kept alive in `scratch`) when a reorder to plain
// follows, else a new plain float32 output.
void* dst_pointer(KernelContext& ctx, const Shape& dst_shape,
                  const std::shared_ptr<const DnnlLayout>& keep_layout, bool reorder_follows,
                  const dnnl::memory::desc& dst_md, Tensor& scratch);

// Primitive attributes every kernel uses: user-managed scratchpad, plus the activation as
// eltwise post-op(s). Throws dnnl::error when oneDNN rejects it.
dnnl::primitive_attr make_attr(const FusedActivation& act);
void append_activation(dnnl::post_ops& ops, const FusedActivation& act);

// The calling thread's scratchpad, grown to md's size and reused by every primitive the thread
// runs (the executor runs one node at a time per thread). md is a primitive desc's
// scratchpad_desc().
dnnl::memory scratchpad_memory(const dnnl::memory::desc& md);

// Reorder src_md -> dst_md, executed on the given buffers. The primitive is cached by the caller.
dnnl::reorder make_reorder(const dnnl::memory::desc& src_md, const dnnl::memory::desc& dst_md);
void run_reorder(const dnnl::reorder& r, const dnnl::memory::desc& src_md, const void* src,
                 const dnnl::memory::desc& dst_md, void* dst);
// One-off reorder (creates the primitive; for first-use weight packing and the reference fallback).
void reorder_once(const dnnl::memory::desc& src_md, const void* src,
                  const dnnl::memory::desc& dst_md, void* dst);

// Executes prim with args plus the thread's scratchpad (scratch_md from its primitive desc), and
// waits.
void execute(const dnnl::primitive& prim, const dnnl::memory::desc& scratch_md,
             std::unordered_map<int, dnnl::memory> args);

// "oneDNN: <what>: <message> (status N)" as an internal error naming the node.
Status dnnl_error_status(const Node& node, const dnnl::error& e);

// True when the primitive oneDNN chose is its slow reference implementation, which quench's own
// reference kernels match in speed and beat in clarity.
bool is_reference_impl(const dnnl::primitive_desc_base& pd);

// A plain copy of t (t itself when plain): what the reference kernels consume.
Result<Tensor> plain_input(const Tensor& t);

}  // namespace quench
