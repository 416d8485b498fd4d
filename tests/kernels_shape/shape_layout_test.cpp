// Transpose, Expand, Tile, DepthToSpace, SpaceToDepth, Trilu, against element-by-element
// references (shape_test_util.h) and numpy-computed constants.
#include <algorithm>
#include <numeric>
#include <random>

#include "core/parallel.h"
#include "shape_test_util.h"

namespace quench::testing {
namespace {

Tensor reference_transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  std::vector<int64_t> st = row_major_strides(x.shape());
  Shape out;
  std::vector<int64_t> strides;
  for (int64_t p : perm) {
    out.push_back(x.shape()[static_cast<size_t>(p)]);
    strides.push_back(st[static_cast<size_t>(p)]);
  }
  return reference_strided(x, out, strides);
}

// The blocked paths (NCHW<->NHWC, last-two-dims) at sizes below, at and above the tile of each
// element width (64 / element size, at least 8), for every dtype.
TEST(Transpose, CommonPermutationsAllDtypesAndTileSizes) {
  for (DType dt : movement_dtypes()) {
    for (int64_t c : {1, 4, 16, 17, 65}) {
      for (int64_t hw : {5, 8, 33}) {
        Tensor x = iota(dt, {2, c, hw, hw + 2});
        for (const std::vector<int64_t>& perm : std::vector<std::vector<int64_t>>{
                 {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 1, 3, 2}, {1, 0, 2, 3}, {3, 2, 1, 0}}) {
          Tensor y = run1({"Transpose", {attr_ints("perm", perm)}}, {x});
          EXPECT_SAME_TENSOR(y, reference_transpose(x, perm))
              << dtype_name(dt) << " " << x.describe() << " perm " << shape_to_string(perm);
        }
      }
    }
  }
}

TEST(Transpose, RandomShapesAndPermutationsWithThreads) {
  std::mt19937 rng(7);
  set_num_threads(2);
  for (int iter = 0; iter < 150; ++iter) {
    const int rank = 1 + static_cast<int>(rng() % 6);
    Shape shape;
    for (int d = 0; d < rank; ++d) shape.push_back(1 + static_cast<int64_t>(rng() % (rank > 3 ? 6 : 40)));
    std::vector<int64_t> perm(static_cast<size_t>(rank));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    DType dt = movement_dtypes()[rng() % movement_dtypes().size()];
    Tensor x = iota(dt, shape);
    Tensor y = run1({"Transpose", {attr_ints("perm", perm)}}, {x});
    EXPECT_SAME_TENSOR(y, reference_transpose(x, perm)) << x.describe() << " perm " << shape_to_string(perm);
  }
  // Large enough to be split over threads.
  Tensor x = random_tensor({1, 96, 56, 56});
  EXPECT_SAME_TENSOR(run1({"Transpose", {attr_ints("perm", {0, 2, 3, 1})}}, {x}),
                     reference_transpose(x, {0, 2, 3, 1}));
  Tensor z = random_tensor({3, 1000, 67});
  EXPECT_SAME_TENSOR(run1({"Transpose", {attr_ints("perm", {0, 2, 1})}}, {z}), reference_transpose(z, {0, 2, 1}));
}

TEST(Transpose, DefaultReversesAndUnitMovesAlias) {
  Tensor x = iota(DType::kInt64, {2, 3, 4});
  EXPECT_SAME_TENSOR(run1({"Transpose"}, {x}), reference_transpose(x, {2, 1, 0}));
  Tensor u = iota(DType::kFloat32, {1, 5, 1, 3});
  EXPECT_SAME_TENSOR(run1({"Transpose", {attr_ints("perm", {2, 1, 0, 3})}}, {u}), u.reshaped({1, 5, 1, 3}));
  EXPECT_NE(run_error({"Transpose", {attr_ints("perm", {0, 0, 1})}}, {x}).find("not a permutation"),
            std::string::npos);
  EXPECT_EQ(run_error({"Transpose", {attr_ints("perm", {1, 0})}}, {x}),
            "Transpose 'node': perm [1, 0] has 2 entries for input int64[2, 3, 4] of rank 3");
}

TEST(Expand, BroadcastsBothWays) {
  // numpy: np.broadcast_to(np.arange(3).reshape(3, 1), (2, 3, 4))
  Tensor x = iota(DType::kInt32, {3, 1});
  Tensor y = run1({"Expand"}, {x, i64v({2, 1, 4})});
  std::vector<int32_t> want;
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want.push_back(i);
  EXPECT_SAME_TENSOR(y, Tensor::from_vector<int32_t>({2, 3, 4}, want));
  // The shape may be smaller than the input: the result is the broadcast of both.
  Tensor z = run1({"Expand"}, {iota(DType::kFloat32, {2, 3}), i64v({3})});
  EXPECT_SAME_TENSOR(z, iota(DType::kFloat32, {2, 3}));
  for (DType dt : movement_dtypes()) {
    Tensor a = iota(dt, {1, 5, 1});
    Tensor e = run1({"Expand"}, {a, i64v({4, 5, 3})});
    EXPECT_SAME_TENSOR(e, reference_strided(a, {4, 5, 3}, {0, 1, 0})) << dtype_name(dt);
  }
  std::string err = run_error({"Expand"}, {iota(DType::kFloat32, {2, 3}), i64v({4, 3, 4})});
  EXPECT_EQ(err.rfind("Expand 'node': shapes [2, 3] and [4, 3, 4] cannot be broadcast", 0), 0u) << err;
}

TEST(Tile, RepeatsEveryDimension) {
  // numpy: np.tile([[0, 1], [2, 3]], (2, 3))
  Tensor y = run1({"Tile"}, {iota(DType::kInt64, {2, 2}), i64v({2, 3})});
  EXPECT_SAME_TENSOR(y, i64({4, 6}, {0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3,
                                     0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3}));
  for (DType dt : movement_dtypes()) {
    Tensor x = iota(dt, {2, 3, 4});
    Tensor t = run1({"Tile"}, {x, i64v({1, 2, 3})});
    // Reference: y[a, b, c] = x[a % 2, b % 3, c % 4].
    Tensor ref = Tensor::empty(dt, {2, 6, 12});
    const size_t es = dtype_size(dt);
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t b = 0; b < 6; ++b)
        for (int64_t c = 0; c < 12; ++c)
          std::memcpy(static_cast<char*>(ref.raw_data()) + ((a * 6 + b) * 12 + c) * es,
                      static_cast<const char*>(x.raw_data()) + ((a * 3 + b % 3) * 4 + c % 4) * es, es);
    EXPECT_SAME_TENSOR(t, ref) << dtype_name(dt);
  }
  EXPECT_EQ(run1({"Tile"}, {iota(DType::kFloat32, {2, 3}), i64v({0, 2})}).shape(), (Shape{0, 6}));
  EXPECT_NE(run_error({"Tile"}, {iota(DType::kFloat32, {2, 3}), i64v({2})}).find("one entry per dimension"),
            std::string::npos);
}

TEST(DepthToSpace, DcrAndCrdMatchNumpy) {
  // numpy, x = np.arange(16).reshape(1, 8, 1, 2), blocksize 2:
  //   DCR: x.reshape(1,2,2,2,1,2).transpose(0,3,4,1,5,2).reshape(1,2,2,4)
  //   CRD: x.reshape(1,2,2,2,1,2).transpose(0,1,4,2,5,3).reshape(1,2,2,4)
  Tensor x = iota(DType::kFloat32, {1, 8, 1, 2});
  Tensor dcr = run1({"DepthToSpace", {attr_int("blocksize", 2)}}, {x});
  EXPECT_SAME_TENSOR(dcr, f32({1, 2, 2, 4}, {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15}));
  Tensor crd = run1({"DepthToSpace", {attr_int("blocksize", 2), attr_string("mode", "CRD")}}, {x});
  EXPECT_SAME_TENSOR(crd, f32({1, 2, 2, 4}, {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15}));
  // SpaceToDepth inverts DCR DepthToSpace, for every dtype.
  for (DType dt : movement_dtypes()) {
    Tensor a = iota(dt, {2, 12, 3, 5});
    Tensor s = run1({"DepthToSpace", {attr_int("blocksize", 2)}}, {a});
    EXPECT_SAME_TENSOR(run1({"SpaceToDepth", {attr_int("blocksize", 2)}}, {s}), a) << dtype_name(dt);
  }
  EXPECT_NE(run_error({"DepthToSpace", {attr_int("blocksize", 3)}}, {x}).find("multiple of blocksize^2 = 9"),
            std::string::npos);
  EXPECT_NE(run_error({"SpaceToDepth", {attr_int("blocksize", 3)}}, {x}).find("multiples of blocksize 3"),
            std::string::npos);
  EXPECT_NE(run_error({"DepthToSpace"}, {x}).find("'blocksize' is missing"), std::string::npos);
}

TEST(SpaceToDepth, MatchesNumpy) {
  // numpy: x = np.arange(16).reshape(1,1,4,4);
  //   x.reshape(1,1,2,2,2,2).transpose(0,3,5,1,2,4).reshape(1,4,2,2)
  Tensor y = run1({"SpaceToDepth", {attr_int("blocksize", 2)}}, {iota(DType::kInt64, {1, 1, 4, 4})});
  EXPECT_SAME_TENSOR(y, i64({1, 4, 2, 2}, {0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15}));
}

TEST(Trilu, UpperLowerWithK) {
  for (DType dt : movement_dtypes()) {
    Tensor x = iota(dt, {2, 3, 4}, 1);
    for (int64_t k : {-4, -1, 0, 1, 3, 5}) {
      for (int upper : {0, 1}) {
        Tensor y = run1({"Trilu", {attr_int("upper", upper)}, 14}, {x, Tensor::scalar<int64_t>(k)});
        Tensor ref = x.clone();
        const size_t es = dtype_size(dt);
        for (int64_t b = 0; b < 2; ++b)
          for (int64_t i = 0; i < 3; ++i)
            for (int64_t j = 0; j < 4; ++j) {
              bool keep = upper ? j - i >= k : j - i <= k;
              if (!keep) std::memset(static_cast<char*>(ref.raw_data()) + ((b * 3 + i) * 4 + j) * es, 0, es);
            }
        EXPECT_SAME_TENSOR(y, ref) << dtype_name(dt) << " k=" << k << " upper=" << upper;
      }
    }
  }
  // numpy.triu(np.arange(1, 10).reshape(3, 3))
  Tensor y = run1({"Trilu", {}, 14}, {iota(DType::kFloat32, {3, 3}, 1)});
  EXPECT_SAME_TENSOR(y, f32({3, 3}, {1, 2, 3, 0, 5, 6, 0, 0, 9}));
  EXPECT_NE(run_error({"Trilu", {}, 14}, {iota(DType::kFloat32, {3})}).find("rank >= 2"), std::string::npos);
}

}  // namespace
}  // namespace quench::testing
