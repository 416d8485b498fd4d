// quench runtime: what the oneDNN-backed kernels (Conv, ConvTranspose, Gemm, MatMul, pools) share
// with the executor, the tests and the benchmarks. This header does not include oneDNN; the oneDNN
// plumbing is in dnnl_common.h, which only the kernel .cpp files include.
//
// Fused activations. The executor may fold an activation node that follows a Conv / Gemm / MatMul
// into it (KernelInfo::fused_activation). FusedActivation is that activation reduced to a kind and
// two numbers; it is applied as a oneDNN eltwise post-op on the fast path and by apply() in the
// reference kernels:
//
//   QUENCH_ASSIGN_OR_RETURN(FusedActivation act, fused_activation_from_node(info.fused_activation));
//   for (float& v : row) v = act.apply(v);
//
// Kernel paths. Every kernel in these families has a oneDNN path and a plain reference path. The
// reference path runs when oneDNN cannot handle a case (MaxPool's Indices output, say) or when
// set_dnnl_enabled(false) was called before the kernel was created: the randomized tests and the
// benchmarks compare the two that way.
//
//   set_dnnl_enabled(false);   // kernels created from now on use only the reference loops
//
// Blocked layouts. A Conv (and a pool fed a blocked tensor) may leave its output in a oneDNN
// blocked layout when KernelContext::blocked_output_allowed(); such a tensor has a non-null
// Tensor::layout() whose reorder_to_plain() converts it (core's to_plain() calls that).
// dnnl_layout_name() names the layout for tests and logs ("plain" for a plain tensor).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace quench {

enum class ActivationKind {
  kNone,
  kRelu,         // max(x, 0)
  kLeakyRelu,    // x >= 0 ? x : alpha * x
  kClip,         // min(max(x, alpha), beta)
  kSigmoid,      // 1 / (1 + exp(-x))
  kTanh,
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kHardSwish,    // x * max(0, min(1, x / 6 + 0.5))
  kElu,          // x >= 0 ? x : alpha * (exp(x) - 1)
};

struct FusedActivation {
  ActivationKind kind = ActivationKind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;

  bool none() const { return kind == ActivationKind::kNone; }
  float apply(float x) const;
  void apply(float* data, int64_t n) const;  // in place
  std::string describe() const;              // "Clip(0, 6)"
};

// The activation a node computes. nullptr gives kNone. Fails with kUnsupported for an op that
// cannot be fused (naming it) and for a Clip whose min / max inputs are not constants.
Result<FusedActivation> fused_activation_from_node(const Node* node);

// Whether kernels created from now on may use oneDNN (default true). Process-wide; for tests and
// benchmarks.
void set_dnnl_enabled(bool enabled);
bool dnnl_enabled();

// Whether Conv kernels created from now on may use Winograd convolution for 3x3 stride-1 layers
// (default true): 1.5-2.4x faster than direct convolution there, with slightly larger rounding
// error (within 1e-4 of the output's scale). Process-wide.
void set_dnnl_winograd_enabled(bool enabled);
bool dnnl_winograd_enabled();

// How many times a kernel created with oneDNN enabled chose the reference loops for a shape
// (MaxPool Indices, oneDNN rejecting a case, ...). Tests use it to check that common cases do take
// the fast path.
int64_t dnnl_fallback_count();
void note_dnnl_fallback();

// "plain" for a plain tensor, else a description of its oneDNN layout (e.g. "oneDNN blocked
// [64, 32, 56, 56] strides ... inner 16c").
std::string dnnl_layout_name(const Tensor& t);

// True when a and b are both in one oneDNN layout (equal memory descriptors, so equal shapes).
// For element-wise kernels that want kAcceptsBlocked: with same-layout inputs and no broadcasting,
// element i of one buffer pairs with element i of the other, so the op can run over the whole
// buffers (storage_bytes() / element size elements, padding included) and give its output the
// same layout:
//   Tensor y = Tensor::with_layout(a.dtype(), a.shape(), a.layout(), a.storage_bytes());
// oneDNN zero-fills the padding of channel-blocked layouts; an op should keep it finite (Add, Mul,
// Relu, Clip, Sigmoid ... do; Log, Reciprocal, Div by the padding do not), because oneDNN
// multiplies padded input channels by zero weights.
bool dnnl_same_layout(const Tensor& a, const Tensor& b);

}  // namespace quench
