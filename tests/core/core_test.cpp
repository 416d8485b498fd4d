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
TEST(Tensor, FourBitElementsReadAsIntegers) {
  Tensor t = Tensor::from_vector<int8_t>({3}, {-8, 7, -1});
  Tensor i4 = Tensor::empty(DType::kInt4, {3});
  std::memcpy(i4.raw_data(), t.raw_data(), 3);
  EXPECT_EQ(i4.to_int64_vector(), (std::vector<int64_t>{-8, 7, -1}));
  EXPECT_EQ(i4.to_double_vector(), (std::vector<double>{-8, 7, -1}));
}
TEST(Tensor, ConvertSaturatesAndHandlesNaN) {
  Tensor f = Tensor::from_vector<float>({4}, {1e10f, -1e10f, NAN, 3.7f});
  Tensor i = Tensor::empty(DType::kInt32, {4});
  ASSERT_TRUE(convert_tensor(f, i).ok());
  EXPECT_EQ(i.to_int64_vector(), (std::vector<int64_t>{INT32_MAX, INT32_MIN, 0, 3}));
}
}  // namespace quench

#include "core/buffer_cache.h"

namespace quench {
TEST(BufferCache, ReusesFreedBlocksAndRespectsLimit) {
  trim_buffer_cache();
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty(DType::kFloat32, {1 << 18});  // 1 MiB: cached size class
    first = a.raw_data();
  }
  EXPECT_EQ(buffer_cache_bytes(), size_t{1} << 20);
  {
    Tensor b = Tensor::empty(DType::kFloat32, {(1 << 18) - 100});  // a little smaller: same block
    EXPECT_EQ(b.raw_data(), first);
    EXPECT_EQ(buffer_cache_bytes(), 0u);
    EXPECT_EQ(memory_stats().current_bytes, static_cast<int64_t>(b.nbytes()));
  }
  const size_t old_limit = buffer_cache_limit();
  set_buffer_cache_limit(1 << 20);
  {
    Tensor c = Tensor::empty(DType::kFloat32, {1 << 18});
    Tensor d = Tensor::empty(DType::kFloat32, {1 << 19});  // 2 MiB: over the limit when freed
  }
  EXPECT_LE(buffer_cache_bytes(), size_t{1} << 20);
  set_buffer_cache_limit(old_limit);
  trim_buffer_cache();
  EXPECT_EQ(buffer_cache_bytes(), 0u);
}
}  // namespace quench
