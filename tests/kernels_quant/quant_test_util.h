// Helpers of the quant kernel tests: integer tensors of any quantized type (4-bit ones included,
// which Tensor::to_int64_vector does not read), random data, scalar reference quantization.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "testutil.h"

namespace quench::qtest {

struct Range {
  int64_t lo, hi;
};

inline Range range_of(DType t) {
  switch (t) {
    case DType::kInt8: return {-128, 127};
    case DType::kUInt8: return {0, 255};
    case DType::kInt16: return {-32768, 32767};
    case DType::kUInt16: return {0, 65535};
    case DType::kInt4: return {-8, 7};
    case DType::kUInt4: return {0, 15};
    case DType::kInt32: return {INT32_MIN, INT32_MAX};
    default: return {0, 0};
  }
}

// An integer tensor of type t holding `values` (stored one per element, as quench keeps 4-bit).
inline Tensor int_tensor(DType t, Shape shape, const std::vector<int64_t>& values) {
  Tensor out = Tensor::empty(t, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) {
    void* p = out.raw_data();
    switch (t) {
      case DType::kInt8: case DType::kInt4: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(values[i]); break;
      case DType::kUInt8: case DType::kUInt4: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(values[i]); break;
      case DType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(values[i]); break;
      case DType::kUInt16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(values[i]); break;
      case DType::kInt32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(values[i]); break;
      default: ADD_FAILURE() << "int_tensor: type " << dtype_name(t);
    }
  }
  return out;
}

inline std::vector<int64_t> int_values(const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  const void* p = t.raw_data();
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype()) {
      case DType::kInt8: case DType::kInt4: out[i] = static_cast<const int8_t*>(p)[i]; break;
      case DType::kUInt8: case DType::kUInt4: out[i] = static_cast<const uint8_t*>(p)[i]; break;
      case DType::kInt16: out[i] = static_cast<const int16_t*>(p)[i]; break;
      case DType::kUInt16: out[i] = static_cast<const uint16_t*>(p)[i]; break;
      case DType::kInt32: out[i] = static_cast<const int32_t*>(p)[i]; break;
      default: ADD_FAILURE() << "int_values: type " << dtype_name(t.dtype()); return {};
    }
  }
  return out;
}

inline std::vector<int64_t> random_ints(size_t n, int64_t lo, int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  std::vector<int64_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline Tensor random_int_tensor(DType t, const Shape& shape, uint32_t seed) {
  Range r = range_of(t);
  return int_tensor(t, shape, random_ints(static_cast<size_t>(shape_numel(shape)), r.lo, r.hi, seed));
}

// saturate(round_half_even(x / scale) + zp), computed the obvious way (libm nearbyint).
inline int64_t ref_quantize(float x, float scale, int64_t zp, Range r) {
  const float v = x / scale;
  int64_t q = static_cast<int64_t>(std::nearbyint(static_cast<double>(v))) + zp;
  return q < r.lo ? r.lo : (q > r.hi ? r.hi : q);
}

// Element-wise equality of an integer tensor with expected values; reports the first mismatches.
inline ::testing::AssertionResult ints_equal(const Tensor& t, DType dtype,
                                             const std::vector<int64_t>& want) {
  if (t.dtype() != dtype) {
    return ::testing::AssertionFailure() << "dtype " << dtype_name(t.dtype()) << " vs "
                                         << dtype_name(dtype);
  }
  std::vector<int64_t> got = int_values(t);
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " elements vs " << want.size();
  }
  int bad = 0;
  auto r = ::testing::AssertionFailure();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (bad < 5) r << "\n  [" << i << "] " << got[i] << " vs " << want[i];
    ++bad;
  }
  if (!bad) return ::testing::AssertionSuccess();
  return r << "\n  " << bad << " of " << got.size() << " differ";
}

}  // namespace quench::qtest
