// MatMulInteger and QLinearMatMul: batched, broadcasting integer matrix products (numpy matmul
// shapes), exact int32 accumulation.
//
//   1. Expand zero points (and QLinearMatMul scales) to one value per output batch and row of A /
//      column of B: scalar = per tensor, [M] or [..., M, 1] = per row of A, [N] or [..., 1, N] =
//      per column of B.
//   2. Per output batch: A' = A - a_zp (int16), B' = B - b_zp (int16), acc = A' * B' (gemm_s16).
//   3. MatMulInteger: acc is the output. QLinearMatMul: y = saturate(round(acc * a_scale[i] *
//      b_scale[j] / y_scale) + y_zero_point), ties to even.
#include <algorithm>

#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/quant_common.h"
#include "runtime/kernels/quant_gemm.h"
#include "runtime/kernels/quant_ops.h"

namespace quench::quant {

namespace {

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// Shapes of one batched product.
struct MatmulShape {
  int64_t m = 1, k = 1, n = 1;
  Shape batch;                       // broadcast batch dimensions of the output
  int64_t batches = 1;               // product of batch
  std::vector<int64_t> a_batch_off;  // per output batch: the A / B matrix it reads
  std::vector<int64_t> b_batch_off;
  Shape out;
};

Result<MatmulShape> matmul_shape(const KernelContext& ctx, const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) {
    return ctx.invalid("matrix product of a scalar: a " + shape_to_string(a) + ", b " +
                       shape_to_string(b));
  }
  MatmulShape s;
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  const Shape a2 = a_vec ? Shape{1, a[0]} : a;
  const Shape b2 = b_vec ? Shape{b[0], 1} : b;
  s.m = a2[a2.size() - 2];
  s.k = a2.back();
  s.n = b2.back();
  if (b2[b2.size() - 2] != s.k) {
    return ctx.invalid("a " + shape_to_string(a) + " and b " + shape_to_string(b) +
                       " cannot be multiplied: " + std::to_string(s.k) + " columns vs " +
                       std::to_string(b2[b2.size() - 2]) + " rows");
  }
  const Shape a_batch(a2.begin(), a2.end() - 2), b_batch(b2.begin(), b2.end() - 2);
  QUENCH_ASSIGN_OR_RETURN(s.batch, broadcast_shapes(ctx, {&a_batch, &b_batch}));
  s.batches = shape_numel(s.batch);
  const std::vector<int64_t> as = broadcast_strides(a_batch, s.batch);
  const std::vector<int64_t> bs = broadcast_strides(b_batch, s.batch);
  const std::vector<int64_t> os = contiguous_strides(s.batch);
  s.a_batch_off.resize(static_cast<size_t>(s.batches));
  s.b_batch_off.resize(static_cast<size_t>(s.batches));
  for (int64_t i = 0; i < s.batches; ++i) {
    int64_t ao = 0, bo = 0, rem = i;
    for (size_t d = 0; d < s.batch.size(); ++d) {
      const int64_t c = rem / os[d];
      rem %= os[d];
      ao += c * as[d];
      bo += c * bs[d];
    }
    s.a_batch_off[static_cast<size_t>(i)] = ao;
    s.b_batch_off[static_cast<size_t>(i)] = bo;
  }
  s.out = s.batch;
  if (!a_vec) s.out.push_back(s.m);
  if (!b_vec) s.out.push_back(s.n);
  return s;
}

// One value per output batch and row of A (per_row) or column of B, out[batch * count + i].
template <class V>
Result<std::vector<V>> expand_param(const KernelContext& ctx, const std::vector<V>& values,
                                    const Shape& pshape, const char* name, const MatmulShape& s,
                                    bool per_row) {
  const int64_t count = per_row ? s.m : s.n;
  std::vector<V> out(static_cast<size_t>(s.batches * count));
  const bool scalar = pshape.empty() || (pshape.size() == 1 && pshape[0] == 1);
  if (scalar) {
    std::fill(out.begin(), out.end(), values[0]);
    return out;
  }
  Shape full = s.batch;
  full.push_back(count);
  Shape p = pshape;
  bool ok = true;
  if (p.size() == 1) {
    ok = p[0] == count;
  } else {
    // [..., M, 1] for A, [..., 1, N] for B; drop the unit axis to compare with batch + [count].
    const size_t unit = per_row ? p.size() - 1 : p.size() - 2;
    ok = p[unit] == 1;
    p.erase(p.begin() + static_cast<std::ptrdiff_t>(unit));
    ok = ok && p.size() <= full.size() && (p.back() == count || p.back() == 1);
    for (size_t i = 0; ok && i < p.size(); ++i) {
      const int64_t d = p[p.size() - 1 - i], f = full[full.size() - 1 - i];
      ok = d == f || d == 1;
    }
  }
  if (!ok) {
    return ctx.invalid(std::string(name) + " has shape " + shape_to_string(pshape) +
                       "; it must be a scalar, [" + std::to_string(count) + "] or " +
                       (per_row ? "[..., " + std::to_string(count) + ", 1] (per row of a)"
                                : "[..., 1, " + std::to_string(count) + "] (per column of b)"));
  }
  const std::vector<int64_t> st = broadcast_strides(p, full);
  const std::vector<int64_t> os = contiguous_strides(full);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t rem = static_cast<int64_t>(i), idx = 0;
    for (size_t d = 0; d < full.size(); ++d) {
      idx += (rem / os[d]) * st[d];
      rem %= os[d];
    }
    out[i] = values[static_cast<size_t>(idx)];
  }
  return out;
}

// acc[batch][M][N] = (A - a_zp)(B - b_zp) over all output batches.
Status integer_matmul(const KernelContext& ctx, const MatmulShape& s, const Tensor& a,
                      const std::vector<int32_t>& a_zp, const Tensor& b,
                      const std::vector<int32_t>& b_zp, int32_t* acc) {
  const int64_t m = s.m, k = s.k, n = s.n;
  auto run_batch = [&](int64_t bi, std::vector<int16_t>& a16, std::vector<int16_t>& b16) {
    const int32_t* za = a_zp.data() + bi * m;
    const int32_t* zb = b_zp.data() + bi * n;
    const int64_t ao = s.a_batch_off[static_cast<size_t>(bi)] * m * k;
    const int64_t bo = s.b_batch_off[static_cast<size_t>(bi)] * k * n;
    auto load = [&](auto* ap, auto* bp) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t p = 0; p < k; ++p) a16[i * k + p] = static_cast<int16_t>(ap[ao + i * k + p] - za[i]);
      }
      for (int64_t p = 0; p < k; ++p) {
        for (int64_t j = 0; j < n; ++j) b16[p * n + j] = static_cast<int16_t>(bp[bo + p * n + j] - zb[j]);
      }
    };
    if (a.dtype() == DType::kUInt8) {
      if (b.dtype() == DType::kUInt8) load(a.data<uint8_t>(), b.data<uint8_t>());
      else load(a.data<uint8_t>(), b.data<int8_t>());
    } else {
      if (b.dtype() == DType::kUInt8) load(a.data<int8_t>(), b.data<uint8_t>());
      else load(a.data<int8_t>(), b.data<int8_t>());
    }
    gemm_s16(m, n, k, a16.data(), k, b16.data(), n, acc + bi * m * n, n);
  };
  (void)ctx;
  if (s.batches == 1) {
    std::vector<int16_t> a16(static_cast<size_t>(m * k)), b16(static_cast<size_t>(k * n));
    run_batch(0, a16, b16);
    return Status();
  }
  // Several batches: one per thread, each product single-threaded inside.
  parallel_for(s.batches, [&](int64_t begin, int64_t end) {
    std::vector<int16_t> a16(static_cast<size_t>(m * k)), b16(static_cast<size_t>(k * n));
    for (int64_t bi = begin; bi < end; ++bi) run_batch(bi, a16, b16);
  });
  return Status();
}

// Checks a / b types and their zero points (slots a_zp, b_zp, absent when SIZE_MAX), returns the
// shape and the expanded zero points.
struct IntOperands {
  MatmulShape shape;
  std::vector<int32_t> a_zp, b_zp;
};

Result<IntOperands> int_operands(const KernelContext& ctx, size_t a_slot, size_t a_zp_slot,
                                 size_t b_slot, size_t b_zp_slot) {
  const Tensor& a = ctx.input(a_slot);
  const Tensor& b = ctx.input(b_slot);
  if (is_float8(a.dtype()) || is_float8(b.dtype())) {
    return ctx.unsupported("float8 operands (a " + std::string(dtype_name(a.dtype())) + ", b " +
                           std::string(dtype_name(b.dtype())) + ") are not implemented");
  }
  if (!is_8bit(a.dtype()) || !is_8bit(b.dtype())) {
    return ctx.invalid("a has type " + std::string(dtype_name(a.dtype())) + " and b has type " +
                       std::string(dtype_name(b.dtype())) + "; both must be int8 or uint8");
  }
  IntOperands r;
  QUENCH_ASSIGN_OR_RETURN(r.shape, matmul_shape(ctx, a.shape(), b.shape()));
  std::vector<int32_t> zero = {0};
  auto zp = [&](size_t slot, const Tensor& x, const char* name,
                bool per_row) -> Result<std::vector<int32_t>> {
    if (!ctx.has_input(slot)) return expand_param<int32_t>(ctx, zero, {}, name, r.shape, per_row);
    const Tensor& z = ctx.input(slot);
    QUENCH_RETURN_IF_ERROR(check_same_dtype(ctx, z, name, x, per_row ? "a" : "b"));
    QUENCH_ASSIGN_OR_RETURN(std::vector<int32_t> v, read_ints(ctx, slot, name));
    return expand_param<int32_t>(ctx, v, z.shape(), name, r.shape, per_row);
  };
  QUENCH_ASSIGN_OR_RETURN(r.a_zp, zp(a_zp_slot, a, "a_zero_point", true));
  QUENCH_ASSIGN_OR_RETURN(r.b_zp, zp(b_zp_slot, b, "b_zero_point", false));
  return r;
}

}  // namespace

Status matmul_integer(KernelContext& ctx) {
  QUENCH_ASSIGN_OR_RETURN(IntOperands ops, int_operands(ctx, 0, 2, 1, 3));
  Tensor& y = ctx.allocate_output(0, DType::kInt32, ops.shape.out);
  return integer_matmul(ctx, ops.shape, ctx.input(0), ops.a_zp, ctx.input(1), ops.b_zp,
                        y.data<int32_t>());
}

Status qlinear_matmul(KernelContext& ctx) {
  for (size_t i = 0; i < 8; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is required");
  }
  QUENCH_ASSIGN_OR_RETURN(IntOperands ops, int_operands(ctx, 0, 2, 3, 5));
  const MatmulShape& s = ops.shape;
  QUENCH_RETURN_IF_ERROR(check_scalar(ctx, ctx.input(6), "y_scale"));
  QUENCH_RETURN_IF_ERROR(check_scalar(ctx, ctx.input(7), "y_zero_point"));
  const DType y_type = ctx.input(7).dtype();
  if (is_float8(y_type)) {
    return ctx.unsupported("a float8 output (" + std::string(dtype_name(y_type)) +
                           ") is not implemented");
  }
  if (!is_8bit(y_type)) {
    return ctx.invalid("y_zero_point has type " + std::string(dtype_name(y_type)) +
                       "; it must be int8 or uint8");
  }
  QUENCH_ASSIGN_OR_RETURN(std::vector<float> as, read_floats(ctx, 1, "a_scale"));
  QUENCH_ASSIGN_OR_RETURN(std::vector<float> bs, read_floats(ctx, 4, "b_scale"));
  QUENCH_ASSIGN_OR_RETURN(std::vector<float> ys, read_floats(ctx, 6, "y_scale"));
  QUENCH_ASSIGN_OR_RETURN(std::vector<int32_t> yz, read_ints(ctx, 7, "y_zero_point"));
  if (ctx.input(1).shape() != ctx.input(2).shape() &&
      !(is_scalar_like(ctx.input(1)) && is_scalar_like(ctx.input(2)))) {
    return ctx.invalid("a_scale " + shape_to_string(ctx.input(1).shape()) + " and a_zero_point " +
                       shape_to_string(ctx.input(2).shape()) + " must have the same shape");
  }
  if (ctx.input(4).shape() != ctx.input(5).shape() &&
      !(is_scalar_like(ctx.input(4)) && is_scalar_like(ctx.input(5)))) {
    return ctx.invalid("b_scale " + shape_to_string(ctx.input(4).shape()) + " and b_zero_point " +
                       shape_to_string(ctx.input(5).shape()) + " must have the same shape");
  }
  const Shape& as_shape = ctx.input(1).shape();
  const Shape& bs_shape = ctx.input(4).shape();
  QUENCH_ASSIGN_OR_RETURN(auto a_scale, expand_param<float>(ctx, as, as_shape, "a_scale", s, true));
  QUENCH_ASSIGN_OR_RETURN(auto b_scale, expand_param<float>(ctx, bs, bs_shape, "b_scale", s, false));
  Tensor acc = Tensor::empty(DType::kInt32, {s.batches, s.m, s.n});
  QUENCH_RETURN_IF_ERROR(integer_matmul(ctx, s, ctx.input(0), ops.a_zp, ctx.input(3), ops.b_zp,
                                        acc.data<int32_t>()));
  Tensor& y = ctx.allocate_output(0, y_type, s.out);
  const QRange r = qrange(y_type);
  const int32_t* ap = acc.data<int32_t>();
  auto requant = [&](auto* yp) {
    using T = std::remove_reference_t<decltype(*yp)>;
    parallel_for(s.batches * s.m, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t bi = row / s.m;
        const float sa = a_scale[static_cast<size_t>(row)];
        const float* sb = b_scale.data() + bi * s.n;
        for (int64_t j = 0; j < s.n; ++j) {
          // Formed in float like the ONNX reference's float32 scales, applied in double.
          const double mult = static_cast<double>(sa * sb[j] / ys[0]);
          yp[row * s.n + j] =
              static_cast<T>(requantize_double(double(ap[row * s.n + j]) * mult, yz[0], r));
        }
      }
    }, std::max<int64_t>(1, 4096 / std::max<int64_t>(s.n, 1)));
  };
  if (y_type == DType::kUInt8) {
    requant(y.data<uint8_t>());
  } else {
    requant(y.data<int8_t>());
  }
  return Status();
}

}  // namespace quench::quant
