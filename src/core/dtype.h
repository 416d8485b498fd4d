// quench core: element types.
//
// DType uses the numbering of ONNX TensorProto.DataType, so conversion to and from ONNX is a cast.
// In memory every element takes dtype_size() bytes: 4-bit types (kInt4, kUInt4) are kept one element
// per byte and packed two per byte only when serialized. kFloat16 / kBFloat16 / float8 elements are
// stored as their raw bit patterns (uint16_t / uint8_t); use the converters below.
//
//   DType t = dtype_of<float>();            // DType::kFloat32
//   float f = half_to_float(float_to_half(1.5f));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace quench {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // not supported by Tensor; named so that errors can say so
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,   // not supported by Tensor
  kComplex128 = 15,  // not supported by Tensor
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
};

// Bytes one element takes in memory; 0 for types a Tensor cannot hold (string, complex, undefined).
size_t dtype_size(DType t);
// Lower-case ONNX-style name: "float32", "int8", "bfloat16", ...
std::string_view dtype_name(DType t);
// True for any known ONNX numbering (0..22), even if a Tensor cannot hold it.
bool dtype_is_known(int32_t onnx_type);
bool dtype_is_float(DType t);    // float32/64/16, bfloat16, float8
bool dtype_is_integer(DType t);  // signed or unsigned integers, including 4-bit

template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kFloat32; }
template <> constexpr DType dtype_of<double>() { return DType::kFloat64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUInt16; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kUInt32; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kUInt64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

// IEEE half and bfloat16 conversions, round to nearest even, NaN and Inf kept.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bfloat16(float f);
float bfloat16_to_float(uint16_t b);

}  // namespace quench
