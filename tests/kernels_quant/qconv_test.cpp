// ConvInteger and QLinearConv against int64 naive convolution loops, table-driven over geometry
// (1-D/2-D/3-D, strides, dilations, pads, auto_pad, groups, depthwise) and operand types; the
// integer GEMM against its reference over sizes around its tiles; error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "quant_test_util.h"
#include "runtime/kernels/quant_gemm.h"

namespace quench {
namespace {

using qtest::int_tensor;
using qtest::int_values;
using qtest::ints_equal;
using qtest::random_int_tensor;
using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::run_op;

TEST(QuantGemm, EveryVariantMatchesReferenceAroundTileSizes) {
  uint32_t seed = 10;
  const std::vector<std::string> variants = quant::gemm_s16_variants();
  ASSERT_FALSE(variants.empty());
  EXPECT_EQ(variants.back(), "scalar");
  // Tiles: 4 x 32 micro-tiles, 64 x 256 blocks, K slices of 512 taken in pairs.
  for (int64_t m : {1, 4, 5, 63, 65}) {
    for (int64_t n : {1, 31, 33, 256, 257}) {
      for (int64_t k : {0, 1, 2, 3, 512, 513, 1100}) {
        SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k));
        const int64_t lda = k + 3, ldb = n + 5, ldc = n + 2;
        std::vector<int64_t> av = qtest::random_ints(static_cast<size_t>(m * lda), -255, 255, ++seed);
        std::vector<int64_t> bv = qtest::random_ints(static_cast<size_t>(std::max<int64_t>(k, 1) * ldb), -255, 255, ++seed);
        std::vector<int16_t> a(av.begin(), av.end()), b(bv.begin(), bv.end());
        std::vector<int32_t> c(static_cast<size_t>(m * ldc), -7), want(c.size(), -7);
        quant::gemm_s16_reference(m, n, k, a.data(), lda, b.data(), ldb, want.data(), ldc);
        quant::gemm_s16(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
        ASSERT_EQ(c, want);
        for (const std::string& v : variants) {
          std::fill(c.begin(), c.end(), -7);
          ASSERT_TRUE(quant::gemm_s16_variant(v, m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc));
          ASSERT_EQ(c, want) << v;
        }
      }
    }
  }
}

struct ConvCase {
  const char* name;
  Shape x;                   // [N, C, spatial...]
  int64_t m;                 // output channels
  std::vector<int64_t> kernel;
  int64_t group = 1;
  std::vector<int64_t> strides = {};
  std::vector<int64_t> dilations = {};
  std::vector<int64_t> pads = {};
  std::string auto_pad = "NOTSET";
  DType x_type = DType::kUInt8;
  DType w_type = DType::kUInt8;
  bool per_channel_zp = false;
};

const ConvCase kConvCases[] = {
    {"2d_3x3_pad1", {1, 3, 6, 7}, 4, {3, 3}, 1, {}, {}, {1, 1, 1, 1}},
    {"2d_stride2_dil2_int8", {2, 4, 9, 8}, 5, {3, 2}, 1, {2, 1}, {2, 2}, {1, 0, 2, 1}, "NOTSET",
     DType::kInt8, DType::kInt8, true},
    {"2d_group2_mixed_types", {1, 4, 5, 5}, 6, {3, 3}, 2, {}, {}, {1, 1, 1, 1}, "NOTSET",
     DType::kUInt8, DType::kInt8, true},
    {"2d_depthwise", {2, 5, 6, 6}, 5, {3, 3}, 5, {1, 1}, {}, {1, 1, 1, 1}, "NOTSET", DType::kInt8,
     DType::kUInt8},
    {"1d", {2, 3, 11}, 4, {3}, 1, {2}, {}, {1, 2}},
    {"3d", {1, 2, 4, 5, 3}, 3, {2, 3, 2}, 1, {1, 2, 1}, {1, 1, 2}, {0, 1, 1, 1, 0, 1}},
    {"same_upper_stride2", {1, 3, 7, 8}, 4, {3, 3}, 1, {2, 2}, {}, {}, "SAME_UPPER"},
    {"same_lower_stride2", {1, 3, 7, 8}, 4, {4, 3}, 1, {2, 2}, {}, {}, "SAME_LOWER", DType::kInt8,
     DType::kInt8, true},
    {"valid", {1, 2, 6, 5}, 3, {2, 2}, 1, {}, {}, {}, "VALID"},
    {"1x1", {2, 8, 4, 4}, 6, {1, 1}},
    // Crosses the GEMM's row block (20 > 16), column block (17*17 > 256) and depth block (288).
    {"tiles", {1, 32, 17, 17}, 20, {3, 3}, 1, {}, {}, {1, 1, 1, 1}, "NOTSET", DType::kUInt8,
     DType::kInt8, true},
    // col for the whole image would be 576 x 100*100 int16 (11 MB): runs in 2 slices of rows.
    {"row_slices", {1, 64, 100, 100}, 2, {3, 3}, 1, {}, {}, {1, 1, 1, 1}, "NOTSET", DType::kUInt8,
     DType::kInt8, true},
};

// Explicit begin/end pads for a case (auto_pad resolved the ONNX way).
std::vector<int64_t> resolve_pads(const ConvCase& c) {
  const size_t sr = c.kernel.size();
  std::vector<int64_t> pads(2 * sr, 0);
  for (size_t i = 0; i < sr; ++i) {
    const int64_t s = c.strides.empty() ? 1 : c.strides[i];
    const int64_t d = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t in = c.x[2 + i];
    if (c.auto_pad == "NOTSET") {
      if (!c.pads.empty()) {
        pads[i] = c.pads[i];
        pads[i + sr] = c.pads[i + sr];
      }
    } else if (c.auto_pad != "VALID") {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + (c.kernel[i] - 1) * d + 1 - in);
      pads[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i + sr] = total - pads[i];
    }
  }
  return pads;
}

// int64 convolution of (x - x_zp) and (w - w_zp[m]); returns the output shape in out_shape.
std::vector<int64_t> ref_conv(const ConvCase& c, const std::vector<int64_t>& x, int64_t x_zp,
                              const std::vector<int64_t>& w, const std::vector<int64_t>& w_zp,
                              Shape& out_shape) {
  const size_t sr = c.kernel.size();
  // Pad everything to 3 spatial dimensions.
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0},
          pe[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  const std::vector<int64_t> pads = resolve_pads(c);
  for (size_t i = 0; i < sr; ++i) {
    const size_t j = 3 - sr + i;
    in[j] = c.x[2 + i];
    k[j] = c.kernel[i];
    s[j] = c.strides.empty() ? 1 : c.strides[i];
    d[j] = c.dilations.empty() ? 1 : c.dilations[i];
    pb[j] = pads[i];
    pe[j] = pads[i + sr];
  }
  for (int j = 0; j < 3; ++j) out[j] = (in[j] + pb[j] + pe[j] - ((k[j] - 1) * d[j] + 1)) / s[j] + 1;
  const int64_t n_img = c.x[0], ch = c.x[1], cg = ch / c.group, mg = c.m / c.group;
  out_shape = {n_img, c.m};
  for (size_t i = 0; i < sr; ++i) out_shape.push_back(out[3 - sr + i]);
  std::vector<int64_t> y;
  for (int64_t n = 0; n < n_img; ++n)
    for (int64_t m = 0; m < c.m; ++m)
      for (int64_t o0 = 0; o0 < out[0]; ++o0)
        for (int64_t o1 = 0; o1 < out[1]; ++o1)
          for (int64_t o2 = 0; o2 < out[2]; ++o2) {
            int64_t acc = 0;
            const int64_t g = m / mg;
            for (int64_t cc = 0; cc < cg; ++cc)
              for (int64_t k0 = 0; k0 < k[0]; ++k0)
                for (int64_t k1 = 0; k1 < k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                    const int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                    const int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                    const int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                    if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2]) continue;
                    const int64_t xi = (((n * ch + g * cg + cc) * in[0] + i0) * in[1] + i1) * in[2] + i2;
                    const int64_t wi = (((m * cg + cc) * k[0] + k0) * k[1] + k1) * k[2] + k2;
                    acc += (x[xi] - x_zp) * (w[wi] - w_zp[w_zp.size() == 1 ? 0 : m]);
                  }
            y.push_back(acc);
          }
  return y;
}

std::vector<Attribute> conv_attrs(const ConvCase& c) {
  std::vector<Attribute> a = {attr_int("group", c.group), attr_ints("kernel_shape", c.kernel)};
  if (!c.strides.empty()) a.push_back(attr_ints("strides", c.strides));
  if (!c.dilations.empty()) a.push_back(attr_ints("dilations", c.dilations));
  if (!c.pads.empty()) a.push_back(attr_ints("pads", c.pads));
  if (c.auto_pad != "NOTSET") a.push_back(attr_string("auto_pad", c.auto_pad));
  return a;
}

Shape weight_shape(const ConvCase& c) {
  Shape w = {c.m, c.x[1] / c.group};
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  return w;
}

TEST(ConvInteger, MatchesInt64ReferenceOverGeometries) {
  uint32_t seed = 100;
  for (const ConvCase& c : kConvCases) {
    for (bool weights_constant : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (weights_constant ? " (w initializer)" : ""));
      Tensor x = random_int_tensor(c.x_type, c.x, ++seed);
      Tensor w = random_int_tensor(c.w_type, weight_shape(c), ++seed);
      const qtest::Range xr = qtest::range_of(c.x_type), wr = qtest::range_of(c.w_type);
      const int64_t x_zp = qtest::random_ints(1, xr.lo, xr.hi, ++seed)[0];
      std::vector<int64_t> w_zp = qtest::random_ints(c.per_channel_zp ? c.m : 1, wr.lo, wr.hi, ++seed);
      Shape out_shape;
      std::vector<int64_t> want = ref_conv(c, int_values(x), x_zp, int_values(w), w_zp, out_shape);
      Tensor wz = int_tensor(c.w_type, c.per_channel_zp ? Shape{c.m} : Shape{}, w_zp);
      auto y = run_op({"ConvInteger", conv_attrs(c), 10},
                      {x, w, int_tensor(c.x_type, {}, {x_zp}), wz},
                      {false, weights_constant, false, weights_constant});
      ASSERT_TRUE(y.ok()) << y.status().message();
      EXPECT_EQ(y->at(0).shape(), out_shape);
      EXPECT_TRUE(ints_equal(y->at(0), DType::kInt32, want));
    }
  }
}

TEST(ConvInteger, ZeroPointsAreOptional) {
  const ConvCase c = kConvCases[0];
  Tensor x = random_int_tensor(DType::kUInt8, c.x, 7);
  Tensor w = random_int_tensor(DType::kUInt8, weight_shape(c), 8);
  Shape out_shape;
  std::vector<int64_t> want = ref_conv(c, int_values(x), 0, int_values(w), {0}, out_shape);
  auto y = run_op({"ConvInteger", conv_attrs(c), 10}, {x, w});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(ints_equal(y->at(0), DType::kInt32, want));
}

// saturate(round_half_even((acc + bias) * float(x_scale * w_scale / y_scale)) + y_zp).
int64_t ref_requant(int64_t acc, float mult, int64_t y_zp, qtest::Range r) {
  int64_t q = static_cast<int64_t>(std::nearbyint(static_cast<double>(acc) * mult)) + y_zp;
  return std::clamp(q, r.lo, r.hi);
}

TEST(QLinearConv, MatchesRequantizedInt64Reference) {
  uint32_t seed = 300;
  for (const ConvCase& c : kConvCases) {
    for (DType y_type : {DType::kUInt8, DType::kInt8}) {
      SCOPED_TRACE(std::string(c.name) + " -> " + std::string(dtype_name(y_type)));
      Tensor x = random_int_tensor(c.x_type, c.x, ++seed);
      Tensor w = random_int_tensor(c.w_type, weight_shape(c), ++seed);
      const qtest::Range xr = qtest::range_of(c.x_type), wr = qtest::range_of(c.w_type);
      const qtest::Range yr = qtest::range_of(y_type);
      const int64_t x_zp = qtest::random_ints(1, xr.lo, xr.hi, ++seed)[0];
      const int64_t nzp = c.per_channel_zp ? c.m : 1;
      std::vector<int64_t> w_zp = qtest::random_ints(static_cast<size_t>(nzp), wr.lo, wr.hi, ++seed);
      Tensor w_scale = testing::random_tensor(c.per_channel_zp ? Shape{c.m} : Shape{}, 0.001f, 0.01f, ++seed);
      std::vector<int64_t> bias = qtest::random_ints(static_cast<size_t>(c.m), -20000, 20000, ++seed);
      const float x_scale = 0.02f, y_scale = 0.9f;
      const int64_t y_zp = y_type == DType::kUInt8 ? 131 : -5;
      Shape out_shape;
      std::vector<int64_t> acc = ref_conv(c, int_values(x), x_zp, int_values(w), w_zp, out_shape);
      const int64_t sp = shape_numel(out_shape) / (out_shape[0] * c.m);
      std::vector<int64_t> want(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) {
        const int64_t m = static_cast<int64_t>(i) / sp % c.m;
        const float ws = w_scale.data<float>()[c.per_channel_zp ? m : 0];
        want[i] = ref_requant(acc[i] + bias[m], x_scale * ws / y_scale, y_zp, yr);
      }
      Tensor wz = int_tensor(c.w_type, c.per_channel_zp ? Shape{c.m} : Shape{}, w_zp);
      auto y = run_op({"QLinearConv", conv_attrs(c), 10},
                      {x, Tensor::scalar(x_scale), int_tensor(c.x_type, {}, {x_zp}), w, w_scale, wz,
                       Tensor::scalar(y_scale), int_tensor(y_type, {}, {y_zp}),
                       int_tensor(DType::kInt32, {c.m}, bias)},
                      {false, false, false, true, true, true, false, false, true});
      ASSERT_TRUE(y.ok()) << y.status().message();
      EXPECT_EQ(y->at(0).shape(), out_shape);
      EXPECT_TRUE(ints_equal(y->at(0), y_type, want));
      // Some outputs inside the range, some saturated: the case exercises both paths.
      std::vector<int64_t> got = int_values(y->at(0));
      EXPECT_GT(std::count_if(got.begin(), got.end(), [&](int64_t v) { return v > yr.lo && v < yr.hi; }), 0);
    }
  }
}

// The float path: dequantize x and w, convolve in double, quantize. Equal to the integer path up to
// one step where the float rounding of a tie differs.
TEST(QLinearConv, AgreesWithDequantizeFloatConvQuantize) {
  const ConvCase c = kConvCases[1];  // strides, dilations, per-channel int8 weights
  Tensor x = random_int_tensor(c.x_type, c.x, 41);
  Tensor w = random_int_tensor(c.w_type, weight_shape(c), 42);
  const int64_t x_zp = 3;
  std::vector<int64_t> w_zp = qtest::random_ints(static_cast<size_t>(c.m), -4, 4, 43);
  Tensor w_scale = testing::random_tensor({c.m}, 0.002f, 0.004f, 44);
  const float x_scale = 0.05f, y_scale = 0.3f;
  std::vector<int64_t> xv = int_values(x), wv = int_values(w);
  // ref_conv in "float": scale the integer accumulations by x_scale * w_scale instead.
  Shape out_shape;
  std::vector<int64_t> acc = ref_conv(c, xv, x_zp, wv, w_zp, out_shape);
  const int64_t sp = shape_numel(out_shape) / (out_shape[0] * c.m);
  auto y = run_op({"QLinearConv", conv_attrs(c), 10},
                  {x, Tensor::scalar(x_scale), int_tensor(c.x_type, {}, {x_zp}), w, w_scale,
                   int_tensor(c.w_type, {c.m}, w_zp), Tensor::scalar(y_scale),
                   int_tensor(DType::kUInt8, {}, {128})});
  ASSERT_TRUE(y.ok()) << y.status().message();
  std::vector<int64_t> got = int_values(y->at(0));
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t m = static_cast<int64_t>(i) / sp % c.m;
    const double real = static_cast<double>(acc[i]) * x_scale * w_scale.data<float>()[m];
    const int64_t q = std::clamp<int64_t>(std::llround(real / y_scale) + 128, 0, 255);
    ASSERT_LE(std::abs(got[i] - q), 1) << "element " << i;
  }
}

struct ConvErrorCase {
  const char* what;
  std::vector<Attribute> attrs;
  std::vector<Tensor> inputs;
  std::string message;
};

TEST(ConvInteger, ErrorMessages) {
  Tensor x = random_int_tensor(DType::kUInt8, {1, 4, 5, 5}, 1);
  Tensor w = random_int_tensor(DType::kUInt8, {6, 2, 3, 3}, 2);
  const std::vector<ConvErrorCase> cases = {
      {"w zero point length", {attr_int("group", 2)},
       {x, w, int_tensor(DType::kUInt8, {}, {1}), int_tensor(DType::kUInt8, {4}, {1, 2, 3, 4})},
       "w_zero_point has shape [4]; it must be a scalar or have one value per output channel (6)"},
      {"x zero point type", {attr_int("group", 2)},
       {x, w, int_tensor(DType::kInt8, {}, {1})},
       "x_zero_point has type int8 but x has type uint8; they must be the same"},
      {"group does not match w", {},
       {x, w},
       "weight w of shape [6, 2, 3, 3] has 2 input channels per group, but x has 4 channels and "
       "group is 1"},
      {"kernel larger than input", {attr_int("group", 2)},
       {random_int_tensor(DType::kUInt8, {1, 4, 2, 5}, 3), w},
       "the kernel (extent 3 in spatial axis 0) is larger than the padded input (2)"},
      {"float input", {}, {testing::random_tensor({1, 4, 5, 5}), w},
       "x has type float32 and w has type uint8; both must be int8 or uint8"},
  };
  for (const ConvErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    auto y = run_op({"ConvInteger", c.attrs, 10}, c.inputs);
    ASSERT_FALSE(y.ok());
    EXPECT_EQ(y.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(y.status().message(), "ConvInteger 'node': " + c.message);
  }
}

TEST(QLinearConv, ErrorMessages) {
  Tensor x = random_int_tensor(DType::kUInt8, {1, 2, 4, 4}, 1);
  Tensor w = random_int_tensor(DType::kInt8, {3, 2, 3, 3}, 2);
  auto run = [&](Tensor w_scale, Tensor bias) {
    return run_op({"QLinearConv", {}, 10},
                  {x, Tensor::scalar(0.1f), int_tensor(DType::kUInt8, {}, {0}), w, w_scale,
                   int_tensor(DType::kInt8, {}, {0}), Tensor::scalar(0.2f),
                   int_tensor(DType::kUInt8, {}, {0}), bias});
  };
  auto y = run(Tensor::from_vector<float>({2}, {0.1f, 0.2f}), Tensor());
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(), "QLinearConv 'node': w_scale has shape [2]; it must be a scalar "
                                  "or have one value per output channel (3)");
  y = run(Tensor::scalar(0.1f), Tensor::from_vector<float>({3}, {1, 2, 3}));
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(), "QLinearConv 'node': bias B is float32[3]; it must be int32[3]");
}

}  // namespace
}  // namespace quench
