// quench core: calling a template with the C++ type of a runtime DType.
//
//   Status s = visit_numeric(t.dtype(), [&](auto tag) {
//     using T = decltype(tag);
//     T* p = t.data<T>();
//     ...
//     return Status();
//   });
//
// visit_numeric covers float32/64, the 8/16/32/64-bit integers and bool. float16 and bfloat16 are
// stored as uint16_t bit patterns and are handled by the Half / BFloat16 wrappers below, which
// convert through float.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace quench {

struct Half {
  uint16_t bits;
  Half() = default;
  Half(float f) : bits(float_to_half(f)) {}  // NOLINT
  operator float() const { return half_to_float(bits); }  // NOLINT
};
struct BFloat16 {
  uint16_t bits;
  BFloat16() = default;
  BFloat16(float f) : bits(float_to_bfloat16(f)) {}  // NOLINT
  operator float() const { return bfloat16_to_float(bits); }  // NOLINT
};
static_assert(sizeof(Half) == 2 && sizeof(BFloat16) == 2);

// Calls f(T{}) with T the C++ type of `t`; returns Status::unsupported for other types.
template <class F>
Status visit_numeric(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: return f(float{});
    case DType::kFloat64: return f(double{});
    case DType::kInt8: return f(int8_t{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kInt16: return f(int16_t{});
    case DType::kUInt16: return f(uint16_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kUInt32: return f(uint32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kUInt64: return f(uint64_t{});
    case DType::kBool: return f(bool{});
    default: return Status::unsupported(std::string("element type ") + std::string(dtype_name(t)));
  }
}

// visit_numeric plus float16 (Half) and bfloat16 (BFloat16).
template <class F>
Status visit_numeric_or_half(DType t, F&& f) {
  if (t == DType::kFloat16) return f(Half{});
  if (t == DType::kBFloat16) return f(BFloat16{});
  return visit_numeric(t, std::forward<F>(f));
}

}  // namespace quench
