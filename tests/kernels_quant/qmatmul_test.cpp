// MatMulInteger and QLinearMatMul against int64 reference loops: batching with numpy broadcasting,
// 1-D operands, per-tensor / per-row / per-column / N-D zero points and scales, operand types,
// sizes crossing the GEMM tiles; error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "quant_test_util.h"

namespace quench {
namespace {

using qtest::int_tensor;
using qtest::int_values;
using qtest::ints_equal;
using qtest::random_int_tensor;
using testing::run_op;

// How a zero point / scale of a (per row) or b (per column) is shaped.
enum class ParamKind { kNone, kScalar, kVector, kNd };

struct MatmulCase {
  const char* name;
  Shape a, b;
  DType a_type, b_type;
  ParamKind a_param, b_param;
};

const MatmulCase kMatmulCases[] = {
    {"2d_scalar", {3, 5}, {5, 4}, DType::kUInt8, DType::kUInt8, ParamKind::kScalar, ParamKind::kScalar},
    {"2d_no_zero_points", {4, 6}, {6, 3}, DType::kInt8, DType::kInt8, ParamKind::kNone, ParamKind::kNone},
    {"2d_per_row_col", {6, 7}, {7, 9}, DType::kUInt8, DType::kInt8, ParamKind::kVector, ParamKind::kVector},
    {"3d_batched", {2, 3, 4}, {2, 4, 5}, DType::kInt8, DType::kUInt8, ParamKind::kScalar, ParamKind::kVector},
    {"broadcast_batch", {2, 1, 3, 4}, {3, 4, 2}, DType::kUInt8, DType::kInt8, ParamKind::kVector, ParamKind::kScalar},
    {"broadcast_2d_b", {3, 5, 6}, {6, 4}, DType::kUInt8, DType::kUInt8, ParamKind::kScalar, ParamKind::kVector},
    {"nd_zero_points", {2, 3, 4}, {2, 4, 5}, DType::kUInt8, DType::kInt8, ParamKind::kNd, ParamKind::kNd},
    {"a_vector", {6}, {2, 6, 3}, DType::kUInt8, DType::kUInt8, ParamKind::kScalar, ParamKind::kScalar},
    {"b_vector", {2, 3, 6}, {6}, DType::kInt8, DType::kInt8, ParamKind::kScalar, ParamKind::kScalar},
    {"tiles", {37, 300}, {300, 270}, DType::kUInt8, DType::kInt8, ParamKind::kVector, ParamKind::kVector},
};

struct Prepared {
  Shape out;
  int64_t m, k, n;
  Shape batch;
  std::vector<int64_t> a_off, b_off;  // per output batch, in matrices
};

Prepared prepare(const MatmulCase& c) {
  Prepared p;
  Shape a = c.a.size() == 1 ? Shape{1, c.a[0]} : c.a;
  Shape b = c.b.size() == 1 ? Shape{c.b[0], 1} : c.b;
  p.m = a[a.size() - 2];
  p.k = a.back();
  p.n = b.back();
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  const size_t r = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), r - ab.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  for (size_t i = 0; i < r; ++i) p.batch.push_back(std::max(ab[i], bb[i]));
  const int64_t nb = shape_numel(p.batch);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t rem = i, ao = 0, bo = 0;
    std::vector<int64_t> coord(r);
    for (size_t d = r; d-- > 0;) {
      coord[d] = rem % p.batch[d];
      rem /= p.batch[d];
    }
    for (size_t d = 0; d < r; ++d) {
      ao = ao * ab[d] + (ab[d] == 1 ? 0 : coord[d]);
      bo = bo * bb[d] + (bb[d] == 1 ? 0 : coord[d]);
    }
    p.a_off.push_back(ao);
    p.b_off.push_back(bo);
  }
  p.out = p.batch;
  if (c.a.size() > 1) p.out.push_back(p.m);
  if (c.b.size() > 1) p.out.push_back(p.n);
  return p;
}

// Parameter shape and, per (batch, row or column), the index into it.
Shape param_shape(ParamKind kind, const Prepared& p, bool per_row) {
  const int64_t count = per_row ? p.m : p.n;
  switch (kind) {
    case ParamKind::kNone: case ParamKind::kScalar: return {};
    case ParamKind::kVector: return {count};
    case ParamKind::kNd: {
      Shape s = p.batch;
      s.push_back(per_row ? count : 1);
      s.push_back(per_row ? 1 : count);
      return s;
    }
  }
  return {};
}
int64_t param_at(ParamKind kind, const Prepared& p, bool per_row, int64_t batch, int64_t i) {
  switch (kind) {
    case ParamKind::kNone: case ParamKind::kScalar: return 0;
    case ParamKind::kVector: return i;
    case ParamKind::kNd: return batch * (per_row ? p.m : p.n) + i;
  }
  return 0;
}

// acc[batch][i][j] with zero points given per parameter index.
std::vector<int64_t> ref_matmul(const MatmulCase& c, const Prepared& p, const std::vector<int64_t>& a,
                                const std::vector<int64_t>& b, const std::vector<int64_t>& a_zp,
                                const std::vector<int64_t>& b_zp) {
  std::vector<int64_t> out;
  const int64_t nb = shape_numel(p.batch);
  for (int64_t bi = 0; bi < nb; ++bi)
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        int64_t acc = 0;
        const int64_t za = a_zp[param_at(c.a_param, p, true, bi, i)];
        const int64_t zb = b_zp[param_at(c.b_param, p, false, bi, j)];
        for (int64_t q = 0; q < p.k; ++q) {
          acc += (a[(p.a_off[bi] * p.m + i) * p.k + q] - za) * (b[(p.b_off[bi] * p.k + q) * p.n + j] - zb);
        }
        out.push_back(acc);
      }
  return out;
}

TEST(MatMulInteger, MatchesInt64Reference) {
  uint32_t seed = 500;
  for (const MatmulCase& c : kMatmulCases) {
    SCOPED_TRACE(c.name);
    const Prepared p = prepare(c);
    Tensor a = random_int_tensor(c.a_type, c.a, ++seed);
    Tensor b = random_int_tensor(c.b_type, c.b, ++seed);
    const Shape azs = param_shape(c.a_param, p, true), bzs = param_shape(c.b_param, p, false);
    const qtest::Range ar = qtest::range_of(c.a_type), br = qtest::range_of(c.b_type);
    std::vector<int64_t> a_zp = c.a_param == ParamKind::kNone
                                    ? std::vector<int64_t>{0}
                                    : qtest::random_ints(static_cast<size_t>(shape_numel(azs)), ar.lo, ar.hi, ++seed);
    std::vector<int64_t> b_zp = c.b_param == ParamKind::kNone
                                    ? std::vector<int64_t>{0}
                                    : qtest::random_ints(static_cast<size_t>(shape_numel(bzs)), br.lo, br.hi, ++seed);
    std::vector<Tensor> inputs = {a, b};
    if (c.a_param != ParamKind::kNone) inputs.push_back(int_tensor(c.a_type, azs, a_zp));
    if (c.b_param != ParamKind::kNone) {
      if (inputs.size() == 2) inputs.push_back(Tensor());
      inputs.push_back(int_tensor(c.b_type, bzs, b_zp));
    }
    auto y = run_op({"MatMulInteger", {}, 10}, inputs);
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_EQ(y->at(0).shape(), p.out);
    EXPECT_TRUE(ints_equal(y->at(0), DType::kInt32, ref_matmul(c, p, int_values(a), int_values(b), a_zp, b_zp)));
  }
}

TEST(QLinearMatMul, MatchesRequantizedReference) {
  uint32_t seed = 700;
  for (const MatmulCase& c : kMatmulCases) {
    for (DType y_type : {DType::kUInt8, DType::kInt8}) {
      SCOPED_TRACE(std::string(c.name) + " -> " + std::string(dtype_name(y_type)));
      const Prepared p = prepare(c);
      Tensor a = random_int_tensor(c.a_type, c.a, ++seed);
      Tensor b = random_int_tensor(c.b_type, c.b, ++seed);
      const ParamKind ak = c.a_param == ParamKind::kNone ? ParamKind::kScalar : c.a_param;
      const ParamKind bk = c.b_param == ParamKind::kNone ? ParamKind::kScalar : c.b_param;
      const Shape as = param_shape(ak, p, true), bs = param_shape(bk, p, false);
      const qtest::Range ar = qtest::range_of(c.a_type), br = qtest::range_of(c.b_type);
      const qtest::Range yr = qtest::range_of(y_type);
      std::vector<int64_t> a_zp = qtest::random_ints(static_cast<size_t>(shape_numel(as)), ar.lo, ar.hi, ++seed);
      std::vector<int64_t> b_zp = qtest::random_ints(static_cast<size_t>(shape_numel(bs)), br.lo, br.hi, ++seed);
      Tensor a_scale = testing::random_tensor(as, 0.01f, 0.03f, ++seed);
      Tensor b_scale = testing::random_tensor(bs, 0.01f, 0.03f, ++seed);
      const float y_scale = 0.002f * static_cast<float>(std::sqrt(static_cast<double>(p.k)));
      const int64_t y_zp = y_type == DType::kUInt8 ? 120 : 3;
      MatmulCase cc = c;
      cc.a_param = ak;
      cc.b_param = bk;
      std::vector<int64_t> acc = ref_matmul(cc, p, int_values(a), int_values(b), a_zp, b_zp);
      std::vector<int64_t> want(acc.size());
      for (size_t e = 0; e < acc.size(); ++e) {
        const int64_t bi = static_cast<int64_t>(e) / (p.m * p.n);
        const int64_t i = static_cast<int64_t>(e) / p.n % p.m, j = static_cast<int64_t>(e) % p.n;
        const float mult = a_scale.data<float>()[param_at(ak, p, true, bi, i)] *
                           b_scale.data<float>()[param_at(bk, p, false, bi, j)] / y_scale;
        const int64_t q = static_cast<int64_t>(std::nearbyint(static_cast<double>(acc[e]) * mult)) + y_zp;
        want[e] = std::clamp(q, yr.lo, yr.hi);
      }
      auto y = run_op({"QLinearMatMul", {}, 10},
                      {a, a_scale, int_tensor(c.a_type, as, a_zp), b, b_scale, int_tensor(c.b_type, bs, b_zp),
                       Tensor::scalar(y_scale), int_tensor(y_type, {}, {y_zp})});
      ASSERT_TRUE(y.ok()) << y.status().message();
      EXPECT_EQ(y->at(0).shape(), p.out);
      EXPECT_TRUE(ints_equal(y->at(0), y_type, want));
    }
  }
}

TEST(MatMulInteger, ErrorMessages) {
  Tensor a = random_int_tensor(DType::kUInt8, {3, 4}, 1);
  Tensor b = random_int_tensor(DType::kUInt8, {5, 2}, 2);
  auto y = run_op({"MatMulInteger", {}, 10}, {a, b});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(),
            "MatMulInteger 'node': a [3, 4] and b [5, 2] cannot be multiplied: 4 columns vs 5 rows");
  Tensor b2 = random_int_tensor(DType::kUInt8, {4, 2}, 3);
  y = run_op({"MatMulInteger", {}, 10}, {a, b2, int_tensor(DType::kUInt8, {2}, {1, 2})});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(), "MatMulInteger 'node': a_zero_point has shape [2]; it must be a "
                                  "scalar, [3] or [..., 3, 1] (per row of a)");
  y = run_op({"MatMulInteger", {}, 10}, {a, b2, Tensor(), int_tensor(DType::kInt8, {}, {1})});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(),
            "MatMulInteger 'node': b_zero_point has type int8 but b has type uint8; they must be the same");
  y = run_op({"MatMulInteger", {}, 10}, {random_int_tensor(DType::kUInt8, {2, 3, 4}, 4),
                                         random_int_tensor(DType::kUInt8, {3, 4, 2}, 5)});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(), "MatMulInteger 'node': shapes [2] and [3] cannot be broadcast "
                                  "(dimension 0: 3 vs 2)");
}

}  // namespace
}  // namespace quench
