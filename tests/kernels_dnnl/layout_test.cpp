// Blocked layouts: a conv -> conv -> pool -> conv -> global pool chain passing oneDNN's blocked
// tensors between kernels must equal the all-plain run and the reference run; aliasing cases.
#include "harness.h"

namespace quench::testing {
namespace {

struct Stage {
  std::string op;
  std::vector<Attribute> attrs;
  Tensor w = {}, b = {};  // undefined for pools
  std::string act = "";  // fused activation
};

// Runs the chain; blocked: let every stage leave its output blocked (the executor's choice when
// all consumers accept blocked inputs). Records each intermediate's layout name.
Result<Tensor> run_chain(const std::vector<Stage>& stages, const Tensor& x, bool dnnl, bool blocked,
                         std::vector<std::string>* layouts = nullptr,
                         const std::vector<bool>& blocked_mask = {}) {
  Tensor cur = x;
  for (size_t i = 0; i < stages.size(); ++i) {
    const Stage& s = stages[i];
    std::vector<Tensor> inputs{cur};
    std::vector<bool> constant{false};
    if (s.w.defined()) {
      inputs.push_back(s.w);
      constant.push_back(true);
    }
    if (s.b.defined()) {
      inputs.push_back(s.b);
      constant.push_back(true);
    }
    set_dnnl_enabled(dnnl);
    KernelHarness h(s.op, s.attrs, inputs, constant);
    if (!s.act.empty()) h.fuse(s.act);
    Status st = h.create();
    set_dnnl_enabled(true);
    QUENCH_RETURN_IF_ERROR(st);
    if (!(h.flags() & kAcceptsBlocked) && !cur.is_plain()) {
      return Status::internal(s.op + " got a blocked input without kAcceptsBlocked");
    }
    const bool last = i + 1 == stages.size();
    const bool allowed = blocked && !last && (blocked_mask.empty() || blocked_mask[i]);
    QUENCH_ASSIGN_OR_RETURN(std::vector<Tensor> out, h.run(inputs, allowed));
    cur = out[0];
    if (layouts) layouts->push_back(dnnl_layout_name(cur));
  }
  return to_plain(cur);
}

std::vector<Stage> resnet_like_chain() {
  return {
      {"Conv", {attr_ints("pads", {1, 1, 1, 1})}, random_tensor({32, 16, 3, 3}, -0.3f, 0.3f, 1),
       random_tensor({32}, -0.1f, 0.1f, 2), "Relu"},
      {"Conv", {attr_ints("pads", {1, 1, 1, 1}), attr_ints("strides", {2, 2})},
       random_tensor({32, 32, 3, 3}, -0.2f, 0.2f, 3), Tensor(), "HardSwish"},
      {"MaxPool", {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})}},
      {"Conv", {attr_int("group", 32), attr_ints("pads", {1, 1, 1, 1})},  // depthwise
       random_tensor({32, 1, 3, 3}, -0.5f, 0.5f, 4)},
      {"Conv", {}, random_tensor({17, 32, 1, 1}, -0.5f, 0.5f, 5), random_tensor({17}, -0.1f, 0.1f, 6)},
      {"AveragePool", {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {1, 1})}},
      {"GlobalAveragePool", {}},
  };
}

TEST(BlockedLayout, ChainMatchesPlainAndReference) {
  const std::vector<Stage> chain = resnet_like_chain();
  Tensor x = random_tensor({3, 16, 17, 17}, -1, 1, 9);
  Tensor x_copy = x.clone();
  std::vector<std::string> layouts;
  auto blocked = run_chain(chain, x, true, true, &layouts);
  ASSERT_TRUE(blocked.ok()) << blocked.status().message();
  auto plain = run_chain(chain, x, true, false);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  auto ref = run_chain(chain, x, false, false);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  ASSERT_EQ(blocked->shape(), (Shape{3, 17, 1, 1}));
  EXPECT_TRUE(near_scaled(*blocked, *ref));
  EXPECT_TRUE(near_scaled(*plain, *ref));
  EXPECT_TENSOR_NEAR(x, x_copy, 0);  // the input is never written
  // With 32 channels oneDNN picks a channel-blocked layout on any x86 with AVX2 or better; the
  // conv, max pool and depthwise conv outputs stay in it (the pool consumed a blocked tensor).
  ASSERT_EQ(layouts.size(), chain.size());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NE(layouts[i], "plain") << "stage " << i << " (" << chain[i].op << ")";
  }
  EXPECT_EQ(layouts.back(), "plain");

  // Mixed: blocked -> plain -> blocked hand-offs (a conv and a pool fed blocked tensors but asked
  // for plain outputs, and convs fed plain tensors asked for blocked ones).
  std::vector<std::string> mixed_layouts;
  auto mixed = run_chain(chain, x, true, true, &mixed_layouts,
                         {true, false, true, false, true, false, false});
  ASSERT_TRUE(mixed.ok()) << mixed.status().message();
  EXPECT_TRUE(near_scaled(*mixed, *ref));
  EXPECT_NE(mixed_layouts[0], "plain");
  EXPECT_EQ(mixed_layouts[1], "plain");
  EXPECT_EQ(mixed_layouts[3], "plain");
}

TEST(BlockedLayout, ReorderToPlainAndDescribe) {
  Tensor x = random_tensor({2, 16, 5, 5}, -1, 1, 1);
  Tensor w = random_tensor({24, 16, 3, 3}, -1, 1, 2);
  KernelHarness h("Conv", {attr_ints("pads", {1, 1, 1, 1})}, {x, w}, {false, true});
  ASSERT_TRUE(h.create().ok());
  auto yb = h.run({x, w}, true);
  auto yp = h.run({x, w}, false);
  ASSERT_TRUE(yb.ok() && yp.ok());
  ASSERT_FALSE(yb->at(0).is_plain());
  EXPECT_TRUE(yp->at(0).is_plain());
  EXPECT_EQ(yb->at(0).shape(), (Shape{2, 24, 5, 5}));
  // 24 channels padded to a multiple of the block: the buffer is larger than the logical size.
  EXPECT_GE(yb->at(0).storage_bytes(), yb->at(0).nbytes());
  // oneDNN's choice depends on the CPU: channel-blocked (aBcd16b) or channels-last (acdb).
  const std::string name = dnnl_layout_name(yb->at(0));
  EXPECT_EQ(name.rfind("oneDNN ", 0), 0u) << name;
  EXPECT_NE(name.find("[2, 24, 5, 5]"), std::string::npos) << name;
  auto back = to_plain(yb->at(0));
  ASSERT_TRUE(back.ok());
  EXPECT_TENSOR_NEAR(*back, yp->at(0), 0);  // same primitive math, only the layout differs
}

TEST(BlockedLayout, SameLayoutCheck) {
  // Two convs with the same output shape leave the same layout; a different shape does not match.
  Tensor x = random_tensor({2, 16, 7, 7}, -1, 1, 1);
  auto conv_out = [&](int64_t m, uint32_t seed) {
    Tensor w = random_tensor({m, 16, 3, 3}, -1, 1, seed);
    KernelHarness h("Conv", {attr_ints("pads", {1, 1, 1, 1})}, {x, w}, {false, true});
    EXPECT_TRUE(h.create().ok());
    auto y = h.run({x, w}, true);
    EXPECT_TRUE(y.ok());
    return y.ok() ? y->at(0) : Tensor();
  };
  Tensor a = conv_out(32, 2), b = conv_out(32, 3), c = conv_out(48, 4);
  ASSERT_FALSE(a.is_plain());
  EXPECT_TRUE(dnnl_same_layout(a, b));
  EXPECT_FALSE(dnnl_same_layout(a, c));
  EXPECT_FALSE(dnnl_same_layout(a, x));  // plain
  // Element-wise over the raw buffers of same-layout tensors is element-wise on the logical values.
  Tensor sum = Tensor::with_layout(a.dtype(), a.shape(), a.layout(), a.storage_bytes());
  const int64_t n = static_cast<int64_t>(a.storage_bytes() / sizeof(float));
  for (int64_t i = 0; i < n; ++i) sum.data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
  auto pa = to_plain(a), pb = to_plain(b), ps = to_plain(sum);
  ASSERT_TRUE(pa.ok() && pb.ok() && ps.ok());
  for (int64_t i = 0; i < pa->numel(); ++i) {
    ASSERT_FLOAT_EQ(ps->data<float>()[i], pa->data<float>()[i] + pb->data<float>()[i]) << i;
  }
}

TEST(BlockedLayout, AliasedAndReusableInputs) {
  // X used as both data and weights (conv(x, x) over a 3x3 input with a 3x3 kernel is the sum of
  // squares 0^2 + ... + 8^2 = 204), with the kernel told the inputs die here.
  Tensor x = iota_tensor({1, 1, 3, 3});
  for (bool dnnl : {true, false}) {
    set_dnnl_enabled(dnnl);
    KernelHarness h("Conv", {}, {x, x}, {false, false});
    ASSERT_TRUE(h.create().ok());
    set_dnnl_enabled(true);
    auto y = h.run({x, x}, false, /*reusable=*/true);
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({1, 1, 1, 1}, {204}), 1e-4);
    EXPECT_TENSOR_NEAR(x, iota_tensor({1, 1, 3, 3}), 0);
  }
  // A pool told its blocked input dies here still writes a separate, correct output.
  Tensor xb = random_tensor({2, 32, 8, 8}, -1, 1, 4);
  Tensor wid = Tensor::zeros(DType::kFloat32, {32, 32, 1, 1});
  for (int i = 0; i < 32; ++i) wid.data<float>()[i * 32 + i] = 1.0f;
  KernelHarness c("Conv", {}, {xb, wid}, {false, true});
  ASSERT_TRUE(c.create().ok());
  auto blocked = c.run({xb, wid}, true);
  ASSERT_TRUE(blocked.ok());
  KernelHarness p("MaxPool", {attr_ints("kernel_shape", {2, 2})}, {xb});
  ASSERT_TRUE(p.create().ok());
  auto pooled = p.run({blocked->at(0)}, false, /*reusable=*/true);
  ASSERT_TRUE(pooled.ok());
  KernelHarness q("MaxPool", {attr_ints("kernel_shape", {2, 2})}, {xb});
  set_dnnl_enabled(false);
  ASSERT_TRUE(q.create().ok());
  set_dnnl_enabled(true);
  auto expect = q.run({xb});
  ASSERT_TRUE(expect.ok());
  EXPECT_TENSOR_NEAR(pooled->at(0), expect->at(0), 0);
}

}  // namespace
}  // namespace quench::testing
