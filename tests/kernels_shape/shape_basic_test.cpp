// Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Constant, ConstantOfShape, Range, EyeLike.
#include "shape_test_util.h"

namespace quench::testing {
namespace {

TEST(ShapeOp, ShapeWithStartEnd) {
  Tensor x = iota(DType::kFloat32, {2, 3, 4, 5});
  EXPECT_SAME_TENSOR(run1({"Shape"}, {x}), i64v({2, 3, 4, 5}));
  struct Case { int64_t start, end; std::vector<int64_t> want; };
  for (const Case& c : std::vector<Case>{{1, 4, {3, 4, 5}}, {-1, 4, {5}}, {0, -1, {2, 3, 4}},
                                         {-10, 2, {2, 3}}, {2, 100, {4, 5}}, {3, 1, {}}}) {
    Tensor y = run1({"Shape", {attr_int("start", c.start), attr_int("end", c.end)}, 15}, {x});
    EXPECT_SAME_TENSOR(y, i64v(c.want)) << c.start << ".." << c.end;
  }
  EXPECT_SAME_TENSOR(run1({"Shape"}, {Tensor::scalar<float>(1)}), i64v({}));
}

TEST(ShapeOp, Size) {
  EXPECT_SAME_TENSOR(run1({"Size"}, {iota(DType::kInt8, {2, 3, 4})}), Tensor::scalar<int64_t>(24));
  EXPECT_SAME_TENSOR(run1({"Size"}, {iota(DType::kFloat32, {2, 0})}), Tensor::scalar<int64_t>(0));
}

TEST(ShapeOp, ReshapeSharesTheBufferForEveryDtype) {
  for (DType dt : movement_dtypes()) {
    Tensor x = iota(dt, {2, 3, 4});
    for (bool constant_shape : {false, true}) {
      Tensor y = run1({"Reshape"}, {x, i64v({4, -1})}, {false, constant_shape});
      EXPECT_SAME_TENSOR(y, x.reshaped({4, 6})) << dtype_name(dt);
    }
  }
}

TEST(ShapeOp, ReshapeZeroAndMinusOne) {
  Tensor x = iota(DType::kFloat32, {2, 3, 4});
  struct Case { std::vector<int64_t> spec; Shape want; };
  for (const Case& c : std::vector<Case>{{{0, -1}, {2, 12}},
                                         {{0, 0, 4}, {2, 3, 4}},
                                         {{-1}, {24}},
                                         {{4, 0, 2}, {4, 3, 2}},
                                         {{2, 0, 2, -1}, {2, 3, 2, 2}},
                                         {{1, 1, 24}, {1, 1, 24}}}) {
    Tensor y = run1({"Reshape"}, {x, i64v(c.spec)});
    EXPECT_EQ(y.shape(), c.want) << shape_to_string(c.spec);
  }
  // allowzero=1: 0 is a real zero-sized dimension.
  Tensor empty = iota(DType::kFloat32, {0, 3});
  Tensor y = run1({"Reshape", {attr_int("allowzero", 1)}, 14}, {empty, i64v({3, 0})});
  EXPECT_EQ(y.shape(), (Shape{3, 0}));
  // Opset < 5: the shape is an attribute.
  y = run1({"Reshape", {attr_ints("shape", {6, 4})}, 1}, {x});
  EXPECT_EQ(y.shape(), (Shape{6, 4}));
}

TEST(ShapeOp, ReshapeErrorsNameTheNodeAndRule) {
  Tensor x = iota(DType::kFloat32, {2, 3});
  EXPECT_EQ(run_error({"Reshape"}, {x, i64v({4, 2})}),
            "Reshape 'node': cannot reshape float32[2, 3] (6 elements) to [4, 2] (8 elements)");
  EXPECT_NE(run_error({"Reshape"}, {x, i64v({-1, -1})}).find("more than one -1"), std::string::npos);
  EXPECT_NE(run_error({"Reshape"}, {x, i64v({-1, 4})}).find("-1 cannot be inferred"), std::string::npos);
  EXPECT_NE(run_error({"Reshape"}, {x, i64v({0, 0, 0})}).find("has rank 2"), std::string::npos);
  EXPECT_NE(run_error({"Reshape"}, {x, i64v({-2, 3})}).find("allowed: >= -1"), std::string::npos);
  EXPECT_NE(run_error({"Reshape", {attr_int("allowzero", 1)}, 14}, {x, i64v({0, -1})})
                .find("both 0 and -1"),
            std::string::npos);
  EXPECT_NE(run_error({"Reshape"}, {x, f32({2}, {3, 2})}).find("must be int64 or int32"),
            std::string::npos);
}

TEST(ShapeOp, Flatten) {
  Tensor x = iota(DType::kInt32, {2, 3, 4, 5});
  struct Case { int64_t axis; Shape want; };
  for (const Case& c : std::vector<Case>{{0, {1, 120}}, {1, {2, 60}}, {2, {6, 20}}, {3, {24, 5}},
                                         {4, {120, 1}}, {-1, {24, 5}}, {-4, {1, 120}}}) {
    Tensor y = run1({"Flatten", {attr_int("axis", c.axis)}}, {x});
    EXPECT_SAME_TENSOR(y, x.reshaped(c.want)) << c.axis;
  }
  EXPECT_NE(run_error({"Flatten", {attr_int("axis", 5)}}, {x}).find("axis 5 is out of range"),
            std::string::npos);
}

TEST(ShapeOp, SqueezeAttributeAndInputForms) {
  Tensor x = iota(DType::kUInt8, {1, 3, 1, 4, 1});
  EXPECT_EQ(run1({"Squeeze", {}, 13}, {x}).shape(), (Shape{3, 4}));
  EXPECT_EQ(run1({"Squeeze", {}, 13}, {x, i64v({0, -1})}).shape(), (Shape{3, 1, 4}));
  EXPECT_EQ(run1({"Squeeze", {attr_ints("axes", {2})}, 11}, {x}).shape(), (Shape{1, 3, 4, 1}));
  EXPECT_SAME_TENSOR(run1({"Squeeze", {}, 13}, {x, i64v({2})}), x.reshaped({1, 3, 4, 1}));
  EXPECT_EQ(run_error({"Squeeze", {}, 13}, {x, i64v({1})}),
            "Squeeze 'node': cannot squeeze axis 1 of uint8[1, 3, 1, 4, 1]: its size is 3, not 1");
  EXPECT_NE(run_error({"Squeeze", {}, 13}, {x, i64v({5})}).find("out of range"), std::string::npos);
  EXPECT_NE(run_error({"Squeeze", {}, 13}, {x, i64v({0, -5})}).find("repeat axis 0"), std::string::npos);
}

TEST(ShapeOp, UnsqueezeAttributeAndInputForms) {
  Tensor x = iota(DType::kFloat16, {3, 4});
  struct Case { std::vector<int64_t> axes; Shape want; };
  for (const Case& c : std::vector<Case>{{{0}, {1, 3, 4}},
                                         {{2}, {3, 4, 1}},
                                         {{-1}, {3, 4, 1}},
                                         {{0, 3}, {1, 3, 4, 1}},
                                         {{3, 0}, {1, 3, 4, 1}},
                                         {{1, 2}, {3, 1, 1, 4}}}) {
    EXPECT_SAME_TENSOR(run1({"Unsqueeze", {}, 13}, {x, i64v(c.axes)}), x.reshaped(c.want));
    EXPECT_SAME_TENSOR(run1({"Unsqueeze", {attr_ints("axes", c.axes)}, 11}, {x}), x.reshaped(c.want));
  }
  EXPECT_NE(run_error({"Unsqueeze", {}, 13}, {x, i64v({0, 0})}).find("repeat"), std::string::npos);
  EXPECT_NE(run_error({"Unsqueeze", {}, 13}, {x, i64v({3})}).find("out of range for rank 3"),
            std::string::npos);
  EXPECT_NE(run_error({"Unsqueeze", {}, 11}, {x}).find("axes are missing"), std::string::npos);
}

TEST(ShapeOp, ConstantForms) {
  Tensor t = iota(DType::kInt8, {2, 2});
  EXPECT_SAME_TENSOR(run1({"Constant", {attr_tensor("value", t)}}, {}), t);
  EXPECT_SAME_TENSOR(run1({"Constant", {attr_float("value_float", 2.5f)}}, {}), Tensor::scalar<float>(2.5f));
  EXPECT_SAME_TENSOR(run1({"Constant", {attr_floats("value_floats", {1, 2})}}, {}), f32({2}, {1, 2}));
  EXPECT_SAME_TENSOR(run1({"Constant", {attr_int("value_int", -7)}}, {}), Tensor::scalar<int64_t>(-7));
  EXPECT_SAME_TENSOR(run1({"Constant", {attr_ints("value_ints", {4, 5, 6})}}, {}), i64v({4, 5, 6}));
  EXPECT_NE(run_error({"Constant", {attr_string("value_string", "a")}}, {}).find("not supported"),
            std::string::npos);
}

TEST(ShapeOp, ConstantOfShape) {
  EXPECT_SAME_TENSOR(run1({"ConstantOfShape"}, {i64v({2, 3})}), Tensor::zeros(DType::kFloat32, {2, 3}));
  for (DType dt : movement_dtypes()) {
    Tensor v = typed(dt, {1}, {1});
    Tensor y = run1({"ConstantOfShape", {attr_tensor("value", v)}}, {i64v({3, 2})});
    EXPECT_SAME_TENSOR(y, typed(dt, {3, 2}, std::vector<double>(6, 1))) << dtype_name(dt);
  }
  Tensor y = run1({"ConstantOfShape", {attr_tensor("value", Tensor::from_vector<int32_t>({1}, {7}))}},
                  {i64v({})});
  EXPECT_SAME_TENSOR(y, Tensor::from_vector<int32_t>({}, {7}));
  EXPECT_EQ(run1({"ConstantOfShape"}, {i64v({0, 4})}).shape(), (Shape{0, 4}));
  EXPECT_NE(run_error({"ConstantOfShape"}, {i64v({2, -1})}).find("negative"), std::string::npos);
}

TEST(ShapeOp, RangeFloatAndIntegers) {
  // numpy.arange(1, 2, 0.3) -> [1, 1.3, 1.6, 1.9]
  Tensor y = run1({"Range"}, {Tensor::scalar<float>(1), Tensor::scalar<float>(2), Tensor::scalar<float>(0.3f)});
  EXPECT_TRUE(tensors_near(y, f32({4}, {1.0f, 1.3f, 1.6f, 1.9f}), 1e-6));
  y = run1({"Range"}, {Tensor::scalar<int32_t>(10), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(-3)});
  EXPECT_SAME_TENSOR(y, Tensor::from_vector<int32_t>({2}, {10, 7}));
  y = run1({"Range"}, {Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(-3), Tensor::scalar<int64_t>(1)});
  EXPECT_EQ(y.shape(), (Shape{0}));
  y = run1({"Range"}, {Tensor::scalar<double>(-1), Tensor::scalar<double>(1), Tensor::scalar<double>(0.5)});
  EXPECT_SAME_TENSOR(y, Tensor::from_vector<double>({4}, {-1, -0.5, 0, 0.5}));
  EXPECT_NE(run_error({"Range"}, {Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(3), Tensor::scalar<int64_t>(0)})
                .find("delta is 0"),
            std::string::npos);
  EXPECT_NE(run_error({"Range"}, {Tensor::scalar<int64_t>(0), Tensor::scalar<int32_t>(3), Tensor::scalar<int64_t>(1)})
                .find("one type"),
            std::string::npos);
}

TEST(ShapeOp, EyeLike) {
  Tensor x = Tensor::zeros(DType::kInt32, {3, 4});
  EXPECT_SAME_TENSOR(run1({"EyeLike"}, {x}),
                     Tensor::from_vector<int32_t>({3, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}));
  Tensor y = run1({"EyeLike", {attr_int("k", -1), attr_int("dtype", static_cast<int64_t>(DType::kFloat32))}}, {x});
  EXPECT_SAME_TENSOR(y, f32({3, 4}, {0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0}));
  y = run1({"EyeLike", {attr_int("k", 2)}}, {Tensor::zeros(DType::kFloat16, {2, 3})});
  EXPECT_SAME_TENSOR(y, typed(DType::kFloat16, {2, 3}, {0, 0, 1, 0, 0, 0}));
  EXPECT_NE(run_error({"EyeLike"}, {Tensor::zeros(DType::kFloat32, {3})}).find("must be 2-D"),
            std::string::npos);
}

}  // namespace
}  // namespace quench::testing
