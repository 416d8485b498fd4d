// Shared pieces of the element-wise kernel families (elementwise*.cpp, unary*.cpp): output
// allocation with in-place reuse, float16 handling through float32, and table-building helpers.
//
//   QUENCH_ASSIGN_OR_RETURN(Shape shape, broadcast_shapes(ctx, {&a.shape(), &b.shape()}));
//   Tensor& out = broadcast_output(ctx, shape, DType::kBool, {0, 1});
#pragma once

#include <initializer_list>
#include <vector>

#include "core/tensor.h"
#include "runtime/kernel.h"

namespace quench {

// Output 0 with `shape` and `dtype`: the buffer of the first input in `candidates` that dies at
// this node and already has that shape and dtype, else a new buffer.
Tensor& broadcast_output(KernelContext& ctx, const Shape& shape, DType dtype,
                         std::initializer_list<size_t> candidates);

// float16 and bfloat16 tensors are computed in float32 by most kernels here.
inline bool is_half_type(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }
// A float32 copy of t (t itself when already float32).
Tensor to_float32(const Tensor& t);
// Writes the float32 tensor `f` into output 0 as `dtype` (a float16/bfloat16 result).
Status store_from_float32(KernelContext& ctx, const Tensor& f, DType dtype);

// Input 1 of a two-input op before opset 7, viewed so that numpy broadcasting gives the old
// semantics: without attribute broadcast=1 the shapes must be equal; with it, B's dimensions line up
// with A's from attribute `axis` on (default: from the end, as in numpy).
Result<Tensor> legacy_operand_b(const KernelContext& ctx);

// Fails unless inputs a and b have the same element type (names the node, both inputs and types).
Status check_same_dtype(const KernelContext& ctx, size_t a, size_t b);

// Appends one row per dtype for op_type in [since, end].
void add_rows(std::vector<KernelDef>& rows, const char* op_type, int since, int end,
              std::initializer_list<DType> dtypes, KernelFactory create, int type_input = 0,
              uint32_t flags = kNoFlags);

// Element types, for the tables.
inline constexpr DType kF32 = DType::kFloat32, kF64 = DType::kFloat64, kF16 = DType::kFloat16,
                       kBF16 = DType::kBFloat16, kI8 = DType::kInt8, kU8 = DType::kUInt8,
                       kI16 = DType::kInt16, kU16 = DType::kUInt16, kI32 = DType::kInt32,
                       kU32 = DType::kUInt32, kI64 = DType::kInt64, kU64 = DType::kUInt64,
                       kBool = DType::kBool;

// Rows of comparison, logic, bitwise and Where kernels (elementwise_logic.cpp).
std::vector<KernelDef> elementwise_logic_rows();

}  // namespace quench
