// Helpers for the shape-family kernel tests: typed tensors from numbers, running one node, and a
// plain element-by-element reference for strided reads.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/tensor.h"
#include "testutil.h"

namespace quench::testing {

// The dtypes every data-movement kernel must handle.
inline const std::vector<DType>& movement_dtypes() {
  static const std::vector<DType> k = {DType::kFloat32, DType::kInt64,   DType::kInt32,
                                       DType::kBool,    DType::kUInt8,   DType::kInt8,
                                       DType::kFloat16, DType::kFloat64, DType::kBFloat16};
  return k;
}

// A tensor of `dtype` holding `values` converted the way Cast does.
inline Tensor typed(DType dtype, Shape shape, const std::vector<double>& values) {
  Tensor src = Tensor::from_vector<double>(shape, values);
  Tensor dst = Tensor::empty(dtype, std::move(shape));
  EXPECT_TRUE(convert_tensor(src, dst).ok());
  return dst;
}

// 0, 1, 2, ... (bool: every third element true), distinct enough to catch misplaced elements.
inline Tensor iota(DType dtype, Shape shape, double start = 0) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    double x = start + static_cast<double>(i);
    if (dtype == DType::kBool) x = (i % 3 == 0) ? 1 : 0;
    if (dtype == DType::kInt8 || dtype == DType::kUInt8) x = static_cast<double>(static_cast<int64_t>(x) % 100);
    if (dtype == DType::kFloat16 || dtype == DType::kBFloat16) x = static_cast<double>(static_cast<int64_t>(x) % 200);
    v[i] = x;
  }
  return typed(dtype, std::move(shape), v);
}

inline Tensor i64(Shape shape, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(std::move(shape), v); }
inline Tensor i64v(std::vector<int64_t> v) {
  Shape s = {static_cast<int64_t>(v.size())};
  return Tensor::from_vector<int64_t>(s, v);
}
inline Tensor f32(Shape shape, std::vector<float> v) { return Tensor::from_vector<float>(std::move(shape), v); }

// Runs the op and returns output `index`, failing the test on error.
inline Tensor run1(const OpSpec& spec, const std::vector<Tensor>& inputs,
                   const std::vector<bool>& as_initializer = {}, size_t index = 0) {
  Result<std::vector<Tensor>> r = run_op(spec, inputs, as_initializer);
  EXPECT_TRUE(r.ok()) << spec.op_type << ": " << r.status().message();
  if (!r.ok() || r->size() <= index) return Tensor();
  return r->at(index);
}

// The error of a run that must fail; empty string if it succeeded.
inline std::string run_error(const OpSpec& spec, const std::vector<Tensor>& inputs,
                             const std::vector<bool>& as_initializer = {}) {
  Result<std::vector<Tensor>> r = run_op(spec, inputs, as_initializer);
  return r.ok() ? std::string() : r.status().message();
}

// Reference strided read, one element at a time: y[i] = x[offset + sum c_d * strides[d]].
inline Tensor reference_strided(const Tensor& x, const Shape& out_shape,
                                const std::vector<int64_t>& strides, int64_t offset = 0) {
  Tensor y = Tensor::empty(x.dtype(), out_shape);
  const size_t es = dtype_size(x.dtype());
  const auto* src = static_cast<const unsigned char*>(x.raw_data());
  auto* dst = static_cast<unsigned char*>(y.raw_data());
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t rem = i, off = offset;
    for (size_t d = out_shape.size(); d-- > 0;) {
      off += (rem % out_shape[d]) * strides[d];
      rem /= out_shape[d];
    }
    std::memcpy(dst + static_cast<size_t>(i) * es, src + static_cast<size_t>(off) * es, es);
  }
  return y;
}

inline std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// Same dtype, shape and bytes.
inline ::testing::AssertionResult same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  }
  if (a.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0) {
    return tensors_near(a, b, 0) << " (bytes differ)";
  }
  return ::testing::AssertionSuccess();
}
#define EXPECT_SAME_TENSOR(a, b) EXPECT_TRUE(::quench::testing::same_tensor(a, b))

}  // namespace quench::testing
