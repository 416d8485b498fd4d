// quench runtime: Gemm / MatMul geometry and the plain reference kernels.
//
//   Gemm:   Y = act(alpha * op(A) * op(B) + beta * C), op = transpose when transA / transB, A and B
//           2-D, C unidirectionally broadcast to [M, N].
//   MatMul: numpy matmul: 1-D operands are promoted ([K] -> [1, K] for A, [K, 1] for B) and the
//           promoted dimension dropped from the result; batch dimensions broadcast.
//
//   QUENCH_ASSIGN_OR_RETURN(MatMulGeometry g, matmul_geometry(node, a.shape(), b.shape()));
//   matmul_ref(g, a.data<float>(), b.data<float>(), y.data<float>(), act);
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "runtime/kernels/dnnl_kernels.h"

namespace quench {

struct GemmGeometry {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1.0f, beta = 1.0f;
  bool has_c = false;
  Shape c_shape;                    // C's shape padded to rank 2 with leading 1s ([] when no C)
  int64_t c_row_stride = 0;         // element strides of C viewed as [M, N] (0 = broadcast)
  int64_t c_col_stride = 0;
};

Result<GemmGeometry> gemm_geometry(const Node& node, const Shape& a, const Shape& b, const Shape* c);
// c may be null (no C or beta == 0).
void gemm_ref(const GemmGeometry& g, const float* a, const float* b, const float* c, float* y,
              const FusedActivation& act);

struct MatMulGeometry {
  Shape batch;             // broadcast batch shape
  Shape a_batch, b_batch;  // A's and B's batch dims, padded to batch.size() with leading 1s
  int64_t M = 0, N = 0, K = 0;
  Shape dst_shape;         // numpy result shape (promoted 1-D dims dropped)
};

Result<MatMulGeometry> matmul_geometry(const Node& node, const Shape& a, const Shape& b);
void matmul_ref(const MatMulGeometry& g, const float* a, const float* b, float* y,
                const FusedActivation& act);

}  // namespace quench
