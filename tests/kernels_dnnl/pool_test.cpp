// Pooling: hand-computed cases, oneDNN vs reference over a randomized table (plain and blocked
// inputs), Indices, errors.
#include <random>

#include "harness.h"

namespace quench::testing {
namespace {

// Runs a pooling op through both paths; returns output 0 of each (and Indices when asked).
std::vector<Tensor> run_pool(const std::string& op, std::vector<Attribute> attrs, const Tensor& x,
                             bool dnnl, int num_outputs = 1) {
  set_dnnl_enabled(dnnl);
  KernelHarness h(op, std::move(attrs), {x}, {}, num_outputs);
  Status s = h.create();
  set_dnnl_enabled(true);
  EXPECT_TRUE(s.ok()) << s.message();
  auto y = h.run({x});
  EXPECT_TRUE(y.ok()) << y.status().message();
  return y.ok() ? *y : std::vector<Tensor>{};
}

TEST(Pool, HandComputedMaxAverage) {
  Tensor x = iota_tensor({1, 1, 4, 4});
  for (bool dnnl : {true, false}) {
    auto y = run_pool("MaxPool", {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}, x, dnnl);
    EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 1, 2, 2}, {5, 7, 13, 15}), 0);
    y = run_pool("AveragePool", {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}, x, dnnl);
    EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 1, 2, 2}, {2.5, 4.5, 10.5, 12.5}), 1e-6);
    // Ceil mode: 3x3 windows at stride 2 over 4x4 give 2x2, the last ones cut by the border.
    std::vector<Attribute> ceil = {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}),
                                   attr_int("ceil_mode", 1)};
    y = run_pool("MaxPool", ceil, x, dnnl);
    EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 1, 2, 2}, {10, 11, 14, 15}), 0);
    y = run_pool("AveragePool", ceil, x, dnnl);
    EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 1, 2, 2}, {5, 6.5, 11, 12.5}), 1e-6);
    // count_include_pad counts only the declared padding (none here), not the ceil overhang.
    ceil.push_back(attr_int("count_include_pad", 1));
    y = run_pool("AveragePool", ceil, x, dnnl);
    EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 1, 2, 2}, {5, 6.5, 11, 12.5}), 1e-6);
  }
}

TEST(Pool, CountIncludePad) {
  Tensor x = full_tensor({1, 1, 3, 3}, 1.0f);
  std::vector<Attribute> a = {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1})};
  for (bool dnnl : {true, false}) {
    auto y = run_pool("AveragePool", a, x, dnnl);
    EXPECT_TENSOR_NEAR(y.at(0), full_tensor({1, 1, 3, 3}, 1.0f), 1e-6);
    auto with = a;
    with.push_back(attr_int("count_include_pad", 1));
    y = run_pool("AveragePool", with, x, dnnl);
    const float c = 4.0f / 9, e = 6.0f / 9;
    EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 1, 3, 3}, {c, e, c, e, 1, e, c, e, c}), 1e-6);
  }
}

TEST(Pool, MaxPoolIndicesRowAndColumnMajor) {
  Tensor x = iota_tensor({1, 2, 4, 4});
  std::vector<Attribute> a = {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})};
  auto y = run_pool("MaxPool", a, x, true, 2);
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[1].to_int64_vector(), (std::vector<int64_t>{5, 7, 13, 15, 21, 23, 29, 31}));
  a.push_back(attr_int("storage_order", 1));
  y = run_pool("MaxPool", a, x, true, 2);
  // Column-major within each plane: (h, w) -> h + w * 4, plus the plane offset.
  EXPECT_EQ(y[1].to_int64_vector(), (std::vector<int64_t>{5, 13, 7, 15, 21, 29, 23, 31}));
  EXPECT_TENSOR_NEAR(y[0], Tensor::from_vector<float>({1, 2, 2, 2}, {5, 7, 13, 15, 21, 23, 29, 31}), 0);
}

TEST(Pool, MaxPoolInt8) {
  Tensor x = Tensor::empty(DType::kUInt8, {1, 1, 2, 4});
  const uint8_t xv[] = {1, 200, 3, 4, 250, 6, 7, 255};
  std::copy(xv, xv + 8, x.data<uint8_t>());
  auto y = run_pool("MaxPool", {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}, x, true, 2);
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[0].dtype(), DType::kUInt8);
  EXPECT_EQ(y[0].to_int64_vector(), (std::vector<int64_t>{250, 255}));
  EXPECT_EQ(y[1].to_int64_vector(), (std::vector<int64_t>{4, 7}));
  Tensor s = Tensor::empty(DType::kInt8, {1, 1, 3});
  const int8_t sv[] = {-128, -5, -7};
  std::copy(sv, sv + 3, s.data<int8_t>());
  auto z = run_pool("MaxPool", {attr_ints("kernel_shape", {2})}, s, true);
  EXPECT_EQ(z.at(0).to_int64_vector(), (std::vector<int64_t>{-5, -5}));
}

TEST(Pool, LpAndGlobal) {
  Tensor x = Tensor::from_vector<float>({1, 2, 2}, {3, -4, 1, 2});
  auto y = run_pool("LpPool", {attr_ints("kernel_shape", {2}), attr_int("p", 2)}, x, true);
  EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 2, 1}, {5, std::sqrt(5.0f)}), 1e-5);
  y = run_pool("GlobalLpPool", {attr_int("p", 1)}, x, true);
  EXPECT_TENSOR_NEAR(y.at(0), Tensor::from_vector<float>({1, 2, 1}, {7, 3}), 1e-5);
  Tensor z = iota_tensor({2, 3, 2, 2});
  for (bool dnnl : {true, false}) {
    auto g = run_pool("GlobalAveragePool", {}, z, dnnl);
    EXPECT_TENSOR_NEAR(g.at(0), Tensor::from_vector<float>({2, 3, 1, 1}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5}), 1e-5);
    g = run_pool("GlobalMaxPool", {}, z, dnnl);
    EXPECT_TENSOR_NEAR(g.at(0), Tensor::from_vector<float>({2, 3, 1, 1}, {3, 7, 11, 15, 19, 23}), 0);
  }
}

// A blocked copy of x: a 1x1 Conv with identity weights, allowed to leave its output blocked.
Tensor blocked_copy(const Tensor& x) {
  const int64_t c = x.dim(1);
  Shape ws{c, c};
  for (int i = 2; i < x.rank(); ++i) ws.push_back(1);
  Tensor w = Tensor::zeros(DType::kFloat32, ws);
  for (int64_t i = 0; i < c; ++i) w.data<float>()[i * c + i] = 1.0f;
  KernelHarness h("Conv", {}, {x, w}, {false, true});
  EXPECT_TRUE(h.create().ok());
  auto y = h.run({x, w}, true);
  EXPECT_TRUE(y.ok());
  return y.ok() ? y->at(0) : Tensor();
}

TEST(Pool, OneDnnMatchesReferenceRandomTable) {
  std::mt19937 rng(77);
  const int64_t channels[] = {1, 3, 8, 15, 16, 17, 32, 64};
  const int64_t sizes[] = {1, 5, 7, 8, 9, 17};
  int blocked_inputs = 0, blocked_outputs = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string op = std::vector<std::string>{"MaxPool", "AveragePool", "GlobalAveragePool",
                                                    "GlobalMaxPool", "MaxPool", "AveragePool"}[rng() % 6];
    const int rank = std::vector<int>{1, 2, 2, 2, 3}[rng() % 5];
    Shape xs{1 + static_cast<int64_t>(rng() % 2), channels[rng() % 8]};
    Shape ks, st, dil, pads_b, pads_e;
    for (int d = 0; d < rank; ++d) {
      xs.push_back(sizes[rng() % 6]);
      if (rank == 3 && xs.back() > 9) xs.back() = 7;
      const int64_t k = 1 + rng() % std::min<int64_t>(xs.back(), 3);
      ks.push_back(k);
      st.push_back(1 + rng() % 3);
      dil.push_back(op == "MaxPool" && rng() % 4 == 0 ? 2 : 1);
      if ((k - 1) * dil.back() + 1 > xs.back()) dil.back() = 1;
      pads_b.push_back(rng() % k);  // pads smaller than the kernel: no window lies in padding
      pads_e.push_back(rng() % k);
    }
    std::vector<Attribute> attrs;
    std::string text = op + " x " + shape_to_string(xs);
    if (op.rfind("Global", 0) != 0) {
      Shape pads = pads_b;
      pads.insert(pads.end(), pads_e.begin(), pads_e.end());
      attrs = {attr_ints("kernel_shape", ks), attr_ints("strides", st)};
      if (dil != Shape(rank, 1)) attrs.push_back(attr_ints("dilations", dil));
      const int ap = rng() % 6;
      if (ap == 0) attrs.push_back(attr_string("auto_pad", "SAME_UPPER"));
      else if (ap == 1) attrs.push_back(attr_string("auto_pad", "SAME_LOWER"));
      else if (ap == 2) attrs.push_back(attr_string("auto_pad", "VALID"));
      else attrs.push_back(attr_ints("pads", pads));
      if (rng() % 3 == 0) attrs.push_back(attr_int("ceil_mode", 1));
      if (op == "AveragePool" && rng() % 2) attrs.push_back(attr_int("count_include_pad", 1));
      text += " k " + shape_to_string(ks) + " s " + shape_to_string(st) + " d " +
              shape_to_string(dil) + " pads " + shape_to_string(pads) + " mode " + std::to_string(ap);
      for (const Attribute& a : attrs) text += " " + a.name + "=" + std::to_string(a.i);
    }
    Tensor x = random_tensor(xs, -1, 1, 100 + i);
    const bool blocked_in = i % 2 == 0;
    Tensor fast_x = blocked_in ? blocked_copy(x) : x;
    blocked_inputs += !fast_x.is_plain();
    KernelHarness h(op, attrs, {x});
    ASSERT_TRUE(h.create().ok());
    const int64_t before = dnnl_fallback_count();
    auto fast = h.run({fast_x}, /*blocked_allowed=*/i % 4 == 0);
    // oneDNN 2.6 has only a reference implementation of dilated pooling, and quench's reference
    // takes AveragePool with count_include_pad where ceil_mode overhangs; all else is fast.
    bool may_fall_back = false;
    for (const Attribute& a : attrs) {
      may_fall_back |= a.name == "dilations" || a.name == "count_include_pad";
    }
    if (!may_fall_back) {
      EXPECT_EQ(dnnl_fallback_count(), before) << "took the reference path: " << text;
    }
    ASSERT_TRUE(fast.ok()) << text << ": " << fast.status().message();
    blocked_outputs += !fast->at(0).is_plain();
    auto fast_plain = to_plain(fast->at(0));
    ASSERT_TRUE(fast_plain.ok());
    auto ref = run_pool(op, attrs, x, false);
    ASSERT_FALSE(ref.empty()) << text;
    EXPECT_TRUE(near_scaled(*fast_plain, ref[0], 1e-5)) << text;
  }
  EXPECT_GT(blocked_inputs, 20);
  EXPECT_GT(blocked_outputs, 5);
}

TEST(Pool, Errors) {
  KernelHarness h("MaxPool", {attr_ints("kernel_shape", {7, 7})}, {random_tensor({1, 1, 5, 5})});
  ASSERT_TRUE(h.create().ok());
  auto y = h.run({random_tensor({1, 1, 5, 5})});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalid);
  EXPECT_NE(y.status().message().find("MaxPool 'n0': kernel extent 7"), std::string::npos)
      << y.status().message();
  KernelHarness k("AveragePool", {}, {random_tensor({1, 1, 5, 5})});
  ASSERT_TRUE(k.create().ok());
  y = k.run({random_tensor({1, 1, 5, 5})});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("kernel_shape is required"), std::string::npos);
}

}  // namespace
}  // namespace quench::testing
