// Kernel factories of the quant family that live outside quant.cpp; quant.cpp's table lists them.
// Internal to src/runtime/kernels.
#pragma once

#include <memory>

#include "runtime/kernel.h"

namespace quench::quant {

// quant_conv.cpp
Result<std::unique_ptr<OpKernel>> make_conv_integer(const KernelInfo& info);
Result<std::unique_ptr<OpKernel>> make_qlinear_conv(const KernelInfo& info);

// quant_matmul.cpp
Status matmul_integer(KernelContext& ctx);
Status qlinear_matmul(KernelContext& ctx);

}  // namespace quench::quant
