// Fake-quantization to the float formats: float16 / bfloat16 must equal core/dtype.h's converters
// bit for bit; float8 e4m3fn / e5m2 rounding is checked against a table of every float8 value
// (decoded from its bits here) searched for the nearest, ties to the even code.
#include "quant/float_formats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "quant/quantize.h"

namespace quench {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

std::vector<float> probe_values() {
  std::vector<float> v = {
      0.0f,     -0.0f, 0.1f,  -0.1f,          1.0f,          65504.0f,    65519.0f,    65520.0f,
      1e5f,     -1e5f, 6e-8f, 3e-8f,          1e-8f,         5.96e-8f,    1e-40f,      3.4e38f,
      -3.4e38f, kInf,  -kInf, 1.00048828125f, 1.0009765625f, 1.00390625f, 1.005859375f};
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-30, 30);
  for (int i = 0; i < 3000; ++i) v.push_back(std::ldexp(u(rng), ex(rng)));
  return v;
}

Encoding float_encoding(NumberFormat f, int bits) {
  Encoding e;
  e.spec.format = f;
  e.spec.bits = bits;
  return e;
}

TEST(FloatFormats, Float16AndBFloat16MatchDtypeConverters) {
  std::vector<float> v = probe_values();
  v.push_back(kNaN);
  Tensor x = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  Result<Tensor> h = fake_quantize(x, float_encoding(NumberFormat::kFloat16, 16));
  Result<Tensor> b = fake_quantize(x, float_encoding(NumberFormat::kBFloat16, 16));
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  for (size_t i = 0; i < v.size(); ++i) {
    float want_h = half_to_float(float_to_half(v[i]));
    float want_b = bfloat16_to_float(float_to_bfloat16(v[i]));
    if (std::isnan(v[i])) {
      EXPECT_TRUE(std::isnan(h->data<float>()[i]));
      EXPECT_TRUE(std::isnan(b->data<float>()[i]));
      continue;
    }
    EXPECT_EQ(bits_of(h->data<float>()[i]), bits_of(want_h)) << "float16 of " << v[i];
    EXPECT_EQ(bits_of(b->data<float>()[i]), bits_of(want_b)) << "bfloat16 of " << v[i];
  }
  // Hand values: 0.1 is 0x2E66 in half (0.0999755859375) and 0x3DCD in bfloat16.
  EXPECT_EQ(h->data<float>()[2], 0.0999755859375f);
  EXPECT_EQ(b->data<float>()[2], 0.10009765625f);
  EXPECT_EQ(h->data<float>()[7], kInf);  // 65520 rounds up out of half's range
}

TEST(FloatFormats, Float32IsIdentity) {
  std::vector<float> v = probe_values();
  v.push_back(kNaN);
  Tensor x = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  Tensor y = x.clone();
  ASSERT_TRUE(fake_quantize_inplace(y, float_encoding(NumberFormat::kFloat32, 32)).ok());
  EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()), 0);
}

// Every finite value of a float8 format, decoded from the bits, with its code.
struct Float8Value {
  double value;
  int code;
};

std::vector<Float8Value> float8_table(int exp_bits, int man_bits, int bias, bool ieee_inf) {
  std::vector<Float8Value> t;
  const int max_exp = (1 << exp_bits) - 1;
  for (int code = 0; code < (1 << (exp_bits + man_bits)); ++code) {
    const int e = code >> man_bits, m = code & ((1 << man_bits) - 1);
    if (ieee_inf && e == max_exp) continue;                               // e5m2: Inf / NaN
    if (!ieee_inf && e == max_exp && m == (1 << man_bits) - 1) continue;  // e4m3fn: NaN
    double v = e == 0 ? std::ldexp(m, 1 - bias - man_bits)
                      : std::ldexp((1 << man_bits) + m, e - bias - man_bits);
    t.push_back({v, code});
  }
  return t;
}

// Nearest table value to |x|, ties to the even code; saturating above the largest.
double nearest_float8(double x, const std::vector<Float8Value>& table) {
  const double a = std::fabs(x);
  const Float8Value* best = &table[0];
  for (const Float8Value& f : table) {
    const double d = std::fabs(f.value - a), db = std::fabs(best->value - a);
    if (d < db || (d == db && (f.code & 1) == 0)) best = &f;
  }
  if (a >= table.back().value) best = &table.back();
  return std::copysign(best->value, x);
}

TEST(FloatFormats, Float8RoundingMatchesEnumeratedTable) {
  struct Format {
    NumberFormat f;
    int exp_bits, man_bits, bias;
    bool ieee_inf;
    double max;
  };
  const Format formats[] = {{NumberFormat::kFloat8E4M3, 4, 3, 7, false, 448.0},
                            {NumberFormat::kFloat8E5M2, 5, 2, 15, true, 57344.0}};
  for (const Format& fm : formats) {
    std::vector<Float8Value> table = float8_table(fm.exp_bits, fm.man_bits, fm.bias, fm.ieee_inf);
    ASSERT_EQ(table.back().value, fm.max);
    EXPECT_EQ(float8_max(fm.f), static_cast<float>(fm.max));
    std::vector<float> probes = probe_values();
    // Every value, the midpoints between neighbours (ties) and their neighbours.
    for (size_t i = 0; i < table.size(); ++i) {
      probes.push_back(static_cast<float>(table[i].value));
      if (i + 1 < table.size()) {
        float mid = static_cast<float>((table[i].value + table[i + 1].value) / 2);
        probes.push_back(mid);
        probes.push_back(-mid);
        probes.push_back(std::nextafter(mid, 0.0f));
        probes.push_back(std::nextafter(mid, kInf));
      }
    }
    probes.push_back(static_cast<float>(fm.max) * 1.03f);
    for (float x : probes) {
      float want = static_cast<float>(nearest_float8(x, table));
      EXPECT_EQ(round_to_float8(x, fm.f), want) << number_format_name(fm.f) << " of " << x;
    }
    EXPECT_TRUE(std::isnan(round_to_float8(kNaN, fm.f)));
  }
  // e4m3fn hand values: 300 lies between 288 and 320 -> 288; 0.3 -> 0.3125 (1.25 * 2^-2).
  EXPECT_EQ(round_to_float8(300.0f, NumberFormat::kFloat8E4M3), 288.0f);
  EXPECT_EQ(round_to_float8(0.3f, NumberFormat::kFloat8E4M3), 0.3125f);
  EXPECT_EQ(round_to_float8(-kInf, NumberFormat::kFloat8E5M2), -57344.0f);
}

TEST(FloatFormats, ScaledFloat8FakeQuantize) {
  Encoding e = float_encoding(NumberFormat::kFloat8E4M3, 8);
  e.spec.granularity = Granularity::kPerChannel;
  e.param_shape = {2};
  e.scale = {0.5f, 2.0f};
  e.zero_point = {0, 0};
  // channel 0: x / 0.5 -> 600 saturates to 448 -> 224; 0.15 / 0.5 = 0.3 -> 0.3125 -> 0.15625
  // channel 1: 600 / 2 = 300 -> 288 -> 576; NaN stays NaN
  Tensor x = Tensor::from_vector<float>({2, 2}, {300.0f, 0.15f, 600.0f, kNaN});
  Result<Tensor> y = fake_quantize(x, e);
  ASSERT_TRUE(y.ok()) << y.status().message();
  const float* p = y->data<float>();
  EXPECT_EQ(p[0], 224.0f);
  EXPECT_EQ(p[1], 0.15625f);
  EXPECT_EQ(p[2], 576.0f);
  EXPECT_TRUE(std::isnan(p[3]));
  Encoding missing = float_encoding(NumberFormat::kFloat8E5M2, 8);
  Status st = fake_quantize_inplace(x, missing);
  EXPECT_EQ(st.message(),
            "fake_quantize float32[2, 2]: encoding float8_e5m2 per-tensor: scale is empty (one or "
            "more needed)");
}

}  // namespace
}  // namespace quench
