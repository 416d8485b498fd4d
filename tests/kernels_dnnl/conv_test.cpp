// Conv / ConvTranspose: hand-computed cases, oneDNN vs reference over a randomized table, errors.
#include <random>

#include "harness.h"

namespace quench::testing {
namespace {

TEST(Conv, HandComputedNoPadding) {
  // x = 0..8 as 3x3, w = 2x2 ones: each output is the sum of a 2x2 window.
  Tensor x = iota_tensor({1, 1, 3, 3});
  Tensor w = full_tensor({1, 1, 2, 2}, 1.0f);
  for (bool dnnl : {true, false}) {
    set_dnnl_enabled(dnnl);
    KernelHarness h("Conv", {}, {x, w}, {false, true});
    ASSERT_TRUE(h.create().ok());
    set_dnnl_enabled(true);
    auto y = h.run({x, w});
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({1, 1, 2, 2}, {8, 12, 20, 24}), 1e-6);
  }
}

TEST(Conv, HandComputedPaddingBiasStride) {
  // The ONNX spec's basic_conv_with_padding: x = 0..24 as 5x5, 3x3 ones, pads 1.
  Tensor x = iota_tensor({1, 1, 5, 5});
  Tensor w = full_tensor({1, 1, 3, 3}, 1.0f);
  Tensor b = Tensor::from_vector<float>({1}, {0.5f});
  const std::vector<float> expect = {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108,
                                     117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84};
  std::vector<float> with_bias = expect;
  for (float& v : with_bias) v += 0.5f;
  for (bool dnnl : {true, false}) {
    set_dnnl_enabled(dnnl);
    KernelHarness h("Conv", {attr_ints("pads", {1, 1, 1, 1})}, {x, w, b}, {false, true, true});
    ASSERT_TRUE(h.create().ok());
    set_dnnl_enabled(true);
    auto y = h.run({x, w, b});
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({1, 1, 5, 5}, with_bias), 1e-5);
    // Stride 2 keeps every other row and column: ONNX conv_with_strides_padding.
    KernelHarness s("Conv", {attr_ints("pads", {1, 1, 1, 1}), attr_ints("strides", {2, 2})}, {x, w},
                    {false, false});
    ASSERT_TRUE(s.create().ok());
    auto ys = s.run({x, w});
    ASSERT_TRUE(ys.ok()) << ys.status().message();
    EXPECT_TENSOR_NEAR(ys->at(0),
                       Tensor::from_vector<float>({1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84}),
                       1e-5);
  }
}

TEST(ConvTranspose, HandComputed) {
  // 1-D: x = [1, 2, 3], w = [1, 1, 1], stride 2: each input scatters 3 ones starting at 2 * i.
  //   positions 0..6: [1, 1, 1+2, 2, 2+3, 3, 3]
  Tensor x = Tensor::from_vector<float>({1, 1, 3}, {1, 2, 3});
  Tensor w = Tensor::from_vector<float>({1, 1, 3}, {1, 1, 1});
  for (bool dnnl : {true, false}) {
    set_dnnl_enabled(dnnl);
    KernelHarness h("ConvTranspose", {attr_ints("strides", {2})}, {x, w}, {false, true});
    ASSERT_TRUE(h.create().ok());
    set_dnnl_enabled(true);
    auto y = h.run({x, w});
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({1, 1, 7}, {1, 1, 3, 2, 5, 3, 3}), 1e-6);
    // output_padding 1 adds one position at the end (only bias reaches it: 0 here).
    KernelHarness p("ConvTranspose", {attr_ints("strides", {2}), attr_ints("output_padding", {1})},
                    {x, w}, {false, true});
    ASSERT_TRUE(p.create().ok());
    auto yp = p.run({x, w});
    ASSERT_TRUE(yp.ok()) << yp.status().message();
    EXPECT_TENSOR_NEAR(yp->at(0), Tensor::from_vector<float>({1, 1, 8}, {1, 1, 3, 2, 5, 3, 3, 0}),
                       1e-6);
    // output_shape 5: total padding 7 - 5 = 2, one each side.
    KernelHarness o("ConvTranspose",
                    {attr_ints("strides", {2}), attr_ints("output_shape", {5})}, {x, w},
                    {false, true});
    ASSERT_TRUE(o.create().ok());
    auto yo = o.run({x, w});
    ASSERT_TRUE(yo.ok()) << yo.status().message();
    EXPECT_TENSOR_NEAR(yo->at(0), Tensor::from_vector<float>({1, 1, 5}, {1, 3, 2, 5, 3}), 1e-6);
    // output_shape 9, beyond the natural 7: the output grows at the end, where nothing reaches.
    KernelHarness big("ConvTranspose",
                      {attr_ints("strides", {2}), attr_ints("output_shape", {9})}, {x, w},
                      {false, true});
    ASSERT_TRUE(big.create().ok());
    auto yb = big.run({x, w});
    ASSERT_TRUE(yb.ok()) << yb.status().message();
    EXPECT_TENSOR_NEAR(yb->at(0), Tensor::from_vector<float>({1, 1, 9}, {1, 1, 3, 2, 5, 3, 3, 0, 0}),
                       1e-6);
  }
}

// A random valid Conv case drawn from tile-relevant sizes.
struct ConvCase {
  Shape x, w;
  std::vector<Attribute> attrs;
  bool bias = false;
  std::string text;
};

ConvCase random_conv_case(std::mt19937& rng, bool transpose) {
  const int64_t channels[] = {1, 3, 8, 15, 16, 17, 32, 64};
  const int64_t sizes[] = {1, 5, 7, 8, 9, 17};
  auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
  for (;;) {
    const int rank = std::vector<int>{1, 2, 2, 2, 3}[rng() % 5];
    const int64_t n = 1 + rng() % 3;
    int64_t c = pick(channels), m = pick(channels);
    int64_t group = 1;
    const int gk = rng() % 4;
    if (gk == 1) {  // depthwise, multiplier 1 or 2
      group = c;
      m = c * (1 + rng() % 2);
    } else if (gk == 2) {
      for (int64_t g : {4, 2, 3}) {
        if (c % g == 0 && m % g == 0 && c > g) {
          group = g;
          break;
        }
      }
    }
    Shape x{n, c}, w;
    Shape ks, st, dil, pads_b, pads_e;
    int64_t macs = n * m * (c / group);
    bool ok = true;
    for (int i = 0; i < rank; ++i) {
      int64_t s = pick(sizes);
      if (rank == 3 && s > 9) s = 5;
      x.push_back(s);
      const int64_t k = std::vector<int64_t>{1, 2, 3, 3, 5}[rng() % 5];
      ks.push_back(k);
      st.push_back(1 + rng() % (transpose ? 2 : 3));
      dil.push_back(1 + rng() % 2);
      pads_b.push_back(rng() % 3);
      pads_e.push_back(rng() % 3);
      const int64_t ek = (k - 1) * dil.back() + 1;
      if (!transpose && ek > s + pads_b.back() + pads_e.back()) ok = false;
      if (transpose && st.back() * (s - 1) + ek - pads_b.back() - pads_e.back() <= 0) ok = false;
      macs *= s * k * (transpose ? st.back() : 1);
    }
    if (!ok || macs > 8'000'000) continue;
    w = transpose ? Shape{c, m / group} : Shape{m, c / group};
    w.insert(w.end(), ks.begin(), ks.end());
    ConvCase cc;
    cc.x = x;
    cc.w = w;
    cc.bias = rng() % 2;
    Shape pads = pads_b;
    pads.insert(pads.end(), pads_e.begin(), pads_e.end());
    cc.attrs = {attr_int("group", group), attr_ints("strides", st), attr_ints("dilations", dil)};
    const int ap = rng() % 6;
    std::string auto_pad = ap == 0 ? "SAME_UPPER" : ap == 1 ? "SAME_LOWER" : ap == 2 ? "VALID" : "NOTSET";
    if (transpose && auto_pad == "VALID") auto_pad = "NOTSET";
    if (transpose && auto_pad.rfind("SAME", 0) == 0) {
      // out = in * stride; a kernel extent below the stride would need negative padding, which
      // oneDNN rejects (the reference loops take it; not a case for this table).
      bool fits = true;
      for (int i = 0; i < rank; ++i) fits &= (ks[i] - 1) * dil[i] + 1 >= st[i];
      if (!fits) continue;
    }
    if (auto_pad == "NOTSET") cc.attrs.push_back(attr_ints("pads", pads));
    else cc.attrs.push_back(attr_string("auto_pad", auto_pad));
    if (transpose && auto_pad == "NOTSET" && rng() % 3 == 0) {
      Shape op;
      for (int64_t s : st) op.push_back(s > 1 ? 1 : 0);
      cc.attrs.push_back(attr_ints("output_padding", op));
    }
    if (!transpose && auto_pad == "VALID") {
      // VALID ignores pads; make sure the kernel still fits.
      bool fits = true;
      for (int i = 0; i < rank; ++i) fits &= (ks[i] - 1) * dil[i] + 1 <= x[2 + i];
      if (!fits) continue;
    }
    cc.text = "x " + shape_to_string(x) + " w " + shape_to_string(w) + " group " +
              std::to_string(group) + " strides " + shape_to_string(st) + " dilations " +
              shape_to_string(dil) + " pads " + shape_to_string(pads) + " auto_pad " + auto_pad +
              (cc.bias ? " bias" : "");
    return cc;
  }
}

void sweep(bool transpose, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::string op = transpose ? "ConvTranspose" : "Conv";
  int blocked_outputs = 0;
  for (int i = 0; i < count; ++i) {
    ConvCase cc = random_conv_case(rng, transpose);
    const int64_t m = transpose ? cc.w[1] * cc.attrs[0].i : cc.w[0];
    std::vector<Tensor> inputs{random_tensor(cc.x, -1, 1, seed + i), random_tensor(cc.w, -1, 1, seed + 7 * i)};
    std::vector<bool> constant{false, i % 2 == 0};
    if (cc.bias) {
      inputs.push_back(random_tensor({m}, -1, 1, seed + 13 * i));
      constant.push_back(true);
    }
    const int64_t case_fallbacks = dnnl_fallback_count();
    auto r = run_both_paths(op, cc.attrs, inputs, constant, /*blocked=*/i % 3 != 0);
    ASSERT_TRUE(r.ok()) << cc.text << ": " << r.status().message();
    EXPECT_EQ(dnnl_fallback_count(), case_fallbacks) << op << " took the reference path: " << cc.text;
    blocked_outputs += r->fast_was_blocked;
    EXPECT_TRUE(near_scaled(r->fast, r->ref)) << op << " case " << i << ": " << cc.text;
    // Every case in this table is one oneDNN handles: none may silently take the slow path.
  }
  EXPECT_GT(blocked_outputs, 0);  // the blocked-output path was exercised
}

TEST(Conv, OneDnnMatchesReferenceRandomTable) { sweep(false, 160, 1000); }
TEST(ConvTranspose, OneDnnMatchesReferenceRandomTable) { sweep(true, 80, 2000); }

TEST(Conv, OneDnnMatchesReferenceNamedCases) {
  struct Row {
    Shape x, w;
    std::vector<Attribute> attrs;
  };
  const std::vector<Row> rows = {
      // ResNet-ish shapes: stem 7x7 stride 2, 3x3, 1x1 projection, depthwise 3x3, 1-D and 3-D.
      {{2, 3, 17, 17}, {16, 3, 7, 7}, {attr_ints("strides", {2, 2}), attr_ints("pads", {3, 3, 3, 3})}},
      {{2, 64, 8, 8}, {64, 64, 3, 3}, {attr_ints("pads", {1, 1, 1, 1})}},
      {{2, 64, 9, 9}, {32, 64, 1, 1}, {attr_ints("strides", {2, 2})}},
      {{2, 32, 9, 9}, {32, 1, 3, 3}, {attr_int("group", 32), attr_ints("pads", {1, 1, 1, 1})}},
      {{2, 17, 9, 9}, {17, 1, 3, 3}, {attr_int("group", 17), attr_ints("dilations", {2, 2}), attr_ints("pads", {2, 2, 2, 2})}},
      {{3, 15, 17}, {9, 5, 3}, {attr_int("group", 3), attr_string("auto_pad", "SAME_LOWER")}},
      {{1, 8, 5, 7, 8}, {16, 8, 3, 3, 3}, {attr_string("auto_pad", "SAME_UPPER"), attr_ints("strides", {2, 1, 2})}},
      {{1, 16, 7, 7}, {16, 16, 3, 3}, {attr_ints("pads", {0, 2, 1, 0})}},  // asymmetric pads
      // Winograd candidates (3x3, stride 1) with long reductions: 256 * 9 and 512 * 9 terms.
      {{2, 256, 14, 14}, {64, 256, 3, 3}, {attr_ints("pads", {1, 1, 1, 1})}},
      {{1, 512, 7, 7}, {32, 512, 3, 3}, {attr_ints("pads", {1, 1, 1, 1})}},
      {{4, 64, 17, 17}, {64, 64, 3, 3}, {}},
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    auto r = run_both_paths("Conv", row.attrs, {random_tensor(row.x, -1, 1, 5 + i), random_tensor(row.w, -1, 1, 9 + i)},
                            {false, true}, /*blocked=*/true);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(near_scaled(r->fast, r->ref)) << "row " << i;
  }
}

TEST(Conv, KernelCachesPlansPerShape) {
  // One kernel object, three input shapes in turn and back: each result must match a fresh
  // reference run (a stale cached primitive would compute the wrong shape).
  Tensor w = random_tensor({16, 8, 3, 3}, -1, 1, 3);
  KernelHarness h("Conv", {attr_ints("pads", {1, 1, 1, 1})}, {random_tensor({1, 8, 5, 5}), w}, {false, true});
  ASSERT_TRUE(h.create().ok());
  for (const Shape& xs : {Shape{1, 8, 5, 5}, Shape{3, 8, 9, 7}, Shape{2, 8, 17, 17}, Shape{1, 8, 5, 5}}) {
    Tensor x = random_tensor(xs, -1, 1, static_cast<uint32_t>(xs[2]));
    auto fast = h.run({x, w}, true);
    ASSERT_TRUE(fast.ok()) << fast.status().message();
    auto r = run_both_paths("Conv", {attr_ints("pads", {1, 1, 1, 1})}, {x, w}, {false, true});
    ASSERT_TRUE(r.ok());
    auto plain = to_plain(fast->at(0));
    ASSERT_TRUE(plain.ok());
    EXPECT_TRUE(near_scaled(*plain, r->ref)) << shape_to_string(xs);
  }
}

std::string conv_error(const Shape& x, const Shape& w, std::vector<Attribute> attrs,
                       const std::string& op = "Conv") {
  KernelHarness h(op, std::move(attrs), {random_tensor(x), random_tensor(w)}, {false, true});
  Status s = h.create();
  if (!s.ok()) return s.message();
  auto y = h.run({random_tensor(x), random_tensor(w)});
  EXPECT_FALSE(y.ok());
  if (!y.ok()) {
    EXPECT_EQ(y.status().code(), StatusCode::kInvalid);
  }
  return y.ok() ? "" : y.status().message();
}

TEST(Conv, ErrorsNameShapesAndRule) {
  std::string m = conv_error({1, 8, 5, 5}, {4, 3, 3, 3}, {});
  EXPECT_NE(m.find("Conv 'n0'"), std::string::npos) << m;
  EXPECT_NE(m.find("[1, 8, 5, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 3, 3, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("8 channels"), std::string::npos) << m;

  m = conv_error({1, 8, 5, 5}, {6, 2, 3, 3}, {attr_int("group", 3)});
  EXPECT_NE(m.find("group 3 does not divide the 8 input channels"), std::string::npos) << m;

  m = conv_error({1, 4, 5, 5}, {6, 1, 3, 3}, {attr_int("group", 4)});
  EXPECT_NE(m.find("group 4 does not divide the 6 output channels"), std::string::npos) << m;

  m = conv_error({1, 1, 5, 5}, {1, 1, 7, 7}, {attr_ints("pads", {0, 0, 1, 1})});
  EXPECT_NE(m.find("kernel extent 7"), std::string::npos) << m;
  EXPECT_NE(m.find("padded input 6"), std::string::npos) << m;

  m = conv_error({1, 1, 5, 5}, {1, 1, 3, 3}, {attr_ints("dilations", {3, 3})});
  EXPECT_NE(m.find("kernel extent 7 (kernel 3, dilation 3)"), std::string::npos) << m;

  m = conv_error({1, 3, 5, 5}, {1, 3, 3}, {});
  EXPECT_NE(m.find("rank"), std::string::npos) << m;

  m = conv_error({1, 8, 5, 5}, {4, 2, 3, 3}, {}, "ConvTranspose");
  EXPECT_NE(m.find("W dim 0 must equal X dim 1"), std::string::npos) << m;
}

TEST(Conv, UnfusableActivationIsUnsupported) {
  KernelHarness h("Conv", {}, {random_tensor({1, 1, 3, 3}), random_tensor({1, 1, 1, 1})});
  h.fuse("Softplus");
  Status s = h.create();
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.message();
  EXPECT_NE(s.message().find("Softplus"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace quench::testing
