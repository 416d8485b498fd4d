// strided_copy (the engine behind Transpose, Slice, Expand, Tile, Split, DepthToSpace) against the
// element-by-element reference on random shapes and random strides: zero (broadcast), negative
// (reversed slices), unit strides in any position (the blocked transpose path), for 1-, 2-, 4- and
// 8-byte elements, with 1 and 2 threads.
#include <random>

#include "core/parallel.h"
#include "runtime/kernels/shape_copy.h"
#include "shape_test_util.h"

namespace quench::testing {
namespace {

TEST(StridedCopy, RandomStridesMatchReference) {
  std::mt19937 rng(11);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int iter = 0; iter < 400; ++iter) {
      const int rank = 1 + static_cast<int>(rng() % 5);
      Shape shape;
      for (int d = 0; d < rank; ++d) shape.push_back(1 + static_cast<int64_t>(rng() % (rank <= 2 ? 70 : 9)));
      // Strides: a permutation of row-major strides of some source, each maybe negated or zeroed.
      std::vector<int64_t> perm(static_cast<size_t>(rank));
      for (int d = 0; d < rank; ++d) perm[static_cast<size_t>(d)] = d;
      std::shuffle(perm.begin(), perm.end(), rng);
      Shape src_shape(static_cast<size_t>(rank));
      for (int d = 0; d < rank; ++d) src_shape[static_cast<size_t>(perm[static_cast<size_t>(d)])] = shape[static_cast<size_t>(d)];
      std::vector<int64_t> src_st = row_major_strides(src_shape), strides;
      int64_t offset = 0, extent = 1;
      for (int d = 0; d < rank; ++d) {
        int64_t s = src_st[static_cast<size_t>(perm[static_cast<size_t>(d)])];
        switch (rng() % 6) {
          case 0: s = 0; break;
          case 1: s = -s; break;
          default: break;
        }
        strides.push_back(s);
        if (s < 0) offset += -s * (shape[static_cast<size_t>(d)] - 1);
        extent += std::abs(s) * (shape[static_cast<size_t>(d)] - 1);
      }
      const DType dt = std::vector<DType>{DType::kUInt8, DType::kFloat16, DType::kFloat32, DType::kInt64}[rng() % 4];
      Tensor src = iota(dt, {extent});
      Tensor want = reference_strided(src, shape, strides, offset);
      Tensor got = Tensor::empty(dt, shape);
      strided_copy(got.raw_data(), src.raw_data(), dtype_size(dt), shape, strides, offset);
      EXPECT_SAME_TENSOR(got, want) << dtype_name(dt) << " shape " << shape_to_string(shape) << " strides "
                                    << shape_to_string(strides) << " offset " << offset;
    }
  }
}

TEST(StridedCopy, CopyRowsSplitsLongRows) {
  set_num_threads(2);
  Tensor src = random_tensor({3, 100000});
  Tensor dst = Tensor::zeros(DType::kFloat32, {3, 200000});
  copy_rows(static_cast<float*>(dst.raw_data()) + 7, 200000 * 4, src.raw_data(), 100000 * 4, 3, 100000 * 4);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(std::memcmp(static_cast<float*>(dst.raw_data()) + r * 200000 + 7,
                          static_cast<float*>(src.raw_data()) + r * 100000, 100000 * 4), 0);
    EXPECT_EQ(static_cast<float*>(dst.raw_data())[r * 200000 + 6], 0.0f);
    EXPECT_EQ(static_cast<float*>(dst.raw_data())[r * 200000 + 100007], 0.0f);
  }
}

}  // namespace
}  // namespace quench::testing
