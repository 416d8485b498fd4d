// Shape family: index-driven writes (ScatterND, ScatterElements and its opset 9-10 name Scatter)
// and CumSum. Reductions other than "none" need arithmetic and go through visit_numeric_or_half.
#include <algorithm>
#include <type_traits>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/shape_copy.h"
#include "runtime/kernels/shape_ops.h"

namespace quench {

namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Result<Reduction> parse_reduction(const KernelContext& ctx) {
  const std::string r = ctx.node().attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return ctx.invalid("reduction \"" + r + "\" is not none, add, mul, max or min");
}

// Output 0 as a copy of data (or data's own buffer when the executor lets us reuse it).
Tensor& copy_of_data(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  Tensor& y = ctx.output_like(0, 0);
  if (!y.shares_storage(data) && data.nbytes()) std::memcpy(y.raw_data(), data.raw_data(), data.nbytes());
  return y;
}

// dst[dst_off[i] + j] (op)= src[i * block + j] for every i < count, j < block, in order (later
// writes win for duplicate indices, as the ONNX reference does).
Status scatter_blocks(const KernelContext& ctx, Tensor& y, const Tensor& updates,
                      const std::vector<int64_t>& dst_off, int64_t block, Reduction red) {
  const size_t es = dtype_size(y.dtype());
  auto* d8 = static_cast<unsigned char*>(y.raw_data());
  const auto* s8 = static_cast<const unsigned char*>(updates.raw_data());
  if (red == Reduction::kNone) {
    for (size_t i = 0; i < dst_off.size(); ++i) {
      std::memcpy(d8 + static_cast<size_t>(dst_off[i]) * es, s8 + i * static_cast<size_t>(block) * es,
                  static_cast<size_t>(block) * es);
    }
    return Status();
  }
  Status s = visit_numeric_or_half(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using W = std::conditional_t<std::is_class_v<T>, float, T>;
    T* d = y.data<T>();
    const T* u = updates.data<T>();
    for (size_t i = 0; i < dst_off.size(); ++i) {
      for (int64_t j = 0; j < block; ++j) {
        W a = static_cast<W>(d[dst_off[i] + j]), b = static_cast<W>(u[static_cast<int64_t>(i) * block + j]);
        W r = a;
        switch (red) {
          case Reduction::kAdd: r = static_cast<W>(a + b); break;
          case Reduction::kMul: r = static_cast<W>(a * b); break;
          case Reduction::kMax: r = std::max(a, b); break;
          case Reduction::kMin: r = std::min(a, b); break;
          case Reduction::kNone: r = b; break;
        }
        d[dst_off[i] + j] = static_cast<T>(r);
      }
    }
    return Status();
  });
  if (!s.ok()) return ctx.unsupported("reduction on " + y.describe());
  return Status();
}

}  // namespace

// ---- ScatterND --------------------------------------------------------------------------------

Status scatter_nd_kernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, indices, "indices"));
  QUENCH_ASSIGN_OR_RETURN(Reduction red, parse_reduction(ctx));
  if (updates.dtype() != data.dtype()) {
    return ctx.invalid("updates " + updates.describe() + " must have the type of data " + data.describe());
  }
  const int64_t r = data.rank(), q = indices.rank();
  if (q < 1) return ctx.invalid("indices must have rank >= 1, got " + indices.describe());
  const int64_t k = indices.dim(-1);
  if (k < 0 || k > r) {
    return ctx.invalid("indices " + indices.describe() + " address " + std::to_string(k) +
                       " dimensions of data " + data.describe());
  }
  Shape want(indices.shape().begin(), indices.shape().end() - 1);
  want.insert(want.end(), data.shape().begin() + k, data.shape().end());
  if (updates.shape() != want) {
    return ctx.invalid("updates " + updates.describe() + " must have shape " + shape_to_string(want) +
                       " (indices.shape[:-1] + data.shape[k:])");
  }
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  const std::vector<int64_t> idx = tensor_to_int64s(indices);
  const int64_t tuples = shape_numel(Shape(indices.shape().begin(), indices.shape().end() - 1));
  int64_t block = 1;
  for (int64_t d = k; d < r; ++d) block *= data.dim(static_cast<int>(d));
  std::vector<int64_t> offsets(static_cast<size_t>(tuples), 0);
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t dim = data.dim(static_cast<int>(j));
      int64_t v = idx[static_cast<size_t>(t * k + j)];
      if (v < -dim || v >= dim) {
        return ctx.invalid("index " + std::to_string(v) + " (tuple " + std::to_string(t) + ", position " +
                           std::to_string(j) + ") is out of range for dimension " + std::to_string(j) +
                           " of data " + data.describe());
      }
      off += (v < 0 ? v + dim : v) * strides[static_cast<size_t>(j)];
    }
    offsets[static_cast<size_t>(t)] = off;
  }
  Tensor& y = copy_of_data(ctx);
  return scatter_blocks(ctx, y, updates, offsets, block, red);
}

// ---- ScatterElements / Scatter ----------------------------------------------------------------

Status scatter_elements_kernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, indices, "indices"));
  QUENCH_ASSIGN_OR_RETURN(Reduction red, parse_reduction(ctx));
  const int64_t rank = data.rank();
  if (updates.dtype() != data.dtype()) {
    return ctx.invalid("updates " + updates.describe() + " must have the type of data " + data.describe());
  }
  if (rank == 0 || indices.rank() != rank || updates.shape() != indices.shape()) {
    return ctx.invalid("data " + data.describe() + ", indices " + indices.describe() + " and updates " +
                       updates.describe() + " must have one rank >= 1, and indices the shape of updates");
  }
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", 0), rank));
  for (int d = 0; d < rank; ++d) {
    if (d != axis && indices.dim(d) > data.dim(d)) {
      return ctx.invalid("indices " + indices.describe() + " exceed data " + data.describe() +
                         " in dimension " + std::to_string(d));
    }
  }
  const int64_t dim = data.dim(static_cast<int>(axis));
  std::vector<int64_t> idx = tensor_to_int64s(indices);
  std::vector<int64_t> strides = contiguous_strides(data.shape());
  const int64_t axis_stride = strides[static_cast<size_t>(axis)];
  strides[static_cast<size_t>(axis)] = 0;
  std::vector<int64_t> offsets(idx.size());
  if (!idx.empty()) {
    Odometer od(indices.shape(), strides, 0, 0);
    for (size_t i = 0; i < idx.size(); ++i, od.advance()) {
      int64_t v = idx[i];
      if (v < -dim || v >= dim) {
        return ctx.invalid("index " + std::to_string(v) + " (element " + std::to_string(i) +
                           " of indices " + indices.describe() + ") is out of range for axis " +
                           std::to_string(axis) + " of data " + data.describe());
      }
      offsets[i] = od.offset + (v < 0 ? v + dim : v) * axis_stride;
    }
  }
  Tensor& y = copy_of_data(ctx);
  return scatter_blocks(ctx, y, updates, offsets, 1, red);
}

// ---- CumSum -----------------------------------------------------------------------------------

Status cum_sum_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (!ctx.has_input(1)) return ctx.invalid("the axis input is missing");
  const Tensor& axis_t = ctx.input(1);
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, axis_t, "axis"));
  if (axis_t.numel() != 1) return ctx.invalid("axis must be a scalar, got " + axis_t.describe());
  if (x.rank() == 0) return ctx.invalid("input must have rank >= 1, got " + x.describe());
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, tensor_to_int64s(axis_t)[0], x.rank()));
  const bool exclusive = ctx.node().attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.node().attr_int("reverse", 0) != 0;
  const size_t ax = static_cast<size_t>(axis);
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < ax; ++d) outer *= x.shape()[d];
  for (size_t d = ax + 1; d < x.shape().size(); ++d) inner *= x.shape()[d];
  const int64_t dim = x.shape()[ax];
  if (x.dtype() == DType::kBool) return ctx.invalid("CumSum does not take bool");
  Tensor y = Tensor::empty(x.dtype(), x.shape());
  Status s = visit_numeric_or_half(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Half and bfloat16 accumulate in float; other types in their own type, like numpy.
    using W = std::conditional_t<std::is_class_v<T>, float, T>;
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    parallel_for(outer, [&](int64_t begin, int64_t end) {
      std::vector<W> acc(static_cast<size_t>(inner));
      for (int64_t o = begin; o < end; ++o) {
        std::fill(acc.begin(), acc.end(), W{0});
        for (int64_t step = 0; step < dim; ++step) {
          const int64_t kk = reverse ? dim - 1 - step : step;
          const T* sp = src + (o * dim + kk) * inner;
          T* dp = dst + (o * dim + kk) * inner;
          for (int64_t i = 0; i < inner; ++i) {
            W v = static_cast<W>(sp[i]);
            if (exclusive) {
              dp[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
              acc[static_cast<size_t>(i)] = static_cast<W>(acc[static_cast<size_t>(i)] + v);
            } else {
              acc[static_cast<size_t>(i)] = static_cast<W>(acc[static_cast<size_t>(i)] + v);
              dp[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
            }
          }
        }
      }
    });
    return Status();
  });
  if (!s.ok()) return ctx.unsupported("CumSum of " + x.describe());
  ctx.set_output(0, std::move(y));
  return Status();
}

}  // namespace quench
