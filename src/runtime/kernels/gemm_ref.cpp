// Gemm / MatMul: shape resolution and the reference loops. See gemm_ref.h.
#include "runtime/kernels/gemm_ref.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"

namespace quench {

Result<GemmGeometry> gemm_geometry(const Node& node, const Shape& a, const Shape& b, const Shape* c) {
  GemmGeometry g;
  g.trans_a = node.attr_int("transA", 0) != 0;
  g.trans_b = node.attr_int("transB", 0) != 0;
  g.alpha = node.attr_float("alpha", 1.0f);
  g.beta = node.attr_float("beta", 1.0f);
  if (a.size() != 2 || b.size() != 2) {
    return Status::invalid(node.label() + ": A " + shape_to_string(a) + " and B " +
                           shape_to_string(b) + " must both be 2-D");
  }
  g.M = g.trans_a ? a[1] : a[0];
  g.K = g.trans_a ? a[0] : a[1];
  const int64_t kb = g.trans_b ? b[1] : b[0];
  g.N = g.trans_b ? b[0] : b[1];
  if (kb != g.K) {
    return Status::invalid(node.label() + ": A " + shape_to_string(a) + " (transA=" +
                           std::to_string(g.trans_a) + ") and B " + shape_to_string(b) +
                           " (transB=" + std::to_string(g.trans_b) +
                           ") have different inner dimensions (" + std::to_string(g.K) + " vs " +
                           std::to_string(kb) + ")");
  }
  if (c && g.beta != 0.0f) {
    if (c->size() > 2) {
      return Status::invalid(node.label() + ": C " + shape_to_string(*c) +
                             " must have rank <= 2 to broadcast to [M, N] = [" +
                             std::to_string(g.M) + ", " + std::to_string(g.N) + "]");
    }
    g.has_c = true;
    g.c_shape = *c;
    while (g.c_shape.size() < 2) g.c_shape.insert(g.c_shape.begin(), 1);
    const int64_t cm = g.c_shape[0], cn = g.c_shape[1];
    if ((cm != 1 && cm != g.M) || (cn != 1 && cn != g.N)) {
      return Status::invalid(node.label() + ": C " + shape_to_string(*c) +
                             " cannot be broadcast to [M, N] = [" + std::to_string(g.M) + ", " +
                             std::to_string(g.N) + "]");
    }
    g.c_row_stride = cm == 1 ? 0 : cn;
    g.c_col_stride = cn == 1 ? 0 : 1;
  }
  return g;
}

void gemm_ref(const GemmGeometry& g, const float* a, const float* b, const float* c, float* y,
              const FusedActivation& act) {
  const int64_t M = g.M, N = g.N, K = g.K;
  parallel_for(M, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(N));
    for (int64_t m = begin; m < end; ++m) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const float av = g.trans_a ? a[k * M + m] : a[m * K + k];
        if (g.trans_b) {
          for (int64_t n = 0; n < N; ++n) acc[n] += av * b[n * K + k];
        } else {
          const float* brow = b + k * N;
          for (int64_t n = 0; n < N; ++n) acc[n] += av * brow[n];
        }
      }
      for (int64_t n = 0; n < N; ++n) {
        float v = g.alpha * acc[n];
        if (g.has_c && c) v += g.beta * c[m * g.c_row_stride + n * g.c_col_stride];
        y[m * N + n] = act.apply(v);
      }
    }
  });
}

Result<MatMulGeometry> matmul_geometry(const Node& node, const Shape& a_in, const Shape& b_in) {
  if (a_in.empty() || b_in.empty()) {
    return Status::invalid(node.label() + ": A " + shape_to_string(a_in) + " and B " +
                           shape_to_string(b_in) + " must have rank >= 1");
  }
  MatMulGeometry g;
  Shape a = a_in, b = b_in;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  g.M = a[a.size() - 2];
  g.K = a[a.size() - 1];
  g.N = b[b.size() - 1];
  if (b[b.size() - 2] != g.K) {
    return Status::invalid(node.label() + ": A " + shape_to_string(a_in) + " and B " +
                           shape_to_string(b_in) + " have different inner dimensions (" +
                           std::to_string(g.K) + " vs " + std::to_string(b[b.size() - 2]) + ")");
  }
  const size_t rank = std::max(a.size(), b.size()) - 2;
  g.a_batch.assign(a.begin(), a.end() - 2);
  g.b_batch.assign(b.begin(), b.end() - 2);
  while (g.a_batch.size() < rank) g.a_batch.insert(g.a_batch.begin(), 1);
  while (g.b_batch.size() < rank) g.b_batch.insert(g.b_batch.begin(), 1);
  g.batch.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t x = g.a_batch[i], y = g.b_batch[i];
    if (x != y && x != 1 && y != 1) {
      return Status::invalid(node.label() + ": batch dimensions of A " + shape_to_string(a_in) +
                             " and B " + shape_to_string(b_in) + " cannot be broadcast (" +
                             std::to_string(x) + " vs " + std::to_string(y) + ")");
    }
    g.batch[i] = x == 1 ? y : x;
  }
  g.dst_shape = g.batch;
  if (a_in.size() > 1) g.dst_shape.push_back(g.M);
  if (b_in.size() > 1) g.dst_shape.push_back(g.N);
  return g;
}

void matmul_ref(const MatMulGeometry& g, const float* a, const float* b, float* y,
                const FusedActivation& act) {
  const int64_t M = g.M, N = g.N, K = g.K;
  const int64_t batches = shape_numel(g.batch);
  const size_t r = g.batch.size();
  parallel_for(batches * M, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(static_cast<size_t>(N));
    for (int64_t bm = begin; bm < end; ++bm) {
      const int64_t bi = bm / M, m = bm % M;
      // Offsets of this batch entry in A and B (broadcast dims repeat entry 0).
      int64_t a_off = 0, b_off = 0;
      for (size_t i = 0; i < r; ++i) {
        int64_t stride = 1;
        for (size_t j = i + 1; j < r; ++j) stride *= g.batch[j];
        const int64_t idx = (bi / stride) % g.batch[i];
        a_off = a_off * g.a_batch[i] + (g.a_batch[i] == 1 ? 0 : idx);
        b_off = b_off * g.b_batch[i] + (g.b_batch[i] == 1 ? 0 : idx);
      }
      const float* am = a + (a_off * M + m) * K;
      const float* bb = b + b_off * K * N;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const float av = am[k];
        const float* brow = bb + k * N;
        for (int64_t n = 0; n < N; ++n) acc[n] += av * brow[n];
      }
      float* yrow = y + bm * N;
      for (int64_t n = 0; n < N; ++n) yrow[n] = act.apply(acc[n]);
    }
  });
}

}  // namespace quench
