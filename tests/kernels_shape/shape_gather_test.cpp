// Gather, GatherElements, GatherND, Compress, OneHot, NonZero, ScatterND, ScatterElements, CumSum.
// Expected values are numpy results (the commands are in the comments) or ONNX specification
// examples; bad indices must fail with a message, never crash.
#include "shape_test_util.h"

namespace quench::testing {
namespace {

// Reference Gather along `axis`: y[o, j, i] = x[o, idx[j], i].
Tensor reference_gather(const Tensor& x, const std::vector<int64_t>& idx, const Shape& idx_shape, int axis) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), idx_shape.begin(), idx_shape.end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor y = Tensor::empty(x.dtype(), out);
  const size_t es = dtype_size(x.dtype());
  const int64_t n = static_cast<int64_t>(idx.size()), dim = x.dim(axis);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) {
      int64_t k = idx[static_cast<size_t>(j)] < 0 ? idx[static_cast<size_t>(j)] + dim : idx[static_cast<size_t>(j)];
      std::memcpy(static_cast<char*>(y.raw_data()) + (o * n + j) * inner * es,
                  static_cast<const char*>(x.raw_data()) + (o * dim + k) * inner * es, inner * es);
    }
  return y;
}

TEST(Gather, AxesIndexShapesAndDtypes) {
  for (DType dt : movement_dtypes()) {
    Tensor x = iota(dt, {3, 4, 5});
    for (int axis : {0, 1, 2}) {
      const int64_t dim = x.dim(axis);
      std::vector<int64_t> idx = {dim - 1, 0, -1, -dim, 1, 1};
      Tensor y = run1({"Gather", {attr_int("axis", axis)}}, {x, i64({2, 3}, idx)});
      EXPECT_SAME_TENSOR(y, reference_gather(x, idx, {2, 3}, axis)) << dtype_name(dt) << " axis " << axis;
      Tensor y32 = run1({"Gather", {attr_int("axis", axis - 3)}},
                        {x, Tensor::from_vector<int32_t>({2}, {1, 0})});
      EXPECT_SAME_TENSOR(y32, reference_gather(x, {1, 0}, {2}, axis)) << dtype_name(dt);
    }
  }
  // Scalar index drops the axis: x[:, 2].
  Tensor y = run1({"Gather", {attr_int("axis", 1)}}, {iota(DType::kInt64, {2, 3}), Tensor::scalar<int64_t>(2)});
  EXPECT_SAME_TENSOR(y, i64({2}, {2, 5}));
  // Large embedding-style lookup (split over threads).
  Tensor table = random_tensor({1000, 64});
  std::vector<int64_t> ids(5000);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 7919) % 1000);
  EXPECT_SAME_TENSOR(run1({"Gather"}, {table, i64({50, 100}, ids)}), reference_gather(table, ids, {50, 100}, 0));
}

TEST(Gather, OutOfRangeIndexIsAnError) {
  Tensor x = iota(DType::kFloat32, {3, 4});
  EXPECT_EQ(run_error({"Gather", {attr_int("axis", 1)}}, {x, i64v({0, 4})}),
            "Gather 'node': index 4 (element 1 of indices int64[2]) is out of range for axis 1 of data "
            "float32[3, 4] of size 4 (allowed: [-4, 3])");
  EXPECT_NE(run_error({"Gather"}, {x, i64v({-4})}).find("out of range"), std::string::npos);
  EXPECT_NE(run_error({"Gather"}, {x, f32({1}, {0})}).find("int64 or int32"), std::string::npos);
}

TEST(GatherElements, MatchesNumpyLoop) {
  // for idx in ndindex(i.shape): s = list(idx); s[axis] = i[idx] (+dim if < 0); out[idx] = d[s]
  Tensor d = iota(DType::kInt64, {3, 4});
  EXPECT_SAME_TENSOR(run1({"GatherElements", {attr_int("axis", 0)}}, {d, i64({2, 3}, {2, -1, 0, 1, 1, 0})}),
                     i64({2, 3}, {8, 9, 2, 4, 5, 2}));
  EXPECT_SAME_TENSOR(run1({"GatherElements", {attr_int("axis", 1)}}, {d, i64({3, 2}, {3, 0, 1, -2, 0, 0})}),
                     i64({3, 2}, {3, 0, 5, 6, 8, 8}));
  Tensor h = run1({"GatherElements", {attr_int("axis", -1)}},
                  {iota(DType::kFloat16, {3, 4}), Tensor::from_vector<int32_t>({3, 2}, {3, 0, 1, -2, 0, 0})});
  EXPECT_SAME_TENSOR(h, typed(DType::kFloat16, {3, 2}, {3, 0, 5, 6, 8, 8}));
  EXPECT_NE(run_error({"GatherElements"}, {d, i64({1, 1}, {3})}).find("out of range for axis 0"),
            std::string::npos);
  EXPECT_NE(run_error({"GatherElements"}, {d, i64({1}, {0})}).find("same rank"), std::string::npos);
}

TEST(GatherND, SpecExamplesAndBatchDims) {
  Tensor d = iota(DType::kInt32, {2, 2});
  EXPECT_SAME_TENSOR(run1({"GatherND"}, {d, i64({2, 2}, {0, 0, 1, 1})}), Tensor::from_vector<int32_t>({2}, {0, 3}));
  EXPECT_SAME_TENSOR(run1({"GatherND"}, {d, i64({2, 1}, {1, 0})}),
                     Tensor::from_vector<int32_t>({2, 2}, {2, 3, 0, 1}));
  Tensor d3 = iota(DType::kFloat32, {2, 2, 2});
  EXPECT_SAME_TENSOR(run1({"GatherND"}, {d3, i64({2, 1, 2}, {0, 1, 1, 0})}), f32({2, 1, 2}, {2, 3, 4, 5}));
  EXPECT_SAME_TENSOR(run1({"GatherND", {attr_int("batch_dims", 1)}}, {d3, i64({2, 1}, {1, 0})}),
                     f32({2, 2}, {2, 3, 4, 5}));
  EXPECT_SAME_TENSOR(run1({"GatherND"}, {d3, i64({1, 3}, {1, 0, -1})}), f32({1}, {5}));
  EXPECT_NE(run_error({"GatherND"}, {d3, i64({1, 2}, {2, 0})}).find("out of range for dimension 0"),
            std::string::npos);
  EXPECT_NE(run_error({"GatherND"}, {d3, i64({1, 4}, {0, 0, 0, 0})}).find("address 4 dimensions"),
            std::string::npos);
}

TEST(Compress, MatchesNumpy) {
  // np.compress([0, 1, 1], np.arange(6).reshape(3, 2), axis=0)
  EXPECT_SAME_TENSOR(run1({"Compress", {attr_int("axis", 0)}}, {iota(DType::kInt64, {3, 2}), typed(DType::kBool, {3}, {0, 1, 1})}),
                     i64({2, 2}, {2, 3, 4, 5}));
  // np.compress([1, 0, 1], np.arange(6).reshape(2, 3), axis=-1)
  EXPECT_SAME_TENSOR(run1({"Compress", {attr_int("axis", -1)}}, {iota(DType::kInt64, {2, 3}), typed(DType::kBool, {3}, {1, 0, 1})}),
                     i64({2, 2}, {0, 2, 3, 5}));
  // No axis: flattened. np.compress([0, 1, 0, 0, 1], np.arange(6).reshape(2, 3))
  EXPECT_SAME_TENSOR(run1({"Compress"}, {iota(DType::kInt64, {2, 3}), typed(DType::kBool, {5}, {0, 1, 0, 0, 1})}),
                     i64({2}, {1, 4}));
  EXPECT_NE(run_error({"Compress", {attr_int("axis", 0)}}, {iota(DType::kInt64, {2, 3}), typed(DType::kBool, {3}, {0, 0, 1})})
                .find("selects index 2"),
            std::string::npos);
}

TEST(OneHot, AxesNegativeAndOutOfRangeIndices) {
  // Values [off, on] = [-1, 5]; index -1 means depth - 1; 4 is out of range: all off.
  Tensor idx = i64v({0, 2, -1, 4});
  Tensor y = run1({"OneHot"}, {idx, Tensor::scalar<int64_t>(3), f32({2}, {-1, 5})});
  EXPECT_SAME_TENSOR(y, f32({4, 3}, {5, -1, -1, -1, -1, 5, -1, -1, 5, -1, -1, -1}));
  Tensor y0 = run1({"OneHot", {attr_int("axis", 0)}}, {idx, Tensor::scalar<float>(3), i64v({0, 1})});
  EXPECT_SAME_TENSOR(y0, i64({3, 4}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0}));
  Tensor y2 = run1({"OneHot", {attr_int("axis", 1)}},
                   {Tensor::from_vector<int32_t>({2, 2}, {1, 0, 0, 1}), Tensor::scalar<int32_t>(2), typed(DType::kUInt8, {2}, {0, 9})});
  EXPECT_SAME_TENSOR(y2, typed(DType::kUInt8, {2, 2, 2}, {0, 9, 9, 0, 9, 0, 0, 9}));
  EXPECT_NE(run_error({"OneHot"}, {idx, Tensor::scalar<int64_t>(0), f32({2}, {0, 1})}).find("positive"),
            std::string::npos);
}

TEST(NonZero, CoordinatesInRowMajorOrder) {
  Tensor y = run1({"NonZero"}, {f32({2, 2}, {1, 0, -0.0f, 3})});
  EXPECT_SAME_TENSOR(y, i64({2, 2}, {0, 1, 0, 1}));
  y = run1({"NonZero"}, {typed(DType::kBool, {2, 3}, {1, 0, 1, 0, 1, 1})});
  EXPECT_SAME_TENSOR(y, i64({2, 4}, {0, 0, 1, 1, 0, 2, 1, 2}));
  y = run1({"NonZero"}, {Tensor::zeros(DType::kInt8, {4})});
  EXPECT_EQ(y.shape(), (Shape{1, 0}));
  y = run1({"NonZero"}, {typed(DType::kFloat16, {3}, {0, 2, 0.5})});
  EXPECT_SAME_TENSOR(y, i64({1, 2}, {1, 2}));
}

TEST(ScatterND, SpecExamplesAndReductions) {
  Tensor data = f32({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor idx = i64({4, 1}, {4, 3, 1, 7});
  Tensor upd = f32({4}, {9, 10, 11, 12});
  EXPECT_SAME_TENSOR(run1({"ScatterND"}, {data, idx, upd}), f32({8}, {1, 11, 3, 10, 9, 6, 7, 12}));
  // Rows of a matrix, negative index.
  Tensor m = iota(DType::kInt64, {3, 2});
  EXPECT_SAME_TENSOR(run1({"ScatterND"}, {m, i64({1, 1}, {-1}), i64({1, 2}, {7, 8})}),
                     i64({3, 2}, {0, 1, 2, 3, 7, 8}));
  // Duplicate indices accumulate with reduction add / mul (opset 16).
  Tensor dup = i64({3, 1}, {0, 0, 2});
  Tensor u = f32({3}, {2, 3, 4});
  EXPECT_SAME_TENSOR(run1({"ScatterND", {attr_string("reduction", "add")}, 16}, {f32({3}, {1, 1, 1}), dup, u}),
                     f32({3}, {6, 1, 5}));
  EXPECT_SAME_TENSOR(run1({"ScatterND", {attr_string("reduction", "mul")}, 16}, {f32({3}, {1, 1, 1}), dup, u}),
                     f32({3}, {6, 1, 4}));
  EXPECT_SAME_TENSOR(run1({"ScatterND", {attr_string("reduction", "max")}, 18}, {f32({3}, {5, 1, 5}), dup, u}),
                     f32({3}, {5, 1, 5}));
  EXPECT_SAME_TENSOR(run1({"ScatterND", {attr_string("reduction", "min")}, 18}, {f32({3}, {5, 1, 5}), dup, u}),
                     f32({3}, {2, 1, 4}));
  // Data as an initializer must stay untouched (the kernel copies it).
  Tensor init = f32({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  run1({"ScatterND"}, {init, idx, upd}, {true});
  EXPECT_SAME_TENSOR(init, f32({8}, {1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_NE(run_error({"ScatterND"}, {data, i64({1, 1}, {8}), f32({1}, {0})}).find("out of range"),
            std::string::npos);
  EXPECT_NE(run_error({"ScatterND"}, {data, idx, f32({3}, {0, 0, 0})}).find("must have shape [4]"),
            std::string::npos);
}

TEST(ScatterElements, SpecExamplesAndScatterAlias) {
  Tensor data = Tensor::zeros(DType::kFloat32, {3, 3});
  Tensor idx = i64({2, 3}, {1, 0, 2, 0, 2, 1});
  Tensor upd = f32({2, 3}, {1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f});
  Tensor want = f32({3, 3}, {2.0f, 1.1f, 0.0f, 1.0f, 0.0f, 2.2f, 0.0f, 2.1f, 1.2f});
  EXPECT_SAME_TENSOR(run1({"ScatterElements"}, {data, idx, upd}), want);
  EXPECT_SAME_TENSOR(run1({"Scatter", {}, 10}, {data, idx, upd}), want);
  Tensor row = f32({1, 5}, {1, 2, 3, 4, 5});
  EXPECT_SAME_TENSOR(run1({"ScatterElements", {attr_int("axis", 1)}}, {row, i64({1, 2}, {1, -2}), f32({1, 2}, {1.1f, 2.1f})}),
                     f32({1, 5}, {1, 1.1f, 3, 2.1f, 5}));
  EXPECT_SAME_TENSOR(run1({"ScatterElements", {attr_int("axis", 1), attr_string("reduction", "add")}, 16},
                          {row, i64({1, 2}, {1, 1}), f32({1, 2}, {1.1f, 2.1f})}),
                     f32({1, 5}, {1, 5.2f, 3, 4, 5}));
  for (DType dt : movement_dtypes()) {
    Tensor d = iota(dt, {2, 3});
    Tensor y = run1({"ScatterElements", {attr_int("axis", 1)}}, {d, i64({2, 1}, {2, 0}), typed(dt, {2, 1}, {1, 0})});
    std::vector<double> want_v = d.to_double_vector();
    want_v[2] = 1;
    want_v[3] = 0;
    EXPECT_SAME_TENSOR(y, typed(dt, {2, 3}, want_v)) << dtype_name(dt);
  }
  EXPECT_EQ(run_error({"ScatterElements"}, {data, i64({1, 1}, {3}), f32({1, 1}, {0})}),
            "ScatterElements 'node': index 3 (element 0 of indices int64[1, 1]) is out of range for axis 0 "
            "of data float32[3, 3]");
  EXPECT_NE(run_error({"ScatterElements", {attr_string("reduction", "avg")}, 16}, {data, idx, upd}).find("\"avg\""),
            std::string::npos);
}

TEST(CumSum, AxesExclusiveReverseMatchNumpy) {
  Tensor x = iota(DType::kFloat32, {3, 4}, 1);
  // np.cumsum(x, 0)
  EXPECT_SAME_TENSOR(run1({"CumSum"}, {x, Tensor::scalar<int64_t>(0)}),
                     f32({3, 4}, {1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 24}));
  // np.flip(np.cumsum(np.flip(x, 1), 1), 1)
  EXPECT_SAME_TENSOR(run1({"CumSum", {attr_int("reverse", 1)}}, {x, Tensor::scalar<int32_t>(-1)}),
                     f32({3, 4}, {10, 9, 7, 4, 26, 21, 15, 8, 42, 33, 23, 12}));
  // np.cumsum(x, 1) - x
  EXPECT_SAME_TENSOR(run1({"CumSum", {attr_int("exclusive", 1)}}, {x, Tensor::scalar<int64_t>(1)}),
                     f32({3, 4}, {0, 1, 3, 6, 0, 5, 11, 18, 0, 9, 19, 30}));
  // np.flip(np.cumsum(np.flip(x, 0), 0), 0) - x
  EXPECT_SAME_TENSOR(run1({"CumSum", {attr_int("exclusive", 1), attr_int("reverse", 1)}}, {x, Tensor::scalar<int64_t>(0)}),
                     f32({3, 4}, {14, 16, 18, 20, 9, 10, 11, 12, 0, 0, 0, 0}));
  for (DType dt : {DType::kInt32, DType::kInt64, DType::kFloat64, DType::kFloat16, DType::kUInt32}) {
    Tensor t = iota(dt, {3, 4}, 1);
    EXPECT_SAME_TENSOR(run1({"CumSum"}, {t, Tensor::scalar<int64_t>(0)}),
                       typed(dt, {3, 4}, {1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 24}))
        << dtype_name(dt);
  }
  EXPECT_NE(run_error({"CumSum"}, {x, Tensor::scalar<int64_t>(2)}).find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace quench::testing
