#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/tensor.h"

namespace quench {
TEST(DType, HalfRoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  }
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // rounds to +inf
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048.0f), float_to_half(1.0f));  // tie to even
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.5f)), 1.5f);
}
TEST(Tensor, ReshapeAliases) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.reshaped({3, 2});
  EXPECT_TRUE(r.shares_storage(t));
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  Tensor c = t.clone();
  EXPECT_FALSE(c.shares_storage(t));
  EXPECT_EQ(c.to_double_vector(), t.to_double_vector());
}
TEST(Tensor, ConvertSaturatesAndHandlesNaN) {
  Tensor f = Tensor::from_vector<float>({4}, {1e10f, -1e10f, NAN, 3.7f});
  Tensor i = Tensor::empty(DType::kInt32, {4});
  ASSERT_TRUE(convert_tensor(f, i).ok());
  EXPECT_EQ(i.to_int64_vector(), (std::vector<int64_t>{INT32_MAX, INT32_MIN, 0, 3}));
}
}  // namespace quench
