// Concat, Split, Slice, Pad against references and numpy-computed constants, over opsets where the
// attribute forms moved to inputs.
#include <random>

#include "shape_test_util.h"

namespace quench::testing {
namespace {

TEST(Concat, AllAxesAndDtypes) {
  for (DType dt : movement_dtypes()) {
    Tensor a = iota(dt, {2, 3, 4}), b = iota(dt, {2, 3, 4}, 50);
    for (int64_t axis : {0, 1, 2, -1}) {
      Shape bs = {2, 3, 4};
      bs[static_cast<size_t>(axis < 0 ? axis + 3 : axis)] = 2;
      Tensor b2 = iota(dt, bs, 50);
      Tensor y = run1({"Concat", {attr_int("axis", axis)}}, {a, b2, a});
      // Reference: walk the output and pick the source by the coordinate on the axis.
      const int64_t ax = axis < 0 ? axis + 3 : axis;
      Shape os = {2, 3, 4};
      os[static_cast<size_t>(ax)] = a.shape()[static_cast<size_t>(ax)] * 2 + bs[static_cast<size_t>(ax)];
      ASSERT_EQ(y.shape(), os);
      const size_t es = dtype_size(dt);
      Tensor ref = Tensor::empty(dt, os);
      std::vector<int64_t> ost = row_major_strides(os);
      for (int64_t i = 0; i < ref.numel(); ++i) {
        std::vector<int64_t> c = {i / ost[0], (i / ost[1]) % os[1], i % os[2]};
        int64_t k = c[static_cast<size_t>(ax)];
        const Tensor* src = &a;
        int64_t na = a.shape()[static_cast<size_t>(ax)], nb = bs[static_cast<size_t>(ax)];
        if (k >= na && k < na + nb) {
          src = &b2;
          k -= na;
        } else if (k >= na + nb) {
          k -= na + nb;
        }
        c[static_cast<size_t>(ax)] = k;
        std::vector<int64_t> sst = row_major_strides(src->shape());
        int64_t off = c[0] * sst[0] + c[1] * sst[1] + c[2] * sst[2];
        std::memcpy(static_cast<char*>(ref.raw_data()) + i * es,
                    static_cast<const char*>(src->raw_data()) + off * es, es);
      }
      EXPECT_SAME_TENSOR(y, ref) << dtype_name(dt) << " axis " << axis;
    }
  }
  // Empty pieces and large axis-0 concatenation (split over threads).
  Tensor e = run1({"Concat", {attr_int("axis", 0)}}, {iota(DType::kFloat32, {0, 3}), iota(DType::kFloat32, {2, 3})});
  EXPECT_SAME_TENSOR(e, iota(DType::kFloat32, {2, 3}));
  Tensor big1 = random_tensor({300, 1000}, -1, 1, 1), big2 = random_tensor({200, 1000}, -1, 1, 2);
  Tensor big = run1({"Concat", {attr_int("axis", 0)}}, {big1, big2});
  ASSERT_EQ(big.shape(), (Shape{500, 1000}));
  EXPECT_EQ(std::memcmp(big.raw_data(), big1.raw_data(), big1.nbytes()), 0);
  EXPECT_EQ(std::memcmp(static_cast<char*>(big.raw_data()) + big1.nbytes(), big2.raw_data(), big2.nbytes()), 0);
}

TEST(Concat, Errors) {
  Tensor a = iota(DType::kFloat32, {2, 3});
  EXPECT_EQ(run_error({"Concat", {attr_int("axis", 1)}}, {a, iota(DType::kFloat32, {3, 3})}),
            "Concat 'node': input 1 float32[3, 3] does not match input 0 float32[2, 3] outside axis 1");
  EXPECT_NE(run_error({"Concat", {attr_int("axis", 1)}}, {a, iota(DType::kInt32, {2, 3})}).find("one type"),
            std::string::npos);
  EXPECT_NE(run_error({"Concat", {attr_int("axis", 2)}}, {a, a}).find("out of range"), std::string::npos);
}

TEST(Split, EqualVariableAndNumOutputs) {
  Tensor x = iota(DType::kInt64, {2, 6});
  // Equal parts (outputs decide), opset 13.
  auto outs = run_op({"Split", {attr_int("axis", 1)}, 13, 3}, {x});
  ASSERT_TRUE(outs.ok()) << outs.status().message();
  EXPECT_SAME_TENSOR(outs->at(0), i64({2, 2}, {0, 1, 6, 7}));
  EXPECT_SAME_TENSOR(outs->at(1), i64({2, 2}, {2, 3, 8, 9}));
  EXPECT_SAME_TENSOR(outs->at(2), i64({2, 2}, {4, 5, 10, 11}));
  // Variable parts: attribute before 13, input from 13.
  for (int64_t opset : {11, 13}) {
    std::vector<Attribute> attrs = {attr_int("axis", -1)};
    std::vector<Tensor> in = {x};
    if (opset < 13) attrs.push_back(attr_ints("split", {1, 0, 5}));
    else in.push_back(i64v({1, 0, 5}));
    auto r = run_op({"Split", attrs, opset, 3}, in);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_SAME_TENSOR(r->at(0), i64({2, 1}, {0, 6}));
    EXPECT_EQ(r->at(1).shape(), (Shape{2, 0}));
    EXPECT_SAME_TENSOR(r->at(2), i64({2, 5}, {1, 2, 3, 4, 5, 7, 8, 9, 10, 11}));
  }
  // Opset 18 num_outputs: ceil(7 / 3) = 3 -> 3, 3, 1.
  auto r = run_op({"Split", {attr_int("num_outputs", 3)}, 18, 3}, {iota(DType::kUInt8, {7})});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_SAME_TENSOR(r->at(2), typed(DType::kUInt8, {1}, {6}));
  EXPECT_EQ(r->at(1).shape(), (Shape{3}));
  EXPECT_NE(run_error({"Split", {attr_int("axis", 1)}, 13, 4}, {x}).find("4 equal parts"), std::string::npos);
  EXPECT_EQ(run_error({"Split", {attr_int("axis", 1)}, 13, 2}, {x, i64v({2, 3})}),
            "Split 'node': split [2, 3] sums to 5 but axis 1 of int64[2, 6] has 6");
}

// Reference slice per the ONNX rules, from Python: x[tuple(slice(s, e, st) ...)].
struct SliceCase {
  Shape shape;
  std::vector<int64_t> starts, ends, axes, steps;
  Shape want_shape;
  std::vector<int64_t> want;  // numpy result on np.arange(numel).reshape(shape)
};

TEST(Slice, MatchesNumpyIncludingNegativeStepsAndClamping) {
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  // Expected values from numpy: a = np.arange(n).reshape(shape); a[slices]
  std::vector<SliceCase> cases = {
      {{3, 4}, {0, 1}, {2, 3}, {0, 1}, {1, 1}, {2, 2}, {1, 2, 5, 6}},               // a[0:2, 1:3]
      {{3, 4}, {-1}, {kMin}, {1}, {-1}, {3, 4}, {3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8}},  // a[:, ::-1]
      {{3, 4}, {1}, {1000}, {0}, {1}, {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11}},          // a[1:1000]
      {{3, 4}, {10}, {-10}, {1}, {-2}, {3, 2}, {3, 1, 7, 5, 11, 9}},                // a[:, 10:-10:-2]
      {{3, 4}, {-2, 0}, {kMax, 4}, {-1, 0}, {1, 2}, {2, 2}, {2, 3, 10, 11}},        // a[0:4:2, -2:]
      {{3, 4}, {2}, {0}, {1}, {1}, {3, 0}, {}},                                     // a[:, 2:0]
      {{5}, {4}, {0}, {0}, {-3}, {2}, {4, 1}},                                      // a[4:0:-3]
      // a[:, 4:0:-1, 1:4:2] on a (2, 3, 4) array: the start 4 clamps to 2.
      {{2, 3, 4}, {1, 4}, {4, 0}, {2, 1}, {2, -1}, {2, 2, 2}, {9, 11, 5, 7, 21, 23, 17, 19}},
  };
  for (const SliceCase& c : cases) {
    Tensor x = iota(DType::kInt64, c.shape);
    Tensor y = run1({"Slice", {}, 13},
                    {x, i64v(c.starts), i64v(c.ends), i64v(c.axes), i64v(c.steps)});
    EXPECT_SAME_TENSOR(y, i64(c.want_shape, c.want))
        << "starts " << shape_to_string(c.starts) << " ends " << shape_to_string(c.ends) << " axes "
        << shape_to_string(c.axes) << " steps " << shape_to_string(c.steps);
  }
}

TEST(Slice, OpsetFormsDtypesAndDefaults) {
  Tensor x = iota(DType::kFloat32, {4, 5});
  // Opset 1-9: attributes; no steps.
  Tensor a = run1({"Slice", {attr_ints("starts", {1, 0}), attr_ints("ends", {3, -1})}, 9}, {x});
  EXPECT_SAME_TENSOR(a, f32({2, 4}, {5, 6, 7, 8, 10, 11, 12, 13}));
  // Opset 10+: inputs, axes and steps optional, int32 accepted.
  Tensor b = run1({"Slice", {}, 13}, {x, Tensor::from_vector<int32_t>({2}, {1, 0}), Tensor::from_vector<int32_t>({2}, {3, -1})});
  EXPECT_SAME_TENSOR(b, a);
  for (DType dt : movement_dtypes()) {
    Tensor t = iota(dt, {3, 7, 5});
    Tensor y = run1({"Slice", {}, 13}, {t, i64v({6, 1}), i64v({0, 5}), i64v({1, 2}), i64v({-2, 3})});
    // Reference: rows 6, 4, 2 of axis 1; columns 1, 4 of axis 2.
    std::vector<int64_t> st = row_major_strides(t.shape());
    EXPECT_SAME_TENSOR(y, reference_strided(t, {3, 3, 2}, {st[0], -2 * st[1], 3 * st[2]}, 6 * st[1] + 1))
        << dtype_name(dt);
  }
  EXPECT_NE(run_error({"Slice", {}, 13}, {x, i64v({0}), i64v({1}), i64v({0}), i64v({0})}).find("0 step"),
            std::string::npos);
  EXPECT_NE(run_error({"Slice", {}, 13}, {x, i64v({0}), i64v({1}), i64v({2})}).find("out of range"),
            std::string::npos);
  EXPECT_NE(run_error({"Slice", {}, 13}, {x, i64v({0, 0}), i64v({1})}).find("same length"), std::string::npos);
  EXPECT_NE(run_error({"Slice", {}, 13}, {x, i64v({0, 0}), i64v({1, 1}), i64v({1, -1})}).find("repeat"),
            std::string::npos);
}

TEST(Pad, ModesMatchNumpy) {
  // numpy: np.pad(np.arange(1, 7).reshape(2, 3), ((1, 2), (2, 1)), mode)
  Tensor x = iota(DType::kFloat32, {2, 3}, 1);
  Tensor pads = i64v({1, 2, 2, 1});
  struct Case { const char* mode; std::vector<float> want; };
  std::vector<Case> cases = {
      {"constant", {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0,
                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
      {"reflect", {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5,
                   3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}},
      {"edge", {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6,
                4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6}},
      {"wrap", {5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4,
                2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4}},
  };
  for (const Case& c : cases) {
    Tensor y = run1({"Pad", {attr_string("mode", c.mode)}, 19}, {x, pads});
    EXPECT_SAME_TENSOR(y, f32({5, 6}, c.want)) << c.mode;
  }
  // Reflect wider than the input (numpy repeats the reflection): np.pad([1, 2, 3], 5, 'reflect').
  Tensor r = run1({"Pad", {attr_string("mode", "reflect")}}, {iota(DType::kInt32, {3}, 1), i64v({5, 5})});
  EXPECT_SAME_TENSOR(r, Tensor::from_vector<int32_t>({13}, {2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2}));
}

TEST(Pad, ConstantValueOpsetsAxesAndCropping) {
  Tensor x = iota(DType::kInt32, {2, 3}, 1);
  // Opset 11+: constant_value input of the data type.
  Tensor y = run1({"Pad"}, {x, i64v({0, 1, 0, 1}), Tensor::scalar<int32_t>(-9)});
  EXPECT_SAME_TENSOR(y, Tensor::from_vector<int32_t>({2, 5}, {-9, 1, 2, 3, -9, -9, 4, 5, 6, -9}));
  // Opset 2-10: pads and value attributes.
  Tensor z = run1({"Pad", {attr_ints("pads", {0, 1, 0, 1}), attr_float("value", -9.0f)}, 10}, {x});
  EXPECT_SAME_TENSOR(z, y);
  // Opset 18 axes; negative pads crop.
  Tensor w = run1({"Pad", {}, 18}, {x, i64v({-1, 2}), Tensor(), i64v({1})});
  EXPECT_SAME_TENSOR(w, Tensor::from_vector<int32_t>({2, 4}, {2, 3, 0, 0, 5, 6, 0, 0}));
  for (DType dt : movement_dtypes()) {
    Tensor t = iota(dt, {2, 3, 4});
    Tensor p = run1({"Pad", {attr_string("mode", "edge")}}, {t, i64v({0, 1, 2, 1, 0, 3})});
    ASSERT_EQ(p.shape(), (Shape{3, 4, 9})) << dtype_name(dt);
    // Edge: every output reads the clamped source coordinate.
    Tensor ref = Tensor::empty(dt, {3, 4, 9});
    const size_t es = dtype_size(dt);
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t b = 0; b < 4; ++b)
        for (int64_t c = 0; c < 9; ++c) {
          int64_t sa = std::clamp<int64_t>(a, 0, 1), sb = std::clamp<int64_t>(b - 1, 0, 2),
                  sc = std::clamp<int64_t>(c - 2, 0, 3);
          std::memcpy(static_cast<char*>(ref.raw_data()) + ((a * 4 + b) * 9 + c) * es,
                      static_cast<const char*>(t.raw_data()) + ((sa * 3 + sb) * 4 + sc) * es, es);
        }
    EXPECT_SAME_TENSOR(p, ref) << dtype_name(dt);
  }
  EXPECT_NE(run_error({"Pad"}, {x, i64v({0, 1})}).find("must have 2 * 2 entries"), std::string::npos);
  EXPECT_NE(run_error({"Pad"}, {x, i64v({0, -4, 0, 0})}).find("remove more than"), std::string::npos);
  EXPECT_NE(run_error({"Pad", {attr_string("mode", "mirror")}}, {x, i64v({0, 1, 0, 1})}).find("mode \"mirror\""),
            std::string::npos);
  EXPECT_NE(run_error({"Pad"}, {x, i64v({0, 1, 0, 1}), Tensor::scalar<float>(1)}).find("constant_value"),
            std::string::npos);
}

}  // namespace
}  // namespace quench::testing
