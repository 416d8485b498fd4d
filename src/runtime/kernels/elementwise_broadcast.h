// Iteration over the output of a broadcasting element-wise op in contiguous runs.
//
// Broadcasting is planned once per call: dimensions of size 1 in the output are dropped and
// neighbouring dimensions that every input walks contiguously (or every input repeats) are merged.
// [N, C, H, W] + [C, 1, 1] becomes dims [N*C, H*W] with strides {HW, 1} and {1, 0}, so the kernel
// runs N*C inner loops of H*W elements with the channel value held in a register. The inner stride
// of every input is 0 or 1, which lets the run functions below be plain loops that the compiler
// vectorizes. Same-shape inputs collapse to one dimension.
//
//   BroadcastPlan plan = plan_broadcast(out.shape(), {&a.shape(), &b.shape()});
//   parallel_runs<2>(plan, [&](int64_t o, std::array<int64_t, 2> in, int64_t n) {
//     binary_run(pa + in[0], plan.inner_stride(0), pb + in[1], plan.inner_stride(1), po + o, n, op);
//   });
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace quench {

struct BroadcastPlan {
  std::vector<int64_t> dims;                  // collapsed output dims, outermost first; never empty
  std::vector<std::vector<int64_t>> strides;  // per input, element stride of each dim (0 = repeated)
  int64_t numel = 0;                          // output elements

  int64_t inner() const { return dims.back(); }
  int64_t inner_stride(size_t input) const { return strides[input].back(); }
};

// The plan for inputs of the given shapes broadcast to out_shape (shapes already checked).
BroadcastPlan plan_broadcast(const Shape& out_shape, const std::vector<const Shape*>& inputs);

// Elements per thread below which element-wise loops stay on one thread.
constexpr int64_t kElementwiseGrain = 1 << 15;

// Calls run(out_offset, input_offsets, count) for the contiguous runs covering output elements
// [begin, end): elements out_offset .. out_offset+count-1 read input k at
// input_offsets[k] + i * inner_stride(k).
template <size_t N, class Run>
void for_each_run(const BroadcastPlan& plan, int64_t begin, int64_t end, Run&& run) {
  const size_t rank = plan.dims.size();
  const int64_t inner = plan.inner();
  std::array<int64_t, N> step{};
  for (size_t k = 0; k < N; ++k) step[k] = plan.strides[k][rank - 1];
  // Decompose `begin` once; afterwards the outer coordinates advance like an odometer.
  std::vector<int64_t> coord(rank, 0);
  std::array<int64_t, N> base{};
  int64_t rest = begin / inner;
  int64_t col = begin % inner;
  for (size_t d = rank - 1; d-- > 0;) {
    coord[d] = rest % plan.dims[d];
    rest /= plan.dims[d];
    for (size_t k = 0; k < N; ++k) base[k] += coord[d] * plan.strides[k][d];
  }
  int64_t pos = begin;
  while (pos < end) {
    int64_t n = inner - col < end - pos ? inner - col : end - pos;
    std::array<int64_t, N> offs;
    for (size_t k = 0; k < N; ++k) offs[k] = base[k] + col * step[k];
    run(pos, offs, n);
    pos += n;
    col = 0;
    if (pos >= end) break;
    for (size_t d = rank - 1; d-- > 0;) {
      for (size_t k = 0; k < N; ++k) base[k] += plan.strides[k][d];
      if (++coord[d] < plan.dims[d]) break;
      for (size_t k = 0; k < N; ++k) base[k] -= plan.strides[k][d] * plan.dims[d];
      coord[d] = 0;
    }
  }
}

// for_each_run over the whole output, split statically across threads.
template <size_t N, class Run>
void parallel_runs(const BroadcastPlan& plan, Run&& run) {
  parallel_for(
      plan.numel, [&](int64_t begin, int64_t end) { for_each_run<N>(plan, begin, end, run); },
      kElementwiseGrain);
}

// out[i] = op(a[i * sa], b[i * sb]) for i < n, with sa, sb in {0, 1}. Each case is its own loop so
// that the repeated operand sits in a register and the loop vectorizes.
template <class A, class B, class R, class Op>
inline void binary_run(const A* a, int64_t sa, const B* b, int64_t sb, R* out, int64_t n, Op op) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
  } else if (sa) {
    const B bv = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
  } else if (sb) {
    const A av = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
  } else {
    const R v = op(*a, *b);
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  }
}

// out = op(a, b) with numpy broadcasting; out is allocated with the broadcast shape and may share
// its buffer with a or b when that input has the output's shape and element type.
template <class A, class B, class R, class Op>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  R* po = out.data<R>();
  if (a.shape() == b.shape()) {
    parallel_for(
        out.numel(),
        [&](int64_t begin, int64_t end) {
          binary_run(pa + begin, 1, pb + begin, 1, po + begin, end - begin, op);
        },
        kElementwiseGrain);
    return;
  }
  BroadcastPlan plan = plan_broadcast(out.shape(), {&a.shape(), &b.shape()});
  const int64_t sa = plan.inner_stride(0), sb = plan.inner_stride(1);
  parallel_runs<2>(plan, [&](int64_t o, const std::array<int64_t, 2>& in, int64_t n) {
    binary_run(pa + in[0], sa, pb + in[1], sb, po + o, n, op);
  });
}

}  // namespace quench
