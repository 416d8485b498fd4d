// The vectorised quantize / dequantize / fake-quantize kernels against the scalar reference
// (quant/quantize_ref.h), element by element and bit for bit, over the table
//   bits {2, 3, 4, 8, 16} x signed/unsigned x symmetric/asymmetric x narrow x
//   granularity {per-tensor, per-channel axis 0 / 1 / -1, per-block along the last / a middle /
//   the first axis} x the 6 rounding modes,
// each on several shapes (sizes 0, 1, 7, 8, 15, 16, 17, 1000 around the vector widths, runs of 1
// and partial blocks), with data that mixes random values beyond the grid (saturation), exact
// ties (k + 0.5) * scale, near-ties, grid points and NaN / +-Inf / -0 / huge / subnormal values.
// Also checks the round trip dequantize(quantize(x)) == fake_quantize(x) bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "quant/quantize.h"
#include "quant/quantize_ref.h"

namespace quench {
namespace {

enum class Layout {
  kTensor,
  kChannel0,
  kChannel1,
  kChannelLast,
  kBlockLast,
  kBlockMid,
  kBlockFirst
};

struct LayoutCase {
  Layout layout;
  const char* name;
  Granularity granularity;
  int axis;
  int block_size;
  std::vector<Shape> shapes;
};

const std::vector<LayoutCase>& layout_table() {
  static const std::vector<LayoutCase> kTable = {
      {Layout::kTensor,
       "per-tensor",
       Granularity::kPerTensor,
       0,
       0,
       {{0}, {1}, {7}, {8}, {15}, {16}, {17}, {1000}, {3, 5, 7}}},
      {Layout::kChannel0,
       "per-channel axis 0",
       Granularity::kPerChannel,
       0,
       0,
       {{4, 17}, {3, 1}, {5, 0}, {2, 3, 16}}},
      {Layout::kChannel1,
       "per-channel axis 1",
       Granularity::kPerChannel,
       1,
       0,
       {{2, 5, 9}, {3, 16}, {2, 17}, {1, 8, 1, 15}}},
      {Layout::kChannelLast,
       "per-channel axis -1",
       Granularity::kPerChannel,
       -1,
       0,
       {{3, 7}, {2, 3, 8}, {1000}, {4, 17}}},
      {Layout::kBlockLast,
       "per-block last axis",
       Granularity::kPerBlock,
       -1,
       4,
       {{3, 17}, {2, 16}, {1, 1}, {2, 1000}}},
      {Layout::kBlockMid,
       "per-block axis 1",
       Granularity::kPerBlock,
       1,
       3,
       {{2, 7, 5}, {1, 9, 8}, {2, 2, 17}}},
      {Layout::kBlockFirst, "per-block axis 0", Granularity::kPerBlock, 0, 2, {{5, 3}, {4, 16}}},
  };
  return kTable;
}

const int kBitsTable[] = {2, 3, 4, 8, 16};
const RoundMode kRoundTable[] = {RoundMode::kHalfEven, RoundMode::kHalfUp,
                                 RoundMode::kHalfDown, RoundMode::kHalfAwayFromZero,
                                 RoundMode::kFloor,    RoundMode::kCeil};
// Powers of two give exact ties; the others near-ties and ordinary float rounding of x / scale.
const float kScaleTable[] = {0.25f, 0.1f, 0.5f, 0.037f, 0.03125f, 1.0f, 3.0f, 1e-3f};

Shape param_shape_for(const QuantSpec& s, const Shape& shape) {
  if (s.granularity == Granularity::kPerTensor) return {};
  const int rank = static_cast<int>(shape.size());
  const auto axis = static_cast<size_t>(s.axis < 0 ? s.axis + rank : s.axis);
  if (s.granularity == Granularity::kPerChannel) return {shape[axis]};
  Shape p = shape;
  p[axis] = (shape[axis] + s.block_size - 1) / s.block_size;
  return p;
}

Encoding make_test_encoding(const QuantSpec& s, const Shape& shape, std::mt19937& rng) {
  Encoding e;
  e.spec = s;
  e.param_shape = param_shape_for(s, shape);
  const int64_t n = shape_numel(e.param_shape);
  std::uniform_int_distribution<int64_t> zp_dist(s.qmin(), s.qmax());
  for (int64_t i = 0; i < n; ++i) {
    e.scale.push_back(kScaleTable[static_cast<size_t>(i) % std::size(kScaleTable)]);
    int32_t zp = 0;
    if (!s.symmetric) {
      // The grid ends, then random points.
      zp = static_cast<int32_t>(i == 0 ? s.qmin() : i == 1 ? s.qmax() : zp_dist(rng));
    }
    e.zero_point.push_back(zp);
  }
  return e;
}

Tensor make_test_data(const Shape& shape, const Encoding& e, std::mt19937& rng) {
  Tensor x = Tensor::empty(DType::kFloat32, shape);
  float* p = x.data<float>();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {nan, inf, -inf, 0.0f, -0.0f, 1e30f, -1e30f, 1e-40f, -1e-40f};
  const double qmin = static_cast<double>(e.spec.qmin()), qmax = static_cast<double>(e.spec.qmax());
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> kind(0, 9);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const auto pi = static_cast<size_t>(ref::param_index(i, shape, e.spec, e.param_shape));
    const double s = e.scale[pi], z = e.zero_point[pi];
    const double span = qmax - qmin;
    // An integer grid offset k, a little beyond the grid on both sides.
    const double k = std::floor(qmin - z - 2 + u(rng) * (span + 4));
    switch (kind(rng)) {
      case 0:
      case 1:
      case 2:  // anywhere, 20 % beyond each end of the grid
        p[i] = static_cast<float>((qmin - z - 0.2 * span + u(rng) * 1.4 * span) * s);
        break;
      case 3:
      case 4:  // ties
        p[i] = static_cast<float>((k + 0.5) * s);
        break;
      case 5:  // near-ties
        p[i] = std::nextafter(static_cast<float>((k + 0.5) * s), (i & 1) ? inf : -inf);
        break;
      case 6:  // grid points
        p[i] = static_cast<float>(k * s);
        break;
      case 7:
        p[i] = specials[static_cast<size_t>(i) % std::size(specials)];
        break;
      default:  // small values around zero
        p[i] = static_cast<float>((u(rng) - 0.5) * 4 * s);
        break;
    }
  }
  return x;
}

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// Compares every kernel with the reference on one (encoding, data) pair; reports the first
// difference of each kind and returns false on any.
bool check_case(const Tensor& x, const Encoding& e) {
  bool ok = true;
  Result<Tensor> q = quantize(x, e);
  if (!q.ok()) {
    ADD_FAILURE() << "quantize: " << q.status().message();
    return false;
  }
  EXPECT_EQ(q->dtype(), storage_dtype(e.spec));
  EXPECT_EQ(q->shape(), x.shape());
  const std::vector<int64_t> q_ref = ref::quantize(x, e);
  const std::vector<int64_t> q_got = q->to_int64_vector();
  const float* xs = x.data<float>();
  for (size_t i = 0; i < q_ref.size(); ++i) {
    if (q_got[i] != q_ref[i]) {
      ADD_FAILURE() << "quantize[" << i << "] of x = " << xs[i] << ": got " << q_got[i]
                    << ", reference " << q_ref[i];
      ok = false;
      break;
    }
  }
  const std::vector<float> y_ref = ref::fake_quantize(x, e);
  Result<Tensor> y = fake_quantize(x, e);
  Result<Tensor> d = dequantize(*q, e);
  if (!y.ok() || !d.ok()) {
    ADD_FAILURE() << "fake_quantize / dequantize failed";
    return false;
  }
  const float* yp = y->data<float>();
  const float* dp = d->data<float>();
  for (size_t i = 0; i < y_ref.size(); ++i) {
    if (bits_of(yp[i]) != bits_of(y_ref[i])) {
      ADD_FAILURE() << "fake_quantize[" << i << "] of x = " << xs[i] << ": got " << yp[i]
                    << ", reference " << y_ref[i];
      ok = false;
      break;
    }
  }
  for (size_t i = 0; i < y_ref.size(); ++i) {
    if (bits_of(dp[i]) != bits_of(yp[i])) {
      ADD_FAILURE() << "round trip [" << i << "] of x = " << xs[i] << ": dequantize(quantize) "
                    << dp[i] << " != fake_quantize " << yp[i];
      ok = false;
      break;
    }
  }
  return ok;
}

TEST(QuantizeKernels, MatchScalarReferenceOverTable) {
  std::mt19937 rng(1234);
  int cases = 0, failures = 0;
  for (int bits : kBitsTable)
    for (bool is_signed : {true, false})
      for (bool symmetric : {true, false})
        for (bool narrow : {false, true})
          for (const LayoutCase& lc : layout_table())
            for (RoundMode mode : kRoundTable) {
              QuantSpec s;
              s.bits = bits;
              s.is_signed = is_signed;
              s.symmetric = symmetric;
              s.narrow_range = narrow;
              s.granularity = lc.granularity;
              s.axis = lc.axis;
              s.block_size = lc.block_size;
              s.round_mode = mode;
              for (const Shape& shape : lc.shapes) {
                SCOPED_TRACE(s.describe() + " on " + shape_to_string(shape));
                Encoding e = make_test_encoding(s, shape, rng);
                ASSERT_TRUE(e.validate(&shape).ok()) << e.validate(&shape).message();
                Tensor x = make_test_data(shape, e, rng);
                ++cases;
                if (!check_case(x, e)) ++failures;
                ASSERT_LT(failures, 20) << "stopping after 20 failing cases";
              }
            }
  EXPECT_EQ(failures, 0) << "of " << cases << " cases";
  EXPECT_GT(cases, 5000);
}

TEST(QuantizeKernels, Int32BiasGridMatchesReference) {
  std::mt19937 rng(7);
  for (const LayoutCase& lc : layout_table()) {
    for (RoundMode mode : kRoundTable) {
      QuantSpec s;
      s.bits = 32;
      s.granularity = lc.granularity;
      s.axis = lc.axis;
      s.block_size = lc.block_size;
      s.round_mode = mode;
      for (const Shape& shape : lc.shapes) {
        SCOPED_TRACE(s.describe() + " on " + shape_to_string(shape));
        Encoding e = make_test_encoding(s, shape, rng);
        for (float& sc : e.scale) sc *= 1e-7f;  // int32 bias scales are s_in * s_w: tiny
        Tensor x = make_test_data(shape, e, rng);
        EXPECT_TRUE(check_case(x, e));
      }
    }
  }
}

TEST(QuantizeKernels, LargeTensorsSplitAcrossThreads) {
  set_num_threads(2);
  std::mt19937 rng(99);
  struct Big {
    Granularity g;
    int axis, block;
    Shape shape;
  };
  const Big bigs[] = {
      {Granularity::kPerTensor, 0, 0, {100003}},
      {Granularity::kPerChannel, 1, 0, {4, 3, 40001}},
      {Granularity::kPerChannel, -1, 0, {70000, 3}},
      {Granularity::kPerBlock, -1, 32, {64, 4099}},
      {Granularity::kPerBlock, 0, 16, {100, 3000}},
  };
  for (const Big& b : bigs) {
    for (RoundMode mode : {RoundMode::kHalfEven, RoundMode::kHalfAwayFromZero}) {
      QuantSpec s;
      s.bits = 8;
      s.is_signed = false;
      s.symmetric = false;
      s.granularity = b.g;
      s.axis = b.axis;
      s.block_size = b.block;
      s.round_mode = mode;
      SCOPED_TRACE(s.describe() + " on " + shape_to_string(b.shape));
      Encoding e = make_test_encoding(s, b.shape, rng);
      Tensor x = make_test_data(b.shape, e, rng);
      EXPECT_TRUE(check_case(x, e));
    }
  }
  set_num_threads(0);
}

TEST(QuantizeKernels, FakeQuantizeSpanMatchesReference) {
  std::mt19937 rng(5);
  for (int bits : {4, 8, 16, 32})
    for (RoundMode mode : kRoundTable)
      for (int64_t n : {1, 7, 8, 15, 16, 17, 1000}) {
        QuantSpec s;
        s.bits = bits;
        s.symmetric = bits == 32;
        s.round_mode = mode;
        Encoding e = make_test_encoding(s, {n}, rng);
        e.zero_point[0] = bits == 32 ? 0 : 3;
        Tensor x = make_test_data({n}, e, rng);
        std::vector<float> got(static_cast<size_t>(n));
        fake_quantize_span(x.data<float>(), got.data(), n, e.scale[0], e.zero_point[0], s.qmin(),
                           s.qmax(), mode);
        std::vector<float> want = ref::fake_quantize(x, e);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(bits_of(got[i]), bits_of(want[i]))
              << s.describe() << " n=" << n << " i=" << i << " x=" << x.data<float>()[i];
      }
}

// The half-even float-grid run in every variant the CPU runs (AVX-512, AVX2, scalar; the fastest
// is what fake_quantize uses) against the scalar reference, bit for bit, over the same data:
// ties, saturation, NaN and Inf, in bodies and tails of every length up to two vectors.
TEST(QuantizeKernels, FakeQuantizeVariantsMatchReference) {
  std::mt19937 rng(8);
  for (int bits : {4, 8, 16})
    for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 31, 33, 1000}) {
      QuantSpec s;
      s.bits = bits;
      s.symmetric = false;
      Encoding e = make_test_encoding(s, {n}, rng);
      e.zero_point[0] = 3;
      Tensor x = make_test_data({n}, e, rng);
      const std::vector<float> want = ref::fake_quantize(x, e);
      for (const FakeQuantizeVariant& v : fake_quantize_half_even_variants()) {
        std::vector<float> got(static_cast<size_t>(n));
        v.fn(x.data<float>(), got.data(), n, e.scale[0], e.zero_point[0], s.qmin(), s.qmax());
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(bits_of(got[i]), bits_of(want[i]))
              << v.name << " " << s.describe() << " n=" << n << " i=" << i << " x=" << x.data<float>()[i];
      }
    }
}

TEST(QuantizeKernels, RoundValueMatchesReference) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               0.5f,
                               -0.5f,
                               1.5f,
                               -1.5f,
                               2.5f,
                               -2.5f,
                               0.49999997f,
                               -0.49999997f,
                               1.4999999f,
                               2.5000002f,
                               -2.5000002f,
                               4194304.5f,
                               -4194304.5f,
                               8388607.5f,
                               -8388607.5f,
                               8388608.0f,
                               8388609.0f,
                               16777218.0f,
                               -16777218.0f,
                               1e30f,
                               -1e30f,
                               1e-40f,
                               -1e-40f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity()};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-300.0f, 300.0f);
  for (int i = 0; i < 2000; ++i) values.push_back(u(rng));
  for (int k = -40; k <= 40; ++k) values.push_back(static_cast<float>(k) + 0.5f);
  for (RoundMode mode : kRoundTable)
    for (float v : values) {
      float got = round_value(v, mode);
      float want = ref::round(v, mode);
      EXPECT_EQ(got, want) << round_mode_name(mode) << "(" << v << ")";
    }
  EXPECT_TRUE(std::isnan(round_value(std::numeric_limits<float>::quiet_NaN(), RoundMode::kFloor)));
  // half_up is vai_q's floor(v + 0.5) in float: 0.49999997 + 0.5 rounds to 1.
  EXPECT_EQ(round_value(0.49999997f, RoundMode::kHalfUp), 1.0f);
  EXPECT_EQ(round_value(0.49999994f, RoundMode::kHalfUp), 0.0f);
  EXPECT_EQ(round_value(0.49999997f, RoundMode::kHalfAwayFromZero), 0.0f);
}

}  // namespace
}  // namespace quench
