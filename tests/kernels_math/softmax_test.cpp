// Softmax, LogSoftmax, Hardmax against a double reference, for both axis semantics (coerced to 2-D
// before opset 13, one axis from 13), rows shorter and longer than the vector width, and the
// strided (non-last axis) path.
#include <cmath>

#include "math_util.h"

namespace quench::testing {
namespace {

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

// Reference over [outer, r, inner] groups.
Tensor ref_softmax(const Tensor& x, int64_t outer, int64_t r, int64_t inner, Kind kind) {
  std::vector<double> v = x.to_double_vector(), y(v.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return static_cast<size_t>((o * r + k) * inner + i); };
      double m = -INFINITY;
      int64_t arg = 0;
      for (int64_t k = 0; k < r; ++k) {
        if (v[at(k)] > m) {
          m = v[at(k)];
          arg = k;
        }
      }
      double s = 0;
      for (int64_t k = 0; k < r; ++k) s += std::exp(v[at(k)] - m);
      for (int64_t k = 0; k < r; ++k) {
        if (kind == Kind::kSoftmax) y[at(k)] = std::exp(v[at(k)] - m) / s;
        else if (kind == Kind::kLogSoftmax) y[at(k)] = v[at(k)] - m - std::log(s);
        else y[at(k)] = k == arg ? 1 : 0;
      }
    }
  }
  return make_tensor(x.dtype(), x.shape(), y);
}

const char* op_name(Kind k) {
  return k == Kind::kSoftmax ? "Softmax" : k == Kind::kLogSoftmax ? "LogSoftmax" : "Hardmax";
}

TEST(SoftmaxTest, MatchesReferenceForBothAxisSemantics) {
  const std::vector<Shape> shapes = {{1}, {5}, {16}, {17}, {3, 33}, {2, 3, 4}, {2, 300, 5}, {3, 2, 200}, {2, 1030}};
  uint32_t seed = 10;
  for (Kind kind : {Kind::kSoftmax, Kind::kLogSoftmax, Kind::kHardmax}) {
    for (const Shape& shape : shapes) {
      const int64_t rank = static_cast<int64_t>(shape.size());
      for (int64_t axis = -rank; axis < rank; ++axis) {
        Tensor x = random_tensor(shape, -5, 5, seed++);
        const int64_t a = axis < 0 ? axis + rank : axis;
        int64_t outer = 1, r = 1, inner = 1;
        for (int64_t d = 0; d < rank; ++d) {
          if (d < a) outer *= shape[d];
          else if (d == a) r *= shape[d];
          else inner *= shape[d];
        }
        Tensor y13 = run_both({op_name(kind), {attr_int("axis", axis)}, 13}, {x});
        EXPECT_TRUE(tensors_near(y13, ref_softmax(x, outer, r, inner, kind), 1e-6, 1e-5))
            << op_name(kind) << " opset 13 " << shape_to_string(shape) << " axis " << axis;
        // Opset 11: everything from `axis` on is one row.
        Tensor y11 = run_both({op_name(kind), {attr_int("axis", axis)}, 11}, {x});
        EXPECT_TRUE(tensors_near(y11, ref_softmax(x, outer, r * inner, 1, kind), 1e-6, 1e-5))
            << op_name(kind) << " opset 11 " << shape_to_string(shape) << " axis " << axis;
      }
    }
  }
}

TEST(SoftmaxTest, DefaultAxisChangedAtOpset13) {
  Tensor x = random_tensor({2, 3, 4}, -2, 2, 77);
  // Opset 12: default axis 1, rows of 3 * 4. Opset 13: default axis -1, rows of 4.
  EXPECT_TRUE(tensors_near(run_both({"Softmax", {}, 12}, {x}), ref_softmax(x, 2, 12, 1, Kind::kSoftmax), 1e-6));
  EXPECT_TRUE(tensors_near(run_both({"Softmax", {}, 13}, {x}), ref_softmax(x, 6, 4, 1, Kind::kSoftmax), 1e-6));
}

TEST(SoftmaxTest, LargeInputsAndTies) {
  Tensor x = make_tensor(DType::kFloat32, {2, 4}, {1000, 1001, 1002, 1003, -1000, -1000, -1000, -1000});
  Tensor s = run_both({"Softmax"}, {x});
  EXPECT_TRUE(tensors_near(s, ref_softmax(x, 2, 4, 1, Kind::kSoftmax), 1e-6));
  Tensor ls = run_both({"LogSoftmax"}, {x});
  EXPECT_TRUE(tensors_near(ls, ref_softmax(x, 2, 4, 1, Kind::kLogSoftmax), 1e-4));
  // Hardmax picks the first of equal maxima.
  EXPECT_EQ(run_both({"Hardmax"}, {x}).to_double_vector(), (std::vector<double>{0, 0, 0, 1, 1, 0, 0, 0}));
  Tensor col = make_tensor(DType::kFloat32, {3, 2}, {1, 5, 7, 5, 7, 2});
  EXPECT_EQ(run_both({"Hardmax", {attr_int("axis", 0)}, 13}, {col}).to_double_vector(),
            (std::vector<double>{0, 1, 1, 0, 0, 0}));
}

TEST(SoftmaxTest, BadAxisAndOtherTypes) {
  EXPECT_NE(run_error({"Softmax", {attr_int("axis", 2)}, 13}, {random_tensor({2, 3})}).find("axis 2 is out of range"),
            std::string::npos);
  Tensor d = random_of(DType::kFloat64, {3, 7}, -3, 3, 5);
  EXPECT_TRUE(tensors_near(run_both({"Softmax"}, {d}), ref_softmax(d, 3, 7, 1, Kind::kSoftmax), 1e-12));
  Tensor h = random_of(DType::kFloat16, {3, 7}, -3, 3, 6);
  EXPECT_TRUE(tensors_near(run_both({"LogSoftmax"}, {h}), ref_softmax(h, 3, 7, 1, Kind::kLogSoftmax), 4e-3));
}

}  // namespace
}  // namespace quench::testing
