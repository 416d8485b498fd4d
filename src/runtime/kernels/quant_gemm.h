// Exact integer matrix products for the quant kernels (ConvInteger, QLinearConv, MatMulInteger,
// QLinearMatMul).
//
// Operands are int16 with the zero points already subtracted (an 8-bit value minus an 8-bit zero
// point lies in [-255, 255]; any value in [-32767, 32767] works), products and sums are int32, as
// ONNX defines them. oneDNN's integer GEMMs are not used: without AVX512-VNNI they may saturate
// int16 intermediates, and they have no u8 x u8 variant. The micro-kernels use vpmaddwd on pairs
// of k (AVX2, AVX-512BW, or vpdpwssd with AVX512-VNNI), picked at run time with
// __builtin_cpu_supports, so the build stays portable; a scalar one covers other CPUs.
//
//   // C[M, N] = A[M, K] * B[K, N], all row-major with leading dimensions
//   gemm_s16(M, N, K, a, K, b, N, c, N);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quench::quant {

// C = A * B, overwriting C. Parallel over blocks of C (inline when called inside a parallel region).
void gemm_s16(int64_t m, int64_t n, int64_t k, const int16_t* a, int64_t lda, const int16_t* b,
              int64_t ldb, int32_t* c, int64_t ldc);
// The micro-kernel variants this CPU can run, best first ("avx512_vnni", "avx512", "avx2",
// "scalar"), and gemm_s16 with a named one (false when it cannot run here). For tests.
std::vector<std::string> gemm_s16_variants();
bool gemm_s16_variant(const std::string& name, int64_t m, int64_t n, int64_t k, const int16_t* a,
                      int64_t lda, const int16_t* b, int64_t ldb, int32_t* c, int64_t ldc);
// The plain triple loop, for tests.
void gemm_s16_reference(int64_t m, int64_t n, int64_t k, const int16_t* a, int64_t lda,
                        const int16_t* b, int64_t ldb, int32_t* c, int64_t ldc);

// Geometry of one im2col call (a 3-D convolution; 1-D and 2-D ones pad with unit dimensions).
struct Im2colShape {
  int64_t channels = 0;  // input channels of this group
  int64_t in[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad_begin[3] = {0, 0, 0};
  int64_t out[3] = {1, 1, 1};
};

// col[(c, kd, kh, kw)][(od, oh, ow)] = x[c][id][ih][iw] - zero_point, and 0 where the kernel reads
// padding (padding holds the zero point, as in the ONNX reference). x is one group of one image,
// channels-first, of the 8-bit type T (int8_t or uint8_t). Only output rows (od, oh) flattened
// in [row_begin, row_end) are produced, so col has (row_end - row_begin) * out[2] columns: a
// convolution over a large image runs in slices that keep col small. Parallel over col rows.
template <class T>
void im2col_s16(const T* x, int32_t zero_point, const Im2colShape& s, int64_t row_begin,
                int64_t row_end, int16_t* col);

}  // namespace quench::quant
