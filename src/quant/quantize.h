// quench quant: quantize, dequantize and fake-quantize kernels.
//
// Each applies an Encoding to a plain float32 tensor: per-tensor, per-channel along any axis or
// per-block, with the encoding's rounding mode and grid. The loops are written so that GCC
// vectorises them (no branches in the inner loop, one scale per run of elements); a scalar reference
// (quantize_ref.h) sits beside them and the tests compare the two over a table of cases.
//
// Special values: NaN quantizes to the zero point (it dequantizes to 0), +Inf to qmax and -Inf to
// qmin (saturation), as onnxruntime's QuantizeLinear does on x86.
//
//   QUENCH_ASSIGN_OR_RETURN(Tensor q, quantize(w, enc));          // int8 / uint8 / int16 ... storage
//   QUENCH_ASSIGN_OR_RETURN(Tensor w2, dequantize(q, enc));       // float32
//   QUENCH_RETURN_IF_ERROR(fake_quantize_inplace(x, enc));        // x = dequantize(quantize(x))
#pragma once

#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "quant/encoding.h"

namespace quench {

// The smallest integer dtype that holds the encoding's grid: int8/uint8 up to 8 bits (int4/uint4
// are not used in memory: they are an export-time choice), int16/uint16 up to 16 bits.
DType storage_dtype(const QuantSpec& spec);

// Rounds v to an integer-valued float with the given mode.
float round_value(float v, RoundMode mode);

// x (float32, plain) -> integers in storage_dtype(e.spec). kInvalid when the encoding does not fit
// the tensor (axis out of range, param_shape mismatch) or is not an integer encoding.
Result<Tensor> quantize(const Tensor& x, const Encoding& e);
// q (any integer dtype holding grid values) -> float32.
Result<Tensor> dequantize(const Tensor& q, const Encoding& e);
// x = dequantize(quantize(x)) in one pass, in place (float32, plain). Float formats round to the
// format (float16, bfloat16, float8 with scale); kFloat32 leaves x unchanged.
Status fake_quantize_inplace(Tensor& x, const Encoding& e);
Result<Tensor> fake_quantize(const Tensor& x, const Encoding& e);

// Fake-quantizes n contiguous floats with one scale / zero point (the inner loop of the above;
// observers use it to score candidate ranges). dst may equal src.
void fake_quantize_span(const float* src, float* dst, int64_t n, float scale, int32_t zero_point,
                        int64_t qmin, int64_t qmax, RoundMode mode);

// The half-even float-grid run of fake_quantize_span by every variant this CPU runs ("avx512",
// "avx2", "scalar"), for tests that check they give the same bits.
struct FakeQuantizeVariant {
  const char* name;
  void (*fn)(const float* src, float* dst, int64_t n, float scale, int32_t zero_point, int64_t qmin,
             int64_t qmax);
};
std::vector<FakeQuantizeVariant> fake_quantize_half_even_variants();

}  // namespace quench
