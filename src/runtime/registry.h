// quench runtime: the kernel registry.
//
// One explicit table (registry.cpp) lists every kernel quench has, keyed by (domain, op type, opset
// range, element type), like ONNX Runtime's function_table[] in its CPU execution provider. Each op
// family keeps its rows in its own file under kernels/ and exposes them through one function below;
// registry.cpp concatenates them. There are no self-registering static objects (linkers drop them
// from static builds).
//
//   const KernelDef* k = find_kernel("", "Conv", 13, DType::kFloat32);
//   if (!k) ... unsupported
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "runtime/kernel.h"

namespace quench {

// The families, one per file in runtime/kernels/.
std::span<const KernelDef> elementwise_kernels();    // binary arithmetic, comparison, logic, Where
std::span<const KernelDef> unary_kernels();          // activations and unary math, Cast, Dropout
std::span<const KernelDef> reduce_kernels();         // Reduce*, ArgMax/ArgMin
std::span<const KernelDef> softmax_kernels();        // Softmax, LogSoftmax, Hardmax
std::span<const KernelDef> normalization_kernels();  // BatchNormalization, LayerNormalization, ...
std::span<const KernelDef> shape_kernels();          // Shape, Reshape, Transpose, Slice, Gather, ...
std::span<const KernelDef> resize_kernels();         // Resize, Upsample
std::span<const KernelDef> conv_kernels();           // Conv, ConvTranspose (oneDNN + reference)
std::span<const KernelDef> gemm_kernels();           // Gemm, MatMul (oneDNN + reference)
std::span<const KernelDef> pool_kernels();           // MaxPool, AveragePool, Global*Pool
std::span<const KernelDef> quant_kernels();          // QuantizeLinear, QLinearConv, ...
std::span<const KernelDef> rnn_kernels();            // LSTM, GRU, RNN

// Every row of every family.
const std::vector<KernelDef>& kernel_registry();

// Rows for (domain, op_type) whose opset range contains `opset`, any element type.
std::vector<const KernelDef*> find_kernels(std::string_view domain, std::string_view op_type,
                                           int64_t opset);
// The row for one element type (an exact match first, then a kUndefined "any type" row).
const KernelDef* find_kernel(std::string_view domain, std::string_view op_type, int64_t opset,
                             DType dtype);

}  // namespace quench
