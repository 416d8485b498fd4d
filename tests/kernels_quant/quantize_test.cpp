// QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear against scalar references, table-driven
// over element types x granularity (per-tensor, per-axis on every axis, blocked with dividing and
// non-dividing block sizes), plus ties, saturation, zero range and error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "quant_test_util.h"

namespace quench {
namespace {

using qtest::int_tensor;
using qtest::int_values;
using qtest::ints_equal;
using qtest::range_of;
using testing::attr_int;
using testing::run_op;

enum class Gran { kTensor, kAxis, kBlock };

struct GranCase {
  const char* name;
  Shape x;
  Gran gran;
  int64_t axis = 1;
  int64_t block = 0;
};

const GranCase kGranCases[] = {
    {"tensor_3d", {2, 3, 5}, Gran::kTensor},
    {"tensor_scalar_x", {}, Gran::kTensor},
    {"axis0", {4, 3, 5}, Gran::kAxis, 0},
    {"axis1", {2, 6, 5}, Gran::kAxis, 1},
    {"axis2", {2, 3, 7}, Gran::kAxis, 2},
    {"axis_neg1", {2, 3, 7}, Gran::kAxis, -1},
    {"axis1_4d", {2, 5, 3, 4}, Gran::kAxis, 1},
    {"block_axis1_divides", {2, 8, 3}, Gran::kBlock, 1, 4},
    {"block_axis1_ragged", {2, 7, 3}, Gran::kBlock, 1, 3},
    {"block_axis0", {9, 4}, Gran::kBlock, 0, 2},
    {"block_last_axis", {3, 10}, Gran::kBlock, -1, 4},
    {"block_bigger_than_dim", {3, 5}, Gran::kBlock, 1, 8},
    // Longer than the kernel's 4096-element work chunks.
    {"tensor_long", {3, 5000}, Gran::kTensor},
    {"axis_last_long", {3, 5000}, Gran::kAxis, 1},
    {"axis0_long_rows", {3, 4500}, Gran::kAxis, 0},
    {"block_last_long", {2, 4500}, Gran::kBlock, 1, 64},
    {"block_axis0_long_rows", {9, 4200}, Gran::kBlock, 0, 4},
};

const DType kQuantTypes[] = {DType::kInt8,   DType::kUInt8, DType::kInt16,
                             DType::kUInt16, DType::kInt4,  DType::kUInt4};

int64_t norm_axis(const GranCase& c) {
  return c.axis < 0 ? c.axis + static_cast<int64_t>(c.x.size()) : c.axis;
}

Shape param_shape(const GranCase& c) {
  switch (c.gran) {
    case Gran::kTensor: return {};
    case Gran::kAxis: return {c.x[static_cast<size_t>(norm_axis(c))]};
    case Gran::kBlock: {
      Shape s = c.x;
      int64_t& d = s[static_cast<size_t>(norm_axis(c))];
      d = (d + c.block - 1) / c.block;
      return s;
    }
  }
  return {};
}

// The parameter index of flat element i, from its coordinates.
int64_t param_index(const GranCase& c, int64_t i) {
  if (c.gran == Gran::kTensor) return 0;
  const int64_t axis = norm_axis(c);
  std::vector<int64_t> coord(c.x.size());
  for (size_t d = c.x.size(); d-- > 0;) {
    coord[d] = i % c.x[d];
    i /= c.x[d];
  }
  if (c.gran == Gran::kAxis) return coord[static_cast<size_t>(axis)];
  Shape ps = param_shape(c);
  coord[static_cast<size_t>(axis)] /= c.block;
  int64_t idx = 0;
  for (size_t d = 0; d < ps.size(); ++d) idx = idx * ps[d] + coord[d];
  return idx;
}

std::vector<Attribute> gran_attrs(const GranCase& c) {
  std::vector<Attribute> a = {attr_int("axis", c.axis)};
  if (c.gran == Gran::kBlock) a.push_back(attr_int("block_size", c.block));
  return a;
}

TEST(QuantizeLinear, MatchesReferenceForEveryTypeAndGranularity) {
  uint32_t seed = 1;
  for (DType t : kQuantTypes) {
    const qtest::Range r = range_of(t);
    const float span = static_cast<float>(r.hi - r.lo);
    for (const GranCase& c : kGranCases) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " " + c.name);
      const Shape ps = param_shape(c);
      // |x / scale| reaches 2 to 20 ranges of the type, so that both ends saturate.
      Tensor scale = testing::random_tensor(ps, 0.01f, 0.1f, ++seed);
      Tensor x = testing::random_tensor(c.x, -0.2f * span, 0.2f * span, ++seed);
      std::vector<int64_t> zps = qtest::random_ints(static_cast<size_t>(shape_numel(ps)), r.lo,
                                                    r.hi, ++seed);
      Tensor zp = int_tensor(t, ps, zps);
      auto y = run_op({"QuantizeLinear", gran_attrs(c), 21}, {x, scale, zp});
      ASSERT_TRUE(y.ok()) << y.status().message();
      std::vector<int64_t> want(static_cast<size_t>(x.numel()));
      const float* xp = x.data<float>();
      const float* sp = scale.data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t p = param_index(c, i);
        want[static_cast<size_t>(i)] = qtest::ref_quantize(xp[i], sp[p], zps[p], r);
      }
      EXPECT_TRUE(ints_equal(y->at(0), t, want));
      if (x.numel() >= 8) {
        EXPECT_GT(std::count(want.begin(), want.end(), r.hi), 0);
        EXPECT_GT(std::count(want.begin(), want.end(), r.lo), 0);
      }

      // Dequantize the result back: (q - zp) * scale, exactly in float.
      auto back = run_op({"DequantizeLinear", gran_attrs(c), 21}, {y->at(0), scale, zp});
      ASSERT_TRUE(back.ok()) << back.status().message();
      Tensor expect = Tensor::empty(DType::kFloat32, c.x);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t p = param_index(c, i);
        expect.data<float>()[i] =
            (static_cast<float>(want[static_cast<size_t>(i)]) - static_cast<float>(zps[p])) * sp[p];
      }
      EXPECT_TENSOR_NEAR(back->at(0), expect, 0.0);
    }
  }
}

TEST(QuantizeLinear, OlderOpsetsPerTensorAndPerAxis) {
  Tensor x = Tensor::from_vector<float>({2, 3}, {-1.0f, 0.26f, 3.0f, 100.0f, -7.5f, 0.0f});
  // Opset 10: scalar scale, uint8 default without a zero point.
  auto y = run_op({"QuantizeLinear", {}, 10}, {x, Tensor::scalar(0.5f)});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(ints_equal(y->at(0), DType::kUInt8, {0, 1, 6, 200, 0, 0}));
  // Opset 13, per-axis over axis 0 with int8 zero points.
  auto y13 = run_op({"QuantizeLinear", {attr_int("axis", 0)}, 13},
                    {x, Tensor::from_vector<float>({2}, {0.5f, 2.0f}),
                     int_tensor(DType::kInt8, {2}, {10, -3})});
  ASSERT_TRUE(y13.ok()) << y13.status().message();
  EXPECT_TRUE(ints_equal(y13->at(0), DType::kInt8, {8, 11, 16, 47, -7, -3}));
}

struct TieCase {
  DType type;
  int64_t zp;
  std::vector<float> x;
  std::vector<int64_t> want;
};

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
  const TieCase cases[] = {
      {DType::kInt8, 0, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.5f, -128.5f, 1e9f, -1e9f},
       {0, 2, 2, 0, -2, -2, 126, 127, -128, 127, -128}},
      {DType::kUInt8, 128, {0.5f, 1.5f, -0.5f, -1.5f, 127.5f, -128.5f, -200.0f},
       {128, 130, 128, 126, 255, 0, 0}},
      {DType::kInt4, 0, {6.5f, 7.5f, -7.5f, -8.5f, 3.5f, 40.0f}, {6, 7, -8, -8, 4, 7}},
      {DType::kUInt4, 3, {0.5f, 1.5f, 11.5f, 12.5f, -3.5f, -4.0f}, {3, 5, 15, 15, 0, 0}},
      {DType::kInt16, -2, {32769.5f, 0.5f, -32766.5f, -1e7f}, {32767, -2, -32768, -32768}},
      {DType::kUInt16, 0, {65534.5f, 65535.5f, 2.5f, -1.0f}, {65534, 65535, 2, 0}},
  };
  for (const TieCase& c : cases) {
    SCOPED_TRACE(dtype_name(c.type));
    Shape s = {static_cast<int64_t>(c.x.size())};
    auto y = run_op({"QuantizeLinear", {}, 21},
                    {Tensor::from_vector<float>(s, c.x), Tensor::scalar(1.0f),
                     int_tensor(c.type, {}, {c.zp})});
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_TRUE(ints_equal(y->at(0), c.type, c.want));
  }
}

TEST(QuantizeLinear, OutputDtypeWithoutZeroPoint) {
  Tensor x = Tensor::from_vector<float>({4}, {-20.0f, -2.2f, 2.6f, 20.0f});
  auto y = run_op({"QuantizeLinear", {attr_int("output_dtype", static_cast<int>(DType::kInt4))}, 21},
                  {x, Tensor::scalar(2.0f)});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(ints_equal(y->at(0), DType::kInt4, {-8, -1, 1, 7}));
}

TEST(QuantizeLinear, AcceptsInt32Input) {
  auto y = run_op({"QuantizeLinear", {}, 13},
                  {int_tensor(DType::kInt32, {3}, {5, -6, 1000}), Tensor::scalar(2.0f),
                   int_tensor(DType::kInt8, {}, {0})});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(ints_equal(y->at(0), DType::kInt8, {2, -3, 127}));
}

// (op, opset, attributes, inputs, expected message suffix after "QuantizeLinear 'node': ")
struct ErrorCase {
  const char* what;
  const char* op;
  int64_t opset;
  std::vector<Attribute> attrs;
  std::vector<Tensor> inputs;
  std::string message;
};

TEST(QuantizeLinear, ErrorMessagesNameTheRule) {
  Tensor x = testing::random_tensor({2, 6, 4});
  const std::vector<ErrorCase> cases = {
      {"scale length vs axis dim", "QuantizeLinear", 13, {attr_int("axis", 1)},
       {x, Tensor::from_vector<float>({4}, {1, 1, 1, 1})},
       "y_scale has shape [4] but per-axis quantization along axis 1 of x [2, 6, 4] needs shape [6]"
       " (or a scalar for per-tensor)"},
      {"zero point type vs output_dtype", "QuantizeLinear", 21,
       {attr_int("output_dtype", static_cast<int>(DType::kInt8))},
       {x, Tensor::scalar(1.0f), int_tensor(DType::kUInt8, {}, {3})},
       "output_dtype is int8 but y_zero_point has type uint8; they must agree"},
      {"zero point shape vs scale shape", "QuantizeLinear", 13, {},
       {x, Tensor::from_vector<float>({6}, {1, 1, 1, 1, 1, 1}), int_tensor(DType::kUInt8, {}, {0})},
       "y_zero_point has shape [] but y_scale has shape [6]; they must match"},
      {"block count", "QuantizeLinear", 21, {attr_int("axis", 1), attr_int("block_size", 4)},
       {x, testing::random_tensor({2, 3, 4}, 0.1f, 1.0f)},
       "y_scale has shape [2, 3, 4] but blocked quantization of x [2, 6, 4] along axis 1 with "
       "block_size 4 needs shape [2, 2, 4] (ceil(6 / 4) = 2 blocks)"},
      {"per-axis before opset 13", "QuantizeLinear", 10, {},
       {x, Tensor::from_vector<float>({6}, {1, 1, 1, 1, 1, 1})},
       "y_scale of shape [6] must be a scalar in opset 10 (per-axis quantization needs opset 13)"},
      {"axis out of range", "QuantizeLinear", 13, {attr_int("axis", 3)},
       {x, Tensor::from_vector<float>({6}, {1, 1, 1, 1, 1, 1})},
       "axis 3 is out of range for rank 3 (allowed: [-3, 2])"},
      {"dequantize zero point type", "DequantizeLinear", 13, {},
       {int_tensor(DType::kInt8, {2}, {1, 2}), Tensor::scalar(1.0f), int_tensor(DType::kUInt8, {}, {0})},
       "x_zero_point has type uint8 but x has type int8; they must be the same"},
      {"dequantize int32 zero point", "DequantizeLinear", 13, {},
       {int_tensor(DType::kInt32, {2}, {1, 2}), Tensor::scalar(1.0f), int_tensor(DType::kInt32, {}, {4})},
       "x_zero_point must be 0 when x is int32"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    auto y = run_op({c.op, c.attrs, c.opset}, c.inputs);
    ASSERT_FALSE(y.ok());
    EXPECT_EQ(y.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(y.status().message(), std::string(c.op) + " 'node': " + c.message);
  }
}

TEST(QuantizeLinear, Float8IsReportedUnsupported) {
  auto y = run_op({"QuantizeLinear",
                   {attr_int("output_dtype", static_cast<int>(DType::kFloat8E4M3FN))}, 21},
                  {testing::random_tensor({3}), Tensor::scalar(1.0f)});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(y.status().message().find("float8"), std::string::npos) << y.status().message();
}

TEST(DequantizeLinear, Int32BiasAndFourBitValues) {
  auto y = run_op({"DequantizeLinear", {}, 13},
                  {int_tensor(DType::kInt32, {4}, {-1000000, 0, 7, 123456}), Tensor::scalar(0.25f)});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TENSOR_NEAR(y->at(0), Tensor::from_vector<float>({4}, {-250000.0f, 0.0f, 1.75f, 30864.0f}), 0.0);
  auto y4 = run_op({"DequantizeLinear", {attr_int("axis", 0)}, 21},
                   {int_tensor(DType::kInt4, {2, 2}, {-8, 7, 3, -1}),
                    Tensor::from_vector<float>({2}, {0.5f, 2.0f}),
                    int_tensor(DType::kInt4, {2}, {1, -2})});
  ASSERT_TRUE(y4.ok()) << y4.status().message();
  EXPECT_TENSOR_NEAR(y4->at(0), Tensor::from_vector<float>({2, 2}, {-4.5f, 3.0f, 10.0f, 2.0f}), 0.0);
}

// The ONNX function body of DynamicQuantizeLinear, in float like the reference.
void ref_dynamic(const std::vector<float>& x, float& scale, int64_t& zp, std::vector<int64_t>& y) {
  float lo = 0.0f, hi = 0.0f;
  for (float v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  scale = (hi - lo) / 255.0f;
  float z = std::clamp(0.0f - lo / scale, 0.0f, 255.0f);
  zp = static_cast<int64_t>(std::nearbyint(z));
  y.clear();
  for (float v : x) y.push_back(qtest::ref_quantize(v, scale, zp, {0, 255}));
}

TEST(DynamicQuantizeLinear, MatchesFormulaAndHandChecked) {
  // The ONNX backend case test_dynamicquantizelinear (its output_*.pb values).
  auto y = run_op({"DynamicQuantizeLinear", {}, 11, 3},
                  {Tensor::from_vector<float>({6}, {0.0f, 2.0f, -3.0f, -2.5f, 1.34f, 0.5f})});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(ints_equal(y->at(0), DType::kUInt8, {153, 255, 0, 26, 221, 179}));
  EXPECT_FLOAT_EQ(y->at(1).data<float>()[0], 0.0196078438f);
  EXPECT_TRUE(ints_equal(y->at(2), DType::kUInt8, {153}));

  for (uint32_t seed : {3u, 4u, 5u}) {
    Tensor x = testing::random_tensor({5, 37}, seed == 4 ? 0.5f : -3.0f, 2.0f, seed);
    std::vector<float> xv(x.data<float>(), x.data<float>() + x.numel());
    float scale;
    int64_t zp;
    std::vector<int64_t> want;
    ref_dynamic(xv, scale, zp, want);
    auto r = run_op({"DynamicQuantizeLinear", {}, 11, 3}, {x});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(ints_equal(r->at(0), DType::kUInt8, want));
    EXPECT_EQ(r->at(1).data<float>()[0], scale);
    EXPECT_TRUE(ints_equal(r->at(2), DType::kUInt8, {zp}));
    if (seed == 4) {
      EXPECT_EQ(zp, 0);  // all positive: the range is extended down to 0
    }
  }
}

TEST(DynamicQuantizeLinear, ZeroRangeGivesZeroScaleAndZeros) {
  auto y = run_op({"DynamicQuantizeLinear", {}, 11, 3}, {Tensor::zeros(DType::kFloat32, {4})});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_TRUE(ints_equal(y->at(0), DType::kUInt8, {0, 0, 0, 0}));
  EXPECT_EQ(y->at(1).data<float>()[0], 0.0f);
  EXPECT_TRUE(ints_equal(y->at(2), DType::kUInt8, {0}));
}

}  // namespace
}  // namespace quench
