// Shape family: index-driven reads (Gather, GatherElements, GatherND, Compress) and OneHot,
// NonZero. Every index is checked before any data moves, so a bad index is an error, not a crash.
#include <algorithm>

#include "core/dispatch.h"
#include "core/parallel.h"
#include "runtime/kernels/kernel_util.h"
#include "runtime/kernels/shape_copy.h"
#include "runtime/kernels/shape_ops.h"

namespace quench {

namespace {

int64_t prod(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// Indices as int64 with negatives wrapped (i + dim), or an error naming the first bad one.
Result<std::vector<int64_t>> read_indices(const KernelContext& ctx, const Tensor& indices,
                                          int64_t dim, const std::string& what) {
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, indices, "indices"));
  std::vector<int64_t> idx = tensor_to_int64s(indices);
  for (size_t i = 0; i < idx.size(); ++i) {
    int64_t v = idx[i];
    if (v < -dim || v >= dim) {
      return ctx.invalid("index " + std::to_string(v) + " (element " + std::to_string(i) +
                         " of indices " + indices.describe() + ") is out of range for " + what +
                         " of size " + std::to_string(dim) + " (allowed: [" +
                         std::to_string(-dim) + ", " + std::to_string(dim - 1) + "])");
    }
    if (v < 0) idx[i] = v + dim;
  }
  return idx;
}

// Copies `count` blocks of `block` elements: block i comes from src + src_offsets[i] * block.
void gather_blocks(void* dst, const void* src, size_t es, const int64_t* src_block, int64_t count,
                   int64_t block) {
  visit_elem_size(es, [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(dst);
    const T* s = static_cast<const T*>(src);
    parallel_for(
        count,
        [&](int64_t begin, int64_t end) {
          if (block == 1) {
            for (int64_t i = begin; i < end; ++i) d[i] = s[src_block[i]];
            return;
          }
          for (int64_t i = begin; i < end; ++i) {
            std::memcpy(d + i * block, s + src_block[i] * block, static_cast<size_t>(block) * sizeof(T));
          }
        },
        std::max<int64_t>(1, 16384 / std::max<int64_t>(1, block * static_cast<int64_t>(sizeof(T)))));
  });
}

}  // namespace

// ---- Gather -----------------------------------------------------------------------------------

Status gather_kernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  if (data.rank() == 0) return ctx.invalid("data must have rank >= 1, got " + data.describe());
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", 0), data.rank()));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t dim = data.shape()[ax];
  QUENCH_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                          read_indices(ctx, indices, dim, "axis " + std::to_string(axis) + " of data " + data.describe()));
  Shape out_shape(data.shape().begin(), data.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), data.shape().begin() + axis + 1, data.shape().end());
  const int64_t outer = prod(data.shape(), 0, ax), inner = prod(data.shape(), ax + 1, data.shape().size());
  const int64_t n = static_cast<int64_t>(idx.size());
  // Block b = o * n + j reads data block o * dim + idx[j].
  std::vector<int64_t> blocks(static_cast<size_t>(outer * n));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) blocks[static_cast<size_t>(o * n + j)] = o * dim + idx[static_cast<size_t>(j)];
  Tensor& y = ctx.allocate_output(0, data.dtype(), out_shape);
  gather_blocks(y.raw_data(), data.raw_data(), dtype_size(data.dtype()), blocks.data(),
                static_cast<int64_t>(blocks.size()), inner);
  return Status();
}

// ---- GatherElements ---------------------------------------------------------------------------

Status gather_elements_kernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const int64_t rank = data.rank();
  if (rank == 0 || indices.rank() != rank) {
    return ctx.invalid("data " + data.describe() + " and indices " + indices.describe() +
                       " must have the same rank >= 1");
  }
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", 0), rank));
  for (int d = 0; d < rank; ++d) {
    if (d != axis && indices.dim(d) > data.dim(d)) {
      return ctx.invalid("indices " + indices.describe() + " exceed data " + data.describe() +
                         " in dimension " + std::to_string(d));
    }
  }
  const int64_t dim = data.dim(static_cast<int>(axis));
  QUENCH_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                          read_indices(ctx, indices, dim, "axis " + std::to_string(axis) + " of data " + data.describe()));
  std::vector<int64_t> strides = contiguous_strides(data.shape());
  const int64_t axis_stride = strides[static_cast<size_t>(axis)];
  strides[static_cast<size_t>(axis)] = 0;
  // Source offset of every output element.
  std::vector<int64_t> src(idx.size());
  if (!idx.empty()) {
    Odometer od(indices.shape(), strides, 0, 0);
    for (size_t i = 0; i < idx.size(); ++i, od.advance()) src[i] = od.offset + idx[i] * axis_stride;
  }
  Tensor& y = ctx.allocate_output(0, data.dtype(), indices.shape());
  gather_blocks(y.raw_data(), data.raw_data(), dtype_size(data.dtype()), src.data(),
                static_cast<int64_t>(src.size()), 1);
  return Status();
}

// ---- GatherND ---------------------------------------------------------------------------------

Status gather_nd_kernel(KernelContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  QUENCH_RETURN_IF_ERROR(require_index_tensor(ctx, indices, "indices"));
  const int64_t r = data.rank(), q = indices.rank();
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  if (q < 1 || r < 1) return ctx.invalid("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q)) {
    return ctx.invalid("batch_dims " + std::to_string(b) + " must be in [0, min(rank(data), rank(indices)))");
  }
  const int64_t last = indices.dim(-1);
  if (last < 1 || last > r - b) {
    return ctx.invalid("indices " + indices.describe() + " address " + std::to_string(last) +
                       " dimensions; data " + data.describe() + " has " + std::to_string(r - b) +
                       " after batch_dims " + std::to_string(b));
  }
  for (int d = 0; d < b; ++d) {
    if (indices.dim(d) != data.dim(d)) {
      return ctx.invalid("batch dimension " + std::to_string(d) + " differs: data " + data.describe() +
                         " vs indices " + indices.describe());
    }
  }
  Shape out_shape(indices.shape().begin(), indices.shape().end() - 1);
  out_shape.insert(out_shape.end(), data.shape().begin() + b + last, data.shape().end());
  const int64_t batches = prod(data.shape(), 0, static_cast<size_t>(b));
  const int64_t batch_size = prod(data.shape(), static_cast<size_t>(b), static_cast<size_t>(r));
  const int64_t slice = prod(data.shape(), static_cast<size_t>(b + last), static_cast<size_t>(r));
  const int64_t per_batch = prod(indices.shape(), static_cast<size_t>(b), static_cast<size_t>(q - 1));
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  const std::vector<int64_t> idx = tensor_to_int64s(indices);
  std::vector<int64_t> blocks(static_cast<size_t>(batches * per_batch));
  for (int64_t t = 0; t < batches * per_batch; ++t) {
    int64_t off = (t / per_batch) * batch_size;
    for (int64_t k = 0; k < last; ++k) {
      const int64_t dim = data.dim(static_cast<int>(b + k));
      int64_t v = idx[static_cast<size_t>(t * last + k)];
      if (v < -dim || v >= dim) {
        return ctx.invalid("index " + std::to_string(v) + " (tuple " + std::to_string(t) +
                           ", position " + std::to_string(k) + ") is out of range for dimension " +
                           std::to_string(b + k) + " of data " + data.describe());
      }
      off += (v < 0 ? v + dim : v) * strides[static_cast<size_t>(b + k)];
    }
    blocks[static_cast<size_t>(t)] = slice > 0 ? off / slice : 0;  // slice divides each stride used
  }
  Tensor& y = ctx.allocate_output(0, data.dtype(), out_shape);
  if (slice > 0) {
    gather_blocks(y.raw_data(), data.raw_data(), dtype_size(data.dtype()), blocks.data(),
                  static_cast<int64_t>(blocks.size()), slice);
  }
  return Status();
}

// ---- Compress ---------------------------------------------------------------------------------

Status compress_kernel(KernelContext& ctx) {
  const Tensor& x0 = ctx.input(0);
  const Tensor& cond = ctx.input(1);
  if (cond.rank() != 1) return ctx.invalid("condition must be 1-D, got " + cond.describe());
  const Attribute* axis_attr = ctx.node().attr("axis");
  Tensor x = axis_attr ? x0 : x0.reshaped({x0.numel()});
  if (x.rank() == 0) return ctx.invalid("input must have rank >= 1, got " + x0.describe());
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, axis_attr ? axis_attr->i : 0, x.rank()));
  const size_t ax = static_cast<size_t>(axis);
  const int64_t dim = x.shape()[ax];
  const std::vector<int64_t> c = tensor_to_int64s(cond);
  std::vector<int64_t> keep;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c[i]) continue;
    if (static_cast<int64_t>(i) >= dim) {
      return ctx.invalid("condition " + cond.describe() + " selects index " + std::to_string(i) +
                         " but axis " + std::to_string(axis) + " of " + x.describe() + " has " +
                         std::to_string(dim) + " entries");
    }
    keep.push_back(static_cast<int64_t>(i));
  }
  Shape out_shape = x.shape();
  out_shape[ax] = static_cast<int64_t>(keep.size());
  const int64_t outer = prod(x.shape(), 0, ax), inner = prod(x.shape(), ax + 1, x.shape().size());
  const int64_t n = static_cast<int64_t>(keep.size());
  std::vector<int64_t> blocks(static_cast<size_t>(outer * n));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) blocks[static_cast<size_t>(o * n + j)] = o * dim + keep[static_cast<size_t>(j)];
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  gather_blocks(y.raw_data(), x.raw_data(), dtype_size(x.dtype()), blocks.data(),
                static_cast<int64_t>(blocks.size()), inner);
  return Status();
}

// ---- OneHot -----------------------------------------------------------------------------------

Status one_hot_kernel(KernelContext& ctx) {
  const Tensor& indices = ctx.input(0);
  const Tensor& depth_t = ctx.input(1);
  const Tensor& values = ctx.input(2);
  if (depth_t.numel() != 1) return ctx.invalid("depth must be a scalar, got " + depth_t.describe());
  if (values.numel() != 2) {
    return ctx.invalid("values must hold [off_value, on_value], got " + values.describe());
  }
  const std::vector<double> dv = depth_t.to_double_vector();
  if (dv.empty()) return ctx.unsupported("depth of type " + depth_t.describe());
  const int64_t depth = static_cast<int64_t>(dv[0]);
  if (depth <= 0) return ctx.invalid("depth must be positive, got " + std::to_string(depth));
  const int64_t out_rank = indices.rank() + 1;
  QUENCH_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.node().attr_int("axis", -1), out_rank));
  const std::vector<double> iv = indices.to_double_vector();
  if (iv.size() != static_cast<size_t>(indices.numel())) {
    return ctx.unsupported("indices of type " + indices.describe());
  }
  Shape out_shape = indices.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  const int64_t outer = prod(indices.shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = prod(indices.shape(), static_cast<size_t>(axis), indices.shape().size());
  const size_t es = dtype_size(values.dtype());
  Tensor& y = ctx.allocate_output(0, values.dtype(), out_shape);
  const auto* vals = static_cast<const unsigned char*>(values.raw_data());
  fill_elements(y.raw_data(), vals, es, y.numel());
  auto* out = static_cast<unsigned char*>(y.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t v = static_cast<int64_t>(iv[static_cast<size_t>(o * inner + i)]);
      if (v < 0) v += depth;
      if (v < 0 || v >= depth) continue;
      std::memcpy(out + static_cast<size_t>((o * depth + v) * inner + i) * es, vals + es, es);
    }
  }
  return Status();
}

// ---- NonZero ----------------------------------------------------------------------------------

Status non_zero_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t n = x.numel();
  std::vector<uint8_t> nz(static_cast<size_t>(n));
  Status s = visit_numeric_or_half(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(x.raw_data());
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_class_v<T>) nz[static_cast<size_t>(i)] = static_cast<float>(p[i]) != 0.0f;
      else nz[static_cast<size_t>(i)] = p[i] != T{};
    }
    return Status();
  });
  if (!s.ok()) return ctx.unsupported("NonZero of " + x.describe());
  int64_t count = 0;
  for (uint8_t v : nz) count += v;
  const int64_t rank = x.rank();
  Tensor& y = ctx.allocate_output(0, DType::kInt64, {rank, count});
  int64_t* out = y.data<int64_t>();
  std::vector<int64_t> coord(static_cast<size_t>(rank), 0);
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (nz[static_cast<size_t>(i)]) {
      for (int64_t d = 0; d < rank; ++d) out[d * count + j] = coord[static_cast<size_t>(d)];
      ++j;
    }
    for (int64_t d = rank; d-- > 0;) {
      if (++coord[static_cast<size_t>(d)] < x.dim(static_cast<int>(d))) break;
      coord[static_cast<size_t>(d)] = 0;
    }
  }
  return Status();
}

}  // namespace quench
