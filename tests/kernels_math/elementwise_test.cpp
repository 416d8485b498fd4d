// Broadcasting arithmetic, comparison, logic and Where kernels against scalar references, over
// sizes below / at / above the SIMD widths, broadcasting patterns, dtypes and in-place runs.
#include <climits>
#include <cmath>

#include "math_util.h"

namespace quench::testing {
namespace {

struct ShapePair {
  Shape a, b;
};

// Same shapes of many lengths, scalars on either side, channel / row / column / outer-product
// broadcasting, and a rank-6 case that does not collapse.
const std::vector<ShapePair> kShapePairs = {
    {{1}, {1}},           {{3}, {3}},          {{4}, {4}},
    {{7}, {7}},           {{8}, {8}},          {{15}, {15}},
    {{16}, {16}},         {{17}, {17}},        {{33}, {33}},
    {{1000}, {1000}},     {{5, 7}, {}},        {{}, {5, 7}},
    {{2, 3, 4, 5}, {3, 1, 1}},                 {{2, 3, 4, 5}, {5}},
    {{3, 1, 1}, {2, 3, 4, 5}},                 {{4, 1}, {1, 5}},
    {{2, 1, 4}, {3, 1}},  {{1, 17}, {19, 1}},  {{2, 1, 3, 1, 2, 3}, {1, 2, 1, 2, 1, 3}},
    {{70000}, {70000}},   {{3, 70000}, {3, 1}}, {{1}, {}},
};

struct ArithCase {
  const char* op;
  std::function<double(double, double)> ref;
};

TEST(ElementwiseTest, FloatArithmeticMatchesReferenceOverShapes) {
  const std::vector<ArithCase> cases = {
      {"Add", [](double x, double y) { return x + y; }},
      {"Sub", [](double x, double y) { return x - y; }},
      {"Mul", [](double x, double y) { return x * y; }},
      {"Div", [](double x, double y) { return x / y; }},
      {"Max", [](double x, double y) { return std::max(x, y); }},
      {"Min", [](double x, double y) { return std::min(x, y); }},
      {"Pow", [](double x, double y) { return std::pow(x, y); }},
  };
  uint32_t seed = 1;
  for (const ArithCase& c : cases) {
    for (const ShapePair& sp : kShapePairs) {
      // Pow needs a positive base for real results; Div a divisor away from 0.
      Tensor a = random_tensor(sp.a, 0.5f, 2.0f, seed++);
      Tensor b = random_tensor(sp.b, 0.5f, 2.0f, seed++);
      Tensor y = run_both({c.op}, {a, b});
      if (!y.defined()) continue;
      EXPECT_TRUE(tensors_near(y, ref_binary(a, b, c.ref), 1e-6, 1e-6))
          << c.op << " " << shape_to_string(sp.a) << " " << shape_to_string(sp.b);
    }
  }
}

TEST(ElementwiseTest, DoubleAndFloat16Add) {
  Tensor a = random_of(DType::kFloat64, {3, 5}, -4, 4, 7);
  Tensor b = random_of(DType::kFloat64, {5}, -4, 4, 8);
  EXPECT_TRUE(tensors_near(run_both({"Add"}, {a, b}), ref_binary(a, b, std::plus<double>()), 1e-12));
  Tensor h = random_of(DType::kFloat16, {2, 9}, -4, 4, 9);
  Tensor hb = random_of(DType::kFloat16, {2, 1}, -4, 4, 10);
  // The reference rounds the exact sum of the two half values to half, as the kernel does.
  EXPECT_TRUE(tensors_near(run_both({"Mul"}, {h, hb}), ref_binary(h, hb, std::multiplies<double>()), 0.0));
}

TEST(ElementwiseTest, LegacyBroadcastBeforeOpset7) {
  Tensor a = random_tensor({2, 3, 4, 5}, -1, 1, 81);
  Tensor b = random_tensor({3, 4}, -1, 1, 82);
  // axis=1 puts B's [3, 4] on A's dimensions 1 and 2 (numpy would align it with 2 and 3).
  Tensor y = run_both({"Mul", {attr_int("broadcast", 1), attr_int("axis", 1)}, 6}, {a, b});
  Tensor expected = ref_binary(a, b.reshaped({3, 4, 1}), std::multiplies<double>());
  EXPECT_TRUE(tensors_near(y, expected, 1e-7));
  // Without axis: numpy's suffix alignment.
  Tensor c = random_tensor({5}, -1, 1, 83);
  EXPECT_TRUE(tensors_near(run_both({"Add", {attr_int("broadcast", 1)}, 6}, {a, c}),
                           ref_binary(a, c, std::plus<double>()), 1e-7));
  // Without broadcast=1 the shapes must be equal.
  std::string e = run_error({"Add", {}, 6}, {a, c});
  EXPECT_NE(e.find("attribute broadcast is 0"), std::string::npos) << e;
  EXPECT_NE(run_error({"Sub", {attr_int("broadcast", 1), attr_int("axis", 3)}, 6}, {a, b}).find("cannot place B"),
            std::string::npos);
  Tensor bools = make_tensor(DType::kBool, {2, 3}, {1, 0, 1, 1, 1, 0});
  Tensor row = make_tensor(DType::kBool, {2}, {1, 0});
  EXPECT_EQ(run_both({"And", {attr_int("broadcast", 1), attr_int("axis", 0)}, 1}, {bools, row}).to_int64_vector(),
            (std::vector<int64_t>{1, 0, 1, 0, 0, 0}));
}

TEST(ElementwiseTest, IntegerArithmeticTruncatesAndWraps) {
  Tensor a = int64_tensor({6}, {7, -7, 7, -7, 0, INT64_MIN});
  Tensor b = int64_tensor({6}, {2, 2, -2, -2, 5, -1});
  EXPECT_EQ(run_both({"Div"}, {a, b}).to_int64_vector(),
            (std::vector<int64_t>{3, -3, -3, 3, 0, INT64_MIN}));
  EXPECT_EQ(run_both({"Mod"}, {a, b}).to_int64_vector(), (std::vector<int64_t>{1, 1, -1, -1, 0, 0}));
  EXPECT_EQ(run_both({"Mod", {attr_int("fmod", 1)}}, {a, b}).to_int64_vector(),
            (std::vector<int64_t>{1, -1, 1, -1, 0, 0}));
  Tensor i32a = make_tensor(DType::kInt32, {3}, {2147483647.0, -5, 100000});
  Tensor i32b = make_tensor(DType::kInt32, {3}, {1, 3, 100000});
  EXPECT_EQ(run_both({"Add"}, {i32a, i32b}).to_int64_vector(),
            (std::vector<int64_t>{INT32_MIN, -2, 200000}));
  EXPECT_EQ(run_both({"Mul"}, {i32a, i32b}).to_int64_vector(),
            (std::vector<int64_t>{2147483647, -15, 1410065408}));  // 10^10 mod 2^32
  Tensor u8a = make_tensor(DType::kUInt8, {3}, {250, 3, 7});
  Tensor u8b = make_tensor(DType::kUInt8, {3}, {10, 5, 2});
  EXPECT_EQ(run_both({"Add"}, {u8a, u8b}).to_int64_vector(), (std::vector<int64_t>{4, 8, 9}));
  EXPECT_EQ(run_both({"Sub"}, {u8a, u8b}).to_int64_vector(), (std::vector<int64_t>{240, 254, 5}));
  EXPECT_EQ(run_both({"Div"}, {u8a, u8b}).to_int64_vector(), (std::vector<int64_t>{25, 0, 3}));
}

TEST(ElementwiseTest, IntegerDivisionByZeroIsAnError) {
  Tensor a = make_tensor(DType::kInt32, {2}, {1, 2});
  Tensor b = make_tensor(DType::kInt32, {2}, {1, 0});
  EXPECT_NE(run_error({"Div"}, {a, b}).find("division by zero (input 1, element 1)"), std::string::npos);
  EXPECT_NE(run_error({"Mod"}, {a, b}).find("division by zero"), std::string::npos);
}

TEST(ElementwiseTest, FloatModNeedsFmodAndFollowsTheDividendSign) {
  Tensor a = make_tensor(DType::kFloat32, {4}, {5.5, -5.5, 5.5, -5.5});
  Tensor b = make_tensor(DType::kFloat32, {4}, {2, 2, -2, -2});
  EXPECT_EQ(run_both({"Mod", {attr_int("fmod", 1)}}, {a, b}).to_double_vector(),
            (std::vector<double>{1.5, -1.5, 1.5, -1.5}));
  EXPECT_NE(run_error({"Mod"}, {a, b}).find("needs attribute fmod=1 (got fmod=0)"), std::string::npos);
}

TEST(ElementwiseTest, BroadcastMismatchNamesBothShapes) {
  Tensor a = random_tensor({2, 3});
  Tensor b = random_tensor({4});
  std::string e = run_error({"Add"}, {a, b});
  EXPECT_NE(e.find("[2, 3]"), std::string::npos) << e;
  EXPECT_NE(e.find("[4]"), std::string::npos) << e;
  EXPECT_NE(e.find("Add"), std::string::npos) << e;
  EXPECT_NE(run_error({"Add"}, {a, make_tensor(DType::kFloat64, {3}, {1, 2, 3})}).find("float64"),
            std::string::npos);
}

TEST(ElementwiseTest, VariadicOpsBroadcastAllInputs) {
  Tensor a = random_tensor({2, 1, 4}, -1, 1, 21);
  Tensor b = random_tensor({3, 1}, -1, 1, 22);
  Tensor c = random_tensor({4}, -1, 1, 23);
  auto ref = [&](std::function<double(const std::vector<double>&)> f) {
    return ref_nary({a, b, c}, DType::kFloat32, f);
  };
  EXPECT_TRUE(tensors_near(run_both({"Sum"}, {a, b, c}),
                           ref([](auto& v) { return v[0] + v[1] + v[2]; }), 1e-6));
  EXPECT_TRUE(tensors_near(run_both({"Mean"}, {a, b, c}),
                           ref([](auto& v) { return (v[0] + v[1] + v[2]) / 3; }), 1e-6));
  EXPECT_TRUE(tensors_near(run_both({"Max"}, {a, b, c}),
                           ref([](auto& v) { return std::max({v[0], v[1], v[2]}); }), 0.0));
  EXPECT_TRUE(tensors_near(run_both({"Min"}, {a, b, c}),
                           ref([](auto& v) { return std::min({v[0], v[1], v[2]}); }), 0.0));
  // One input: the input itself.
  EXPECT_TRUE(tensors_near(run_both({"Sum"}, {a}), a, 0.0));
  // Opset 6 Max (pre-broadcasting signature) runs the same kernel.
  EXPECT_TRUE(tensors_near(run_both({"Max", {}, 7}, {a, a}), a, 0.0));
}

TEST(ElementwiseTest, MaxAndMinPropagateNaN) {
  const double nan = std::nan("");
  Tensor a = make_tensor(DType::kFloat32, {3}, {nan, 1, 2});
  Tensor b = make_tensor(DType::kFloat32, {3}, {1, nan, 3});
  std::vector<double> mx = run_both({"Max"}, {a, b}).to_double_vector();
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]));
  EXPECT_EQ(mx[2], 3);
  std::vector<double> mn = run_both({"Min"}, {a, b}).to_double_vector();
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mn[2], 2);
}

TEST(ElementwiseTest, PowWithMixedExponentTypes) {
  Tensor base = make_tensor(DType::kFloat32, {4}, {2, -3, 0.5, 4});
  Tensor e64 = int64_tensor({4}, {3, 2, -1, 0});
  EXPECT_EQ(run_both({"Pow", {}, 15}, {base, e64}).to_double_vector(), (std::vector<double>{8, 9, 2, 1}));
  Tensor ibase = make_tensor(DType::kInt32, {3}, {2, -3, 5});
  Tensor fexp = make_tensor(DType::kFloat32, {3}, {3, 2, 0.5});
  EXPECT_EQ(run_both({"Pow", {}, 15}, {ibase, fexp}).to_int64_vector(), (std::vector<int64_t>{8, 9, 2}));
  Tensor lbase = int64_tensor({3}, {3, -2, 7});
  Tensor lexp = int64_tensor({3}, {39, 63, -1});
  EXPECT_EQ(run_both({"Pow", {}, 15}, {lbase, lexp}).to_int64_vector(),
            (std::vector<int64_t>{4052555153018976267, INT64_MIN, 0}));
  // Scalar exponents with fast paths: 2, 0.5, 3, 1 and a generic one.
  Tensor x = random_tensor({37}, 0.1f, 3.0f, 5);
  for (float e : {2.0f, 0.5f, 3.0f, 1.0f, 1.7f}) {
    Tensor ex = Tensor::scalar(e);
    EXPECT_TRUE(tensors_near(run_both({"Pow"}, {x, ex}),
                             ref_binary(x, ex, [](double p, double q) { return std::pow(p, q); }), 1e-6,
                             1e-6))
        << e;
  }
}

TEST(ElementwiseTest, ComparisonsOutputBool) {
  Tensor a = make_tensor(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = make_tensor(DType::kFloat32, {3}, {2, 2, 7});
  struct Cmp {
    const char* op;
    int opset;
    std::function<bool(double, double)> f;
  };
  const std::vector<Cmp> cmps = {
      {"Equal", 13, std::equal_to<double>()},      {"Less", 13, std::less<double>()},
      {"Greater", 13, std::greater<double>()},     {"LessOrEqual", 16, std::less_equal<double>()},
      {"GreaterOrEqual", 16, std::greater_equal<double>()},
  };
  for (const Cmp& c : cmps) {
    for (DType t : {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kFloat16, DType::kUInt8}) {
      Tensor at = make_tensor(t, a.shape(), a.to_double_vector());
      Tensor bt = make_tensor(t, b.shape(), b.to_double_vector());
      Tensor y = run_both({c.op, {}, c.opset}, {at, bt});
      EXPECT_TRUE(tensors_near(y, ref_binary(at, bt, [&](double p, double q) { return c.f(p, q); }, DType::kBool), 0.0))
          << c.op << " " << dtype_name(t);
    }
  }
}

TEST(ElementwiseTest, LogicOpsAndNot) {
  Tensor a = make_tensor(DType::kBool, {2, 2}, {0, 1, 0, 1});
  Tensor b = make_tensor(DType::kBool, {2, 1}, {0, 1});
  EXPECT_EQ(run_both({"And"}, {a, b}).to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(run_both({"Or"}, {a, b}).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 1}));
  EXPECT_EQ(run_both({"Xor"}, {a, b}).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(run_both({"Not"}, {a}).to_int64_vector(), (std::vector<int64_t>{1, 0, 1, 0}));
  EXPECT_EQ(run_both({"Equal"}, {a, b}).to_int64_vector(), (std::vector<int64_t>{1, 0, 0, 1}));
  std::string e = run_error({"And"}, {random_tensor({2}), random_tensor({2})});
  EXPECT_NE(e.find("no kernel for element type float32"), std::string::npos) << e;
  // Directly (bypassing the registry's type check) the kernel refuses non-bool inputs itself.
  Result<std::vector<Tensor>> d = run_kernel_direct({"And"}, {random_tensor({2}), random_tensor({2})}, {});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("input 0 must be bool (got float32)"), std::string::npos)
      << d.status().message();
}

TEST(ElementwiseTest, BitShiftAndBitwise) {
  Tensor x = make_tensor(DType::kUInt8, {4}, {16, 4, 1, 255});
  Tensor s = make_tensor(DType::kUInt8, {4}, {1, 2, 3, 9});
  EXPECT_EQ(run_both({"BitShift", {attr_string("direction", "LEFT")}}, {x, s}).to_int64_vector(),
            (std::vector<int64_t>{32, 16, 8, 0}));
  EXPECT_EQ(run_both({"BitShift", {attr_string("direction", "RIGHT")}}, {x, s}).to_int64_vector(),
            (std::vector<int64_t>{8, 1, 0, 0}));
  Tensor a = make_tensor(DType::kInt32, {3}, {12, -1, 5});
  Tensor b = make_tensor(DType::kInt32, {3}, {10, 7, -6});
  EXPECT_EQ(run_both({"BitwiseAnd", {}, 18}, {a, b}).to_int64_vector(), (std::vector<int64_t>{8, 7, 0}));
  EXPECT_EQ(run_both({"BitwiseOr", {}, 18}, {a, b}).to_int64_vector(), (std::vector<int64_t>{14, -1, -1}));
  EXPECT_EQ(run_both({"BitwiseXor", {}, 18}, {a, b}).to_int64_vector(), (std::vector<int64_t>{6, -8, -1}));
  EXPECT_EQ(run_both({"BitwiseNot", {}, 18}, {a}).to_int64_vector(), (std::vector<int64_t>{-13, 0, -6}));
  EXPECT_NE(run_error({"BitShift", {attr_string("direction", "UP")}}, {x, s}).find("\"UP\""),
            std::string::npos);
}

TEST(ElementwiseTest, WhereBroadcastsAllThreeInputs) {
  for (DType t : {DType::kFloat32, DType::kInt64, DType::kUInt8, DType::kFloat16}) {
    Tensor c = make_tensor(DType::kBool, {2, 1, 3}, {1, 0, 1, 0, 0, 1});
    Tensor x = random_of(t, {4, 1}, 0, 100, 3);
    Tensor y = random_of(t, {1, 4, 3}, 0, 100, 4);
    Tensor out = run_both({"Where"}, {c, x, y});
    EXPECT_TRUE(tensors_near(out, ref_nary({c, x, y}, t, [](auto& v) { return v[0] != 0 ? v[1] : v[2]; }), 0.0))
        << dtype_name(t);
  }
  Tensor c = make_tensor(DType::kBool, {1000}, std::vector<double>(1000, 1));
  Tensor x = random_tensor({1000}, -1, 1, 5);
  EXPECT_TRUE(tensors_near(run_both({"Where"}, {c, x, random_tensor({1000})}), x, 0.0));
}

TEST(ElementwiseTest, InPlaceRunsWriteIntoTheDyingInput) {
  Tensor a = random_tensor({4, 33}, -1, 1, 71);
  Tensor b = random_tensor({33}, -1, 1, 72);
  Tensor expected = ref_binary(a, b, std::minus<double>());
  // Output shape equals input 0's: input 0's buffer is reused.
  Tensor a0 = a.clone();
  Result<std::vector<Tensor>> r = run_kernel_direct({"Sub"}, {a0, b}, {true, true});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->at(0).shares_storage(a0));
  EXPECT_TRUE(tensors_near(r->at(0), expected, 1e-6));
  // Input 1 has the output's shape when the broadcast one comes first.
  Tensor b1 = a.clone();
  Result<std::vector<Tensor>> r1 = run_kernel_direct({"Sub"}, {b, b1}, {true, true});
  ASSERT_TRUE(r1.ok());
  EXPECT_TRUE(r1->at(0).shares_storage(b1));
  EXPECT_TRUE(tensors_near(r1->at(0), ref_binary(b, a, std::minus<double>()), 1e-6));
  // Not reusable: a new buffer, the input untouched.
  Tensor a2 = a.clone();
  Result<std::vector<Tensor>> r2 = run_kernel_direct({"Sub"}, {a2, b}, {false, false});
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->at(0).shares_storage(a2));
  EXPECT_TRUE(tensors_near(a2, a, 0.0));
  // Unary and comparison kernels: Relu reuses, Less (bool output) cannot.
  Tensor a3 = a.clone();
  Result<std::vector<Tensor>> r3 = run_kernel_direct({"Relu"}, {a3}, {true});
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->at(0).shares_storage(a3));
  Result<std::vector<Tensor>> r4 = run_kernel_direct({"Less"}, {a.clone(), b}, {true, true});
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(r4->at(0).dtype(), DType::kBool);
}

TEST(ElementwiseTest, ResultsDoNotDependOnThreadCount) {
  Tensor a = random_tensor({3, 100000}, -1, 1, 31);
  Tensor b = random_tensor({3, 1}, -1, 1, 32);
  Tensor one = run_both({"Add"}, {a, b}, 0, 1);
  Tensor two = run_both({"Add"}, {a, b}, 0, 2);
  EXPECT_TRUE(tensors_near(one, two, 0.0));
  EXPECT_TRUE(tensors_near(one, ref_binary(a, b, std::plus<double>()), 1e-6));
}

}  // namespace
}  // namespace quench::testing
