// Quantize / dequantize / fake-quantize with hand-computed numbers: rounding of exact ties in
// every mode, saturation, NaN and Inf in the vector body and in the tail, zero ranges, empty
// tensors, dequantize from any integer dtype, storage dtypes and the error messages.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace quench {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

Encoding per_tensor(int bits, bool is_signed, bool symmetric, float scale, int32_t zp,
                    RoundMode mode = RoundMode::kHalfEven) {
  Encoding e;
  e.spec.bits = bits;
  e.spec.is_signed = is_signed;
  e.spec.symmetric = symmetric;
  e.spec.round_mode = mode;
  e.scale = {scale};
  e.zero_point = {zp};
  return e;
}

std::vector<int64_t> quantize_values(const std::vector<float>& xs, const Encoding& e) {
  Result<Tensor> q = quantize(Tensor::from_vector<float>({static_cast<int64_t>(xs.size())}, xs), e);
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? q->to_int64_vector() : std::vector<int64_t>{};
}

struct TieCase {
  float x;
  float scale;
  int64_t expected[6];  // half_even, half_up, half_down, std_round, floor, ceil
};

TEST(Quantize, TiesInEveryRoundingMode) {
  const RoundMode modes[] = {RoundMode::kHalfEven,         RoundMode::kHalfUp, RoundMode::kHalfDown,
                             RoundMode::kHalfAwayFromZero, RoundMode::kFloor,  RoundMode::kCeil};
  const TieCase cases[] = {
      // 0.25f / 0.1f rounds to exactly 2.5 in float
      {0.25f, 0.1f, {2, 3, 2, 3, 2, 3}},        {-0.25f, 0.1f, {-2, -2, -2, -3, -3, -2}},
      {1.25f, 0.5f, {2, 3, 2, 3, 2, 3}},                                            // 2.5
      {-1.25f, 0.5f, {-2, -2, -2, -3, -3, -2}}, {0.75f, 0.5f, {2, 2, 1, 2, 1, 2}},  // 1.5
      {-0.75f, 0.5f, {-2, -1, -1, -2, -2, -1}}, {0.25f, 0.5f, {0, 1, 0, 1, 0, 1}},  // 0.5
      {-0.25f, 0.5f, {0, 0, 0, -1, -1, 0}},                                         // -0.5
      {0.3f, 0.5f, {1, 1, 1, 1, 0, 1}},                                             // 0.6: no tie
      {-0.3f, 0.5f, {-1, -1, -1, -1, -1, 0}},   {1.0f, 0.5f, {2, 2, 2, 2, 2, 2}},   // grid point
  };
  for (int m = 0; m < 6; ++m) {
    for (const TieCase& c : cases) {
      Encoding e = per_tensor(8, true, true, c.scale, 0, modes[m]);
      // The same value at the start of the vector body and in the scalar tail.
      std::vector<float> xs(19, c.x);
      std::vector<int64_t> q = quantize_values(xs, e);
      for (size_t i = 0; i < q.size(); ++i)
        ASSERT_EQ(q[i], c.expected[m])
            << round_mode_name(modes[m]) << " x=" << c.x << " scale=" << c.scale << " i=" << i;
    }
  }
}

TEST(Quantize, SaturatesToTheGrid) {
  Encoding s8 = per_tensor(8, true, true, 0.1f, 0);
  EXPECT_EQ(quantize_values({100.0f, -100.0f, 12.7f, -12.8f, 12.75f}, s8),
            (std::vector<int64_t>{127, -128, 127, -128, 127}));
  Encoding n8 = s8;
  n8.spec.narrow_range = true;
  EXPECT_EQ(quantize_values({-100.0f, -12.7f}, n8), (std::vector<int64_t>{-127, -127}));
  Encoding u8 = per_tensor(8, false, false, 1.0f, 10);
  EXPECT_EQ(quantize_values({-20.0f, -10.0f, 0.0f, 245.0f, 300.0f}, u8),
            (std::vector<int64_t>{0, 0, 10, 255, 255}));
  Encoding u4 = per_tensor(4, false, true, 0.5f, 0);  // unsigned symmetric: negatives clamp to 0
  EXPECT_EQ(quantize_values({-3.0f, 0.4f, 7.5f, 8.0f}, u4), (std::vector<int64_t>{0, 1, 15, 15}));
  Encoding s2 = per_tensor(2, true, true, 1.0f, 0);
  EXPECT_EQ(quantize_values({-5.0f, -1.0f, 0.6f, 5.0f}, s2), (std::vector<int64_t>{-2, -1, 1, 1}));
}

TEST(Quantize, NaNAndInfInBodyAndTail) {
  Encoding u8 = per_tensor(8, false, false, 0.5f, 17);
  for (size_t n : {1u, 7u, 8u, 15u, 16u, 17u, 1000u}) {
    for (size_t pos : {size_t{0}, n / 2, n - 1}) {
      std::vector<float> xs(n, 1.0f);
      xs[pos] = kNaN;
      std::vector<int64_t> q = quantize_values(xs, u8);
      EXPECT_EQ(q[pos], 17) << "NaN -> zero point, n=" << n << " pos=" << pos;
      if (pos != 0) {
        EXPECT_EQ(q[0], 19);
      }
      xs[pos] = kInf;
      EXPECT_EQ(quantize_values(xs, u8)[pos], 255) << "+Inf -> qmax, n=" << n;
      xs[pos] = -kInf;
      EXPECT_EQ(quantize_values(xs, u8)[pos], 0) << "-Inf -> qmin, n=" << n;
      xs[pos] = kNaN;
      Result<Tensor> y =
          fake_quantize(Tensor::from_vector<float>({static_cast<int64_t>(n)}, xs), u8);
      ASSERT_TRUE(y.ok());
      EXPECT_EQ(y->data<float>()[pos], 0.0f) << "NaN fake-quantizes to 0";
    }
  }
  // Signed int16 per-channel, the array path (channels on the last axis).
  Encoding pc = per_tensor(16, true, true, 1.0f, 0);
  pc.spec.granularity = Granularity::kPerChannel;
  pc.spec.axis = -1;
  pc.param_shape = {3};
  pc.scale = {1.0f, 2.0f, 4.0f};
  pc.zero_point = {0, 0, 0};
  Result<Tensor> q =
      quantize(Tensor::from_vector<float>({2, 3}, {kNaN, kInf, -kInf, 8.0f, kNaN, -8.0f}), pc);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q->to_int64_vector(), (std::vector<int64_t>{0, 32767, -32768, 8, 0, -2}));
}

TEST(Quantize, ZeroRangeAndEmptyTensors) {
  QuantSpec s;
  s.is_signed = false;
  s.symmetric = false;
  Result<Encoding> e = encoding_from_range(s, {0.0f}, {0.0f});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(quantize_values({0.0f, 0.0f, 1.0f, -1.0f}, *e), (std::vector<int64_t>{0, 0, 1, 0}));
  Result<Tensor> y = fake_quantize(Tensor::from_vector<float>({3}, {0.0f, 0.2f, 0.7f}), *e);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->to_double_vector(), (std::vector<double>{0.0, 0.0, 1.0}));

  Tensor empty = Tensor::empty(DType::kFloat32, {0, 4});
  Encoding pc = per_tensor(8, true, true, 1.0f, 0);
  pc.spec.granularity = Granularity::kPerChannel;
  pc.spec.axis = 1;
  pc.param_shape = {4};
  pc.scale.assign(4, 0.5f);
  pc.zero_point.assign(4, 0);
  Result<Tensor> q = quantize(empty, pc);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q->shape(), (Shape{0, 4}));
  EXPECT_EQ(q->dtype(), DType::kInt8);
  Result<Tensor> d = dequantize(*q, pc);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->numel(), 0);
  Tensor empty_copy = empty;
  EXPECT_TRUE(fake_quantize_inplace(empty_copy, pc).ok());
}

TEST(Quantize, HandComputedPerChannelAndPerBlock) {
  // Per-channel on axis 0 of a [2, 3]: channel 0 scale 0.5, channel 1 scale 0.25 (uint8, zp 2 / 0).
  Encoding pc = per_tensor(8, false, false, 1.0f, 0);
  pc.spec.granularity = Granularity::kPerChannel;
  pc.param_shape = {2};
  pc.scale = {0.5f, 0.25f};
  pc.zero_point = {2, 0};
  Result<Tensor> q =
      quantize(Tensor::from_vector<float>({2, 3}, {0.0f, 1.0f, -1.0f, 0.0f, 1.0f, -1.0f}), pc);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->to_int64_vector(), (std::vector<int64_t>{2, 4, 0, 0, 4, 0}));
  // Per-block on the last axis of [1, 5] with block 2: blocks {0,1} {2,3} {4}, scales 1, 2, 4.
  Encoding pb = per_tensor(8, true, true, 1.0f, 0);
  pb.spec.granularity = Granularity::kPerBlock;
  pb.spec.axis = -1;
  pb.spec.block_size = 2;
  pb.param_shape = {1, 3};
  pb.scale = {1.0f, 2.0f, 4.0f};
  pb.zero_point = {0, 0, 0};
  Result<Tensor> qb = quantize(Tensor::from_vector<float>({1, 5}, {8, 8, 8, 8, 8}), pb);
  ASSERT_TRUE(qb.ok()) << qb.status().message();
  EXPECT_EQ(qb->to_int64_vector(), (std::vector<int64_t>{8, 8, 4, 4, 2}));
}

TEST(Dequantize, AnyIntegerDtype) {
  Encoding u8 = per_tensor(8, false, false, 0.5f, 2);
  // (q - 2) * 0.5
  const std::vector<double> want = {-2.5, -1.0, 1.5};
  Tensor i64 = Tensor::from_vector<int64_t>({3}, {-3, 0, 5});
  Tensor i32 = Tensor::from_vector<int32_t>({3}, {-3, 0, 5});
  Tensor i16 = Tensor::from_vector<int16_t>({3}, {-3, 0, 5});
  Tensor i8 = Tensor::from_vector<int8_t>({3}, {-3, 0, 5});
  for (const Tensor& t : {i64, i32, i16, i8}) {
    Result<Tensor> d = dequantize(t, u8);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->dtype(), DType::kFloat32);
    EXPECT_EQ(d->to_double_vector(), want) << t.describe();
  }
  Tensor u16 = Tensor::from_vector<uint16_t>({2}, {2, 65535});
  Result<Tensor> du = dequantize(u16, u8);
  ASSERT_TRUE(du.ok());
  EXPECT_EQ(du->to_double_vector(), (std::vector<double>{0.0, 32766.5}));
  // int4 is stored one element per byte.
  Tensor i4 = Tensor::from_vector<int8_t>({2}, {-8, 7});
  Tensor i4t = Tensor::empty(DType::kInt4, {2});
  std::memcpy(i4t.raw_data(), i4.raw_data(), 2);
  Encoding s4 = per_tensor(4, true, true, 0.25f, 0);
  Result<Tensor> d4 = dequantize(i4t, s4);
  ASSERT_TRUE(d4.ok()) << d4.status().message();
  EXPECT_EQ(d4->to_double_vector(), (std::vector<double>{-2.0, 1.75}));
}

TEST(Quantize, StorageDtypes) {
  struct Case {
    int bits;
    bool is_signed;
    DType dtype;
  };
  const Case cases[] = {{2, true, DType::kInt8},   {4, false, DType::kUInt8},
                        {8, true, DType::kInt8},   {8, false, DType::kUInt8},
                        {9, true, DType::kInt16},  {16, false, DType::kUInt16},
                        {16, true, DType::kInt16}, {32, true, DType::kInt32}};
  for (const Case& c : cases) {
    QuantSpec s;
    s.bits = c.bits;
    s.is_signed = c.is_signed;
    EXPECT_EQ(storage_dtype(s), c.dtype) << s.describe();
  }
  QuantSpec h;
  h.format = NumberFormat::kBFloat16;
  h.bits = 16;
  EXPECT_EQ(storage_dtype(h), DType::kBFloat16);
}

TEST(Quantize, ErrorMessages) {
  Encoding s8 = per_tensor(8, true, true, 0.5f, 0);
  Result<Tensor> r = quantize(Tensor::from_vector<int32_t>({2}, {1, 2}), s8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "quantize: input is int32[2], float32 expected");

  Encoding h;
  h.spec.format = NumberFormat::kFloat16;
  h.spec.bits = 16;
  r = quantize(Tensor::from_vector<float>({2}, {1, 2}), h);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "quantize: encoding float16 is not an integer encoding (float formats only "
            "fake-quantize)");

  r = dequantize(Tensor::from_vector<float>({2}, {1, 2}), s8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "dequantize: input is float32[2], an integer dtype expected");

  Encoding pc = s8;
  pc.spec.granularity = Granularity::kPerChannel;
  pc.spec.axis = 2;
  pc.param_shape = {4};
  pc.scale.assign(4, 1.0f);
  pc.zero_point.assign(4, 0);
  Tensor x = Tensor::zeros(DType::kFloat32, {4, 5});
  Status st = fake_quantize_inplace(x, pc);
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_EQ(st.message(),
            "fake_quantize float32[4, 5]: encoding int8 sym per-channel(axis 2) half_even: axis 2 "
            "is out of range for a tensor of shape [4, 5] (rank 2)");
  pc.spec.axis = 1;
  r = quantize(x, pc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "quantize float32[4, 5]: encoding int8 sym per-channel(axis 1) half_even: param_shape "
            "[4] does not match dim 1 of data shape [4, 5] (one parameter per channel)");

  Encoding bad_bits = s8;
  bad_bits.spec.bits = 17;
  r = quantize(x, bad_bits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "quantize float32[4, 5]: bits: 17 is out of range: integer encodings take 2..16 bits "
            "(32 only for signed symmetric int32 biases)");
}

}  // namespace
}  // namespace quench
