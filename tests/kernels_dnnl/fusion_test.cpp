// Fused activations: Conv / Gemm / MatMul with an activation fused must equal the unfused op
// followed by the activation (written out here independently of the kernels), on both paths.
#include <cmath>
#include <functional>
#include <limits>

#include "harness.h"

namespace quench::testing {
namespace {

struct ActCase {
  std::string name;  // for messages
  std::string op;
  std::vector<Attribute> attrs;
  std::vector<Tensor> extra;  // Clip min / max inputs
  std::function<float(float)> f;
};

std::vector<ActCase> act_cases() {
  auto scalar = [](float v) { return Tensor::from_vector<float>({}, {v}); };
  return {
      {"Relu", "Relu", {}, {}, [](float x) { return std::max(x, 0.0f); }},
      {"LeakyRelu", "LeakyRelu", {attr_float("alpha", 0.1f)}, {}, [](float x) { return x >= 0 ? x : 0.1f * x; }},
      {"Clip attrs", "Clip", {attr_float("min", -0.5f), attr_float("max", 0.5f)}, {},
       [](float x) { return std::min(std::max(x, -0.5f), 0.5f); }},
      {"Clip inputs (ReLU6)", "Clip", {}, {scalar(0.0f), scalar(6.0f)},
       [](float x) { return std::min(std::max(x, 0.0f), 6.0f); }},
      {"Clip min only", "Clip", {}, {scalar(-0.2f)}, [](float x) { return std::max(x, -0.2f); }},
      {"Clip max only", "Clip", {}, {Tensor(), scalar(0.3f)}, [](float x) { return std::min(x, 0.3f); }},
      {"Sigmoid", "Sigmoid", {}, {}, [](float x) { return 1.0f / (1.0f + std::exp(-x)); }},
      {"Tanh", "Tanh", {}, {}, [](float x) { return std::tanh(x); }},
      {"HardSigmoid", "HardSigmoid", {attr_float("alpha", 0.3f), attr_float("beta", 0.4f)}, {},
       [](float x) { return std::max(0.0f, std::min(1.0f, 0.3f * x + 0.4f)); }},
      {"HardSwish", "HardSwish", {}, {}, [](float x) { return x * std::max(0.0f, std::min(1.0f, x / 6 + 0.5f)); }},
      {"Elu", "Elu", {attr_float("alpha", 0.7f)}, {}, [](float x) { return x >= 0 ? x : 0.7f * (std::exp(x) - 1); }},
  };
}

struct OpCase {
  std::string op;
  std::vector<Attribute> attrs;
  std::vector<Tensor> inputs;
  std::vector<bool> constant;
};

std::vector<OpCase> op_cases() {
  return {
      {"Conv", {attr_ints("pads", {1, 1, 1, 1})},
       {random_tensor({2, 16, 7, 7}, -1, 1, 1), random_tensor({32, 16, 3, 3}, -0.3f, 0.3f, 2),
        random_tensor({32}, -0.5f, 0.5f, 3)},
       {false, true, true}},
      {"ConvTranspose", {attr_ints("strides", {2, 2})},
       {random_tensor({1, 8, 5, 5}, -1, 1, 4), random_tensor({8, 16, 3, 3}, -0.5f, 0.5f, 5)},
       {false, true}},
      {"Gemm", {attr_int("transB", 1)},
       {random_tensor({8, 64}, -1, 1, 6), random_tensor({17, 64}, -0.4f, 0.4f, 7), random_tensor({17}, -1, 1, 8)},
       {false, true, true}},
      {"Gemm", {attr_float("alpha", 0.5f), attr_float("beta", 2.0f)},
       {random_tensor({8, 64}, -1, 1, 6), random_tensor({64, 17}, -0.4f, 0.4f, 7), random_tensor({8, 17}, -1, 1, 8)},
       {false, true, false}},
      {"MatMul", {}, {random_tensor({2, 5, 32}, -1, 1, 9), random_tensor({32, 16}, -0.5f, 0.5f, 10)}, {false, true}},
      {"MatMul", {}, {random_tensor({2, 5, 32}, -1, 1, 9), random_tensor({2, 32, 16}, -0.5f, 0.5f, 10)}, {false, false}},
  };
}

TEST(Fusion, FusedEqualsUnfusedThenActivation) {
  for (const OpCase& oc : op_cases()) {
    for (bool dnnl : {true, false}) {
      set_dnnl_enabled(dnnl);
      KernelHarness plain(oc.op, oc.attrs, oc.inputs, oc.constant);
      ASSERT_TRUE(plain.create().ok());
      set_dnnl_enabled(true);
      auto unfused = plain.run(oc.inputs);
      ASSERT_TRUE(unfused.ok()) << unfused.status().message();
      for (const ActCase& ac : act_cases()) {
        const std::string where = oc.op + " + " + ac.name + (dnnl ? " (oneDNN)" : " (reference)");
        set_dnnl_enabled(dnnl);
        KernelHarness fused(oc.op, oc.attrs, oc.inputs, oc.constant);
        fused.fuse(ac.op, ac.attrs, ac.extra);
        Status s = fused.create();
        set_dnnl_enabled(true);
        ASSERT_TRUE(s.ok()) << where << ": " << s.message();
        // Blocked output allowed: the fused activation must also hold in the blocked path.
        auto y = fused.run(oc.inputs, /*blocked_allowed=*/true);
        ASSERT_TRUE(y.ok()) << where << ": " << y.status().message();
        auto yp = to_plain(y->at(0));
        ASSERT_TRUE(yp.ok());
        Tensor expect = unfused->at(0).is_plain() ? unfused->at(0).clone() : *to_plain(unfused->at(0));
        float* e = expect.data<float>();
        for (int64_t i = 0; i < expect.numel(); ++i) e[i] = ac.f(e[i]);
        EXPECT_TRUE(near_scaled(*yp, expect, 1e-5)) << where;
      }
    }
  }
}

TEST(Fusion, ClipWithRuntimeBoundIsUnsupported) {
  Tensor x = random_tensor({1, 2, 3, 3}), w = random_tensor({2, 2, 1, 1});
  KernelHarness h("Conv", {}, {x, w}, {false, true});
  h.fuse("Clip", {}, {Tensor::from_vector<float>({}, {0.0f})}, {true});
  Status s = h.create();
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Clip 'act': Clip min input 'act_in0' is not a constant"), std::string::npos)
      << s.message();
  KernelHarness g("Gemm", {}, {random_tensor({2, 2}), random_tensor({2, 2})});
  g.fuse("Gelu");
  s = g.create();
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
}

TEST(Fusion, DescribeNamesActivation) {
  auto a = fused_activation_from_node(nullptr);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->none());
  FusedActivation clip{ActivationKind::kClip, 0.0f, 6.0f};
  EXPECT_EQ(clip.describe(), "Clip(0, 6)");
  EXPECT_FLOAT_EQ(clip.apply(7.5f), 6.0f);
  EXPECT_FLOAT_EQ(clip.apply(-1.0f), 0.0f);
}

}  // namespace
}  // namespace quench::testing
