// Gemm / MatMul: hand-computed cases, oneDNN vs reference over randomized tables, aliasing, errors.
#include <random>

#include "harness.h"

namespace quench::testing {
namespace {

Result<std::vector<Tensor>> run_once(const std::string& op, std::vector<Attribute> attrs,
                                     const std::vector<Tensor>& inputs, std::vector<bool> constant,
                                     bool dnnl) {
  set_dnnl_enabled(dnnl);
  KernelHarness h(op, std::move(attrs), inputs, std::move(constant));
  Status s = h.create();
  set_dnnl_enabled(true);
  QUENCH_RETURN_IF_ERROR(s);
  return h.run(inputs);
}

TEST(Gemm, HandComputed) {
  Tensor a = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<float>({2, 2}, {5, 6, 7, 8});
  Tensor c = Tensor::from_vector<float>({2}, {1, 2});
  for (bool dnnl : {true, false}) {
    auto y = run_once("Gemm", {}, {a, b}, {false, true}, dnnl);
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({2, 2}, {19, 22, 43, 50}), 1e-5);
    // 2 * A^T B^T + 0.5 * C: A^T B^T = [[1*5+3*6, 1*7+3*8], [2*5+4*6, 2*7+4*8]] = [[23, 31], [34, 46]]
    y = run_once("Gemm",
                 {attr_int("transA", 1), attr_int("transB", 1), attr_float("alpha", 2.0f),
                  attr_float("beta", 0.5f)},
                 {a, b, c}, {false, false, true}, dnnl);
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({2, 2}, {46.5, 63, 68.5, 93}), 1e-5);
  }
}

TEST(MatMul, HandComputedVectors) {
  Tensor v = Tensor::from_vector<float>({3}, {1, 2, 3});
  Tensor m = iota_tensor({3, 2});  // [[0, 1], [2, 3], [4, 5]]
  for (bool dnnl : {true, false}) {
    auto y = run_once("MatMul", {}, {v, m}, {false, true}, dnnl);  // [3] x [3, 2] -> [2]
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({2}, {16, 22}), 1e-5);
    Tensor mt = iota_tensor({2, 3});
    y = run_once("MatMul", {}, {mt, v}, {false, false}, dnnl);  // [2, 3] x [3] -> [2]
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({2}, {8, 26}), 1e-5);
    y = run_once("MatMul", {}, {v, v}, {false, false}, dnnl);  // dot product -> scalar
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({}, {14}), 1e-5);
  }
}

TEST(Gemm, OneDnnMatchesReferenceRandomTable) {
  std::mt19937 rng(31);
  const int64_t sizes[] = {1, 3, 8, 15, 16, 17, 32, 64};
  for (int i = 0; i < 150; ++i) {
    const int64_t M = sizes[rng() % 8], N = sizes[rng() % 8], K = sizes[rng() % 8];
    const bool ta = rng() % 2, tb = rng() % 2;
    const float alpha = std::vector<float>{1.0f, 0.5f, -2.0f}[rng() % 3];
    const float beta = std::vector<float>{1.0f, 0.0f, 2.0f}[rng() % 3];
    const std::vector<Shape> c_shapes = {{}, {N}, {1, N}, {M, 1}, {M, N}, {1, 1}, {1}};
    const size_t ci = rng() % (c_shapes.size() + 1);  // the last index means "no C"
    std::vector<Tensor> in{random_tensor(ta ? Shape{K, M} : Shape{M, K}, -1, 1, i),
                           random_tensor(tb ? Shape{N, K} : Shape{K, N}, -1, 1, 500 + i)};
    std::vector<bool> constant{false, rng() % 2 == 0};
    if (ci < c_shapes.size()) {
      in.push_back(random_tensor(c_shapes[ci], -1, 1, 900 + i));
      constant.push_back(rng() % 2 == 0);
    }
    std::vector<Attribute> attrs{attr_int("transA", ta), attr_int("transB", tb),
                                 attr_float("alpha", alpha), attr_float("beta", beta)};
    const std::string text = "M " + std::to_string(M) + " N " + std::to_string(N) + " K " +
                             std::to_string(K) + " tA " + std::to_string(ta) + " tB " +
                             std::to_string(tb) + " alpha " + std::to_string(alpha) + " beta " +
                             std::to_string(beta) +
                             (ci < c_shapes.size() ? " C " + shape_to_string(c_shapes[ci]) : " no C");
    const int64_t before = dnnl_fallback_count();
    auto r = run_both_paths("Gemm", attrs, in, constant);
    ASSERT_TRUE(r.ok()) << text << ": " << r.status().message();
    EXPECT_EQ(dnnl_fallback_count(), before) << "took the reference path: " << text;
    EXPECT_TRUE(near_scaled(r->fast, r->ref)) << text;
  }
}

TEST(MatMul, OneDnnMatchesReferenceShapes) {
  const std::vector<std::pair<Shape, Shape>> rows = {
      {{17, 15}, {15, 33}},             {{3}, {3, 16}},           {{16, 3}, {3}},
      {{64}, {64}},                     {{2, 5, 8}, {8, 17}},     {{2, 3, 5, 16}, {16, 8}},
      {{2, 5, 8}, {2, 8, 3}},           {{1, 5, 8}, {4, 8, 9}},   {{4, 5, 8}, {1, 8, 9}},
      {{2, 1, 7, 8}, {3, 8, 15}},       {{5}, {2, 5, 3}},         {{2, 4, 5}, {5}},
      {{3, 1, 2, 32, 17}, {1, 4, 1, 17, 16}}, {{1, 1, 64, 64}, {64, 64}},
  };
  const int64_t fallbacks = dnnl_fallback_count();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (bool const_b : {false, true}) {
      const auto& [as, bs] = rows[i];
      auto r = run_both_paths("MatMul", {}, {random_tensor(as, -1, 1, i), random_tensor(bs, -1, 1, 40 + i)},
                              {false, const_b});
      ASSERT_TRUE(r.ok()) << shape_to_string(as) << " x " << shape_to_string(bs) << ": "
                          << r.status().message();
      EXPECT_TRUE(near_scaled(r->fast, r->ref)) << shape_to_string(as) << " x " << shape_to_string(bs);
    }
  }
  EXPECT_EQ(dnnl_fallback_count(), fallbacks);
}

TEST(MatMul, BroadcastAgainstLoopedProducts) {
  // [2, 1, 2, 3] x [3, 3, 2]: result[i, j] = A[i, 0] x B[j], checked against single 2-D products.
  Tensor a = random_tensor({2, 1, 2, 3}, -1, 1, 1), b = random_tensor({3, 3, 2}, -1, 1, 2);
  auto y = run_once("MatMul", {}, {a, b}, {false, false}, true);
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ(y->at(0).shape(), (Shape{2, 3, 2, 2}));
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* py = y->at(0).data<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 2; ++n) {
          float s = 0;
          for (int k = 0; k < 3; ++k) s += pa[(i * 2 + m) * 3 + k] * pb[(j * 3 + k) * 2 + n];
          EXPECT_NEAR(py[((i * 3 + j) * 2 + m) * 2 + n], s, 1e-5);
        }
}

TEST(Gemm, AliasedInputs) {
  // One tensor as A, B and C at once (and A x A for MatMul): kernels only read inputs and write a
  // fresh output, so aliasing must not change the result.
  Tensor a = random_tensor({16, 16}, -1, 1, 3);
  Tensor copy = a.clone();
  for (bool dnnl : {true, false}) {
    auto y = run_once("Gemm", {attr_int("transB", 1)}, {a, a, a}, {false, false, false}, dnnl);
    auto expect = run_once("Gemm", {attr_int("transB", 1)}, {copy, copy.clone(), copy.clone()},
                           {false, false, false}, false);
    ASSERT_TRUE(y.ok() && expect.ok());
    EXPECT_TRUE(near_scaled(y->at(0), expect->at(0)));
    auto m = run_once("MatMul", {}, {a, a}, {false, false}, dnnl);
    auto mexpect = run_once("MatMul", {}, {copy, copy.clone()}, {false, false}, false);
    ASSERT_TRUE(m.ok() && mexpect.ok());
    EXPECT_TRUE(near_scaled(m->at(0), mexpect->at(0)));
  }
  EXPECT_TENSOR_NEAR(a, copy, 0);  // inputs untouched
}

TEST(Gemm, Errors) {
  auto y = run_once("Gemm", {}, {random_tensor({2, 3}), random_tensor({4, 5})}, {false, true}, true);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalid);
  EXPECT_NE(y.status().message().find("Gemm 'n0': A [2, 3] (transA=0) and B [4, 5]"), std::string::npos)
      << y.status().message();
  y = run_once("Gemm", {}, {random_tensor({2, 3}), random_tensor({3, 5}), random_tensor({3, 5})},
               {false, true, true}, true);
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("C [3, 5] cannot be broadcast to [M, N] = [2, 5]"), std::string::npos)
      << y.status().message();
  y = run_once("MatMul", {}, {random_tensor({2, 2, 3}), random_tensor({3, 3, 4})}, {false, false}, true);
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("batch dimensions of A [2, 2, 3] and B [3, 3, 4]"), std::string::npos)
      << y.status().message();
  y = run_once("MatMul", {}, {random_tensor({2, 3}), random_tensor({4, 4})}, {false, false}, true);
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("inner dimensions (3 vs 4)"), std::string::npos)
      << y.status().message();
}

}  // namespace
}  // namespace quench::testing
