// BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization,
// LpNormalization and MeanVarianceNormalization against double references.
#include <cmath>

#include "math_util.h"

namespace quench::testing {
namespace {

// Normalizes groups of x given as [outer, count] rows of `count` contiguous values.
std::vector<double> ref_normalize_rows(const std::vector<double>& v, int64_t rows, int64_t count, double eps,
                                       std::vector<double>* means = nullptr,
                                       std::vector<double>* inv_stds = nullptr) {
  std::vector<double> y(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, var = 0;
    for (int64_t i = 0; i < count; ++i) m += v[r * count + i];
    m /= count;
    for (int64_t i = 0; i < count; ++i) var += (v[r * count + i] - m) * (v[r * count + i] - m);
    var /= count;
    const double inv = 1 / std::sqrt(var + eps);
    for (int64_t i = 0; i < count; ++i) y[r * count + i] = (v[r * count + i] - m) * inv;
    if (means) means->push_back(m);
    if (inv_stds) inv_stds->push_back(inv);
  }
  return y;
}

TEST(NormalizationTest, BatchNormPerChannelAcrossOpsets) {
  for (const Shape& shape : std::vector<Shape>{{2, 3}, {2, 3, 5}, {1, 4, 3, 17}, {3, 16, 8, 8}}) {
    const int64_t c = shape[1];
    const int64_t s = shape_numel(shape) / (shape[0] * c);
    Tensor x = random_tensor(shape, -2, 2, 1);
    Tensor scale = random_tensor({c}, 0.5, 1.5, 2), b = random_tensor({c}, -1, 1, 3);
    Tensor mean = random_tensor({c}, -1, 1, 4), var = random_tensor({c}, 0.1f, 2, 5);
    auto sv = scale.to_double_vector(), bv = b.to_double_vector(), mv = mean.to_double_vector(),
         vv = var.to_double_vector(), xv = x.to_double_vector();
    std::vector<double> ref(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) {
      const int64_t ch = (static_cast<int64_t>(i) / s) % c;
      ref[i] = (xv[i] - mv[ch]) / std::sqrt(vv[ch] + 1e-3f) * sv[ch] + bv[ch];
    }
    Tensor expected = make_tensor(DType::kFloat32, shape, ref);
    for (int64_t opset : {6, 7, 9, 15}) {
      Tensor y = run_both({"BatchNormalization", {attr_float("epsilon", 1e-3f)}, opset}, {x, scale, b, mean, var});
      EXPECT_TRUE(tensors_near(y, expected, 1e-5, 1e-5)) << shape_to_string(shape) << " opset " << opset;
    }
  }
}

TEST(NormalizationTest, BatchNormPerFeatureWithSpatialZero) {
  Tensor x = random_tensor({2, 3, 4}, -2, 2, 11);
  Tensor scale = random_tensor({3, 4}, 0.5, 1.5, 12), b = random_tensor({3, 4}, -1, 1, 13);
  Tensor mean = random_tensor({3, 4}, -1, 1, 14), var = random_tensor({3, 4}, 0.1f, 2, 15);
  auto sv = scale.to_double_vector(), bv = b.to_double_vector(), mv = mean.to_double_vector(),
       vv = var.to_double_vector(), xv = x.to_double_vector();
  std::vector<double> ref(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const size_t f = i % 12;
    ref[i] = (xv[i] - mv[f]) / std::sqrt(vv[f] + 1e-5f) * sv[f] + bv[f];
  }
  Tensor y = run_both({"BatchNormalization", {attr_int("spatial", 0)}, 7}, {x, scale, b, mean, var});
  EXPECT_TRUE(tensors_near(y, make_tensor(DType::kFloat32, x.shape(), ref), 1e-5, 1e-5));
}

TEST(NormalizationTest, BatchNormRejectsTrainingAndBadShapes) {
  Tensor x = random_tensor({2, 3, 4});
  Tensor p = random_tensor({3}, 0.5, 1);
  EXPECT_NE(run_error({"BatchNormalization", {attr_int("training_mode", 1)}, 15}, {x, p, p, p, p}).find("training_mode=1"),
            std::string::npos);
  Tensor p4 = random_tensor({4}, 0.5, 1);
  std::string e = run_error({"BatchNormalization", {}, 15}, {x, p4, p, p, p});
  EXPECT_NE(e.find("scale has shape [4]"), std::string::npos) << e;
  EXPECT_NE(e.find("[2, 3, 4]"), std::string::npos) << e;
  Result<std::vector<Tensor>> r = run_op({"BatchNormalization", {}, 9, 3}, {x, p, p, p, p});
  EXPECT_FALSE(r.ok());
}

TEST(NormalizationTest, LayerNormOverTrailingAxesWithStatistics) {
  struct Case {
    Shape shape;
    int64_t axis;
  };
  for (const Case& c : std::vector<Case>{{{4, 7}, -1}, {{2, 3, 17}, 1}, {{2, 3, 1030}, -1}, {{3, 5}, 0}, {{2, 2, 3, 4}, -3}}) {
    const int64_t rank = static_cast<int64_t>(c.shape.size());
    const int64_t a = c.axis < 0 ? c.axis + rank : c.axis;
    Shape norm(c.shape.begin() + a, c.shape.end());
    const int64_t d = shape_numel(norm), rows = shape_numel(c.shape) / d;
    Tensor x = random_tensor(c.shape, -3, 3, 21);
    Tensor scale = random_tensor(norm, 0.5, 1.5, 22), b = random_tensor(norm, -1, 1, 23);
    std::vector<double> means, invs;
    std::vector<double> y = ref_normalize_rows(x.to_double_vector(), rows, d, 1e-5f, &means, &invs);
    auto sv = scale.to_double_vector(), bv = b.to_double_vector();
    for (size_t i = 0; i < y.size(); ++i) y[i] = y[i] * sv[i % d] + bv[i % d];
    Shape stat_shape(c.shape.begin(), c.shape.begin() + a);
    stat_shape.resize(c.shape.size(), 1);
    Result<std::vector<Tensor>> r = run_op({"LayerNormalization", {attr_int("axis", c.axis)}, 17, 3}, {x, scale, b});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(tensors_near(r->at(0), make_tensor(DType::kFloat32, c.shape, y), 1e-5, 1e-5)) << shape_to_string(c.shape);
    EXPECT_TRUE(tensors_near(r->at(1), make_tensor(DType::kFloat32, stat_shape, means), 1e-6, 1e-5));
    EXPECT_TRUE(tensors_near(r->at(2), make_tensor(DType::kFloat32, stat_shape, invs), 1e-6, 1e-5));
    // In place, without B.
    std::vector<double> nob = ref_normalize_rows(x.to_double_vector(), rows, d, 1e-5f);
    for (size_t i = 0; i < nob.size(); ++i) nob[i] *= sv[i % d];
    EXPECT_TRUE(tensors_near(run_both({"LayerNormalization", {attr_int("axis", c.axis)}, 17}, {x, scale}),
                             make_tensor(DType::kFloat32, c.shape, nob), 1e-5, 1e-5));
  }
  // A scalar Scale broadcasts.
  Tensor x = random_tensor({3, 8}, -1, 1, 24);
  std::vector<double> ref = ref_normalize_rows(x.to_double_vector(), 3, 8, 1e-5f);
  for (double& v : ref) v *= 2;
  EXPECT_TRUE(tensors_near(run_both({"LayerNormalization", {}, 17}, {x, Tensor::scalar(2.0f)}),
                           make_tensor(DType::kFloat32, x.shape(), ref), 1e-5, 1e-5));
  std::string e = run_error({"LayerNormalization", {}, 17}, {x, random_tensor({3})});
  EXPECT_NE(e.find("normalized shape [8]"), std::string::npos) << e;
}

TEST(NormalizationTest, InstanceAndGroupNorm) {
  const Shape shape = {2, 6, 5, 7};
  const int64_t n = 2, c = 6, s = 35;
  Tensor x = random_tensor(shape, -2, 2, 31);
  Tensor scale = random_tensor({c}, 0.5, 1.5, 32), b = random_tensor({c}, -1, 1, 33);
  auto sv = scale.to_double_vector(), bv = b.to_double_vector();
  std::vector<double> inst = ref_normalize_rows(x.to_double_vector(), n * c, s, 1e-5f);
  for (size_t i = 0; i < inst.size(); ++i) {
    const size_t ch = (i / s) % c;
    inst[i] = inst[i] * sv[ch] + bv[ch];
  }
  EXPECT_TRUE(tensors_near(run_both({"InstanceNormalization"}, {x, scale, b}), make_tensor(DType::kFloat32, shape, inst),
                           1e-5, 1e-5));
  // Groups of 2 channels: rows of 2 * 35 values.
  const int64_t g = 3;
  std::vector<double> grp = ref_normalize_rows(x.to_double_vector(), n * g, (c / g) * s, 1e-5f);
  std::vector<double> per_channel(grp.size()), per_group(grp.size());
  Tensor gscale = random_tensor({g}, 0.5, 1.5, 34), gb = random_tensor({g}, -1, 1, 35);
  auto gsv = gscale.to_double_vector(), gbv = gb.to_double_vector();
  for (size_t i = 0; i < grp.size(); ++i) {
    const size_t ch = (i / s) % c;
    per_channel[i] = grp[i] * sv[ch] + bv[ch];
    per_group[i] = grp[i] * gsv[ch / 2] + gbv[ch / 2];
  }
  EXPECT_TRUE(tensors_near(run_both({"GroupNormalization", {attr_int("num_groups", g)}, 21}, {x, scale, b}),
                           make_tensor(DType::kFloat32, shape, per_channel), 1e-5, 1e-5));
  EXPECT_TRUE(tensors_near(run_both({"GroupNormalization", {attr_int("num_groups", g)}, 18}, {x, gscale, gb}),
                           make_tensor(DType::kFloat32, shape, per_group), 1e-5, 1e-5));
  EXPECT_NE(run_error({"GroupNormalization", {attr_int("num_groups", 4)}, 21}, {x, scale, b}).find("divide C=6"),
            std::string::npos);
}

TEST(NormalizationTest, LpNormalization) {
  Tensor x = random_tensor({3, 4, 5}, -2, 2, 41);
  for (int64_t p : {1, 2}) {
    for (int64_t axis : {-1, 1, 0}) {
      const int64_t a = axis < 0 ? 2 : axis;
      std::vector<double> v = x.to_double_vector(), y(v.size());
      const Shape& s = x.shape();
      std::vector<int64_t> st = contiguous_strides(s);
      for (size_t i = 0; i < v.size(); ++i) {
        int64_t base = static_cast<int64_t>(i) - ((static_cast<int64_t>(i) / st[a]) % s[a]) * st[a];
        double norm = 0;
        for (int64_t k = 0; k < s[a]; ++k) {
          double e = v[base + k * st[a]];
          norm += p == 1 ? std::fabs(e) : e * e;
        }
        if (p == 2) norm = std::sqrt(norm);
        y[i] = v[i] / norm;
      }
      EXPECT_TRUE(tensors_near(run_both({"LpNormalization", {attr_int("p", p), attr_int("axis", axis)}, 1}, {x}),
                               make_tensor(DType::kFloat32, s, y), 1e-6, 1e-5))
          << "p " << p << " axis " << axis;
    }
  }
  EXPECT_EQ(run_both({"LpNormalization"}, {make_tensor(DType::kFloat32, {2, 2}, {0, 0, 3, 4})}).to_double_vector(),
            (std::vector<double>{0, 0, 0.6000000238418579, 0.800000011920929}));
}

TEST(NormalizationTest, MeanVarianceNormalization) {
  Tensor x = random_tensor({2, 3, 4, 5}, -2, 2, 51);
  // Default axes [0, 2, 3]: statistics per channel.
  std::vector<double> v = x.to_double_vector(), y(v.size());
  for (int64_t ch = 0; ch < 3; ++ch) {
    double m = 0, sq = 0;
    int64_t cnt = 0;
    for (size_t i = 0; i < v.size(); ++i) if ((static_cast<int64_t>(i) / 20) % 3 == ch) { m += v[i]; ++cnt; }
    m /= cnt;
    for (size_t i = 0; i < v.size(); ++i) if ((static_cast<int64_t>(i) / 20) % 3 == ch) sq += (v[i] - m) * (v[i] - m);
    const double sd = std::sqrt(sq / cnt);
    for (size_t i = 0; i < v.size(); ++i) if ((static_cast<int64_t>(i) / 20) % 3 == ch) y[i] = (v[i] - m) / (sd + 1e-9);
  }
  EXPECT_TRUE(tensors_near(run_both({"MeanVarianceNormalization", {}, 13}, {x}), make_tensor(DType::kFloat32, x.shape(), y),
                           1e-5, 1e-5));
  // Last axis only.
  std::vector<double> rows = ref_normalize_rows(v, 24, 5, 0.0);
  EXPECT_TRUE(tensors_near(run_both({"MeanVarianceNormalization", {attr_ints("axes", {3})}, 13}, {x}),
                           make_tensor(DType::kFloat32, x.shape(), rows), 1e-5, 1e-5));
}

}  // namespace
}  // namespace quench::testing
