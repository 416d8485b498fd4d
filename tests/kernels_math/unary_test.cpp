// Unary math, activations, Cast, Dropout and friends against libm / hand-computed references.
#include <cmath>
#include <cstring>
#include <limits>

#include "math_util.h"
#include "runtime/kernels/unary_math.h"

namespace quench::testing {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Inputs over [lo, hi] at lengths that exercise the vector body and the scalar tail.
Tensor sweep(double lo, double hi, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = lo + (hi - lo) * i / std::max<int64_t>(n - 1, 1);
  return make_tensor(DType::kFloat32, {n}, v);
}

struct UnaryCase {
  OpSpec spec;
  double lo, hi;
  std::function<double(double)> ref;
  double atol, rtol;
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

TEST(UnaryTest, FloatFunctionsMatchLibm) {
  const std::vector<UnaryCase> cases = {
      {{"Exp"}, -80, 80, [](double x) { return std::exp(x); }, 0, 1e-6},
      {{"Sigmoid"}, -30, 30, sigmoid, 2e-7, 1e-6},
      {{"Tanh"}, -10, 10, [](double x) { return std::tanh(x); }, 1e-7, 2e-6},
      {{"Erf"}, -5, 5, [](double x) { return std::erf(x); }, 1e-6, 0},
      {{"Sqrt"}, 0, 100, [](double x) { return std::sqrt(x); }, 0, 1e-7},
      {{"Log"}, 0.001, 100, [](double x) { return std::log(x); }, 1e-7, 1e-7},
      {{"Abs"}, -5, 5, [](double x) { return std::fabs(x); }, 0, 0},
      {{"Neg"}, -5, 5, [](double x) { return -x; }, 0, 0},
      {{"Reciprocal"}, 0.5, 5, [](double x) { return 1 / x; }, 0, 1e-7},
      {{"Floor"}, -5, 5, [](double x) { return std::floor(static_cast<float>(x)); }, 0, 0},
      {{"Ceil"}, -5, 5, [](double x) { return std::ceil(static_cast<float>(x)); }, 0, 0},
      {{"Sign"}, -5, 5, [](double x) { return static_cast<double>((x > 0) - (x < 0)); }, 0, 0},
      {{"Sin"}, -6, 6, [](double x) { return std::sin(x); }, 1e-7, 1e-6},
      {{"Cos"}, -6, 6, [](double x) { return std::cos(x); }, 1e-7, 1e-6},
      {{"Tan"}, -1.5, 1.5, [](double x) { return std::tan(x); }, 1e-7, 1e-6},
      {{"Asin"}, -1, 1, [](double x) { return std::asin(x); }, 1e-7, 1e-6},
      {{"Acos"}, -1, 1, [](double x) { return std::acos(x); }, 1e-7, 1e-6},
      {{"Atan"}, -9, 9, [](double x) { return std::atan(x); }, 1e-7, 1e-6},
      {{"Sinh"}, -9, 9, [](double x) { return std::sinh(x); }, 1e-7, 1e-6},
      {{"Cosh"}, -9, 9, [](double x) { return std::cosh(x); }, 1e-7, 1e-6},
      {{"Asinh"}, -9, 9, [](double x) { return std::asinh(x); }, 1e-7, 1e-6},
      {{"Acosh"}, 1, 9, [](double x) { return std::acosh(x); }, 1e-7, 1e-6},
      {{"Atanh"}, -0.99, 0.99, [](double x) { return std::atanh(x); }, 1e-7, 1e-6},
      {{"Relu"}, -5, 5, [](double x) { return std::max(x, 0.0); }, 0, 0},
      {{"LeakyRelu"}, -5, 5, [](double x) { return x < 0 ? 0.01f * x : x; }, 1e-7, 1e-6},
      {{"LeakyRelu", {attr_float("alpha", 0.3f)}}, -5, 5, [](double x) { return x < 0 ? 0.3f * x : x; }, 1e-7, 1e-6},
      {{"Elu", {attr_float("alpha", 2.0f)}}, -5, 5, [](double x) { return x < 0 ? 2 * std::expm1(x) : x; }, 1e-7, 1e-6},
      {{"Selu"}, -5, 5, [](double x) {
         return 1.05070102214813232421875 * (x <= 0 ? 1.67326319217681884765625 * std::expm1(x) : x);
       }, 1e-7, 1e-6},
      {{"Celu", {attr_float("alpha", 0.5f)}}, -5, 5, [](double x) {
         return std::max(0.0, x) + std::min(0.0, 0.5 * std::expm1(x / 0.5));
       }, 1e-7, 1e-6},
      {{"HardSigmoid"}, -5, 5, [](double x) { return std::clamp(0.2f * x + 0.5f, 0.0, 1.0); }, 1e-7, 1e-6},
      {{"HardSwish"}, -5, 5, [](double x) { return x * std::clamp(x / 6 + 0.5, 0.0, 1.0); }, 1e-7, 1e-6},
      {{"ThresholdedRelu", {attr_float("alpha", 0.5f)}}, -5, 5, [](double x) { return x > 0.5 ? x : 0; }, 0, 0},
      {{"Shrink", {attr_float("lambd", 1.5f), attr_float("bias", 0.5f)}}, -5, 5, [](double x) {
         return x < -1.5 ? x + 0.5 : (x > 1.5 ? x - 0.5 : 0.0);
       }, 1e-7, 0},
      {{"Softplus"}, -100, 100, softplus, 1e-7, 1e-6},
      {{"Softsign"}, -5, 5, [](double x) { return x / (1 + std::fabs(x)); }, 1e-7, 1e-6},
      {{"Mish", {}, 18}, -30, 30, [](double x) { return x * std::tanh(softplus(x)); }, 1e-6, 1e-5},
      {{"Gelu", {}, 20}, -8, 8, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, 2e-6, 1e-6},
      {{"Gelu", {attr_string("approximate", "tanh")}, 20}, -8, 8, [](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
       }, 2e-6, 1e-6},
  };
  for (const UnaryCase& c : cases) {
    for (int64_t n : {1, 3, 4, 15, 16, 17, 1001}) {
      Tensor x = sweep(c.lo, c.hi, n);
      Tensor y = run_both(c.spec, {x});
      if (!y.defined()) continue;
      EXPECT_TRUE(tensors_near(y, ref_unary(x, c.ref), c.atol, c.rtol)) << c.spec.op_type << " n=" << n;
    }
  }
}

// The float32 loops of Exp, Sigmoid, Tanh and Erf run in an AVX2 or AVX-512 copy where the CPU
// has one: the same operations as the scalar approximations, so the same bits, element for element
// (body and tail lengths; specials included).
TEST(UnaryTest, WideKernelsGiveTheScalarApproximationsBits) {
  struct Fn {
    const char* op;
    float (*f)(float);
  };
  const Fn fns[] = {{"Exp", [](float x) { return exp_approx(x); }},
                    {"Sigmoid", [](float x) { return sigmoid_approx(x); }},
                    {"Tanh", [](float x) { return tanh_approx(x); }},
                    {"Erf", [](float x) { return erf_approx(x); }}};
  for (const Fn& fn : fns) {
    for (int64_t n : {1, 15, 16, 17, 1001}) {
      Tensor x = sweep(-20, 20, n);
      if (n > 4) {
        x.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
        x.data<float>()[2] = std::numeric_limits<float>::infinity();
        x.data<float>()[3] = -0.0f;
      }
      Tensor y = run_both(OpSpec{fn.op}, {x});
      ASSERT_TRUE(y.defined());
      for (int64_t i = 0; i < n; ++i) {
        const float want = fn.f(x.data<float>()[i]), got = y.data<float>()[i];
        ASSERT_EQ(std::memcmp(&want, &got, sizeof got), 0)
            << fn.op << " n=" << n << " x=" << x.data<float>()[i] << ": " << got << " vs " << want;
      }
    }
  }
}

TEST(UnaryTest, VectorizedApproximationsAreAccurateEverywhere) {
  double exp_err = 0, tanh_err = 0, erf_err = 0, sig_err = 0;
  for (double xd = -103; xd <= 88.7; xd += 0.00037) {
    float x = static_cast<float>(xd);
    double e = std::exp(static_cast<double>(x));
    if (e > 1.2e-38) exp_err = std::max(exp_err, std::fabs(exp_approx(x) - e) / e);
    else EXPECT_LE(std::fabs(exp_approx(x) - e), 1.5e-45) << x;  // denormal range
    double t = std::tanh(static_cast<double>(x));
    if (t != 0) tanh_err = std::max(tanh_err, std::fabs(tanh_approx(x) - t) / std::fabs(t));
    erf_err = std::max(erf_err, std::fabs(erf_approx(x) - std::erf(static_cast<double>(x))));
    sig_err = std::max(sig_err, std::fabs(sigmoid_approx(x) - sigmoid(x)));
  }
  EXPECT_LT(exp_err, 4e-7);
  EXPECT_LT(tanh_err, 1e-6);
  EXPECT_LT(erf_err, 1e-6);
  EXPECT_LT(sig_err, 1e-7);
  // Small arguments keep their relative accuracy.
  for (float x : {1e-30f, -3e-8f, 1e-4f}) {
    EXPECT_NEAR(tanh_approx(x) / x, 1.0, 1e-6);
    EXPECT_NEAR(erf_approx(x) / (x * 1.1283791670955126), 1.0, 1e-6);
    EXPECT_NEAR(expm1_approx(x) / std::expm1(static_cast<double>(x)), 1.0, 1e-6);
  }
}

TEST(UnaryTest, SpecialValues) {
  const double nan = std::nan("");
  Tensor x = make_tensor(DType::kFloat32, {5}, {kInf, -kInf, nan, 0, 200});
  auto v = [&](const char* op) { return run_both({op}, {x}).to_double_vector(); };
  std::vector<double> e = v("Exp");
  EXPECT_EQ(e[0], kInf);
  EXPECT_EQ(e[1], 0);
  EXPECT_TRUE(std::isnan(e[2]));
  EXPECT_EQ(e[3], 1);
  EXPECT_EQ(e[4], kInf);
  std::vector<double> s = v("Sigmoid");
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[1], 0);
  EXPECT_TRUE(std::isnan(s[2]));
  std::vector<double> t = v("Tanh");
  EXPECT_EQ(t[0], 1);
  EXPECT_EQ(t[1], -1);
  EXPECT_TRUE(std::isnan(t[2]));
  EXPECT_TRUE(std::isnan(v("Relu")[2]));
  EXPECT_EQ(v("Softplus")[4], 200);
  EXPECT_EQ(run_both({"Mish", {}, 18}, {x}).to_double_vector()[4], 200);
}

TEST(UnaryTest, RoundIsHalfToEven) {
  Tensor x = make_tensor(DType::kFloat32, {10}, {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6, 1e10, 8388609});
  EXPECT_EQ(run_both({"Round"}, {x}).to_double_vector(),
            (std::vector<double>{0, 2, 2, -0.0, -2, -2, 2, -3, 1e10, 8388609}));
  Tensor f = make_tensor(DType::kFloat32, {4}, {-0.5, 3.0, -3.0, 1e9});
  EXPECT_EQ(run_both({"Floor"}, {f}).to_double_vector(), (std::vector<double>{-1, 3, -3, 1e9}));
  EXPECT_EQ(run_both({"Ceil"}, {f}).to_double_vector(), (std::vector<double>{-0.0, 3, -3, 1e9}));
}

TEST(UnaryTest, IntegerVariants) {
  for (DType t : {DType::kInt8, DType::kInt32, DType::kInt64}) {
    Tensor x = make_tensor(t, {5}, {-3, -1, 0, 2, 100});
    EXPECT_EQ(run_both({"Abs"}, {x}).to_int64_vector(), (std::vector<int64_t>{3, 1, 0, 2, 100}));
    EXPECT_EQ(run_both({"Neg"}, {x}).to_int64_vector(), (std::vector<int64_t>{3, 1, 0, -2, -100}));
    EXPECT_EQ(run_both({"Sign"}, {x}).to_int64_vector(), (std::vector<int64_t>{-1, -1, 0, 1, 1}));
    EXPECT_EQ(run_both({"Relu", {}, 14}, {x}).to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 2, 100}));
    Tensor lo = make_tensor(t, {}, {-2});
    Tensor hi = make_tensor(t, {}, {5});
    EXPECT_EQ(run_both({"Clip", {}, 13}, {x, lo, hi}).to_int64_vector(), (std::vector<int64_t>{-2, -1, 0, 2, 5}));
    EXPECT_EQ(run_both({"Clip", {}, 13}, {x, Tensor(), hi}).to_int64_vector(),
              (std::vector<int64_t>{-3, -1, 0, 2, 5}));
  }
  Tensor i8 = make_tensor(DType::kInt8, {2}, {-128, 127});
  EXPECT_EQ(run_both({"Neg"}, {i8}).to_int64_vector(), (std::vector<int64_t>{-128, -127}));
}

TEST(UnaryTest, ClipBoundsMovedFromAttributesToInputsAtOpset11) {
  Tensor x = make_tensor(DType::kFloat32, {5}, {-3, -1, 0, 2, 7});
  EXPECT_EQ(run_both({"Clip", {attr_float("min", -1.5f), attr_float("max", 1.5f)}, 6}, {x}).to_double_vector(),
            (std::vector<double>{-1.5, -1, 0, 1.5, 1.5}));
  EXPECT_EQ(run_both({"Clip", {attr_float("max", 1.0f)}, 6}, {x}).to_double_vector(),
            (std::vector<double>{-3, -1, 0, 1, 1}));
  EXPECT_EQ(run_both({"Clip", {}, 11}, {x, Tensor::scalar(-1.5f), Tensor::scalar(1.5f)}).to_double_vector(),
            (std::vector<double>{-1.5, -1, 0, 1.5, 1.5}));
  EXPECT_EQ(run_both({"Clip", {}, 12}, {x}).to_double_vector(), x.to_double_vector());
  // min > max: every value becomes max.
  EXPECT_EQ(run_both({"Clip", {}, 13}, {x, Tensor::scalar(3.0f), Tensor::scalar(1.0f)}).to_double_vector(),
            (std::vector<double>(5, 1.0)));
  EXPECT_NE(run_error({"Clip", {}, 13}, {x, random_tensor({2})}).find("min must be a scalar"),
            std::string::npos);
}

TEST(UnaryTest, PReluBroadcastsSlopeToX) {
  Tensor x = random_tensor({2, 3, 4, 5}, -1, 1, 41);
  Tensor slope = random_tensor({3, 1, 1}, 0, 1, 42);
  EXPECT_TRUE(tensors_near(run_both({"PRelu"}, {x, slope}),
                           ref_binary(x, slope, [](double v, double s) { return v < 0 ? static_cast<float>(s * v) : v; }),
                           1e-7));
  Tensor s5 = random_tensor({5}, 0, 1, 43);
  EXPECT_TRUE(tensors_near(run_both({"PRelu"}, {x, s5}),
                           ref_binary(x, s5, [](double v, double s) { return v < 0 ? static_cast<float>(s * v) : v; }),
                           1e-7));
  EXPECT_NE(run_error({"PRelu"}, {random_tensor({3}), random_tensor({2, 3})}).find("without growing"),
            std::string::npos);
  // Opset 6: a 1-D slope of C values applies per channel (dimension 1).
  Tensor s3 = random_tensor({3}, 0, 1, 44);
  EXPECT_TRUE(tensors_near(run_both({"PRelu", {}, 6}, {x, s3}),
                           ref_binary(x, s3.reshaped({3, 1, 1}),
                                      [](double v, double s) { return v < 0 ? static_cast<float>(s * v) : v; }),
                           1e-7));
}

TEST(UnaryTest, GeluRejectsUnknownApproximation) {
  EXPECT_NE(run_error({"Gelu", {attr_string("approximate", "erf")}, 20}, {random_tensor({3})})
                .find("approximate must be"),
            std::string::npos);
}

TEST(UnaryTest, IsNaNAndIsInf) {
  const double nan = std::nan("");
  Tensor x = make_tensor(DType::kFloat32, {4}, {nan, kInf, -kInf, 1});
  EXPECT_EQ(run_both({"IsNaN"}, {x}).to_int64_vector(), (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(run_both({"IsInf"}, {x}).to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(run_both({"IsInf", {attr_int("detect_negative", 0)}}, {x}).to_int64_vector(),
            (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(run_both({"IsInf", {attr_int("detect_positive", 0)}}, {x}).to_int64_vector(),
            (std::vector<int64_t>{0, 0, 1, 0}));
}

TEST(UnaryTest, CastBetweenTypes) {
  Tensor x = make_tensor(DType::kFloat32, {6}, {-2.7, -0.5, 0, 0.5, 2.7, 300});
  auto cast = [&](const Tensor& t, DType to) {
    return run_both({"Cast", {attr_int("to", static_cast<int64_t>(to))}, 13}, {t});
  };
  EXPECT_EQ(cast(x, DType::kInt32).to_int64_vector(), (std::vector<int64_t>{-2, 0, 0, 0, 2, 300}));
  EXPECT_EQ(cast(x, DType::kInt8).dtype(), DType::kInt8);
  EXPECT_EQ(cast(x, DType::kBool).to_int64_vector(), (std::vector<int64_t>{1, 1, 0, 1, 1, 1}));
  Tensor h = cast(x, DType::kFloat16);
  EXPECT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(h.to_double_vector(), (std::vector<double>{-2.69921875, -0.5, 0, 0.5, 2.69921875, 300}));
  EXPECT_EQ(cast(h, DType::kFloat64).to_double_vector(), h.to_double_vector());
  EXPECT_EQ(cast(x, DType::kBFloat16).to_double_vector(),
            (std::vector<double>{-2.703125, -0.5, 0, 0.5, 2.703125, 300}));
  Tensor b = make_tensor(DType::kBool, {2}, {1, 0});
  EXPECT_EQ(cast(b, DType::kFloat32).to_double_vector(), (std::vector<double>{1, 0}));
  // Same type: the input itself.
  EXPECT_TRUE(tensors_near(cast(x, DType::kFloat32), x, 0.0));
  // CastLike takes the type of its second input.
  Tensor like = make_tensor(DType::kInt64, {1}, {0});
  Tensor y = run_both({"CastLike", {}, 15}, {x, like});
  EXPECT_EQ(y.dtype(), DType::kInt64);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{-2, 0, 0, 0, 2, 300}));
  EXPECT_NE(run_error({"Cast", {attr_int("to", 8)}, 13}, {x}).find("string"), std::string::npos);
  EXPECT_NE(run_error({"Cast", {attr_int("to", 99)}, 13}, {x}).find("to=99"), std::string::npos);
}

TEST(UnaryTest, DropoutIsIdentityAtInference) {
  Tensor x = random_tensor({3, 4}, -1, 1, 51);
  Result<std::vector<Tensor>> r = run_op({"Dropout", {}, 13, 2}, {x, Tensor::scalar(0.5f)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(tensors_near(r->at(0), x, 0.0));
  EXPECT_EQ(r->at(1).dtype(), DType::kBool);
  EXPECT_EQ(r->at(1).to_int64_vector(), std::vector<int64_t>(12, 1));
  Result<std::vector<Tensor>> old = run_op({"Dropout", {attr_float("ratio", 0.3f)}, 7, 2}, {x});
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(old->at(1).dtype(), DType::kFloat32);
  EXPECT_EQ(old->at(1).to_double_vector(), std::vector<double>(12, 1.0));
  Tensor training = make_tensor(DType::kBool, {}, {1});
  EXPECT_NE(run_error({"Dropout", {}, 13}, {x, Tensor::scalar(0.5f), training}).find("training_mode=true"),
            std::string::npos);
  EXPECT_TRUE(tensors_near(run_both({"Identity"}, {x}), x, 0.0));
}

TEST(UnaryTest, HalfTypesComputeInFloat) {
  Tensor x = random_of(DType::kFloat16, {33}, -3, 3, 61);
  Tensor y = run_both({"Sigmoid"}, {x});
  EXPECT_EQ(y.dtype(), DType::kFloat16);
  EXPECT_TRUE(tensors_near(y, ref_unary(x, sigmoid), 1e-3));
  Tensor bf = random_of(DType::kBFloat16, {9}, -3, 3, 62);
  EXPECT_TRUE(tensors_near(run_both({"Relu"}, {bf}), ref_unary(bf, [](double v) { return std::max(v, 0.0); }), 0.0));
}

}  // namespace
}  // namespace quench::testing
