// Reduce* and ArgMax / ArgMin against an index-by-index reference over axes patterns (last axis,
// middle axes, first axis, several separated axes, all), keepdims, both axes signatures, and
// accuracy of long float sums.
#include <cmath>
#include <limits>

#include "math_util.h"

namespace quench::testing {
namespace {

struct RefReduce {
  double init;
  std::function<double(double, double)> fold;
  std::function<double(double)> pre;
  std::function<double(double, int64_t)> post;
};

RefReduce ref_for(const std::string& op) {
  auto id = [](double x) { return x; };
  auto keep = [](double a, int64_t) { return a; };
  auto sum = [](double a, double b) { return a + b; };
  if (op == "ReduceSum") return {0, sum, id, keep};
  if (op == "ReduceMean") return {0, sum, id, [](double a, int64_t n) { return a / n; }};
  if (op == "ReduceMax") return {-INFINITY, [](double a, double b) { return std::max(a, b); }, id, keep};
  if (op == "ReduceMin") return {INFINITY, [](double a, double b) { return std::min(a, b); }, id, keep};
  if (op == "ReduceProd") return {1, [](double a, double b) { return a * b; }, id, keep};
  if (op == "ReduceL1") return {0, sum, [](double x) { return std::fabs(x); }, keep};
  if (op == "ReduceL2") return {0, sum, [](double x) { return x * x; }, [](double a, int64_t) { return std::sqrt(a); }};
  if (op == "ReduceSumSquare") return {0, sum, [](double x) { return x * x; }, keep};
  if (op == "ReduceLogSum") return {0, sum, id, [](double a, int64_t) { return std::log(a); }};
  // ReduceLogSumExp
  return {0, sum, [](double x) { return std::exp(x); }, [](double a, int64_t) { return std::log(a); }};
}

// Reduces x over axes (normalized) element by element.
Tensor ref_reduce(const Tensor& x, const std::string& op, std::vector<int64_t> axes, bool keepdims) {
  const Shape& s = x.shape();
  const size_t rank = s.size();
  std::vector<bool> red(rank, false);
  for (int64_t a : axes) red[static_cast<size_t>(a)] = true;
  Shape keep_shape, out_shape;
  for (size_t d = 0; d < rank; ++d) {
    keep_shape.push_back(red[d] ? 1 : s[d]);
    if (!red[d]) out_shape.push_back(s[d]);
    else if (keepdims) out_shape.push_back(1);
  }
  RefReduce r = ref_for(op);
  const int64_t out_n = shape_numel(keep_shape);
  std::vector<double> acc(static_cast<size_t>(out_n), r.init);
  int64_t count = 1;
  for (size_t d = 0; d < rank; ++d) if (red[d]) count *= s[d];
  std::vector<double> v = x.to_double_vector();
  std::vector<int64_t> out_strides = contiguous_strides(keep_shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, o = 0;
    for (size_t d = rank; d-- > 0;) {
      int64_t c = rem % s[d];
      rem /= s[d];
      if (!red[d]) o += c * out_strides[d];
    }
    acc[static_cast<size_t>(o)] = r.fold(acc[static_cast<size_t>(o)], r.pre(v[static_cast<size_t>(i)]));
  }
  for (double& a : acc) a = r.post(a, count);
  return make_tensor(x.dtype(), out_shape, acc);
}

struct AxesCase {
  Shape shape;
  std::vector<int64_t> axes;  // as given to the op (may be negative); empty = all
};

const std::vector<AxesCase> kAxesCases = {
    {{5}, {0}},
    {{3, 17}, {1}},             // last axis, odd length
    {{2, 1030}, {-1}},          // last axis across a stretch boundary
    {{4, 16}, {0}},             // first axis
    {{2, 3, 5}, {1}},           // middle axis
    {{2, 300, 7}, {1}},         // middle axis, long and narrow
    {{3, 4, 300}, {1}},         // middle axis, inner wider than a tile
    {{2, 3, 4, 5}, {0, 2}},     // separated axes
    {{2, 3, 4, 5}, {1, 3}},
    {{2, 3, 4, 5}, {2, 3}},     // adjacent trailing axes merge
    {{2, 3, 4, 5}, {}},         // all
    {{2, 1, 4}, {1}},           // a size-1 axis only
    {{1, 5000}, {1}},
    {{6, 1, 7}, {0, 2}},
};

TEST(ReduceTest, MatchesReferenceOverAxesAndKeepdims) {
  const std::vector<std::string> ops = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                        "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                                        "ReduceLogSum", "ReduceLogSumExp"};
  uint32_t seed = 100;
  for (const std::string& op : ops) {
    const bool positive = op == "ReduceLogSum" || op == "ReduceProd";
    for (const AxesCase& c : kAxesCases) {
      for (bool keepdims : {true, false}) {
        // Values near 1 keep products finite; positive values keep logs real.
        Tensor x = positive ? random_tensor(c.shape, 0.9f, 1.1f, seed++) : random_tensor(c.shape, -2, 2, seed++);
        std::vector<int64_t> norm;
        for (int64_t a : c.axes) norm.push_back(a < 0 ? a + static_cast<int64_t>(c.shape.size()) : a);
        if (norm.empty()) for (size_t d = 0; d < c.shape.size(); ++d) norm.push_back(static_cast<int64_t>(d));
        Tensor expected = ref_reduce(x, op, norm, keepdims);
        std::vector<Attribute> attrs = {attr_int("keepdims", keepdims)};
        // Opset 17: axes attribute (ReduceSum: opset 11).
        std::vector<Attribute> with_axes = attrs;
        if (!c.axes.empty()) with_axes.push_back(attr_ints("axes", c.axes));
        const int64_t attr_opset = op == "ReduceSum" ? 11 : 17;
        Tensor y = run_both({op, with_axes, attr_opset}, {x});
        EXPECT_TRUE(tensors_near(y, expected, 1e-5, 1e-5))
            << op << " " << shape_to_string(c.shape) << " keepdims=" << keepdims;
        // Opset 18: axes input.
        std::vector<Tensor> inputs = {x};
        if (!c.axes.empty()) inputs.push_back(int64_tensor({static_cast<int64_t>(c.axes.size())}, c.axes));
        Tensor y18 = run_both({op, attrs, 18}, inputs);
        EXPECT_TRUE(tensors_near(y18, expected, 1e-5, 1e-5))
            << op << " opset 18 " << shape_to_string(c.shape) << " keepdims=" << keepdims;
      }
    }
  }
}

TEST(ReduceTest, IntegerReductions) {
  Tensor x = make_tensor(DType::kInt32, {2, 3}, {1, -2, 3, 4, 5, -6});
  EXPECT_EQ(run_both({"ReduceSum", {attr_int("keepdims", 0)}, 13}, {x, int64_tensor({1}, {1})}).to_int64_vector(),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(run_both({"ReduceMax", {attr_ints("axes", {0})}, 13}, {x}).to_int64_vector(),
            (std::vector<int64_t>{4, 5, 3}));
  EXPECT_EQ(run_both({"ReduceMin", {attr_ints("axes", {1})}, 13}, {x}).to_int64_vector(),
            (std::vector<int64_t>{-2, -6}));
  EXPECT_EQ(run_both({"ReduceProd", {attr_int("keepdims", 0)}, 13}, {x}).to_int64_vector(),
            (std::vector<int64_t>{720}));
  EXPECT_EQ(run_both({"ReduceMean", {attr_ints("axes", {1})}, 13}, {x}).to_int64_vector(),
            (std::vector<int64_t>{0, 1}));  // 2/3 and 3/3, truncated
  Tensor big = make_tensor(DType::kInt64, {3}, {4000000000.0, 4000000000.0, 1});
  EXPECT_EQ(run_both({"ReduceSum", {}, 13}, {big}).to_int64_vector(), (std::vector<int64_t>{8000000001}));
  Tensor u8 = make_tensor(DType::kUInt8, {4}, {3, 250, 7, 1});
  EXPECT_EQ(run_both({"ReduceMax", {}, 13}, {u8}).to_int64_vector(), (std::vector<int64_t>{250}));
}

TEST(ReduceTest, EmptyAxesInputReducesAllOrNothing) {
  Tensor x = random_tensor({2, 3}, -1, 1, 7);
  Tensor empty_axes = int64_tensor({0}, {});
  Tensor all = run_both({"ReduceSum", {}, 13}, {x, empty_axes});
  EXPECT_TRUE(tensors_near(all, ref_reduce(x, "ReduceSum", {0, 1}, true), 1e-6));
  Tensor noop = run_both({"ReduceSum", {attr_int("noop_with_empty_axes", 1)}, 13}, {x, empty_axes});
  EXPECT_TRUE(tensors_near(noop, x, 0.0));
  Tensor noop_missing = run_both({"ReduceSum", {attr_int("noop_with_empty_axes", 1)}, 13}, {x});
  EXPECT_TRUE(tensors_near(noop_missing, x, 0.0));
  // Reducing nothing still applies the element-wise part.
  Tensor sq = run_both({"ReduceSumSquare", {attr_int("noop_with_empty_axes", 1)}, 18}, {x});
  EXPECT_TRUE(tensors_near(sq, ref_unary(x, [](double v) { return v * v; }), 1e-7));
  Tensor l1 = run_both({"ReduceL1", {attr_int("noop_with_empty_axes", 1)}, 18}, {x});
  EXPECT_TRUE(tensors_near(l1, ref_unary(x, [](double v) { return std::fabs(v); }), 0.0));
}

TEST(ReduceTest, EmptyReducedAxisGivesIdentity) {
  Tensor x = Tensor::empty(DType::kFloat32, {2, 0, 3});
  std::vector<Attribute> a = {attr_ints("axes", {1}), attr_int("keepdims", 0)};
  EXPECT_EQ(run_both({"ReduceSum", a, 11}, {x}).to_double_vector(), std::vector<double>(6, 0.0));
  EXPECT_EQ(run_both({"ReduceProd", a, 13}, {x}).to_double_vector(), std::vector<double>(6, 1.0));
  EXPECT_EQ(run_both({"ReduceMax", a, 13}, {x}).to_double_vector(),
            std::vector<double>(6, -std::numeric_limits<double>::infinity()));
}

TEST(ReduceTest, BadAxesAreReported) {
  Tensor x = random_tensor({2, 3});
  EXPECT_NE(run_error({"ReduceMean", {attr_ints("axes", {2})}, 13}, {x}).find("axes value 2 is out of range for rank 2"),
            std::string::npos);
  EXPECT_NE(run_error({"ReduceMean", {attr_ints("axes", {1, -1})}, 13}, {x}).find("axis 1 twice"),
            std::string::npos);
  EXPECT_NE(run_error({"ReduceSum", {}, 13}, {x, int64_tensor({1}, {-3})}).find("-3"), std::string::npos);
}

TEST(ReduceTest, LongSumsKeepPrecisionAndDoNotDependOnThreads) {
  // 0.1 is not exact in float; a naive float loop over 3 million of them drifts by ~1e-2 relative.
  const int64_t n = 3000000;
  Tensor x = make_tensor(DType::kFloat32, {n}, std::vector<double>(static_cast<size_t>(n), 0.1));
  const double exact = n * static_cast<double>(0.1f);
  double one = run_both({"ReduceSum", {}, 11}, {x}, 0, 1).to_double_vector()[0];
  double two = run_both({"ReduceSum", {}, 11}, {x}, 0, 2).to_double_vector()[0];
  EXPECT_NEAR(one / exact, 1.0, 1e-6);
  EXPECT_EQ(one, two);
  // A long column reduction too.
  Tensor col = make_tensor(DType::kFloat32, {n / 3, 3}, std::vector<double>(static_cast<size_t>(n), 0.1));
  std::vector<double> c = run_both({"ReduceSum", {attr_ints("axes", {0})}, 11}, {col}).to_double_vector();
  for (double v : c) EXPECT_NEAR(v / (exact / 3), 1.0, 1e-6);
  Tensor mean = run_both({"ReduceMean", {attr_ints("axes", {0}), attr_int("keepdims", 0)}, 13},
                         {random_tensor({200000, 2}, 1, 3, 5)});
  for (double v : mean.to_double_vector()) EXPECT_NEAR(v, 2.0, 5e-3);
}

TEST(ReduceTest, LogSumExpDoesNotOverflow) {
  Tensor x = make_tensor(DType::kFloat32, {2, 2}, {1000, 1000, -1000, -1001});
  std::vector<double> y = run_both({"ReduceLogSumExp", {attr_ints("axes", {1})}, 13}, {x}).to_double_vector();
  EXPECT_NEAR(y[0], 1000 + std::log(2.0), 1e-4);
  EXPECT_NEAR(y[1], -1000 + std::log1p(std::exp(-1.0)), 1e-4);
}

// Reference arg-max / arg-min along one axis.
Tensor ref_arg(const Tensor& x, int64_t axis, bool keepdims, bool is_max, bool last) {
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  for (size_t d = axis + 1; d < s.size(); ++d) inner *= s[d];
  const int64_t r = s[axis];
  std::vector<double> v = x.to_double_vector();
  std::vector<int64_t> out;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < r; ++k) {
        double a = v[(o * r + k) * inner + i], b = v[(o * r + best) * inner + i];
        bool better = is_max ? (last ? a >= b : a > b) : (last ? a <= b : a < b);
        if (better) best = k;
      }
      out.push_back(best);
    }
  }
  Shape os;
  for (size_t d = 0; d < s.size(); ++d) {
    if (static_cast<int64_t>(d) != axis) os.push_back(s[d]);
    else if (keepdims) os.push_back(1);
  }
  return Tensor::from_vector<int64_t>(os, out);
}

TEST(ReduceTest, ArgMaxArgMinWithTiesAndLastIndex) {
  uint32_t seed = 300;
  for (const Shape& shape : std::vector<Shape>{{7}, {3, 17}, {2, 5, 3}, {2, 40, 300}, {4, 1, 2}}) {
    for (int64_t axis = 0; axis < static_cast<int64_t>(shape.size()); ++axis) {
      // Small integers give many ties.
      Tensor x = random_of(DType::kFloat32, shape, -3, 3, seed++);
      std::vector<double> v = x.to_double_vector();
      for (double& e : v) e = std::round(e);
      x = make_tensor(DType::kFloat32, shape, v);
      for (bool is_max : {true, false}) {
        for (bool last : {false, true}) {
          for (bool keepdims : {true, false}) {
            std::vector<Attribute> a = {attr_int("axis", axis - (axis % 2 ? static_cast<int64_t>(shape.size()) : 0)),
                                        attr_int("keepdims", keepdims), attr_int("select_last_index", last)};
            Tensor y = run_both({is_max ? "ArgMax" : "ArgMin", a, 13}, {x});
            EXPECT_TRUE(tensors_near(y, ref_arg(x, axis, keepdims, is_max, last), 0.0))
                << shape_to_string(shape) << " axis " << axis << " max " << is_max << " last " << last;
          }
        }
      }
    }
  }
  // NaN never wins; an all-NaN row gives 0. Rows (last axis) and columns (first axis).
  const double nan = std::nan("");
  Tensor n = make_tensor(DType::kFloat32, {2, 4}, {nan, 1, 3, nan, nan, nan, nan, nan});
  EXPECT_EQ(run_both({"ArgMax", {attr_int("axis", 1), attr_int("keepdims", 0)}, 13}, {n}).to_int64_vector(),
            (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(run_both({"ArgMin", {attr_int("axis", 1), attr_int("keepdims", 0)}, 13}, {n}).to_int64_vector(),
            (std::vector<int64_t>{1, 0}));
  Tensor nt = make_tensor(DType::kFloat32, {4, 2}, {nan, nan, 1, nan, 3, nan, nan, nan});
  EXPECT_EQ(run_both({"ArgMax", {attr_int("axis", 0), attr_int("keepdims", 0)}, 13}, {nt}).to_int64_vector(),
            (std::vector<int64_t>{2, 0}));
  Tensor i = make_tensor(DType::kInt64, {2, 2}, {5, 9, 9, 5});
  EXPECT_EQ(run_both({"ArgMax", {attr_int("axis", 1), attr_int("keepdims", 0)}, 11}, {i}).to_int64_vector(),
            (std::vector<int64_t>{1, 0}));
  EXPECT_NE(run_error({"ArgMax", {attr_int("axis", 3)}, 13}, {i}).find("axis 3 is out of range"), std::string::npos);
}

}  // namespace
}  // namespace quench::testing
