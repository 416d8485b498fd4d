// QuantSpec grids and checks, Encoding checks, encoding_from_range / encoding_from_fix_pos rules,
// names. Expected numbers are worked out by hand in the comments.
#include "quant/encoding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "quant/quantize.h"

namespace quench {
namespace {

QuantSpec int_spec(int bits, bool is_signed, bool symmetric, bool narrow = false) {
  QuantSpec s;
  s.bits = bits;
  s.is_signed = is_signed;
  s.symmetric = symmetric;
  s.narrow_range = narrow;
  return s;
}

struct GridCase {
  int bits;
  bool is_signed, symmetric, narrow, strict;
  int64_t qmin, qmax;
};

TEST(QuantSpec, GridBoundsTable) {
  const GridCase cases[] = {
      {8, true, true, false, false, -128, 127},
      {8, true, true, true, false, -127, 127},
      {8, true, true, false, true, -127, 127},   // AIMET strict_symmetric
      {8, true, false, false, true, -128, 127},  // strict_symmetric ignored when asymmetric
      {8, true, false, true, false, -127, 127},  // narrow_range applies to asymmetric too
      {8, false, false, false, false, 0, 255},
      {8, false, true, true, false, 0, 255},  // narrow_range does not apply to unsigned
      {2, true, true, false, false, -2, 1},
      {2, true, true, true, false, -1, 1},
      {2, false, false, false, false, 0, 3},
      {3, true, false, false, false, -4, 3},
      {3, false, true, false, false, 0, 7},
      {4, true, true, false, false, -8, 7},
      {4, false, false, false, false, 0, 15},
      {16, true, true, false, false, -32768, 32767},
      {16, false, false, false, false, 0, 65535},
      {32, true, true, false, false, -2147483648LL, 2147483647LL},
      {32, true, true, true, false, -2147483647LL, 2147483647LL},
  };
  for (const GridCase& c : cases) {
    QuantSpec s = int_spec(c.bits, c.is_signed, c.symmetric, c.narrow);
    s.strict_symmetric = c.strict;
    SCOPED_TRACE(s.describe());
    ASSERT_TRUE(s.validate().ok()) << s.validate().message();
    EXPECT_EQ(s.qmin(), c.qmin);
    EXPECT_EQ(s.qmax(), c.qmax);
  }
}

struct SpecErrorCase {
  QuantSpec spec;
  const char* message;
};

TEST(QuantSpec, ValidateErrors) {
  QuantSpec b1 = int_spec(1, true, true);
  QuantSpec b17 = int_spec(17, false, false);
  QuantSpec b0 = int_spec(0, true, true);
  QuantSpec b32u = int_spec(32, false, true);
  QuantSpec b32a = int_spec(32, true, false);
  QuantSpec h8;
  h8.format = NumberFormat::kFloat16;
  QuantSpec bf32;
  bf32.format = NumberFormat::kBFloat16;
  bf32.bits = 32;
  QuantSpec f8;
  f8.format = NumberFormat::kFloat8E4M3;
  f8.bits = 16;
  QuantSpec blk;
  blk.granularity = Granularity::kPerBlock;
  blk.block_size = 0;
  const SpecErrorCase cases[] = {
      {b1,
       "bits: 1 is out of range: integer encodings take 2..16 bits (32 only for signed "
       "symmetric int32 biases)"},
      {b17,
       "bits: 17 is out of range: integer encodings take 2..16 bits (32 only for signed "
       "symmetric int32 biases)"},
      {b0,
       "bits: 0 is out of range: integer encodings take 2..16 bits (32 only for signed "
       "symmetric int32 biases)"},
      {b32u, "bits: 32 is allowed only for signed symmetric int32 biases (got unsigned symmetric)"},
      {b32a, "bits: 32 is allowed only for signed symmetric int32 biases (got signed asymmetric)"},
      {h8, "bits: 8 does not match format float16, which takes 16 bits"},
      {bf32, "bits: 32 does not match format bfloat16, which takes 16 bits"},
      {f8, "bits: 16 does not match format float8_e4m3fn, which takes 8 bits"},
      {blk, "block_size: 0 must be > 0 for per-block quantization"},
  };
  for (const SpecErrorCase& c : cases) {
    Status st = c.spec.validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalid);
    EXPECT_EQ(st.message(), c.message);
  }
  QuantSpec ok16;
  ok16.format = NumberFormat::kFloat16;
  ok16.bits = 16;
  EXPECT_TRUE(ok16.validate().ok());
}

TEST(QuantSpec, DescribeAndEquality) {
  QuantSpec s;
  s.granularity = Granularity::kPerChannel;
  s.scale_type = ScaleType::kPowerOfTwo;
  EXPECT_EQ(s.describe(), "int8 sym per-channel(axis 0) pow2 half_even");
  QuantSpec a = int_spec(4, false, false);
  a.granularity = Granularity::kPerBlock;
  a.axis = -1;
  a.block_size = 32;
  a.round_mode = RoundMode::kHalfAwayFromZero;
  EXPECT_EQ(a.describe(), "uint4 asym per-block(axis -1, block 32) std_round");
  QuantSpec h;
  h.format = NumberFormat::kBFloat16;
  h.bits = 16;
  EXPECT_EQ(h.describe(), "bfloat16");
  QuantSpec t = s;
  EXPECT_TRUE(t == s);
  t.axis = 1;
  EXPECT_FALSE(t == s);
  t = s;
  t.round_mode = RoundMode::kFloor;
  EXPECT_FALSE(t == s);
}

TEST(RoundModeNames, RoundTripAndUnknown) {
  const RoundMode all[] = {RoundMode::kHalfEven,         RoundMode::kHalfUp, RoundMode::kHalfDown,
                           RoundMode::kHalfAwayFromZero, RoundMode::kFloor,  RoundMode::kCeil};
  const char* names[] = {"half_even", "half_up", "half_down", "std_round", "floor", "ceil"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_STREQ(round_mode_name(all[i]), names[i]);
    Result<RoundMode> r = parse_round_mode(names[i]);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, all[i]);
  }
  Result<RoundMode> bad = parse_round_mode("nearest");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "round mode \"nearest\" is unknown (expected one of half_even, half_up, half_down, "
            "std_round, floor, ceil)");
  EXPECT_STREQ(number_format_name(NumberFormat::kInt), "int");
  EXPECT_STREQ(number_format_name(NumberFormat::kFloat16), "float16");
  EXPECT_STREQ(number_format_name(NumberFormat::kBFloat16), "bfloat16");
  EXPECT_STREQ(number_format_name(NumberFormat::kFloat8E4M3), "float8_e4m3fn");
  EXPECT_STREQ(number_format_name(NumberFormat::kFloat8E5M2), "float8_e5m2");
  EXPECT_STREQ(number_format_name(NumberFormat::kFloat32), "float32");
}

// One range -> (scale, zero point, grid) worked out by hand.
struct RangeCase {
  const char* name;
  QuantSpec spec;
  float min, max;
  float scale;
  int32_t zero_point;
  int64_t qmin, qmax;
};

TEST(EncodingFromRange, HandComputedTable) {
  QuantSpec u8a = int_spec(8, false, false);
  QuantSpec s8a = int_spec(8, true, false);
  QuantSpec s8s = int_spec(8, true, true);
  QuantSpec s8n = int_spec(8, true, true, true);
  QuantSpec s4s = int_spec(4, true, true);
  QuantSpec u8s = int_spec(8, false, true);
  QuantSpec s8us = s8s;
  s8us.unsigned_symmetric = true;
  QuantSpec s8p = s8s;
  s8p.scale_type = ScaleType::kPowerOfTwo;
  QuantSpec u4a = int_spec(4, false, false);
  QuantSpec s16s = int_spec(16, true, true);
  const RangeCase cases[] = {
      // (3 - -1) / 255; zp = round(0 - (-1) / (4/255)) = round(63.75) = 64
      {"uint8 asym [-1,3]", u8a, -1.0f, 3.0f, 4.0f / 255, 64, 0, 255},
      // widened to [0, 3]: zp = 0
      {"uint8 asym [1,3]", u8a, 1.0f, 3.0f, 3.0f / 255, 0, 0, 255},
      // widened to [-3, 0]: zp = round(0 + 3 / (3/255)) = 255
      {"uint8 asym [-3,-1]", u8a, -3.0f, -1.0f, 3.0f / 255, 255, 0, 255},
      // int8 asym [0, 2.55]: zp = round(-128 - 0) = -128
      {"int8 asym [0,2.55]", s8a, 0.0f, 2.55f, 2.55f / 255, -128, -128, 127},
      // int8 asym [-1, 1]: scale 2/255 rounds up in float (0.0078431377 > 2/255), so
      // 1 / scale = 127.4999925 and zp = round(-128 + 127.4999925) = round(-0.5000075) = -1
      {"int8 asym [-1,1]", s8a, -1.0f, 1.0f, 2.0f / 255, -1, -128, 127},
      // int8 sym: max(|-1.5|, 2) / 127
      {"int8 sym [-1.5,2]", s8s, -1.5f, 2.0f, 2.0f / 127, 0, -128, 127},
      {"int8 sym narrow [-1,1]", s8n, -1.0f, 1.0f, 1.0f / 127, 0, -127, 127},
      // header example: int4 sym, 2 / 7
      {"int4 sym [-1.5,2]", s4s, -1.5f, 2.0f, 2.0f / 7, 0, -8, 7},
      {"int16 sym [-4,1]", s16s, -4.0f, 1.0f, 4.0f / 32767, 0, -32768, 32767},
      // unsigned symmetric (vai_q signed=false): amax / 255, zero point 0, negatives clamp to 0
      {"uint8 sym [-1,2.55]", u8s, -1.0f, 2.55f, 2.55f / 255, 0, 0, 255},
      // ... the scale still covers max(|min|, |max|) (SPEC B maxmin: amax / qmax)
      {"uint8 sym [-5.1,2.55]", u8s, -5.1f, 2.55f, 5.1f / 255, 0, 0, 255},
      // AIMET unsigned_symmetric with min >= 0: the unsigned grid
      {"int8 unsigned_symmetric [0,2.55]", s8us, 0.0f, 2.55f, 2.55f / 255, 0, 0, 255},
      // ... and with a negative min the signed grid
      {"int8 unsigned_symmetric [-0.5,2.54]", s8us, -0.5f, 2.54f, 2.54f / 127, 0, -128, 127},
      // power of two: 31.75 / 127 = 0.25 exactly stays; 1 / 127 = 2^-6.99 -> 2^-6
      {"int8 sym pow2 [-31.75,1]", s8p, -31.75f, 1.0f, 0.25f, 0, -128, 127},
      {"int8 sym pow2 [-1,1]", s8p, -1.0f, 1.0f, 0.015625f, 0, -128, 127},
      // zero ranges: scale 1, zp by the asymmetric rule (qmin - 0)
      {"int8 sym zero", s8s, 0.0f, 0.0f, 1.0f, 0, -128, 127},
      {"uint8 asym zero", u8a, 0.0f, 0.0f, 1.0f, 0, 0, 255},
      {"int8 asym zero", s8a, 0.0f, 0.0f, 1.0f, -128, -128, 127},
      // uint4 asym [-0.5, 1]: 1.5 / 15 = 0.1, zp = round(5) = 5
      {"uint4 asym [-0.5,1]", u4a, -0.5f, 1.0f, 1.5f / 15, 5, 0, 15},
  };
  for (const RangeCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<Encoding> e = encoding_from_range(c.spec, {c.min}, {c.max});
    ASSERT_TRUE(e.ok()) << e.status().message();
    ASSERT_EQ(e->num_params(), 1);
    EXPECT_EQ(e->param_shape, Shape{});
    EXPECT_FLOAT_EQ(e->scale[0], c.scale);
    EXPECT_EQ(e->zero_point[0], c.zero_point);
    EXPECT_EQ(e->spec.qmin(), c.qmin);
    EXPECT_EQ(e->spec.qmax(), c.qmax);
    EXPECT_TRUE(e->validate().ok()) << e->validate().message();
  }
}

TEST(EncodingFromRange, AsymmetricUint8RangeCoversInput) {
  Result<Encoding> e = encoding_from_range(int_spec(8, false, false), {-1.0f}, {3.0f});
  ASSERT_TRUE(e.ok());
  // (0 - 64) * 4/255 and (255 - 64) * 4/255
  EXPECT_FLOAT_EQ(e->range_min(), -256.0f / 255);
  EXPECT_FLOAT_EQ(e->range_max(), 764.0f / 255);
  EXPECT_TRUE(std::isnan(e->range_min(1)));
}

TEST(EncodingFromRange, PowerOfTwoFillsFixPos) {
  QuantSpec s = int_spec(8, true, true);
  s.scale_type = ScaleType::kPowerOfTwo;
  s.granularity = Granularity::kPerChannel;
  // amax / 127: 1/127 -> 2^-6 (fix_pos 6); 127 * 4 / 127 = 4 -> 4 (fix_pos -2); 100/127 -> 1 (0)
  Result<Encoding> e = encoding_from_range(s, {-1.0f, 0.0f, -100.0f}, {0.5f, 508.0f, 3.0f});
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->param_shape, Shape{3});
  EXPECT_EQ(e->scale, (std::vector<float>{0.015625f, 4.0f, 1.0f}));
  EXPECT_EQ(e->fix_pos, (std::vector<int32_t>{6, -2, 0}));
  EXPECT_EQ(e->zero_point, (std::vector<int32_t>{0, 0, 0}));
  EXPECT_TRUE(e->validate().ok());
  QuantSpec a = int_spec(8, false, false);
  a.scale_type = ScaleType::kPowerOfTwo;
  // uint8 asym [-1, 3]: 4/255 = 0.0157 > 2^-6 -> 2^-5; zp = round(1 / 2^-5) = 32
  Result<Encoding> ea = encoding_from_range(a, {-1.0f}, {3.0f});
  ASSERT_TRUE(ea.ok());
  EXPECT_EQ(ea->scale[0], 0.03125f);
  EXPECT_EQ(ea->zero_point[0], 32);
  EXPECT_EQ(ea->fix_pos, std::vector<int32_t>{5});
  // int2 asym over +-3e38: 2e38 would round up to 2^128 = Inf; the scale stops at 2^127.
  QuantSpec huge = int_spec(2, true, false);
  huge.scale_type = ScaleType::kPowerOfTwo;
  Result<Encoding> eh = encoding_from_range(huge, {-3e38f}, {3e38f});
  ASSERT_TRUE(eh.ok());
  EXPECT_EQ(eh->scale[0], std::ldexp(1.0f, 127));
  EXPECT_EQ(eh->fix_pos, std::vector<int32_t>{-127});
  EXPECT_TRUE(eh->validate().ok()) << eh->validate().message();
}

TEST(EncodingFromRange, PerChannelAndPerBlock) {
  QuantSpec s = int_spec(8, true, true);
  s.granularity = Granularity::kPerChannel;
  s.axis = 1;
  Result<Encoding> e = encoding_from_range(s, {-1.0f, -2.0f}, {1.0f, 4.0f});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->param_shape, Shape{2});
  EXPECT_FLOAT_EQ(e->scale[0], 1.0f / 127);
  EXPECT_FLOAT_EQ(e->scale[1], 4.0f / 127);
  Shape data{3, 2};
  EXPECT_TRUE(e->validate(&data).ok());

  QuantSpec b = int_spec(4, true, true);
  b.granularity = Granularity::kPerBlock;
  b.axis = 1;
  b.block_size = 4;
  std::vector<float> mn(6, -0.7f), mx(6, 0.7f);
  Result<Encoding> eb = encoding_from_range(b, mn, mx, {3, 2});
  ASSERT_TRUE(eb.ok());
  EXPECT_EQ(eb->param_shape, (Shape{3, 2}));
  Shape bdata{3, 7};  // ceil(7 / 4) = 2 blocks per row
  EXPECT_TRUE(eb->validate(&bdata).ok()) << eb->validate(&bdata).message();
  EXPECT_FLOAT_EQ(eb->scale[5], 0.1f);
}

TEST(EncodingFromRange, UnsignedSymmetricNeedsEveryChannelNonNegative) {
  QuantSpec s = int_spec(8, true, true);
  s.unsigned_symmetric = true;
  s.granularity = Granularity::kPerChannel;
  Result<Encoding> e = encoding_from_range(s, {0.0f, -0.1f}, {2.55f, 1.27f});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->spec.is_signed);
  EXPECT_FLOAT_EQ(e->scale[0], 2.55f / 127);
  Result<Encoding> u = encoding_from_range(s, {0.0f, 0.5f}, {2.55f, 1.0f});
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->spec.is_signed);
  EXPECT_FLOAT_EQ(u->scale[1], 1.0f / 255);
}

TEST(EncodingFromRange, Int32BiasAndFloatFormats) {
  Result<Encoding> e = encoding_from_range(int_spec(32, true, true), {-1.0f}, {0.5f});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scale[0], static_cast<float>(1.0 / 2147483647.0));
  QuantSpec f8;
  f8.format = NumberFormat::kFloat8E4M3;
  // e4m3fn: the largest |x| maps to 448
  Result<Encoding> e8 = encoding_from_range(f8, {-896.0f}, {100.0f});
  ASSERT_TRUE(e8.ok());
  EXPECT_EQ(e8->scale[0], 2.0f);
  EXPECT_EQ(e8->zero_point[0], 0);
  QuantSpec h;
  h.format = NumberFormat::kFloat16;
  h.bits = 16;
  Result<Encoding> eh = encoding_from_range(h, {-1.0f}, {1.0f});
  ASSERT_TRUE(eh.ok());
  EXPECT_TRUE(eh->scale.empty());
  EXPECT_TRUE(eh->validate().ok());
}

struct RangeErrorCase {
  QuantSpec spec;
  std::vector<float> min, max;
  Shape param_shape;
  const char* message;
};

TEST(EncodingFromRange, Errors) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  QuantSpec pc = int_spec(8, true, true);
  pc.granularity = Granularity::kPerChannel;
  const RangeErrorCase cases[] = {
      {int_spec(8, true, true),
       {nan},
       {1.0f},
       {},
       "encoding_from_range: min[0] = nan must be finite"},
      {pc, {-1.0f, -1.0f}, {1.0f, inf}, {}, "encoding_from_range: max[1] = inf must be finite"},
      {pc, {-1.0f, -inf}, {1.0f, 1.0f}, {}, "encoding_from_range: min[1] = -inf must be finite"},
      {int_spec(8, true, true),
       {2.0f},
       {1.0f},
       {},
       "encoding_from_range: min[0] = 2 > max[0] = 1 (need min <= max)"},
      {int_spec(8, true, true),
       {-1.0f, -1.0f},
       {1.0f, 1.0f},
       {},
       "encoding_from_range: 2 ranges given for a per-tensor encoding (exactly 1 needed)"},
      {pc,
       {-1.0f},
       {1.0f, 1.0f},
       {},
       "encoding_from_range: min has 1 values, max has 2 (must be equal)"},
      {pc,
       {-1.0f, -1.0f},
       {1.0f, 1.0f},
       {3},
       "encoding_from_range: param_shape [3] holds 3 values but 2 ranges were given"},
      {pc, {}, {}, {}, "encoding_from_range: no ranges given (one per parameter needed)"},
      {int_spec(1, true, true),
       {-1.0f},
       {1.0f},
       {},
       "bits: 1 is out of range: integer encodings take 2..16 bits (32 only for signed "
       "symmetric int32 biases)"},
  };
  for (const RangeErrorCase& c : cases) {
    Result<Encoding> e = encoding_from_range(c.spec, c.min, c.max, c.param_shape);
    ASSERT_FALSE(e.ok()) << c.message;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalid);
    EXPECT_EQ(e.status().message(), c.message);
  }
}

TEST(EncodingFromFixPos, ScalesAndErrors) {
  QuantSpec s = int_spec(8, true, true);
  s.granularity = Granularity::kPerChannel;
  Result<Encoding> e = encoding_from_fix_pos(s, {7, 0, -3});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->spec.scale_type, ScaleType::kPowerOfTwo);
  EXPECT_EQ(e->scale, (std::vector<float>{0.0078125f, 1.0f, 8.0f}));
  EXPECT_EQ(e->param_shape, Shape{3});
  EXPECT_TRUE(e->validate().ok());
  Result<Encoding> bad = encoding_from_fix_pos(int_spec(8, true, true), {200});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "encoding_from_fix_pos: fix_pos[0] = 200 is out of range: 2^-fix_pos must be a normal "
            "float (-127..126)");
}

struct EncodingErrorCase {
  const char* name;
  Encoding enc;
  Shape data;
  const char* message;
};

Encoding make_encoding(QuantSpec s, Shape param_shape, std::vector<float> scale,
                       std::vector<int32_t> zp) {
  Encoding e;
  e.spec = s;
  e.param_shape = std::move(param_shape);
  e.scale = std::move(scale);
  e.zero_point = std::move(zp);
  return e;
}

TEST(Encoding, ValidateErrors) {
  QuantSpec pc = int_spec(8, true, true);
  pc.granularity = Granularity::kPerChannel;
  pc.axis = 3;
  QuantSpec pc1 = pc;
  pc1.axis = -1;
  QuantSpec blk = int_spec(4, false, false);
  blk.granularity = Granularity::kPerBlock;
  blk.axis = 1;
  blk.block_size = 2;
  QuantSpec p2 = int_spec(8, true, true);
  p2.scale_type = ScaleType::kPowerOfTwo;
  const EncodingErrorCase cases[] = {
      {"bad axis",
       make_encoding(pc, {4}, {1, 1, 1, 1}, {0, 0, 0, 0}),
       {4, 5},
       "encoding int8 sym per-channel(axis 3) half_even: axis 3 is out of range for a tensor of "
       "shape [4, 5] (rank 2)"},
      {"channels",
       make_encoding(pc1, {3}, {1, 1, 1}, {0, 0, 0}),
       {4, 5},
       "encoding int8 sym per-channel(axis -1) half_even: param_shape [3] does not match dim 1 "
       "of data shape [4, 5] (one parameter per channel)"},
      {"blocks",
       make_encoding(blk, {4, 2}, std::vector<float>(8, 1.0f), std::vector<int32_t>(8, 0)),
       {4, 5},
       "encoding uint4 asym per-block(axis 1, block 2) half_even: param_shape [4, 2] does not "
       "match data shape [4, 5] with blocks of 2 along axis 1 (expected [4, 3])"},
      {"scale",
       make_encoding(int_spec(8, true, true), {}, {0.0f}, {0}),
       {2},
       "encoding int8 sym per-tensor half_even: scale[0] = 0 must be positive and finite"},
      {"zp grid",
       make_encoding(int_spec(8, false, false), {}, {1.0f}, {256}),
       {2},
       "encoding uint8 asym per-tensor half_even: zero_point[0] = 256 is outside the grid [0, "
       "255]"},
      {"zp sym",
       make_encoding(int_spec(8, true, true), {}, {1.0f}, {3}),
       {2},
       "encoding int8 sym per-tensor half_even: zero_point[0] = 3 must be 0 for a symmetric "
       "encoding"},
      {"sizes",
       make_encoding(int_spec(8, true, true), {}, {1.0f}, {0, 0}),
       {2},
       "encoding int8 sym per-tensor half_even: zero_point has 2 values, scale has 1 (must be "
       "equal)"},
      {"pow2",
       make_encoding(p2, {}, {0.3f}, {0}),
       {2},
       "encoding int8 sym per-tensor pow2 half_even: scale[0] = 0.300000012 is not a power of two"},
      {"per-tensor shape",
       make_encoding(int_spec(8, true, true), {2}, {1.0f, 1.0f}, {0, 0}),
       {2},
       "encoding int8 sym per-tensor half_even: param_shape [2] must be [] (or [1]) for "
       "per-tensor quantization"},
  };
  for (const EncodingErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    Status st = c.enc.validate(&c.data);
    EXPECT_EQ(st.code(), StatusCode::kInvalid);
    EXPECT_EQ(st.message(), c.message);
  }
}

TEST(Encoding, DescribeShowsParameters) {
  Encoding e = make_encoding(int_spec(8, false, false), {}, {0.5f}, {3});
  EXPECT_EQ(e.describe(), "uint8 asym per-tensor half_even params [] scale [0.5] zero_point [3]");
}

}  // namespace
}  // namespace quench
